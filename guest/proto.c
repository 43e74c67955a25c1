/* proto.c - rls-guest's codec: a strict JSON reader for the host's lines
 * and a writer for the guest's (see guest.h and rls-guest(7)).
 *
 * The reader builds a small tree in one arena, bounded by the line: at
 * most GUEST_RUN_LINE_MAX bytes, nesting at most JSON_DEPTH_MAX.  Then
 * each message type takes exactly the fields it knows, with the types it
 * expects, and nothing else.
 */
#include "guest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_DEPTH_MAX 8
/* No message has more fields; the bound keeps the duplicate check cheap. */
#define JSON_KEYS_MAX 32

typedef enum jtype { J_NULL, J_BOOL, J_INT, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jnode jnode;
struct jnode {
	jtype type;
	bool b;
	int64_t i;
	char *s;	/* J_STR: decoded, NUL-terminated (no NUL inside) */
	size_t len;
	size_t n;	/* J_ARR, J_OBJ: number of members */
	jnode **kids;
	char **keys;	/* J_OBJ */
};

typedef struct jparser {
	const char *p, *end;
	char *why;
	size_t why_size;
	/* every allocation, freed together */
	void **allocs;
	size_t n_allocs, cap_allocs;
	bool oom;
} jparser;

static int fail(jparser *jp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(jparser *jp, const char *fmt, ...)
{
	va_list ap;

	/* the first reason is the one worth reading */
	if (jp->why[0])
		return -1;
	va_start(ap, fmt);
	vsnprintf(jp->why, jp->why_size, fmt, ap);
	va_end(ap);
	return -1;
}

static void *jalloc(jparser *jp, size_t size)
{
	void *p;

	if (jp->n_allocs == jp->cap_allocs) {
		size_t cap = jp->cap_allocs ? jp->cap_allocs * 2 : 64;
		void **a = realloc(jp->allocs, cap * sizeof *a);

		if (!a) {
			jp->oom = true;
			return NULL;
		}
		jp->allocs = a;
		jp->cap_allocs = cap;
	}
	p = calloc(1, size ? size : 1);
	if (!p) {
		jp->oom = true;
		return NULL;
	}
	jp->allocs[jp->n_allocs++] = p;
	return p;
}

static void jparser_free(jparser *jp)
{
	for (size_t i = 0; i < jp->n_allocs; i++)
		free(jp->allocs[i]);
	free(jp->allocs);
	jp->allocs = NULL;
	jp->n_allocs = jp->cap_allocs = 0;
}

static void skip_ws(jparser *jp)
{
	while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\r' || *jp->p == '\n'))
		jp->p++;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int k = 0; k < 4; k++) {
		char c = p[k];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *w, unsigned cp)
{
	if (cp < 0x80) {
		w[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		w[0] = (char)(0xc0 | (cp >> 6));
		w[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		w[0] = (char)(0xe0 | (cp >> 12));
		w[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		w[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	w[0] = (char)(0xf0 | (cp >> 18));
	w[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	w[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	w[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if none:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && p[1] < 0xa0)
			return 0;
		if (c == 0xed && p[1] >= 0xa0)
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && p[1] < 0x90)
			return 0;
		if (c == 0xf4 && p[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

static int parse_string(jparser *jp, char **out, size_t *out_len)
{
	const char *start = ++jp->p;	/* past the quote */
	char *s, *w;

	while (jp->p < jp->end && *jp->p != '"') {
		if (*jp->p == '\\')
			jp->p++;
		jp->p++;
	}
	if (jp->p >= jp->end)
		return fail(jp, "a string does not end");
	/* the decoded string is never longer than its source */
	s = w = jalloc(jp, (size_t)(jp->p - start) + 1);
	if (!s)
		return fail(jp, "out of memory");
	for (const char *r = start; r < jp->p;) {
		unsigned char c = (unsigned char)*r;

		if (c < 0x20)
			return fail(jp, "a control character in a string");
		if (c != '\\') {
			size_t n = utf8_len((const unsigned char *)r, (size_t)(jp->p - r));

			if (!n)
				return fail(jp, "a string is not valid UTF-8");
			memcpy(w, r, n);
			w += n;
			r += n;
			continue;
		}
		r++;
		switch (*r) {
		case '"': *w++ = '"'; r++; break;
		case '\\': *w++ = '\\'; r++; break;
		case '/': *w++ = '/'; r++; break;
		case 'b': *w++ = '\b'; r++; break;
		case 'f': *w++ = '\f'; r++; break;
		case 'n': *w++ = '\n'; r++; break;
		case 'r': *w++ = '\r'; r++; break;
		case 't': *w++ = '\t'; r++; break;
		case 'u': {
			unsigned cp, lo;

			if (jp->p - r < 5 || hex4(r + 1, &cp) < 0)
				return fail(jp, "a bad \\u escape");
			r += 5;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return fail(jp, "a lone low surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (jp->p - r < 6 || r[0] != '\\' || r[1] != 'u' || hex4(r + 2, &lo) < 0 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return fail(jp, "a lone high surrogate");
				r += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp == 0)
				return fail(jp, "a NUL in a string");
			w += put_utf8(w, cp);
			break;
		}
		default:
			return fail(jp, "a bad escape in a string");
		}
	}
	*w = '\0';
	jp->p++;	/* the closing quote */
	*out = s;
	*out_len = (size_t)(w - s);
	return 0;
}

static int parse_value(jparser *jp, jnode **out, int depth);

static int parse_number(jparser *jp, jnode *n)
{
	bool neg = false;
	uint64_t v = 0;
	const char *digits;

	if (*jp->p == '-') {
		neg = true;
		jp->p++;
	}
	digits = jp->p;
	while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9') {
		unsigned d = (unsigned)(*jp->p - '0');

		if (v > (UINT64_C(1) << 63) / 10 || v * 10 + d > (UINT64_C(1) << 63))
			return fail(jp, "a number out of range");
		v = v * 10 + d;
		jp->p++;
	}
	if (jp->p == digits)
		return fail(jp, "a number without digits");
	if (*digits == '0' && jp->p - digits > 1)
		return fail(jp, "a number with a leading zero");
	if (jp->p < jp->end && (*jp->p == '.' || *jp->p == 'e' || *jp->p == 'E'))
		return fail(jp, "a number that is not an integer");
	if (!neg && v > (uint64_t)INT64_MAX)
		return fail(jp, "a number out of range");
	n->type = J_INT;
	n->i = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int parse_members(jparser *jp, jnode *n, bool object, int depth)
{
	size_t cap = 0;
	char close = object ? '}' : ']';

	jp->p++;	/* past [ or { */
	skip_ws(jp);
	if (jp->p < jp->end && *jp->p == close) {
		jp->p++;
		return 0;
	}
	for (;;) {
		char *key = NULL;
		size_t key_len;
		jnode *kid;

		if (object) {
			skip_ws(jp);
			if (jp->p >= jp->end || *jp->p != '"')
				return fail(jp, "an object key is not a string");
			if (parse_string(jp, &key, &key_len) < 0)
				return -1;
			if (n->n >= JSON_KEYS_MAX)
				return fail(jp, "an object with too many fields");
			for (size_t k = 0; k < n->n; k++)
				if (!strcmp(n->keys[k], key))
					return fail(jp, "a duplicate key \"%.40s\"", key);
			skip_ws(jp);
			if (jp->p >= jp->end || *jp->p != ':')
				return fail(jp, "a key without ':'");
			jp->p++;
		}
		if (parse_value(jp, &kid, depth + 1) < 0)
			return -1;
		if (n->n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			jnode **kids = jalloc(jp, ncap * sizeof *kids);
			char **keys = jalloc(jp, ncap * sizeof *keys);

			if (!kids || !keys)
				return fail(jp, "out of memory");
			if (n->n) {
				memcpy(kids, n->kids, n->n * sizeof *kids);
				memcpy(keys, n->keys, n->n * sizeof *keys);
			}
			n->kids = kids;
			n->keys = keys;
			cap = ncap;
		}
		n->kids[n->n] = kid;
		n->keys[n->n] = key;
		n->n++;
		skip_ws(jp);
		if (jp->p >= jp->end)
			return fail(jp, "an unfinished %s", object ? "object" : "array");
		if (*jp->p == ',') {
			jp->p++;
			continue;
		}
		if (*jp->p == close) {
			jp->p++;
			return 0;
		}
		return fail(jp, "expected ',' or '%c'", close);
	}
}

static bool literal(jparser *jp, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, word, n))
		return false;
	jp->p += n;
	return true;
}

static int parse_value(jparser *jp, jnode **out, int depth)
{
	jnode *n;

	if (depth > JSON_DEPTH_MAX)
		return fail(jp, "nested too deeply");
	n = jalloc(jp, sizeof *n);
	if (!n)
		return fail(jp, "out of memory");
	*out = n;
	skip_ws(jp);
	if (jp->p >= jp->end)
		return fail(jp, "a value is missing");
	switch (*jp->p) {
	case '{':
		n->type = J_OBJ;
		return parse_members(jp, n, true, depth);
	case '[':
		n->type = J_ARR;
		return parse_members(jp, n, false, depth);
	case '"':
		n->type = J_STR;
		return parse_string(jp, &n->s, &n->len);
	case 't':
	case 'f':
	case 'n':
		if (literal(jp, "true")) {
			n->type = J_BOOL;
			n->b = true;
		} else if (literal(jp, "false")) {
			n->type = J_BOOL;
		} else if (literal(jp, "null")) {
			n->type = J_NULL;
		} else {
			return fail(jp, "an unknown word");
		}
		return 0;
	default:
		if (*jp->p == '-' || (*jp->p >= '0' && *jp->p <= '9'))
			return parse_number(jp, n);
		return fail(jp, "an unexpected character 0x%02x", (unsigned char)*jp->p);
	}
}

/* ---- messages ---- */

static const jnode *member(const jnode *obj, const char *key)
{
	for (size_t i = 0; i < obj->n; i++)
		if (!strcmp(obj->keys[i], key))
			return obj->kids[i];
	return NULL;
}

/* Every key of obj is one of `known` (NULL-terminated). */
static int only_keys(jparser *jp, const jnode *obj, const char *const *known)
{
	for (size_t i = 0; i < obj->n; i++) {
		bool ok = false;

		for (const char *const *k = known; *k && !ok; k++)
			ok = !strcmp(obj->keys[i], *k);
		if (!ok)
			return fail(jp, "an unknown field \"%.40s\"", obj->keys[i]);
	}
	return 0;
}

static const jnode *want(jparser *jp, const jnode *obj, const char *key, jtype type)
{
	static const char *const names[] = { "null", "a boolean", "an integer", "a string", "an array",
					     "an object" };
	const jnode *n = member(obj, key);

	if (!n) {
		fail(jp, "no \"%s\"", key);
		return NULL;
	}
	if (n->type != type) {
		fail(jp, "\"%s\" is not %s", key, names[type]);
		return NULL;
	}
	return n;
}

static int want_int(jparser *jp, const jnode *obj, const char *key, int64_t min, int64_t max, int64_t *out)
{
	const jnode *n = want(jp, obj, key, J_INT);

	if (!n)
		return -1;
	if (n->i < min || n->i > max)
		return fail(jp, "\"%s\" is out of range", key);
	*out = n->i;
	return 0;
}

/* A base64 string decoded into malloc'd bytes, NUL-terminated. */
static int b64_member(jparser *jp, const jnode *s, const char *what, unsigned char **out, size_t *out_len)
{
	unsigned char *buf = malloc(s->len / 4 * 3 + 1);

	if (!buf)
		return fail(jp, "out of memory");
	if (rls_b64_decode(s->s, s->len, buf, out_len) < 0) {
		free(buf);
		return fail(jp, "%s is not base64", what);
	}
	buf[*out_len] = '\0';
	*out = buf;
	return 0;
}

/* A base64 string that must decode to text without NUL. */
static int b64_text(jparser *jp, const jnode *s, const char *what, char **out)
{
	unsigned char *buf;
	size_t len;

	if (b64_member(jp, s, what, &buf, &len) < 0)
		return -1;
	if (memchr(buf, '\0', len)) {
		free(buf);
		return fail(jp, "%s holds a NUL byte", what);
	}
	*out = (char *)buf;
	return 0;
}

static int b64_list(jparser *jp, const jnode *arr, const char *what, char ***out, size_t *count)
{
	char **v = calloc(arr->n + 1, sizeof *v);

	if (!v)
		return fail(jp, "out of memory");
	*out = v;
	*count = arr->n;
	for (size_t i = 0; i < arr->n; i++) {
		if (arr->kids[i]->type != J_STR)
			return fail(jp, "%s holds something other than strings", what);
		if (b64_text(jp, arr->kids[i], what, &v[i]) < 0)
			return -1;
	}
	return 0;
}

static void free_list(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static int decode_run(jparser *jp, const jnode *o, guest_run *r)
{
	static const char *const keys[] = { "t", "argv", "env", "cwd", "mount_at", "share", "sys", "net",
					    "uid", "gid", "time", "seed", "tmp_size", "pids", NULL };
	const jnode *n, *share, *sys, *net, *time, *seed, *mount_at;
	int64_t v = 0;
	unsigned char *bytes;
	size_t len;

	if (only_keys(jp, o, keys) < 0)
		return -1;
	if (!(n = want(jp, o, "argv", J_ARR)) || b64_list(jp, n, "argv", &r->argv, &r->argc) < 0)
		return -1;
	if (!r->argc)
		return fail(jp, "argv is empty");
	if (!(n = want(jp, o, "env", J_ARR)) || b64_list(jp, n, "env", &r->env, &r->envc) < 0)
		return -1;
	for (size_t i = 0; i < r->envc; i++) {
		const char *eq = strchr(r->env[i], '=');

		if (!eq || eq == r->env[i])
			return fail(jp, "an environment entry is not NAME=VALUE");
	}
	if (!(n = want(jp, o, "cwd", J_STR)) || b64_text(jp, n, "cwd", &r->cwd) < 0)
		return -1;
	if (r->cwd[0] != '/')
		return fail(jp, "cwd is not absolute");
	if (!(mount_at = want(jp, o, "mount_at", J_STR)))
		return -1;
	if (!rls_path_is_normal(mount_at->s))
		return fail(jp, "mount_at is not a normal absolute path");
	if (!(r->mount_at = strdup(mount_at->s)))
		return fail(jp, "out of memory");
	if (!(share = want(jp, o, "share", J_STR)))
		return -1;
	if (!strcmp(share->s, "virtiofs"))
		r->share = GUEST_SHARE_VIRTIOFS;
	else if (!strcmp(share->s, "9p"))
		r->share = GUEST_SHARE_9P;
	else
		return fail(jp, "share is neither virtiofs nor 9p");
	if (!(sys = want(jp, o, "sys", J_BOOL)) || !(net = want(jp, o, "net", J_BOOL)))
		return -1;
	r->sys = sys->b;
	r->net = net->b;
	if (want_int(jp, o, "uid", 1, UINT32_MAX - 1, &v) < 0)
		return -1;
	r->uid = (uint32_t)v;
	if (want_int(jp, o, "gid", 1, UINT32_MAX - 1, &v) < 0)
		return -1;
	r->gid = (uint32_t)v;
	if (!(time = want(jp, o, "time", J_ARR)))
		return -1;
	if (time->n != 2 || time->kids[0]->type != J_INT || time->kids[1]->type != J_INT ||
	    time->kids[0]->i < 0 || time->kids[1]->i < 0 || time->kids[1]->i > 999999999)
		return fail(jp, "time is not [seconds, nanoseconds]");
	r->time_sec = time->kids[0]->i;
	r->time_nsec = time->kids[1]->i;
	if (!(seed = want(jp, o, "seed", J_STR)))
		return -1;
	if (seed->len > (sizeof r->seed + 2) / 3 * 4)
		return fail(jp, "seed is too long");
	if (b64_member(jp, seed, "seed", &bytes, &len) < 0)
		return -1;
	if (len > sizeof r->seed) {
		free(bytes);
		return fail(jp, "seed is too long");
	}
	memcpy(r->seed, bytes, len);
	r->seed_len = len;
	free(bytes);
	if (want_int(jp, o, "tmp_size", 0, INT64_MAX, &v) < 0)
		return -1;
	r->tmp_size = (uint64_t)v;
	if (want_int(jp, o, "pids", 0, INT64_MAX, &v) < 0)
		return -1;
	r->pids = (uint64_t)v;
	return 0;
}

int guest_decode(const char *line, size_t len, guest_msg *msg, char *why, size_t why_size)
{
	static const char *const t_only[] = { "t", NULL };
	static const char *const in_keys[] = { "t", "data", NULL };
	static const char *const sig_keys[] = { "t", "sig", NULL };
	jparser jp = { .p = line, .end = line + len, .why = why, .why_size = why_size };
	jnode *root;
	const jnode *t, *n;
	int64_t v = 0;
	int rc = -1;

	memset(msg, 0, sizeof *msg);
	why[0] = '\0';
	if (len > GUEST_RUN_LINE_MAX) {
		fail(&jp, "a line of %zu bytes is too long", len);
		return -1;
	}
	if (memchr(line, '\0', len) || memchr(line, '\n', len)) {
		fail(&jp, "a NUL or newline inside a line");
		return -1;
	}
	if (parse_value(&jp, &root, 0) < 0)
		goto out;
	skip_ws(&jp);
	if (jp.p != jp.end) {
		fail(&jp, "something after the object");
		goto out;
	}
	if (root->type != J_OBJ) {
		fail(&jp, "a line is not an object");
		goto out;
	}
	if (!(t = want(&jp, root, "t", J_STR)))
		goto out;
	if (strcmp(t->s, "run") && len > GUEST_LINE_MAX) {
		fail(&jp, "a line of %zu bytes is too long", len);
		goto out;
	}
	if (!strcmp(t->s, "run")) {
		msg->type = GUEST_MSG_RUN;
		if (decode_run(&jp, root, &msg->run) < 0)
			goto out;
	} else if (!strcmp(t->s, "in")) {
		msg->type = GUEST_MSG_IN;
		if (only_keys(&jp, root, in_keys) < 0 || !(n = want(&jp, root, "data", J_STR)))
			goto out;
		if (n->len > (GUEST_CHUNK_MAX + 2) / 3 * 4) {
			fail(&jp, "an \"in\" chunk is too long");
			goto out;
		}
		if (b64_member(&jp, n, "data", &msg->data, &msg->len) < 0)
			goto out;
	} else if (!strcmp(t->s, "in_eof")) {
		msg->type = GUEST_MSG_IN_EOF;
		if (only_keys(&jp, root, t_only) < 0)
			goto out;
	} else if (!strcmp(t->s, "signal")) {
		msg->type = GUEST_MSG_SIGNAL;
		if (only_keys(&jp, root, sig_keys) < 0 || want_int(&jp, root, "sig", 1, 64, &v) < 0)
			goto out;
		msg->sig = (int)v;
	} else if (!strcmp(t->s, "bye")) {
		msg->type = GUEST_MSG_BYE;
		if (only_keys(&jp, root, t_only) < 0)
			goto out;
	} else {
		fail(&jp, "an unknown message \"%.40s\"", t->s);
		goto out;
	}
	rc = 0;
out:
	if (jp.oom)
		fail(&jp, "out of memory");
	jparser_free(&jp);
	if (rc < 0)
		guest_msg_free(msg);
	return rc;
}

void guest_msg_free(guest_msg *msg)
{
	free_list(msg->run.argv);
	free_list(msg->run.env);
	free(msg->run.cwd);
	free(msg->run.mount_at);
	free(msg->data);
	memset(msg, 0, sizeof *msg);
}

/* ---- the guest's lines ---- */

static void buf_reserve(guest_buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;

	while (cap < b->len + more + 1)
		cap *= 2;
	char *d = realloc(b->data, cap);

	if (!d)
		abort();	/* pid 1 out of memory: the kernel panics, qemu ends */
	b->data = d;
	b->cap = cap;
}

static void buf_add(guest_buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void buf_adds(guest_buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_printf(guest_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(guest_buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	buf_add(b, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void guest_buf_free(guest_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* s as a JSON string, quotes included. */
static void buf_add_string(guest_buf *b, const char *s)
{
	size_t n = strlen(s);

	buf_adds(b, "\"");
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t k;

		if (c == '"' || c == '\\') {
			buf_add(b, "\\", 1);
			buf_add(b, s + i, 1);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			buf_printf(b, "\\u%04x", c);
			i++;
		} else if ((k = utf8_len((const unsigned char *)s + i, n - i))) {
			buf_add(b, s + i, k);
			i += k;
		} else {
			buf_adds(b, "\\ufffd");
			i++;
		}
	}
	buf_adds(b, "\"");
}

void guest_encode_hello(guest_buf *b, const char *arch)
{
	buf_printf(b, "{\"t\":\"hello\",\"v\":%d,\"arch\":", GUEST_PROTO_VERSION);
	buf_add_string(b, arch);
	buf_adds(b, "}\n");
}

void guest_encode_started(guest_buf *b)
{
	buf_adds(b, "{\"t\":\"started\"}\n");
}

void guest_encode_out(guest_buf *b, int fd, const void *data, size_t len)
{
	buf_printf(b, "{\"t\":\"out\",\"fd\":%d,\"data\":\"", fd);
	buf_reserve(b, (len + 2) / 3 * 4);
	b->len += rls_b64_encode(data, len, b->data + b->len);
	buf_adds(b, "\"}\n");
}

void guest_encode_in_ack(guest_buf *b, size_t n)
{
	buf_printf(b, "{\"t\":\"in_ack\",\"n\":%zu}\n", n);
}

void guest_encode_exit(guest_buf *b, bool signaled, int value)
{
	buf_printf(b, "{\"t\":\"exit\",\"%s\":%d}\n", signaled ? "signal" : "code", value);
}

void guest_encode_error(guest_buf *b, const char *msg)
{
	char cut[1024];

	/* one bounded line, whatever the message */
	snprintf(cut, sizeof cut, "%s", msg);
	buf_adds(b, "{\"t\":\"error\",\"msg\":");
	buf_add_string(b, cut);
	buf_adds(b, "}\n");
}
