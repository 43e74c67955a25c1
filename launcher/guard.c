/* guard.c - the helper that cleans up when rls itself is killed.
 *
 * A SIGKILLed rls runs no cleanup of its own.  bwrap --die-with-parent
 * takes the sandbox down and rlsfs --watch-pid unmounts, but the cgroup and
 * the private temp dir would stay.  So rls forks this small process first:
 * it waits on a pipe whose only writer is rls.  A "done" byte means rls
 * cleaned up by itself; end of file without it means rls died, and the
 * guard finishes the job.
 *
 * It also holds the timeout's backstop.  Once the sandbox runs, rls hands
 * the guard a pidfd of it and a deadline (a little past rls's own): a
 * stopped rls (SIGSTOP, or a debugger) cannot make a timeout not happen.
 * The guard has a process group of its own, so a signal to rls's group
 * does not stop it as well.  The channel is a socket pair, to carry the
 * descriptor.
 *
 * A backend whose sandbox does not die with rls (an OCI container
 * outlives its runtime) hands the guard commands up front: one that kills
 * the sandbox, run at the deadline and when rls dies, one that removes
 * what is left of it (the runtime's state, its cgroups), and a folder to
 * remove after them.
 */
#include "launcher.h"
#include "run.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static bool is_mountpoint(const char *dir, const char *parent)
{
	struct stat a, b;

	/* A mount nobody serves any more (rls killed between making it
	 * and starting rlsfs) answers ENOTCONN: mounted all the same. */
	if (stat(dir, &a) < 0)
		return errno == ENOTCONN;
	if (stat(parent, &b) < 0)
		return false;
	return a.st_dev != b.st_dev;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The message guard_arm sends. */
typedef struct arm_msg {
	char tag;		/* 'a' */
	double deadline;
} arm_msg;

/* The largest cleanup message: a tag and NUL-separated strings. */
#define GUARD_MSG_MAX 8192

/* What guard_add_cleanup handed over (tags 'k', 'c', 'r'). */
typedef struct guard_cleanup {
	char **kill;
	char **cleanup;
	char *remove;
	char *cgroup;
} guard_cleanup;

static char **split_argv(const char *p, size_t len)
{
	size_t n = 0;
	char **v;

	for (size_t i = 0; i < len; i++)
		n += p[i] == '\0';
	v = rls_xcalloc(n + 1, sizeof *v);
	n = 0;
	for (size_t i = 0; i < len; i += strlen(p + i) + 1)
		v[n++] = rls_xstrdup(p + i);
	v[n] = NULL;
	return v;
}

/* One message from rls: 'd' (done), an arm message with its pidfd, a
 * cleanup message, or end of file (0).  -1 on a read error. */
static int guard_read(int sock, char *tag, double *deadline, int *pidfd, guard_cleanup *gc)
{
	static char buf[GUARD_MSG_MAX];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, sizeof buf };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof u.buf };
	ssize_t n = RLS_TEMP_FAILURE_RETRY(recvmsg(sock, &mh, MSG_CMSG_CLOEXEC));

	if (n <= 0)
		return n == 0 ? 0 : -1;
	*tag = buf[0];
	if (buf[0] == 'a' && n == (ssize_t)sizeof(arm_msg)) {
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		arm_msg m;

		memcpy(&m, buf, sizeof m);
		*deadline = m.deadline;
		if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			/* Armed again (a new deadline): the new pidfd replaces the old. */
			if (*pidfd >= 0)
				close(*pidfd);
			memcpy(pidfd, CMSG_DATA(c), sizeof *pidfd);
		}
	} else if (buf[0] && strchr("kcrg", buf[0]) && n > 2 && buf[n - 1] == '\0') {
		char **v = split_argv(buf + 1, (size_t)n - 1);

		if (buf[0] == 'r' || buf[0] == 'g') {
			char **slot = buf[0] == 'r' ? &gc->remove : &gc->cgroup;

			free(*slot);
			*slot = rls_xstrdup(v[0]);
			sandbox_argv_free(v);
		} else if (buf[0] == 'k') {
			sandbox_argv_free(gc->kill);
			gc->kill = v;
		} else {
			sandbox_argv_free(gc->cleanup);
			gc->cleanup = v;
		}
	}
	return 1;
}

/* A cleanup command, its output nowhere: what it says about a sandbox
 * already gone is no news. */
static void run_silently(char **argv)
{
	pid_t pid;

	if (!argv || !argv[0])
		return;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		char *env[] = { "PATH=" RUN_SANDBOX_PATH, NULL };

		run_child_reset_signals();
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
		execve(argv[0], argv, env);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
}

typedef struct under_ctx {
	const char *dir;
	size_t len;
} under_ctx;

static int mount_under(const char *point, const char *fstype, const char *source, const char *opts,
		       void *opaque)
{
	const under_ctx *u = opaque;

	return !strncmp(point, u->dir, u->len) && (point[u->len] == '/' || point[u->len] == '\0');
}

/* Wait for rls to say done (exit quietly) or to die (return and clean
 * up), killing the sandbox at its deadline meanwhile. */
static void guard_wait(const guard_spec *s, int sock, guard_cleanup *gc)
{
	double deadline = 0;
	int pidfd = -1;

	for (;;) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		int timeout_ms = -1;
		char tag = 0;
		int r;

		if (deadline) {
			double left = deadline - now_s();

			timeout_ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
		}
		r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno != EINTR)
			return;
		if (r == 0) {
			syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
			run_silently(gc->kill);
			if (s->cg->version)
				limits_signal_all(s->cg, SIGKILL);
			deadline = 0;
			continue;
		}
		if (r < 0)
			continue;
		r = guard_read(sock, &tag, &deadline, &pidfd, gc);
		if (r <= 0)
			return;
		if (tag == 'd')
			_exit(0);
	}
}

static RLS_NORETURN void guard_main(const guard_spec *s, int fd)
{
	guard_cleanup gc = { 0 };

	guard_wait(s, fd, &gc);
	/* A sandbox that outlives rls is killed and removed first: it holds
	 * the mount. */
	run_silently(gc.kill);
	run_silently(gc.cleanup);
	if (gc.remove) {
		under_ctx u = { gc.remove, strlen(gc.remove) };

		/* Never across a mount: whatever is mounted there is not
		 * the run's to remove. */
		if (rls_mountinfo_each(mount_under, &u) == 0)
			(void)rls_rm_rf_at(AT_FDCWD, gc.remove, NULL);
	}
	if (gc.cgroup) {
		/* NAME/oci, then NAME where the runtime made it; rls's own
		 * are removed below. */
		char *slash = strchr(gc.cgroup, '/');

		oci_cgroup_sweep(gc.cgroup, s->cg, 3000);
		if (slash) {
			*slash = '\0';
			oci_cgroup_sweep(gc.cgroup, s->cg, 3000);
		}
	}

	/* rls is gone.  The sandbox dies with it (--die-with-parent); what
	 * a cgroup still holds is killed here. */
	if (s->cg->version)
		limits_signal_all(s->cg, SIGKILL);
	/* rlsfs --watch-pid unmounts by itself; give it a moment, then do
	 * it, so that the temp dir below can go. */
	for (int i = 0; i < 200 && is_mountpoint(s->mountpoint, s->tmpdir); i++)
		sleep_ms(10);
	if (is_mountpoint(s->mountpoint, s->tmpdir)) {
		char *argv[] = { (char *)s->rlsfs, "umount", (char *)s->mountpoint, NULL };

		if (run_program(argv) != 0)
			umount2(s->mountpoint, MNT_DETACH);
	}
	if (s->cg->version) {
		run_cgroup cg = *s->cg;

		(void)limits_remove(&cg, 3000, NULL);
	}
	if (!s->keep_audit)
		unlink(s->audit);
	/* rmdir, never rm -r: should the mount still be there, nothing of
	 * the source tree may be touched. */
	rmdir(s->mountpoint);
	rmdir(s->tmpdir);
	fprintf(stderr, "rls: interrupted; the delta is kept: %s\n", s->delta);
	_exit(0);
}

int guard_start(const guard_spec *spec, run_guard *g, rls_error *err)
{
	int p[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) < 0)
		return rls_error_set(err, errno, "socketpair");
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return rls_error_set(err, errno, "fork");
	}
	if (pid == 0) {
		static const int ignored[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE };
		sigset_t none;

		close(p[1]);
		setpgid(0, 0);
		/* Ctrl-C and a closing terminal are for rls and the sandbox,
		 * not for the one who cleans up after them. */
		for (size_t i = 0; i < RLS_ARRAY_SIZE(ignored); i++)
			signal(ignored[i], SIG_IGN);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (chdir("/") < 0)
			_exit(1);
		guard_main(spec, p[0]);
	}
	close(p[0]);
	g->pid = pid;
	g->fd = p[1];
	return 0;
}

int guard_arm(run_guard *g, pid_t pid, double deadline, rls_error *err)
{
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	arm_msg m = { .tag = 'a', .deadline = deadline };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &m, sizeof m };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof u.buf };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	if (pidfd < 0)
		return rls_error_set(err, errno, "pidfd_open");
	memset(u.buf, 0, sizeof u.buf);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &pidfd, sizeof pidfd);
	if (RLS_TEMP_FAILURE_RETRY(sendmsg(g->fd, &mh, MSG_NOSIGNAL)) < 0)
		return rls_error_set(err, errno, "arming the guard");
	return 0;
}

static int send_strings(run_guard *g, char tag, char *const *v, rls_error *err)
{
	_cleanup_buf_ rls_buf b = { 0 };

	rls_buf_addc(&b, tag);
	for (; *v; v++)
		rls_buf_add(&b, *v, strlen(*v) + 1);
	if (b.len > GUARD_MSG_MAX)
		return rls_error_set(err, E2BIG, "a cleanup command for the guard");
	if (RLS_TEMP_FAILURE_RETRY(send(g->fd, b.data, b.len, MSG_NOSIGNAL)) < 0)
		return rls_error_set(err, errno, "handing the guard a cleanup command");
	return 0;
}

int guard_add_cleanup(run_guard *g, char *const *kill_argv, char *const *cleanup, const char *remove,
		      const char *cgroup, rls_error *err)
{
	if (kill_argv && send_strings(g, 'k', kill_argv, err) < 0)
		return -1;
	if (cleanup && send_strings(g, 'c', cleanup, err) < 0)
		return -1;
	if (remove && send_strings(g, 'r', (char *const[]){ (char *)remove, NULL }, err) < 0)
		return -1;
	if (cgroup && send_strings(g, 'g', (char *const[]){ (char *)cgroup, NULL }, err) < 0)
		return -1;
	return 0;
}

void guard_release(run_guard *g)
{
	if (g->fd < 0)
		return;
	(void)!send(g->fd, "d", 1, MSG_NOSIGNAL);
	close(g->fd);
	g->fd = -1;
}

void guard_reap(run_guard *g)
{
	if (g->fd >= 0 || !g->pid)
		return;
	while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
		;
	g->pid = 0;
}
