/* report.c - what `rls run` tells its user at the end: the denied
 * accesses (from rlsfs's audit log, one JSON object a line) and the --json
 * object. */
#include "launcher.h"
#include "run.h"

#include <limits.h>

/* The string value of "key" in one JSON line, unescaped; NULL if absent.
 * The audit lines are flat objects written by rlsfs, so a scan for the key
 * is enough. */
static char *json_string_field(const char *line, const char *key)
{
	_cleanup_free_ char *pat = rls_xasprintf("\"%s\":", key);
	const char *p = strstr(line, pat);
	rls_buf out = { 0 };

	if (!p)
		return NULL;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	if (*p++ != '"')
		return NULL;
	for (; *p && *p != '"'; p++) {
		if (*p != '\\') {
			rls_buf_addc(&out, *p);
			continue;
		}
		switch (*++p) {
		case 'n': rls_buf_addc(&out, '\n'); break;
		case 't': rls_buf_addc(&out, '\t'); break;
		case 'r': rls_buf_addc(&out, '\r'); break;
		case 'u': {
			unsigned v = 0;

			if (sscanf(p + 1, "%4x", &v) == 1)
				p += 4;
			rls_buf_addc(&out, v < 0x80 && v ? (char)v : '?');
			break;
		}
		case '\0': p--; break;
		default: rls_buf_addc(&out, *p);
		}
	}
	if (!out.data)
		rls_buf_adds(&out, "");
	return out.data;
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
		const char *dropped = strstr(line, "\"dropped\":");
		bool seen = false;

		/* {"time":...,"dropped":N}: N denials left out of the log */
		if (!path && dropped) {
			unsigned long long n = strtoull(dropped + 10, NULL, 10);

			d->dropped = d->dropped + n < d->dropped ? ULLONG_MAX : d->dropped + n;
			continue;
		}
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
	unsigned long long total = d->count + d->dropped;

	if (!total)
		return;
	fprintf(out, "rls: %llu access%s denied by the policy:", total, total == 1 ? "" : "es");
	for (size_t i = 0; i < d->n_paths; i++)
		fprintf(out, "%s %s", i ? "," : "", d->paths[i]);
	if (d->count > d->n_paths)
		fputs(", ...", out);
	if (d->dropped)
		fprintf(out, " (%llu more denial%s not recorded)", d->dropped, d->dropped == 1 ? "" : "s");
	fputc('\n', out);
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
	if (r->conflict_paths) {
		for (const char *p = r->conflict_paths; *p;) {
			size_t n = strcspn(p, "\n");
			_cleanup_free_ char *one = rls_xstrndup(p, n);

			if (n) {
				rls_buf_printf(&b, "%s\"", sep);
				rls_buf_add_json(&b, one);
				rls_buf_addc(&b, '"');
				sep = ",";
			}
			p += n;
			if (*p)
				p++;
		}
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
