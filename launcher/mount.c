/* mount.c - the rlsfs that serves a run's mount, as rls's own child.
 *
 * rlsfs is started in the foreground (--ready-fd) rather than left to
 * detach: it says on a pipe when the mount is ready, so nothing polls,
 * and rls holds a pidfd of the very process that holds the delta.  At the
 * end rls unmounts in-process and waits on that pidfd: once it reads,
 * rlsfs has synced and closed the delta and the commit can begin.  rlsfs
 * takes a session of its own, so the terminal's signals are not its; if
 * rls is killed, rlsfs --watch-pid unmounts by itself, as before.
 */
#include "launcher.h"
#include "run.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* Reap the rlsfs child; its wait status. */
static int reap(run_mount *m)
{
	int ws = -1;

	while (waitpid(m->pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (m->pidfd >= 0)
		close(m->pidfd);
	m->pid = 0;
	m->pidfd = -1;
	return ws;
}

int run_mount_start(const char *rlsfs, char *const opts[], const char *source, const char *mnt,
		    run_mount *m, int *wstatus, rls_error *err)
{
	_cleanup_close_ int rd = -1;
	rls_strv argv = { 0 };
	char fd_arg[16], msg[sizeof err->msg] = "";
	int p[2];
	size_t got = 0;

	m->pid = 0;
	m->pidfd = -1;
	*wstatus = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return rls_error_set(err, errno, "pipe");
	rd = p[0];
	snprintf(fd_arg, sizeof fd_arg, "%d", p[1]);
	rls_strv_add(&argv, rlsfs);
	rls_strv_add(&argv, "mount");
	rls_strv_add(&argv, "--ready-fd");
	rls_strv_add(&argv, fd_arg);
	for (; *opts; opts++)
		rls_strv_add(&argv, *opts);
	rls_strv_add(&argv, source);
	rls_strv_add(&argv, mnt);
	m->pid = fork();
	if (m->pid < 0) {
		m->pid = 0;
		close(p[1]);
		rls_strv_free(argv.v);
		return rls_error_set(err, errno, "fork");
	}
	if (m->pid == 0) {
		run_child_reset_signals();
		close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
		fcntl(p[1], F_SETFD, 0);
		execv(argv.v[0], argv.v);
		fprintf(stderr, "rls: %s: %s\n", argv.v[0], strerror(errno));
		_exit(RUN_EXIT_FAILED);
	}
	close(p[1]);
	rls_strv_free(argv.v);
	m->pidfd = (int)syscall(SYS_pidfd_open, m->pid, 0);
	/* Its word: a lone NUL when mounted, else the reason and a NUL; end
	 * of file when it ended before (it said why on standard error). */
	for (;;) {
		ssize_t r = read(rd, msg + got, sizeof msg - 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (memchr(msg, '\0', got) || got == sizeof msg - 1)
			break;
	}
	if (got && !msg[0])
		return 0;
	*wstatus = reap(m);
	if (!got)
		return rls_error_set(err, 0, "%s", "");
	msg[got] = '\0';
	rls_text_sanitize(msg, sizeof msg);
	return rls_error_set(err, 0, "rlsfs: %s", msg);
}

int run_mount_stop(run_mount *m, const char *mnt, double max_s, rls_error *err)
{
	struct pollfd p = { .fd = m->pidfd, .events = POLLIN };
	int r;

	if (!m->pid)
		return 0;
	if (rls_fuse_unmount(mnt, false) < 0)
		return rls_error_set(err, errno, "unmount %s%s", mnt,
				     errno == EBUSY ? " (a process still uses it: see fuser -vm MOUNTPOINT)" : "");
	/* Unmounted: the child ends once it has let go of the delta. */
	if (m->pidfd < 0) {
		reap(m);
		return 0;
	}
	r = RLS_TEMP_FAILURE_RETRY(poll(&p, 1, (int)(max_s * 1000)));
	if (r == 0) {
		/* Unmounted all the same; the delta is still held, which
		 * whoever opens it next is told. */
		rls_warn("rlsfs (pid %d) has not ended %gs after the unmount", (int)m->pid, max_s);
		return 0;
	}
	reap(m);
	return 0;
}
