/* tap.c - see tap.h. */
#include "tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int planned = -1, run, failed;

void tap_plan(int n)
{
	planned = n;
	printf("1..%d\n", n);
}

static void vline(bool ok, const char *fmt, va_list ap)
{
	run++;
	if (!ok)
		failed++;
	printf("%sok %d - ", ok ? "" : "not ", run);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
}

void tap_must(bool ok, const char *what, const char *file, int line)
{
	if (ok)
		return;
	printf("Bail out! %s:%d: %s failed\n", file, line, what);
	fflush(stdout);
	exit(1);
}

bool tap_ok(bool ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(ok, fmt, ap);
	va_end(ap);
	return ok;
}

bool tap_is_int(long long got, long long want, const char *fmt, ...)
{
	va_list ap;
	bool ok = got == want;

	va_start(ap, fmt);
	vline(ok, fmt, ap);
	va_end(ap);
	if (!ok)
		printf("#   got: %lld\n#  want: %lld\n", got, want);
	return ok;
}

bool tap_is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list ap;
	bool ok = got && want ? strcmp(got, want) == 0 : got == want;

	va_start(ap, fmt);
	vline(ok, fmt, ap);
	va_end(ap);
	if (!ok)
		printf("#   got: '%s'\n#  want: '%s'\n", got ? got : "(null)", want ? want : "(null)");
	return ok;
}

void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

void tap_skip(const char *why)
{
	run++;
	printf("ok %d # skip %s\n", run, why);
}

int tap_done(void)
{
	if (planned < 0)
		printf("1..%d\n", run);
	else if (planned != run) {
		printf("# planned %d tests but ran %d\n", planned, run);
		return 1;
	}
	return failed ? 1 : 0;
}
