/* glob.c - translate a policy glob into pcre2 regular expressions.
 *
 * Braces are expanded first, so that each alternative is anchored on its own
 * (braces holding "*.key" and "/etc/x" give one basename glob and one rooted one).  Each
 * alternative is then cut into segments; a glob without a '/' before its end
 * gets an implicit leading "**".  Segments become "/SEG" regexes, "**"
 * becomes any number of whole "/name" segments.  The subject always starts
 * with "/" and a directory subject ends with "/", which lets "build/" (dirs
 * only, and all beneath) be a plain prefix match.
 */
#include "internal.h"

#include <ctype.h>

struct strv {
	char **v;
	size_t n, cap;
};

static void strv_push(struct strv *sv, char *s)
{
	if (sv->n == sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 8;
		sv->v = rls_xrealloc(sv->v, sv->cap * sizeof *sv->v);
	}
	sv->v[sv->n++] = s;
}

static void strv_clear(struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	*sv = (struct strv){ 0 };
}

static const char *const posix_classes[] = {
	"alnum", "alpha", "blank", "cntrl", "digit", "graph",
	"lower", "print", "punct", "space", "upper", "xdigit",
};

/* If s[i] starts "[:name:]", its length, else 0. */
static size_t posix_class_len(const char *s, size_t len, size_t i)
{
	if (i + 1 >= len || s[i] != '[' || s[i + 1] != ':')
		return 0;
	for (size_t j = i + 2; j + 1 < len; j++)
		if (s[j] == ':' && s[j + 1] == ']')
			return j + 2 - i;
	return 0;
}

/* Index of the ']' closing the class opened at s[i], or len. */
static size_t class_end(const char *s, size_t len, size_t i)
{
	size_t j = i + 1;
	size_t p;

	if (j < len && (s[j] == '!' || s[j] == '^'))
		j++;
	if (j < len && s[j] == ']')
		j++;
	while (j < len && s[j] != ']') {
		if (s[j] == '\\')
			j += 2;
		else if ((p = posix_class_len(s, len, j)))
			j += p;
		else
			j++;
	}
	return j < len ? j : len;
}

/* Structural check on the pattern as written, so errors point into it. */
static int check_syntax(const char *s, size_t len, size_t *offset, rls_error *err)
{
	size_t open[64];
	size_t depth = 0, unmatched_deep = 0;

	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case '\0':
			*offset = i;
			return rls_error_set(err, 0, "NUL byte in pattern");
		case '\\':
			if (i + 1 >= len) {
				*offset = i;
				return rls_error_set(err, 0, "trailing '\\' escapes nothing");
			}
			i++;
			break;
		case '[':
			if (class_end(s, len, i) >= len) {
				*offset = i;
				return rls_error_set(err, 0, "unterminated '[' (character class)");
			}
			i = class_end(s, len, i);
			break;
		case '{':
			if (depth < RLS_ARRAY_SIZE(open))
				open[depth] = i;
			else
				unmatched_deep++;
			depth++;
			break;
		case '}':
			if (depth)
				depth--;
			break;
		}
	}
	if (depth) {
		*offset = depth <= RLS_ARRAY_SIZE(open) ? open[depth - 1] : open[RLS_ARRAY_SIZE(open) - 1];
		return rls_error_set(err, 0, "unterminated '{' (alternatives)");
	}
	(void)unmatched_deep;
	return 0;
}

/* Expand the first top-level {a,b,...} of s and recurse on each result. */
static int expand_braces(const char *s, size_t len, struct strv *out, rls_error *err)
{
	size_t open = len, close = len, depth = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\\') {
			i++;
		} else if (s[i] == '[') {
			i = class_end(s, len, i);
		} else if (s[i] == '{') {
			if (depth++ == 0)
				open = i;
		} else if (s[i] == '}' && depth) {
			if (--depth == 0) {
				close = i;
				break;
			}
		}
	}
	if (open == len || close == len) {
		if (out->n >= POLICY_MAX_ALTERNATIVES)
			return rls_error_set(err, 0, "braces expand to more than %d alternatives",
					     POLICY_MAX_ALTERNATIVES);
		strv_push(out, rls_xstrndup(s, len));
		return 0;
	}

	size_t start = open + 1;
	depth = 0;
	for (i = open + 1; i <= close; i++) {
		if (i < close && s[i] == '\\') {
			i++;
			continue;
		}
		if (i < close && s[i] == '[') {
			i = class_end(s, len, i);
			continue;
		}
		if (i < close && s[i] == '{')
			depth++;
		else if (i < close && s[i] == '}')
			depth--;
		if (i == close || (s[i] == ',' && depth == 0)) {
			_cleanup_buf_ rls_buf b = { 0 };

			rls_buf_add(&b, s, open);
			rls_buf_add(&b, s + start, i - start);
			rls_buf_add(&b, s + close + 1, len - close - 1);
			if (expand_braces(b.data, b.len, out, err) < 0)
				return -1;
			start = i + 1;
		}
	}
	return 0;
}

static void add_literal(rls_buf *re, unsigned char c)
{
	if (isalnum(c) || c == '_' || c == '/')
		rls_buf_addc(re, (char)c);
	else if (c >= 0x20 && c < 0x7f)
		rls_buf_printf(re, "\\%c", c);
	else
		rls_buf_printf(re, "\\x%02x", c);
}

/* A character class at s[i] (s[end] is its ']'), never matching '/'. */
static int add_class(rls_buf *re, rls_buf *sample, const char *s, size_t i, size_t end, rls_error *err)
{
	bool negate = false, slash = false, posix = false;
	unsigned char set[256] = { 0 };
	_cleanup_buf_ rls_buf body = { 0 };
	size_t j = i + 1;
	int first = -1;

	if (s[j] == '!' || s[j] == '^') {
		negate = true;
		j++;
	}
	for (bool lead = true; j < end; lead = false) {
		size_t p = posix_class_len(s, end + 1, j);
		unsigned char lo, hi;

		if (p && !lead) {
			bool known = false;
			for (size_t k = 0; k < RLS_ARRAY_SIZE(posix_classes); k++)
				if (p - 4 == strlen(posix_classes[k]) &&
				    !memcmp(s + j + 2, posix_classes[k], p - 4))
					known = true;
			if (!known)
				return rls_error_set(err, 0, "unknown character class '%.*s'", (int)p, s + j);
			rls_buf_add(&body, s + j, p);
			posix = true;
			j += p;
			continue;
		}
		if (p && lead) {
			/* "[[:alpha:]]": the lead ']' rule does not apply to '['. */
			lead = false;
			continue;
		}
		if (s[j] == '\\')
			j++;
		lo = (unsigned char)s[j++];
		hi = lo;
		if (j + 1 < end && s[j] == '-') {
			size_t k = j + 1;
			if (s[k] == '\\')
				k++;
			hi = (unsigned char)s[k];
			j = k + 1;
			if (hi < lo)
				return rls_error_set(err, 0, "range '%c-%c' is out of order", lo, hi);
		}
		for (unsigned c = lo; c <= hi; c++)
			set[c] = 1;
		if (lo <= '/' && '/' <= hi)
			slash = true;
		if (first < 0 && lo != '/')
			first = lo;
		else if (first < 0 && hi > '/')
			first = '/' + 1;
		if (lo == hi)
			rls_buf_printf(&body, "\\x%02x", lo);
		else
			rls_buf_printf(&body, "\\x%02x-\\x%02x", lo, hi);
	}

	if (negate) {
		rls_buf_printf(re, "[^/%s]", body.data ? body.data : "");
		for (const char *c = "xaz09_-.XAZ"; *c; c++)
			if (!set[(unsigned char)*c]) {
				rls_buf_addc(sample, *c);
				return 0;
			}
		rls_buf_addc(sample, '~');
		return 0;
	}
	if (slash || posix)
		rls_buf_adds(re, "(?!/)");
	rls_buf_printf(re, "[%s]", body.data ? body.data : "");
	rls_buf_addc(sample, first >= 0 ? (char)first : 'a');
	return 0;
}

/* One segment (no '/' outside classes, not "**"). */
static int add_segment(rls_buf *re, rls_buf *sample, const char *s, size_t len, rls_error *err)
{
	bool only_stars = true;
	size_t sample_start = sample->len;

	for (size_t i = 0; i < len; i++)
		if (s[i] != '*')
			only_stars = false;
	/* A lone "*" must not match the empty name after a directory's "/". */
	if (only_stars)
		rls_buf_adds(re, "(?=[^/])");
	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case '*':
			while (i + 1 < len && s[i + 1] == '*')
				i++;
			rls_buf_adds(re, "[^/]*");
			break;
		case '?':
			rls_buf_adds(re, "[^/]");
			rls_buf_addc(sample, 'x');
			break;
		case '[': {
			size_t end = class_end(s, len, i);
			if (add_class(re, sample, s, i, end, err) < 0)
				return -1;
			i = end;
			break;
		}
		case '\\':
			i++;
			/* fallthrough */
		default:
			add_literal(re, (unsigned char)s[i]);
			rls_buf_addc(sample, s[i]);
			break;
		}
	}
	if (sample->len == sample_start)
		rls_buf_addc(sample, 'x');
	return 0;
}

/* Split an alternative into segments at each '/' outside a class. */
static void split_segments(const char *s, size_t len, struct strv *out)
{
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] == '\\') {
			i++;
			continue;
		}
		if (i < len && s[i] == '[') {
			i = class_end(s, len, i);
			continue;
		}
		if (i == len || s[i] == '/') {
			strv_push(out, rls_xstrndup(s + start, i - start));
			start = i + 1;
		}
	}
}

#define ANY_SEGMENTS "(?:/[^/]++)*"

static bool is_globstar(const char *seg)
{
	return !strcmp(seg, "**");
}

/* The unescaped text of a segment without wildcards, or NULL. */
static char *literal_of(const char *s, size_t len)
{
	rls_buf b = { 0 };

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '*' || s[i] == '?' || s[i] == '[') {
			rls_buf_free(&b);
			return NULL;
		}
		if (s[i] == '\\')
			i++;
		rls_buf_addc(&b, s[i]);
	}
	if (!b.data)
		rls_buf_add(&b, "", 0);
	return b.data;
}

static void classify(struct strv *segs, bool dir_only, struct policy_alt *a)
{
	const char *last = segs->v[segs->n - 1];
	size_t n = strlen(last);
	size_t best = 0;

	if (segs->n == 1 && is_globstar(last) && !dir_only) {
		a->kind = POLICY_ALT_ALL;
		return;
	}
	if (segs->n == 2 && is_globstar(segs->v[0]) && !dir_only && n) {
		if ((a->lit = literal_of(last, n))) {
			a->kind = POLICY_ALT_NAME;
			return;
		}
		if (n > 1 && last[0] == '*' && (a->lit = literal_of(last + 1, n - 1))) {
			a->kind = POLICY_ALT_SUFFIX;
			return;
		}
		if (n > 1 && last[n - 1] == '*' && !(n > 2 && last[n - 2] == '\\') &&
		    (a->lit = literal_of(last, n - 1))) {
			a->kind = POLICY_ALT_PREFIX;
			return;
		}
	}
	a->kind = POLICY_ALT_REGEX;
	for (size_t i = 0; i < segs->n; i++) {
		char *lit = is_globstar(segs->v[i]) ? NULL : literal_of(segs->v[i], strlen(segs->v[i]));

		if (lit && strlen(lit) >= best) {
			best = strlen(lit);
			free(a->key);
			a->key = lit;
		} else {
			free(lit);
		}
	}
}

static int compile_alternative(const char *alt, rls_buf *full, rls_buf *prefix, rls_buf *cover,
			       struct strv *samples, struct policy_alt *info, rls_error *err)
{
	size_t len = strlen(alt);
	bool dir_only = false, anchored = false;
	struct strv segs = { 0 };
	_cleanup_buf_ rls_buf re = { 0 };
	_cleanup_buf_ rls_buf tree = { 0 };
	_cleanup_buf_ rls_buf pre = { 0 };
	_cleanup_buf_ rls_buf sample = { 0 };
	rls_buf *seg_re;
	size_t open = 0;
	int r = -1;

	if (len && alt[len - 1] == '/' && !(len >= 2 && alt[len - 2] == '\\')) {
		dir_only = true;
		len--;
	}
	for (size_t i = 0; i < len; i++) {
		if (alt[i] == '\\')
			i++;
		else if (alt[i] == '[')
			i = class_end(alt, len, i);
		else if (alt[i] == '/')
			anchored = true;
	}
	if (len && alt[0] == '/') {
		alt++;
		len--;
	}
	if (!len) {
		rls_error_set(err, 0, "empty pattern");
		goto out;
	}
	if (!anchored)
		strv_push(&segs, rls_xstrdup("**"));
	split_segments(alt, len, &segs);

	/* Collapse "**" runs: they mean the same and would only backtrack. */
	size_t n = 0;
	for (size_t i = 0; i < segs.n; i++) {
		const char *seg = segs.v[i];
		if (!*seg) {
			rls_error_set(err, 0, "empty path segment ('//')");
			goto out;
		}
		if (!strcmp(seg, ".") || !strcmp(seg, "..")) {
			rls_error_set(err, 0, "'%s' segments are not allowed", seg);
			goto out;
		}
		if (n && is_globstar(seg) && is_globstar(segs.v[n - 1])) {
			free(segs.v[i]);
			continue;
		}
		segs.v[n++] = segs.v[i];
	}
	segs.n = n;

	/* The whole path: each segment, then the end of the name (a trailing
	 * "/" is there when the subject is a directory).  `tree` is the same
	 * glob allowed to stop at any directory on the way: it matches the
	 * paths beneath a match too. */
	for (size_t i = 0; i < segs.n; i++) {
		if (is_globstar(segs.v[i])) {
			/* "**" then one last segment (every basename glob): skip
			 * straight to the last name, possessively, instead of
			 * backtracking over every segment.  Not in `tree`, where
			 * the last segment may match a name higher up. */
			if (i + 2 == segs.n && !dir_only)
				rls_buf_adds(&re, "(?:/[^/]++(?=/[^/]))*+");
			else
				rls_buf_adds(&re, ANY_SEGMENTS);
			rls_buf_adds(&tree, ANY_SEGMENTS);
			continue;
		}
		size_t at = re.len;

		rls_buf_addc(&re, '/');
		rls_buf_addc(&sample, '/');
		if (add_segment(&re, &sample, segs.v[i], strlen(segs.v[i]), err) < 0)
			goto out;
		rls_buf_add(&tree, re.data + at, re.len - at);
	}
	rls_buf_adds(&re, dir_only ? "/" : "/?\\z");
	rls_buf_adds(&tree, dir_only ? "/" : "(?:/|\\z)");
	classify(&segs, dir_only, info);
	if (info->kind == POLICY_ALT_REGEX) {
		info->re = rls_xstrndup(re.data, re.len);
		info->tree = rls_xstrndup(tree.data, tree.len);
	}

	/* Directories beneath which the glob could match: a prefix of its
	 * segments, with the last one never consumed (something must remain
	 * beneath), or anything once a "**" is reached. */
	if (dir_only && !is_globstar(segs.v[segs.n - 1]))
		strv_push(&segs, rls_xstrdup("**"));
	for (size_t i = 0; i < segs.n; i++) {
		_cleanup_buf_ rls_buf ignore = { 0 };

		if (is_globstar(segs.v[i])) {
			rls_buf_adds(&pre, ANY_SEGMENTS);
			break;
		}
		if (i + 1 == segs.n)
			break;
		rls_buf_adds(&pre, "(?:/");
		seg_re = &pre;
		if (add_segment(seg_re, &ignore, segs.v[i], strlen(segs.v[i]), err) < 0)
			goto out;
		open++;
	}
	while (open--)
		rls_buf_adds(&pre, ")?");
	rls_buf_adds(&pre, "/\\z");

	if (full->len)
		rls_buf_addc(full, '|');
	rls_buf_add(full, re.data, re.len);
	if (prefix->len)
		rls_buf_addc(prefix, '|');
	rls_buf_add(prefix, pre.data, pre.len);
	if (dir_only || is_globstar(segs.v[segs.n - 1])) {
		if (cover->len)
			rls_buf_addc(cover, '|');
		rls_buf_add(cover, re.data, re.len);
	}
	if (!sample.len || dir_only)
		rls_buf_addc(&sample, '/');
	strv_push(samples, steal_pointer(&sample.data));
	r = 0;
out:
	strv_clear(&segs);
	return r;
}

int policy_glob_compile(const char *pattern, size_t len, struct policy_glob *out, size_t *offset,
			rls_error *err)
{
	struct strv alts = { 0 }, samples = { 0 };
	_cleanup_buf_ rls_buf full = { 0 };
	_cleanup_buf_ rls_buf prefix = { 0 };
	_cleanup_buf_ rls_buf cover = { 0 };
	int r = -1;

	*offset = 0;
	*out = (struct policy_glob){ 0 };
	if (len > POLICY_MAX_PATTERN)
		return rls_error_set(err, 0, "pattern longer than %d bytes", POLICY_MAX_PATTERN);
	if (!len)
		return rls_error_set(err, 0, "empty pattern");
	if (check_syntax(pattern, len, offset, err) < 0)
		return -1;
	if (expand_braces(pattern, len, &alts, err) < 0)
		goto out;
	out->alts = rls_xcalloc(alts.n, sizeof *out->alts);
	out->n_alts = alts.n;
	for (size_t i = 0; i < alts.n; i++)
		if (compile_alternative(alts.v[i], &full, &prefix, &cover, &samples, &out->alts[i], err) < 0) {
			if (alts.n > 1)
				rls_error_prefix(err, "in alternative '%s'", alts.v[i]);
			goto out;
		}

	out->full = rls_xasprintf("(?:%s)", full.data);
	out->prefix = rls_xasprintf("(?:%s)", prefix.data);
	out->cover = cover.len ? rls_xasprintf("(?:%s)", cover.data) : NULL;
	out->samples = steal_pointer(&samples.v);
	out->n_samples = samples.n;
	samples.n = 0;
	r = 0;
out:
	strv_clear(&alts);
	strv_clear(&samples);
	if (r < 0)
		policy_glob_free(out);
	return r;
}

void policy_glob_free(struct policy_glob *g)
{
	free(g->full);
	free(g->prefix);
	free(g->cover);
	for (size_t i = 0; i < g->n_samples; i++)
		free(g->samples[i]);
	free(g->samples);
	for (size_t i = 0; i < g->n_alts; i++) {
		free(g->alts[i].lit);
		free(g->alts[i].key);
		free(g->alts[i].re);
		free(g->alts[i].tree);
	}
	free(g->alts);
	*g = (struct policy_glob){ 0 };
}
