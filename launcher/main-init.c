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
 *   rls-init --verdict-fd N -- COMMAND [ARG...]
 *
 * The verdict (one byte, "1") is written to fd N just before the exec,
 * and fd N is closed by the exec: the command cannot write it.  Linked
 * statically, so that it runs in any root file system.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define INIT_EXIT_REFUSED 125
#define INIT_EXIT_NOT_FOUND 127
#define INIT_EXIT_NOT_EXEC 126

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

static void check_read_only(const char *path)
{
	struct statvfs sv;

	if (statvfs(path, &sv) < 0) {
		if (errno == ENOENT || errno == EACCES)
			return;
		refuse("%s: %s", path, strerror(errno));
	}
	if (!(sv.f_flag & ST_RDONLY))
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

/* "Name:\tvalue" from /proc/self/status. */
static bool status_field(const char *name, char *value, size_t size)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	size_t n = strlen(name);
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof line, f))
		if (!strncmp(line, name, n) && line[n] == ':') {
			const char *v = line + n + 1;

			v += strspn(v, " \t");
			snprintf(value, size, "%.*s", (int)strcspn(v, "\n"), v);
			found = true;
		}
	fclose(f);
	return found;
}

static void check_credentials(void)
{
	static const char *const caps[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
	char v[64];

	for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
		if (!status_field(caps[i], v, sizeof v) || strspn(v, "0") != strlen(v))
			refuse("the command would hold capabilities (%s %s)", caps[i], v);
	if (!status_field("NoNewPrivs", v, sizeof v) || strcmp(v, "1"))
		refuse("no_new_privs is not set");
	if (!status_field("Seccomp", v, sizeof v) || strcmp(v, "2"))
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

int main(int argc, char **argv)
{
	int verdict_fd = -1;
	char **cmd;

	if (argc >= 5 && !strcmp(argv[1], "--verdict-fd") && !strcmp(argv[3], "--")) {
		char *end;
		long v = strtol(argv[2], &end, 10);

		if (*end || v < 3 || v > 65535)
			refuse("bad --verdict-fd '%s'", argv[2]);
		verdict_fd = (int)v;
		cmd = argv + 4;
	} else {
		fputs("usage: rls-init --verdict-fd N -- COMMAND [ARG...] (run by rls inside a sandbox)\n",
		      stderr);
		return 2;
	}
	for (const char *const *p = read_only_paths; *p; p++)
		check_read_only(*p);
	for (const char *const *p = masked_paths; *p; p++)
		check_masked(*p);
	check_core_pattern();
	check_credentials();
	check_init_environment();
	if (getuid() == 0 && geteuid() == 0 && access("/proc/sys/kernel/hostname", W_OK) == 0)
		refuse("the command would be root with the kernel's knobs writable");

	if (fcntl(verdict_fd, F_SETFD, FD_CLOEXEC) < 0 || write(verdict_fd, "1", 1) != 1)
		refuse("cannot report the verdict: %s", strerror(errno));
	execvp(cmd[0], cmd);
	{
		int e = errno;

		/* The verdict is out: from here on this is the command's
		 * failure, reported as a shell would. */
		fprintf(stderr, "rls: %s: %s\n", cmd[0], strerror(e));
		return e == ENOENT ? INIT_EXIT_NOT_FOUND : INIT_EXIT_NOT_EXEC;
	}
}
