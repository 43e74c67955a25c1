/* policy-lists.c - the hide and protect lists: applied after every rule,
 * inherited through extends, dropped only by an exact unhide / unprotect,
 * winning over implicit traversal; what `check` says about them; and the
 * policy's own files protected by the names they were given. */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "../../policy/policy.h"
#include "tap.h"

static policy *load(const char *yaml)
{
	policy *pol = NULL;
	rls_error err;

	if (policy_load_text(yaml, strlen(yaml), "test.yml", &pol, &err) < 0) {
		tap_diag("load failed: %s", err.msg);
		return NULL;
	}
	return pol;
}

static policy *load_file(const char *path)
{
	policy *pol = NULL;
	rls_error err;

	if (policy_load(path, &pol, &err) < 0) {
		tap_diag("load failed: %s", err.msg);
		return NULL;
	}
	return pol;
}

/* "level/origin", and for the lists ":PATTERN@FILE:LINE". */
static const char *decide(const policy *pol, const char *path, bool is_dir)
{
	static char buf[256];
	static const char *const origins[] = { "default", "rule", "traversal", "protected", "protect", "hide" };
	policy_decision why;
	policy_level l;

	if (!pol)
		return "(no policy)";
	l = policy_decide(pol, path, is_dir, &why);
	if ((why.origin == POLICY_FROM_HIDE_LIST || why.origin == POLICY_FROM_PROTECT_LIST) && why.pattern)
		snprintf(buf, sizeof buf, "%s/%s:%s@%s:%u", policy_level_name(l), origins[why.origin], why.pattern,
			 why.file, why.line);
	else
		snprintf(buf, sizeof buf, "%s/%s", policy_level_name(l), origins[why.origin]);
	return buf;
}

/* The level alone. */
static const char *level(const policy *pol, const char *path, bool is_dir)
{
	return pol ? policy_level_name(policy_decide(pol, path, is_dir, NULL)) : "(no policy)";
}

/* What `rls policy check` prints for the policy. */
static char *lint(const policy *pol, unsigned *n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	*n = pol ? policy_lint(pol, f) : 0;
	fclose(f);
	return buf;
}

static unsigned lines(const char *s)
{
	unsigned n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static const char *load_error(const char *yaml)
{
	static rls_error err;
	policy *pol = NULL;

	if (policy_load_text(yaml, strlen(yaml), "t.yml", &pol, &err) == 0) {
		policy_free(pol);
		return "(loaded)";
	}
	return err.msg;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		rls_die_errno("%s", path);
}

static void test_hide_after_rules(void)
{
	policy *p = load("rules:\n"
			 "  - { pattern: '**', permission: read }\n"
			 "  - { pattern: '/build/**', permission: write }\n"
			 "  - { pattern: '**/.env.example', permission: read }\n"
			 "hide:\n"
			 "  - '**/.env*'\n"
			 "  - '**/.ssh/'\n");

	tap_is_str(decide(p, "/build/.env", false), "none/hide:**/.env*@test.yml:6",
		   "a hide pattern hides what a later write rule matches");
	tap_is_str(decide(p, "/.env.example", false), "none/hide:**/.env*@test.yml:6",
		   "and what a later rule names exactly");
	tap_is_str(decide(p, "/build/a.o", false), "write/rule", "the rules decide everything else");
	tap_is_str(decide(p, "/a/.ssh", true), "none/hide:**/.ssh/@test.yml:7", "a folder pattern hides the folder");
	tap_is_str(decide(p, "/a/.ssh/known_hosts", false), "none/hide:**/.ssh/@test.yml:7",
		   "and what is in it");
	tap_is_str(decide(p, "/a/.ssh", false), "read/rule", "but not a file of that name");
	tap_is_str(decide(p, "/a/.env.d/x", false), "none/hide:**/.env*@test.yml:6",
		   "a hidden folder hides everything beneath it, matched or not");
	tap_is_str(decide(p, "/a/.env.d/sub", true), "none/hide:**/.env*@test.yml:6", "folders too");
	tap_is_str(decide(p, "/a/x.env", false), "read/rule", "a name that does not match is not hidden");
	policy_free(p);

	p = load("rules:\n  - { pattern: '**', permission: view }\nhide: ['**/*.key']\n");
	tap_is_str(decide(p, "/a.key", false), "none/hide:**/*.key@test.yml:3",
		   "hide hides a path that is only viewable");
	policy_free(p);
	p = load("hide: ['**/*.key']\n");
	tap_is_str(decide(p, "/a.key", false), "none/default", "a path no rule shows stays none by default");
	policy_free(p);
	p = load("rules:\n  - { pattern: '**', permission: read }\nhide: []\nprotect: ~\nunhide:\n");
	tap_is_str(decide(p, "/a.key", false), "read/rule", "empty lists change nothing");
	policy_free(p);
}

static void test_hide_beats_traversal(void)
{
	policy *p = load("rules:\n"
			 "  - { pattern: '**/*.py', permission: read }\n"
			 "hide: ['**/secrets/**', '**/.aws/']\n");

	tap_is_str(decide(p, "/a", true), "view/traversal", "traversal still opens other folders");
	tap_is_str(decide(p, "/a/secrets", true), "none/hide:**/secrets/**@test.yml:3",
		   "a hidden folder is not traversable though a rule shows files beneath it");
	tap_is_str(decide(p, "/a/secrets/x.py", false), "none/hide:**/secrets/**@test.yml:3",
		   "and the file beneath stays hidden");
	tap_is_str(decide(p, "/a/.aws", true), "none/hide:**/.aws/@test.yml:3",
		   "a trailing-slash hide pattern beats traversal too");
	tap_is_str(decide(p, "/a/.aws/sub", true), "none/hide:**/.aws/@test.yml:3", "and beneath");
	policy_free(p);

	p = load("rules:\n"
		 "  - { pattern: '**', permission: none }\n"
		 "  - { pattern: '/vendor/.env.d/keep/x.py', permission: read }\n"
		 "hide: ['**/.env*']\n");
	tap_is_str(decide(p, "/vendor", true), "view/traversal", "a rule reaching into a hidden folder opens its parents");
	tap_is_str(decide(p, "/vendor/.env.d", true), "none/hide:**/.env*@test.yml:4",
		   "but not the hidden folder (basename pattern)");
	tap_is_str(decide(p, "/vendor/.env.d/keep", true), "none/hide:**/.env*@test.yml:4",
		   "nor any folder beneath it");
	tap_is_str(decide(p, "/vendor/.env.d/keep/x.py", false), "none/hide:**/.env*@test.yml:4",
		   "nor the file the rule names");
	policy_free(p);
}

static void test_hide_shapes(void)
{
	/* literals of one byte turn the quick filters off; longer ones use
	 * them; each must still match on every name of the path */
	policy *p = load("rules:\n  - { pattern: '**', permission: read }\n"
			 "hide: ['x', 'a*', '*z', 'credentials*', '*.pem', '.netrc', 'b?/c', '/r/**/*.[ch]']\n");

	tap_is_str(level(p, "/d/x", false), "none", "a one-letter name is hidden");
	tap_is_str(level(p, "/d/xy", false), "read", "but not a longer one");
	tap_is_str(level(p, "/x/d", false), "none", "and hides what is beneath it");
	tap_is_str(level(p, "/d/apple", false), "none", "a one-letter prefix hides");
	tap_is_str(level(p, "/d/buzz", false), "none", "a one-letter suffix hides");
	tap_is_str(level(p, "/d/credentials.json", false), "none", "a prefix hides a file");
	tap_is_str(level(p, "/credentials.d/sub/f", false), "none", "and a folder's content");
	tap_is_str(level(p, "/d/ca.pem", false), "none", "a suffix hides a file");
	tap_is_str(level(p, "/d/ca.pem/f", false), "none", "and a folder's content");
	tap_is_str(level(p, "/d/.netrc", false), "none", "a name hides a file");
	tap_is_str(level(p, "/d/.netrc/f", false), "none", "and a folder's content");
	tap_is_str(level(p, "/d/netrc", false), "read", "an unrelated name is not hidden");
	tap_is_str(level(p, "/b1/c", false), "none", "an anchored regex pattern hides");
	tap_is_str(level(p, "/b1/c/d/e", false), "none", "and beneath it");
	tap_is_str(level(p, "/d/b1/c", false), "read", "an anchored pattern stays anchored");
	tap_is_str(level(p, "/r/s/t.c", false), "none", "a ** class pattern hides");
	tap_is_str(level(p, "/r/s/t.c/u/v", false), "none", "and what lies beneath a folder it matches");
	tap_is_str(level(p, "/r/s/t.o", false), "read", "but not its neighbours");
	tap_is_str(level(p, "/", true), "read", "the root is never hidden by these");
	policy_free(p);

	p = load("rules:\n  - { pattern: '**', permission: read }\nhide: ['**']\n");
	tap_is_str(level(p, "/", true), "none", "`**` hides even the root");
	policy_free(p);
}

static void test_protect(void)
{
	policy *p = load("rules:\n"
			 "  - { pattern: '**', permission: write }\n"
			 "  - { pattern: '**/.git/**', permission: write }\n"
			 "  - { pattern: '/ro/**', permission: view }\n"
			 "protect:\n"
			 "  - '**/.git'\n"
			 "  - '**/.git/config'\n"
			 "  - '**/.git/hooks/**'\n"
			 "  - '/ro/**'\n"
			 "hide: ['**/.git/hooks/secret']\n");

	tap_is_str(decide(p, "/.git/config", false), "read/protect:**/.git/config@test.yml:7",
		   "protect clamps to read, after a later write rule");
	tap_is_str(decide(p, "/a/b/.git/config", false), "read/protect:**/.git/config@test.yml:7",
		   "in a repository at any depth");
	tap_is_str(decide(p, "/.git", true), "read/protect:**/.git@test.yml:6", "a pattern clamps the folder itself");
	tap_is_str(decide(p, "/x/.git", false), "read/protect:**/.git@test.yml:6", "and a file of that name");
	tap_is_str(decide(p, "/.git/index", false), "write/rule", "but not what is beneath it");
	tap_is_str(decide(p, "/.git/hooks/pre-commit", false), "read/protect:**/.git/hooks/**@test.yml:8",
		   "a /** pattern clamps the subtree");
	tap_is_str(decide(p, "/ro/f", false), "view/rule", "protect never raises a level");
	tap_is_str(decide(p, "/.git/hooks/secret", false), "none/hide:**/.git/hooks/secret@test.yml:10",
		   "a path both protected and hidden is hidden");
	policy_free(p);
}

static void test_extends(const char *dir)
{
	char base[PATH_MAX], mid[PATH_MAX], top[PATH_MAX];
	policy *p;
	unsigned n;
	char *out;

	snprintf(base, sizeof base, "%s/base.yml", dir);
	snprintf(mid, sizeof mid, "%s/mid.yml", dir);
	snprintf(top, sizeof top, "%s/top.yml", dir);
	write_file(base, "rules:\n  - { pattern: '**', permission: read }\n"
			 "hide: ['**/.env*', '**/*.key']\n"
			 "protect: ['**/.vscode/**', '**/.git/config']\n");
	write_file(mid, "extends: base.yml\nrules:\n  - { pattern: '/build/**', permission: write }\n");
	write_file(top, "extends: mid.yml\n"
			"unhide:\n  - '**/*.key'\n  - '*.key'\n"
			"unprotect: ['**/.vscode/**']\n"
			"hide: ['**/*.sqlite']\n"
			"rules:\n  - { pattern: '**', permission: write }\n");

	p = load_file(mid);
	tap_is_str(level(p, "/build/.env", false), "none", "hide patterns are inherited through extends");
	tap_is_str(level(p, "/build/.git/config", false), "read", "protect patterns are inherited too");
	tap_is_str(level(p, "/build/a.o", false), "write", "the file's own rules still decide the rest");
	out = lint(p, &n);
	tap_is_int(n, 0, "extending a policy with lists and adding a write rule is not a warning");
	if (n)
		tap_diag("%s", out);
	free(out);
	policy_free(p);

	p = load_file(top);
	tap_is_str(level(p, "/a.key", false), "write", "unhide naming an inherited pattern exactly drops it");
	tap_is_str(level(p, "/.env", false), "none", "other inherited hide patterns stay");
	tap_is_str(level(p, "/db.sqlite", false), "none", "the file's own hide joins the inherited ones");
	tap_is_str(level(p, "/.vscode/tasks.json", false), "write", "unprotect drops an inherited protect pattern");
	tap_is_str(level(p, "/.git/config", false), "read", "and only that one");
	out = lint(p, &n);
	tap_is_int(n, 3, "check warns once for each unhide and unprotect entry");
	tap_ok(out && strstr(out, "top.yml:3:5: warning: unhide '**/*.key' drops the hide pattern inherited from ") &&
		       strstr(out, "base.yml:3"),
	       "the warning names the pattern and the file and line it came from");
	tap_ok(out && strstr(out, "top.yml:4:5: warning: unhide '*.key' drops nothing"),
	       "an unhide that is not written exactly as inherited drops nothing, and says so");
	tap_ok(out && strstr(out, "top.yml:5:13: warning: unprotect '**/.vscode/**' drops the protect pattern"),
	       "unprotect is warned about the same way");
	if (!out || n != 3)
		tap_diag("%s", out ? out : "");
	free(out);
	policy_free(p);

	write_file(mid, "extends: base.yml\nhide: ['**/*.key']\n");
	write_file(top, "extends: mid.yml\nunhide: ['**/*.key']\n");
	p = load_file(top);
	tap_is_str(level(p, "/a.key", false), "read", "an unhide drops the pattern however many bases hide it");
	policy_free(p);
}

static void test_unhide_order(const char *dir)
{
	char base[PATH_MAX], top[PATH_MAX];
	policy *p;
	unsigned n;
	char *out;

	snprintf(base, sizeof base, "%s/b2.yml", dir);
	snprintf(top, sizeof top, "%s/t2.yml", dir);
	write_file(base, "hide: ['**/*.key']\nrules:\n  - { pattern: '**', permission: read }\n");
	write_file(top, "extends: b2.yml\nunhide: ['**/*.key']\nhide: ['**/*.key']\n");
	p = load_file(top);
	tap_is_str(level(p, "/a.key", false), "none", "unhide drops inherited entries only, not the file's own");
	policy_free(p);

	write_file(top, "extends: b2.yml\nunhide: ['*.key', '**/*.ke', '**/*.key ']\n");
	p = load_file(top);
	tap_is_str(level(p, "/a.key", false), "none",
		   "an unhide that is not the inherited pattern exactly (a shorter or longer form) drops nothing");
	policy_free(p);

	p = load("unhide: ['**/.env*']\nrules:\n  - { pattern: '**', permission: read }\n");
	out = lint(p, &n);
	tap_ok(n == 1 && out && strstr(out, "drops nothing"), "unhide in a file that extends nothing drops nothing");
	free(out);
	policy_free(p);
}

static void test_lint(void)
{
	policy *p = load("rules:\n"
			 "  - { pattern: '**', permission: read }\n"
			 "  - { pattern: '**/f*', permission: none }\n"
			 "  - { pattern: '**/g*', permission: none }\n"
			 "  - { pattern: '**/h*', permission: none }\n"
			 "  - { pattern: '**/i*', permission: none }\n"
			 "  - { pattern: '**/j*', permission: none }\n"
			 "  - { pattern: '/build/**', permission: write }\n");
	unsigned n;
	char *out = lint(p, &n);

	tap_is_int(n, 1, "a rule overriding many none rules is one warning");
	tap_ok(out && strstr(out, "test.yml:8:16: warning: rule '/build/**' (write) overrides 5 earlier none rules: "
				  "'**/f*' at test.yml:3, '**/g*' at test.yml:4, '**/h*' at test.yml:5, "
				  "'**/i*' at test.yml:6 and 1 more (for example /build/f)"),
	       "naming the first few and counting the rest");
	tap_is_int(lines(out), 1, "on one line");
	if (n != 1)
		tap_diag("%s", out ? out : "");
	free(out);
	policy_free(p);

	p = load("rules:\n"
		 "  - { pattern: '**', permission: read }\n"
		 "  - { pattern: '**/.env.example', permission: read }\n"
		 "  - { pattern: '/.vscode/**', permission: write }\n"
		 "  - { pattern: '/.vscode/**', permission: read }\n"
		 "  - { pattern: '/src/**', permission: write }\n"
		 "hide: ['**/.env*']\n"
		 "protect: ['**/.vscode/**']\n");
	out = lint(p, &n);
	tap_is_int(n, 2, "rules a list leaves without effect are warned about");
	tap_ok(out && strstr(out, "test.yml:3:16: warning: rule '**/.env.example' (read) shows nothing: "
				  "hide '**/.env*' (test.yml:7) hides what it matches"),
	       "a rule whose paths are all hidden names the hide pattern");
	tap_ok(out && strstr(out, "test.yml:4:16: warning: rule '/.vscode/**' (write) writes nothing: "
				  "protect '**/.vscode/**' (test.yml:8) keeps what it matches read-only"),
	       "a write rule whose paths are all protected names the protect pattern");
	if (n != 2)
		tap_diag("%s", out ? out : "");
	free(out);
	policy_free(p);

	p = load("rules:\n"
		 "  - { pattern: '**/.env*', permission: none }\n"
		 "  - { pattern: '**', permission: write }\n"
		 "hide: ['**/.env*']\n");
	out = lint(p, &n);
	tap_is_int(n, 0, "a none rule overridden where hide hides the path anyway is not a warning");
	free(out);
	policy_free(p);
}

static void test_fingerprint(void)
{
	policy *a = load("rules:\n  - { pattern: '**', permission: read }\n");
	policy *b = load("rules:\n  - { pattern: '**', permission: read }\nhide: []\n");
	policy *c = load("rules:\n  - { pattern: '**', permission: read }\nhide: ['*.key']\n");
	policy *d = load("rules:\n  - { pattern: '**', permission: read }\nprotect: ['*.key']\n");

	tap_ok(a && b && policy_fingerprint(a) == policy_fingerprint(b), "empty lists keep the fingerprint");
	tap_ok(a && c && policy_fingerprint(a) != policy_fingerprint(c), "a hide pattern changes it");
	tap_ok(c && d && policy_fingerprint(c) != policy_fingerprint(d), "hide and protect differ");
	policy_free(a);
	policy_free(b);
	policy_free(c);
	policy_free(d);
}

static void mkdirs(const char *root, const char *const *dirs)
{
	char path[PATH_MAX];

	for (; *dirs; dirs++) {
		snprintf(path, sizeof path, "%s/%s", root, *dirs);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			rls_die_errno("mkdir %s", path);
	}
}

static void test_protect_source(const char *dir)
{
	static const char *const dirs[] = { "src", "src/sub", "src/cfg", "src/shared", "src/cfg2", NULL };
	char src[PATH_MAX], path[PATH_MAX], cwd[PATH_MAX];
	_cleanup_free_ char *real = NULL;
	policy *p;

	mkdirs(dir, dirs);
	snprintf(src, sizeof src, "%s/src", dir);
	real = realpath(src, NULL);
	snprintf(path, sizeof path, "%s/cfg/pol.yml", real);
	write_file(path, "extends: ../shared/base.yml\n");
	snprintf(path, sizeof path, "%s/shared/base.yml", real);
	write_file(path, "rules:\n  - { pattern: '**', permission: write }\n");
	snprintf(path, sizeof path, "%s/shared/abs.yml", real);
	write_file(path, "extends: base.yml\n");
	snprintf(path, sizeof path, "%s/sub/link", real);
	if (symlink("../cfg", path) < 0)
		rls_die_errno("symlink");
	snprintf(path, sizeof path, "%s/abs", real);
	snprintf(cwd, sizeof cwd, "%s/shared", real);
	if (symlink(cwd, path) < 0)
		rls_die_errno("symlink");
	snprintf(path, sizeof path, "%s/.rls", real);
	if (symlink("cfg2", path) < 0)
		rls_die_errno("symlink");
	if (!getcwd(cwd, sizeof cwd) || chdir(real) < 0)
		rls_die_errno("chdir");

	p = load_file("sub/link/pol.yml");
	if (p)
		policy_protect_source(p, real);
	tap_is_str(decide(p, "/sub/link", false), "read/protected",
		   "a symlink on the way to the policy file is protected");
	tap_is_str(decide(p, "/sub", true), "read/protected", "so is the folder that holds it");
	tap_is_str(decide(p, "/sub/other", false), "write/rule", "but not what else that folder holds");
	tap_is_str(decide(p, "/cfg", true), "read/protected", "the symlink's target folder is protected");
	tap_is_str(decide(p, "/cfg/pol.yml", false), "read/protected", "and the policy file at its real path");
	tap_is_str(decide(p, "/cfg/new.yml", false), "write/rule", "its neighbours are not");
	tap_is_str(decide(p, "/shared", true), "read/protected",
		   "a folder reached through the symlink and .. by an extends is protected");
	tap_is_str(decide(p, "/shared/base.yml", false), "read/protected", "and the file it extends");
	tap_is_str(decide(p, "/.rls", false), "read/protected", "a .rls symlink is protected");
	tap_is_str(decide(p, "/cfg2", true), "read/protected", "and the folder it leads to");
	tap_is_str(decide(p, "/cfg2/anything", false), "read/protected", "with everything beneath, like .rls/");
	tap_is_str(decide(p, "/", true), "write/rule", "the root itself is left to the rules");
	policy_free(p);

	p = load_file("abs/abs.yml");
	if (p)
		policy_protect_source(p, real);
	tap_is_str(decide(p, "/abs", false), "read/protected", "a symlink to an absolute path is protected");
	tap_is_str(decide(p, "/shared", true), "read/protected", "and the folders of its target inside the tree");
	tap_is_str(decide(p, "/shared/abs.yml", false), "read/protected", "and the file");
	tap_is_str(decide(p, "/sub/link", false), "write/rule", "symlinks it does not go through are not");
	policy_free(p);
	if (chdir(cwd) < 0)
		rls_die_errno("chdir");
}

static void test_errors(void)
{
	static const struct {
		const char *yaml, *want, *sentence;
	} cases[] = {
		{ "hide: '**/.env*'\n", "t.yml:1:7: 'hide' must be a list of patterns, not a scalar",
		  "hide must be a list" },
		{ "protect: { a: b }\n", "t.yml:1:10: 'protect' must be a list of patterns, not a mapping",
		  "protect must be a list" },
		{ "hide:\n  - { pattern: x }\n", "t.yml:2:5: a hide entry is a pattern (a string), not a mapping",
		  "a hide entry is a pattern" },
		{ "unprotect:\n  - [x]\n", "t.yml:2:5: an unprotect entry is a pattern (a string), not a list",
		  "an unprotect entry is a pattern" },
		{ "hide:\n  - 'a/[bc'\n", "t.yml:2:8: bad pattern 'a/[bc': unterminated '['",
		  "a bad hide pattern is reported where it is written" },
		{ "protect: ['a/../b']\n", "t.yml:1:12: bad pattern 'a/../b': '..' segments are not allowed",
		  "a bad protect pattern too" },
		{ "hidden: []\n", "unknown key 'hidden' (expected extends, rules, hide, unhide, protect, unprotect)",
		  "an unknown key lists the known ones" },
		{ "hide: []\nhide: []\n", "t.yml:2:1: duplicate key 'hide'", "a list may be given once" },
	};

	for (size_t i = 0; i < RLS_ARRAY_SIZE(cases); i++) {
		const char *msg = load_error(cases[i].yaml);
		if (!tap_ok(strstr(msg, cases[i].want) != NULL, "%s", cases[i].sentence))
			tap_diag("got: %s", msg);
	}
}

int main(void)
{
	char dir[] = "/tmp/rls-policy-lists.XXXXXX";
	rls_error err;

	if (!mkdtemp(dir))
		rls_die_errno("mkdtemp");
	test_hide_after_rules();
	test_hide_beats_traversal();
	test_hide_shapes();
	test_protect();
	test_extends(dir);
	test_unhide_order(dir);
	test_lint();
	test_fingerprint();
	test_errors();
	test_protect_source(dir);
	rls_rm_rf_at(AT_FDCWD, dir, &err);
	return tap_done();
}
