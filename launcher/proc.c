/* proc.c - child processes, as every part of the launcher starts them:
 * a clean signal state after fork, a program's word before its exec, a
 * short program run with its output kept and a time limit, PATH lookup,
 * the terminal's foreground and the monotonic clock.
 */
#include "launcher.h"
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void run_child_reset_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGPIPE, SIGTSTP,
				    SIGTTIN, SIGTTOU };
	sigset_t none;

	for (size_t i = 0; i < RLS_ARRAY_SIZE(sigs); i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

int run_program(char *const argv[])
{
	pid_t pid = fork();
	int ws;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		run_child_reset_signals();
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
		execv(argv[0], argv);
		fprintf(stderr, "rls: %s: %s\n", argv[0], strerror(errno));
		_exit(RUN_EXIT_FAILED);
	}
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return -1;
	return ws;
}

bool run_path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strcmp(dir, "/") || (!strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0'));
}

char *run_search_path(const char *name, const char *path)
{
	for (const char *p = path; p && *p;) {
		size_t n = strcspn(p, ":");
		char *cand = rls_xasprintf("%.*s/%s", (int)n, p, name);

		if (n && access(cand, X_OK) == 0)
			return cand;
		free(cand);
		p += n;
		if (*p)
			p++;
	}
	return NULL;
}

void run_terminal_to(pid_t pgid)
{
	signal(SIGTTOU, SIG_IGN);
	tcsetpgrp(STDIN_FILENO, pgid);
	signal(SIGTTOU, SIG_DFL);
}

pid_t run_child_started(pid_t pid, int report_fd, rls_error *err)
{
	char msg[sizeof err->msg];
	ssize_t n;

	do
		n = read(report_fd, msg, sizeof msg - 1);
	while (n < 0 && errno == EINTR);
	close(report_fd);
	if (n <= 0)
		return pid;
	msg[n] = '\0';
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return rls_error_set(err, 0, "%s", msg);
}

double run_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


pid_t run_spawn(run_child_fn child, void *arg, bool own_group, bool take_tty, rls_error *err)
{
	int ep[2];
	pid_t pid;

	if (pipe2(ep, O_CLOEXEC) < 0)
		return rls_error_set(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		close(ep[0]);
		close(ep[1]);
		return rls_error_set(err, errno, "fork");
	}
	if (pid == 0) {
		close(ep[0]);
		child(arg, ep[1]);
	}
	close(ep[1]);
	if (own_group) {
		/* Either side may win the race; both set it. */
		setpgid(pid, pid);
		if (take_tty)
			run_terminal_to(pid);
	}
	return run_child_started(pid, ep[0], err);
}

int run_captured(char *const argv[], char *const envp[], int timeout_ms, char **out)
{
	int p[2];
	pid_t pid;
	rls_buf b = { 0 };
	double deadline = run_now() + timeout_ms / 1000.0;
	int ws = -1;
	bool late = false;

	*out = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		run_child_reset_signals();
		dup2(null, STDIN_FILENO);
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		setpgid(0, 0);
		if (envp)
			execve(argv[0], argv, envp);
		else
			execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		double left = deadline - run_now();
		char chunk[512];
		ssize_t n;

		int ready = left > 0 ? poll(&pf, 1, (int)(left * 1000) + 1) : 0;

		if (ready < 0 && errno == EINTR)
			continue;
		if (ready == 0) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			late = true;
			break;
		}
		n = read(p[0], chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (b.len < RUN_CAPTURED_MAX)
			rls_buf_add(&b, chunk, (size_t)n);
	}
	close(p[0]);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (late) {
		rls_buf_free(&b);
		*out = rls_xstrdup("timed out");
		return RUN_CAPTURED_LATE;
	}
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' '))
		b.data[--b.len] = '\0';
	*out = b.data ? b.data : rls_xstrdup("");
	return ws;
}
