/* api.c - the routes of `rls serve` (serve/openapi.yaml describes them;
 * t/1410-serve-openapi.t holds the two to each other).
 *
 * Every field is checked here, before anything runs: a wrong one is a 400
 * that names it.  File paths are the peer's: they are opened inside the
 * sandbox, by a command run through the policy, relative to the tree's
 * root there; a path that climbs (..) or holds a NUL is refused first. */
#include <math.h>
#include <time.h>

#include <jansson.h>

#include "../delta/delta.h"
#include "../policy/policy.h"
#include "serve-int.h"

void serve_reply_json(serve_reply *rp, int status, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);

	json_decref(j);
	rp->status = status;
	rp->type = "application/json";
	rls_buf_reset(&rp->body);
	if (text) {
		rls_buf_adds(&rp->body, text);
		rls_buf_addc(&rp->body, '\n');
	}
	free(text);
}

void serve_reply_fail(serve_reply *rp, const serve_fail *f)
{
	json_t *j = json_pack("{s:s, s:s?}", "error", f->msg, "field", f->field);

	serve_reply_json(rp, f->status ? f->status : 500, j);
}

/* ---- fields ---- */

static json_t *body_json(const serve_request *rq, serve_fail *f)
{
	json_error_t je;
	json_t *j;

	if (!rq->body_len)
		return json_object();
	j = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return serve_failf(f, 400, "body", "the body is not JSON: %s (line %d)", je.text, je.line), NULL;
	if (!json_is_object(j)) {
		json_decref(j);
		return serve_failf(f, 400, "body", "the body must be a JSON object"), NULL;
	}
	return j;
}

/* Only the fields named may be in the object: a typo is an error, not
 * a silent default. */
static int only_fields(json_t *o, const char *const *names, serve_fail *f)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		const char *const *n = names;

		while (*n && strcmp(*n, k))
			n++;
		if (!*n)
			return serve_failf(f, 400, NULL, "unknown field '%.64s'", k);
	}
	return 0;
}

/* A string field, or NULL when absent. */
static int get_str(json_t *o, const char *name, const char **out, serve_fail *f)
{
	json_t *v = json_object_get(o, name);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return serve_failf(f, 400, name, "%s must be a string (without NUL)", name);
	*out = json_string_value(v);
	return 0;
}

static int get_bool(json_t *o, const char *name, bool *out, serve_fail *f)
{
	json_t *v = json_object_get(o, name);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return serve_failf(f, 400, name, "%s must be true or false", name);
	*out = json_is_true(v);
	return 0;
}

static int get_seconds(json_t *o, const char *name, double *out, serve_fail *f)
{
	json_t *v = json_object_get(o, name);
	double d;

	if (!v || json_is_null(v))
		return 0;
	d = json_number_value(v);
	if (!json_is_number(v) || !isfinite(d) || d < 0 || d > 7 * 86400)
		return serve_failf(f, 400, name, "%s wants seconds (a number from 0 to 604800)", name);
	*out = d;
	return 0;
}

static int get_max_output(json_t *o, size_t *out, serve_fail *f)
{
	json_t *v = json_object_get(o, "max_output");

	*out = serve_cfg.max_output;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > EXEC_MAX_OUTPUT)
		return serve_failf(f, 400, "max_output", "max_output wants bytes, from 0 to %u", EXEC_MAX_OUTPUT);
	*out = (size_t)json_integer_value(v);
	return 0;
}

/* A limit as rls run takes it: a string ("512M") or a number. */
static int get_limit(json_t *o, const char *name, char **out, serve_fail *f)
{
	json_t *v = json_object_get(o, name);
	const char *s;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*out = rls_xasprintf("%lld", (long long)json_integer_value(v));
		return 0;
	}
	if (json_is_real(v) && json_real_value(v) > 0 && isfinite(json_real_value(v))) {
		*out = rls_xasprintf("%g", json_real_value(v));
		return 0;
	}
	s = json_string_value(v);
	if (!s || !s[0] || strlen(s) > 32 || strspn(s, "0123456789.KMGTkmgt") != strlen(s))
		return serve_failf(f, 400, name, "limits.%s wants a number or a size like \"512M\"", name);
	*out = rls_xstrdup(s);
	return 0;
}

/* env: {"NAME": "value"} as NAME=VALUE strings. */
static int get_env(json_t *o, char ***out, serve_fail *f)
{
	json_t *env = json_object_get(o, "env"), *v;
	const char *k;
	size_t n = 0;

	*out = NULL;
	if (!env || json_is_null(env))
		return 0;
	if (!json_is_object(env) || json_object_size(env) > 256)
		return serve_failf(f, 400, "env", "env wants an object of at most 256 NAME: \"value\" pairs");
	*out = rls_xcalloc(json_object_size(env) + 1, sizeof **out);
	json_object_foreach(env, k, v) {
		const char *s = json_string_value(v);

		if (!serve_env_name_ok(k, strlen(k)) || !s || strlen(s) != json_string_length(v)) {
			for (size_t i = 0; i < n; i++)
				free((*out)[i]);
			free(*out);
			*out = NULL;
			return serve_failf(f, 400, "env", "env wants NAME: \"value\" pairs (names of letters, digits and _, values without NUL), not '%.64s'", k);
		}
		(*out)[n++] = rls_xasprintf("%s=%s", k, s);
	}
	return 0;
}

/* A path inside the tree, relative to its root: "a/b", "/a/b" and "" (the
 * root) alike.  Never climbs: ".." is refused, as is a NUL or a name past
 * PATH_MAX; the command that opens it runs in the sandbox anyway. */
static int tree_path(const char *p, const char *field, char **out, serve_fail *f)
{
	size_t n;

	if (!p)
		return serve_failf(f, 400, field, "%s is missing: a path in the tree, like src/main.c", field);
	n = strlen(p);
	if (n > 4000)
		return serve_failf(f, 400, field, "%s is longer than 4000 bytes", field);
	for (const char *s = p; *s;) {
		size_t seg = strcspn(s, "/");

		if (seg == 2 && s[0] == '.' && s[1] == '.')
			return serve_failf(f, 400, field, "%s may not hold '..': paths are relative to the tree's root", field);
		s += seg;
		s += strspn(s, "/");
	}
	while (*p == '/')
		p++;
	*out = rls_xasprintf("./%s", p);
	return 0;
}

/* ---- handlers ---- */

/* The sandbox of the path, or return the 404: only where nothing else
 * is owned yet. */
#define WITH_SANDBOX(rq, f)                                        \
	sandbox *sb = sandbox_get((rq)->params[0], (f));           \
	if (!sb)                                                    \
		return -1;

static int h_health(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	serve_reply_json(rp, 200, json_pack("{s:s, s:s}", "status", "ok", "version", RLS_VERSION));
	return 0;
}

static int h_create(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	static const char *const fields[] = { "path", "policy", "preset", "backend", "network", "limits",
					      "keep_delta_on_close", NULL };
	static const char *const limit_fields[] = { "memory", "cpus", "pids", NULL };
	json_t *o = body_json(rq, f), *lim;
	const char *path, *policy_file, *preset, *backend, *net;
	char *memory = NULL, *cpus = NULL, *pids = NULL;
	sandbox_spec spec = { 0 };
	sandbox *sb;
	int r = -1;

	if (!o)
		return -1;
	if (only_fields(o, fields, f) < 0 || get_str(o, "path", &path, f) < 0 ||
	    get_str(o, "policy", &policy_file, f) < 0 || get_str(o, "preset", &preset, f) < 0 ||
	    get_str(o, "backend", &backend, f) < 0 || get_str(o, "network", &net, f) < 0 ||
	    get_bool(o, "keep_delta_on_close", &spec.keep_on_close, f) < 0)
		goto out;
	if (!path || path[0] != '/') {
		serve_failf(f, 400, "path", "path wants the absolute path of a folder on the host");
		goto out;
	}
	if (policy_file && preset) {
		serve_failf(f, 400, "preset", "give policy_file or preset, not both");
		goto out;
	}
	if (preset && (!preset[0] || strchr(preset, '/'))) {
		serve_failf(f, 400, "preset", "preset wants a preset's name (see rls policy_file show)");
		goto out;
	}
	if (policy_file && policy_file[0] != '/') {
		serve_failf(f, 400, "policy", "policy wants a policy_file file's absolute path (or use preset)");
		goto out;
	}
	if (backend && (!backend[0] || strlen(backend) > 32 || strspn(backend, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(backend))) {
		serve_failf(f, 400, "backend", "backend wants a backend's name (bwrap, oci, ...; see rls doctor)");
		goto out;
	}
	if (net && strcmp(net, "none") && strcmp(net, "host")) {
		serve_failf(f, 400, "network", "network wants none or host");
		goto out;
	}
	lim = json_object_get(o, "limits");
	if (lim && !json_is_null(lim)) {
		if (!json_is_object(lim)) {
			serve_failf(f, 400, "limits", "limits wants an object: memory, cpus, pids");
			goto out;
		}
		if (only_fields(lim, limit_fields, f) < 0 || get_limit(lim, "memory", &memory, f) < 0 ||
		    get_limit(lim, "cpus", &cpus, f) < 0 || get_limit(lim, "pids", &pids, f) < 0)
			goto out;
	}
	{
		/* Load it now, so that a bad policy_file is this request's error,
		 * not every command's. */
		const char *spec_text = policy_file ? policy_file : preset;

		if (spec_text) {
			rls_error err;
			policy *pol;

			if (policy_load(spec_text, &pol, &err) < 0) {
				serve_failf(f, 400, policy_file ? "policy" : "preset", "%s", err.msg);
				goto out;
			}
			policy_free(pol);
		}
	}
	spec.source = path;
	spec.policy = policy_file ? policy_file : preset;
	spec.backend = backend;
	spec.net_host = net && !strcmp(net, "host");
	spec.memory = memory;
	spec.cpus = cpus;
	spec.pids = pids;
	if (sandbox_create(&spec, &sb, f) < 0)
		goto out;
	serve_reply_json(rp, 201, sandbox_json(sb));
	sandbox_put(sb);
	r = 0;
out:
	free(memory);
	free(cpus);
	free(pids);
	json_decref(o);
	return r;
}

static int h_list(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	serve_reply_json(rp, 200, sandbox_list_json());
	return 0;
}

static int h_get(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	WITH_SANDBOX(rq, f);
	pthread_mutex_lock(&serve_lock);
	serve_reply_json(rp, 200, sandbox_json(sb));
	pthread_mutex_unlock(&serve_lock);
	sandbox_put(sb);
	return 0;
}

static int h_delete(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	const char *d = rq->query(rq->conn, "delta");
	_cleanup_free_ char *kept = NULL;
	int keep = -1;

	if (d && !strcmp(d, "keep"))
		keep = 1;
	else if (d && !strcmp(d, "discard"))
		keep = 0;
	else if (d)
		return serve_failf(f, 400, "delta", "delta wants keep or discard");
	{
		WITH_SANDBOX(rq, f);
		if (sandbox_close(sb, keep, &kept, f) < 0) {
			sandbox_put(sb);
			return -1;
		}
	}
	serve_reply_json(rp, 200, json_pack("{s:s, s:o}", "status", "closed", "delta",
					    kept ? rls_json_name(kept) : json_null()));
	return 0;
}

/* The command of an exec: argv (a list of strings) or command (a shell
 * line), run from cwd (relative to the tree's root) when given. */
static int exec_argv(json_t *o, const char *cwd, char ***out, serve_fail *f)
{
	json_t *argv = json_object_get(o, "argv");
	const char *line;
	size_t n = 0, i;
	char **v;

	if (get_str(o, "command", &line, f) < 0)
		return -1;
	if ((argv && !json_is_null(argv)) == (line != NULL))
		return serve_failf(f, 400, "argv", "give argv (a list of strings) or command (a shell line), one of them");
	if (argv && !json_is_null(argv) && (!json_is_array(argv) || !json_array_size(argv) || json_array_size(argv) > 4096))
		return serve_failf(f, 400, "argv", "argv wants a list of 1 to 4096 strings");
	v = rls_xcalloc((argv ? json_array_size(argv) : 0) + 8, sizeof *v);
	if (cwd) {
		/* cd inside the sandbox: the path is the sandbox's to resolve. */
		v[n++] = rls_xstrdup("/bin/sh");
		v[n++] = rls_xstrdup("-c");
		v[n++] = rls_xstrdup(line ? "cd -- \"$1\" || exit 126; eval \"$2\""
					  : "cd -- \"$1\" || exit 126; shift; exec \"$@\"");
		v[n++] = rls_xstrdup("sh");
		v[n++] = rls_xstrdup(cwd);
	} else if (line) {
		v[n++] = rls_xstrdup("/bin/sh");
		v[n++] = rls_xstrdup("-c");
	}
	if (line) {
		v[n++] = rls_xstrdup(line);
	} else {
		for (i = 0; i < json_array_size(argv); i++) {
			json_t *a = json_array_get(argv, i);

			if (!json_is_string(a) || strlen(json_string_value(a)) != json_string_length(a)) {
				serve_strv_free(v);
				return serve_failf(f, 400, "argv", "argv[%zu] must be a string (without NUL)", i);
			}
			v[n++] = rls_xstrdup(json_string_value(a));
		}
	}
	*out = v;
	return 0;
}

/* The kernel takes no argument or environment string past 128 KiB
 * (MAX_ARG_STRLEN): say so here rather than fail in the sandbox. */
#define ARG_MAX_ONE (128u << 10)

static int check_arg_sizes(char *const *argv, char *const *env, serve_fail *f)
{
	for (char *const *a = argv; a && *a; a++)
		if (strlen(*a) >= ARG_MAX_ONE)
			return serve_failf(f, 400, "command", "an argument or command is longer than 128 KiB: "
				"write it to a file (PUT .../files) and run that");
	for (char *const *e = env; e && *e; e++)
		if (strlen(*e) >= ARG_MAX_ONE)
			return serve_failf(f, 400, "env", "an environment variable is longer than 128 KiB");
	return 0;
}

/* pty: the command runs under script(1) inside the sandbox, on a
 * terminal of its own; its stdout and stderr both reach stdout, with a
 * terminal's line ends. */
static char **pty_argv(char **argv)
{
	rls_buf line = { 0 };
	char **v = rls_xcalloc(5, sizeof *v);

	for (char **a = argv; *a; a++) {
		if (a != argv)
			rls_buf_addc(&line, ' ');
		rls_buf_addc(&line, '\'');
		for (const char *c = *a; *c; c++)
			if (*c == '\'')
				rls_buf_adds(&line, "'\\''");
			else
				rls_buf_addc(&line, *c);
		rls_buf_addc(&line, '\'');
	}
	v[0] = rls_xstrdup("script");
	v[1] = rls_xstrdup("-qec");
	v[2] = line.data ? line.data : rls_xstrdup("");
	v[3] = rls_xstrdup("/dev/null");
	serve_strv_free(argv);
	return v;
}

typedef struct exec_stream {
	sandbox *sb;
	serve_exec x;
	rls_buf pending;
	bool ended;
} exec_stream;

static void stream_line(rls_buf *b, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);

	json_decref(j);
	if (text) {
		rls_buf_adds(b, text);
		rls_buf_addc(b, '\n');
	}
	free(text);
}

static void stream_sink(int stream, const char *data, size_t len, void *opaque)
{
	stream_line(opaque, json_pack("{s:s, s:o}", "stream", stream ? "stderr" : "stdout", "data",
				      serve_text_json(data, len)));
}

static int stream_next(void *ctx, rls_buf *b)
{
	exec_stream *s = ctx;

	if (s->ended)
		return -1;
	while (!b->len) {
		if (exec_pump(&s->x, -1, stream_sink, b) == 1) {
			json_t *o = exec_finish(&s->x, false);

			json_object_set_new(o, "stream", json_string("exit"));
			sandbox_event(s->sb, "exec", json_pack("{s:O}", "exit_status", json_object_get(o, "exit_status")));
			stream_line(b, o);
			s->ended = true;
			break;
		}
	}
	return 0;
}

static void stream_done(void *ctx)
{
	exec_stream *s = ctx;

	/* The peer may have gone away: the command ends with it. */
	exec_free(&s->x);
	sandbox_release(s->sb);
	sandbox_put(s->sb);
	rls_buf_free(&s->pending);
	free(s);
}

static int h_exec(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	static const char *const fields[] = { "argv", "command", "env", "cwd", "timeout", "max_output", "stream",
					      "pty", NULL };
	json_t *o = body_json(rq, f), *res;
	_cleanup_free_ char *cwd = NULL;
	const char *cwd_in;
	char **argv = NULL, **env = NULL;
	double timeout = 0;
	size_t max;
	bool stream = false, pty = false;
	int r = -1;

	if (!o)
		return -1;
	if (only_fields(o, fields, f) < 0 || get_str(o, "cwd", &cwd_in, f) < 0 ||
	    (cwd_in && tree_path(cwd_in, "cwd", &cwd, f) < 0) || get_seconds(o, "timeout", &timeout, f) < 0 ||
	    get_max_output(o, &max, f) < 0 || get_bool(o, "stream", &stream, f) < 0 || get_env(o, &env, f) < 0 ||
	    get_bool(o, "pty", &pty, f) < 0 || exec_argv(o, cwd, &argv, f) < 0)
		goto out;
	if (pty)
		argv = pty_argv(argv);
	if (check_arg_sizes(argv, env, f) < 0)
		goto out;
	{
		sandbox *sb = sandbox_get(rq->params[0], f);
		exec_spec spec = { .argv = argv, .env = env, .timeout = timeout };

		if (!sb)
			goto out;
		if (sandbox_acquire(sb, f) < 0) {
			sandbox_put(sb);
			goto out;
		}
		if (stream) {
			exec_stream *s = rls_xcalloc(1, sizeof *s);

			s->sb = sb;
			if (exec_start(sb, &spec, &s->x, f) < 0) {
				free(s);
				sandbox_release(sb);
				sandbox_put(sb);
				goto out;
			}
			rp->status = 200;
			rp->type = "application/x-ndjson";
			rp->next = stream_next;
			rp->done = stream_done;
			rp->ctx = s;
			r = 0;
			goto out;
		}
		res = exec_run(sb, &spec, max, f);
		sandbox_release(sb);
		if (res)
			sandbox_event(sb, "exec", json_pack("{s:O}", "exit_status", json_object_get(res, "exit_status")));
		sandbox_put(sb);
		if (!res)
			goto out;
	}
	serve_reply_json(rp, 200, res);
	r = 0;
out:
	serve_strv_free(argv);
	serve_strv_free(env);
	json_decref(o);
	return r;
}

static int h_session_create(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	static const char *const fields[] = { "env", "cwd", NULL };
	json_t *o = body_json(rq, f), *env;
	_cleanup_free_ char *cwd = NULL;
	const char *cwd_in;
	char id[32];
	int r = -1;

	if (!o)
		return -1;
	env = json_object_get(o, "env");
	if (only_fields(o, fields, f) < 0 || get_str(o, "cwd", &cwd_in, f) < 0 ||
	    (cwd_in && tree_path(cwd_in, "cwd", &cwd, f) < 0))
		goto out;
	if (env && !json_is_null(env) && !json_is_object(env)) {
		serve_failf(f, 400, "env", "env wants an object of NAME: \"value\" pairs");
		goto out;
	}
	{
		sandbox *sb = sandbox_get(rq->params[0], f);

		if (!sb)
			goto out;
		r = session_create(sb, json_is_object(env) ? env : NULL, cwd, id, f);
		sandbox_put(sb);
	}
	if (r == 0)
		serve_reply_json(rp, 201, json_pack("{s:s}", "id", id));
out:
	json_decref(o);
	return r;
}

static int h_session_delete(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	WITH_SANDBOX(rq, f);
	int r = session_delete(sb, rq->params[1], f);

	sandbox_put(sb);
	if (r == 0)
		serve_reply_json(rp, 200, json_pack("{s:s}", "status", "ended"));
	return r;
}

static int h_session_exec(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	static const char *const fields[] = { "command", "timeout", "max_output", NULL };
	json_t *o = body_json(rq, f), *res = NULL;
	const char *line;
	double timeout = 0;
	size_t max;

	if (!o)
		return -1;
	if (only_fields(o, fields, f) < 0 || get_str(o, "command", &line, f) < 0 ||
	    get_seconds(o, "timeout", &timeout, f) < 0 || get_max_output(o, &max, f) < 0)
		goto out;
	if (!line) {
		serve_failf(f, 400, "command", "command is missing: the shell line to run");
		goto out;
	}
	if (check_arg_sizes((char *[]){ (char *)line, NULL }, NULL, f) < 0)
		goto out;
	{
		sandbox *sb = sandbox_get(rq->params[0], f);

		if (!sb)
			goto out;
		if (sandbox_acquire(sb, f) == 0) {
			res = session_exec(sb, rq->params[1], line, timeout, max, f);
			sandbox_release(sb);
			if (res)
				sandbox_event(sb, "exec", json_pack("{s:s, s:O}", "session", rq->params[1], "exit_status",
								    json_object_get(res, "exit_status")));
		}
		sandbox_put(sb);
	}
	if (res)
		serve_reply_json(rp, 200, res);
out:
	json_decref(o);
	return res ? 0 : -1;
}

/* ---- files: each a small command in the sandbox, through the policy ---- */

#define FILE_MAX (16u << 20)

/* Exit statuses of the file scripts: what is not the command's own. */
enum { FILE_MISSING = 44, FILE_IS_DIR = 45, FILE_NOT_DIR = 46 };

static const char file_read_script[] =
	"[ -e \"$1\" ] || exit 44; [ -d \"$1\" ] && exit 45; exec cat -- \"$1\"";
static const char file_write_script[] =
	"[ -d \"$1\" ] && exit 45; exec cat > \"$1\"";
static const char file_stat_script[] =
	"[ -e \"$1\" ] || [ -L \"$1\" ] || exit 44; exec find \"$1\" -maxdepth 0 -printf '%y %s %m %T@ %P\\0'";
static const char file_list_script[] =
	"[ -e \"$1\" ] || exit 44; [ -d \"$1\" ] || exit 46; "
	"exec find \"$1\" -mindepth 1 -maxdepth 1 -printf '%y %s %m %T@ %P\\0'";

/* Run one file script over `path`: its result, its stdout (up to max) in
 * *out; a 4xx for the peer when it did not succeed. */
static int file_op(const serve_request *rq, const char *script, const char *body, size_t body_len, size_t max,
		   rls_buf *out, serve_fail *f)
{
	_cleanup_free_ char *path = NULL;
	serve_exec x;
	json_t *res;
	int status, r = -1;
	json_int_t denied;

	if (tree_path(rq->query(rq->conn, "path"), "path", &path, f) < 0)
		return -1;
	{
		WITH_SANDBOX(rq, f);
		char *argv[] = { "/bin/sh", "-c", (char *)script, "sh", path, NULL };
		exec_spec spec = { .argv = argv, .stdin_pipe = body != NULL, .timeout = 60 };

		if (sandbox_acquire(sb, f) < 0) {
			sandbox_put(sb);
			return -1;
		}
		if (exec_start(sb, &spec, &x, f) < 0) {
			sandbox_release(sb);
			sandbox_put(sb);
			return -1;
		}
		x.max = max;
		if (body)
			(void)rls_write_all(x.in, body, body_len);
		res = exec_finish(&x, false);
		sandbox_release(sb);
		sandbox_put(sb);
	}
	status = (int)json_integer_value(json_object_get(res, "exit_status"));
	denied = json_integer_value(json_object_get(json_object_get(res, "denials"), "count"));
	if (status == 0 && !x.dropped[0]) {
		*out = x.out[0];
		memset(&x.out[0], 0, sizeof x.out[0]);
		r = 0;
	} else if (status == 0) {
		serve_failf(f, 413, "path", "%s is larger than %zu bytes", path + 2, max);
	} else if (status == FILE_MISSING) {
		serve_failf(f, 404, "path", "%s: no such file (or hidden by the policy)", path + 2);
	} else if (status == FILE_IS_DIR) {
		serve_failf(f, 409, "path", "%s is a folder", path + 2);
	} else if (status == FILE_NOT_DIR) {
		serve_failf(f, 409, "path", "%s is not a folder", path + 2);
	} else if (denied) {
		serve_failf(f, 403, "path", "%s: denied by the policy", path + 2);
	} else {
		const char *e = json_string_value(json_object_get(res, "error"));
		size_t n = x.out[1].len;

		while (n && x.out[1].data[n - 1] == '\n')
			n--;
		serve_failf(f, 409, "path", "%s: %.*s", path + 2, (int)(n > 400 ? 400 : n),
			    e ? e : x.out[1].data ? x.out[1].data : "failed");
	}
	json_decref(res);
	exec_free(&x);
	return r;
}

static int h_file_read(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	rls_buf out = { 0 };

	if (file_op(rq, file_read_script, NULL, 0, FILE_MAX, &out, f) < 0)
		return -1;
	rp->status = 200;
	rp->type = "application/octet-stream";
	rp->body = out;
	return 0;
}

static int h_file_write(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	rls_buf out = { 0 };

	if (file_op(rq, file_write_script, rq->body ? rq->body : "", rq->body_len, 0, &out, f) < 0)
		return -1;
	rls_buf_free(&out);
	serve_reply_json(rp, 200, json_pack("{s:I}", "size", (json_int_t)rq->body_len));
	return 0;
}

/* One entry of find -printf '%y %s %m %T@ %P\0' as JSON. */
static json_t *file_entry(const char *e)
{
	static const struct { char y; const char *name; } types[] = {
		{ 'f', "file" }, { 'd', "directory" }, { 'l', "symlink" }, { 'p', "fifo" },
		{ 's', "socket" }, { 'c', "char-device" }, { 'b', "block-device" },
	};
	const char *type = "other";
	char modes[16];
	unsigned long long size = 0;
	unsigned mode = 0;
	double mtime = 0;
	int n = 0;

	if (sscanf(e + 1, " %llu %o %lf %n", &size, &mode, &mtime, &n) < 3 || !n)
		return NULL;
	for (size_t i = 0; i < RLS_ARRAY_SIZE(types); i++)
		if (types[i].y == e[0])
			type = types[i].name;
	snprintf(modes, sizeof modes, "%04o", mode & 07777);
	return json_pack("{s:o, s:s, s:I, s:s, s:f}", "name", rls_json_name(e + 1 + n), "type", type, "size",
			 (json_int_t)size, "mode", modes, "mtime", mtime);
}

static int h_file_stat(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	rls_buf out = { 0 };
	json_t *e;

	if (file_op(rq, file_stat_script, NULL, 0, 65536, &out, f) < 0)
		return -1;
	e = out.len ? file_entry(out.data) : NULL;
	rls_buf_free(&out);
	if (!e)
		return serve_failf(f, 500, NULL, "could not read the file's attributes");
	json_object_del(e, "name");
	json_object_set_new(e, "path", rls_json_name(rq->query(rq->conn, "path")));
	serve_reply_json(rp, 200, e);
	return 0;
}

static int h_file_list(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	rls_buf out = { 0 };
	json_t *a = json_array();

	if (file_op(rq, file_list_script, NULL, 0, FILE_MAX, &out, f) < 0) {
		json_decref(a);
		return -1;
	}
	for (size_t off = 0; off < out.len;) {
		const char *e = out.data + off;
		json_t *j = file_entry(e);

		if (j)
			json_array_append_new(a, j);
		off += strlen(e) + 1;
	}
	rls_buf_free(&out);
	serve_reply_json(rp, 200, json_pack("{s:o}", "entries", a));
	return 0;
}

/* ---- the delta: diff, commit, discard ---- */

/* Open the sandbox's delta with nothing running over it: *d NULL when no
 * command ever wrote one. */
static int open_delta(sandbox *sb, delta **d, serve_fail *f)
{
	rls_error err;

	*d = NULL;
	if (access(sb->delta, F_OK) < 0)
		return 0;
	if (sandbox_open_delta(sb->delta, sb->source, d, &err) < 0)
		return serve_failf(f, err.code == EBUSY ? 409 : 500, NULL, "%s", err.msg);
	return 0;
}

static int add_change(delta_change_kind kind, const char *path, void *opaque)
{
	json_array_append_new(opaque, json_pack("{s:s, s:o}", "change",
						kind == DELTA_ADDED ? "added" : kind == DELTA_DELETED ? "deleted" : "modified",
						"path", rls_json_name(path)));
	return 0;
}

static json_t *paths_json(char *const *paths)
{
	json_t *a = json_array();

	for (char *const *p = paths; p && *p; p++)
		json_array_append_new(a, rls_json_name(*p));
	return a;
}

static json_t *held_json(const delta_commit_stats *s)
{
	json_t *a = json_array();

	for (size_t i = 0; i < s->n_held; i++)
		json_array_append_new(a, json_pack("{s:o, s:o}", "path", rls_json_name(s->held[i].path), "target",
						   rls_json_name(s->held[i].target)));
	return a;
}

/* With the delta taken: fn over it (NULL when there is none yet). */
static int with_delta(const serve_request *rq, int (*fn)(sandbox *sb, delta *d, void *ctx, serve_fail *f),
		      void *ctx, serve_fail *f)
{
	WITH_SANDBOX(rq, f);
	delta *d = NULL;
	int r = sandbox_acquire(sb, f);

	if (r == 0) {
		r = open_delta(sb, &d, f);
		if (r == 0)
			r = fn(sb, d, ctx, f);
		if (d)
			delta_close(d);
		sandbox_release(sb);
	}
	sandbox_put(sb);
	return r;
}

static int do_diff(sandbox *sb, delta *d, void *ctx, serve_fail *f)
{
	json_t *changes = json_array();
	delta_commit_stats plan = { 0 };
	rls_error err;

	if (d && (delta_changes(d, add_change, changes, &err) < 0 ||
		  delta_commit(d, DELTA_CONFLICT_OURS, DELTA_COMMIT_DRY_RUN, &plan, &err) < 0)) {
		json_decref(changes);
		delta_commit_stats_free(&plan);
		return serve_failf(f, 500, NULL, "%s", err.msg);
	}
	*(json_t **)ctx = json_pack("{s:o, s:o, s:o}", "changes", changes, "conflicts", paths_json(plan.conflict_paths),
				    "held_back", held_json(&plan));
	delta_commit_stats_free(&plan);
	return 0;
}

static int h_diff(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	json_t *res = NULL;

	if (with_delta(rq, do_diff, &res, f) < 0)
		return -1;
	serve_reply_json(rp, 200, res);
	return 0;
}

typedef struct commit_req {
	delta_conflict_mode mode;
	unsigned flags;
	json_t *res;
} commit_req;

static int do_commit(sandbox *sb, delta *d, void *ctx, serve_fail *f)
{
	commit_req *c = ctx;
	delta_commit_stats s = { 0 };
	rls_error err;
	int r = d ? delta_commit(d, c->mode, c->flags, &s, &err) : 0;

	if (r < 0)
		return serve_failf(f, err.code == EBUSY ? 409 : 500, NULL, "%s", err.msg);
	c->res = json_pack("{s:b, s:I, s:I, s:I, s:o, s:o, s:o}", "committed", r != 1, "added", (json_int_t)s.added,
			   "modified", (json_int_t)s.modified, "deleted", (json_int_t)s.deleted, "conflicts",
			   paths_json(s.conflict_paths), "setid_dropped", paths_json(s.setid_paths), "held_back",
			   held_json(&s));
	delta_commit_stats_free(&s);
	sandbox_event(sb, "commit", json_pack("{s:O}", "committed", json_object_get(c->res, "committed")));
	return 0;
}

static int h_commit(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	static const char *const fields[] = { "on_conflict", "allow_symlinks_out", NULL };
	json_t *o = body_json(rq, f);
	commit_req c = { .mode = DELTA_CONFLICT_OURS };
	const char *mode;
	bool out = false;
	int r = -1;

	if (!o)
		return -1;
	if (only_fields(o, fields, f) < 0 || get_str(o, "on_conflict", &mode, f) < 0 ||
	    get_bool(o, "allow_symlinks_out", &out, f) < 0)
		goto done;
	if (mode && !strcmp(mode, "theirs"))
		c.mode = DELTA_CONFLICT_THEIRS;
	else if (mode && !strcmp(mode, "fail"))
		c.mode = DELTA_CONFLICT_FAIL;
	else if (mode && strcmp(mode, "ours")) {
		serve_failf(f, 400, "on_conflict", "on_conflict wants ours, theirs or fail");
		goto done;
	}
	c.flags = out ? DELTA_COMMIT_ALLOW_SYMLINKS_OUT : 0;
	if (with_delta(rq, do_commit, &c, f) < 0)
		goto done;
	/* Refused for conflicts (on_conflict fail): 409, and what conflicted. */
	serve_reply_json(rp, json_is_true(json_object_get(c.res, "committed")) ? 200 : 409, c.res);
	r = 0;
done:
	json_decref(o);
	return r;
}

static int do_discard(sandbox *sb, delta *d, void *ctx, serve_fail *f)
{
	rls_error err;

	if (d && delta_discard(d, &err) < 0)
		return serve_failf(f, 500, NULL, "%s", err.msg);
	sandbox_event(sb, "discard", NULL);
	return 0;
}

static int h_discard(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	if (with_delta(rq, do_discard, NULL, f) < 0)
		return -1;
	serve_reply_json(rp, 200, json_pack("{s:s}", "status", "discarded"));
	return 0;
}

/* ---- events ---- */

typedef struct event_stream {
	sandbox *sb;
	uint64_t next;
	bool follow;
	bool ended;
} event_stream;

static int events_next(void *ctx, rls_buf *b)
{
	event_stream *s = ctx;
	struct timespec ts;

	if (s->ended)
		return -1;
	pthread_mutex_lock(&serve_lock);
	for (;;) {
		s->next = sandbox_events_since(s->sb, s->next, b);
		if (b->len || !s->follow || s->sb->closed)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		if (pthread_cond_timedwait(&serve_events, &serve_lock, &ts) == ETIMEDOUT) {
			/* A blank line now and then: a peer that left is noticed. */
			rls_buf_addc(b, '\n');
			break;
		}
	}
	if (!s->follow || (s->sb->closed && !b->len))
		s->ended = true;
	pthread_mutex_unlock(&serve_lock);
	return b->len ? 0 : -1;
}

static void events_done(void *ctx)
{
	free(ctx);
}

static int h_events(const serve_request *rq, serve_reply *rp, serve_fail *f)
{
	const char *since = rq->query(rq->conn, "since"), *follow = rq->query(rq->conn, "follow");
	unsigned long long n = 0;
	char *end;

	if (since && (!*since || (n = strtoull(since, &end, 10), *end) || since[0] == '-'))
		return serve_failf(f, 400, "since", "since wants an event's sequence number (0, 1, ...)");
	if (follow && strcmp(follow, "true") && strcmp(follow, "false") && strcmp(follow, "1") && strcmp(follow, "0"))
		return serve_failf(f, 400, "follow", "follow wants true or false");
	{
		WITH_SANDBOX(rq, f);
		event_stream *s = rls_xcalloc(1, sizeof *s);

		/* No reference held: a follower must not keep the sandbox
		 * from closing, and a closed one stays in memory until the
		 * server ends (sandbox_close). */
		s->sb = sb;
		sandbox_put(sb);
		s->next = n;
		s->follow = follow && (!strcmp(follow, "true") || !strcmp(follow, "1"));
		rp->status = 200;
		rp->type = "application/x-ndjson";
		rp->next = events_next;
		rp->done = events_done;
		rp->ctx = s;
	}
	return 0;
}

const serve_route serve_routes[] = {
	{ "GET", "/v1/health", h_health },
	{ "POST", "/v1/sandboxes", h_create },
	{ "GET", "/v1/sandboxes", h_list },
	{ "GET", "/v1/sandboxes/{id}", h_get },
	{ "DELETE", "/v1/sandboxes/{id}", h_delete },
	{ "POST", "/v1/sandboxes/{id}/exec", h_exec },
	{ "POST", "/v1/sandboxes/{id}/sessions", h_session_create },
	{ "DELETE", "/v1/sandboxes/{id}/sessions/{sid}", h_session_delete },
	{ "POST", "/v1/sandboxes/{id}/sessions/{sid}/exec", h_session_exec },
	{ "GET", "/v1/sandboxes/{id}/files", h_file_read },
	{ "PUT", "/v1/sandboxes/{id}/files", h_file_write },
	{ "GET", "/v1/sandboxes/{id}/files/stat", h_file_stat },
	{ "GET", "/v1/sandboxes/{id}/files/list", h_file_list },
	{ "GET", "/v1/sandboxes/{id}/diff", h_diff },
	{ "POST", "/v1/sandboxes/{id}/commit", h_commit },
	{ "POST", "/v1/sandboxes/{id}/discard", h_discard },
	{ "GET", "/v1/sandboxes/{id}/events", h_events },
	{ NULL, NULL, NULL },
};
