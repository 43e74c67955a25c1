/* mount.c - the rlsfs that serves a run's mount, as rls's own child.
 *
 * rlsfs is started in the foreground (--ready-fd) rather than left to
 * detach: it says on a pipe when it serves, so nothing polls, and rls
 * holds a pidfd of the very process that holds the delta.  At the end
 * rls unmounts in-process and waits on that pidfd: once it reads, rlsfs
 * has synced and closed the delta and the commit can begin.  rlsfs takes
 * a session of its own, so the terminal's signals are not its; if rls is
 * killed, rlsfs --watch-pid unmounts by itself.
 *
 * As root, rls makes the mount itself and hands rlsfs the descriptor of
 * /dev/fuse (--fuse-fd): the mount exists at once, and rlsfs starts
 * (exec, policy, delta) while the sandbox is being built.  Whatever
 * looks at the mount meanwhile waits until rlsfs serves.  rls keeps its
 * own descriptor until rlsfs has said whether it serves: should it fail,
 * the connection stays up, and what waits on it keeps waiting, until the
 * sandbox is killed; only then is the descriptor closed (which aborts the
 * connection) and the mount detached.  Nothing rls does before that
 * word looks at the mount, so nothing of rls's own can wait on it.
 *
 * The pipe stays open after that word: once the delta is closed, rlsfs
 * says on it whether the delta records anything at all, so that a run
 * that changed nothing never opens it again, and that the unmount need
 * not wait for the rest of rlsfs's end.  No word (it was killed, or could
 * not tell) leaves the question to the delta itself.
 */
#include "launcher.h"
#include "run.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* How long rlsfs has to end by itself after the unmount. */
#define UNMOUNT_GRACE_MS 500
/* How often a wait for rlsfs past that says what it waits for. */
#define UNMOUNT_NOTE_MS 10000

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

/* rlsfs let go of the delta, or ended: its last word on the pipe, if it
 * said one. */
static void read_end_word(run_mount *m)
{
	char word[8] = "";
	ssize_t r;

	if (m->end_fd < 0)
		return;
	r = RLS_TEMP_FAILURE_RETRY(read(m->end_fd, word, sizeof word - 1));
	if (r > 0 && (size_t)r == sizeof "empty" && !memcmp(word, "empty", sizeof "empty"))
		m->end = RUN_MOUNT_END_EMPTY;
	else if (r > 0 && (size_t)r == sizeof "kept" && !memcmp(word, "kept", sizeof "kept"))
		m->end = RUN_MOUNT_END_KEPT;
	close(m->end_fd);
	m->end_fd = -1;
}

/* Let go of a mount nobody serves: the connection aborts, and whatever
 * still waits on it gets ENOTCONN. */
static void drop_unserved(run_mount *m, const char *mnt)
{
	if (m->fuse_fd >= 0)
		close(m->fuse_fd);
	m->fuse_fd = -1;
	if (m->ours)
		umount2(mnt, MNT_DETACH);
	m->ours = false;
}

static int mount_fuse(const char *mnt, const char *fuse_opts, int *fuse_fd, rls_error *err)
{
	char opts[256];
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return rls_error_set(err, errno, "/dev/fuse");
	snprintf(opts, sizeof opts, "%s%sfd=%d,rootmode=40000,user_id=%u,group_id=%u", fuse_opts,
		 fuse_opts[0] ? "," : "", fd, (unsigned)geteuid(), (unsigned)getegid());
	if (mount("rlsfs", mnt, "fuse.rlsfs", MS_NOSUID | MS_NODEV, opts) < 0) {
		rls_error_set(err, errno, "mount on %s", mnt);
		close(fd);
		return -1;
	}
	*fuse_fd = fd;
	return 0;
}

int run_mount_start(const char *rlsfs, char *const opts[], int policy_fd, const char *fuse_opts,
		    const char *source, const char *mnt, run_mount *m, rls_error *err)
{
	rls_strv argv = { 0 };
	char ready_arg[16], fuse_arg[16], policy_arg[16];
	int p[2];

	m->pid = 0;
	m->pidfd = m->ready_fd = m->fuse_fd = m->end_fd = -1;
	m->end = RUN_MOUNT_END_UNKNOWN;
	m->ending = false;
	m->wstatus = -1;
	m->ours = false;
	if (geteuid() == 0) {
		if (mount_fuse(mnt, fuse_opts, &m->fuse_fd, err) < 0)
			return -1;
		m->ours = true;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		rls_error_set(err, errno, "pipe");
		drop_unserved(m, mnt);
		return -1;
	}
	m->ready_fd = p[0];
	snprintf(ready_arg, sizeof ready_arg, "%d", p[1]);
	snprintf(fuse_arg, sizeof fuse_arg, "%d", m->fuse_fd);
	rls_strv_add(&argv, rlsfs);
	rls_strv_add(&argv, "mount");
	rls_strv_add(&argv, "--ready-fd");
	rls_strv_add(&argv, ready_arg);
	if (policy_fd >= 0) {
		snprintf(policy_arg, sizeof policy_arg, "%d", policy_fd);
		rls_strv_add(&argv, "--policy-fd");
		rls_strv_add(&argv, policy_arg);
	}
	if (m->fuse_fd >= 0) {
		rls_strv_add(&argv, "--fuse-fd");
		rls_strv_add(&argv, fuse_arg);
	} else if (fuse_opts[0]) {
		rls_strv_add(&argv, "-o");
		rls_strv_add(&argv, fuse_opts);
	}
	for (; *opts; opts++)
		rls_strv_add(&argv, *opts);
	rls_strv_add(&argv, source);
	rls_strv_add(&argv, mnt);
	m->pid = fork();
	if (m->pid == 0) {
		run_child_reset_signals();
		close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
		fcntl(p[1], F_SETFD, 0);
		if (m->fuse_fd >= 0)
			fcntl(m->fuse_fd, F_SETFD, 0);
		if (policy_fd >= 0)
			fcntl(policy_fd, F_SETFD, 0);
		execv(argv.v[0], argv.v);
		fprintf(stderr, "rls: %s: %s\n", argv.v[0], strerror(errno));
		_exit(RUN_EXIT_FAILED);
	}
	close(p[1]);
	rls_strv_free(argv.v);
	if (m->pid < 0) {
		m->pid = 0;
		rls_error_set(err, errno, "fork");
		close(m->ready_fd);
		m->ready_fd = -1;
		drop_unserved(m, mnt);
		return -1;
	}
	m->pidfd = (int)syscall(SYS_pidfd_open, m->pid, 0);
	/* rlsfs mounts by itself otherwise: the mount is there once it says so. */
	if (!m->ours && run_mount_ready(m, err) < 0) {
		drop_unserved(m, mnt);
		return -1;
	}
	return 0;
}

int run_mount_ready(run_mount *m, rls_error *err)
{
	char msg[sizeof err->msg] = "";
	size_t got = 0;

	if (m->ready_fd < 0)
		return m->pid ? 0 : rls_error_set(err, 0, "%s", "");
	/* Its word: a lone NUL once it serves, else the reason and a NUL;
	 * end of file when it ended before (it said why on standard error).
	 * The first byte alone: past a NUL may come its last word. */
	for (;;) {
		ssize_t r = read(m->ready_fd, msg + got, got ? sizeof msg - 1 - got : 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (memchr(msg, '\0', got) || got == sizeof msg - 1)
			break;
	}
	if (got && !msg[0]) {
		/* Its last word comes on the same pipe at its end. */
		m->end_fd = m->ready_fd;
		m->ready_fd = -1;
		/* rlsfs holds the connection now: should it die, the mount
		 * fails rather than hangs. */
		if (m->fuse_fd >= 0)
			close(m->fuse_fd);
		m->fuse_fd = -1;
		return 0;
	}
	close(m->ready_fd);
	m->ready_fd = -1;
	m->wstatus = reap(m);
	if (!got)
		return rls_error_set(err, 0, "%s", "");
	msg[got] = '\0';
	rls_text_sanitize(msg, sizeof msg);
	return rls_error_set(err, 0, "rlsfs: %s", msg);
}

/* Wait for rlsfs to end, however long it takes: it is closing the delta,
 * whose sync waits on the disk, and on everything else dirty on that
 * file system, for as long as a busy host needs.  A bound here would
 * give up on a process that is doing its work, and fail a run that
 * went well.  Once in a while the caller is told what rls waits for;
 * SIGINT, SIGTERM or SIGHUP to rls ends the wait.  0 once it ended; 1
 * when the wait was given up, rlsfs still holding the delta. */
static int wait_rlsfs(run_mount *m, int fd, int signal_fd)
{
	int waited_ms = 0;

	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = signal_fd, .events = POLLIN } };
		int r = poll(p, 2, UNMOUNT_NOTE_MS);

		if (r < 0 && errno != EINTR)
			return 1;
		if (p[0].revents)
			return 0;
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(signal_fd, &si, sizeof si) == (ssize_t)sizeof si)
				if (si.ssi_signo != SIGCHLD) {
					rls_warn("stopped waiting for rlsfs (pid %d), which still holds the delta",
						 (int)m->pid);
					return 1;
				}
		}
		if (r == 0) {
			waited_ms += UNMOUNT_NOTE_MS;
			rls_warn("rlsfs (pid %d) is still syncing the delta %gs after the unmount; waiting "
				 "(Ctrl-C stops waiting, and keeps the delta)", (int)m->pid, waited_ms / 1000.0);
		}
	}
}

int run_mount_stop(run_mount *m, const char *mnt, int signal_fd, rls_error *err)
{
	struct pollfd p = { .fd = m->pidfd, .events = POLLIN };
	rls_error ignored;

	/* Never served (or not yet): nothing to sync; let it go. */
	if (m->ready_fd >= 0)
		(void)run_mount_ready(m, &ignored);
	if (!m->pid) {
		drop_unserved(m, mnt);
		return 0;
	}
	/* What the kernel still holds for the mount (pages written through
	 * mmap) goes to rlsfs now: past the unmount, this namespace can no
	 * longer ask for it. */
	{
		int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd >= 0) {
			(void)syncfs(fd);
			close(fd);
		}
	}
	if (rls_fuse_unmount(mnt, false) < 0)
		return rls_error_set(err, errno, "unmount %s%s", mnt,
				     errno == EBUSY ? " (a process still uses it: see fuser -vm MOUNTPOINT)" : "");
	m->ours = false;
	/* The mount point goes while rlsfs closes the delta (and with it
	 * any copy of the mount left in another mount namespace). */
	(void)rmdir(mnt);
	/* Unmounted: rlsfs lets go of the delta and says so on its pipe
	 * (killed, it closes the pipe by dying), then ends.  The pipe is
	 * watched rather than the process: what rlsfs does once the delta
	 * is free (freeing its tables, ending its threads) is not worth
	 * waiting for here (run_mount_reap). */
	p.fd = m->end_fd >= 0 ? m->end_fd : m->pidfd;
	if (p.fd < 0) {
		reap(m);
		return 0;
	}
	/* Unless a copy of the mount lives on in another process's mount
	 * namespace (one made while it was up, and not yet torn down),
	 * which keeps the connection open: then rlsfs is told to end, which
	 * it does as at an unmount, and the copy fails with ENOTCONN.  Past
	 * its loop rlsfs ignores the signal: the delta's sync is not cut
	 * short. */
	if (RLS_TEMP_FAILURE_RETRY(poll(&p, 1, UNMOUNT_GRACE_MS)) == 0) {
		if (m->pidfd >= 0)
			(void)syscall(SYS_pidfd_send_signal, m->pidfd, SIGTERM, NULL, 0);
		else
			kill(m->pid, SIGTERM);
		if (wait_rlsfs(m, p.fd, signal_fd))
			return 1;
	}
	if (m->end_fd >= 0)
		read_end_word(m);
	else
		reap(m);
	m->ending = true;
	return 0;
}

void run_mount_reap(run_mount *m)
{
	if (m->pid && m->ending)
		reap(m);
}
