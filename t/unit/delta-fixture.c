/* delta-fixture.c - with arguments, `delta-fixture DELTA SOURCE < SPEC`
 * builds a delta for the shell tests (see delta-fixture.h); without, it
 * tests itself: a spec gives the changes it says. */
#include "delta-fixture.h"
#include "tap.h"

static int collect(delta_change_kind kind, const char *path, void *opaque)
{
	rls_buf_printf(opaque, "%c %s\n", (char)kind, path);
	return 0;
}

static int build_from_stdin(const char *dir, const char *source)
{
	rls_buf spec = { 0 };
	char chunk[4096];
	size_t n;
	rls_error err;

	while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
		rls_buf_add(&spec, chunk, n);
	rls_buf_add(&spec, "", 0);
	if (fx_build(dir, source, spec.data, &err) < 0) {
		fprintf(stderr, "delta-fixture: %s\n", err.msg);
		return 1;
	}
	rls_buf_free(&spec);
	return 0;
}

int main(int argc, char **argv)
{
	char tmp[256], src[300], dir[300], cmd[700];
	rls_error err;
	rls_buf got = { 0 };
	delta *d;

	if (argc == 3)
		return build_from_stdin(argv[1], argv[2]);
	snprintf(tmp, sizeof tmp, "%s/rls-delta-fx.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return 1;
	snprintf(src, sizeof src, "%s/src", tmp);
	snprintf(dir, sizeof dir, "%s/delta", tmp);
	snprintf(cmd, sizeof cmd, "mkdir -p %s/d && echo a > %s/a && echo b > %s/b && echo c > %s/d/c", src, src, src, src);
	if (system(cmd) != 0)
		return 1;
	tap_ok(fx_build(dir, src, "write /a changed\\n\nnew /n fresh\nrm /b\ntouch /d/c\n", &err) == 0,
	       "a fixture spec builds a delta");
	tap_ok(delta_open(dir, src, 0, &d, &err) == 0, "the delta opens");
	tap_ok(delta_changes(d, collect, &got, &err) == 0, "its changes are listed");
	rls_buf_add(&got, "", 0);
	tap_is_str(got.data, "M /a\nD /b\nA /n\n", "write, rm and new show as M, D and A; an unchanged copy-up not at all");
	delta_close(d);
	rls_buf_free(&got);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	(void)!system(cmd);
	return tap_done();
}
