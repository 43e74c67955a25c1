/* capture.c - `rls run --capture`: the command's output, for the --json
 * object.
 *
 * The sandbox writes into two pipes; a small process of rls's own reads
 * them and keeps the first CAPTURE_MAX bytes of each in a file of the
 * run's private temp dir, counting and dropping the rest, so that a
 * command that prints forever costs a bounded amount of disk.  rls's own
 * stdout and stderr point at the pipes only while the backend runs: every
 * backend's sandbox inherits them, and rls's own messages afterwards go
 * where they always do.
 */
#include "launcher.h"
#include "run.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

/* Close every descriptor from 3 up but the n in keep (which it sorts). */
static void close_all_but(int *keep, size_t n)
{
	unsigned lo = 3;

	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];

			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < 0 || (unsigned)keep[i] < lo)
			continue;
		if ((unsigned)keep[i] > lo)
			close_range(lo, (unsigned)keep[i] - 1, 0);
		lo = (unsigned)keep[i] + 1;
	}
	close_range(lo, ~0U, 0);
}

/* The reader is a fork of rls that never execs: it keeps its pipes, its
 * files and the report, and nothing else of rls's (made while rls may
 * still hold /dev/fuse for the mount, whose serving end must be rlsfs's
 * alone; its pidfds, its signalfd, the guard's socket). */
static RLS_NORETURN void reader(int in[2], int files[2], int report)
{
	uint64_t kept[2] = { 0, 0 }, dropped[2] = { 0, 0 };
	int open_ = 2, keep[] = { in[0], in[1], files[0], files[1], report };
	char buf[65536];

	close_all_but(keep, RLS_ARRAY_SIZE(keep));
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	while (open_) {
		struct pollfd p[2] = { { .fd = in[0], .events = POLLIN }, { .fd = in[1], .events = POLLIN } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (in[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(in[i], buf, sizeof buf);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				close(in[i]);
				in[i] = -1;
				open_--;
				continue;
			}
			{
				uint64_t room = CAPTURE_MAX - kept[i];
				size_t take = (uint64_t)n < room ? (size_t)n : (size_t)room;

				if (take && rls_write_all(files[i], buf, take) == 0)
					kept[i] += take;
				dropped[i] += (uint64_t)n - take;
			}
		}
	}
	(void)rls_write_all(report, dropped, sizeof dropped);
	_exit(0);
}

int capture_start(run_capture *c, const char *dir, rls_error *err)
{
	int pipes[2][2] = { { -1, -1 }, { -1, -1 } }, rep[2] = { -1, -1 };
	int rc = -1;

	memset(c, 0, sizeof *c);
	c->saved[0] = c->saved[1] = c->fds[0] = c->fds[1] = c->report_fd = -1;
	for (int i = 0; i < 2; i++) {
		c->fds[i] = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (c->fds[i] < 0) {
			rls_error_set(err, errno, "a file in %s", dir);
			goto out;
		}
		if (pipe2(pipes[i], O_CLOEXEC) < 0) {
			rls_error_set(err, errno, "pipe");
			goto out;
		}
	}
	if (pipe2(rep, O_CLOEXEC) < 0) {
		rls_error_set(err, errno, "pipe");
		goto out;
	}
	fflush(NULL);
	c->pid = fork();
	if (c->pid < 0) {
		rls_error_set(err, errno, "fork");
		goto out;
	}
	if (c->pid == 0) {
		int in[2] = { pipes[0][0], pipes[1][0] };

		close(pipes[0][1]);
		close(pipes[1][1]);
		close(rep[0]);
		reader(in, c->fds, rep[1]);
	}
	close(rep[1]);
	rep[1] = rep[0];	/* kept open to read the counts at the end */
	rep[0] = -1;
	c->saved[0] = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	c->saved[1] = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (c->saved[0] < 0 || c->saved[1] < 0 || dup2(pipes[0][1], STDOUT_FILENO) < 0 ||
	    dup2(pipes[1][1], STDERR_FILENO) < 0) {
		rls_error_set(err, errno, "redirect the output");
		if (c->saved[0] >= 0)
			dup2(c->saved[0], STDOUT_FILENO);
		if (c->saved[1] >= 0)
			dup2(c->saved[1], STDERR_FILENO);
		goto out;
	}
	c->on = true;
	rc = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (pipes[i][0] >= 0)
			close(pipes[i][0]);
		if (pipes[i][1] >= 0)
			close(pipes[i][1]);
	}
	if (rep[0] >= 0)
		close(rep[0]);
	c->report_fd = rep[1];
	if (rc < 0)
		capture_free(c);
	return rc;
}

void capture_finish(run_capture *c)
{
	if (!c->on || c->saved[0] < 0)
		return;
	fflush(stdout);
	fflush(stderr);
	/* Our ends of the pipes go with these: the reader sees end of file
	 * once the sandbox, gone by now, has let go of its ends too. */
	dup2(c->saved[0], STDOUT_FILENO);
	dup2(c->saved[1], STDERR_FILENO);
	close(c->saved[0]);
	close(c->saved[1]);
	c->saved[0] = c->saved[1] = -1;
	if (RLS_TEMP_FAILURE_RETRY(read(c->report_fd, c->dropped, sizeof c->dropped)) != (ssize_t)sizeof c->dropped)
		memset(c->dropped, 0, sizeof c->dropped);
	while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
	c->pid = 0;
}

char *capture_read(const run_capture *c, int i, size_t *len)
{
	rls_buf b = { 0 };
	char chunk[65536];
	off_t off = 0;
	ssize_t n;

	if (c->fds[i] < 0)
		return NULL;
	while (off < (off_t)CAPTURE_MAX && (n = pread(c->fds[i], chunk, sizeof chunk, off)) > 0) {
		rls_buf_add(&b, chunk, (size_t)n);
		off += n;
	}
	if (!b.data)
		rls_buf_adds(&b, "");
	*len = b.len;
	return b.data;
}

void capture_free(run_capture *c)
{
	capture_finish(c);
	for (int i = 0; i < 2; i++) {
		if (c->saved[i] >= 0)
			close(c->saved[i]);
		if (c->fds[i] >= 0)
			close(c->fds[i]);
		c->saved[i] = c->fds[i] = -1;
	}
	if (c->report_fd >= 0)
		close(c->report_fd);
	c->report_fd = -1;
	if (c->pid > 0)
		while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
			;
	c->pid = 0;
	c->on = false;
}
