/* policy.c - loading, decisions, protection, fingerprint.
 *
 * A decision is made in this order: the last matching rule (match.c), then
 * implicit traversal for a folder the rules hide, then the clamps to read
 * (the protect list, and the paths rlsfs protects: the policy's own files
 * and .rls/), then the hide list, which hides whatever came before.  The
 * later steps are skipped when they cannot change the level, so a path no
 * list could touch costs one rule match.
 */
#include "internal.h"

#include <limits.h>
#include <sys/stat.h>

/* How many symlinks protect_walk follows for one name, as the kernel's
 * MAXSYMLINKS. */
#define MAX_SYMLINKS 40

static int compile_traversal(policy *pol, rls_error *err)
{
	_cleanup_free_ struct policy_fragment *f = rls_xcalloc(pol->rules.n + 1, sizeof *f);
	size_t n = 0;

	for (size_t i = pol->rules.n; i-- > 0;) {
		const struct policy_rule *r = &pol->rules.v[i];
		const char *re = r->level > POLICY_NONE ? r->glob.prefix : r->glob.cover;

		if (re)
			f[n++] = (struct policy_fragment){ i, re };
	}
	if (!n)
		return 0;
	return policy_compile_regexes(f, n, &pol->traverse_re, &pol->n_traverse, &pol->rules, !pol->interpret, err);
}

int policy_compile(policy *pol, rls_error *err)
{
	bool jit = !pol->interpret;

	if (policy_matcher_build(&pol->match, &pol->rules, false, jit, err) < 0 ||
	    policy_matcher_build(&pol->hide_match, &pol->hide, true, jit, err) < 0 ||
	    policy_matcher_build(&pol->protect_match, &pol->protect, false, jit, err) < 0)
		return -1;
	return compile_traversal(pol, err);
}

void policy_free(policy *pol)
{
	if (!pol)
		return;
	policy_matcher_free(&pol->match);
	policy_matcher_free(&pol->hide_match);
	policy_matcher_free(&pol->protect_match);
	policy_rules_clear(&pol->rules);
	policy_rules_clear(&pol->hide);
	policy_rules_clear(&pol->protect);
	for (size_t i = 0; i < pol->n_files; i++)
		free(pol->files[i]);
	free(pol->files);
	free(pol->root);
	policy_texts_free(pol->texts, pol->n_texts);
	for (size_t i = 0; i < pol->n_traverse; i++)
		pcre2_code_free(pol->traverse_re[i]);
	free(pol->traverse_re);
	for (size_t i = 0; i < pol->n_protected; i++)
		free(pol->protected[i].path);
	free(pol->protected);
	for (size_t i = 0; i < pol->n_notes; i++)
		free(pol->notes[i].pattern);
	free(pol->notes);
	free(pol);
}

static void policy_freep(policy **p)
{
	policy_free(*p);
}
#define _cleanup_policy_ __attribute__((cleanup(policy_freep)))

static int load_text(const char *text, size_t len, const char *file, bool interpret, policy **out,
		     rls_error *err)
{
	_cleanup_policy_ policy *pol = rls_xcalloc(1, sizeof *pol);

	pol->interpret = interpret;
	if (policy_parse_text(pol, text, len, file, err) < 0 || policy_compile(pol, err) < 0)
		return -1;
	*out = steal_pointer(&pol);
	return 0;
}

int policy_load_text(const char *text, size_t len, const char *file, policy **out, rls_error *err)
{
	return load_text(text, len, file, false, out, err);
}

static int load(const char *spec, bool interpret, policy **out, rls_error *err)
{
	_cleanup_policy_ policy *pol = NULL;
	const char *text;

	if (!spec || !*spec)
		return rls_error_set(err, 0, "no policy given");
	if (!strchr(spec, '/') && (text = policy_preset_text(spec))) {
		_cleanup_free_ char *name = rls_xasprintf("preset:%s", spec);

		if (load_text(text, strlen(text), name, interpret, &pol, err) < 0)
			return -1;
	} else {
		if (!strpbrk(spec, "/.") && access(spec, F_OK) < 0 && errno == ENOENT) {
			_cleanup_buf_ rls_buf names = { 0 };

			policy_preset_list(&names);
			return rls_error_set(err, 0, "no preset '%s' (the presets: %s), nor a file of that name",
					     spec, names.data);
		}
		pol = rls_xcalloc(1, sizeof *pol);
		pol->interpret = interpret;
		if (policy_parse_file(pol, spec, err) < 0 || policy_compile(pol, err) < 0)
			return -1;
	}
	pol->root = rls_xstrdup(spec);
	*out = steal_pointer(&pol);
	return 0;
}

int policy_load(const char *spec, policy **out, rls_error *err)
{
	return load(spec, false, out, err);
}

char *policy_resolve_spec(const char *spec, const char *source)
{
	_cleanup_free_ char *local = NULL;
	char cwd[PATH_MAX];

	if (!spec) {
		local = rls_xasprintf("%s/.rls/policy.yml", source);
		if (access(local, F_OK) == 0)
			return steal_pointer(&local);
		return rls_xstrdup("agent-safe");
	}
	if (!strchr(spec, '/') && policy_preset_text(spec))
		return rls_xstrdup(spec);
	if (spec[0] == '/' || !getcwd(cwd, sizeof cwd))
		return rls_xstrdup(spec);
	return rls_xasprintf("%s/%s", strcmp(cwd, "/") ? cwd : "", spec);
}

/* The spec a run over source_root applies: `spec`, else the tree's own
 * policy file, else the agent-safe preset.  *path owns the file's name. */
static int pick_for_source(const char *spec, const char *source_root, const char **pick, char **path,
			   rls_error *err)
{
	struct stat st;

	*pick = spec;
	if (spec)
		return 0;
	*path = rls_xasprintf("%s/.rls/policy.yml", source_root ? source_root : ".");
	if (lstat(*path, &st) == 0) {
		*pick = *path;
		return 0;
	}
	if (errno != ENOENT)
		return rls_error_set(err, errno, "%s", *path);
	*pick = "agent-safe";
	return 0;
}

static int load_for_source(const char *spec, const char *source_root, bool interpret, policy **out,
			   rls_error *err)
{
	_cleanup_free_ char *path = NULL;
	const char *pick;

	if (pick_for_source(spec, source_root, &pick, &path, err) < 0)
		return -1;
	return load(pick, interpret, out, err);
}

int policy_load_for_source(const char *spec, const char *source_root, policy **out, rls_error *err)
{
	return load_for_source(spec, source_root, false, out, err);
}

int policy_check_for_source(const char *spec, const char *source_root, policy **out, rls_error *err)
{
	return load_for_source(spec, source_root, true, out, err);
}

int policy_take_for_source(const char *spec, const char *source_root, policy **out, rls_error *err)
{
	_cleanup_free_ char *path = NULL;
	const char *pick;

	if (pick_for_source(spec, source_root, &pick, &path, err) < 0)
		return -1;
	/* A preset is the binary's own text, read from no file: nothing to
	 * check that its build did not, and nothing to hand on but its
	 * name. */
	if (!strchr(pick, '/') && policy_preset_text(pick)) {
		*out = rls_xcalloc(1, sizeof **out);
		(*out)->root = rls_xstrdup(pick);
		return 0;
	}
	return load(pick, true, out, err);
}

int policy_load_from(const char *root, const struct policy_text *texts, size_t n, policy **out, rls_error *err)
{
	_cleanup_policy_ policy *pol = NULL;

	/* A preset is the binary's own: nothing was read. */
	if (!strchr(root, '/') && policy_preset_text(root))
		return n ? rls_error_set(err, EINVAL, "the snapshot of preset %s holds files", root) :
			   load(root, false, out, err);
	if (!policy_text_find(texts, n, root))
		return rls_error_set(err, EINVAL, "the snapshot does not hold %s", root);
	pol = rls_xcalloc(1, sizeof *pol);
	pol->from = texts;
	pol->n_from = n;
	if (policy_parse_file(pol, root, err) < 0 || policy_compile(pol, err) < 0)
		return -1;
	pol->from = NULL;
	pol->n_from = 0;
	pol->root = rls_xstrdup(root);
	*out = steal_pointer(&pol);
	return 0;
}

/* ---- protection ---------------------------------------------------------- */

/* Clamp path[0..len) ("/a/b"), and with `tree` everything beneath it. */
static void protect_add(policy *pol, const char *path, size_t len, bool tree)
{
	while (len > 1 && path[len - 1] == '/')
		len--;
	for (size_t i = 0; i < pol->n_protected; i++) {
		struct policy_protected *p = &pol->protected[i];

		if (p->len == len && !memcmp(p->path, path, len)) {
			p->tree |= tree;
			return;
		}
	}
	pol->protected = rls_xrealloc(pol->protected, (pol->n_protected + 1) * sizeof *pol->protected);
	pol->protected[pol->n_protected++] = (struct policy_protected){ rls_xstrndup(path, len), len, tree };
}

void policy_protect(policy *pol, const char *path)
{
	_cleanup_free_ char *abs = NULL;

	if (!path || !*path)
		path = "/";
	if (path[0] != '/')
		path = abs = rls_xasprintf("/%s", path);
	protect_add(pol, path, strlen(path), true);
}

/* The part of the real path `p` below the source root ("/a/b"), or NULL
 * when p is not beneath it (the root itself is not: it cannot be renamed
 * or replaced from inside). */
static const char *below_source(const char *p, const char *source, size_t sl)
{
	if (sl == 0)
		return p[0] == '/' && p[1] ? p : NULL;
	if (strncmp(p, source, sl) || p[sl] != '/' || !p[sl + 1])
		return NULL;
	return p + sl;
}

/* Resolve `name` as the kernel would from the current folder, one name at
 * a time, and clamp every path inside the source it goes through: each
 * folder, each symlink (and then each name of its target), and what it
 * ends at -- with `tree`, with everything beneath that.  A file reached
 * through `link/pol.yml` stays the file the next run reads only while
 * `link`, and every folder on the way, stays what it is. */
static void protect_walk(policy *pol, const char *source, size_t sl, const char *name, bool tree)
{
	_cleanup_buf_ rls_buf cur = { 0 };
	_cleanup_buf_ rls_buf rest = { 0 };
	size_t pos = 0;
	int links = 0;

	/* cur is always a real path: the current folder is one, and every
	 * symlink met is replaced by its target ("" is the root). */
	rls_buf_adds(&cur, "");
	if (name[0] != '/') {
		_cleanup_free_ char *cwd = getcwd(NULL, 0);

		if (!cwd || cwd[0] != '/')
			return;
		if (cwd[1])
			rls_buf_adds(&cur, cwd);
	}
	rls_buf_adds(&rest, name);
	while (pos < rest.len) {
		const char *comp;
		size_t clen, at;
		bool last;
		struct stat st;
		const char *rel;

		while (pos < rest.len && rest.data[pos] == '/')
			pos++;
		if (pos == rest.len)
			break;
		comp = rest.data + pos;
		clen = strcspn(comp, "/");
		pos += clen;
		last = pos + strspn(rest.data + pos, "/") == rest.len;
		if (clen == 1 && comp[0] == '.')
			continue;
		if (clen == 2 && comp[0] == '.' && comp[1] == '.') {
			while (cur.len && cur.data[cur.len - 1] != '/')
				cur.len--;
			if (cur.len)
				cur.len--;
			cur.data[cur.len] = '\0';
			continue;
		}
		at = cur.len;
		rls_buf_addc(&cur, '/');
		rls_buf_add(&cur, comp, clen);
		if ((rel = below_source(cur.data, source, sl)))
			protect_add(pol, rel, strlen(rel), last && tree);
		if (lstat(cur.data, &st) < 0)
			return;
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlink(cur.data, target, sizeof target - 1);
			rls_buf next = { 0 };

			if (n <= 0 || ++links > MAX_SYMLINKS)
				return;
			target[n] = '\0';
			rls_buf_adds(&next, target);
			rls_buf_addc(&next, '/');
			rls_buf_adds(&next, rest.data + pos);
			rls_buf_free(&rest);
			rest = next;
			pos = 0;
			cur.len = target[0] == '/' ? 0 : at;
			cur.data[cur.len] = '\0';
		} else if (!last && !S_ISDIR(st.st_mode)) {
			return;
		}
	}
}

void policy_protect_source(policy *pol, const char *source)
{
	size_t sl = strlen(source);
	_cleanup_free_ char *rls_dir = NULL;

	while (sl && source[sl - 1] == '/')
		sl--;
	/* .rls/ with everything beneath, wherever it leads */
	policy_protect(pol, "/.rls");
	rls_dir = rls_xasprintf("%.*s/.rls", (int)sl, source);
	protect_walk(pol, source, sl, rls_dir, true);
	for (size_t i = 0; i < pol->n_files; i++)
		if (strncmp(pol->files[i], "preset:", 7))
			protect_walk(pol, source, sl, pol->files[i], false);
}

static const struct policy_protected *find_protected(const policy *pol, const char *path, size_t len)
{
	for (size_t i = 0; i < pol->n_protected; i++) {
		const struct policy_protected *p = &pol->protected[i];

		if (p->len == 1 && p->tree)
			return p;
		if (len >= p->len && !memcmp(path, p->path, p->len) &&
		    (len == p->len || (p->tree && path[p->len] == '/')))
			return p;
	}
	return NULL;
}

/* ---- deciding ------------------------------------------------------------ */

static void fill_entry(const struct policy_rule *r, policy_decision *why)
{
	why->file = r->file;
	why->line = r->line;
	why->column = r->column;
	why->pattern = r->pattern;
}

/* `subject` is the path with "/" appended for a directory; `path_len`
 * leaves that slash out. */
static policy_level decide_subject(const policy *pol, const char *subject, size_t len, size_t path_len,
				   bool is_dir, policy_decision *why, long *rule_out)
{
	policy_decision d = { .level = POLICY_NONE, .origin = POLICY_FROM_DEFAULT };
	struct policy_subject sub;
	long idx;

	policy_subject_init(&sub, subject, len, path_len);
	idx = policy_matcher_match(&pol->match, &sub);
	if (idx >= 0 && (size_t)idx < pol->rules.n) {
		d.level = pol->rules.v[idx].level;
		d.origin = POLICY_FROM_RULE;
		fill_entry(&pol->rules.v[idx], &d);
	} else {
		idx = -1;
	}
	if (d.level == POLICY_NONE && is_dir) {
		long t = policy_match_first(pol->traverse_re, pol->n_traverse, subject, len);

		if (t >= 0 && (size_t)t < pol->rules.n && pol->rules.v[t].level > POLICY_NONE) {
			d.level = POLICY_VIEW;
			d.origin = POLICY_FROM_TRAVERSAL;
		}
	}
	/* A clamp first, so that a path both protected and hidden reports
	 * the hide, which decides. */
	if (d.level > POLICY_READ && pol->protect.n) {
		long p = policy_matcher_match(&pol->protect_match, &sub);

		if (p != -1) {
			d.level = POLICY_READ;
			d.origin = POLICY_FROM_PROTECT_LIST;
			d.file = NULL;
			d.line = d.column = 0;
			d.pattern = NULL;
			if (p >= 0 && (size_t)p < pol->protect.n)
				fill_entry(&pol->protect.v[p], &d);
		}
	}
	if (d.level > POLICY_READ && pol->n_protected && find_protected(pol, subject, path_len)) {
		d.level = POLICY_READ;
		d.origin = POLICY_FROM_PROTECTED;
	}
	if (d.level > POLICY_NONE && pol->hide.n) {
		long h = policy_matcher_match(&pol->hide_match, &sub);

		if (h != -1) {
			d = (policy_decision){ .level = POLICY_NONE, .origin = POLICY_FROM_HIDE_LIST };
			if (h >= 0 && (size_t)h < pol->hide.n)
				fill_entry(&pol->hide.v[h], &d);
		}
	}
	policy_subject_done(&sub);
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

policy_level policy_decide_rule(const policy *pol, const char *path, bool is_dir, policy_decision *why,
				long *rule)
{
	return decide_parts(pol, path, NULL, is_dir, why, rule);
}

/* ---- fingerprint --------------------------------------------------------- */

static unsigned long long fnv_string(unsigned long long h, const char *p)
{
	size_t n = strlen(p) + 1;

	for (size_t k = 0; k < n; k++)
		h = (h ^ (unsigned char)p[k]) * 0x100000001b3ULL;
	return h;
}

unsigned long long policy_fingerprint(const policy *pol)
{
	/* FNV-1a over what decides, not where it was read from; a policy
	 * without hide or protect lists keeps the fingerprint it always had. */
	unsigned long long h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < pol->rules.n; i++) {
		h = fnv_string(h, pol->rules.v[i].pattern);
		h = (h ^ (unsigned)pol->rules.v[i].level) * 0x100000001b3ULL;
	}
	for (size_t i = 0; i < pol->hide.n; i++)
		h = fnv_string(fnv_string(h, "hide:"), pol->hide.v[i].pattern);
	for (size_t i = 0; i < pol->protect.n; i++)
		h = fnv_string(fnv_string(h, "protect:"), pol->protect.v[i].pattern);
	return h;
}
