/* supervise.c - waiting for the sandbox: signals, the timeout, the kill.
 *
 * bwrap runs its own init as pid 1 of the sandbox and the command as pid 2.
 * A pid namespace's init only receives signals it has a handler for, so a
 * signal meant for the command goes to the command itself: the child of
 * that init, whose host pid we find through /proc.  Killing the init kills
 * the whole namespace, which is how the process tree ends after a timeout
 * whatever it did to escape its process group or session.
 */
#include "launcher.h"
#include "run.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

void supervise_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int supervise_signal_pidns(pid_t init_pid, int sig)
{
	char path[64];
	struct stat ns;
	DIR *proc;
	struct dirent *de;
	int sent = 0;

	snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)init_pid);
	if (stat(path, &ns) < 0)
		return 0;
	proc = opendir("/proc");
	if (!proc)
		return 0;
	while ((de = readdir(proc))) {
		struct stat st;
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid == init_pid)
			continue;
		snprintf(path, sizeof path, "/proc/%ld/ns/pid", pid);
		if (stat(path, &st) < 0 || st.st_ino != ns.st_ino || st.st_dev != ns.st_dev)
			continue;
		if (kill((pid_t)pid, sig) == 0)
			sent++;
	}
	closedir(proc);
	return sent;
}

/* The command: the first child of the sandbox's init. */
static pid_t find_command(pid_t init_pid)
{
	char path[64], buf[64];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)init_pid, (int)init_pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (pid_t)strtol(buf, NULL, 10);
}

/* bwrap's --json-status-fd: {"child-pid": N} when the sandbox is up,
 * {"exit-code": N} when its command is done. */
static void parse_status(const char *text, supervise_result *res)
{
	const char *p;

	if (!res->child_pid && (p = strstr(text, "\"child-pid\"")) && (p = strchr(p, ':')))
		res->child_pid = (pid_t)strtol(p + 1, NULL, 10);
	if ((p = strstr(text, "\"exit-code\"")) && (p = strchr(p, ':')))
		res->exit_code = (int)strtol(p + 1, NULL, 10);
}

static void read_status(int *fd, rls_buf *buf, supervise_result *res)
{
	char chunk[512];
	ssize_t n = read(*fd, chunk, sizeof chunk);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(*fd);
		*fd = -1;
		return;
	}
	rls_buf_add(buf, chunk, (size_t)n);
	parse_status(buf->data, res);
}

static void kill_sandbox(const supervise_opts *o, const supervise_result *res)
{
	if (res->child_pid > 0)
		kill(res->child_pid, SIGKILL);
	kill(o->bwrap_pid, SIGKILL);
	limits_signal_all(o->cg, SIGKILL);
}

/* The sandbox was stopped from its terminal (Ctrl-Z): stop rls too, with
 * the terminal back, as a shell's job would; when continued, give the
 * terminal back to the sandbox if ours is the foreground again, and wake
 * it.  Without a terminal handed over, a stop is someone else's business. */
static void job_stopped(const supervise_opts *o)
{
	pid_t pgid = o->bwrap_pid;

	if (o->tty_fd < 0)
		return;
	signal(SIGTTOU, SIG_IGN);
	tcsetpgrp(o->tty_fd, getpgrp());
	if (o->tty_settings)
		tcsetattr(o->tty_fd, TCSADRAIN, o->tty_settings);
	signal(SIGTTOU, SIG_DFL);
	raise(SIGSTOP);
	signal(SIGTTOU, SIG_IGN);
	if (tcgetpgrp(o->tty_fd) == getpgrp())
		tcsetpgrp(o->tty_fd, pgid);
	signal(SIGTTOU, SIG_DFL);
	kill(-pgid, SIGCONT);
}

int supervise_wait(const supervise_opts *o, supervise_result *res, rls_error *err)
{
	_cleanup_buf_ rls_buf status = { 0 };
	int status_fd = o->status_fd;
	double deadline = o->timeout_s > 0 ? now_s() + o->timeout_s : 0;
	double kill_at = 0;
	bool done = false;

	memset(res, 0, sizeof *res);
	res->exit_code = -1;
	while (!done) {
		struct pollfd fds[2] = {
			{ .fd = o->signal_fd, .events = POLLIN },
			{ .fd = status_fd, .events = POLLIN },
		};
		double next = kill_at ? kill_at : deadline;
		int timeout_ms = -1;

		if (next) {
			double left = next - now_s();

			timeout_ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
		}
		if (poll(fds, status_fd >= 0 ? 2 : 1, timeout_ms) < 0 && errno != EINTR)
			return rls_error_set(err, errno, "poll");
		if (status_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
			read_status(&status_fd, &status, res);
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(o->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
				int sig = (int)si.ssi_signo;
				pid_t target;

				/* The sandbox has a process group of its own, so
				 * nothing sent to ours reached it: forward all. */
				if (sig == SIGCHLD)
					continue;
				res->interrupted_by = sig;
				target = res->child_pid ? find_command(res->child_pid) : 0;
				/* Before the command exists, stopping bwrap stops
				 * everything (--die-with-parent). */
				kill(target > 0 ? target : o->bwrap_pid, sig);
			}
		}
		for (;;) {
			int ws;
			pid_t r = waitpid(o->bwrap_pid, &ws, WNOHANG | WUNTRACED);

			if (r == o->bwrap_pid && WIFSTOPPED(ws)) {
				job_stopped(o);
				continue;
			}
			if (r == o->bwrap_pid) {
				res->wait_status = ws;
				done = true;
			}
			if (r >= 0 || errno != EINTR)
				break;
		}
		if (done) {
			/* Ended past its deadline while rls could not watch
			 * (stopped, say): the guard killed it, and it timed out. */
			if (deadline && now_s() >= deadline)
				res->timed_out = true;
			break;
		}
		if (deadline && !res->timed_out && now_s() >= deadline) {
			res->timed_out = true;
			kill_at = now_s() + o->grace_s;
			if (!res->child_pid || !supervise_signal_pidns(res->child_pid, SIGTERM))
				kill_at = now_s();
		}
		if (kill_at && now_s() >= kill_at) {
			kill_sandbox(o, res);
			kill_at = now_s() + 1;
		}
	}
	/* The exit code follows on the status pipe once bwrap is gone. */
	while (status_fd >= 0)
		read_status(&status_fd, &status, res);
	return 0;
}
