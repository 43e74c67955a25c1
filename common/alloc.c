/* alloc.c - allocation that cannot fail (it ends the program instead) and
 * growable buffers: the bottom of the module, needing nothing else. */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void rls_die_oom(void)
{
	static const char msg[] = "out of memory\n";

	(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
	exit(1);
}

void *rls_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		rls_die_oom();
	return p;
}

void *rls_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		rls_die_oom();
	return p;
}

void *rls_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		rls_die_oom();
	return p;
}

char *rls_xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		rls_die_oom();
	return p;
}

char *rls_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (!p)
		rls_die_oom();
	return p;
}

char *rls_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		rls_die_oom();
	return s;
}

static void buf_grow(rls_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	b->cap = b->cap ? b->cap : 64;
	while (b->cap < need)
		b->cap *= 2;
	b->data = rls_xrealloc(b->data, b->cap);
}

void rls_buf_add(rls_buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void rls_buf_adds(rls_buf *b, const char *s)
{
	rls_buf_add(b, s, strlen(s));
}

void rls_buf_addc(rls_buf *b, char c)
{
	rls_buf_add(b, &c, 1);
}

void rls_buf_printf(rls_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void rls_buf_reset(rls_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void rls_buf_free(rls_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void rls_strv_add(rls_strv *s, const char *str)
{
	if (s->n + 2 > s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = rls_xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = rls_xstrdup(str);
	s->v[s->n] = NULL;
}

void rls_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}
