/* main-init.c - rls-init, the first program inside every sandbox.
 *
 * The backend (bubblewrap today) builds the sandbox; rls-init then looks
 * at it from where the command will stand, and runs the command only if
 * what rls promises holds there.  Checking from inside catches what no
 * command line can show: a bubblewrap that ignored an option, a kernel
 * that kept /proc/sys writable for the sandbox's uid, a mount that did not
 * happen.  No check, no run: on any doubt it prints one line and exits
 * 125 without writing its verdict, and rls reports that the sandbox could
 * not be set up.
 *
 *   rls-init (--verdict-fd N | --verdict-file PATH) [--seccomp PATH]
 *            [--kernel gvisor] (-- COMMAND [ARG...] | --argv-file PATH --)
 *
 * The verdict (one byte, "1") is written to fd N just before the exec,
 * and fd N is closed by the exec: the command cannot write it.  A runtime
 * that passes no descriptors in (gVisor's runsc) gets a file bound in
 * instead; the command could write that one, but only once it runs, that
 * is once the verdict is out.  --argv-file reads the command from a file,
 * NUL-separated: an OCI bundle carries arguments as JSON strings, which
 * cannot hold bytes that are not UTF-8.  --seccomp installs one more filter, a BPF
 * program in a file (where the runtime's own filter cannot say what rls
 * refuses in the way rls refuses it).  --kernel gvisor says the kernel
 * is gVisor's Sentry: its /proc/sys is its own, not the host's, and
 * shows no read-only mounts.
 *
 * When it is pid 1 of its pid namespace (OCI runtimes run the process
 * there), it does not exec the command in its own place: a pid 1 gets no
 * signal it has no handler for, so `kill -SEGV $$` would do nothing and a
 * forwarded SIGTERM would be lost.  It forks the command into a process
 * group of its own, forwards every signal it receives to it, reaps
 * orphans, and exits with the command's status (128 + N after signal N);
 * its exit ends the pid namespace, and with it every process left.
 *
 * Linked statically, so that it runs in any root file system.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define INIT_EXIT_REFUSED 125
#define INIT_EXIT_NOT_FOUND 127
#define INIT_EXIT_NOT_EXEC 126
#define RLS_INIT_NORETURN __attribute__((noreturn))

extern char **environ;

static void __attribute__((noreturn, format(printf, 1, 2))) refuse(const char *fmt, ...)
{
	va_list ap;

	fputs("rls: the sandbox failed its own check, so nothing was run: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(INIT_EXIT_REFUSED);
}

/* Kernel knobs: each must be missing or on a read-only mount. */
static const char *const read_only_paths[] = {
	"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs", NULL,
};

/* Kernel state that must be missing or masked (unreadable, or empty). */
static const char *const masked_paths[] = {
	"/proc/kcore", "/proc/keys", "/proc/key-users", "/proc/timer_list", "/proc/sched_debug",
	"/proc/latency_stats", "/proc/kmsg", "/proc/acpi", "/proc/scsi", "/proc/asound",
	"/proc/timer_stats", NULL,
};

static bool gvisor;	/* --kernel gvisor */

static void check_read_only(const char *path)
{
	struct statvfs sv;
	struct stat st;
	int fd;

	if (statvfs(path, &sv) < 0) {
		if (errno == ENOENT || errno == EACCES)
			return;
		/* gVisor's Sentry implements no statfs there. */
		if (!gvisor || errno != ENOSYS)
			refuse("%s: %s", path, strerror(errno));
	} else if (sv.f_flag & ST_RDONLY) {
		return;
	}
	/* gVisor's /proc is the Sentry's, and reaches no host knob; its
	 * files must still refuse writing. */
	if (gvisor && stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return;
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return;
		close(fd);
	}
	refuse("%s is writable", path);
}

static void check_masked(const char *path)
{
	struct stat st;
	char c;
	int fd;

	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		struct statvfs sv;

		/* an empty read-only tmpfs */
		if (statvfs(path, &sv) == 0 && (sv.f_flag & ST_RDONLY) && st.st_nlink <= 2)
			return;
		refuse("%s is not masked", path);
	}
	fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	if (read(fd, &c, 1) > 0) {
		close(fd);
		refuse("%s is readable", path);
	}
	close(fd);
}

/* The one knob an attacker wants most: a core pattern with a pipe runs a
 * program as the host's root.  Being denied is the only good answer. */
static void check_core_pattern(void)
{
	int fd = open("/proc/sys/kernel/core_pattern", O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		refuse("/proc/sys/kernel/core_pattern can be opened for writing");
	}
}

static void check_credentials(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	/* Asked of the kernel itself, not of /proc/self/status: gVisor's
	 * has neither CapAmb nor NoNewPrivs lines. */
	if (syscall(SYS_capget, &hdr, data) < 0)
		refuse("capget: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			refuse("the command would hold capabilities (effective %x, permitted %x, inheritable %x)",
			       data[i].effective, data[i].permitted, data[i].inheritable);
	for (int cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) > 0)
			refuse("the command would keep capability %d in its bounding set", cap);
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) > 0)
			refuse("the command would hold ambient capability %d", cap);
	}
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		refuse("no_new_privs is not set");
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2)
		refuse("no seccomp filter is in force");
}

/* pid 1 of the sandbox (the backend's own init) may hold nothing of the
 * caller's environment: every entry of its environment must be one of
 * ours, which is the sandbox's. */
static void check_init_environment(void)
{
	static char buf[65536 + 1];
	const size_t max = sizeof buf - 1;
	ssize_t n;
	size_t len = 0;
	int fd = open("/proc/1/environ", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;		/* not ours to read: nobody inside can read it */
	while (len < max && (n = read(fd, buf + len, max - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (len >= max)
		refuse("pid 1 has a larger environment than the sandbox's");
	buf[len] = '\0';
	for (size_t off = 0; off < len; off += strlen(buf + off) + 1) {
		bool known = false;

		for (char **e = environ; *e && !known; e++)
			known = !strcmp(*e, buf + off);
		if (!known && buf[off])
			refuse("pid 1 holds an environment variable the sandbox was not given");
	}
}

/* One more seccomp filter, from a file of struct sock_filter. */
static void install_seccomp(const char *path)
{
	static struct sock_filter prog[4096];
	struct sock_fprog fp = { 0 };
	size_t len = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		refuse("seccomp program %s: %s", path, strerror(errno));
	while (len < sizeof prog && (n = read(fd, (char *)prog + len, sizeof prog - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (!len || len % sizeof prog[0] || len >= sizeof prog)
		refuse("seccomp program %s: not a BPF program", path);
	fp.len = (unsigned short)(len / sizeof prog[0]);
	fp.filter = prog;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) < 0)
		refuse("seccomp program %s: %s", path, strerror(errno));
}

static void report_verdict(int verdict_fd, const char *verdict_file)
{
	int fd = verdict_fd;

	if (verdict_file) {
		fd = open(verdict_file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			refuse("cannot report the verdict: %s: %s", verdict_file, strerror(errno));
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || write(fd, "1", 1) != 1)
		refuse("cannot report the verdict: %s", strerror(errno));
	if (verdict_file)
		close(fd);
}

/* The command from a file of NUL-terminated arguments. */
static char **read_argv(const char *path)
{
	static char buf[4 << 20];
	size_t len = 0, n = 0;
	ssize_t got;
	char **v;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		refuse("the command's arguments %s: %s", path, strerror(errno));
	while (len < sizeof buf && (got = read(fd, buf + len, sizeof buf - len)) > 0)
		len += (size_t)got;
	close(fd);
	if (!len || len >= sizeof buf || buf[len - 1] != '\0')
		refuse("the command's arguments %s: not a NUL-separated list", path);
	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\0';
	v = calloc(n + 1, sizeof *v);
	if (!v)
		refuse("out of memory");
	n = 0;
	for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
		v[n++] = buf + i;
	return v;
}

static RLS_INIT_NORETURN void exec_command(char **cmd)
{
	execvp(cmd[0], cmd);
	{
		int e = errno;

		/* The verdict is out: from here on this is the command's
		 * failure, reported as a shell would. */
		fprintf(stderr, "rls: %s: %s\n", cmd[0], strerror(e));
		_exit(e == ENOENT ? INIT_EXIT_NOT_FOUND : INIT_EXIT_NOT_EXEC);
	}
}

static void forward_nothing(int sig)
{
	(void)sig;
}

/* pid 1: run the command as a child and stand in for it. */
static RLS_INIT_NORETURN void run_as_init(char **cmd, int verdict_fd)
{
	sigset_t all, old;
	pid_t child;

	/* A pid 1 with SIG_DFL drops signals even when they are blocked:
	 * each gets a handler that never runs, and is taken by
	 * sigwaitinfo below. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD)
			signal(sig, forward_nothing);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	child = fork();
	if (child < 0) {
		fprintf(stderr, "rls: fork: %s\n", strerror(errno));
		_exit(INIT_EXIT_REFUSED);
	}
	if (child == 0) {
		for (int sig = 1; sig < NSIG; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				signal(sig, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		/* kill(0, sig) by the command reaches its own group, not
		 * this process, which would hand the signal back to it. */
		setpgid(0, 0);
		exec_command(cmd);
	}
	if (verdict_fd >= 0)
		close(verdict_fd);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		for (;;) {
			int ws;
			pid_t p = waitpid(-1, &ws, WNOHANG);

			if (p <= 0)
				break;
			if (p == child)
				_exit(WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws));
		}
	}
}

int main(int argc, char **argv)
{
	int verdict_fd = -1;
	const char *verdict_file = NULL, *seccomp = NULL, *argv_file = NULL;
	char **cmd = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			cmd = argv + i + 1;
			break;
		}
		if (i + 1 >= argc)
			break;
		if (!strcmp(argv[i], "--verdict-fd")) {
			char *end;
			long v = strtol(argv[++i], &end, 10);

			if (*end || v < 3 || v > 65535)
				refuse("bad --verdict-fd '%s'", argv[i]);
			verdict_fd = (int)v;
		} else if (!strcmp(argv[i], "--verdict-file")) {
			verdict_file = argv[++i];
		} else if (!strcmp(argv[i], "--argv-file")) {
			argv_file = argv[++i];
		} else if (!strcmp(argv[i], "--seccomp")) {
			seccomp = argv[++i];
		} else if (!strcmp(argv[i], "--kernel") && !strcmp(argv[i + 1], "gvisor")) {
			gvisor = true;
			i++;
		} else {
			break;
		}
	}
	if (cmd && argv_file && !*cmd)
		cmd = read_argv(argv_file);
	if (!cmd || !*cmd || (verdict_fd < 0) == !verdict_file) {
		fputs("usage: rls-init (--verdict-fd N | --verdict-file PATH) [--seccomp PATH] "
		      "[--kernel gvisor] (-- COMMAND [ARG...] | --argv-file PATH --) (run by rls inside a "
		      "sandbox)\n", stderr);
		return 2;
	}
	for (const char *const *p = read_only_paths; *p; p++)
		check_read_only(*p);
	for (const char *const *p = masked_paths; *p; p++)
		check_masked(*p);
	check_core_pattern();
	check_credentials();
	check_init_environment();
	if (getuid() == 0 && geteuid() == 0) {
		/* gVisor: uid 0 of the Sentry, which checks capabilities, not
		 * modes; ask it by opening. */
		int fd = gvisor ? open("/proc/sys/kernel/hostname", O_WRONLY | O_CLOEXEC) : -1;

		if (fd >= 0 || (!gvisor && access("/proc/sys/kernel/hostname", W_OK) == 0))
			refuse("the command would be root with the kernel's knobs writable");
	}
	if (seccomp)
		install_seccomp(seccomp);

	report_verdict(verdict_fd, verdict_file);
	if (getpid() == 1)
		run_as_init(cmd, verdict_fd);
	exec_command(cmd);
}
