/* fuzz-policy.c - libFuzzer target: the input is policy YAML; when it loads,
 * a few paths (fixed ones, and lines of the input made into paths) are
 * decided as files and directories, and the policy is linted.  A path the
 * hide list hides as a file is hidden as a folder too. */
#include <stdint.h>

#include "../../policy/policy.h"

static void path_from(const char *s, size_t n, rls_buf *out)
{
	size_t start = 0;

	rls_buf_reset(out);
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '/')
			continue;
		size_t len = i - start;
		const char *seg = s + start;
		start = i + 1;
		if (!len || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			continue;
		rls_buf_addc(out, '/');
		for (size_t k = 0; k < len; k++)
			rls_buf_addc(out, seg[k] ? seg[k] : 'x');
	}
	if (!out->len)
		rls_buf_addc(out, '/');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const fixed[] = { "/", "/a", "/a/b.key", "/.env", "/src/x/.git/hooks/pre" };
	static FILE *devnull;
	const char *text = (const char *)data;
	rls_error err;
	policy *pol = NULL;
	rls_buf path = { 0 };
	size_t lines = 0, start = 0;

	if (policy_load_text(text, size, "fuzz.yml", &pol, &err) < 0)
		return 0;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	policy_protect(pol, "/.rls");
	for (size_t i = 0; i < RLS_ARRAY_SIZE(fixed); i++) {
		policy_decide(pol, fixed[i], false, NULL);
		policy_decide(pol, fixed[i], true, NULL);
	}
	for (size_t i = 0; i <= size && lines < 4; i++) {
		if (i < size && text[i] != '\n')
			continue;
		path_from(text + start, i - start, &path);
		policy_decision why;
		policy_level a = policy_decide(pol, path.data, false, &why);
		policy_level b = policy_decide(pol, path.data, true, NULL);
		if (why.origin == POLICY_FROM_RULE && (!why.file || !why.pattern))
			__builtin_trap();
		/* the lists only ever lower: hide to none, protect to read */
		if ((why.origin == POLICY_FROM_HIDE_LIST && a != POLICY_NONE) ||
		    (why.origin == POLICY_FROM_PROTECT_LIST && a != POLICY_READ))
			__builtin_trap();
		if (why.origin == POLICY_FROM_HIDE_LIST && b != POLICY_NONE)
			__builtin_trap();
		if ((unsigned)a > POLICY_WRITE || (unsigned)b > POLICY_WRITE)
			__builtin_trap();
		start = i + 1;
		lines++;
	}
	if (devnull)
		policy_lint(pol, devnull);
	(void)policy_fingerprint(pol);
	rls_buf_free(&path);
	policy_free(pol);
	return 0;
}
