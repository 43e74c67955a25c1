/* policy-precedence.c - which rule decides: order, traversal, presets,
 * extends, protection, errors, lint and threads. */
#include <fcntl.h>
#include <pthread.h>
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

static policy *preset(const char *name)
{
	policy *pol = NULL;
	rls_error err;

	if (policy_load(name, &pol, &err) < 0) {
		tap_diag("load failed: %s", err.msg);
		return NULL;
	}
	return pol;
}

/* The level and origin of a path, as "read/rule" and the like. */
static const char *decide(const policy *pol, const char *path, bool is_dir)
{
	static char buf[64];
	static const char *const origins[] = { "default", "rule", "traversal", "protected", "protect", "hide" };
	policy_decision why;

	if (!pol)
		return "(no policy)";
	policy_level l = policy_decide(pol, path, is_dir, &why);
	snprintf(buf, sizeof buf, "%s/%s", policy_level_name(l), origins[why.origin]);
	return buf;
}

/* The error message of a policy that must not load. */
static const char *load_error(const char *yaml, const char *file)
{
	static rls_error err;
	policy *pol = NULL;

	if (policy_load_text(yaml, strlen(yaml), file, &pol, &err) == 0) {
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

static void test_order(void)
{
	policy *p = load("rules:\n"
			 "  - { pattern: '**', permission: read }\n"
			 "  - { pattern: '**/.env*', permission: none }\n"
			 "  - { pattern: '/out/**', permission: write }\n");

	tap_is_str(decide(p, "/src/a.c", false), "read/rule", "the only matching rule decides");
	tap_is_str(decide(p, "/src/.env", false), "none/rule", "a later none rule beats an earlier read rule");
	tap_is_str(decide(p, "/out/.env", false), "write/rule",
		   "the last matching rule decides, even over a secret rule before it");
	policy_free(p);

	p = load("rules:\n  - { pattern: 'src/**', permission: write }\n");
	tap_is_str(decide(p, "/doc/x", false), "none/default", "a path no rule matches is none");
	tap_is_str(decide(p, "/doc", true), "none/default",
		   "a directory with nothing visible beneath is not traversable");
	tap_is_str(decide(p, "/", true), "view/traversal", "the root is traversable on the way to src");
	policy_free(p);

	p = load("rules:\n  - { pattern: '**', permission: write }\n  - { pattern: '**', permission: view }\n");
	tap_is_str(decide(p, "/a", false), "view/rule", "a later rule may lower the level");
	policy_free(p);

	p = load("");
	tap_is_str(decide(p, "/a", false), "none/default", "an empty policy hides everything");
	policy_free(p);
}

static void test_traversal(void)
{
	policy *p = load("rules:\n  - { pattern: '**/*.py', permission: read }\n");
	policy_decision why;

	tap_is_str(decide(p, "/a/b/c.py", false), "read/rule", "`**/*.py: read` exposes a deep .py file");
	tap_is_str(decide(p, "/a/b", true), "view/traversal",
		   "`**/*.py: read` makes every directory traversable");
	tap_is_str(decide(p, "/a/b/c.txt", false), "none/default", "`**/*.py: read` hides other files");
	tap_is_str(decide(p, "/a/b.txt", true), "view/traversal",
		   "a directory whose name no rule matches is still traversable");
	policy_decide(p, "/a", true, &why);
	tap_ok(why.pattern == NULL, "a traversal decision names no rule");
	policy_free(p);

	p = load("rules:\n"
		 "  - { pattern: '**/*.py', permission: read }\n"
		 "  - { pattern: '/vendor/**', permission: none }\n");
	tap_is_str(decide(p, "/vendor", true), "none/rule",
		   "a later none rule covering the subtree stops traversal");
	tap_is_str(decide(p, "/vendor/x", true), "none/rule", "and stops it below too");
	tap_is_str(decide(p, "/src", true), "view/traversal", "other directories stay traversable");
	policy_free(p);

	p = load("rules:\n"
		 "  - { pattern: '/vendor/**', permission: none }\n"
		 "  - { pattern: '/vendor/lib/x.py', permission: read }\n");
	tap_is_str(decide(p, "/vendor", true), "view/traversal",
		   "a later rule reopens a path under an earlier covering none rule");
	tap_is_str(decide(p, "/vendor/lib", true), "view/traversal", "every directory on the way is view");
	tap_is_str(decide(p, "/vendor/other", true), "none/rule", "a directory off the way stays none");
	tap_is_str(decide(p, "/vendor/lib/x.py", true), "read/rule", "the reopened path has its level");
	policy_free(p);

	p = load("rules:\n  - { pattern: 'build/', permission: read }\n");
	tap_is_str(decide(p, "/a/b", true), "view/traversal",
		   "a trailing-slash rule makes every directory traversable (build/ may be anywhere)");
	tap_is_str(decide(p, "/a/build/x.o", false), "read/rule", "and exposes what is beneath build/");
	policy_free(p);

	p = load("rules:\n  - { pattern: '/docs/*.md', permission: read }\n");
	tap_is_str(decide(p, "/docs", true), "view/traversal", "the parent of an exposed file is traversable");
	tap_is_str(decide(p, "/docs/sub", true), "none/default",
		   "a directory where `*` cannot reach is not traversable");
	tap_is_str(decide(p, "/docs/a.md", true), "read/rule",
		   "a pattern without a trailing slash also matches a directory");
	tap_is_str(decide(p, "/docs/a.txt", true), "none/default",
		   "a directory in the last segment's place has nothing beneath to show");
	policy_free(p);
}

static void test_presets(void)
{
	policy *p = preset("agent-safe");

	tap_is_str(decide(p, "/src/main.c", false), "read/rule", "agent-safe reads ordinary files");
	tap_is_str(decide(p, "/src/main.c", true), "read/rule", "agent-safe reads directories");
	tap_is_str(decide(p, "/output/report.txt", false), "write/rule", "agent-safe writes /output");
	tap_is_str(decide(p, "/output", true), "write/rule", "agent-safe writes /output itself");
	tap_is_str(decide(p, "/tmp/x", false), "write/rule", "agent-safe writes /tmp");
	tap_is_str(decide(p, "/src/tmp/x", false), "read/rule", "agent-safe's /tmp is anchored");
	tap_is_str(decide(p, "/.env", false), "none/hide", "agent-safe hides .env");
	tap_is_str(decide(p, "/svc/.env.production", false), "none/hide", "agent-safe hides .env.* deep down");
	tap_is_str(decide(p, "/output/.env", false), "none/hide", "agent-safe hides .env even in /output");
	tap_is_str(decide(p, "/a/secrets/db.txt", false), "none/hide", "agent-safe hides secrets/ content");
	tap_is_str(decide(p, "/a/secrets", true), "none/hide", "agent-safe hides the secrets folder");
	tap_is_str(decide(p, "/tls/server.key", false), "none/hide", "agent-safe hides *.key");
	tap_is_str(decide(p, "/tls/ca.pem", false), "none/hide", "agent-safe hides *.pem");
	tap_is_str(decide(p, "/home/credentials.json", false), "none/hide", "agent-safe hides credentials*");
	tap_is_str(decide(p, "/.ssh/id_rsa.pub", false), "none/hide", "agent-safe hides id_rsa*");
	tap_is_str(decide(p, "/.git/hooks/pre-commit", false), "read/rule", "agent-safe reads git hooks");
	tap_is_str(decide(p, "/keyboard.c", false), "read/rule", "`*.key` does not hide keyboard.c");
	policy_free(p);

	p = preset("development");
	tap_is_str(decide(p, "/src/main.c", false), "write/rule", "development writes ordinary files");
	tap_is_str(decide(p, "/.git/hooks/pre-commit", false), "read/protect",
		   "development keeps git hooks read-only");
	tap_is_str(decide(p, "/.git/config", false), "read/protect", "development keeps .git/config read-only");
	tap_is_str(decide(p, "/.git/index", false), "write/rule", "development writes the rest of .git");
	tap_is_str(decide(p, "/x/.env", false), "none/hide", "development hides .env");
	policy_free(p);

	p = preset("read-only");
	tap_is_str(decide(p, "/x", false), "read/rule", "read-only reads everything");
	policy_free(p);
	p = preset("view-only");
	tap_is_str(decide(p, "/x", false), "view/rule", "view-only views everything");
	policy_free(p);
	p = preset("full-access");
	tap_is_str(decide(p, "/x/.env", false), "write/rule", "full-access writes everything");
	policy_free(p);

	policy_decision why;
	p = preset("read-only");
	policy_decide(p, "/x", false, &why);
	tap_is_str(why.file, "preset:read-only", "preset rules report preset:NAME as their file");
	policy_free(p);

	bool all = true;
	for (const char *const *n = policy_preset_names(); *n; n++) {
		policy *q = NULL;
		rls_error err;
		const char *text = policy_preset_text(*n);
		if (!text || policy_load_text(text, strlen(text), *n, &q, &err) < 0)
			all = false;
		policy_free(q);
	}
	tap_ok(all, "every preset's text loads");
	tap_ok(policy_preset_text("nope") == NULL, "an unknown preset has no text");
}

static void test_extends(const char *dir)
{
	char base[512], child[512], a[512], b[512];
	policy *p = NULL;
	rls_error err;
	policy_decision why;

	snprintf(base, sizeof base, "%s/sub/base.yml", dir);
	snprintf(child, sizeof child, "%s/child.yml", dir);
	snprintf(a, sizeof a, "%s/sub", dir);
	TAP_MUST(mkdir(a, 0755));
	write_file(base, "rules:\n  - { pattern: '**', permission: write }\n"
			 "  - { pattern: '/keep/**', permission: read }\n");
	write_file(child, "extends: sub/base.yml\nrules:\n  - { pattern: '/keep/**', permission: none }\n");
	if (policy_load(child, &p, &err) < 0)
		tap_diag("%s", err.msg);
	tap_is_str(decide(p, "/keep/x", false), "none/rule",
		   "extends puts the base's rules first, so the file's own rules win");
	tap_is_str(decide(p, "/other", false), "write/rule", "the base's rules apply where the file is silent");
	if (p) {
		policy_decide(p, "/other", false, &why);
		tap_is_str(why.file, base, "a base rule reports the base file (resolved next to the includer)");
	} else {
		tap_ok(false, "a base rule reports the base file");
	}
	policy_free(p);
	p = NULL;

	p = load("extends: read-only\nrules:\n  - { pattern: '/w/**', permission: write }\n");
	tap_is_str(decide(p, "/x", false), "read/rule", "extends names a preset");
	tap_is_str(decide(p, "/w/x", false), "write/rule", "the file's own rules follow the preset's");
	policy_free(p);

	snprintf(a, sizeof a, "%s/a.yml", dir);
	snprintf(b, sizeof b, "%s/b.yml", dir);
	write_file(a, "extends: b.yml\n");
	write_file(b, "rules: []\nextends: a.yml\n");
	p = NULL;
	tap_ok(policy_load(a, &p, &err) < 0 && strstr(err.msg, "extends cycle"),
	       "an extends cycle is refused (%s)", err.msg);
	tap_ok(strstr(err.msg, "b.yml:2:10:") != NULL, "the cycle is reported at the extends value");
	policy_free(p);

	snprintf(a, sizeof a, "%s/self.yml", dir);
	write_file(a, "extends: self.yml\n");
	p = NULL;
	tap_ok(policy_load(a, &p, &err) < 0 && strstr(err.msg, "cycle"), "a file extending itself is refused");
	policy_free(p);
}

static void test_protect(void)
{
	policy *p = preset("full-access");
	policy_decision why;

	policy_protect(p, "/.rls");
	policy_protect(p, "/conf/policy.yml");
	tap_is_str(decide(p, "/.rls", true), "read/protected", "a protected folder is clamped to read");
	tap_is_str(decide(p, "/.rls/policy.yml", false), "read/protected",
		   "everything beneath a protected folder is clamped to read");
	tap_is_str(decide(p, "/.rlsx", false), "write/rule", "protection does not leak to siblings by prefix");
	tap_is_str(decide(p, "/conf/policy.yml", false), "read/protected", "a protected file is clamped");
	tap_is_str(decide(p, "/conf/other.yml", false), "write/rule", "its neighbours are not");
	policy_decide(p, "/.rls/x", false, &why);
	tap_is_str(why.pattern, "**", "a clamped decision still names the rule it clamped");
	policy_free(p);

	p = preset("agent-safe");
	policy_protect(p, "/.rls");
	tap_is_str(decide(p, "/.rls/.env", false), "none/hide", "protection never raises a level");
	policy_free(p);
}

static void test_decide_at(void)
{
	policy *p = preset("agent-safe");
	policy_decision why;

	tap_is_int(policy_decide_at(p, "/src", ".env", false, &why), POLICY_NONE,
		   "policy_decide_at joins directory and name");
	tap_is_int(policy_decide_at(p, "/", "output", true, &why), POLICY_WRITE,
		   "policy_decide_at works at the root");
	policy_free(p);
}

static void test_errors(void)
{
	static const struct {
		const char *yaml, *want, *sentence;
	} cases[] = {
		{ "rules:\n  - { pattern: '**', permission: sometimes }\n", "t.yml:2:34: unknown permission",
		  "an unknown level is reported where it is written" },
		{ "rulez: []\n", "t.yml:1:1: unknown key 'rulez'", "an unknown top-level key is an error" },
		{ "rules:\n  - { pattern: '**', permission: read, mode: x }\n", "t.yml:2:40: unknown key 'mode'",
		  "an unknown rule key is an error" },
		{ "rules:\n  - { pattern: 'a[bc', permission: read }\n", "t.yml:2:18: bad pattern",
		  "an unterminated class points at its '['" },
		{ "rules:\n  - pattern: src/{a,b\n    permission: read\n", "t.yml:2:18: bad pattern",
		  "an unterminated brace points at its '{'" },
		{ "rules:\n  - { pattern: 'a/../b', permission: read }\n", "t.yml:2:17: bad pattern",
		  "a `..` segment is refused" },
		{ "rules:\n  - { pattern: 'x', permission: read\n", "t.yml:3:1:",
		  "a YAML syntax error is reported with its position" },
		{ "rules:\n  - { permission: read }\n", "t.yml:2:5: rule has no pattern", "a rule needs a pattern" },
		{ "rules:\n  - { pattern: x }\n", "t.yml:2:5: rule has no permission", "a rule needs a permission" },
		{ "rules: yes\n", "t.yml:1:8: 'rules' must be a list", "rules must be a list" },
		{ "- a\n", "t.yml:1:1: a policy must be a mapping", "a policy must be a mapping" },
		{ "extends: no-such-preset\n", "t.yml:1:10: extends 'no-such-preset'",
		  "extending a missing file is an error at the extends value" },
		{ "rules:\n  - { pattern: '{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}{o,p}{q,r}', permission: read }\n",
		  "more than 256 alternatives", "brace expansion is capped" },
		{ "rules:\n  - { pattern: 'a\\', permission: read }\n", "escapes nothing",
		  "a trailing backslash is refused" },
		{ "rules:\n  - { pattern: '[z-a]', permission: read }\n", "out of order",
		  "a reversed class range is refused" },
		{ "rules:\n  - { pattern: '', permission: read }\n", "empty pattern", "an empty pattern is refused" },
	};

	for (size_t i = 0; i < RLS_ARRAY_SIZE(cases); i++) {
		const char *msg = load_error(cases[i].yaml, "t.yml");
		if (!tap_ok(strstr(msg, cases[i].want) != NULL, "%s", cases[i].sentence))
			tap_diag("got: %s", msg);
	}

	policy *p = NULL;
	rls_error err;
	tap_ok(policy_load("/nonexistent/policy.yml", &p, &err) < 0 &&
		       strstr(err.msg, "/nonexistent/policy.yml") && strstr(err.msg, "No such file"),
	       "a missing policy file is an error naming it");
}

static void test_lint(void)
{
	policy *p = load("rules:\n"
			 "  - { pattern: '**/.env*', permission: none }\n"
			 "  - { pattern: '**', permission: write }\n");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	unsigned n = policy_lint(p, f);

	fclose(f);
	tap_is_int(n, 1, "lint warns when a later broad rule re-exposes a none rule");
	tap_ok(buf && strstr(buf, "test.yml:3:") && strstr(buf, "warning:"),
	       "the warning names the overriding rule's position");
	free(buf);
	policy_free(p);

	p = load("rules:\n"
		 "  - { pattern: '**/.env*', permission: none }\n"
		 "  - { pattern: '/src/**', permission: write }\n");
	f = fopen("/dev/null", "w");
	tap_is_int(policy_lint(p, f), 1, "lint sees a secret re-exposed below a later folder rule");
	policy_free(p);

	bool clean = true;
	for (const char *const *name = policy_preset_names(); *name; name++) {
		p = preset(*name);
		if (!p || policy_lint(p, f))
			clean = false;
		policy_free(p);
	}
	tap_ok(clean, "every preset lints clean");

	p = load("rules:\n  - { pattern: '**', permission: none }\n  - { pattern: '/src/**', permission: read }\n");
	tap_is_int(policy_lint(p, f), 0, "an allow-list after `**: none` is not a warning");
	policy_free(p);
	fclose(f);
}

static void test_fingerprint(void)
{
	policy *a = load("rules:\n  - { pattern: '**', permission: read }\n");
	policy *b = load("# same rule, other layout\nrules: [ { permission: read, pattern: '**' } ]\n");
	policy *c = load("rules:\n  - { pattern: '**', permission: write }\n");

	tap_ok(a && b && policy_fingerprint(a) == policy_fingerprint(b),
	       "the fingerprint depends on the rules, not their layout");
	tap_ok(a && c && policy_fingerprint(a) != policy_fingerprint(c), "a different level changes it");
	policy_free(a);
	policy_free(b);
	policy_free(c);
}

static void *thread_main(void *arg)
{
	const policy *p = arg;
	long bad = 0;

	for (int i = 0; i < 20000; i++) {
		if (policy_decide(p, "/src/a/.env", false, NULL) != POLICY_NONE)
			bad++;
		if (policy_decide(p, "/output/x", false, NULL) != POLICY_WRITE)
			bad++;
	}
	return (void *)bad;
}

static void test_threads(void)
{
	policy *p = preset("agent-safe");
	pthread_t t[4];
	long bad = 0;

	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, thread_main, p);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += (long)r;
	}
	tap_is_int(bad, 0, "decisions from several threads at once agree");
	policy_free(p);
}

int main(void)
{
	char dir[] = "/tmp/rls-policy-test.XXXXXX";

	if (!mkdtemp(dir))
		rls_die_errno("mkdtemp");
	test_order();
	test_traversal();
	test_presets();
	test_extends(dir);
	test_protect();
	test_decide_at();
	test_errors();
	test_lint();
	test_fingerprint();
	test_threads();
	rls_error err;
	rls_rm_rf_at(AT_FDCWD, dir, &err);
	return tap_done();
}
