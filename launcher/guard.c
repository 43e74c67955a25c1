/* guard.c - the helper that cleans up when rls itself is killed.
 *
 * A SIGKILLed rls runs no cleanup of its own.  bwrap --die-with-parent
 * takes the sandbox down and rlsfs --watch-pid unmounts, but the cgroup and
 * the private temp dir would stay.  So rls forks this small process first:
 * it waits on a pipe whose only writer is rls.  A "done" byte means rls
 * cleaned up by itself; end of file without it means rls died, and the
 * guard finishes the job.
 */
#include "launcher.h"
#include "run.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static bool is_mountpoint(const char *dir, const char *parent)
{
	struct stat a, b;

	if (stat(dir, &a) < 0 || stat(parent, &b) < 0)
		return false;
	return a.st_dev != b.st_dev;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static RLS_NORETURN void guard_main(const guard_spec *s, int fd)
{
	char c = 0;
	ssize_t n;

	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1 && c == 'd')
		_exit(0);

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

	if (pipe2(p, O_CLOEXEC) < 0)
		return rls_error_set(err, errno, "pipe");
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

void guard_release(run_guard *g)
{
	if (g->fd < 0)
		return;
	(void)!write(g->fd, "d", 1);
	close(g->fd);
	g->fd = -1;
	while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
		;
	g->pid = 0;
}
