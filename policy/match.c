/* match.c - which of a list of globs is the last to match a path.
 *
 * The rules, the hide list and the protect list each get one matcher.
 * Basename globs of the common shapes are hash lookups on a name, behind a
 * filter of the names' first (or last) two bytes, so that most names cost
 * a bit test.  The rest are regexes: every entry's regex is an alternative
 * of one combined pattern, in reverse order, each behind (*MARK:index);
 * the first alternative that matches belongs to the last entry that
 * matches, and pcre2_get_mark() names it.  The combined patterns are
 * grouped by a literal segment the path must contain and JIT-compiled;
 * each thread keeps its own match data and JIT stack, so matching needs
 * no lock.
 */
#include "internal.h"

#include <pthread.h>

#define MATCH_LIMIT 1000000
#define JIT_STACK_MAX (1u << 20)

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

long policy_match_first(pcre2_code *const *codes, size_t n, const char *s, size_t len)
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

bool policy_regex_matches(const pcre2_code *code, const char *s)
{
	struct match_state *st = state_get();

	return pcre2_match(code, (PCRE2_SPTR)s, strlen(s), 0, 0, st->md, st->mctx) >= 0;
}

int policy_compile_regexes(const struct policy_fragment *f, size_t n, pcre2_code ***codes, size_t *n_codes,
			   const struct policy_rules *list, bool jit, rls_error *err)
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
		/* pcre2 with the default link size caps a compiled pattern at
		 * 64 KiB; a larger list is split into several patterns. */
		if (n > 1) {
			size_t half = n / 2;
			if (policy_compile_regexes(f, half, codes, n_codes, list, jit, err) < 0)
				return -1;
			return policy_compile_regexes(f + half, n - half, codes, n_codes, list, jit, err);
		}
		const struct policy_rule *r = &list->v[f[0].rule];
		PCRE2_UCHAR msg[256];

		pcre2_get_error_message(errcode, msg, sizeof msg);
		return rls_error_set(err, 0, "%s:%u:%u: pattern '%s' cannot be compiled: %s", r->file,
				     r->line, r->column, r->pattern, (const char *)msg);
	}
	/* Without JIT the interpreter still gives the same answers, slower. */
	if (jit)
		(void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	*codes = rls_xrealloc(*codes, (*n_codes + 1) * sizeof **codes);
	(*codes)[(*n_codes)++] = code;
	return 0;
}

/* ---- the literal table -------------------------------------------------- */

static uint64_t hash_key(int kind, const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)kind;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

static struct policy_entry *table_find(const struct policy_matcher *m, int kind, const char *s, size_t len)
{
	size_t mask = m->table_cap - 1;

	if (!m->table_cap)
		return NULL;
	for (size_t i = hash_key(kind, s, len) & mask;; i = (i + 1) & mask) {
		struct policy_entry *e = &m->table[i];

		if (!e->key)
			return e;
		if (e->kind == kind && e->len == len && !memcmp(e->key, s, len))
			return e;
	}
}

static long table_get(const struct policy_matcher *m, int kind, const char *s, size_t len)
{
	const struct policy_entry *e = table_find(m, kind, s, len);

	return e && e->key ? e->value : -1;
}

/* The entry for (kind, s), created with `value` when new. */
static struct policy_entry *table_put(struct policy_matcher *m, int kind, const char *s, long value)
{
	size_t len = strlen(s);
	struct policy_entry *e;

	if (2 * (m->table_n + 1) > m->table_cap) {
		struct policy_entry *old = m->table;
		size_t old_cap = m->table_cap;

		m->table_cap = old_cap ? old_cap * 2 : 64;
		m->table = rls_xcalloc(m->table_cap, sizeof *m->table);
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].key)
				*table_find(m, old[i].kind, old[i].key, old[i].len) = old[i];
		free(old);
	}
	e = table_find(m, kind, s, len);
	if (!e->key) {
		*e = (struct policy_entry){ rls_xstrdup(s), len, kind, value };
		m->table_n++;
	}
	return e;
}

/* ---- the filters --------------------------------------------------------- */

static inline unsigned filter_bit(unsigned char a, unsigned char b)
{
	return ((unsigned)a << 4 ^ b) & (POLICY_FILTER_BITS - 1);
}

static inline bool filter_has(const unsigned char *f, unsigned bit)
{
	return f[bit >> 3] & (1u << (bit & 7));
}

static inline void filter_set(unsigned char *f, unsigned bit)
{
	f[bit >> 3] |= (unsigned char)(1u << (bit & 7));
}

/* A name's head: its first byte and the second (0 for a 1-byte name). */
static inline unsigned head_bit(const char *s, size_t len)
{
	return filter_bit((unsigned char)s[0], len > 1 ? (unsigned char)s[1] : 0);
}

static inline unsigned tail_bit(const char *s, size_t len)
{
	return filter_bit((unsigned char)s[len - 1], len > 1 ? (unsigned char)s[len - 2] : 0);
}

static void filter_add(struct policy_matcher *m, const struct policy_alt *alt)
{
	size_t n = strlen(alt->lit);

	switch (alt->kind) {
	case POLICY_ALT_NAME:
		filter_set(m->head, head_bit(alt->lit, n));
		break;
	case POLICY_ALT_PREFIX:
		if (n < 2)
			m->head_off = true;
		else
			filter_set(m->head, head_bit(alt->lit, n));
		break;
	case POLICY_ALT_SUFFIX:
		if (n < 2)
			m->tail_off = true;
		else
			filter_set(m->tail, tail_bit(alt->lit, n));
		break;
	default:
		break;
	}
}

/* ---- building ------------------------------------------------------------ */

static void add_len(size_t **lens, size_t *n, size_t len)
{
	for (size_t i = 0; i < *n; i++)
		if ((*lens)[i] == len)
			return;
	*lens = rls_xrealloc(*lens, (*n + 1) * sizeof **lens);
	(*lens)[(*n)++] = len;
}

static size_t new_group(struct policy_matcher *m)
{
	m->groups = rls_xrealloc(m->groups, (m->n_groups + 1) * sizeof *m->groups);
	m->groups[m->n_groups] = (struct policy_group){ .max_rule = -1 };
	return m->n_groups++;
}

int policy_matcher_build(struct policy_matcher *m, const struct policy_rules *list, bool tree, bool jit,
			 rls_error *err)
{
	m->list = list;
	m->tree = tree;
	m->all = -1;
	new_group(m);	/* group 0: regexes without a key segment */
	/* Highest entry first, so that each literal keeps the last entry and
	 * each group's alternatives come in evaluation order. */
	for (size_t i = list->n; i-- > 0;) {
		const struct policy_glob *g = &list->v[i].glob;

		for (size_t a = 0; a < g->n_alts; a++) {
			const struct policy_alt *alt = &g->alts[a];
			struct policy_group *grp;
			size_t gi = 0;

			if (alt->kind == POLICY_ALT_ALL) {
				if (m->all < (long)i)
					m->all = (long)i;
				continue;
			}
			if (alt->kind != POLICY_ALT_REGEX) {
				table_put(m, alt->kind, alt->lit, (long)i);
				filter_add(m, alt);
				if (alt->kind == POLICY_ALT_SUFFIX)
					add_len(&m->suffix_lens, &m->n_suffix_lens, strlen(alt->lit));
				else if (alt->kind == POLICY_ALT_PREFIX)
					add_len(&m->prefix_lens, &m->n_prefix_lens, strlen(alt->lit));
				continue;
			}
			if (alt->key) {
				size_t klen = strlen(alt->key);
				long v = table_get(m, POLICY_ALT_REGEX, alt->key, klen);

				if (v < 0) {
					v = (long)new_group(m);
					table_put(m, POLICY_ALT_REGEX, alt->key, v);
					/* an empty key cannot be: literal_of never
					 * yields one for a segment of a valid glob */
					if (klen)
						filter_set(m->keys, head_bit(alt->key, klen));
				}
				gi = (size_t)v;
			}
			grp = &m->groups[gi];
			grp->frags = rls_xrealloc(grp->frags, (grp->n_frags + 1) * sizeof *grp->frags);
			grp->frags[grp->n_frags].rule = i;
			grp->frags[grp->n_frags].re = tree ? alt->tree : alt->re;
			grp->n_frags++;
		}
	}
	for (size_t gi = 0; gi < m->n_groups; gi++) {
		struct policy_group *grp = &m->groups[gi];
		int r = 0;

		if (grp->n_frags) {
			grp->max_rule = (long)grp->frags[0].rule;
			r = policy_compile_regexes(grp->frags, grp->n_frags, &grp->codes, &grp->n_codes, list,
						   jit, err);
		}
		free(grp->frags);
		grp->frags = NULL;
		if (r < 0)
			return -1;
	}
	return 0;
}

void policy_matcher_free(struct policy_matcher *m)
{
	for (size_t i = 0; i < m->table_cap; i++)
		free(m->table[i].key);
	free(m->table);
	free(m->suffix_lens);
	free(m->prefix_lens);
	for (size_t g = 0; g < m->n_groups; g++) {
		for (size_t i = 0; i < m->groups[g].n_codes; i++)
			pcre2_code_free(m->groups[g].codes[i]);
		free(m->groups[g].codes);
		free(m->groups[g].frags);
	}
	free(m->groups);
	*m = (struct policy_matcher){ 0 };
}

/* ---- matching ------------------------------------------------------------ */

void policy_subject_init(struct policy_subject *sub, const char *s, size_t len, size_t path_len)
{
	size_t cap = RLS_ARRAY_SIZE(sub->some);

	sub->s = s;
	sub->len = len;
	sub->path_len = path_len;
	sub->names = sub->some;
	sub->n_names = 0;
	for (size_t i = 1; i < path_len;) {
		const char *slash = memchr(s + i, '/', path_len - i);
		size_t j = slash ? (size_t)(slash - s) : path_len;

		if (j > i) {
			if (sub->n_names == cap) {
				struct policy_name *more = rls_xmalloc(2 * cap * sizeof *more);

				memcpy(more, sub->names, cap * sizeof *more);
				if (sub->names != sub->some)
					free(sub->names);
				sub->names = more;
				cap *= 2;
			}
			sub->names[sub->n_names++] = (struct policy_name){
				(uint32_t)i, (uint32_t)(j - i), (uint16_t)head_bit(s + i, j - i),
				(uint16_t)tail_bit(s + i, j - i),
			};
		}
		i = j + 1;
	}
}

void policy_subject_done(struct policy_subject *sub)
{
	if (sub->names != sub->some)
		free(sub->names);
	sub->names = NULL;
}

/* The last basename literal matching the name n of the subject. */
static long match_name(const struct policy_matcher *m, const char *s, const struct policy_name *n, long best)
{
	const char *base = s + n->at;
	size_t blen = n->len;
	long v;

	if (m->head_off || filter_has(m->head, n->head)) {
		if ((v = table_get(m, POLICY_ALT_NAME, base, blen)) > best)
			best = v;
		for (size_t i = 0; i < m->n_prefix_lens; i++) {
			size_t l = m->prefix_lens[i];
			if (l <= blen && (v = table_get(m, POLICY_ALT_PREFIX, base, l)) > best)
				best = v;
		}
	}
	if (m->n_suffix_lens && (m->tail_off || filter_has(m->tail, n->tail))) {
		for (size_t i = 0; i < m->n_suffix_lens; i++) {
			size_t l = m->suffix_lens[i];
			if (l <= blen && (v = table_get(m, POLICY_ALT_SUFFIX, base + blen - l, l)) > best)
				best = v;
		}
	}
	return best;
}

long policy_matcher_match(const struct policy_matcher *m, const struct policy_subject *sub)
{
	const char *s = sub->s;
	long best = m->all, v;

	if (!m->list || !m->list->n)
		return -1;
	/* Each name of the path: the regex group keyed by it, and (the last
	 * name, or every name for a tree matcher) the basename literals. */
	for (size_t k = 0; k < sub->n_names; k++) {
		const struct policy_name *n = &sub->names[k];

		if ((m->tree || k + 1 == sub->n_names) && m->table_n)
			best = match_name(m, s, n, best);
		if (filter_has(m->keys, n->head) && (v = table_get(m, POLICY_ALT_REGEX, s + n->at, n->len)) >= 0) {
			const struct policy_group *g = &m->groups[v];

			if (g->max_rule > best) {
				if ((v = policy_match_first(g->codes, g->n_codes, s, sub->len)) == -2)
					return -2;
				if (v > best)
					best = v;
			}
		}
	}
	if (m->n_groups && m->groups[0].max_rule > best) {
		const struct policy_group *g = &m->groups[0];
		if ((v = policy_match_first(g->codes, g->n_codes, s, sub->len)) == -2)
			return -2;
		if (v > best)
			best = v;
	}
	return best;
}
