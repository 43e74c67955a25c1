/* sandbox-bwrap.c - the bubblewrap command line of `rls run`.
 *
 * The sandbox's root is bwrap's own fresh tmpfs: binding the host's / and
 * mounting /workspace on top fails once / is read-only, and binding / would
 * show the source tree, the delta and home directories by their host
 * paths.  Only the system directories are bound, read-only, one by one.
 */
#include "launcher.h"
#include "run.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>

const char *const sandbox_system_dirs[] = {
	"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc", "/opt", NULL,
};

/* Files a command must never read.  The command does not run as root, so
 * these are unreadable to it anyway; masked all the same, should a caller
 * choose an identity that can read them. */
const char *const sandbox_masked_files[] = {
	"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-",
	"/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ecdsa_key",
	"/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_dsa_key", NULL,
};

/* The kernel's knobs and secrets under /proc, as runc's default
 * readonlyPaths and maskedPaths.  A uid that is the host's root may write
 * the 0644 sysctls without any capability (a core_pattern starting with a
 * pipe then runs a program as the host's root), so /proc/sys is read-only
 * whoever the command is; rls-init checks it from inside before the
 * command runs.  /proc/sys shows the namespaces of whoever opens it, so
 * binding the host's copy shows the sandbox its own network settings. */
const char *const sandbox_proc_read_only[] = {
	"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs", NULL,
};
const char *const sandbox_proc_masked[] = {
	"/proc/kcore", "/proc/keys", "/proc/key-users", "/proc/timer_list", "/proc/sched_debug",
	"/proc/latency_stats", "/proc/kmsg", "/proc/acpi", "/proc/scsi", "/proc/asound",
	"/proc/timer_stats", NULL,
};


static void add2(rls_strv *a, const char *x, const char *y)
{
	rls_strv_add(a, x);
	rls_strv_add(a, y);
}

static void add3(rls_strv *a, const char *x, const char *y, const char *z)
{
	rls_strv_add(a, x);
	rls_strv_add(a, y);
	rls_strv_add(a, z);
}

static void add_fd(rls_strv *a, const char *opt, int fd)
{
	char buf[16];

	snprintf(buf, sizeof buf, "%d", fd);
	add2(a, opt, buf);
}

/* A tmpfs of `size` bytes (0: the kernel's default) at `dest`. */
static void add_tmpfs(rls_strv *a, uint64_t size, const char *dest)
{
	if (size) {
		char buf[32];

		snprintf(buf, sizeof buf, "%" PRIu64, size);
		add2(a, "--size", buf);
	}
	add2(a, "--tmpfs", dest);
}

static void add_proc(rls_strv *a)
{
	struct stat st;

	add2(a, "--proc", "/proc");
	for (const char *const *p = sandbox_proc_read_only; *p; p++)
		if (stat(*p, &st) == 0)
			add3(a, "--ro-bind", *p, *p);
	for (const char *const *p = sandbox_proc_masked; *p; p++) {
		if (lstat(*p, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			add_tmpfs(a, 4096, *p);
			add2(a, "--remount-ro", *p);
		} else {
			add3(a, "--ro-bind", "/dev/null", *p);
		}
	}
}

char **sandbox_bwrap_args(const sandbox_spec *s)
{
	rls_strv a = { 0 };

	/* user, ipc, pid, net, uts and cgroup namespaces; mount always.
	 * No user namespace can be made inside: they are where most of
	 * the kernel's reachable attack surface lies. */
	rls_strv_add(&a, "--unshare-all");
	rls_strv_add(&a, "--unshare-user");
	rls_strv_add(&a, "--disable-userns");
	if (s->share_net)
		rls_strv_add(&a, "--share-net");
	rls_strv_add(&a, "--die-with-parent");
	add2(&a, "--cap-drop", "ALL");
	if (s->new_session)
		rls_strv_add(&a, "--new-session");
	add2(&a, "--hostname", "rls");

	for (const char *const *d = sandbox_system_dirs; *d; d++) {
		struct stat st;
		char target[4096];
		ssize_t n;

		if (lstat(*d, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			/* Merged /usr: keep /bin -> usr/bin a symlink, as on the host. */
			n = readlink(*d, target, sizeof target - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			add3(&a, "--symlink", target, *d);
		} else if (S_ISDIR(st.st_mode)) {
			add3(&a, "--ro-bind", *d, *d);
		}
	}
	for (const char *const *f = sandbox_masked_files; *f; f++)
		if (access(*f, F_OK) == 0)
			add3(&a, "--ro-bind", "/dev/null", *f);
	/* A source tree under /opt, say, would be in plain view there.  This
	 * runs as the sandbox's identity: a path it cannot stat, it cannot
	 * reach either, and bubblewrap could not mount over it. */
	for (const char *const *h = s->hide; h && *h; h++) {
		struct stat st;
		bool bound = false;

		for (const char *const *d = sandbox_system_dirs; *d && !bound; d++)
			bound = run_path_within(*h, *d);
		if (!bound || stat(*h, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			add2(&a, "--tmpfs", *h);
		else
			add3(&a, "--ro-bind", "/dev/null", *h);
	}
	/* /dev is bubblewrap's own small tmpfs; only /dev/shm in it is the
	 * command's to fill, and only up to the size given. */
	add2(&a, "--dev", "/dev");
	add_tmpfs(&a, s->tmp_size, "/dev/shm");
	add2(&a, "--remount-ro", "/dev");
	add_proc(&a);
	add_tmpfs(&a, s->tmp_size, "/tmp");
	if (!run_path_within(s->home, "/tmp"))
		add_tmpfs(&a, s->tmp_size, s->home);
	else
		add2(&a, "--dir", s->home);
	add3(&a, "--bind", s->mountpoint, s->mount_at);
	for (size_t i = 0; i < s->n_binds; i++)
		add3(&a, s->binds[i].rw ? "--bind" : "--ro-bind", s->binds[i].host, s->binds[i].inside);
	add3(&a, "--ro-bind", s->init, SANDBOX_INIT);
	/* Nothing else in the tmpfs root is the command's to change. */
	add2(&a, "--remount-ro", "/");
	add2(&a, "--chdir", s->chdir);
	if (s->seccomp_fd >= 0)
		add_fd(&a, "--seccomp", s->seccomp_fd);
	add_fd(&a, "--json-status-fd", s->status_fd);
	return a.v;
}

char **sandbox_bwrap_argv(const sandbox_spec *s, int args_fd)
{
	rls_strv a = { 0 };

	rls_strv_add(&a, "bwrap");
	add_fd(&a, "--args", args_fd);
	rls_strv_add(&a, "--");
	rls_strv_add(&a, SANDBOX_INIT);
	add_fd(&a, "--verdict-fd", s->verdict_fd);
	rls_strv_add(&a, "--");
	for (char **p = s->argv; *p; p++)
		rls_strv_add(&a, *p);
	return a.v;
}

int sandbox_args_fd(char *const *args, rls_error *err)
{
	_cleanup_close_ int fd = memfd_create("rls-bwrap-args", MFD_CLOEXEC);
	_cleanup_buf_ rls_buf b = { 0 };

	if (fd < 0)
		return rls_error_set(err, errno, "memfd_create");
	/* One write, not one an argument. */
	for (char *const *p = args; *p; p++)
		rls_buf_add(&b, *p, strlen(*p) + 1);
	if (rls_write_all(fd, b.data, b.len) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return rls_error_set(err, errno, "bubblewrap arguments");
	return steal_fd(&fd);
}

void sandbox_argv_free(char **argv)
{
	rls_strv_free(argv);
}
