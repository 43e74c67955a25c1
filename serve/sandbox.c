/* sandbox.c - the sandboxes a server holds: registry, state files, events,
 * reaping, and recovery after a server that was killed.
 *
 * A sandbox is a source folder, a policy, a backend and limits, and one
 * delta that every command of the sandbox writes into.  Its state file
 * (STATE/sandboxes/ID.json) exists from creation to close: a server that
 * starts and finds one was killed before it could close that sandbox, and
 * closes it now (the commands it ran were ended by their parent-death
 * signal; each rls run unmounted its own rlsfs).
 *
 * Crash model: the state file is written before the sandbox is answered
 * and removed after its delta was kept or dropped, so that at any point a
 * restart finds every sandbox not yet closed. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "../delta/delta.h"
#include "serve-int.h"

static sandbox **all;		/* the registry, under serve_lock */
static size_t n_all;
static bool stopping;
static sandbox *closed;		/* closed ones, freed at the end (event readers) */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void random_id(const char *prefix, char *out, size_t size)
{
	unsigned char r[8] = { 0 };

	if (getrandom(r, sizeof r, 0) != sizeof r)
		rls_die("getrandom: %s", strerror(errno));
	snprintf(out, size, "%s%02x%02x%02x%02x%02x%02x%02x%02x", prefix, r[0], r[1], r[2], r[3], r[4], r[5],
		 r[6], r[7]);
}

static char *sandboxes_dir(void)
{
	return rls_xasprintf("%s/sandboxes", serve_cfg.state_dir);
}

/* ---- events ---- */

void sandbox_event(sandbox *sb, const char *type, json_t *fields)
{
	json_t *e = fields ? fields : json_object();
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_set_new(e, "type", json_string(type));
	json_object_set_new(e, "sandbox", json_string(sb->id));
	json_object_set_new(e, "time", json_real((double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000));
	pthread_mutex_lock(&serve_lock);
	json_object_set_new(e, "seq", json_integer((json_int_t)sb->n_events_total));
	json_decref(sb->events[sb->n_events_total % SANDBOX_EVENTS]);
	sb->events[sb->n_events_total % SANDBOX_EVENTS] = e;
	sb->n_events_total++;
	pthread_cond_broadcast(&serve_events);
	pthread_mutex_unlock(&serve_lock);
}

uint64_t sandbox_events_since(const sandbox *sb, uint64_t since, rls_buf *b)
{
	uint64_t first = sb->n_events_total > SANDBOX_EVENTS ? sb->n_events_total - SANDBOX_EVENTS : 0;

	for (uint64_t s = since > first ? since : first; s < sb->n_events_total; s++) {
		char *line = json_dumps(sb->events[s % SANDBOX_EVENTS], JSON_COMPACT | JSON_ENSURE_ASCII);

		if (line) {
			rls_buf_adds(b, line);
			rls_buf_addc(b, '\n');
		}
		free(line);
	}
	return sb->n_events_total > since ? sb->n_events_total : since;
}

void sandbox_collect_denials(sandbox *sb)
{
	_cleanup_close_ int fd = open(sb->audit, O_RDONLY | O_CLOEXEC);
	rls_buf b = { 0 };
	char buf[65536];
	off_t off = sb->audit_seen;
	ssize_t n;

	if (fd < 0)
		return;
	/* At most a MiB a command: rlsfs rate-limits its own lines too. */
	while (b.len < (1u << 20) && (n = pread(fd, buf, sizeof buf, off)) > 0) {
		rls_buf_add(&b, buf, (size_t)n);
		off += n;
	}
	for (char *line = b.data, *nl; line && (nl = memchr(line, '\n', b.len - (size_t)(line - b.data)));
	     line = nl + 1) {
		json_t *j = json_loadb(line, (size_t)(nl - line), 0, NULL);

		sb->audit_seen += nl + 1 - line;
		if (json_is_object(j))
			sandbox_event(sb, "denial", json_pack("{s:o}", "audit", j));
		else
			json_decref(j);
	}
	rls_buf_free(&b);
}

/* ---- the registry ---- */

static void sandbox_free(sandbox *sb)
{
	for (serve_session *s = sb->sessions, *next; s; s = next) {
		next = s->next;
		free(s->cwd);
		serve_strv_free(s->env);
		free(s);
	}
	for (size_t i = 0; i < SANDBOX_EVENTS; i++)
		json_decref(sb->events[i]);
	free(sb->events);
	pthread_cond_destroy(&sb->idle);
	free(sb->source);
	free(sb->policy);
	free(sb->backend);
	free(sb->memory);
	free(sb->cpus);
	free(sb->pids);
	free(sb->delta);
	free(sb->audit);
	free(sb->state_file);
	free(sb);
}

static json_t *state_json(const sandbox *sb)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:i}", "id", sb->id, "source", sb->source, "delta", sb->delta,
			 "audit", sb->audit, "keep_on_close", sb->keep_on_close, "server_pid", (int)getpid());
}

json_t *sandbox_json(const sandbox *sb)
{
	json_t *j = json_pack("{s:s, s:o, s:s, s:s, s:s, s:b}", "id", sb->id, "path", rls_json_name(sb->source),
			      "policy", sb->policy ? sb->policy : "default", "backend", sb->backend, "network",
			      sb->net_host ? "host" : "none", "keep_on_close", sb->keep_on_close);

	json_object_set_new(j, "delta", rls_json_name(sb->delta));
	json_object_set_new(j, "limits", json_pack("{s:s?, s:s?, s:s?}", "memory", sb->memory, "cpus", sb->cpus,
						   "pids", sb->pids));
	json_object_set_new(j, "busy", json_boolean(sb->busy));
	return j;
}

json_t *sandbox_list_json(void)
{
	json_t *a = json_array();

	pthread_mutex_lock(&serve_lock);
	for (size_t i = 0; i < n_all; i++)
		json_array_append_new(a, sandbox_json(all[i]));
	pthread_mutex_unlock(&serve_lock);
	return json_pack("{s:o}", "sandboxes", a);
}

int sandbox_create(const sandbox_spec *spec, sandbox **out, serve_fail *f)
{
	_cleanup_free_ char *dir = sandboxes_dir(), *deltas = NULL;
	sandbox *sb;
	rls_error err;
	struct stat st;
	json_t *state;

	sb = rls_xcalloc(1, sizeof *sb);
	sb->events = rls_xcalloc(SANDBOX_EVENTS, sizeof *sb->events);
	pthread_cond_init(&sb->idle, NULL);
	random_id("sb-", sb->id, sizeof sb->id);
	sb->source = realpath(spec->source, NULL);
	if (!sb->source || stat(sb->source, &st) < 0 || !S_ISDIR(st.st_mode)) {
		serve_failf(f, 400, "path", "path %s: %s", spec->source,
			    sb->source ? "not a folder" : strerror(errno));
		sandbox_free(sb);
		return -1;
	}
	sb->policy = spec->policy ? rls_xstrdup(spec->policy) : NULL;
	sb->backend = rls_xstrdup(spec->backend ? spec->backend : "bwrap");
	sb->net_host = spec->net_host;
	sb->memory = spec->memory ? rls_xstrdup(spec->memory) : NULL;
	sb->cpus = spec->cpus ? rls_xstrdup(spec->cpus) : NULL;
	sb->pids = spec->pids ? rls_xstrdup(spec->pids) : NULL;
	sb->keep_on_close = spec->keep_on_close;
	deltas = rls_state_dir("deltas", sb->source, &err);
	if (!deltas || rls_mkdir_p(dir, 0700, &err) < 0) {
		serve_failf(f, 500, NULL, "%s", err.msg);
		sandbox_free(sb);
		return -1;
	}
	sb->delta = rls_xasprintf("%s/serve-%s", deltas, sb->id);
	sb->audit = rls_xasprintf("%s/%s.audit", dir, sb->id);
	sb->state_file = rls_xasprintf("%s/%s.json", dir, sb->id);
	sb->last_used = now();
	state = state_json(sb);
	if (json_dump_file(state, sb->state_file, JSON_COMPACT) < 0) {
		json_decref(state);
		serve_failf(f, 500, NULL, "could not write %s: %s", sb->state_file, strerror(errno));
		sandbox_free(sb);
		return -1;
	}
	json_decref(state);
	pthread_mutex_lock(&serve_lock);
	if (stopping || n_all >= serve_cfg.max_sandboxes) {
		pthread_mutex_unlock(&serve_lock);
		unlink(sb->state_file);
		serve_failf(f, stopping ? 503 : 429, NULL,
			    stopping ? "the server is stopping"
				     : "too many sandboxes (--max-sandboxes): close one first");
		sandbox_free(sb);
		return -1;
	}
	all = rls_xrealloc(all, (n_all + 1) * sizeof *all);
	all[n_all++] = sb;
	sb->refs = 1;
	pthread_mutex_unlock(&serve_lock);
	sandbox_event(sb, "created", json_pack("{s:o}", "path", rls_json_name(sb->source)));
	*out = sb;
	return 0;
}

sandbox *sandbox_get(const char *id, serve_fail *f)
{
	sandbox *sb = NULL;

	pthread_mutex_lock(&serve_lock);
	for (size_t i = 0; i < n_all && !sb; i++)
		if (!strcmp(all[i]->id, id))
			sb = all[i];
	if (sb)
		sb->refs++;
	pthread_mutex_unlock(&serve_lock);
	if (!sb)
		serve_failf(f, 404, "id", "no sandbox %.64s (closed, reaped after being idle, or never made)", id);
	return sb;
}

void sandbox_put(sandbox *sb)
{
	pthread_mutex_lock(&serve_lock);
	sb->refs--;
	pthread_cond_broadcast(&sb->idle);
	pthread_mutex_unlock(&serve_lock);
}

int sandbox_acquire(sandbox *sb, serve_fail *f)
{
	pthread_mutex_lock(&serve_lock);
	while (sb->busy && !sb->closing && !stopping)
		pthread_cond_wait(&sb->idle, &serve_lock);
	if (sb->closing || stopping) {
		pthread_mutex_unlock(&serve_lock);
		return serve_failf(f, stopping ? 503 : 409, "id", "sandbox %s is closing", sb->id);
	}
	sb->busy = true;
	pthread_mutex_unlock(&serve_lock);
	return 0;
}

void sandbox_release(sandbox *sb)
{
	/* Each command's audit file holds its own denials only: rls run
	 * counts them for its report. */
	sandbox_collect_denials(sb);
	if (truncate(sb->audit, 0) == 0)
		sb->audit_seen = 0;
	pthread_mutex_lock(&serve_lock);
	sb->busy = false;
	sb->child = 0;
	sb->last_used = now();
	pthread_cond_broadcast(&sb->idle);
	pthread_mutex_unlock(&serve_lock);
}

int sandbox_open_delta(const char *dir, const char *source, delta **d, rls_error *err)
{
	if (delta_open(dir, source, 0, d, err) < 0)
		return -1;
	/* The last command's rlsfs may still be letting go of it (rls run
	 * waits for that too), or a killed one's guard unmounting it. */
	for (int i = 0; i < 200 && delta_is_mounted(*d); i++)
		usleep(50 * 1000);
	if (delta_is_mounted(*d)) {
		delta_close(*d);
		*d = NULL;
		return rls_error_set(err, EBUSY, "%s: delta is still mounted after 10 s", dir);
	}
	return 0;
}

static int count_one(delta_change_kind kind, const char *path, void *opaque)
{
	(*(unsigned *)opaque)++;
	return 0;
}

/* Keep or drop a sandbox's delta (nothing runs over it any more).  An
 * empty delta is always removed.  Returns whether it was kept. */
static bool settle_delta(const char *dir, bool keep, const char *source)
{
	delta *d;
	rls_error err;
	unsigned changes = 0;

	if (access(dir, F_OK) < 0)
		return false;
	if (sandbox_open_delta(dir, source, &d, &err) < 0) {
		rls_warn("serve: delta %s: %s; kept", dir, err.msg);
		return true;
	}
	if (delta_changes(d, count_one, &changes, &err) < 0) {
		rls_warn("serve: delta %s: %s; kept", dir, err.msg);
		delta_close(d);
		return true;
	}
	if (changes && keep) {
		delta_close(d);
		return true;
	}
	if (changes && delta_discard(d, &err) < 0) {
		rls_warn("serve: delta %s: %s; kept", dir, err.msg);
		delta_close(d);
		return true;
	}
	delta_close(d);
	(void)rls_rm_rf_at(AT_FDCWD, dir, NULL);
	return false;
}

int sandbox_close(sandbox *sb, int keep, char **kept, serve_fail *f)
{
	bool k;

	pthread_mutex_lock(&serve_lock);
	if (sb->closing) {
		pthread_mutex_unlock(&serve_lock);
		return serve_failf(f, 404, "id", "sandbox %s is already closing", sb->id);
	}
	sb->closing = true;
	for (size_t i = 0; i < n_all; i++)
		if (all[i] == sb) {
			all[i] = all[--n_all];
			break;
		}
	if (sb->child > 0)
		kill(sb->child, SIGTERM);
	pthread_cond_broadcast(&sb->idle);
	/* The caller holds one reference. */
	while (sb->busy || sb->refs > 1)
		pthread_cond_wait(&sb->idle, &serve_lock);
	pthread_mutex_unlock(&serve_lock);

	k = settle_delta(sb->delta, keep < 0 ? sb->keep_on_close : keep > 0, sb->source);
	unlink(sb->audit);
	unlink(sb->state_file);
	sandbox_event(sb, "closed", json_pack("{s:o}", "delta", k ? rls_json_name(sb->delta) : json_null()));
	if (kept)
		*kept = k ? rls_xstrdup(sb->delta) : NULL;
	if (k)
		rls_warn("serve: sandbox %s closed; delta kept: %s", sb->id, sb->delta);
	/* Readers of its event stream may still look at it without a
	 * reference: a closed sandbox stays in memory (it is small) until
	 * the server ends. */
	pthread_mutex_lock(&serve_lock);
	sb->refs--;
	sb->closed = true;
	sb->next_closed = closed;
	closed = sb;
	pthread_cond_broadcast(&serve_events);
	pthread_mutex_unlock(&serve_lock);
	return 0;
}

void sandbox_kill_all(void)
{
	pthread_mutex_lock(&serve_lock);
	stopping = true;
	for (size_t i = 0; i < n_all; i++) {
		if (all[i]->child > 0)
			kill(all[i]->child, SIGTERM);
		pthread_cond_broadcast(&all[i]->idle);
	}
	pthread_mutex_unlock(&serve_lock);
}

void sandbox_close_all(void)
{
	for (;;) {
		sandbox *sb = NULL;
		serve_fail f;

		pthread_mutex_lock(&serve_lock);
		if (n_all) {
			sb = all[0];
			sb->refs++;
		}
		pthread_mutex_unlock(&serve_lock);
		if (!sb)
			break;
		sandbox_close(sb, -1, NULL, &f);
	}
	pthread_mutex_lock(&serve_lock);
	while (closed) {
		sandbox *next = closed->next_closed;

		sandbox_free(closed);
		closed = next;
	}
	pthread_mutex_unlock(&serve_lock);
}

/* ---- sessions ---- */

static serve_session *session_find(sandbox *sb, const char *id)
{
	for (serve_session *s = sb->sessions; s; s = s->next)
		if (!strcmp(s->id, id))
			return s;
	return NULL;
}

#define SESSION_MAX_ENV 256

int session_create(sandbox *sb, json_t *env, const char *cwd, char *id_out, serve_fail *f)
{
	serve_session *s = rls_xcalloc(1, sizeof *s);
	size_t n = 0;
	const char *k;
	json_t *v;

	if (env && json_object_size(env) > SESSION_MAX_ENV) {
		free(s);
		return serve_failf(f, 400, "env", "env holds more than %d names", SESSION_MAX_ENV);
	}
	s->env = rls_xcalloc(json_object_size(env) + 1, sizeof *s->env);
	json_object_foreach(env, k, v) {
		if (!serve_env_name_ok(k, strlen(k)) || !json_is_string(v)) {
			for (size_t i = 0; i < n; i++)
				free(s->env[i]);
			free(s->env);
			free(s);
			return serve_failf(f, 400, "env", "env wants NAME: \"value\" pairs (names of letters, digits and _)");
		}
		s->env[n++] = rls_xasprintf("%s=%s", k, json_string_value(v));
	}
	s->cwd = rls_xstrdup(cwd ? cwd : ".");
	random_id("se-", s->id, sizeof s->id);
	pthread_mutex_lock(&serve_lock);
	s->next = sb->sessions;
	sb->sessions = s;
	pthread_mutex_unlock(&serve_lock);
	memcpy(id_out, s->id, sizeof s->id);
	sandbox_event(sb, "session-started", json_pack("{s:s}", "session", s->id));
	return 0;
}

int session_delete(sandbox *sb, const char *id, serve_fail *f)
{
	serve_session **pp, *s = NULL;

	pthread_mutex_lock(&serve_lock);
	for (pp = &sb->sessions; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->id, id)) {
			s = *pp;
			*pp = s->next;
			break;
		}
	pthread_mutex_unlock(&serve_lock);
	if (!s)
		return serve_failf(f, 404, "sid", "no session %.64s in sandbox %s", id, sb->id);
	free(s->cwd);
	serve_strv_free(s->env);
	free(s);
	sandbox_event(sb, "session-ended", json_pack("{s:s}", "session", id));
	return 0;
}

/* The shell that runs a session's line: it starts where the last one
 * ended, with the environment it exported, and after the line writes a
 * trailer to stdout that the server cuts off (also when the line calls
 * exit): a marker unknown to the
 * line's author beforehand, the working directory, the environment (NUL
 * separated, as env -0 gives it).  Whatever the line forges there only
 * changes its own session's state, which it could set anyway. */
static const char session_script[] =
	"__rls_t=$2; __rls_c=$3; cd -- \"$1\" 2>/dev/null; unset OLDPWD; set --; "
	"__rls_end() { __rls_s=$?; printf '\\n\\036%s\\036' \"$__rls_t\"; pwd | tr -d '\\n'; printf '\\0'; "
	"unset __rls_t __rls_c; env -0; exit $__rls_s; }; "
	"trap __rls_end EXIT; eval \"$__rls_c\"";

static const char *const session_env_skip[] = { "PWD=", "OLDPWD=", "SHLVL=", "_=", NULL };

/* Cut the trailer off the kept stdout and update the session from it. */
static void session_update(sandbox *sb, const char *id, rls_buf *out, const char *marker)
{
	size_t mlen = strlen(marker);
	char *at = NULL, *cwd, *p, *end;
	char **env;
	size_t n = 0;

	for (char *s = out->data; s && (s = memmem(s, out->len - (size_t)(s - out->data), marker, mlen)); s++)
		at = s;
	if (!at)
		return;	/* the line ended the shell: the state stays as it was */
	cwd = at + mlen;
	end = out->data + out->len;
	p = memchr(cwd, '\0', (size_t)(end - cwd));
	if (!p)
		return;
	env = rls_xcalloc(SESSION_MAX_ENV + 1, sizeof *env);
	for (char *e = p + 1; e < end && n < SESSION_MAX_ENV;) {
		char *z = memchr(e, '\0', (size_t)(end - e));
		size_t len = z ? (size_t)(z - e) : (size_t)(end - e);
		char *eq = memchr(e, '=', len);
		bool skip = !eq || !serve_env_name_ok(e, (size_t)(eq - e)) || len > 65536;

		for (const char *const *k = session_env_skip; *k && !skip; k++)
			skip = !strncmp(e, *k, strlen(*k));
		if (!skip)
			env[n++] = rls_xstrndup(e, len);
		e += len + 1;
	}
	pthread_mutex_lock(&serve_lock);
	{
		serve_session *s = session_find(sb, id);

		if (s) {
			free(s->cwd);
			s->cwd = rls_xstrdup(cwd);
			serve_strv_free(s->env);
			s->env = env;
			env = NULL;
		}
	}
	pthread_mutex_unlock(&serve_lock);
	serve_strv_free(env);
	/* The marker begins with the trailer's own newline. */
	out->len = (size_t)(at - out->data);
	out->data[out->len] = '\0';
}

json_t *session_exec(sandbox *sb, const char *id, const char *line, double timeout, size_t max, serve_fail *f)
{
	char token[40], marker[48];
	_cleanup_free_ char *cwd = NULL;
	char **env = NULL;
	serve_exec x;
	json_t *o;

	pthread_mutex_lock(&serve_lock);
	{
		serve_session *s = session_find(sb, id);
		size_t n = 0;

		if (s) {
			cwd = rls_xstrdup(s->cwd);
			for (char **e = s->env; *e; e++)
				n++;
			env = rls_xcalloc(n + 1, sizeof *env);
			for (size_t i = 0; i < n; i++)
				env[i] = rls_xstrdup(s->env[i]);
		}
	}
	pthread_mutex_unlock(&serve_lock);
	if (!cwd)
		return serve_failf(f, 404, "sid", "no session %.64s in sandbox %s", id, sb->id), NULL;
	random_id("rls-session-", token, sizeof token);
	snprintf(marker, sizeof marker, "\n\036%s\036", token);
	{
		char *argv[] = { "/bin/sh", "-c", (char *)session_script, "sh", cwd, token, (char *)line, NULL };
		exec_spec spec = { .argv = argv, .env = env, .timeout = timeout };

		if (exec_start(sb, &spec, &x, f) < 0) {
			o = NULL;
			goto out;
		}
	}
	/* Room for the trailer beyond what the peer keeps. */
	x.max = max + (1u << 20);
	o = exec_finish(&x, false);
	session_update(sb, id, &x.out[0], marker);
	for (int i = 0; i < 2; i++) {
		bool cut = x.out[i].len > max || x.dropped[i];

		size_t len = x.out[i].len > max ? max : x.out[i].len;

		json_object_set_new(o, i ? "stderr" : "stdout", serve_text_json(x.out[i].data, len));
		json_object_set_new(o, i ? "stderr_truncated" : "stdout_truncated", json_boolean(cut));
	}
	exec_free(&x);
out:
	serve_strv_free(env);
	return o;
}

/* ---- the reaper, and recovery ---- */

static void *reaper(void *arg)
{
	for (;;) {
		sandbox *idle = NULL;
		struct timespec ts;
		serve_fail f;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_mutex_lock(&serve_lock);
		pthread_cond_timedwait(&serve_events, &serve_lock, &ts);
		for (size_t i = 0; i < n_all && !idle && !stopping; i++)
			if (!all[i]->busy && all[i]->refs == 0 &&
			    now() - all[i]->last_used > serve_cfg.idle_timeout)
				idle = all[i];
		if (idle)
			idle->refs++;
		pthread_mutex_unlock(&serve_lock);
		if (idle) {
			sandbox_event(idle, "reaped", json_pack("{s:f}", "idle_s", serve_cfg.idle_timeout));
			sandbox_close(idle, -1, NULL, &f);
		}
	}
	return NULL;
}

/* A sandbox a killed server left: close it as it asked. */
static void recover_one(const char *file)
{
	json_error_t je;
	json_t *st = json_load_file(file, 0, &je);
	const char *delta_dir = json_string_value(json_object_get(st, "delta"));
	const char *audit = json_string_value(json_object_get(st, "audit"));
	const char *source = json_string_value(json_object_get(st, "source"));
	const char *id = json_string_value(json_object_get(st, "id"));
	bool keep = json_is_true(json_object_get(st, "keep_on_close"));
	_cleanup_free_ char *deltas = rls_state_dir("deltas", NULL, NULL);

	/* Only our own deltas are touched, whatever the file says. */
	if (delta_dir && deltas && id && !strncmp(delta_dir, deltas, strlen(deltas)) && strstr(delta_dir, "/serve-sb-") &&
	    !strstr(delta_dir, "/..")) {
		bool k = settle_delta(delta_dir, keep, source);

		rls_warn("serve: sandbox %s, left by a server that stopped: closed; %s%s", id,
			 k ? "delta kept: " : "delta removed", k ? delta_dir : "");
	}
	if (audit && strstr(audit, serve_cfg.state_dir) == audit && !strstr(audit, "/.."))
		unlink(audit);
	json_decref(st);
	unlink(file);
}

int sandbox_init(rls_error *err)
{
	_cleanup_free_ char *dir = sandboxes_dir();
	DIR *d;
	struct dirent *de;
	pthread_t t;

	if (rls_mkdir_p(dir, 0700, err) < 0)
		return -1;
	d = opendir(dir);
	if (!d)
		return rls_error_set(err, errno, "%s", dir);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n > 5 && !strcmp(de->d_name + n - 5, ".json")) {
			_cleanup_free_ char *file = rls_xasprintf("%s/%s", dir, de->d_name);

			recover_one(file);
		}
	}
	closedir(d);
	if (serve_cfg.idle_timeout > 0 && pthread_create(&t, NULL, reaper, NULL) == 0)
		pthread_detach(t);
	return 0;
}
