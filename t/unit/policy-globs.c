/* policy-globs.c - what each glob form matches (rls-policy(5), GLOBS), as a
 * rule and as a hide pattern (which also hides what is beneath a match). */
#include "../../policy/policy.h"
#include "tap.h"

/* Does a one-rule policy {pattern: PAT, permission: read} give `path` read
 * by that rule? */
static bool matches(const char *pattern, const char *path, bool is_dir)
{
	_cleanup_buf_ rls_buf y = { 0 };
	policy *pol = NULL;
	rls_error err;
	policy_decision why;
	bool hit;

	rls_buf_adds(&y, "rules:\n  - pattern: '");
	for (const char *p = pattern; *p; p++) {
		if (*p == '\'')
			rls_buf_addc(&y, '\'');
		rls_buf_addc(&y, *p);
	}
	rls_buf_adds(&y, "'\n    permission: read\n");
	if (policy_load_text(y.data, y.len, "test.yml", &pol, &err) < 0) {
		tap_diag("load failed: %s", err.msg);
		return false;
	}
	hit = policy_decide(pol, path, is_dir, &why) == POLICY_READ && why.origin == POLICY_FROM_RULE;
	policy_free(pol);
	return hit;
}

/* Does `hide: [PAT]` over `**: read` hide `path`? */
static bool hides(const char *pattern, const char *path, bool is_dir)
{
	_cleanup_buf_ rls_buf y = { 0 };
	policy *pol = NULL;
	rls_error err;
	policy_decision why;
	bool hit;

	rls_buf_adds(&y, "rules:\n  - { pattern: '**', permission: read }\nhide:\n  - '");
	for (const char *p = pattern; *p; p++) {
		if (*p == '\'')
			rls_buf_addc(&y, '\'');
		rls_buf_addc(&y, *p);
	}
	rls_buf_adds(&y, "'\n");
	if (policy_load_text(y.data, y.len, "test.yml", &pol, &err) < 0) {
		tap_diag("load failed: %s", err.msg);
		return false;
	}
	hit = policy_decide(pol, path, is_dir, &why) == POLICY_NONE && why.origin == POLICY_FROM_HIDE_LIST;
	policy_free(pol);
	return hit;
}

/* What a hide pattern must hide: the path if the glob matches it, or if
 * it matches any folder above it (asked of the rule matcher, which knows
 * nothing of subtrees). */
static bool should_hide(const char *pattern, const char *path, bool is_dir)
{
	char up[512];

	if (matches(pattern, path, is_dir))
		return true;
	snprintf(up, sizeof up, "%s", path);
	for (char *slash = strrchr(up, '/'); slash; slash = strrchr(up, '/')) {
		*slash = '\0';
		if (matches(pattern, *up ? up : "/", true))
			return true;
		if (!*up)
			break;
	}
	return false;
}

#define F false
#define D true

static const struct {
	const char *pattern, *path;
	bool is_dir, want;
	const char *sentence;
} cases[] = {
	{ "*", "/a", F, true, "`*` matches a name at the root" },
	{ "*", "/a/b", F, true, "a pattern without a slash matches the basename at any depth" },
	{ "/*", "/a/b", F, false, "`/*` is anchored and `*` does not cross a slash" },
	{ "/*", "/a", F, true, "`/*` matches a name at the root" },
	{ "src/*.c", "/src/a.c", F, true, "`src/*.c` matches a C file directly in src" },
	{ "src/*.c", "/src/x/a.c", F, false, "`*` does not cross a slash" },
	{ "src/*.c", "/lib/src/a.c", F, false, "a pattern with a slash inside is anchored at the root" },
	{ "/src/*.c", "/src/a.c", F, true, "a leading slash anchors the same way as an inner one" },
	{ "a?c", "/abc", F, true, "`?` matches one character" },
	{ "a?c", "/ac", F, false, "`?` does not match zero characters" },
	{ "a?c", "/a/c", F, false, "`?` never matches a slash" },
	{ "x/a?c", "/x/a/c", F, false, "`?` never matches a slash in an anchored pattern" },
	{ "**", "/", D, true, "`**` matches the root itself" },
	{ "**", "/a/b/c", F, true, "`**` matches any depth" },
	{ "**", "/.hidden/.x", F, true, "`**` matches names that begin with a dot" },
	{ "*", "/.env", F, true, "`*` matches names that begin with a dot" },
	{ "src/**", "/src", D, true, "`P/**` matches P itself" },
	{ "src/**", "/src/a/b/c.txt", F, true, "`P/**` matches everything under P" },
	{ "src/**", "/srcx/a", F, false, "`P/**` does not match a sibling that merely starts with P" },
	{ "a/**/b", "/a/b", F, true, "`**` in the middle matches zero segments" },
	{ "a/**/b", "/a/x/y/b", F, true, "`**` in the middle matches several segments" },
	{ "a/**/b", "/a/xb", F, false, "`**` matches whole segments only" },
	{ "**/*.key", "/k.key", F, true, "`**/` matches zero leading segments" },
	{ "*.key", "/deep/down/k.key", F, true, "`*.key` matches at any depth (like `**/*.key`)" },
	{ "/x/*.key", "/y/x/k.key", F, false, "`/x/*.key` only matches directly under /x" },
	{ "[abc].txt", "/b.txt", F, true, "a class matches one of its members" },
	{ "[abc].txt", "/d.txt", F, false, "a class does not match a non-member" },
	{ "[a-c]x", "/bx", F, true, "a class range matches inside the range" },
	{ "[a-c]x", "/dx", F, false, "a class range does not match outside the range" },
	{ "[!a-c]x", "/dx", F, true, "`[!...]` negates a class" },
	{ "[^a-c]x", "/ax", F, false, "`[^...]` negates a class too" },
	{ "a[!x]b", "/a/b", F, false, "a negated class never matches a slash" },
	{ "x/a[/]b", "/x/a/b", F, false, "a class naming a slash still never matches one" },
	{ "[]]", "/]", F, true, "a `]` first in a class is a member" },
	{ "[[:digit:]]*", "/7up", F, true, "POSIX classes work inside brackets" },
	{ "{a,b}.txt", "/b.txt", F, true, "braces give alternatives" },
	{ "{a,b}.txt", "/c.txt", F, false, "braces match only their alternatives" },
	{ "x{a,{b,c}}y", "/xcy", F, true, "braces nest" },
	{ "{src/*.c,*.h}", "/lib/x.h", F, true, "each brace alternative is anchored on its own (basename)" },
	{ "{src/*.c,*.h}", "/lib/src/x.c", F, false, "each brace alternative is anchored on its own (rooted)" },
	{ "{/a,/b}/**", "/b/c", F, true, "braces may contain slashes" },
	{ "\\*", "/*", F, true, "a backslash makes `*` literal" },
	{ "\\*", "/x", F, false, "an escaped `*` matches only a star" },
	{ "a\\?", "/ab", F, false, "an escaped `?` matches only a question mark" },
	{ "a.b", "/axb", F, false, "a dot is literal, not a regex wildcard" },
	{ "a+b(c)", "/a+b(c)", F, true, "regex metacharacters are literal in globs" },
	{ "build/", "/x/build", D, true, "a trailing slash matches directories of that name" },
	{ "build/", "/x/build", F, false, "a trailing slash does not match files of that name" },
	{ "build/", "/x/build/o/a.o", F, true, "a trailing slash matches everything beneath the directory" },
	{ "/out/", "/x/out", D, false, "`/out/` is anchored at the root" },
	{ ".git/hooks/**", "/.git/hooks/pre-commit", F, true, "`.git/hooks/**` is anchored" },
	{ ".git/hooks/**", "/sub/.git/hooks/pre-commit", F, false, "`.git/hooks/**` does not match below the root" },
	{ "src/*", "/src", D, false, "`src/*` does not match src itself" },
	{ "*.py", "/a.py", D, true, "a pattern without a trailing slash matches directories too" },
	{ "**/.env*", "/app/.env.local", F, true, "`**/.env*` hides .env variants at any depth" },
	{ "**/secrets/**", "/a/secrets", D, true, "`**/secrets/**` matches the secrets folder itself" },
	{ "a*b*c", "/aXXbYYc", F, true, "several stars in a segment each match a run" },
	/* paths beneath a match, for the hide forms */
	{ "*.key", "/a/x.key/b", F, false, "a basename glob matches the last name only" },
	{ "src/*", "/src/a/b", F, false, "`src/*` does not match two levels down" },
	{ "**/*.[ch]", "/a/b.c/d", F, false, "a class basename glob matches the last name only" },
	{ "a/**/b", "/a/x/b/y", F, false, "`a/**/b` does not match beneath b" },
	{ "**/.kube/config", "/h/.kube/config/x", F, false, "a rooted name does not match beneath itself" },
	{ "{x,y/*}", "/y/z/w", F, false, "alternatives each match their own depth" },
};

int main(void)
{
	for (size_t i = 0; i < RLS_ARRAY_SIZE(cases); i++)
		tap_ok(matches(cases[i].pattern, cases[i].path, cases[i].is_dir) == cases[i].want,
		       "%s ('%s' %s %s%s)", cases[i].sentence, cases[i].pattern,
		       cases[i].want ? "matches" : "does not match", cases[i].path,
		       cases[i].is_dir ? "/" : "");
	for (size_t i = 0; i < RLS_ARRAY_SIZE(cases); i++) {
		bool want = should_hide(cases[i].pattern, cases[i].path, cases[i].is_dir);

		tap_ok(hides(cases[i].pattern, cases[i].path, cases[i].is_dir) == want,
		       "as a hide pattern, '%s' %s %s%s (it or a folder above it %s)", cases[i].pattern,
		       want ? "hides" : "does not hide", cases[i].path, cases[i].is_dir ? "/" : "",
		       want ? "matches" : "does not match");
	}
	return tap_done();
}
