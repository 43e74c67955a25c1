/* spawn.c - the processes vm_run starts, and the one that cleans up after
 * it if it is killed.
 *
 * qemu and virtiofsd get SIGKILL from the kernel when the thread that
 * started them ends (PR_SET_PDEATHSIG), however it ends; the check of
 * getppid() after the prctl closes the window where the parent died
 * first.  They run in a process group of their own: a Ctrl-C at the
 * terminal is rls's to forward to the command, and must not reach qemu.
 *
 * What the kernel cannot clean up is the private folder on disk: the
 * janitor, forked first, in a process group and session of its own,
 * waits on a pipe; EOF without "done" means vm_run's process is gone,
 * and it removes the folder.
 */
#include "vmint.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Mark every fd from `from` up close-on-exec. */
static void cloexec_from(int from)
{
	if (syscall(SYS_close_range, from, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	for (int fd = from; fd < 65536; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void reset_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
}

static RLS_NORETURN void child_fail(int fd, const rls_error *err)
{
	if (write(fd, err->msg, strnlen(err->msg, sizeof err->msg)) < 0)
		_exit(127);
	_exit(127);
}

pid_t spawn_child(char *const argv[], const spawn_opts *o, rls_error *err)
{
	pid_t parent = getpid();
	int rep[2];
	pid_t pid;
	char msg[sizeof err->msg];
	ssize_t n;

	if (pipe2(rep, O_CLOEXEC) < 0)
		return rls_error_set(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		close(rep[0]);
		close(rep[1]);
		return rls_error_set(err, errno, "fork");
	}
	if (pid == 0) {
		rls_error cerr = { 0 };
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		reset_signals();
		setpgid(0, 0);
		if (null < 0 || dup2(null, 0) < 0 || dup2(o->stdout_fd >= 0 ? o->stdout_fd : null, 1) < 0 ||
		    dup2(o->stderr_fd >= 0 ? o->stderr_fd : null, 2) < 0) {
			rls_error_set(&cerr, errno, "redirecting %s's output", argv[0]);
			child_fail(rep[1], &cerr);
		}
		cloexec_from(3);
		for (size_t i = 0; i < o->n_keep; i++)
			if (fcntl(o->keep[i], F_SETFD, 0) < 0) {
				rls_error_set(&cerr, errno, "fd %d for %s", o->keep[i], argv[0]);
				child_fail(rep[1], &cerr);
			}
		if (o->prepare && o->prepare(o->opaque, &cerr) < 0)
			child_fail(rep[1], &cerr);
		/* a change of uid (qemu's, under virtiofs) clears the
		 * parent-death signal: set it again, and look again */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		execv(argv[0], argv);
		rls_error_set(&cerr, errno, "cannot run %s", argv[0]);
		child_fail(rep[1], &cerr);
	}
	close(rep[1]);
	n = RLS_TEMP_FAILURE_RETRY(read(rep[0], msg, sizeof msg - 1));
	close(rep[0]);
	if (n > 0) {
		msg[n] = '\0';
		waitpid(pid, NULL, 0);
		return rls_error_set(err, 0, "%s", msg);
	}
	return pid;
}

int spawn_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

void spawn_kill(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGKILL);
	while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
		;
	*pid = 0;
}

static RLS_NORETURN void janitor_main(const char *dir, int fd)
{
	char c = 0;
	ssize_t n;
	rls_error err;
	int null = open("/dev/null", O_RDWR);

	/* Hold nothing of the caller's: a reader waiting for its output
	 * to end must not wait for us. */
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	setsid();
	reset_signals();
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1 && c == 'D')
		_exit(0);
	/* vm_run's process died: its children are dying of PDEATHSIG;
	 * what is on disk is ours to remove. */
	if (rls_rm_rf_at(AT_FDCWD, dir, &err) < 0)
		_exit(1);
	_exit(0);
}

int janitor_start(const char *dir, janitor *j, rls_error *err)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return rls_error_set(err, errno, "pipe");
	j->pid = fork();
	if (j->pid < 0) {
		close(p[0]);
		close(p[1]);
		return rls_error_set(err, errno, "fork");
	}
	if (j->pid == 0) {
		/* only the pipe's read end stays open, as fd 3 */
		if (dup2(p[0], 3) < 0)
			_exit(1);
		if (syscall(SYS_close_range, 4, ~0U, 0) < 0)
			for (int fd = 4; fd < 65536; fd++)
				close(fd);
		janitor_main(dir, 3);
	}
	close(p[0]);
	j->fd = p[1];
	return 0;
}

void janitor_done(janitor *j)
{
	if (j->fd >= 0) {
		if (write(j->fd, "D", 1) < 0)
			rls_warn("janitor: %s", strerror(errno));
		close(j->fd);
		j->fd = -1;
	}
	if (j->pid > 0) {
		while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
			;
		j->pid = 0;
	}
}
