/* proto.c - the host's end of the protocol in rls-guest(7): the lines it
 * sends, written with jansson, and a strict reader of the guest's.
 *
 * The guest is the sandbox's kernel and pid 1, so once the command runs
 * its lines are untrusted: a line that is not exactly one message we know
 * (its fields, their types, their ranges, canonical base64) is an error,
 * and vm_run ends the VM on it.
 */
#include "vmint.h"

#include <jansson.h>
#include <time.h>
#include <sys/random.h>

static json_t *b64_string(const void *data, size_t len)
{
	_cleanup_free_ char *s = rls_xmalloc((len + 2) / 3 * 4 + 1);

	rls_b64_encode(data, len, s);
	return json_string_nocheck(s);
}

/* argv and env are bytes (a file name need not be UTF-8): base64 each. */
static json_t *b64_list(char *const *v)
{
	json_t *a = json_array();

	for (; v && *v; v++)
		json_array_append_new(a, b64_string(*v, strlen(*v)));
	return a;
}

/* A line's worth of JSON, with its newline, or NULL when over max. */
static char *dump_line(json_t *o, size_t max)
{
	char *s = json_dumps(o, JSON_COMPACT);
	size_t n;

	if (!s)
		rls_die_oom();
	n = strlen(s);
	if (n + 1 > max) {
		free(s);
		return NULL;
	}
	s = rls_xrealloc(s, n + 2);
	s[n] = '\n';
	s[n + 1] = '\0';
	return s;
}

char *proto_run_line(const vm_request *req, const char *share, bool sys, rls_error *err)
{
	/* Up to the guest's limit for this one line (rls-guest(7)). */
	const size_t max = 4u << 20;
	unsigned char seed[32];
	struct timespec now;
	json_t *o;
	char *line;

	clock_gettime(CLOCK_REALTIME, &now);
	if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed)
		return rls_error_set(err, errno, "getrandom"), NULL;
	o = json_pack("{s:s, s:o, s:o, s:o, s:s, s:s, s:b, s:b, s:I, s:I, s:[I,I], s:o, s:I, s:I}",
		      "t", "run",
		      "argv", b64_list(req->argv),
		      "env", b64_list(req->env),
		      "cwd", b64_string(req->chdir ? req->chdir : req->mount_at,
					strlen(req->chdir ? req->chdir : req->mount_at)),
		      "mount_at", req->mount_at,
		      "share", share,
		      "sys", sys,
		      "net", req->share_net,
		      "uid", (json_int_t)req->uid,
		      "gid", (json_int_t)req->gid,
		      "time", (json_int_t)now.tv_sec, (json_int_t)now.tv_nsec,
		      "seed", b64_string(seed, sizeof seed),
		      "tmp_size", (json_int_t)req->tmp_size,
		      "pids", (json_int_t)req->pids);
	explicit_bzero(seed, sizeof seed);
	if (!o)
		return rls_error_set(err, 0, "the mount point '%s' is not UTF-8 text", req->mount_at), NULL;
	line = dump_line(o, max);
	json_decref(o);
	if (!line)
		rls_error_set(err, E2BIG, "the command and its environment are too large for the guest");
	return line;
}

static void add_line(rls_buf *b, json_t *o)
{
	char *s = dump_line(o, SIZE_MAX);

	json_decref(o);
	rls_buf_adds(b, s);
	free(s);
}

void proto_in(rls_buf *b, const void *data, size_t len)
{
	add_line(b, json_pack("{s:s, s:o}", "t", "in", "data", b64_string(data, len)));
}

void proto_in_eof(rls_buf *b)
{
	rls_buf_adds(b, "{\"t\":\"in_eof\"}\n");
}

void proto_signal(rls_buf *b, int sig)
{
	rls_buf_printf(b, "{\"t\":\"signal\",\"sig\":%d}\n", sig);
}

void proto_bye(rls_buf *b)
{
	rls_buf_adds(b, "{\"t\":\"bye\"}\n");
}

/* ---- the guest's lines ---- */

static int bad(rls_error *err, const char *what)
{
	return rls_error_set(err, 0, "a bad line from the guest: %s", what);
}

/* o has exactly these keys (NULL-terminated) and no others. */
static int exact_keys(json_t *o, const char *const *keys, rls_error *err)
{
	size_t n = 0;

	for (const char *const *k = keys; *k; k++, n++)
		if (!json_object_get(o, *k))
			return rls_error_set(err, 0, "a bad line from the guest: no \"%s\"", *k);
	if (json_object_size(o) != n)
		return bad(err, "an unknown field");
	return 0;
}

static int int_field(json_t *o, const char *key, json_int_t min, json_int_t max, json_int_t *out,
		     rls_error *err)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return rls_error_set(err, 0, "a bad line from the guest: \"%s\" is not an integer", key);
	*out = json_integer_value(v);
	if (*out < min || *out > max)
		return rls_error_set(err, 0, "a bad line from the guest: \"%s\" is out of range", key);
	return 0;
}

static int decode(json_t *o, vm_msg *msg, rls_error *err)
{
	static const char *const hello_keys[] = { "t", "v", "arch", NULL };
	static const char *const t_keys[] = { "t", NULL };
	static const char *const out_keys[] = { "t", "fd", "data", NULL };
	static const char *const ack_keys[] = { "t", "n", NULL };
	static const char *const code_keys[] = { "t", "code", NULL };
	static const char *const sig_keys[] = { "t", "signal", NULL };
	static const char *const err_keys[] = { "t", "msg", NULL };
	const char *t;
	json_int_t v;

	if (!json_is_object(o))
		return bad(err, "not an object");
	t = json_string_value(json_object_get(o, "t"));
	if (!t)
		return bad(err, "no type");
	if (!strcmp(t, "hello")) {
		const char *arch;

		msg->type = VM_MSG_HELLO;
		if (exact_keys(o, hello_keys, err) < 0 || int_field(o, "v", 0, 1000000, &v, err) < 0)
			return -1;
		msg->version = (int)v;
		arch = json_string_value(json_object_get(o, "arch"));
		if (!arch || strlen(arch) >= sizeof msg->arch || strspn(arch, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(arch))
			return bad(err, "a bad architecture");
		snprintf(msg->arch, sizeof msg->arch, "%s", arch);
	} else if (!strcmp(t, "started")) {
		msg->type = VM_MSG_STARTED;
		return exact_keys(o, t_keys, err);
	} else if (!strcmp(t, "out")) {
		json_t *data = json_object_get(o, "data");
		size_t n;

		msg->type = VM_MSG_OUT;
		if (exact_keys(o, out_keys, err) < 0 || int_field(o, "fd", 1, 2, &v, err) < 0)
			return -1;
		msg->fd = (int)v;
		if (!json_is_string(data))
			return bad(err, "\"data\" is not a string");
		n = json_string_length(data);
		/* rls-guest(7): at most 32 KiB of output per line */
		if (n > (32768 + 2) / 3 * 4)
			return bad(err, "an output chunk is too long");
		msg->data = rls_xmalloc(n / 4 * 3 + 1);
		if (rls_b64_decode(json_string_value(data), n, msg->data, &msg->len) < 0)
			return bad(err, "\"data\" is not base64");
		if (!msg->len)
			return bad(err, "an empty output chunk");
	} else if (!strcmp(t, "in_ack")) {
		msg->type = VM_MSG_IN_ACK;
		if (exact_keys(o, ack_keys, err) < 0 || int_field(o, "n", 1, 1 << 30, &v, err) < 0)
			return -1;
		msg->count = (uint64_t)v;
	} else if (!strcmp(t, "exit")) {
		msg->type = VM_MSG_EXIT;
		if (json_object_get(o, "signal")) {
			if (exact_keys(o, sig_keys, err) < 0 || int_field(o, "signal", 1, 64, &v, err) < 0)
				return -1;
			msg->signaled = true;
		} else if (exact_keys(o, code_keys, err) < 0 || int_field(o, "code", 0, 255, &v, err) < 0) {
			return -1;
		}
		msg->value = (int)v;
	} else if (!strcmp(t, "error")) {
		const char *s;

		msg->type = VM_MSG_ERROR;
		if (exact_keys(o, err_keys, err) < 0)
			return -1;
		s = json_string_value(json_object_get(o, "msg"));
		if (!s)
			return bad(err, "\"msg\" is not a string");
		snprintf(msg->text, sizeof msg->text, "%s", s);
	} else {
		return bad(err, "an unknown type");
	}
	return 0;
}

int vm_msg_decode(const char *line, size_t len, vm_msg *msg, rls_error *err)
{
	json_error_t jerr;
	json_t *o;
	int rc;

	memset(msg, 0, sizeof *msg);
	if (len > VM_LINE_MAX)
		return rls_error_set(err, 0, "a line from the guest is longer than %d bytes", VM_LINE_MAX);
	/* jansson refuses \u0000 in strings unless asked, and NUL bytes end
	 * its input early: a line must not hold one. */
	if (memchr(line, '\0', len))
		return bad(err, "a NUL byte");
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return bad(err, "not JSON");
	rc = decode(o, msg, err);
	json_decref(o);
	if (rc < 0)
		vm_msg_free(msg);
	return rc;
}

void vm_msg_free(vm_msg *msg)
{
	free(msg->data);
	msg->data = NULL;
	msg->len = 0;
}
