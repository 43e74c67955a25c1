/* serve-int.h - the pieces of `rls serve`, shared by the files of serve/
 * (internal: no other module includes this).
 *
 *   base.c      the configuration, the lock, failures (every file uses it)
 *   serve.c     options, the listening socket, start-up, shutdown
 *   http.c      libmicrohttpd: peers, tokens, bodies, replies, routing
 *   api.c       the routes: JSON in, JSON out
 *   sandbox.c   sandboxes: registry, state files, reaping, recovery
 *   exec.c      running a command through `rls run` over a sandbox's delta
 *
 * Threat model.  The peer is a local program (an agent framework) that
 * may be confused or hostile: the socket admits only its owner's uid (or
 * root), the TCP port only a bearer token; every field is checked and a
 * bad one named in a 4xx.  Everything a peer asks to run or to touch in
 * a tree goes through `rls run`: the same sandbox, identity rules,
 * seccomp filter and policy as the command line, so the service adds no
 * way around them (a file path is opened inside the sandbox, never on
 * the host).  Bodies, output, sandboxes and connections are bounded. */
#ifndef RLS_SERVE_INT_H
#define RLS_SERVE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/common.h"

struct json_t;

/* A failure to report to the peer: an HTTP status, the request field at
 * fault (or NULL) and a message that says what to do. */
typedef struct serve_fail {
	int status;
	const char *field;
	char msg[1024];
} serve_fail;

/* Fill *f; returns -1. */
int serve_failf(serve_fail *f, int status, const char *field, const char *fmt, ...) RLS_PRINTF(4, 5);
/* An environment variable's name: letters, digits and _, not a digit first. */
bool serve_env_name_ok(const char *s, size_t n);
/* Free a NULL-terminated array of strings and the strings (NULL is fine). */
void serve_strv_free(char **v);

/* ---- base.c ---- */

typedef struct serve_config {
	char *rls;			/* this program, to run `rls run` */
	char *state_dir;		/* sandboxes' state files live below */
	double idle_timeout;		/* seconds; 0: never reaped */
	unsigned max_sandboxes;
	size_t max_output;		/* default bytes kept of each output stream */
} serve_config;

extern serve_config serve_cfg;
/* Over the registry, every sandbox's state and its sessions. */
extern pthread_mutex_t serve_lock;
/* Broadcast when an event is added or a sandbox closed. */
extern pthread_cond_t serve_events;

/* ---- exec.c ---- */

#define EXEC_MAX_OUTPUT (16u << 20)	/* the most a peer may ask to keep */

typedef struct sandbox sandbox;

typedef struct exec_spec {
	char *const *argv;		/* the command */
	char *const *env;		/* NAME=VALUE, NULL-terminated, or NULL */
	double timeout;			/* 0: none */
	bool stdin_pipe;		/* x->in is a pipe to its standard input */
} exec_spec;

typedef struct serve_exec {
	pid_t pid;			/* the `rls run` */
	int in;				/* its stdin (write end) or -1 */
	int fds[3];			/* stdout, stderr, --json-fd: read ends or -1 */
	rls_buf out[2];			/* what was kept */
	uint64_t dropped[2];		/* what was beyond max */
	size_t max;
	rls_buf report;			/* rls run's JSON object */
	const char *delta;		/* the sandbox's */
	double t0;
} serve_exec;

/* Called with each piece of output as it arrives (stream 0 or 1) instead
 * of keeping it. */
typedef void (*exec_sink)(int stream, const char *data, size_t len, void *opaque);

/* Start `rls run` over the sandbox (its delta busy: sandbox_acquire). */
int exec_start(sandbox *sb, const exec_spec *spec, serve_exec *x, serve_fail *f);
/* Move output until there is none for `wait_ms` or every stream ended:
 * 1 when they all ended, 0 otherwise.  sink NULL: keep up to x->max. */
int exec_pump(serve_exec *x, int wait_ms, exec_sink sink, void *opaque);
/* Wait for rls run; the result object (new reference): exit_status,
 * timed_out, killed_by, duration_s, error, denials, and stdout / stderr
 * as kept (with *_truncated) unless streamed. */
struct json_t *exec_finish(serve_exec *x, bool with_output);
/* Stop it now (the peer went away, or the sandbox is closing). */
void exec_kill(serve_exec *x);
void exec_free(serve_exec *x);
/* Output as JSON text: bytes that are not UTF-8 become U+FFFD. */
struct json_t *serve_text_json(const char *s, size_t len);
/* Start, pump everything, finish: the whole run in one call. */
struct json_t *exec_run(sandbox *sb, const exec_spec *spec, size_t max, serve_fail *f);

/* ---- sandbox.c ---- */

typedef struct sandbox_spec {
	const char *source;		/* a folder on the host */
	const char *policy;		/* preset or file, or NULL for rls run's default */
	const char *backend;
	bool net_host;
	const char *memory, *cpus, *pids;	/* as rls run takes them, or NULL */
	bool keep_on_close;		/* keep a non-empty delta when closed */
} sandbox_spec;

struct sandbox {
	char id[32];
	char *source;			/* real path */
	char *policy;			/* NULL: rls run's own default */
	char *backend;
	bool net_host;
	char *memory, *cpus, *pids;
	bool keep_on_close;
	char *delta;			/* the delta every command writes into */
	char *audit;			/* its audit file: denials */
	char *state_file;
	/* Below: under serve_lock. */
	int refs;			/* requests holding it */
	bool busy;			/* a command holds the delta (one rlsfs a delta) */
	bool closing;			/* out of the registry, being closed */
	bool closed;			/* closed: its last event is written */
	pid_t child;			/* the `rls run` holding the delta, or 0 */
	double last_used;		/* a command, file or delta operation ended */
	off_t audit_seen;		/* how far the audit file was turned into events */
	pthread_cond_t idle;		/* busy or refs went down */
	struct serve_session *sessions;
	uint64_t n_events_total;	/* the next event's sequence number */
	struct json_t **events;		/* a ring of SANDBOX_EVENTS */
	struct sandbox *next_closed;
};

#define SANDBOX_EVENTS 1024


/* Finish what a killed server left (state files of its sandboxes) and
 * start the reaper. */
int sandbox_init(rls_error *err);
int sandbox_create(const sandbox_spec *spec, sandbox **out, serve_fail *f);
/* The sandbox `id`, referenced (sandbox_put), or NULL and a 404. */
sandbox *sandbox_get(const char *id, serve_fail *f);
void sandbox_put(sandbox *sb);
/* Take the delta for one command (waits for the one before); fails when
 * the sandbox closes meanwhile.  sandbox_release gives it back. */
int sandbox_acquire(sandbox *sb, serve_fail *f);
void sandbox_release(sandbox *sb);
/* Close it: kill what runs, keep or discard the delta; `keep` -1 for the
 * sandbox's own choice.  *kept is the delta's path when kept (to free). */
int sandbox_close(sandbox *sb, int keep, char **kept, serve_fail *f);
/* Open a sandbox's delta once no rlsfs serves it (waits up to 10 s). */
struct delta;
int sandbox_open_delta(const char *dir, const char *source, struct delta **d, rls_error *err);
/* Every sandbox, as JSON (new reference); one as JSON. */
struct json_t *sandbox_list_json(void);
struct json_t *sandbox_json(const sandbox *sb);
/* Close every sandbox and free the closed ones (shutdown, no request
 * left). */
void sandbox_close_all(void);
/* Kill every command that runs (shutdown begins). */
void sandbox_kill_all(void);
/* Record an event (takes the reference); serve_lock not held. */
void sandbox_event(sandbox *sb, const char *type, struct json_t *fields);
/* Turn the audit file's new lines into denial events. */
void sandbox_collect_denials(sandbox *sb);
/* Events from sequence `since` on, as NDJSON appended to b; returns the
 * sequence after the last one given.  serve_lock held. */
uint64_t sandbox_events_since(const sandbox *sb, uint64_t since, rls_buf *b);

/* Sessions: a shell's working directory and exported environment, kept
 * between the commands of one session (each command runs in a fresh
 * sandbox process tree over the same delta). */
typedef struct serve_session {
	char id[32];
	char *cwd;			/* inside the sandbox */
	char **env;			/* NAME=VALUE, NULL-terminated */
	struct serve_session *next;
} serve_session;

int session_create(sandbox *sb, struct json_t *env, const char *cwd, char *id_out, serve_fail *f);
int session_delete(sandbox *sb, const char *id, serve_fail *f);
/* Run a shell line in the session; its state is updated from the run. */
struct json_t *session_exec(sandbox *sb, const char *id, const char *line, double timeout, size_t max,
			    serve_fail *f);

/* ---- api.c ---- */

typedef struct serve_request {
	const char *method;
	const char *params[2];		/* {id}, {sid} from the path */
	const char *body;
	size_t body_len;
	/* A query argument, or NULL. */
	const char *(*query)(void *conn, const char *name);
	void *conn;
} serve_request;

/* A reply: a body, or a stream pulled by `next` until it returns -1. */
typedef struct serve_reply {
	int status;
	const char *type;		/* Content-Type */
	rls_buf body;
	/* Streaming: append to b; 0 more to come, -1 the end. */
	int (*next)(void *ctx, rls_buf *b);
	void (*done)(void *ctx);
	void *ctx;
} serve_reply;

typedef struct serve_route {
	const char *method;
	const char *path;		/* segments; {id} and {sid} match one */
	int (*fn)(const serve_request *rq, serve_reply *rp, serve_fail *f);
} serve_route;

extern const serve_route serve_routes[];

/* The reply to an error. */
void serve_reply_fail(serve_reply *rp, const serve_fail *f);
/* A JSON body (takes the reference). */
void serve_reply_json(serve_reply *rp, int status, struct json_t *j);

/* ---- http.c ---- */

typedef struct serve_listen {
	int fd;				/* bound and listening */
	bool unix_socket;		/* check peers' credentials */
	const char *token;		/* TCP: the bearer token */
	unsigned max_connections;
	size_t max_body;
} serve_listen;

typedef struct serve_http serve_http;

int serve_http_start(const serve_listen *l, serve_http **out, rls_error *err);
/* Stop accepting; wait for the requests in flight. */
void serve_http_stop(serve_http *h);

#endif
