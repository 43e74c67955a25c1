/* common.h - the small toolkit every rls module shares.
 *
 * One error convention for the whole code base, in the manner of crun:
 * a fallible function returns 0 on success and -1 on failure, and fills the
 * rls_error passed as its last argument.  The message is written where the
 * failure is seen; callers may add context with rls_error_prefix() while the
 * error travels up.  Programs report it once, at the top, with one line.
 *
 * Resources are owned through cleanup attributes (bubblewrap's style):
 * _cleanup_free_, _cleanup_close_, _cleanup_fclose_; ownership is handed on
 * with steal_pointer() / steal_fd().
 */
#ifndef RLS_COMMON_H
#define RLS_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define RLS_NORETURN __attribute__((noreturn))
#define RLS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define RLS_UNUSED __attribute__((unused))
#define RLS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

typedef struct rls_error {
	int code;	/* an errno value, or 0 when none applies */
	char msg[1024];
} rls_error;

/* Fill *err and return -1.  `code` is an errno value (0 for none); when it is
 * non-zero its strerror() text is appended to the message. */
int rls_error_set(rls_error *err, int code, const char *fmt, ...) RLS_PRINTF(3, 4);
/* Prepend "context: " to the message already in *err; returns -1. */
int rls_error_prefix(rls_error *err, const char *fmt, ...) RLS_PRINTF(2, 3);

/* Program name used by die()/warn(); set once by main(). */
extern const char *rls_progname;

RLS_NORETURN void rls_die(const char *fmt, ...) RLS_PRINTF(1, 2);
RLS_NORETURN void rls_die_errno(const char *fmt, ...) RLS_PRINTF(1, 2);
RLS_NORETURN void rls_die_error(const rls_error *err);
RLS_NORETURN void rls_die_oom(void);
void rls_warn(const char *fmt, ...) RLS_PRINTF(1, 2);

void *rls_xmalloc(size_t n);
void *rls_xcalloc(size_t n, size_t size);
void *rls_xrealloc(void *p, size_t n);
char *rls_xstrdup(const char *s);
char *rls_xstrndup(const char *s, size_t n);
char *rls_xasprintf(const char *fmt, ...) RLS_PRINTF(1, 2);

/* Growable byte buffer, always NUL-terminated. */
typedef struct rls_buf {
	char *data;
	size_t len;
	size_t cap;
} rls_buf;

void rls_buf_add(rls_buf *b, const void *p, size_t n);
void rls_buf_adds(rls_buf *b, const char *s);
void rls_buf_addc(rls_buf *b, char c);
void rls_buf_printf(rls_buf *b, const char *fmt, ...) RLS_PRINTF(2, 3);

/* Names and text the sandbox chose, made safe to print (quote.c says which
 * characters are unsafe: controls, bytes that are not UTF-8, bidirectional
 * and invisible format characters).
 *
 * A name is printed as git prints paths (core.quotePath): as it is when it
 * holds nothing unsafe and no '"' or '\\', else in double quotes with C
 * escapes (\n, \t, \", \\, \ooo for each other unsafe byte).  So an
 * unquoted name never starts with '"', a quoted one is one line of
 * printable text, and rls_unquote_name() gives back the very bytes. */
enum {
	RLS_QUOTE_COMMA = 1u << 0,	/* the name stands in a ", " list: quote a comma too */
};
bool rls_name_needs_quote(const char *s, unsigned flags);
void rls_buf_add_name(rls_buf *b, const char *s, unsigned flags);
char *rls_quote_name(const char *s, unsigned flags);
/* The name a quoted (or unquoted) form stands for; -1 if q is not one. */
int rls_unquote_name(const char *q, char **out);
/* Free text (a message naming paths): unsafe bytes escaped as in a quoted
 * name, but no quotes added and '"' and '\\' kept, so that text already
 * made safe is left as it is. */
void rls_buf_add_text(rls_buf *b, const char *s);
/* The same in place, in a buffer of `size` bytes (cut short if need be). */
void rls_text_sanitize(char *s, size_t size);

/* The `len` bytes at s as well-formed UTF-8: each byte that is not part of
 * a well-formed character becomes U+FFFD.  NUL-terminated, length in
 * *out_len. */
char *rls_utf8_lossy(const char *s, size_t len, size_t *out_len);
/* A name as a jansson string: as it is when it is well-formed UTF-8 (write
 * it with JSON_ENSURE_ASCII: every control and non-ASCII character becomes
 * a \u escape), else, and when it begins with a double quote or holds a
 * DEL (which JSON leaves as it is), its quoted
 * form (rls_quote_name), which begins with one.  Any JSON parser reads it;
 * a reader undoes the quoting (rls_unquote_name) when the value begins
 * with a double quote. */
struct json_t;
struct json_t *rls_json_name(const char *name);
void rls_buf_reset(rls_buf *b);
void rls_buf_free(rls_buf *b);

/* Base64 (RFC 4648, padded), as the vm protocol carries bytes (codec.c).
 * rls_b64_encode writes (len + 2) / 3 * 4 characters and a NUL to out;
 * rls_b64_decode accepts only the canonical encoding of some bytes (-1
 * otherwise) and writes at most len / 4 * 3 of them to out. */
size_t rls_b64_encode(const void *data, size_t len, char *out);
int rls_b64_decode(const char *in, size_t len, void *out, size_t *out_len);
/* An absolute path with no empty, "." or ".." segment, and not "/". */
bool rls_path_is_normal(const char *path);

/* A NULL-terminated vector of strings (an argv), grown one copy at a
 * time; v is NULL until the first add.  Free v with rls_strv_free. */
typedef struct rls_strv {
	char **v;
	size_t n, cap;
} rls_strv;

void rls_strv_add(rls_strv *s, const char *str);
/* Free a NULL-terminated vector and its strings; NULL is fine. */
void rls_strv_free(char **v);

/* Write all of buf, retrying on EINTR and short writes. */
int rls_write_all(int fd, const void *buf, size_t n);
/* Read a whole file (at most `max` bytes) into a NUL-terminated buffer. */
int rls_read_file(int dir_fd, const char *path, size_t max, char **out, size_t *len, rls_error *err);
/* mkdir -p, mode for created directories. */
int rls_mkdir_p(const char *path, mode_t mode, rls_error *err);
/* $XDG_STATE_HOME/rls/SUB (or ~/.local/state/rls/SUB), made if missing
 * with mode 0700.  When that cannot be made, or lies within `outside` (a
 * source tree, as a real absolute path; NULL for none), /var/tmp/rls-UID/SUB
 * instead.  NULL and *err filled when neither can be had. */
char *rls_state_dir(const char *sub, const char *outside, rls_error *err);
/* Where a new delta of `source` goes unless told: STATE/deltas/NAME-STAMP
 * (the tree's last name, or "root", and the local time), for the caller
 * to make unique with a suffix.  NULL and why in *err. */
char *rls_delta_prefix(const char *source, rls_error *err);
/* Call fn for each line of /proc/self/mountinfo with its mount point
 * (unescaped), file system type, source and super-block options.  fn
 * returns 0 to go on, non-zero to stop (that value is returned); -1 when
 * the table cannot be read. */
typedef int (*rls_mount_fn)(const char *mountpoint, const char *fstype, const char *source,
			    const char *options, void *opaque);
int rls_mountinfo_each(rls_mount_fn fn, void *opaque);
/* Unmount the FUSE mount at mnt (MNT_DETACH when lazy): umount2(2) as
 * root, fusermount3 -u otherwise.  0, or -1 with errno set. */
int rls_fuse_unmount(const char *mnt, bool lazy);
/* rm -rf below dirfd/name without following symlinks. */
int rls_rm_rf_at(int dir_fd, const char *name, rls_error *err);
/* A non-negative decimal number of seconds ("30", "1.5", with an optional
 * s, m, h or d suffix: "2s", "5m", "7d"); a byte count, possibly with a fraction,
 * with an optional K, M, G or T suffix (powers of 1024: "512M", "1.5G").
 * 0 on success, -1 if the text is not one. */
int rls_parse_seconds(const char *s, double *out);
int rls_parse_size(const char *s, uint64_t *out);

static inline void rls_freep(void *p)
{
	free(*(void **)p);
}

static inline void rls_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void rls_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void rls_buf_freep(rls_buf *b)
{
	rls_buf_free(b);
}

#define _cleanup_free_ __attribute__((cleanup(rls_freep)))
#define _cleanup_close_ __attribute__((cleanup(rls_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(rls_fclosep)))
#define _cleanup_buf_ __attribute__((cleanup(rls_buf_freep)))

static inline void *rls_steal_pointer(void *pp)
{
	void **p = pp;
	void *v = *p;
	*p = NULL;
	return v;
}
#define steal_pointer(pp) rls_steal_pointer(pp)

static inline int steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

#define RLS_TEMP_FAILURE_RETRY(expr)                                   \
	({                                                             \
		long _r;                                               \
		do                                                     \
			_r = (long)(expr);                             \
		while (_r == -1L && errno == EINTR);                   \
		_r;                                                    \
	})

#endif
