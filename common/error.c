/* error.c - the error object, and the messages rls prints when it warns
 * or gives up (their text made safe for a terminal: see quote.c). */
#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *rls_progname = "rls";

int rls_error_set(rls_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	if (code && n >= 0 && (size_t)n < sizeof err->msg)
		snprintf(err->msg + n, sizeof err->msg - n, ": %s", strerror(code));
	/* Messages name paths the sandbox chose; whoever prints one later
	 * prints a line of safe text. */
	rls_text_sanitize(err->msg, sizeof err->msg);
	return -1;
}

int rls_error_prefix(rls_error *err, const char *fmt, ...)
{
	char prefix[512];
	char old[sizeof err->msg];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
	snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
	rls_text_sanitize(err->msg, sizeof err->msg);
	return -1;
}

static void vreport(const char *kind, const char *fmt, va_list ap, int code)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_buf_ rls_buf safe = { 0 };

	if (vasprintf(&text, fmt, ap) < 0)
		rls_die_oom();
	rls_buf_add_text(&safe, text);
	fprintf(stderr, "%s: %s%s", rls_progname, kind, safe.data ? safe.data : "");
	if (code)
		fprintf(stderr, ": %s", strerror(code));
	fputc('\n', stderr);
}

void rls_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap, 0);
	va_end(ap);
	exit(1);
}

void rls_die_errno(const char *fmt, ...)
{
	int code = errno;
	va_list ap;

	va_start(ap, fmt);
	vreport("", fmt, ap, code);
	va_end(ap);
	exit(1);
}

void rls_die_error(const rls_error *err)
{
	fprintf(stderr, "%s: %s\n", rls_progname, err->msg);
	exit(1);
}

void rls_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("warning: ", fmt, ap, 0);
	va_end(ap);
}
