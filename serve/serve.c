/* serve.c - `rls serve`: options, the listening socket, start-up and
 * shutdown.
 *
 * Start-up closes what a killed server left (sandbox.c), then listens.
 * SIGTERM, SIGINT and SIGHUP stop it: the commands that run are told to
 * end (each rls run kills its sandbox, unmounts, keeps its delta), the
 * requests in flight answered, and every sandbox closed as it asked. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "serve.h"
#include "serve-int.h"

static void usage(FILE *out)
{
	fputs("usage: rls serve [--socket PATH | --listen 127.0.0.1:PORT --token-file FILE]\n"
	      "                 [--idle-timeout SECONDS] [--max-sandboxes N] [--max-connections N]\n"
	      "                 [--max-body SIZE] [--max-output SIZE]\n"
	      "See rls-serve(1).\n", out);
}

static int RLS_PRINTF(1, 2) bad(const char *fmt, ...)
{
	va_list ap;

	fputs("rls: serve: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

/* Root: /run/rls/serve.sock; others: $XDG_RUNTIME_DIR/rls/serve.sock,
 * else the state dir's.  The SDK looks in the same places. */
static char *default_socket(void)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0)
		return rls_xstrdup("/run/rls/serve.sock");
	if (rt && rt[0] == '/')
		return rls_xasprintf("%s/rls/serve.sock", rt);
	return rls_xasprintf("%s/serve.sock", serve_cfg.state_dir);
}

static int listen_unix(const char *path, rls_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_free_ char *dir = rls_xstrdup(path);
	char *slash = strrchr(dir, '/');
	int fd;
	mode_t old;

	if (strlen(path) >= sizeof sa.sun_path)
		return rls_error_set(err, 0, "--socket %s: longer than %zu bytes", path, sizeof sa.sun_path - 1);
	if (slash && slash != dir) {
		*slash = '\0';
		if (rls_mkdir_p(dir, 0700, err) < 0)
			return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return rls_error_set(err, errno, "socket");
	/* A socket left by a server that was killed: ours to replace (the
	 * state lock says no other server runs). */
	{
		struct stat st;

		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		umask(old);
		close(fd);
		return rls_error_set(err, errno, "--socket %s", path);
	}
	umask(old);
	if (chmod(path, 0600) < 0 || listen(fd, 64) < 0) {
		close(fd);
		return rls_error_set(err, errno, "--socket %s", path);
	}
	return fd;
}

/* ADDR:PORT on a loopback address only: the token is no TLS. */
static int listen_tcp(const char *spec, rls_error *err)
{
	_cleanup_free_ char *host = rls_xstrdup(spec);
	char *colon = strrchr(host, ':'), *end;
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	unsigned long port;
	int fd, one = 1;

	if (!colon || !colon[1] || (port = strtoul(colon + 1, &end, 10), *end) || port > 65535)
		return rls_error_set(err, 0, "--listen wants 127.0.0.1:PORT or [::1]:PORT, not '%s'", spec);
	*colon = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		host[strlen(host) - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1 || !IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			return rls_error_set(err, 0, "--listen: %s is not a loopback address (::1)", host + 1);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		len = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1 || (ntohl(s4->sin_addr.s_addr) >> 24) != 127)
			return rls_error_set(err, 0, "--listen: %s is not a loopback address (127.0.0.1)", host);
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		len = sizeof *s4;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return rls_error_set(err, errno, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
		close(fd);
		return rls_error_set(err, errno, "--listen %s", spec);
	}
	return fd;
}

static char *read_token(const char *file, rls_error *err)
{
	char *text = NULL;
	size_t len = 0;
	struct stat st;

	if (rls_read_file(AT_FDCWD, file, 4096, &text, &len, err) < 0)
		return NULL;
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	if (len < 16 || strlen(text) != len) {
		free(text);
		return rls_error_set(err, 0, "--token-file %s: the token wants 16 bytes or more, on one line", file), NULL;
	}
	if (stat(file, &st) == 0 && (st.st_mode & 077)) {
		free(text);
		return rls_error_set(err, 0, "--token-file %s: readable by others (chmod 600 it)", file), NULL;
	}
	return text;
}

int serve_main(int argc, char **argv)
{
	enum { O_SOCKET = 256, O_LISTEN, O_TOKEN, O_IDLE, O_MAX_SB, O_MAX_CONN, O_MAX_BODY, O_MAX_OUT, O_ROUTES };
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "token-file", required_argument, NULL, O_TOKEN },
		{ "idle-timeout", required_argument, NULL, O_IDLE },
		{ "max-sandboxes", required_argument, NULL, O_MAX_SB },
		{ "max-connections", required_argument, NULL, O_MAX_CONN },
		{ "max-body", required_argument, NULL, O_MAX_BODY },
		{ "max-output", required_argument, NULL, O_MAX_OUT },
		{ "list-routes", no_argument, NULL, O_ROUTES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_free_ char *socket_path = NULL, *token = NULL, *lockfile = NULL;
	const char *sock_opt = NULL, *listen_opt = NULL, *token_file = NULL;
	serve_listen l = { .fd = -1, .max_connections = 64, .max_body = 17u << 20 };
	_cleanup_close_ int lock_fd = -1;
	serve_http *h = NULL;
	rls_error err;
	sigset_t set;
	int opt, sig, status = 1;
	uint64_t v;
	double d;

	serve_cfg.idle_timeout = 1800;
	serve_cfg.max_sandboxes = 64;
	serve_cfg.max_output = 1u << 20;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case O_SOCKET: sock_opt = optarg; break;
		case O_LISTEN: listen_opt = optarg; break;
		case O_TOKEN: token_file = optarg; break;
		case O_IDLE:
			if (rls_parse_seconds(optarg, &d) < 0)
				return bad("--idle-timeout wants seconds (like 600 or 30m; 0: never), not '%s'", optarg);
			serve_cfg.idle_timeout = d;
			break;
		case O_MAX_SB:
		case O_MAX_CONN:
			if (rls_parse_size(optarg, &v) < 0 || v < 1 || v > 4096)
				return bad("%s wants a number from 1 to 4096, not '%s'", argv[optind - 1], optarg);
			if (opt == O_MAX_SB)
				serve_cfg.max_sandboxes = (unsigned)v;
			else
				l.max_connections = (unsigned)v;
			break;
		case O_MAX_BODY:
		case O_MAX_OUT:
			if (rls_parse_size(optarg, &v) < 0 || v > EXEC_MAX_OUTPUT + (opt == O_MAX_BODY ? (1u << 20) : 0))
				return bad("%s wants a size up to 16M (like 64K or 1M), not '%s'", argv[optind - 1], optarg);
			if (opt == O_MAX_BODY)
				l.max_body = (size_t)v;
			else
				serve_cfg.max_output = (size_t)v;
			break;
		case O_ROUTES:
			for (const serve_route *r = serve_routes; r->method; r++)
				printf("%s %s\n", r->method, r->path);
			return 0;
		case 'h': usage(stdout); return 0;
		case ':': return bad("%s needs a value (see rls serve --help)", argv[optind - 1]);
		default: return bad("unknown option '%s' (see rls serve --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("takes no arguments, not '%s' (see rls serve --help)", argv[optind]);
	if (listen_opt && sock_opt)
		return bad("--socket and --listen: one of them");
	if (!!listen_opt != !!token_file)
		return bad(listen_opt ? "--listen needs --token-file FILE: the bearer token every request must carry"
				      : "--token-file goes with --listen");

	serve_cfg.rls = realpath("/proc/self/exe", NULL);
	serve_cfg.state_dir = rls_state_dir("serve", NULL, &err);
	if (!serve_cfg.rls || !serve_cfg.state_dir) {
		fprintf(stderr, "rls: serve: %s\n", serve_cfg.state_dir ? strerror(errno) : err.msg);
		goto out;
	}
	/* One server a state dir: a second would close the first's sandboxes. */
	lockfile = rls_xasprintf("%s/serve.lock", serve_cfg.state_dir);
	lock_fd = open(lockfile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "rls: serve: another rls serve runs over %s (stop it first)\n", serve_cfg.state_dir);
		goto out;
	}
	if (listen_opt) {
		if (!(token = read_token(token_file, &err)) || (l.fd = listen_tcp(listen_opt, &err)) < 0) {
			fprintf(stderr, "rls: serve: %s\n", err.msg);
			status = 2;
			goto out;
		}
		l.token = token;
	} else {
		socket_path = sock_opt ? rls_xstrdup(sock_opt) : default_socket();
		if ((l.fd = listen_unix(socket_path, &err)) < 0) {
			fprintf(stderr, "rls: serve: %s\n", err.msg);
			goto out;
		}
		l.unix_socket = true;
	}

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (sandbox_init(&err) < 0 || serve_http_start(&l, &h, &err) < 0) {
		fprintf(stderr, "rls: serve: %s\n", err.msg);
		goto out;
	}
	fprintf(stderr, "rls: serve: listening on %s\n", socket_path ? socket_path : listen_opt);
	while (sigwait(&set, &sig) != 0)
		;
	fprintf(stderr, "rls: serve: %s: stopping\n", strsignal(sig));
	sandbox_kill_all();
	serve_http_stop(h);
	sandbox_close_all();
	status = 0;
out:
	if (l.fd >= 0)
		close(l.fd);
	if (socket_path && l.unix_socket)
		unlink(socket_path);
	free(serve_cfg.rls);
	free(serve_cfg.state_dir);
	return status;
}
