/* report.c - what `rls run` tells its user at the end: the denied
 * accesses (from rlsfs's audit log, one JSON object a line) and the --json
 * object. */
#include "launcher.h"
#include "run.h"

#include <jansson.h>

/* A name as rls writes it in JSON (rls_buf_add_json): a value that begins
 * with a double quote is the quoted form of a name that is not UTF-8. */
static char *name_of(const char *v)
{
	char *out;

	if (v[0] != '"')
		return rls_xstrdup(v);
	return rls_unquote_name(v, &out) == 0 ? out : NULL;
}

void report_read_denials(const char *audit_path, denial_summary *d)
{
	_cleanup_fclose_ FILE *f = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	memset(d, 0, sizeof *d);
	if (!audit_path || !(f = fopen(audit_path, "re")))
		return;
	while ((len = getline(&line, &cap, f)) > 0) {
		json_t *o = json_loadb(line, (size_t)len, JSON_DISABLE_EOF_CHECK, NULL);
		const char *v = json_string_value(json_object_get(o, "path"));
		json_t *dropped = json_object_get(o, "dropped");
		char *path = v ? name_of(v) : NULL;
		bool seen = false;

		/* {"time":...,"dropped":N}: N denials rlsfs left out of the log */
		if (!v && json_is_integer(dropped) && json_integer_value(dropped) > 0)
			d->dropped += (unsigned long long)json_integer_value(dropped);
		json_decref(o);
		if (!path)
			continue;
		d->count++;
		for (size_t i = 0; i < d->n_paths; i++)
			if (!strcmp(d->paths[i], path))
				seen = true;
		if (!seen && d->n_paths < REPORT_MAX_PATHS)
			d->paths[d->n_paths++] = steal_pointer(&path);
		free(path);
	}
	free(line);
}

void report_denials_free(denial_summary *d)
{
	for (size_t i = 0; i < d->n_paths; i++)
		free(d->paths[i]);
	d->n_paths = 0;
}

void report_print_denials(const denial_summary *d, FILE *out)
{
	_cleanup_buf_ rls_buf list = { 0 };
	unsigned long long total = d->count + d->dropped;

	if (!total)
		return;
	fprintf(out, "rls: %llu access%s denied by the policy: %s%s", total, total == 1 ? "" : "es",
		report_name_list(d->paths, d->n_paths, &list), d->count > d->n_paths ? ", ..." : "");
	if (d->dropped)
		fprintf(out, " (%llu more denial%s not recorded)", d->dropped, d->dropped == 1 ? "" : "s");
	fputc('\n', out);
}

const char *report_name_list(char *const *paths, size_t n, rls_buf *b)
{
	rls_buf_reset(b);
	for (size_t i = 0; paths && i < n && paths[i]; i++) {
		if (i)
			rls_buf_adds(b, ", ");
		rls_buf_add_name(b, paths[i], RLS_QUOTE_COMMA);
	}
	return b->data ? b->data : "";
}

static void print_paths(FILE *out, const char *prefix, const char *label, char *const *paths, const char *why)
{
	for (char *const *p = paths; p && *p; p++) {
		_cleanup_free_ char *shown = rls_quote_name((*p)[0] && (*p)[1] ? *p + 1 : "/", 0);

		fprintf(out, "%s%s: %s%s\n", prefix, label, shown, why);
	}
}

void report_commit_notes(const delta_commit_stats *s, delta_conflict_mode mode, const char *delta_dir,
			 const char *prefix, FILE *out)
{
	const char *won = mode == DELTA_CONFLICT_FAIL ? " (nothing was committed)" :
			  mode == DELTA_CONFLICT_THEIRS ? " (the source's newer version was kept)" :
							  " (the sandbox's version replaced a newer source version)";

	print_paths(out, prefix, "conflict", s->conflict_paths, won);
	print_paths(out, prefix, "set-id bits dropped", s->setid_paths, " (its content changed since the copy-up)");
	for (size_t i = 0; i < s->n_held; i++) {
		_cleanup_free_ char *path = rls_quote_name(s->held[i].path + 1, 0);
		_cleanup_free_ char *target = rls_quote_name(s->held[i].target, 0);

		fprintf(out, "%sheld back: %s -> %s (%s)\n", prefix, path, target, s->held[i].why);
	}
	if (s->n_held && delta_dir)
		fprintf(out, "%s%zu symlink%s held back, kept in the delta; if %s meant (a virtualenv's bin/python, "
			"say), commit %s with: rls commit --allow-symlinks-out %s\n",
			prefix, s->n_held, s->n_held == 1 ? "" : "s", s->n_held == 1 ? "it is" : "they are",
			s->n_held == 1 ? "it" : "them", delta_dir);
}

/* A name as a JSON string, by the rule of rls_buf_add_json: as it is when
 * it is UTF-8 (jansson escapes what must be, ASCII only on output), else,
 * and when it begins with a double quote, in its quoted form. */
static json_t *json_name(const char *name)
{
	return rls_json_name(name);
}

static json_t *json_names(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; v && i < n && v[i]; i++)
		json_array_append_new(a, json_name(v[i]));
	return a;
}

static json_t *json_str_or_null(const char *s)
{
	return s ? json_name(s) : json_null();
}

static json_t *json_output(const run_capture *c, int i)
{
	size_t len = 0;
	_cleanup_free_ char *text = capture_read(c, i, &len);
	json_t *j;

	if (!text)
		return json_null();
	/* Output is text for the reader of the object: bytes that are not
	 * UTF-8 become U+FFFD, as a terminal would show them. */
	j = json_stringn(text, len);
	if (!j) {
		_cleanup_free_ char *clean = rls_utf8_lossy(text, len, &len);

		j = json_stringn(clean, len);
	}
	return j ? j : json_null();
}

void report_json(const run_report *r, int fd)
{
	json_t *o = json_object();
	char *text;

	json_object_set_new(o, "exit_status", json_integer(r->exit_status));
	json_object_set_new(o, "timed_out", json_boolean(r->timed_out));
	json_object_set_new(o, "interrupted", json_boolean(r->interrupted_by != 0));
	json_object_set_new(o, "killed_by", json_str_or_null(r->killed_by));
	json_object_set_new(o, "duration_s", json_real((double)(long long)(r->duration_s * 1000) / 1000));
	json_object_set_new(o, "policy", json_str_or_null(r->policy));
	json_object_set_new(o, "commit", json_str_or_null(r->commit));
	json_object_set_new(o, "committed", json_pack("{s:I, s:I, s:I}", "added", (json_int_t)r->added,
						      "modified", (json_int_t)r->modified, "deleted",
						      (json_int_t)r->deleted));
	json_object_set_new(o, "conflicts", json_names(r->conflict_paths, SIZE_MAX));
	json_object_set_new(o, "denials",
			    json_pack("{s:I, s:I, s:o}", "count", (json_int_t)(r->denials ? r->denials->count : 0),
				      "dropped", (json_int_t)(r->denials ? r->denials->dropped : 0), "paths",
				      r->denials ? json_names(r->denials->paths, r->denials->n_paths) : json_array()));
	json_object_set_new(o, "limits",
			    json_pack("{s:o, s:o, s:o}", "memory", json_str_or_null(limit_how_name(r->cg->memory)),
				      "cpus", json_str_or_null(limit_how_name(r->cg->cpus)), "pids",
				      json_str_or_null(limit_how_name(r->cg->pids))));
	json_object_set_new(o, "delta", json_str_or_null(r->delta_kept));
	json_object_set_new(o, "error", json_str_or_null(r->error));
	if (r->capture) {
		json_object_set_new(o, "stdout", json_output(r->capture, 0));
		json_object_set_new(o, "stderr", json_output(r->capture, 1));
		json_object_set_new(o, "output_dropped",
				    json_pack("{s:I, s:I}", "stdout", (json_int_t)r->capture->dropped[0], "stderr",
					      (json_int_t)r->capture->dropped[1]));
	}
	/* ASCII only: the object can go to a terminal, and a name's
	 * bidirectional marks must not reorder what is shown. */
	text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(o);
	if (text) {
		size_t n = strlen(text);

		text[n] = '\n';
		(void)rls_write_all(fd, text, n + 1);
		text[n] = '\0';
	}
	free(text);
}
