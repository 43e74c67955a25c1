/* policy.c - loading, decisions, protection, lint.
 *
 * Deciding is one anchored pcre2 match: every rule's regex is an alternative
 * of one combined pattern, in reverse rule order, each behind (*MARK:index).
 * The first alternative that matches belongs to the last rule that matches,
 * and pcre2_get_mark() names it.  Implicit traversal is a second combined
 * pattern built the same way.  Both are JIT-compiled; each thread keeps its
 * own match data and JIT stack, so decisions need no lock.
 */
#include "internal.h"

#include <pthread.h>
#include <sys/stat.h>

/* pcre2 with the default link size caps a compiled pattern at 64 KiB; a
 * policy larger than that is split into several combined patterns. */
#define MATCH_LIMIT 1000000
#define JIT_STACK_MAX (1u << 20)

static const char *const level_names[] = { "none", "view", "read", "write" };

const char *policy_level_name(policy_level level)
{
	if ((unsigned)level < RLS_ARRAY_SIZE(level_names))
		return level_names[level];
	return "?";
}

int policy_level_parse(const char *name, policy_level *out)
{
	for (size_t i = 0; i < RLS_ARRAY_SIZE(level_names); i++)
		if (name && !strcmp(name, level_names[i])) {
			*out = (policy_level)i;
			return 0;
		}
	return -1;
}

/* Per-thread matching state. */
struct match_state {
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *stack;
};

static pthread_key_t state_key;
static pthread_once_t state_once = PTHREAD_ONCE_INIT;
static __thread struct match_state *thread_state;

static void state_free(void *p)
{
	struct match_state *s = p;

	pcre2_match_data_free(s->md);
	pcre2_match_context_free(s->mctx);
	pcre2_jit_stack_free(s->stack);
	free(s);
}

static void state_key_init(void)
{
	if (pthread_key_create(&state_key, state_free) != 0)
		rls_die("cannot create a thread key");
}

static struct match_state *state_get(void)
{
	struct match_state *s = thread_state;

	if (s)
		return s;
	pthread_once(&state_once, state_key_init);
	s = rls_xcalloc(1, sizeof *s);
	s->md = pcre2_match_data_create(1, NULL);
	s->mctx = pcre2_match_context_create(NULL);
	s->stack = pcre2_jit_stack_create(32 * 1024, JIT_STACK_MAX, NULL);
	if (!s->md || !s->mctx || !s->stack)
		rls_die_oom();
	pcre2_jit_stack_assign(s->mctx, NULL, s->stack);
	pcre2_set_match_limit(s->mctx, MATCH_LIMIT);
	pthread_setspecific(state_key, s);
	thread_state = s;
	return s;
}

static long mark_index(PCRE2_SPTR mark)
{
	long n = 0;

	if (!mark)
		return -2;
	for (; *mark; mark++)
		n = n * 10 + (*mark - '0');
	return n;
}

/* The first of `codes` that matches names the rule; -1 when none does, -2
 * when the matcher gave up (callers fail closed). */
static long match_first(pcre2_code *const *codes, size_t n, const char *s, size_t len)
{
	struct match_state *st = state_get();

	for (size_t i = 0; i < n; i++) {
		int rc = pcre2_match(codes[i], (PCRE2_SPTR)s, len, 0, 0, st->md, st->mctx);

		if (rc >= 0)
			return mark_index(pcre2_get_mark(st->md));
		if (rc != PCRE2_ERROR_NOMATCH)
			return -2;
	}
	return -1;
}

static int compile_chunk(const struct policy_fragment *f, size_t n, pcre2_code ***codes, size_t *n_codes,
			 const policy *pol, rls_error *err)
{
	_cleanup_buf_ rls_buf b = { 0 };
	pcre2_code *code;
	int errcode;
	PCRE2_SIZE erroff;

	rls_buf_adds(&b, "(?:");
	for (size_t i = 0; i < n; i++)
		rls_buf_printf(&b, "%s(*MARK:%zu)%s", i ? "|" : "", f[i].rule, f[i].re);
	rls_buf_addc(&b, ')');
	code = pcre2_compile((PCRE2_SPTR)b.data, b.len, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, &errcode,
			     &erroff, NULL);
	if (!code) {
		if (n > 1) {
			size_t half = n / 2;
			if (compile_chunk(f, half, codes, n_codes, pol, err) < 0)
				return -1;
			return compile_chunk(f + half, n - half, codes, n_codes, pol, err);
		}
		const struct policy_rule *r = &pol->rules[f[0].rule];
		PCRE2_UCHAR msg[256];

		pcre2_get_error_message(errcode, msg, sizeof msg);
		return rls_error_set(err, 0, "%s:%u:%u: pattern '%s' cannot be compiled: %s", r->file,
				     r->line, r->column, r->pattern, (const char *)msg);
	}
	/* Without JIT the interpreter still gives the same answers, slower. */
	(void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	*codes = rls_xrealloc(*codes, (*n_codes + 1) * sizeof **codes);
	(*codes)[(*n_codes)++] = code;
	return 0;
}

static int compile_traversal(policy *pol, rls_error *err)
{
	_cleanup_free_ struct policy_fragment *f = rls_xcalloc(pol->n_rules + 1, sizeof *f);
	size_t n = 0;

	for (size_t i = pol->n_rules; i-- > 0;) {
		const struct policy_rule *r = &pol->rules[i];
		const char *re = r->level > POLICY_NONE ? r->glob.prefix : r->glob.cover;

		if (re)
			f[n++] = (struct policy_fragment){ i, re };
	}
	if (!n)
		return 0;
	return compile_chunk(f, n, &pol->traverse_re, &pol->n_traverse, pol, err);
}

static uint64_t hash_key(int kind, const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)kind;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

static struct policy_entry *table_find(const policy *pol, int kind, const char *s, size_t len)
{
	size_t mask = pol->table_cap - 1;

	if (!pol->table_cap)
		return NULL;
	for (size_t i = hash_key(kind, s, len) & mask;; i = (i + 1) & mask) {
		struct policy_entry *e = &pol->table[i];

		if (!e->key)
			return e;
		if (e->kind == kind && e->len == len && !memcmp(e->key, s, len))
			return e;
	}
}

static long table_get(const policy *pol, int kind, const char *s, size_t len)
{
	const struct policy_entry *e = table_find(pol, kind, s, len);

	return e && e->key ? e->value : -1;
}

/* The entry for (kind, s), created with `value` when new. */
static struct policy_entry *table_put(policy *pol, int kind, const char *s, long value)
{
	size_t len = strlen(s);
	struct policy_entry *e;

	if (2 * (pol->table_n + 1) > pol->table_cap) {
		struct policy_entry *old = pol->table;
		size_t old_cap = pol->table_cap;

		pol->table_cap = old_cap ? old_cap * 2 : 64;
		pol->table = rls_xcalloc(pol->table_cap, sizeof *pol->table);
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].key)
				*table_find(pol, old[i].kind, old[i].key, old[i].len) = old[i];
		free(old);
	}
	e = table_find(pol, kind, s, len);
	if (!e->key) {
		*e = (struct policy_entry){ rls_xstrdup(s), len, kind, value };
		pol->table_n++;
	}
	return e;
}

static void add_len(size_t **lens, size_t *n, size_t len)
{
	for (size_t i = 0; i < *n; i++)
		if ((*lens)[i] == len)
			return;
	*lens = rls_xrealloc(*lens, (*n + 1) * sizeof **lens);
	(*lens)[(*n)++] = len;
}

static size_t new_group(policy *pol)
{
	pol->groups = rls_xrealloc(pol->groups, (pol->n_groups + 1) * sizeof *pol->groups);
	pol->groups[pol->n_groups] = (struct policy_group){ .max_rule = -1 };
	return pol->n_groups++;
}

int policy_compile(policy *pol, rls_error *err)
{
	new_group(pol);	/* group 0: regexes without a key segment */
	/* Highest rule first, so that each literal keeps the last rule and
	 * each group's alternatives come in evaluation order. */
	for (size_t i = pol->n_rules; i-- > 0;) {
		const struct policy_glob *g = &pol->rules[i].glob;

		for (size_t a = 0; a < g->n_alts; a++) {
			const struct policy_alt *alt = &g->alts[a];
			struct policy_group *grp;
			size_t gi = 0;

			if (alt->kind != POLICY_ALT_REGEX) {
				table_put(pol, alt->kind, alt->lit, (long)i);
				if (alt->kind == POLICY_ALT_SUFFIX)
					add_len(&pol->suffix_lens, &pol->n_suffix_lens, strlen(alt->lit));
				else if (alt->kind == POLICY_ALT_PREFIX)
					add_len(&pol->prefix_lens, &pol->n_prefix_lens, strlen(alt->lit));
				continue;
			}
			if (alt->key) {
				long v = table_get(pol, POLICY_ALT_REGEX, alt->key, strlen(alt->key));
				if (v < 0) {
					v = (long)new_group(pol);
					table_put(pol, POLICY_ALT_REGEX, alt->key, v);
				}
				gi = (size_t)v;
			}
			grp = &pol->groups[gi];
			grp->frags = rls_xrealloc(grp->frags, (grp->n_frags + 1) * sizeof *grp->frags);
			grp->frags[grp->n_frags].rule = i;
			grp->frags[grp->n_frags].re = alt->re;
			grp->n_frags++;
		}
	}
	for (size_t gi = 0; gi < pol->n_groups; gi++) {
		struct policy_group *grp = &pol->groups[gi];
		int r = 0;

		if (grp->n_frags) {
			grp->max_rule = (long)grp->frags[0].rule;
			r = compile_chunk(grp->frags, grp->n_frags, &grp->codes,
					  &grp->n_codes, pol, err);
		}
		free(grp->frags);
		grp->frags = NULL;
		if (r < 0)
			return -1;
	}
	return compile_traversal(pol, err);
}

/* The last rule matching the subject (a path, "/" appended for a
 * directory; `path_len` leaves that slash out). */
static long match_rules(const policy *pol, const char *s, size_t len, size_t path_len)
{
	const char *base = memrchr(s, '/', path_len);
	size_t blen;
	long best = -1, v;

	base = base ? base + 1 : s;
	blen = (size_t)(s + path_len - base);
	if (blen) {
		if ((v = table_get(pol, POLICY_ALT_NAME, base, blen)) > best)
			best = v;
		for (size_t i = 0; i < pol->n_suffix_lens; i++) {
			size_t l = pol->suffix_lens[i];
			if (l <= blen && (v = table_get(pol, POLICY_ALT_SUFFIX, base + blen - l, l)) > best)
				best = v;
		}
		for (size_t i = 0; i < pol->n_prefix_lens; i++) {
			size_t l = pol->prefix_lens[i];
			if (l <= blen && (v = table_get(pol, POLICY_ALT_PREFIX, base, l)) > best)
				best = v;
		}
	}
	for (size_t i = 1; i < path_len;) {
		size_t j = i;
		while (j < path_len && s[j] != '/')
			j++;
		if ((v = table_get(pol, POLICY_ALT_REGEX, s + i, j - i)) >= 0) {
			const struct policy_group *g = &pol->groups[v];
			if (g->max_rule > best) {
				if ((v = match_first(g->codes, g->n_codes, s, len)) == -2)
					return -2;
				if (v > best)
					best = v;
			}
		}
		i = j + 1;
	}
	if (pol->n_groups && pol->groups[0].max_rule > best) {
		const struct policy_group *g = &pol->groups[0];
		if ((v = match_first(g->codes, g->n_codes, s, len)) == -2)
			return -2;
		if (v > best)
			best = v;
	}
	return best;
}

long policy_match_rule(const policy *pol, const char *subject, size_t len)
{
	size_t path_len = len > 1 && subject[len - 1] == '/' ? len - 1 : len;

	return match_rules(pol, subject, len, path_len);
}

void policy_free(policy *pol)
{
	if (!pol)
		return;
	for (size_t i = 0; i < pol->n_rules; i++) {
		free(pol->rules[i].pattern);
		policy_glob_free(&pol->rules[i].glob);
	}
	free(pol->rules);
	for (size_t i = 0; i < pol->n_files; i++)
		free(pol->files[i]);
	free(pol->files);
	for (size_t i = 0; i < pol->table_cap; i++)
		free(pol->table[i].key);
	free(pol->table);
	free(pol->suffix_lens);
	free(pol->prefix_lens);
	for (size_t g = 0; g < pol->n_groups; g++) {
		for (size_t i = 0; i < pol->groups[g].n_codes; i++)
			pcre2_code_free(pol->groups[g].codes[i]);
		free(pol->groups[g].codes);
		free(pol->groups[g].frags);
	}
	free(pol->groups);
	for (size_t i = 0; i < pol->n_traverse; i++)
		pcre2_code_free(pol->traverse_re[i]);
	free(pol->traverse_re);
	for (size_t i = 0; i < pol->n_protect; i++)
		free(pol->protect[i]);
	free(pol->protect);
	free(pol);
}

static void policy_freep(policy **p)
{
	policy_free(*p);
}
#define _cleanup_policy_ __attribute__((cleanup(policy_freep)))

int policy_load_text(const char *text, size_t len, const char *file, policy **out, rls_error *err)
{
	_cleanup_policy_ policy *pol = rls_xcalloc(1, sizeof *pol);

	if (policy_parse_text(pol, text, len, file, err) < 0 || policy_compile(pol, err) < 0)
		return -1;
	*out = steal_pointer(&pol);
	return 0;
}

int policy_load(const char *spec, policy **out, rls_error *err)
{
	_cleanup_policy_ policy *pol = NULL;
	const char *text;

	if (!spec || !*spec)
		return rls_error_set(err, 0, "no policy given");
	if (!strchr(spec, '/') && (text = policy_preset_text(spec))) {
		_cleanup_free_ char *name = rls_xasprintf("preset:%s", spec);
		return policy_load_text(text, strlen(text), name, out, err);
	}
	pol = rls_xcalloc(1, sizeof *pol);
	if (policy_parse_file(pol, spec, err) < 0 || policy_compile(pol, err) < 0)
		return -1;
	*out = steal_pointer(&pol);
	return 0;
}

int policy_load_for_source(const char *spec, const char *source_root, policy **out, rls_error *err)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;

	if (spec)
		return policy_load(spec, out, err);
	path = rls_xasprintf("%s/.rls/policy.yml", source_root ? source_root : ".");
	if (lstat(path, &st) == 0)
		return policy_load(path, out, err);
	if (errno != ENOENT)
		return rls_error_set(err, errno, "%s", path);
	return policy_load("agent-safe", out, err);
}

void policy_protect(policy *pol, const char *path)
{
	size_t len;

	if (!path || !*path)
		path = "/";
	len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	for (size_t i = 0; i < pol->n_protect; i++)
		if (strlen(pol->protect[i]) == len && !memcmp(pol->protect[i], path, len))
			return;
	pol->protect = rls_xrealloc(pol->protect, (pol->n_protect + 1) * sizeof *pol->protect);
	pol->protect[pol->n_protect++] = path[0] == '/' ? rls_xstrndup(path, len)
							: rls_xasprintf("/%.*s", (int)len, path);
}

void policy_protect_files(policy *pol, const char *source)
{
	size_t sl = strlen(source);

	while (sl > 1 && source[sl - 1] == '/')
		sl--;
	for (size_t i = 0; i < pol->n_files; i++) {
		_cleanup_free_ char *real = NULL;

		if (!strncmp(pol->files[i], "preset:", 7) || !(real = realpath(pol->files[i], NULL)))
			continue;
		if (sl == 1 && source[0] == '/')
			policy_protect(pol, real);
		else if (!strncmp(real, source, sl) && real[sl] == '/')
			policy_protect(pol, real + sl);
	}
}

static bool is_protected(const policy *pol, const char *path, size_t len)
{
	for (size_t i = 0; i < pol->n_protect; i++) {
		const char *p = pol->protect[i];
		size_t n = strlen(p);

		if (n == 1)
			return true;
		if (len >= n && !memcmp(path, p, n) && (len == n || path[n] == '/'))
			return true;
	}
	return false;
}

static void fill_rule(const policy *pol, long idx, policy_decision *why)
{
	const struct policy_rule *r = &pol->rules[idx];

	why->file = r->file;
	why->line = r->line;
	why->column = r->column;
	why->pattern = r->pattern;
}

/* `subject` is the path with "/" appended for a directory; `len` excludes
 * that slash for the protection check via `path_len`. */
static policy_level decide_subject(const policy *pol, const char *subject, size_t len, size_t path_len,
				   bool is_dir, policy_decision *why, long *rule_out)
{
	policy_decision d = { .level = POLICY_NONE, .origin = POLICY_FROM_DEFAULT };
	long idx = match_rules(pol, subject, len, path_len);

	if (idx >= 0 && (size_t)idx < pol->n_rules) {
		d.level = pol->rules[idx].level;
		d.origin = POLICY_FROM_RULE;
		fill_rule(pol, idx, &d);
	} else {
		idx = -1;
	}
	if (d.level == POLICY_NONE && is_dir) {
		long t = match_first(pol->traverse_re, pol->n_traverse, subject, len);

		if (t >= 0 && (size_t)t < pol->n_rules && pol->rules[t].level > POLICY_NONE) {
			d.level = POLICY_VIEW;
			d.origin = POLICY_FROM_TRAVERSAL;
		}
	}
	if (d.level > POLICY_READ && pol->n_protect && is_protected(pol, subject, path_len)) {
		d.level = POLICY_READ;
		d.origin = POLICY_FROM_PROTECTED;
	}
	if (rule_out)
		*rule_out = idx;
	if (why)
		*why = d;
	return d.level;
}

/* Paths normally arrive normalised; the copy adds the leading "/" when it is
 * missing and the trailing "/" that marks a directory. */
static policy_level decide_parts(const policy *pol, const char *dir, const char *name, bool is_dir,
				 policy_decision *why, long *rule_out)
{
	char stack[1024];
	_cleanup_free_ char *heap = NULL;
	size_t dlen = dir ? strlen(dir) : 0, nlen = name ? strlen(name) : 0;
	size_t need = dlen + nlen + 4, len = 0, path_len;
	char *s;

	if (!name && dir && dir[0] == '/' && !is_dir)
		return decide_subject(pol, dir, dlen, dlen, is_dir, why, rule_out);
	s = need <= sizeof stack ? stack : (heap = rls_xmalloc(need));
	if (!dlen || dir[0] != '/')
		s[len++] = '/';
	memcpy(s + len, dir, dlen);
	len += dlen;
	if (nlen) {
		if (s[len - 1] != '/')
			s[len++] = '/';
		memcpy(s + len, name, nlen);
		len += nlen;
	}
	while (len > 1 && s[len - 1] == '/')
		len--;
	path_len = len;
	if (is_dir && len > 1)
		s[len++] = '/';
	s[len] = '\0';
	return decide_subject(pol, s, len, path_len, is_dir, why, rule_out);
}

policy_level policy_decide(const policy *pol, const char *path, bool is_dir, policy_decision *why)
{
	return decide_parts(pol, path ? path : "/", NULL, is_dir, why, NULL);
}

policy_level policy_decide_at(const policy *pol, const char *dir, const char *name, bool is_dir,
			      policy_decision *why)
{
	return decide_parts(pol, dir ? dir : "/", name, is_dir, why, NULL);
}

/* Lint: for each none rule, try a few paths it hides -- its own shortest
 * example, and that example placed beneath the example of each later,
 * higher rule -- and report a later rule that decides such a path above
 * none. */
#define LINT_MAX_RULES 2000

static bool rule_matches(const pcre2_code *code, const char *s)
{
	struct match_state *st = state_get();

	return pcre2_match(code, (PCRE2_SPTR)s, strlen(s), 0, 0, st->md, st->mctx) >= 0;
}

static pcre2_code *compile_one(const char *re)
{
	int errcode;
	PCRE2_SIZE off;

	return pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_ANCHORED, &errcode, &off, NULL);
}

static void lint_candidate(const policy *pol, size_t i, const pcre2_code *own, const char *cand,
			   unsigned char *reported, FILE *out, unsigned *count)
{
	size_t len = strlen(cand);
	bool is_dir = len > 1 && cand[len - 1] == '/';
	long k;

	if (!rule_matches(own, cand))
		return;
	decide_parts(pol, cand, NULL, is_dir, NULL, &k);
	if (k <= (long)i || pol->rules[k].level == POLICY_NONE || reported[k])
		return;
	reported[k] = 1;
	/* A later rule whose own example the none rule hides is carved out of
	 * it on purpose (everything none, then one folder read): not a finding. */
	for (size_t t = 0; t < pol->rules[k].glob.n_samples; t++)
		if (rule_matches(own, pol->rules[k].glob.samples[t]))
			return;
	const struct policy_rule *a = &pol->rules[i], *b = &pol->rules[k];
	fprintf(out,
		"%s:%u:%u: warning: rule '%s' (%s) overrides the earlier none rule '%s' at %s:%u "
		"(for example %s%s)\n",
		b->file, b->line, b->column, b->pattern, policy_level_name(b->level), a->pattern, a->file,
		a->line, is_dir ? "the directory " : "", cand);
	(*count)++;
}

unsigned policy_lint(const policy *pol, FILE *out)
{
	unsigned count = 0;

	if (pol->n_rules > LINT_MAX_RULES)
		return 0;
	for (size_t i = 0; i < pol->n_rules; i++) {
		const struct policy_rule *r = &pol->rules[i];
		_cleanup_free_ unsigned char *reported = NULL;
		pcre2_code *own;

		if (r->level != POLICY_NONE)
			continue;
		own = compile_one(r->glob.full);
		if (!own)
			continue;
		reported = rls_xcalloc(pol->n_rules, 1);
		for (size_t s = 0; s < r->glob.n_samples; s++) {
			const char *sample = r->glob.samples[s];

			lint_candidate(pol, i, own, sample, reported, out, &count);
			for (size_t j = i + 1; j < pol->n_rules; j++) {
				const struct policy_rule *later = &pol->rules[j];

				if (later->level == POLICY_NONE)
					continue;
				for (size_t t = 0; t < later->glob.n_samples; t++) {
					const char *base = later->glob.samples[t];
					size_t blen = strlen(base);
					_cleanup_free_ char *cand = NULL;

					while (blen && base[blen - 1] == '/')
						blen--;
					cand = rls_xasprintf("%.*s%s", (int)blen, base, sample);
					lint_candidate(pol, i, own, cand, reported, out, &count);
				}
			}
		}
		pcre2_code_free(own);
	}
	return count;
}

unsigned long long policy_fingerprint(const policy *pol)
{
	/* FNV-1a over the rules that decide, not where they were read from. */
	unsigned long long h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < pol->n_rules; i++) {
		const char *p = pol->rules[i].pattern;
		size_t n = strlen(p) + 1;

		for (size_t k = 0; k < n; k++)
			h = (h ^ (unsigned char)p[k]) * 0x100000001b3ULL;
		h = (h ^ (unsigned)pol->rules[i].level) * 0x100000001b3ULL;
	}
	return h;
}
