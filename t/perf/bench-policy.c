/* bench-policy.c - nanoseconds per policy_decide on a 200-rule policy and
 * on the presets that carry hide and protect lists.
 *
 * The policy mixes the rule shapes people write (rooted folders, basename
 * globs, "**" in the middle, classes, braces, trailing slashes); the paths
 * are a synthetic source tree (sources, headers, vendored packages, git
 * objects, build output, the odd secret), asked as files and directories.
 * Prints the median over several rounds, for each policy.
 */
#include <time.h>

#include "../../policy/policy.h"

#define ROUNDS 15
#define N_RULES 200

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static char *make_policy(void)
{
	static const char *const levels[] = { "none", "view", "read", "write" };
	rls_buf b = { 0 };

	rls_buf_adds(&b, "rules:\n  - { pattern: \"**\", permission: read }\n");
	for (int i = 1; i < N_RULES; i++) {
		const char *lvl = levels[(i * 7) % 4];

		switch (i % 8) {
		case 0:
			rls_buf_printf(&b, "  - { pattern: \"/src/module%d/**\", permission: %s }\n", i, lvl);
			break;
		case 1:
			rls_buf_printf(&b, "  - { pattern: \"*.ext%d\", permission: %s }\n", i, lvl);
			break;
		case 2:
			rls_buf_printf(&b, "  - { pattern: \"**/gen%d/**/*.[ch]\", permission: %s }\n", i, lvl);
			break;
		case 3:
			rls_buf_printf(&b, "  - { pattern: \"/vendor/pkg%d/{src,include}/**\", permission: %s }\n",
				       i, lvl);
			break;
		case 4:
			rls_buf_printf(&b, "  - { pattern: \"build%d/\", permission: %s }\n", i, lvl);
			break;
		case 5:
			rls_buf_printf(&b, "  - { pattern: \"/docs/v%d/*.md\", permission: %s }\n", i, lvl);
			break;
		case 6:
			rls_buf_printf(&b, "  - { pattern: \"**/.cache%d*\", permission: %s }\n", i, lvl);
			break;
		case 7:
			rls_buf_printf(&b, "  - { pattern: \"/src/m[0-9]%d/*.{py,js}\", permission: %s }\n", i, lvl);
			break;
		}
	}
	rls_buf_adds(&b, "  - { pattern: \"**/.env*\", permission: none }\n"
			 "  - { pattern: \"**/*.key\", permission: none }\n");
	return b.data;
}

struct path {
	char *p;
	bool dir;
};

static size_t make_paths(struct path *out, size_t max)
{
	static const char *const ext[] = { "c", "h", "py", "js", "md", "txt", "key", "json" };
	size_t n = 0;

	for (int m = 0; m < 40 && n < max; m++) {
		out[n++] = (struct path){ rls_xasprintf("/src/module%d", m * 8), true };
		for (int f = 0; f < 12 && n < max; f++)
			out[n++] = (struct path){
				rls_xasprintf("/src/module%d/sub%d/file%d.%s", m * 8, f % 3, f, ext[f % 8]), false
			};
		out[n++] = (struct path){ rls_xasprintf("/vendor/pkg%d/src/lib/x%d.c", m * 8 + 3, m), false };
		out[n++] = (struct path){ rls_xasprintf("/node_modules/p%d/lib/index.js", m), false };
		out[n++] = (struct path){ rls_xasprintf("/.git/objects/%02x/%038x", m, m * 7919), false };
		out[n++] = (struct path){ rls_xasprintf("/out/build%d/obj/a.o", m * 8 + 4), false };
		out[n++] = (struct path){ rls_xasprintf("/svc%d/.env.local", m), false };
		out[n++] = (struct path){ rls_xasprintf("/x/gen%d/deep/y.h", m * 8 + 2), false };
		out[n++] = (struct path){ rls_xasprintf("/docs/v%d/readme.md", m * 8 + 5), false };
		out[n++] = (struct path){ rls_xasprintf("/deep/a/b/c/d/e/f/g%d", m), true };
	}
	return n;
}

static void bench(const char *name, policy *pol, const struct path *paths, size_t n)
{
	double per[ROUNDS];
	volatile unsigned sink = 0;
	int iters = 50;

	policy_protect(pol, "/.rls");
	for (size_t i = 0; i < n; i++) /* warm up: JIT, thread state, caches */
		sink += policy_decide(pol, paths[i].p, paths[i].dir, NULL);
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = now_ns();
		for (int k = 0; k < iters; k++)
			for (size_t i = 0; i < n; i++)
				sink += policy_decide(pol, paths[i].p, paths[i].dir, NULL);
		per[r] = (now_ns() - t0) / ((double)iters * (double)n);
	}
	qsort(per, ROUNDS, sizeof *per, cmp_double);
	printf("bench-policy: %s, %zu paths, %d rounds: median %.0f ns/decision (min %.0f, max %.0f)\n", name,
	       n, ROUNDS, per[ROUNDS / 2], per[0], per[ROUNDS - 1]);
}

int main(void)
{
	static const char *const presets[] = { "agent-safe", "development" };
	char *yaml = make_policy();
	struct path paths[2000];
	size_t n = make_paths(paths, RLS_ARRAY_SIZE(paths));
	char name[64];
	policy *pol;
	rls_error err;

	if (policy_load_text(yaml, strlen(yaml), "bench.yml", &pol, &err) < 0)
		rls_die_error(&err);
	snprintf(name, sizeof name, "%d rules", N_RULES + 2);
	bench(name, pol, paths, n);
	policy_free(pol);
	for (size_t i = 0; i < RLS_ARRAY_SIZE(presets); i++) {
		if (policy_load(presets[i], &pol, &err) < 0)
			rls_die_error(&err);
		snprintf(name, sizeof name, "preset %s", presets[i]);
		bench(name, pol, paths, n);
		policy_free(pol);
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i].p);
	free(yaml);
	return 0;
}
