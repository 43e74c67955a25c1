/* http.c - libmicrohttpd under `rls serve`: who may ask, how much they may
 * send, and which route answers.
 *
 * A thread per connection, at most max_connections of them: a request may
 * wait for its command as long as the command runs.  On the unix socket
 * the peer's credentials (SO_PEERCRED) must be this server's uid or root;
 * on TCP the request must carry the bearer token (compared in constant
 * time).  A body beyond max_body is refused (413) without being kept. */
#include <dlfcn.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "serve-int.h"

/* libmicrohttpd is loaded when the server starts rather than linked:
 * it brings GnuTLS, whose set-up at load would cost every other rls
 * command (rls run first) a few milliseconds. */
#define MHD_FN(name) __typeof__(&MHD_##name) name
static struct {
	MHD_FN(lookup_connection_value);
	MHD_FN(get_connection_info);
	MHD_FN(create_response_from_callback);
	MHD_FN(create_response_from_buffer);
	MHD_FN(add_response_header);
	MHD_FN(queue_response);
	MHD_FN(destroy_response);
	MHD_FN(start_daemon);
	MHD_FN(stop_daemon);
} mhd;

static int load_mhd(rls_error *err)
{
	static const char *const names[] = {
		"MHD_lookup_connection_value", "MHD_get_connection_info", "MHD_create_response_from_callback",
		"MHD_create_response_from_buffer", "MHD_add_response_header", "MHD_queue_response",
		"MHD_destroy_response", "MHD_start_daemon", "MHD_stop_daemon",
	};
	void *fns[RLS_ARRAY_SIZE(names)];
	void *lib;

	_Static_assert(sizeof fns == sizeof mhd, "one name for each function of mhd");
	if (mhd.stop_daemon)
		return 0;
	lib = dlopen(RLS_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return rls_error_set(err, 0, "cannot load %s (apt-get install libmicrohttpd12): %s", RLS_MHD_SONAME,
				     dlerror());
	for (size_t i = 0; i < RLS_ARRAY_SIZE(names); i++)
		if (!(fns[i] = dlsym(lib, names[i])))
			return rls_error_set(err, 0, "%s has no %s: %s", RLS_MHD_SONAME, names[i], dlerror());
	memcpy(&mhd, fns, sizeof mhd);
	return 0;
}

struct serve_http {
	struct MHD_Daemon *d;
	serve_listen l;
};

typedef struct conn_state {
	rls_buf body;
	bool too_big;
} conn_state;

static const char *query(void *conn, const char *name)
{
	return mhd.lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

static bool peer_allowed(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = mhd.get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cred;
	socklen_t len = sizeof cred;

	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == geteuid() || cred.uid == 0;
}

static bool token_ok(struct MHD_Connection *c, const char *token)
{
	const char *h = mhd.lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	size_t n = strlen(token), m;
	unsigned char diff = 0;

	if (!h || strncmp(h, "Bearer ", 7))
		return false;
	h += 7;
	m = strlen(h);
	/* As long as the token, whatever was sent. */
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)token[i] ^ (unsigned char)(i < m ? h[i] : 0);
	return diff == 0 && m == n;
}

/* The route for method and url; params from the {..} segments.  *known
 * says whether the path exists with another method. */
static const serve_route *route_find(const char *method, const char *url, const char *params[2], bool *known)
{
	*known = false;
	for (const serve_route *r = serve_routes; r->method; r++) {
		const char *p = r->path, *u = url;
		size_t np = 0;
		static __thread char seg[2][128];

		while (*p && *u) {
			size_t pl = strcspn(p + 1, "/") + 1, ul = strcspn(u + 1, "/") + 1;

			if (p[1] == '{') {
				if (ul < 2 || ul > sizeof seg[0] || np >= 2)
					break;
				memcpy(seg[np], u + 1, ul - 1);
				seg[np][ul - 1] = '\0';
				params[np] = seg[np];
				np++;
			} else if (pl != ul || memcmp(p, u, pl)) {
				break;
			}
			p += pl;
			u += ul;
		}
		if (*p || *u)
			continue;
		if (strcmp(r->method, method)) {
			*known = true;
			continue;
		}
		return r;
	}
	return NULL;
}

typedef struct stream_ctx {
	serve_reply rp;
	rls_buf buf;
	size_t off;
} stream_ctx;

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	stream_ctx *s = cls;

	while (s->off == s->buf.len) {
		rls_buf_reset(&s->buf);
		s->off = 0;
		if (s->rp.next(s->rp.ctx, &s->buf) < 0 && !s->buf.len)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	{
		size_t n = s->buf.len - s->off < max ? s->buf.len - s->off : max;

		memcpy(out, s->buf.data + s->off, n);
		s->off += n;
		return (ssize_t)n;
	}
}

static void stream_free(void *cls)
{
	stream_ctx *s = cls;

	s->rp.done(s->rp.ctx);
	rls_buf_free(&s->buf);
	free(s);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, serve_reply *rp)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (rp->next) {
		stream_ctx *s = rls_xcalloc(1, sizeof *s);

		s->rp = *rp;
		resp = mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, 65536, stream_read, s, stream_free);
		if (!resp) {
			stream_free(s);
			return MHD_NO;
		}
	} else {
		resp = mhd.create_response_from_buffer(rp->body.len, rp->body.data ? rp->body.data : (void *)"",
						       rp->body.data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
		if (!resp) {
			rls_buf_free(&rp->body);
			return MHD_NO;
		}
		rp->body.data = NULL;
	}
	mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rp->type ? rp->type : "application/json");
	ret = mhd.queue_response(c, (unsigned)rp->status, resp);
	mhd.destroy_response(resp);
	return ret;
}

static enum MHD_Result fail_reply(struct MHD_Connection *c, int status, const char *field, const char *msg)
{
	serve_reply rp = { 0 };
	serve_fail f = { .status = status, .field = field };

	snprintf(f.msg, sizeof f.msg, "%s", msg);
	serve_reply_fail(&rp, &f);
	return send_reply(c, &rp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	serve_http *h = cls;
	conn_state *cs = *con_cls;

	if (!cs) {
		if (h->l.unix_socket ? !peer_allowed(c) : !token_ok(c, h->l.token))
			return fail_reply(c, h->l.unix_socket ? 403 : 401, NULL,
					  h->l.unix_socket ? "this socket serves its owner's uid (and root) only"
							   : "a bearer token is needed (Authorization: Bearer TOKEN)");
		cs = rls_xcalloc(1, sizeof *cs);
		*con_cls = cs;
		return MHD_YES;
	}
	if (*upload_size) {
		if (cs->body.len + *upload_size > h->l.max_body) {
			cs->too_big = true;
			rls_buf_free(&cs->body);
		} else if (!cs->too_big) {
			rls_buf_add(&cs->body, upload, *upload_size);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (cs->too_big) {
		char msg[128];

		snprintf(msg, sizeof msg, "the body is larger than %zu bytes", h->l.max_body);
		return fail_reply(c, 413, "body", msg);
	}
	{
		const char *params[2] = { NULL, NULL };
		bool known;
		const serve_route *r = route_find(method, url, params, &known);
		serve_request rq = { .method = method, .params = { params[0], params[1] }, .body = cs->body.data,
				     .body_len = cs->body.len, .query = query, .conn = c };
		serve_reply rp = { 0 };
		serve_fail f = { 0 };

		if (!r)
			return fail_reply(c, known ? 405 : 404, known ? "method" : "route",
					  known ? "this route does not answer that method (see serve/openapi.yaml)"
						: "no such route (see serve/openapi.yaml)");
		if (r->fn(&rq, &rp, &f) < 0) {
			rls_buf_free(&rp.body);
			serve_reply_fail(&rp, &f);
		}
		return send_reply(c, &rp);
	}
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	conn_state *cs = *con_cls;

	if (cs) {
		rls_buf_free(&cs->body);
		free(cs);
	}
	*con_cls = NULL;
}

int serve_http_start(const serve_listen *l, serve_http **out, rls_error *err)
{
	serve_http *h;

	if (load_mhd(err) < 0)
		return -1;
	h = rls_xcalloc(1, sizeof *h);
	h->l = *l;
	h->d = mhd.start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
					MHD_USE_ITC,
				0, NULL, NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, l->fd,
				MHD_OPTION_CONNECTION_LIMIT, l->max_connections, MHD_OPTION_NOTIFY_COMPLETED, on_done,
				NULL, MHD_OPTION_CONNECTION_TIMEOUT, 600u, MHD_OPTION_END);
	if (!h->d) {
		free(h);
		return rls_error_set(err, 0, "could not start the HTTP server (libmicrohttpd)");
	}
	*out = h;
	return 0;
}

void serve_http_stop(serve_http *h)
{
	if (!h)
		return;
	mhd.stop_daemon(h->d);
	free(h);
}
