/* exec.c - a command over a sandbox's delta, run by `rls run`.
 *
 * Each command is one `rls run --commit never --delta DELTA`: rlsfs
 * mounted with the sandbox's policy, the backend, the identity rules,
 * the seccomp filter and rls-init's checks, exactly as on the command
 * line; what it writes stays in the delta for the next command, for diff
 * and for commit.  rls run is told to end (SIGTERM, which it forwards and
 * follows with SIGKILL after its grace) should this server die: the
 * parent-death signal. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include <jansson.h>

#include "serve-int.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static char **run_argv(const sandbox *sb, const exec_spec *spec)
{
	size_t n = 0, cap = 40;
	char **v;

	for (char *const *e = spec->env; e && *e; e++)
		cap += 2;
	for (char *const *a = spec->argv; *a; a++)
		cap++;
	v = rls_xcalloc(cap, sizeof *v);
	v[n++] = rls_xstrdup(serve_cfg.rls);
	v[n++] = rls_xstrdup("run");
	v[n++] = rls_xstrdup("--quiet");
	v[n++] = rls_xstrdup("--commit=never");
	v[n++] = rls_xasprintf("--delta=%s", sb->delta);
	v[n++] = rls_xasprintf("--source=%s", sb->source);
	v[n++] = rls_xasprintf("--audit=%s", sb->audit);
	v[n++] = rls_xstrdup("--json-fd=3");
	v[n++] = rls_xasprintf("--backend=%s", sb->backend);
	if (sb->policy)
		v[n++] = rls_xasprintf("--policy=%s", sb->policy);
	if (sb->net_host)
		v[n++] = rls_xstrdup("--net=host");
	if (sb->memory)
		v[n++] = rls_xasprintf("--memory=%s", sb->memory);
	if (sb->cpus)
		v[n++] = rls_xasprintf("--cpus=%s", sb->cpus);
	if (sb->pids)
		v[n++] = rls_xasprintf("--pids=%s", sb->pids);
	if (spec->timeout > 0)
		v[n++] = rls_xasprintf("--timeout=%.3f", spec->timeout);
	for (char *const *e = spec->env; e && *e; e++)
		v[n++] = rls_xasprintf("--env=%s", *e);
	v[n++] = rls_xstrdup("--");
	for (char *const *a = spec->argv; *a; a++)
		v[n++] = rls_xstrdup(*a);
	v[n] = NULL;
	return v;
}

int exec_start(sandbox *sb, const exec_spec *spec, serve_exec *x, serve_fail *f)
{
	int p[4][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 } };
	char **argv = run_argv(sb, spec);
	pid_t parent = getpid();
	pid_t pid;

	memset(x, 0, sizeof *x);
	x->in = x->fds[0] = x->fds[1] = x->fds[2] = -1;
	x->max = serve_cfg.max_output;
	x->delta = sb->delta;
	for (int i = 0; i < 4; i++) {
		if ((i < 3 || spec->stdin_pipe) && pipe2(p[i], O_CLOEXEC) < 0) {
			for (int j = 0; j < i; j++) {
				close(p[j][0]);
				close(p[j][1]);
			}
			serve_strv_free(argv);
			return serve_failf(f, 503, NULL, "pipe: %s", strerror(errno));
		}
	}
	pid = fork();
	if (pid == 0) {
		int in = spec->stdin_pipe ? p[3][0] : open("/dev/null", O_RDONLY | O_CLOEXEC);
		sigset_t all;

		/* rls run ends the sandbox and keeps the delta should we die. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (in < 0 || dup2(in, 0) < 0 || dup2(p[0][1], 1) < 0 || dup2(p[1][1], 2) < 0 ||
		    dup2(p[2][1], 3) < 0)
			_exit(127);
		closefrom(4);
		if (chdir(sb->source) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	serve_strv_free(argv);
	for (int i = 0; i < 3; i++) {
		close(p[i][1]);
		x->fds[i] = p[i][0];
	}
	if (spec->stdin_pipe) {
		close(p[3][0]);
		x->in = p[3][1];
	}
	if (pid < 0) {
		exec_free(x);
		return serve_failf(f, 503, NULL, "fork: %s", strerror(errno));
	}
	x->pid = pid;
	x->t0 = now();
	pthread_mutex_lock(&serve_lock);
	sb->child = pid;
	pthread_mutex_unlock(&serve_lock);
	return 0;
}

int exec_pump(serve_exec *x, int wait_ms, exec_sink sink, void *opaque)
{
	for (;;) {
		struct pollfd pfd[3];
		nfds_t n = 0;
		int idx[3];
		int r;

		for (int i = 0; i < 3; i++) {
			if (x->fds[i] < 0)
				continue;
			pfd[n].fd = x->fds[i];
			pfd[n].events = POLLIN;
			idx[n++] = i;
		}
		if (!n)
			return 1;
		r = poll(pfd, n, wait_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		for (nfds_t k = 0; k < n; k++) {
			char buf[65536];
			int i = idx[k];
			ssize_t got;

			if (!pfd[k].revents)
				continue;
			got = read(x->fds[i], buf, sizeof buf);
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got <= 0) {
				close_fd(&x->fds[i]);
				continue;
			}
			if (i == 2) {
				if (x->report.len < (1u << 20))
					rls_buf_add(&x->report, buf, (size_t)got);
			} else if (sink) {
				sink(i, buf, (size_t)got, opaque);
			} else {
				size_t room = x->out[i].len < x->max ? x->max - x->out[i].len : 0;
				size_t keep = (size_t)got < room ? (size_t)got : room;

				rls_buf_add(&x->out[i], buf, keep);
				x->dropped[i] += (uint64_t)got - keep;
			}
		}
		/* Some output moved: give the streaming reader its turn. */
		if (sink)
			return 0;
	}
}

json_t *serve_text_json(const char *s, size_t len)
{
	json_t *j = json_stringn(s ? s : "", len);

	if (!j) {
		size_t n;
		_cleanup_free_ char *clean = rls_utf8_lossy(s, len, &n);

		j = json_stringn(clean, n);
	}
	return j ? j : json_string("");
}

json_t *exec_finish(serve_exec *x, bool with_output)
{
	json_t *rep = NULL, *o;
	int ws = 0;

	close_fd(&x->in);
	while (exec_pump(x, -1, NULL, NULL) == 0)
		;
	while (x->pid > 0 && waitpid(x->pid, &ws, 0) < 0 && errno == EINTR)
		;
	x->pid = 0;
	if (x->report.len)
		rep = json_loadb(x->report.data, x->report.len, 0, NULL);
	o = json_object();
	if (json_is_object(rep)) {
		static const char *const keep[] = { "exit_status", "timed_out", "killed_by", "duration_s",
						    "error", "denials", "policy" };

		for (size_t i = 0; i < RLS_ARRAY_SIZE(keep); i++) {
			json_t *v = json_object_get(rep, keep[i]);

			json_object_set(o, keep[i], v ? v : json_null());
		}
	} else {
		/* rls run died before writing its object. */
		json_object_set_new(o, "exit_status", json_integer(WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws)));
		json_object_set_new(o, "timed_out", json_false());
		json_object_set_new(o, "killed_by", json_string("signal"));
		json_object_set_new(o, "duration_s", json_real(now() - x->t0));
		json_object_set_new(o, "error", json_string("rls run ended without a report"));
	}
	json_decref(rep);
	{
		/* rls run's own word that the delta is kept: it is, always. */
		rls_buf *e = &x->out[1];
		_cleanup_free_ char *kept = rls_xasprintf("rls: delta kept: %s\n", x->delta);
		size_t n = strlen(kept);

		if (e->len >= n && !memcmp(e->data + e->len - n, kept, n))
			e->data[e->len -= n] = '\0';
	}
	if (with_output) {
		json_object_set_new(o, "stdout", serve_text_json(x->out[0].data, x->out[0].len));
		json_object_set_new(o, "stderr", serve_text_json(x->out[1].data, x->out[1].len));
		json_object_set_new(o, "stdout_truncated", json_boolean(x->dropped[0] > 0));
		json_object_set_new(o, "stderr_truncated", json_boolean(x->dropped[1] > 0));
	}
	return o;
}

void exec_kill(serve_exec *x)
{
	/* rls run forwards it to the sandbox, kills the tree after its
	 * grace, unmounts and keeps the delta. */
	if (x->pid > 0)
		kill(x->pid, SIGTERM);
}

void exec_free(serve_exec *x)
{
	if (x->pid > 0) {
		exec_kill(x);
		while (waitpid(x->pid, NULL, 0) < 0 && errno == EINTR)
			;
		x->pid = 0;
	}
	close_fd(&x->in);
	for (int i = 0; i < 3; i++)
		close_fd(&x->fds[i]);
	rls_buf_free(&x->out[0]);
	rls_buf_free(&x->out[1]);
	rls_buf_free(&x->report);
}

json_t *exec_run(sandbox *sb, const exec_spec *spec, size_t max, serve_fail *f)
{
	serve_exec x;
	json_t *o;

	if (exec_start(sb, spec, &x, f) < 0)
		return NULL;
	x.max = max;
	o = exec_finish(&x, true);
	exec_free(&x);
	return o;
}
