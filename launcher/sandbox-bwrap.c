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
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

const char *const sandbox_system_dirs[] = {
	"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc", "/opt", NULL,
};

/* Readable by root inside the sandbox (its uid 0 is the host's) although
 * it holds no capability: hide them. */
static const char *const masked_files[] = {
	"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-",
	"/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ecdsa_key",
	"/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_dsa_key", NULL,
};

typedef struct argv_builder {
	char **v;
	size_t n, cap;
} argv_builder;

static void add(argv_builder *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->v = rls_xrealloc(a->v, a->cap * sizeof *a->v);
	}
	a->v[a->n++] = rls_xstrdup(s);
	a->v[a->n] = NULL;
}

static void add2(argv_builder *a, const char *x, const char *y)
{
	add(a, x);
	add(a, y);
}

static void add3(argv_builder *a, const char *x, const char *y, const char *z)
{
	add(a, x);
	add(a, y);
	add(a, z);
}

static bool path_is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

char **sandbox_bwrap_argv(const sandbox_spec *s)
{
	argv_builder a = { 0 };
	char buf[32];

	add(&a, s->bwrap);
	/* user, ipc, pid, net, uts and cgroup namespaces; mount always. */
	add(&a, "--unshare-all");
	add(&a, "--unshare-user");
	if (s->share_net)
		add(&a, "--share-net");
	add(&a, "--die-with-parent");
	add2(&a, "--cap-drop", "ALL");
	if (s->new_session)
		add(&a, "--new-session");
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
	for (const char *const *f = masked_files; *f; f++)
		if (access(*f, F_OK) == 0)
			add3(&a, "--ro-bind", "/dev/null", *f);
	/* A source tree under /opt, say, would be in plain view there. */
	for (const char *const *h = s->hide; h && *h; h++) {
		struct stat st;
		bool bound = false;

		for (const char *const *d = sandbox_system_dirs; *d && !bound; d++)
			bound = path_is_under(*h, *d);
		if (!bound || stat(*h, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			add2(&a, "--tmpfs", *h);
		else
			add3(&a, "--ro-bind", "/dev/null", *h);
	}
	add2(&a, "--dev", "/dev");
	add2(&a, "--proc", "/proc");
	add2(&a, "--tmpfs", "/tmp");
	if (!path_is_under(s->home, "/tmp"))
		add2(&a, "--tmpfs", s->home);
	else
		add2(&a, "--dir", s->home);
	add3(&a, "--bind", s->mountpoint, s->mount_at);
	/* Nothing else in the tmpfs root is the command's to change. */
	add2(&a, "--remount-ro", "/");
	add2(&a, "--chdir", s->chdir);
	add(&a, "--clearenv");
	for (char **e = s->env; *e; e++) {
		const char *eq = strchr(*e, '=');
		_cleanup_free_ char *name = rls_xstrndup(*e, (size_t)(eq - *e));

		add3(&a, "--setenv", name, eq + 1);
	}
	if (s->seccomp_fd >= 0) {
		snprintf(buf, sizeof buf, "%d", s->seccomp_fd);
		add2(&a, "--seccomp", buf);
	}
	snprintf(buf, sizeof buf, "%d", s->status_fd);
	add2(&a, "--json-status-fd", buf);
	add(&a, "--");
	for (char **p = s->argv; *p; p++)
		add(&a, *p);
	return a.v;
}

void sandbox_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

/* The seccomp program.  Only ioctl(fd, TIOCSTI or TIOCLINUX, ...) is
 * refused (EPERM): with the terminal shared (no --new-session, so that job
 * control works) those two would let the command type into the user's
 * shell after rls exits.  The request is compared on its low 32 bits: the
 * kernel ignores the high ones (CVE-2019-10063 in flatpak).  On x86-64
 * the i386 and x32 entry points are filtered too; other foreign
 * architectures pass through unfiltered. */
#define ARG_LO(n) (offsetof(struct seccomp_data, args[n]))
#define NR_OFF (offsetof(struct seccomp_data, nr))
#define ARCH_OFF (offsetof(struct seccomp_data, arch))

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define NATIVE_ARCH AUDIT_ARCH_I386
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define NATIVE_ARCH AUDIT_ARCH_S390X
#endif

#if defined(__x86_64__)
#define X32_IOCTL (0x40000000u | 514)	/* __X32_SYSCALL_BIT | ioctl */
#define COMPAT_ARCH AUDIT_ARCH_I386
#define COMPAT_IOCTL 54
#else
#define X32_IOCTL 0xffffffffu		/* never a syscall number */
#define COMPAT_ARCH 0xffffffffu
#define COMPAT_IOCTL 0xffffffffu
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LO_OFF(n) ARG_LO(n)
#else
#define LO_OFF(n) (ARG_LO(n) + 4)
#endif

int sandbox_seccomp_fd(rls_error *err)
{
#ifdef NATIVE_ARCH
	/* Jumps are relative and only forward: jt/jf = target - (pc + 1). */
	const struct sock_filter prog[] = {
		/* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARCH_OFF),
		/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 0, 3),	/* -> 5 */
		/* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR_OFF),
		/* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 4, 0),	/* -> 8 */
		/* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, X32_IOCTL, 3, 6),	/* -> 8 : 11 */
		/* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, COMPAT_ARCH, 0, 5),	/* -> 6 : 11 */
		/* 6 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR_OFF),
		/* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, COMPAT_IOCTL, 0, 3),	/* -> 8 : 11 */
		/* 8 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, LO_OFF(1)),
		/* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCSTI, 2, 0),	/* -> 12 */
		/* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCLINUX, 1, 0),	/* -> 12 */
		/* 11 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		/* 12 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	};
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return rls_error_set(err, errno, "pipe");
	/* Far below a pipe's capacity: the write cannot block. */
	if (rls_write_all(p[1], prog, sizeof prog) < 0) {
		rls_error_set(err, errno, "seccomp program");
		close(p[0]);
		close(p[1]);
		return -1;
	}
	close(p[1]);
	return p[0];
#else
	return rls_error_set(err, ENOSYS, "no seccomp filter for this architecture");
#endif
}
