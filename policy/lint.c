/* lint.c - the warnings of `rls policy check`.
 *
 * Each finding is one line at the position of what the user wrote and can
 * change; a finding that repeats (one rule overriding many none rules, one
 * unhide dropping a pattern inherited twice) is one line naming them all,
 * so that extending a preset does not bury the page in warnings.
 */
#include "internal.h"

#define LINT_MAX_RULES 2000
/* Past this many, a grouped warning says "and N more". */
#define LINT_MAX_NAMED 4

/* ---- unhide and unprotect ------------------------------------------------ */

static unsigned lint_notes(const policy *pol, FILE *out)
{
	unsigned count = 0;

	for (size_t i = 0; i < pol->n_notes; i++) {
		const struct policy_note *n = &pol->notes[i];
		bool seen = false;

		/* one line per unhide / unprotect entry */
		for (size_t j = 0; j < i && !seen; j++)
			seen = pol->notes[j].file == n->file && pol->notes[j].line == n->line &&
			       pol->notes[j].column == n->column;
		if (seen)
			continue;
		fprintf(out, "%s:%u:%u: warning: un%s '%s' ", n->file, n->line, n->column, n->list, n->pattern);
		if (!n->from_file) {
			fprintf(out, "drops nothing: no inherited %s pattern is written exactly so\n", n->list);
		} else {
			fprintf(out, "drops the %s pattern inherited from %s:%u", n->list, n->from_file,
				n->from_line);
			for (size_t j = i + 1; j < pol->n_notes; j++)
				if (pol->notes[j].file == n->file && pol->notes[j].line == n->line &&
				    pol->notes[j].column == n->column && pol->notes[j].from_file)
					fprintf(out, " and %s:%u", pol->notes[j].from_file, pol->notes[j].from_line);
			fprintf(out, ": %s\n",
				!strcmp(n->list, "hide") ? "what it matches is no longer hidden"
							 : "what it matches is writable again where the rules say so");
		}
		count++;
	}
	return count;
}

/* ---- none rules overridden by later rules -------------------------------- */

/* For each none rule, try a few paths it hides -- its own shortest example,
 * and that example placed beneath the example of each later, higher rule --
 * and note a later rule that decides such a path above none. */

struct override {
	size_t none_rule;
	char *example;
};

struct overrides {
	struct override *v;
	size_t n;
};

static pcre2_code *compile_one(const char *re)
{
	int errcode;
	PCRE2_SIZE off;

	return pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_ANCHORED, &errcode, &off, NULL);
}

static void lint_candidate(const policy *pol, size_t i, const pcre2_code *own, const char *cand,
			   unsigned char *reported, struct overrides *found)
{
	size_t len = strlen(cand);
	bool is_dir = len > 1 && cand[len - 1] == '/';
	long k;

	if (!policy_regex_matches(own, cand))
		return;
	/* (hidden by the hide list whatever the rules say: nothing shown) */
	if (policy_decide_rule(pol, cand, is_dir, NULL, &k) == POLICY_NONE)
		return;
	if (k <= (long)i || pol->rules.v[k].level == POLICY_NONE || reported[k])
		return;
	reported[k] = 1;
	/* A later rule whose own example the none rule hides is carved out of
	 * it on purpose (everything none, then one folder read): not a finding. */
	for (size_t t = 0; t < pol->rules.v[k].glob.n_samples; t++)
		if (policy_regex_matches(own, pol->rules.v[k].glob.samples[t]))
			return;
	struct overrides *o = &found[k];
	o->v = rls_xrealloc(o->v, (o->n + 1) * sizeof *o->v);
	o->v[o->n++] = (struct override){ i, rls_xasprintf("%s%s", is_dir ? "the directory " : "", cand) };
}

static void find_overrides(const policy *pol, size_t i, struct overrides *found)
{
	const struct policy_rule *r = &pol->rules.v[i];
	_cleanup_free_ unsigned char *reported = rls_xcalloc(pol->rules.n, 1);
	pcre2_code *own = compile_one(r->glob.full);

	if (!own)
		return;
	for (size_t s = 0; s < r->glob.n_samples; s++) {
		const char *sample = r->glob.samples[s];

		lint_candidate(pol, i, own, sample, reported, found);
		for (size_t j = i + 1; j < pol->rules.n; j++) {
			const struct policy_rule *later = &pol->rules.v[j];

			if (later->level == POLICY_NONE)
				continue;
			for (size_t t = 0; t < later->glob.n_samples; t++) {
				const char *base = later->glob.samples[t];
				size_t blen = strlen(base);
				_cleanup_free_ char *cand = NULL;

				while (blen && base[blen - 1] == '/')
					blen--;
				cand = rls_xasprintf("%.*s%s", (int)blen, base, sample);
				lint_candidate(pol, i, own, cand, reported, found);
			}
		}
	}
	pcre2_code_free(own);
}

static unsigned report_overrides(const policy *pol, size_t k, struct overrides *o, FILE *out)
{
	const struct policy_rule *b = &pol->rules.v[k];

	if (!o->n)
		return 0;
	fprintf(out, "%s:%u:%u: warning: rule '%s' (%s) overrides ", b->file, b->line, b->column, b->pattern,
		policy_level_name(b->level));
	if (o->n == 1) {
		const struct policy_rule *a = &pol->rules.v[o->v[0].none_rule];

		fprintf(out, "the earlier none rule '%s' at %s:%u", a->pattern, a->file, a->line);
	} else {
		fprintf(out, "%zu earlier none rules: ", o->n);
		for (size_t x = 0; x < o->n && x < LINT_MAX_NAMED; x++) {
			const struct policy_rule *a = &pol->rules.v[o->v[x].none_rule];

			fprintf(out, "%s'%s' at %s:%u", x ? ", " : "", a->pattern, a->file, a->line);
		}
		if (o->n > LINT_MAX_NAMED)
			fprintf(out, " and %zu more", o->n - LINT_MAX_NAMED);
	}
	fprintf(out, " (for example %s)\n", o->v[0].example);
	for (size_t x = 0; x < o->n; x++)
		free(o->v[x].example);
	free(o->v);
	*o = (struct overrides){ 0 };
	return 1;
}

/* ---- rules a list leaves without effect ----------------------------------- */

/* The entry of `m` matching every example of the rule, or NULL. */
static const struct policy_rule *covers_rule(const struct policy_matcher *m, const struct policy_rule *r)
{
	long hit = -1;

	if (!m->list || !m->list->n)
		return NULL;
	for (size_t s = 0; s < r->glob.n_samples; s++) {
		const char *sample = r->glob.samples[s];
		size_t len = strlen(sample);
		size_t path_len = len > 1 && sample[len - 1] == '/' ? len - 1 : len;
		struct policy_subject sub;
		long v;

		policy_subject_init(&sub, sample, len, path_len);
		v = policy_matcher_match(m, &sub);
		policy_subject_done(&sub);

		if (v < 0)
			return NULL;
		if (hit < 0)
			hit = v;
	}
	return hit >= 0 ? &m->list->v[hit] : NULL;
}

static unsigned lint_masked(const policy *pol, FILE *out)
{
	unsigned count = 0;

	for (size_t i = 0; i < pol->rules.n; i++) {
		const struct policy_rule *r = &pol->rules.v[i];
		const struct policy_rule *e;

		if (r->level == POLICY_NONE)
			continue;
		if ((e = covers_rule(&pol->hide_match, r))) {
			fprintf(out,
				"%s:%u:%u: warning: rule '%s' (%s) shows nothing: hide '%s' (%s:%u) hides what it "
				"matches\n",
				r->file, r->line, r->column, r->pattern, policy_level_name(r->level), e->pattern,
				e->file, e->line);
			count++;
		} else if (r->level == POLICY_WRITE && (e = covers_rule(&pol->protect_match, r))) {
			fprintf(out,
				"%s:%u:%u: warning: rule '%s' (write) writes nothing: protect '%s' (%s:%u) keeps "
				"what it matches read-only\n",
				r->file, r->line, r->column, r->pattern, e->pattern, e->file, e->line);
			count++;
		}
	}
	return count;
}

unsigned policy_lint(const policy *pol, FILE *out)
{
	unsigned count = lint_notes(pol, out);
	struct overrides *found;

	/* No rule at all: every path is none, a sandbox would see nothing. */
	if (pol->rules.n == 0) {
		fprintf(out, "%s: warning: no rules: every path is hidden (level none), the sandbox sees nothing\n",
			pol->n_files ? pol->files[0] : "policy");
		count++;
	}

	if (pol->rules.n > LINT_MAX_RULES)
		return count;
	found = rls_xcalloc(pol->rules.n + 1, sizeof *found);
	for (size_t i = 0; i < pol->rules.n; i++)
		if (pol->rules.v[i].level == POLICY_NONE)
			find_overrides(pol, i, found);
	for (size_t k = 0; k < pol->rules.n; k++)
		count += report_overrides(pol, k, &found[k], out);
	free(found);
	return count + lint_masked(pol, out);
}
