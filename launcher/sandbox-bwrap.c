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
#include <inttypes.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

const char *const sandbox_system_dirs[] = {
	"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc", "/opt", NULL,
};

/* Files a command must never read.  The command does not run as root, so
 * these are unreadable to it anyway; masked all the same, should a caller
 * choose an identity that can read them. */
static const char *const masked_files[] = {
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
static const char *const proc_read_only[] = {
	"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs", NULL,
};
static const char *const proc_masked[] = {
	"/proc/kcore", "/proc/keys", "/proc/key-users", "/proc/timer_list", "/proc/sched_debug",
	"/proc/latency_stats", "/proc/kmsg", "/proc/acpi", "/proc/scsi", "/proc/asound",
	"/proc/timer_stats", NULL,
};

/* Where rls-init appears inside. */
#define SANDBOX_INIT "/run/rls/init"

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

static void add_fd(argv_builder *a, const char *opt, int fd)
{
	char buf[16];

	snprintf(buf, sizeof buf, "%d", fd);
	add2(a, opt, buf);
}

static bool path_is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

/* A tmpfs of `size` bytes (0: the kernel's default) at `dest`. */
static void add_tmpfs(argv_builder *a, uint64_t size, const char *dest)
{
	if (size) {
		char buf[32];

		snprintf(buf, sizeof buf, "%" PRIu64, size);
		add2(a, "--size", buf);
	}
	add2(a, "--tmpfs", dest);
}

static void add_proc(argv_builder *a)
{
	struct stat st;

	add2(a, "--proc", "/proc");
	for (const char *const *p = proc_read_only; *p; p++)
		if (stat(*p, &st) == 0)
			add3(a, "--ro-bind", *p, *p);
	for (const char *const *p = proc_masked; *p; p++) {
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
	argv_builder a = { 0 };

	/* user, ipc, pid, net, uts and cgroup namespaces; mount always.
	 * No user namespace can be made inside: they are where most of
	 * the kernel's reachable attack surface lies. */
	add(&a, "--unshare-all");
	add(&a, "--unshare-user");
	add(&a, "--disable-userns");
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
	/* A source tree under /opt, say, would be in plain view there.  This
	 * runs as the sandbox's identity: a path it cannot stat, it cannot
	 * reach either, and bubblewrap could not mount over it. */
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
	/* /dev is bubblewrap's own small tmpfs; only /dev/shm in it is the
	 * command's to fill, and only up to the size given. */
	add2(&a, "--dev", "/dev");
	add_tmpfs(&a, s->tmp_size, "/dev/shm");
	add2(&a, "--remount-ro", "/dev");
	add_proc(&a);
	add_tmpfs(&a, s->tmp_size, "/tmp");
	if (!path_is_under(s->home, "/tmp"))
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
	argv_builder a = { 0 };

	add(&a, "bwrap");
	add_fd(&a, "--args", args_fd);
	add(&a, "--");
	add(&a, SANDBOX_INIT);
	add_fd(&a, "--verdict-fd", s->verdict_fd);
	add(&a, "--");
	for (char **p = s->argv; *p; p++)
		add(&a, *p);
	return a.v;
}

int sandbox_args_fd(char *const *args, rls_error *err)
{
	_cleanup_close_ int fd = memfd_create("rls-bwrap-args", MFD_CLOEXEC);

	if (fd < 0)
		return rls_error_set(err, errno, "memfd_create");
	for (char *const *p = args; *p; p++)
		if (rls_write_all(fd, *p, strlen(*p) + 1) < 0)
			return rls_error_set(err, errno, "bubblewrap arguments");
	if (lseek(fd, 0, SEEK_SET) < 0)
		return rls_error_set(err, errno, "bubblewrap arguments");
	return steal_fd(&fd);
}

void sandbox_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

/* The seccomp program.  What it refuses, and why:
 *
 *  - ioctl(fd, TIOCSTI or TIOCLINUX, ...), EPERM.  The terminal stays
 *    shared (no --new-session, so that job control works), and those two
 *    would let the command type into the user's shell after rls exits.
 *    The request is compared on its low 32 bits: the kernel ignores the
 *    high ones (CVE-2019-10063 in flatpak).
 *  - add_key, request_key, keyctl, ENOSYS.  Keyrings are not namespaced:
 *    the keys of the sandbox's uid on the host (and, were it shared, the
 *    caller's session keyring) would be readable and writable.  rls also
 *    gives the sandbox a fresh, empty session keyring.
 *  - io_uring_setup/enter/register and userfaultfd, ENOSYS.  Both are the
 *    usual tools of kernel exploits (io_uring also runs operations outside
 *    any seccomp filter), and programs fall back when they are missing.
 *
 * x32 system calls are refused whole, ENOSYS; on x86-64 the i386 entry
 * points get the same filter by their own numbers; any other architecture
 * is refused.  A program is a list of (number, errno) checks per
 * architecture, assembled with forward jumps resolved at the end. */
#define ARG_LO(n) (offsetof(struct seccomp_data, args[n]))
#define NR_OFF (offsetof(struct seccomp_data, nr))
#define ARCH_OFF (offsetof(struct seccomp_data, arch))

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LO_OFF(n) ARG_LO(n)
#else
#define LO_OFF(n) (ARG_LO(n) + 4)
#endif

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

typedef struct sc_deny {
	unsigned nr;
	int err;
} sc_deny;

#ifdef NATIVE_ARCH
static const sc_deny native_denied[] = {
	{ __NR_add_key, ENOSYS }, { __NR_request_key, ENOSYS }, { __NR_keyctl, ENOSYS },
	{ __NR_io_uring_setup, ENOSYS }, { __NR_io_uring_enter, ENOSYS },
	{ __NR_io_uring_register, ENOSYS }, { __NR_userfaultfd, ENOSYS },
};
#endif

#if defined(__x86_64__)
#define X32_SYSCALL_BIT 0x40000000u
#define COMPAT_ARCH AUDIT_ARCH_I386
#define COMPAT_IOCTL 54u
/* The i386 numbers, from arch/x86/entry/syscalls/syscall_32.tbl. */
static const sc_deny compat_denied[] = {
	{ 286, ENOSYS }, { 287, ENOSYS }, { 288, ENOSYS },	/* add_key, request_key, keyctl */
	{ 425, ENOSYS }, { 426, ENOSYS }, { 427, ENOSYS },	/* io_uring_* */
	{ 374, ENOSYS },					/* userfaultfd */
};
#endif

enum { L_IOCTL, L_ALLOW, L_DENY_ENOSYS, L_COMPAT, L_NLABELS };

typedef struct bpf_asm {
	struct sock_filter prog[128];
	int target[128];	/* label a jump goes to when taken, or -1 */
	int target_f[128];	/* when not taken, or -1 */
	unsigned n;
	int label[L_NLABELS];
} bpf_asm;

static void emit(bpf_asm *b, struct sock_filter insn, int jt, int jf)
{
	b->target[b->n] = jt;
	b->target_f[b->n] = jf;
	b->prog[b->n++] = insn;
}

static void load_nr(bpf_asm *b)
{
	emit(b, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR_OFF), -1, -1);
}

static void deny_list(bpf_asm *b, const sc_deny *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		emit(b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, list[i].nr, 0, 1), -1, -1);
		emit(b, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
						     SECCOMP_RET_ERRNO | ((unsigned)list[i].err & SECCOMP_RET_DATA)),
		     -1, -1);
	}
}

/* Resolve label jumps into relative offsets; -1 when one is too far. */
static int link_prog(bpf_asm *b)
{
	for (unsigned pc = 0; pc < b->n; pc++) {
		if (b->target[pc] >= 0) {
			int off = b->label[b->target[pc]] - (int)pc - 1;

			if (off < 0 || off > 255)
				return -1;
			b->prog[pc].jt = (unsigned char)off;
		}
		if (b->target_f[pc] >= 0) {
			int off = b->label[b->target_f[pc]] - (int)pc - 1;

			if (off < 0 || off > 255)
				return -1;
			b->prog[pc].jf = (unsigned char)off;
		}
	}
	return 0;
}

static void mark(bpf_asm *b, int label)
{
	b->label[label] = (int)b->n;
}

#define JEQ(k) ((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), 0, 0))
#define JGE(k) ((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (k), 0, 0))
#define RET(k) ((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (k)))

int sandbox_seccomp_fd(rls_error *err)
{
#ifdef NATIVE_ARCH
	bpf_asm b = { .n = 0 };
	int p[2];

	emit(&b, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARCH_OFF), -1, -1);
#ifdef COMPAT_ARCH
	emit(&b, JEQ(COMPAT_ARCH), L_COMPAT, -1);
#endif
	emit(&b, JEQ(NATIVE_ARCH), -1, L_DENY_ENOSYS);
	load_nr(&b);
#ifdef X32_SYSCALL_BIT
	emit(&b, JGE(X32_SYSCALL_BIT), L_DENY_ENOSYS, -1);
#endif
	deny_list(&b, native_denied, RLS_ARRAY_SIZE(native_denied));
	emit(&b, JEQ(__NR_ioctl), L_IOCTL, L_ALLOW);
#ifdef COMPAT_ARCH
	mark(&b, L_COMPAT);
	load_nr(&b);
	deny_list(&b, compat_denied, RLS_ARRAY_SIZE(compat_denied));
	emit(&b, JEQ(COMPAT_IOCTL), L_IOCTL, L_ALLOW);
#endif
	mark(&b, L_IOCTL);
	emit(&b, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, LO_OFF(1)), -1, -1);
	emit(&b, JEQ((unsigned)TIOCSTI), -1, -1);
	b.prog[b.n - 1].jt = 2;		/* -> the EPERM below */
	emit(&b, JEQ((unsigned)TIOCLINUX), -1, L_ALLOW);
	b.prog[b.n - 1].jt = 1;
	mark(&b, L_ALLOW);
	emit(&b, RET(SECCOMP_RET_ALLOW), -1, -1);
	emit(&b, RET(SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)), -1, -1);
	mark(&b, L_DENY_ENOSYS);
	emit(&b, RET(SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)), -1, -1);
	if (link_prog(&b) < 0)
		return rls_error_set(err, 0, "seccomp program: a jump is out of range");

	if (pipe2(p, O_CLOEXEC) < 0)
		return rls_error_set(err, errno, "pipe");
	/* Far below a pipe's capacity: the write cannot block. */
	if (rls_write_all(p[1], b.prog, b.n * sizeof b.prog[0]) < 0) {
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
