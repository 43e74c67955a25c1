/* common.c - errors, allocation, buffers and file helpers. */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>

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

void rls_die_oom(void)
{
	static const char msg[] = "out of memory\n";

	(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
	exit(1);
}

void rls_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("warning: ", fmt, ap, 0);
	va_end(ap);
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

int rls_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int rls_read_file(int dir_fd, const char *path, size_t max, char **out, size_t *len, rls_error *err)
{
	_cleanup_close_ int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
	rls_buf b = { 0 };

	if (fd < 0)
		return rls_error_set(err, errno, "%s", path);
	for (;;) {
		char chunk[65536];
		ssize_t r = read(fd, chunk, sizeof chunk);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			rls_buf_free(&b);
			return rls_error_set(err, errno, "%s", path);
		}
		if (r == 0)
			break;
		if (b.len + (size_t)r > max) {
			rls_buf_free(&b);
			return rls_error_set(err, EFBIG, "%s", path);
		}
		rls_buf_add(&b, chunk, (size_t)r);
	}
	if (!b.data)
		rls_buf_add(&b, "", 0);
	if (len)
		*len = b.len;
	*out = b.data;
	return 0;
}

int rls_mkdir_p(const char *path, mode_t mode, rls_error *err)
{
	_cleanup_free_ char *copy = rls_xstrdup(path);

	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return rls_error_set(err, errno, "mkdir %s", copy);
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return rls_error_set(err, errno, "mkdir %s", copy);
	return 0;
}

/* Is `path` `dir` or beneath it?  Both absolute, without trailing slash. */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (!strcmp(dir, "/"))
		return true;
	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

/* /var/tmp/rls-UID: made 0700 if missing, and refused unless it is a real
 * directory of ours that nobody else can write (/var/tmp is shared). */
static char *fallback_state_root(rls_error *err)
{
	char *dir = rls_xasprintf("/var/tmp/rls-%u", (unsigned)geteuid());
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rls_error_set(err, errno, "%s", dir);
		free(dir);
		return NULL;
	}
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		rls_error_set(err, 0, "%s is not a private directory of this user: remove it, or set "
			      "XDG_STATE_HOME", dir);
		free(dir);
		return NULL;
	}
	return dir;
}

char *rls_state_dir(const char *sub, const char *outside, rls_error *err)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	_cleanup_free_ char *root = NULL;
	char *dir;

	if (state && state[0] == '/')
		root = rls_xasprintf("%s/rls", state);
	else if (home && home[0] == '/')
		root = rls_xasprintf("%s/.local/state/rls", home);
	/* A state dir inside the tree would be shown to the sandbox and
	 * committed with it; a home that does not exist (a service account)
	 * cannot hold one.  Both fall back to /var/tmp. */
	if (root && outside) {
		char *real = realpath(root, NULL);

		if (path_within(real ? real : root, outside)) {
			free(root);
			root = NULL;
		}
		free(real);
	}
	if (root) {
		dir = rls_xasprintf("%s/%s", root, sub);
		if (rls_mkdir_p(dir, 0700, NULL) == 0)
			return dir;
		free(dir);
		free(root);
	}
	root = fallback_state_root(err);
	if (!root)
		return NULL;
	dir = rls_xasprintf("%s/%s", root, sub);
	if (rls_mkdir_p(dir, 0700, err) < 0) {
		free(dir);
		return NULL;
	}
	return dir;
}

/* mountinfo writes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	for (char *r = s, *w = s;; r++, w++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
		    r[3] <= '7') {
			*w = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else if (!(*w = *r)) {
			break;
		}
	}
}

int rls_mountinfo_each(rls_mount_fn fn, void *opaque)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int r = 0;

	if (!f)
		return -1;
	while (r == 0 && getline(&line, &cap, f) > 0) {
		char point[4096], fstype[256], source[4096], opts[4096];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
		    sscanf(sep + 3, "%255s %4095s %4095s", fstype, source, opts) != 3)
			continue;
		unescape_octal(point);
		unescape_octal(source);
		r = fn(point, fstype, source, opts, opaque);
	}
	free(line);
	return r;
}

int rls_rm_rf_at(int dir_fd, const char *name, rls_error *err)
{
	_cleanup_close_ int fd = -1;
	DIR *dir;
	struct dirent *de;

	if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return rls_error_set(err, errno, "unlink %s", name);
	fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return rls_error_set(err, errno, "open %s", name);
	dir = fdopendir(fd);
	if (!dir)
		return rls_error_set(err, errno, "opendir %s", name);
	fd = -1;	/* owned by dir now */
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (rls_rm_rf_at(dirfd(dir), de->d_name, err) < 0) {
			closedir(dir);
			return -1;
		}
	}
	closedir(dir);
	if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return rls_error_set(err, errno, "rmdir %s", name);
	return 0;
}

int rls_parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || !isfinite(v) || v < 0)
		return -1;
	switch (*end) {
	case 's': end++; break;
	case 'm': v *= 60; end++; break;
	case 'h': v *= 3600; end++; break;
	case 'd': v *= 86400; end++; break;
	}
	if (*end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int rls_parse_size(const char *s, uint64_t *out)
{
	long double v;
	char *end;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtold(s, &end);
	if (errno || !isfinite(v) || v < 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end == 'i' && shift)
		end++;
	if ((*end == 'b' || *end == 'B') && shift)
		end++;
	if (*end)
		return -1;
	v = ldexpl(v, shift);
	/* A fraction of a byte is not a size: 1.5G is, 1.5 is not. */
	if (v >= 18446744073709551616.0L || v != floorl(v))
		return -1;
	*out = (uint64_t)v;
	return 0;
}
