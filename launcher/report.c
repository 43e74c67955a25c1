/* report.c - what `rls run` tells its user at the end: the denied
 * accesses (from rlsfs's audit log, one JSON object a line) and the --json
 * object. */
#include "launcher.h"
#include "run.h"

/* The string value of "key" in one JSON line, decoded; NULL if absent or
 * not a well-formed string.  The audit lines are flat objects written by
 * rlsfs with the keys in a fixed order and every quote inside a value
 * escaped, so the first match of "key": is the key. */
static char *json_string_field(const char *line, const char *key)
{
	_cleanup_free_ char *pat = rls_xasprintf("\"%s\":", key);
	const char *p = strstr(line, pat);
	char *out;

	if (!p)
		return NULL;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	return rls_json_string(p, &out, NULL) == 0 ? out : NULL;
}

void report_read_denials(const char *audit_path, denial_summary *d)
{
	_cleanup_fclose_ FILE *f = NULL;
	char *line = NULL;
	size_t cap = 0;

	memset(d, 0, sizeof *d);
	if (!audit_path || !(f = fopen(audit_path, "re")))
		return;
	while (getline(&line, &cap, f) > 0) {
		char *path = json_string_field(line, "path");
		bool seen = false;

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

	if (!d->count)
		return;
	fprintf(out, "rls: %u access%s denied by the policy: %s%s\n", d->count, d->count == 1 ? "" : "es",
		report_name_list(d->paths, d->n_paths, &list), d->count > d->n_paths ? ", ..." : "");
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

static void add_str_or_null(rls_buf *b, const char *s)
{
	if (!s) {
		rls_buf_adds(b, "null");
		return;
	}
	rls_buf_addc(b, '"');
	rls_buf_add_json(b, s);
	rls_buf_addc(b, '"');
}

void report_json(const run_report *r, FILE *out)
{
	_cleanup_buf_ rls_buf b = { 0 };
	const char *sep = "";

	rls_buf_printf(&b, "{\"exit_status\":%d,\"timed_out\":%s,\"interrupted\":%s,\"duration_s\":%.3f,",
		       r->exit_status, r->timed_out ? "true" : "false",
		       r->interrupted_by ? "true" : "false", r->duration_s);
	rls_buf_adds(&b, "\"commit\":");
	add_str_or_null(&b, r->commit);
	rls_buf_printf(&b, ",\"committed\":{\"added\":%u,\"modified\":%u,\"deleted\":%u},", r->added,
		       r->modified, r->deleted);
	rls_buf_adds(&b, "\"conflicts\":[");
	for (char *const *p = r->conflict_paths; p && *p; p++) {
		rls_buf_printf(&b, "%s\"", sep);
		rls_buf_add_json(&b, *p);
		rls_buf_addc(&b, '"');
		sep = ",";
	}
	rls_buf_printf(&b, "],\"denials\":{\"count\":%u,\"paths\":[", r->denials ? r->denials->count : 0);
	for (size_t i = 0; r->denials && i < r->denials->n_paths; i++) {
		rls_buf_adds(&b, i ? ",\"" : "\"");
		rls_buf_add_json(&b, r->denials->paths[i]);
		rls_buf_addc(&b, '"');
	}
	rls_buf_adds(&b, "]},\"limits\":{\"memory\":");
	add_str_or_null(&b, limit_how_name(r->cg->memory));
	rls_buf_adds(&b, ",\"cpus\":");
	add_str_or_null(&b, limit_how_name(r->cg->cpus));
	rls_buf_adds(&b, ",\"pids\":");
	add_str_or_null(&b, limit_how_name(r->cg->pids));
	rls_buf_adds(&b, "},\"delta\":");
	add_str_or_null(&b, r->delta_kept);
	rls_buf_adds(&b, ",\"error\":");
	add_str_or_null(&b, r->error);
	rls_buf_adds(&b, "}\n");
	fputs(b.data, out);
	fflush(out);
}
