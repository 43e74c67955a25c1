/* run.c - `rls run`: mount the source through rlsfs, run the command in a
 * bubblewrap sandbox over that mount, then commit (or keep) the delta.
 *
 * Order matters for the no-leftovers promise: the private temp dir and the
 * cgroup exist before the guard is forked, the guard exists before
 * anything is mounted, and rlsfs watches our pid so that even SIGKILL
 * leaves no mount behind.  See rls(1) for the behaviour this implements.
 */
#include "launcher.h"
#include "commands.h"
#include "run.h"

#include "../delta/delta.h"
#include "../policy/policy.h"

#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <limits.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>


#define SANDBOX_HOME "/home/sandbox"
#define TIMEOUT_GRACE_S 2.0
#define DELTA_FREE_WAIT_S 10.0

/* What became of the delta after the command. */
typedef enum commit_outcome {
	OUTCOME_NONE,		/* nothing to commit */
	OUTCOME_KEPT,		/* not committed on purpose (--commit, a timeout...) */
	OUTCOME_CONFLICT,	/* nothing committed: conflicts under --on-conflict fail */
	OUTCOME_ERROR,		/* the commit failed */
	OUTCOME_DONE,		/* committed */
} commit_outcome;

static const char *const outcome_names[] = { "none", "kept", "conflict", "error", "done" };

typedef enum commit_mode {
	COMMIT_AUTO,
	COMMIT_ON_SUCCESS,
	COMMIT_NEVER,
} commit_mode;

typedef struct run_opts {
	const char *policy;
	const char *backend;
	const char *source;
	const char *mount_at;
	const char *delta;
	const char *audit;
	commit_mode commit;
	delta_conflict_mode on_conflict;
	bool allow_symlinks_out;
	const char *delta_quota;	/* --delta-quota, passed to rlsfs --max-delta-size */
	const char *delta_files;	/* --delta-files, passed to rlsfs --max-delta-files */
	double timeout;
	run_limits lim;
	bool share_net;
	const char *user;	/* --user, or NULL */
	uint64_t tmp_size;	/* --tmp-size: each of /tmp, HOME, /dev/shm */
	const char *memory_arg;	/* --memory as given, for messages */
	run_bind *binds;	/* --bind, --bind-rw (host paths checked later) */
	size_t n_binds;
	char **env;		/* --env arguments as given */
	size_t n_env;
	int json_fd;		/* --json FILE or --json-fd N: where the object goes; -1 for none */
	bool capture;		/* --capture: the command's stdout and stderr into the object */
	bool quiet;
	char **argv;
	const char *runtime, *rootfs, *image;	/* the oci backend's */
	const char *vm_share;	/* the vm backend's --vm-share */
} run_opts;

static void run_opts_free(run_opts *o)
{
	for (size_t i = 0; i < o->n_binds; i++) {
		free(o->binds[i].host);
		free(o->binds[i].inside);
	}
	free(o->binds);
	free(o->env);
	if (o->json_fd >= 0)
		close(o->json_fd);
}

static void usage(FILE *out)
{
	fputs("usage: rls run [-p POLICY] [--backend bwrap|oci|vm] [--source DIR] [--mount-at PATH]\n"
	      "               [--delta DIR] [--commit auto|on-success|never]\n"
	      "               [--on-conflict ours|theirs|fail] [--allow-symlinks-out] [--timeout SECONDS]\n"
	      "               [--memory SIZE] [--cpus N] [--pids N] [--net none|host]\n"
	      "               [--env NAME[=VALUE]]... [--bind HOST[:INSIDE]]... [--bind-rw HOST[:INSIDE]]...\n"
	      "               [--user USER[:GROUP]] [--tmp-size SIZE] [--delta-quota SIZE] [--delta-files N]\n"
	      "               [--audit FILE] [--json FILE | --json-fd N] [--capture] [--quiet]\n"
	      "               [--runtime runc|crun|runsc|PATH] [--rootfs DIR | --image LAYOUT[:TAG]]\n"
	      "               [--vm-share virtiofs|9p]\n"
	      "               -- COMMAND [ARG...]\n"
	      "See rls(1).\n", out);
}

static int RLS_PRINTF(1, 2) bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rls: run: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static bool valid_env_name(const char *s, size_t n)
{
	if (!n || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* An absolute, normalised path where the mount may go: not /, and not in
 * a directory the sandbox gets from elsewhere. */
static bool valid_mount_at(const char *p)
{
	static const char *const reserved[] = { "/proc", "/dev", NULL };

	if (p[0] != '/' || !p[1] || strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../") ||
	    p[strlen(p) - 1] == '/')
		return false;
	if (!strcmp(p + strlen(p) - 2, "/.") || (strlen(p) >= 3 && !strcmp(p + strlen(p) - 3, "/..")))
		return false;
	for (const char *const *d = sandbox_system_dirs; *d; d++)
		if (run_path_within(p, *d))
			return false;
	for (const char *const *d = reserved; *d; d++)
		if (run_path_within(p, *d))
			return false;
	return strcmp(p, "/tmp") && strcmp(p, SANDBOX_HOME) && strcmp(p, "/home");
}

/* --bind: each host path real and outside the tree (a path of the tree
 * is the policy's to show), holding neither the tree nor the delta; each
 * place inside a plain absolute path clear of the mount and of /proc and
 * /dev. */
static int check_binds(run_opts *o, const char *source, const char *delta_dir)
{
	for (size_t i = 0; i < o->n_binds; i++) {
		run_bind *b = &o->binds[i];
		const char *opt = b->rw ? "--bind-rw" : "--bind";
		char *real = realpath(b->host, NULL);

		if (!real)
			return bad("%s %s: %s", opt, b->host, strerror(errno));
		free(b->host);
		b->host = real;
		if (run_path_within(real, source) || run_path_within(source, real))
			return bad("%s %s: the source tree is shown only through the policy (-p), not by --bind",
				   opt, real);
		if (delta_dir && run_path_within(delta_dir, real))
			return bad("%s %s would show the delta %s", opt, real, delta_dir);
		if (!b->inside)
			b->inside = rls_xstrdup(real);
		if (b->inside[0] != '/' || !strcmp(b->inside, "/") || strstr(b->inside, "//") ||
		    strstr(b->inside, "/./") || strstr(b->inside, "/../") ||
		    b->inside[strlen(b->inside) - 1] == '/' || run_path_within(b->inside, "/proc") ||
		    run_path_within(b->inside, "/dev") || run_path_within(b->inside, "/run/rls") ||
		    run_path_within(b->inside, o->mount_at) || run_path_within(o->mount_at, b->inside))
			return bad("%s: '%s' is no place for it inside (an absolute path outside %s, /proc, "
				   "/dev and /run/rls)", opt, b->inside, o->mount_at);
	}
	return 0;
}

/* Each of the sandbox's /tmp, HOME and /dev/shm holds at most this by
 * default: 1 GiB, or an eighth of the memory on a smaller machine, so
 * that the three together cannot take a laptop's memory. */
static uint64_t default_tmp_size(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	uint64_t size = 1ull << 30;

	if (pages > 0 && page > 0 && (uint64_t)pages * (uint64_t)page / 8 < size)
		size = (uint64_t)pages * (uint64_t)page / 8;
	return size;
}

static int parse_opts(int argc, char **argv, run_opts *o)
{
	enum { O_BACKEND = 256, O_SOURCE, O_MOUNT_AT, O_DELTA, O_COMMIT, O_ON_CONFLICT, O_TIMEOUT,
	       O_MEMORY, O_CPUS, O_PIDS, O_NET, O_ENV, O_JSON, O_QUIET, O_AUDIT, O_USER, O_TMP_SIZE, O_JSON_FD, O_CAPTURE, O_DELTA_QUOTA, O_DELTA_FILES,
	       O_BIND, O_BIND_RW, O_ALLOW_SYMLINKS_OUT,
	       O_RUNTIME, O_ROOTFS, O_IMAGE, O_VM_SHARE };
	static const struct option longopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "source", required_argument, NULL, O_SOURCE },
		{ "mount-at", required_argument, NULL, O_MOUNT_AT },
		{ "delta", required_argument, NULL, O_DELTA },
		{ "commit", required_argument, NULL, O_COMMIT },
		{ "on-conflict", required_argument, NULL, O_ON_CONFLICT },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "memory", required_argument, NULL, O_MEMORY },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "pids", required_argument, NULL, O_PIDS },
		{ "net", required_argument, NULL, O_NET },
		{ "env", required_argument, NULL, O_ENV },
		{ "audit", required_argument, NULL, O_AUDIT },
		{ "user", required_argument, NULL, O_USER },
		{ "tmp-size", required_argument, NULL, O_TMP_SIZE },
		{ "bind", required_argument, NULL, O_BIND },
		{ "bind-rw", required_argument, NULL, O_BIND_RW },
		{ "runtime", required_argument, NULL, O_RUNTIME },
		{ "rootfs", required_argument, NULL, O_ROOTFS },
		{ "image", required_argument, NULL, O_IMAGE },
		{ "vm-share", required_argument, NULL, O_VM_SHARE },
		{ "allow-symlinks-out", no_argument, NULL, O_ALLOW_SYMLINKS_OUT },
		{ "json", required_argument, NULL, O_JSON },
		{ "json-fd", required_argument, NULL, O_JSON_FD },
		{ "capture", no_argument, NULL, O_CAPTURE },
		{ "delta-quota", required_argument, NULL, O_DELTA_QUOTA },
		{ "delta-files", required_argument, NULL, O_DELTA_FILES },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	memset(o, 0, sizeof *o);
	o->json_fd = -1;
	o->backend = "bwrap";
	o->mount_at = "/workspace";
	o->on_conflict = DELTA_CONFLICT_OURS;
	o->tmp_size = default_tmp_size();
	o->env = rls_xcalloc((size_t)argc + 1, sizeof *o->env);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:p:qh", longopts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'p': o->policy = optarg; break;
		case O_BACKEND:
			if (strcmp(optarg, "bwrap") && strcmp(optarg, "oci") && strcmp(optarg, "vm"))
				return bad("--backend must be bwrap, oci or vm, not '%s'", optarg);
			o->backend = optarg;
			break;
		case O_SOURCE: o->source = optarg; break;
		case O_MOUNT_AT:
			if (!valid_mount_at(optarg))
				return bad("--mount-at must be an absolute path outside the system "
					   "directories, /proc, /dev, /tmp and /home, not '%s'", optarg);
			o->mount_at = optarg;
			break;
		case O_DELTA: o->delta = optarg; break;
		case O_AUDIT: o->audit = optarg; break;
		case O_COMMIT:
			if (!strcmp(optarg, "auto"))
				o->commit = COMMIT_AUTO;
			else if (!strcmp(optarg, "on-success"))
				o->commit = COMMIT_ON_SUCCESS;
			else if (!strcmp(optarg, "never"))
				o->commit = COMMIT_NEVER;
			else
				return bad("--commit must be auto, on-success or never, not '%s'", optarg);
			break;
		case O_ON_CONFLICT:
			if (!strcmp(optarg, "ours"))
				o->on_conflict = DELTA_CONFLICT_OURS;
			else if (!strcmp(optarg, "theirs"))
				o->on_conflict = DELTA_CONFLICT_THEIRS;
			else if (!strcmp(optarg, "fail"))
				o->on_conflict = DELTA_CONFLICT_FAIL;
			else
				return bad("--on-conflict must be ours, theirs or fail, not '%s'", optarg);
			break;
		case O_TIMEOUT:
			/* 0 means no timeout, as for timeout(1). */
			if (rls_parse_seconds(optarg, &o->timeout) < 0)
				return bad("--timeout wants seconds (like 30, 1.5, 2s or 5m), not '%s'", optarg);
			break;
		case O_MEMORY:
			if (rls_parse_size(optarg, &o->lim.memory) < 0 || o->lim.memory < 1024 * 1024)
				return bad("--memory wants a size of at least 1M (like 512M or 2G), not '%s'",
					   optarg);
			o->lim.has_memory = true;
			o->memory_arg = optarg;
			break;
		case O_CPUS:
			errno = 0;
			o->lim.cpus = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o->lim.cpus >= 0.01 && o->lim.cpus <= 4096))
				return bad("--cpus wants a number of CPUs (like 1 or 0.5), not '%s'", optarg);
			{
				long online = sysconf(_SC_NPROCESSORS_ONLN);

				if (online > 0 && o->lim.cpus > (double)online)
					return bad("--cpus %s is more than the %ld CPUs of this machine", optarg,
						   online);
			}
			o->lim.has_cpus = true;
			break;
		case O_PIDS: {
			unsigned long long v;

			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || v < 1 || v > (1u << 22))
				return bad("--pids wants a positive number of processes, not '%s'", optarg);
			o->lim.pids = v;
			o->lim.has_pids = true;
			break;
		}
		case O_NET:
			if (!strcmp(optarg, "none"))
				o->share_net = false;
			else if (!strcmp(optarg, "host"))
				o->share_net = true;
			else
				return bad("--net must be none or host, not '%s'", optarg);
			break;
		case O_ENV: {
			size_t n = strcspn(optarg, "=");

			if (!valid_env_name(optarg, n))
				return bad("--env wants NAME or NAME=VALUE, not '%s'", optarg);
			o->env[o->n_env++] = optarg;
			break;
		}
		case O_USER: o->user = optarg; break;
		case O_ALLOW_SYMLINKS_OUT: o->allow_symlinks_out = true; break;
		case O_BIND:
		case O_BIND_RW: {
			/* HOST[:INSIDE]; INSIDE defaults to HOST's own path. */
			const char *colon = strrchr(optarg, ':');
			run_bind *b;

			o->binds = rls_xrealloc(o->binds, (o->n_binds + 1) * sizeof *o->binds);
			b = &o->binds[o->n_binds++];
			b->rw = c == O_BIND_RW;
			b->host = colon ? rls_xstrndup(optarg, (size_t)(colon - optarg)) : rls_xstrdup(optarg);
			b->inside = colon ? rls_xstrdup(colon + 1) : NULL;
			if (!*b->host)
				return bad("%s wants HOST[:INSIDE], not '%s'", b->rw ? "--bind-rw" : "--bind",
					   optarg);
			break;
		}
		case O_TMP_SIZE:
			if (rls_parse_size(optarg, &o->tmp_size) < 0 || o->tmp_size < 1024 * 1024)
				return bad("--tmp-size wants a size of at least 1M (like 256M or 2G), not '%s'",
					   optarg);
			break;
		case O_RUNTIME: o->runtime = optarg; break;
		case O_ROOTFS: o->rootfs = optarg; break;
		case O_IMAGE: o->image = optarg; break;
		case O_VM_SHARE:
			if (strcmp(optarg, "virtiofs") && strcmp(optarg, "9p"))
				return bad("--vm-share must be virtiofs or 9p, not '%s'", optarg);
			o->vm_share = optarg;
			break;
		case O_JSON:
			/* `--json -- cmd` would take "--" for a file name. */
			if (optarg[0] == '-' || !optarg[0])
				return bad("--json wants a FILE to write the object to (or --json-fd N), not '%s'",
					   optarg);
			if (o->json_fd >= 0)
				close(o->json_fd);
			o->json_fd = open(optarg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
			if (o->json_fd < 0)
				return bad("--json %s: %s", optarg, strerror(errno));
			break;
		case O_JSON_FD: {
			long fd = strtol(optarg, &end, 10);

			if (*end || end == optarg || fd < 0 || fd > INT_MAX || fcntl((int)fd, F_GETFL) < 0 ||
			    !(fcntl((int)fd, F_GETFL) & (O_WRONLY | O_RDWR)))
				return bad("--json-fd wants a descriptor open for writing, not '%s'", optarg);
			if (o->json_fd >= 0)
				close(o->json_fd);
			/* Ours alone: not the sandbox's (its descriptors are closed
			 * anyway), nor a program rls starts. */
			o->json_fd = fcntl((int)fd, F_DUPFD_CLOEXEC, 3);
			break;
		}
		case O_CAPTURE: o->capture = true; break;
		/* rlsfs checks them: a bad value fails the mount with its message. */
		case O_DELTA_QUOTA: o->delta_quota = optarg; break;
		case O_DELTA_FILES: o->delta_files = optarg; break;
		case 'q':
		case O_QUIET: o->quiet = true; break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			return bad("%s needs a value (see rls run --help)", argv[optind - 1]);
		default:
			if (optopt && optopt < 256)
				return bad("unknown option '-%c' (see rls run --help)", optopt);
			return bad("unknown option '%s' (see rls run --help)", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "rls: run: no command given (rls run [OPTIONS] -- COMMAND [ARG...])\n");
		return -1;
	}
	if (o->capture && o->json_fd < 0)
		return bad("--capture puts the output in the --json object: give --json FILE or --json-fd N");
	o->argv = argv + optind;
	if ((o->runtime || o->rootfs || o->image) && strcmp(o->backend, "oci"))
		return bad("--%s is for --backend oci", o->runtime ? "runtime" : o->rootfs ? "rootfs" : "image");
	if (o->vm_share && strcmp(o->backend, "vm"))
		return bad("--vm-share is for --backend vm");
	if (o->n_binds && !strcmp(o->backend, "vm"))
		return bad("--bind and --bind-rw are for the bwrap and oci backends: the vm backend shows the guest "
			   "only the tree and the host's system folders");
	if (o->rootfs && o->image)
		return bad("--rootfs and --image are two roots: give one");
	return 0;
}

/* A program of rls's own: next to our own binary first (a build tree or
 * an installed bin/), then `dir` when given, then PATH. */
static char *find_companion(const char *name, const char *dir)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	if (n > 0) {
		char *slash, *cand;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			cand = rls_xasprintf("%s/%s", self, name);
			if (access(cand, X_OK) == 0)
				return cand;
			free(cand);
		}
	}
	if (dir) {
		char *cand = rls_xasprintf("%s/%s", dir, name);

		if (access(cand, X_OK) == 0)
			return cand;
		free(cand);
	}
	return run_search_path(name, getenv("PATH"));
}

/* $XDG_STATE_HOME/rls/deltas/SOURCE-NAME-DATE-RANDOM (not created). */
static char *default_delta_path(const char *source, rls_error *err)
{
	_cleanup_free_ char *prefix = rls_delta_prefix(source, err);
	unsigned char rnd[4] = { 0 };

	if (!prefix)
		return NULL;
	if (getrandom(rnd, sizeof rnd, 0) < 0)
		rnd[0] = (unsigned char)getpid();
	return rls_xasprintf("%s-%02x%02x%02x%02x", prefix, rnd[0], rnd[1], rnd[2], rnd[3]);
}


/* Which policy a run applies, in words: "preset agent-safe (the
 * default)", "preset read-only", or a file's path. */
static char *policy_description(const char *spec, const char *arg)
{
	if (arg[0] == '/')
		return rls_xasprintf("%s", arg);
	return rls_xasprintf("preset %s%s", arg, spec ? "" : " (the default: no .rls/policy.yml)");
}

/* Wait until rlsfs has let go of the delta (its mount lock is free). */
static int wait_delta_free(const char *dir, double max_s, rls_error *err)
{
	_cleanup_free_ char *lock = rls_xasprintf("%s/mount.lock", dir);
	double until = run_now() + max_s;
	long pause_us = 250;

	for (;;) {
		_cleanup_close_ int fd = open(lock, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			return errno == ENOENT ? 0 : rls_error_set(err, errno, "%s", lock);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return rls_error_set(err, errno, "flock %s", lock);
		if (run_now() > until)
			return rls_error_set(err, EBUSY, "rlsfs still holds the delta %s", dir);
		usleep((useconds_t)pause_us);
		/* rlsfs lets go a few ms after the unmount: poll finely. */
		if (pause_us < 2000)
			pause_us *= 2;
	}
}

/* Print one line to stderr, and keep it for the --json object's "error". */
static void RLS_PRINTF(3, 4) say(char *keep, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(keep, n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", keep);
}

static int count_change(delta_change_kind kind, const char *path, void *opaque)
{
	(*(unsigned *)opaque)++;
	return 0;
}

/* Everything one run holds, released by run_cleanup. */
typedef struct run_state {
	char *source;
	char *delta;
	bool delta_is_ours;	/* made fresh for this run: remove it when empty */
	char *tmpdir;
	char *mnt;
	char *audit;
	char *rlsfs;
	run_mount fs;		/* the rlsfs serving mnt */
	bool mounted;
	bool delta_held;	/* unmounted, but rls stopped waiting for rlsfs to let go */
	run_cgroup cg;
	run_guard guard;
	int sigfd;
	sigset_t oldmask;
	pthread_t remover;	/* removing the fresh delta, when remover_on */
	bool remover_on;
} run_state;

static void *remove_delta(void *dir)
{
	(void)rls_rm_rf_at(AT_FDCWD, dir, NULL);
	return NULL;
}

/* The fresh delta, settled and not kept, goes beside the rest of the
 * clean-up: each of its entries is a journaled change of the file system
 * that holds it, a wait the reading of the audit, the removal of the temp
 * dir and the ends of the guard and rlsfs need not queue behind.
 * run_cleanup waits for it before rls ends. */
static void remove_delta_start(run_state *st)
{
	sigset_t all, old;

	/* The thread takes no signal: they stay rls's, through its
	 * signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	st->remover_on = pthread_create(&st->remover, NULL, remove_delta, st->delta) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!st->remover_on)
		(void)rls_rm_rf_at(AT_FDCWD, st->delta, NULL);
}

static void unmount_rlsfs(run_state *st)
{
	rls_error err;
	int r;

	if (!st->mounted)
		return;
	r = run_mount_stop(&st->fs, st->mnt, st->sigfd, &err);
	if (r < 0) {
		rls_warn("could not unmount: %s", err.msg);
	} else {
		st->mounted = false;
		st->delta_held = r == 1;
	}
}

static void run_cleanup(run_state *st, const run_opts *o)
{
	rls_error err;

	unmount_rlsfs(st);
	if (st->cg.n_dirs && limits_remove(&st->cg, 3000, &err) < 0)
		rls_warn("%s", err.msg);
	limits_free(&st->cg);
	if (st->audit && !o->audit)
		unlink(st->audit);
	if (st->mnt && !st->mounted)
		rmdir(st->mnt);
	if (st->tmpdir && !st->mounted)
		rmdir(st->tmpdir);
	if (st->guard.fd >= 0 && !st->mounted)
		guard_release(&st->guard);
	/* Last: rlsfs, done with the delta, and the guard, let go, have
	 * ended meanwhile, each on its own. */
	run_mount_reap(&st->fs);
	guard_reap(&st->guard);
	if (st->remover_on)
		pthread_join(st->remover, NULL);
	if (st->sigfd >= 0)
		close(st->sigfd);
	sigprocmask(SIG_SETMASK, &st->oldmask, NULL);
	free(st->source);
	free(st->delta);
	free(st->tmpdir);
	free(st->mnt);
	free(st->audit);
	free(st->rlsfs);
}

/* NAME=VALUE list: the four fixed variables, then --env in order (a later
 * one replaces an earlier one of the same name). */
static char **sandbox_env(const run_opts *o)
{
	const char *term = getenv("TERM"), *lang = getenv("LANG");
	char **env = rls_xcalloc(o->n_env + 5, sizeof *env);
	size_t n = 0;

	env[n++] = rls_xstrdup("PATH=" RUN_SANDBOX_PATH);
	env[n++] = rls_xstrdup("HOME=" SANDBOX_HOME);
	env[n++] = rls_xasprintf("TERM=%s", term && *term ? term : "dumb");
	env[n++] = rls_xasprintf("LANG=%s", lang && *lang ? lang : "C.UTF-8");
	for (size_t i = 0; i < o->n_env; i++) {
		const char *arg = o->env[i];
		size_t len = strcspn(arg, "=");
		char *entry;

		if (arg[len] == '=') {
			entry = rls_xstrdup(arg);
		} else {
			const char *v = getenv(arg);

			if (!v)
				continue;	/* like docker -e NAME: unset stays unset */
			entry = rls_xasprintf("%s=%s", arg, v);
		}
		for (size_t j = 0; j < n; j++)
			if (!strncmp(env[j], entry, len + 1)) {
				free(env[j]);
				env[j] = entry;
				entry = NULL;
				break;
			}
		if (entry)
			env[n++] = entry;
	}
	env[n] = NULL;
	return env;
}

static void free_strv(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* rlsfs failed before it served: it said why, or err does.  What is
 * left of the mount goes with unmount_rlsfs. */
static void mount_failed(run_state *st, rls_error *err)
{
	if (err->msg[0])
		fprintf(stderr, "%s\n", err->msg);
	rls_error_set(err, 0, "could not mount %s with rlsfs", st->source);
}

/* The status of a run that rlsfs refused: 2, bad input, when it said so
 * (its 2 is ours too), else a failure. */
static int mount_failed_status(const run_mount *m)
{
	int ws = m->wstatus;

	return ws != -1 && WIFEXITED(ws) && WEXITSTATUS(ws) == RUN_EXIT_USAGE ? RUN_EXIT_USAGE : RUN_EXIT_FAILED;
}

/* backend_ctx.mount_served: wait until rlsfs serves the mount. */
static int mount_served(void *arg, rls_error *err)
{
	run_state *st = arg;

	if (run_mount_ready(&st->fs, err) < 0) {
		mount_failed(st, err);
		return -1;
	}
	return 0;
}

/* The directory the command starts in: the caller's cwd's place in the
 * tree if the policy shows it, else the mount's root.  -1 when rlsfs,
 * asked, failed to serve. */
static int start_dir(run_state *st, const char *mount_at, char **out, rls_error *err)
{
	char cwd[PATH_MAX];
	size_t n = strlen(st->source);
	const char *rel;
	_cleanup_free_ char *probe = NULL;
	struct stat sb;

	*out = NULL;
	if (!getcwd(cwd, sizeof cwd) || strncmp(cwd, st->source, n) ||
	    (cwd[n] != '/' && cwd[n] != '\0') || !strcmp(st->source, "/"))
		goto root;
	rel = cwd + n;
	if (!*rel)
		goto root;
	/* rlsfs answers this stat with the same policy the sandbox gets,
	 * once it serves. */
	if (mount_served(st, err) < 0)
		return -1;
	probe = rls_xasprintf("%s%s", st->mnt, rel);
	if (stat(probe, &sb) < 0 || !S_ISDIR(sb.st_mode))
		goto root;
	*out = rls_xasprintf("%s%s", mount_at, rel);
	return 0;
root:
	*out = rls_xstrdup(mount_at);
	return 0;
}

static const char *commit_summary(const delta_commit_stats *s, const char *source, rls_buf *b)
{
	rls_buf_printf(b, "rls: committed to %s: %u added, %u modified, %u deleted", source, s->added,
		       s->modified, s->deleted);
	return b->data;
}

int cmd_run(int argc, char **argv)
{
	run_opts o;
	run_state st = { .sigfd = -1, .guard = { .fd = -1 }, .fs = { .pidfd = -1, .end_fd = -1 } };
	rls_error err = { 0 };
	_cleanup_free_ char *polarg = NULL, *chdir_in = NULL, *watch = NULL, *poldesc = NULL;
	_cleanup_free_ char *init = NULL, *map_owner = NULL;
	_cleanup_buf_ rls_buf msg = { 0 };
	_cleanup_close_ int policy_fd = -1;
	char **env = NULL;
	run_identity id;
	sigset_t set;
	double t0 = run_now();
	int status = RUN_EXIT_FAILED;
	const backend *be;
	backend_result res = { 0 };
	bool oom = false;
	bool tty_in = isatty(STDIN_FILENO), tty_fg = false;
	struct termios saved_tio;
	bool have_tio = false;
	denial_summary denials = { 0 };
	delta_commit_stats cstats = { 0 };
	run_report rep = { 0 };
	commit_outcome commit_state = OUTCOME_NONE;
	const char *late_error = NULL;
	bool keep_delta = false;
	bool delta_settled = false;	/* committed, kept or removed */
	bool json_written = false;
	run_capture capture = { .saved = { -1, -1 }, .fds = { -1, -1 }, .report_fd = -1 };
	char early[1024] = "";		/* why rls stopped before the command ran */

	if (parse_opts(argc, argv, &o) < 0) {
		run_opts_free(&o);
		return RUN_EXIT_USAGE;
	}
	sigemptyset(&st.oldmask);
	/* From here on every ending goes through `out`, which writes the
	 * --json object if nothing has yet. */
	status = RUN_EXIT_USAGE;
	be = backend_by_name(o.backend);
	if (!be) {
		say(early, sizeof early, "rls: run: backend '%s' is not available in this build (use bwrap, oci or vm)",
		    o.backend);
		goto out;
	}
	st.source = realpath(o.source ? o.source : ".", NULL);
	if (!st.source) {
		say(early, sizeof early, "rls: run: source %s: %s", o.source ? o.source : ".", strerror(errno));
		goto out;
	}
	{
		struct stat sb;

		if (stat(st.source, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			say(early, sizeof early, "rls: run: source %s: not a directory", st.source);
			goto out;
		}
	}
	/* Fail before anything is mounted when the policy is bad.  rlsfs
	 * enforces the very policy checked here: it is handed what was read,
	 * never reads the files again. */
	policy_fd = policy_snapshot_for_source(o.policy, st.source, &err);
	if (policy_fd < 0) {
		say(early, sizeof early, "rls: %s", err.msg);
		goto out;
	}
	polarg = policy_resolve_spec(o.policy, st.source);
	poldesc = policy_description(o.policy, polarg);
	if (identity_resolve(o.user, st.source, &id, &err) < 0) {
		say(early, sizeof early, "rls: run: %s", err.msg);
		goto out;
	}
	map_owner = identity_map_owner_arg(&id);

	if (!strchr(o.argv[0], '/')) {
		_cleanup_free_ char *found = run_search_path(o.argv[0], RUN_SANDBOX_PATH);

		if (!found) {
			status = RUN_EXIT_NOT_FOUND;
			say(early, sizeof early, "rls: run: %s: command not found in the sandbox's PATH (%s)",
			    o.argv[0], RUN_SANDBOX_PATH);
			goto out;
		}
	}
	status = RUN_EXIT_FAILED;
	if (be->probe(&err) < 0) {
		say(early, sizeof early, "rls: run: backend %s: %s", be->name, err.msg);
		goto out;
	}
	st.rlsfs = find_companion("rlsfs", NULL);
	init = find_companion("rls-init", RLS_LIBEXECDIR);
	if (!st.rlsfs || !init) {
		say(early, sizeof early, "rls: run: %s not found (see rls doctor)", !st.rlsfs ? "rlsfs" : "rls-init");
		goto out;
	}
	if (o.delta) {
		st.delta = rls_mkdir_p(o.delta, 0700, &err) == 0 ? realpath(o.delta, NULL) : NULL;
		if (!st.delta) {
			say(early, sizeof early, "rls: run: delta %s: %s", o.delta,
				err.msg[0] ? err.msg : strerror(errno));
			goto out;
		}
	} else {
		st.delta = default_delta_path(st.source, &err);
		if (!st.delta) {
			say(early, sizeof early, "rls: run: %s", err.msg);
			goto out;
		}
		st.delta_is_ours = true;
	}

	if (check_binds(&o, st.source, st.delta) < 0) {
		status = RUN_EXIT_USAGE;
		goto out;
	}

	/* From here on our signals arrive through a signalfd, and every
	 * child resets them before exec. */
	supervise_sigset(&set);
	sigprocmask(SIG_BLOCK, &set, &st.oldmask);
	st.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (st.sigfd < 0) {
		rls_warn("signalfd: %s", strerror(errno));
		goto out;
	}

	{
		const char *tmp = getenv("TMPDIR");
		_cleanup_free_ char *tmpl = rls_xasprintf("%s/rls-run.XXXXXX",
							  tmp && tmp[0] == '/' ? tmp : "/tmp");

		if (!mkdtemp(tmpl)) {
			say(early, sizeof early, "rls: run: temp dir %s: %s", tmpl, strerror(errno));
			goto out;
		}
		st.tmpdir = steal_pointer(&tmpl);
	}
	st.mnt = rls_xasprintf("%s/mnt", st.tmpdir);
	if (mkdir(st.mnt, 0700) < 0) {
		say(early, sizeof early, "rls: run: %s: %s", st.mnt, strerror(errno));
		goto out;
	}
	if (o.audit) {
		int fd = open(o.audit, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd < 0 || !(st.audit = realpath(o.audit, NULL))) {
			say(early, sizeof early, "rls: run: audit file %s: %s", o.audit, strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
	} else {
		st.audit = rls_xasprintf("%s/audit.jsonl", st.tmpdir);
	}

	{
		char name[64];

		snprintf(name, sizeof name, "rls-run-%d", (int)getpid());
		if (be->own_limits) {
			st.cg.memory = o.lim.has_memory ? LIMIT_VM : LIMIT_NOT_SET;
			st.cg.cpus = o.lim.has_cpus ? LIMIT_VM : LIMIT_NOT_SET;
			st.cg.pids = o.lim.has_pids ? LIMIT_VM : LIMIT_NOT_SET;
		} else if (limits_setup(&o.lim, name, &st.cg, &err) < 0) {
			say(early, sizeof early, "rls: run: limits: %s", err.msg);
			goto out;
		}
		if (!be->own_limits && st.cg.version == 0 && (o.lim.has_memory || o.lim.has_pids || o.lim.has_cpus))
			fprintf(stderr, "rls: note: %s; falling back to rlimits:%s%s%s\n",
				st.cg.note[0] ? st.cg.note : "no usable cgroup",
				o.lim.has_memory ? " --memory is RLIMIT_AS (per process);" : "",
				o.lim.has_pids ? " --pids is RLIMIT_NPROC (counts all of this user's processes);" : "",
				o.lim.has_cpus ? " --cpus is not enforced;" : "");
	}
	{
		guard_spec gs = { .tmpdir = st.tmpdir, .mountpoint = st.mnt, .rlsfs = st.rlsfs,
				  .delta = st.delta, .audit = st.audit, .keep_audit = o.audit != NULL,
				  .cg = &st.cg };

		if (guard_start(&gs, &st.guard, &err) < 0) {
			say(early, sizeof early, "rls: run: %s", err.msg);
			goto out;
		}
	}

	watch = rls_xasprintf("%d", (int)getpid());
	{
		char *margv[24] = { "-p", polarg, "--delta", st.delta, "--audit", st.audit, "--watch-pid", watch };
		size_t n = 8;

		/* No capability of a caller counts inside the sandbox: it never
		 * gives files away nor makes set-id files (rlsfs(1)). */
		margv[n++] = "--ignore-caller-caps";

		if (map_owner) {
			margv[n++] = "--map-owner";
			margv[n++] = map_owner;
		}
		if (o.delta_quota) {
			margv[n++] = "--max-delta-size";
			margv[n++] = (char *)o.delta_quota;
		}
		if (o.delta_files) {
			margv[n++] = "--max-delta-files";
			margv[n++] = (char *)o.delta_files;
		}
		margv[n] = NULL;
		/* The kernel checks modes and owners for the sandbox's identity
		 * as on any other file system (a mode 000 file is not its
		 * owner's to read), before rlsfs applies the policy: rlsfs
		 * itself reaches the files as the caller, root or not.  The
		 * sandbox's identity is not rlsfs's own when rls is root. */
		if (run_mount_start(st.rlsfs, margv, policy_fd,
				    id.change ? "allow_other,default_permissions" : "default_permissions", st.source,
				    st.mnt, &st.fs, &err) < 0) {
			mount_failed(&st, &err);
			status = mount_failed_status(&st.fs);
			say(early, sizeof early, "rls: run: %s", err.msg);
			goto out;
		}
		st.mounted = true;
		close(steal_fd(&policy_fd));
	}

	if (start_dir(&st, o.mount_at, &chdir_in, &err) < 0 ||
	    (!be->starts_before_mount_served && mount_served(&st, &err) < 0)) {
		status = mount_failed_status(&st.fs);
		say(early, sizeof early, "rls: run: %s", err.msg);
		goto out;
	}
	env = sandbox_env(&o);
	if (tty_in) {
		tty_fg = tcgetpgrp(STDIN_FILENO) == getpgrp();
		have_tio = tcgetattr(STDIN_FILENO, &saved_tio) == 0;
	}
	{
		/* The temp dir rather than the mount in it: a look at the
		 * mount would wait for rlsfs to serve. */
		const char *hide[] = { st.source, st.delta, st.tmpdir, st.audit, NULL };
		backend_ctx ctx = {
			.mountpoint = st.mnt, .tmpdir = st.tmpdir, .init = init, .id = &id, .cg = &st.cg,
			.lim = &o.lim, .mount_at = o.mount_at, .chdir = chdir_in, .home = SANDBOX_HOME,
			.argv = o.argv, .env = env, .share_net = o.share_net, .tmp_size = o.tmp_size,
			.hide = hide, .binds = o.binds, .n_binds = o.n_binds, .tty_in = tty_in, .tty_fg = tty_fg,
			.tty_settings = have_tio ? &saved_tio : NULL, .signal_fd = st.sigfd,
			.timeout_s = o.timeout, .grace_s = TIMEOUT_GRACE_S, .guard = &st.guard,
			.source = st.source, .runtime = o.runtime, .rootfs = o.rootfs, .image = o.image,
			.vm_share = o.vm_share, .mount_served = mount_served, .mount_arg = &st,
		};
		int r;

		if (o.capture && capture_start(&capture, st.tmpdir, &err) < 0) {
			say(early, sizeof early, "rls: run: --capture: %s", err.msg);
			goto out;
		}
		r = be->run(&ctx, &res, &err);
		capture_finish(&capture);
		if (r < 0) {
			status = mount_failed_status(&st.fs);
			say(early, sizeof early, "rls: run: %s", err.msg);
			goto out;
		}
	}
	status = res.term_signal ? 128 + res.term_signal : res.exit_code;
	if (have_tio && (res.timed_out || res.interrupted_by || status > 128))
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tio);
	if (res.timed_out)
		status = RUN_EXIT_TIMEOUT;
	if (!res.started) {
		/* The backend or rls-init refused before the command started
		 * (it said why), or the deadline, which runs from the
		 * sandbox's start, came first: a busy host took the whole
		 * timeout to set the sandbox up, and that is a timeout. */
		if (!res.timed_out) {
			say(early, sizeof early, "rls: run: the sandbox could not be set up");
			status = RUN_EXIT_FAILED;
		}
		unmount_rlsfs(&st);
		goto finish_delta;
	}
	/* Killed for its memory: like a timeout, its partial work is not
	 * committed. */
	oom = res.oom_killed || limits_oom_killed(&st.cg);

	unmount_rlsfs(&st);
	if (st.mounted) {
		late_error = "could not unmount the sandbox's file system";
		keep_delta = true;
		goto report;
	}

finish_delta:
	if (wait_delta_free(st.delta, st.delta_held ? 0 : DELTA_FREE_WAIT_S, &err) < 0) {
		late_error = rls_xstrdup(err.msg);
		keep_delta = true;
		goto report;
	}
	{
		bool want = res.started && !res.timed_out && !res.interrupted_by && !oom &&
			    (o.commit == COMMIT_AUTO || (o.commit == COMMIT_ON_SUCCESS && status == 0));
		delta *d = NULL;
		unsigned changes = 0;

		if (access(st.delta, F_OK) < 0) {
			/* rlsfs never made it: nothing to commit or keep. */
			st.delta_is_ours = false;
			goto report;
		}
		/* rlsfs said, as it ended, that the delta records nothing:
		 * no need to open it to count. */
		if (st.fs.end == RUN_MOUNT_END_EMPTY)
			goto report;
		if (delta_open(st.delta, st.source, 0, &d, &err) < 0) {
			late_error = rls_xstrdup(err.msg);
			keep_delta = true;
			goto report;
		}
		if (delta_changes(d, count_change, &changes, &err) < 0) {
			late_error = rls_xstrdup(err.msg);
			keep_delta = true;
			delta_close(d);
			goto report;
		}
		if (!changes) {
			commit_state = OUTCOME_NONE;
		} else if (!want) {
			commit_state = OUTCOME_KEPT;
			keep_delta = true;
		} else {
			int r = delta_commit(d, o.on_conflict,
					     o.allow_symlinks_out ? DELTA_COMMIT_ALLOW_SYMLINKS_OUT : 0, &cstats, &err);

			if (r < 0) {
				commit_state = OUTCOME_ERROR;
				late_error = rls_xstrdup(err.msg);
				keep_delta = true;
			} else if (r == 1) {
				commit_state = OUTCOME_CONFLICT;
				keep_delta = true;
			} else {
				commit_state = OUTCOME_DONE;
				keep_delta = r == 2;	/* symlinks held back stay in it */
			}
		}
		delta_close(d);
	}

report:
	if (late_error)
		fprintf(stderr, "rls: run: %s\n", late_error);
	if (commit_state == OUTCOME_DONE && !o.quiet) {
		fprintf(stderr, "%s\n", commit_summary(&cstats, st.source, &msg));
		if (cstats.conflicts)
			fprintf(stderr, "rls: %u conflict%s (the %s version was kept): %s\n", cstats.conflicts,
				cstats.conflicts == 1 ? "" : "s",
				o.on_conflict == DELTA_CONFLICT_THEIRS ? "source's" : "sandbox's",
				report_name_list(cstats.conflict_paths, SIZE_MAX, &msg));
	} else if (commit_state == OUTCOME_CONFLICT) {
		fprintf(stderr, "rls: nothing committed: %u conflict%s with --on-conflict=fail: %s\n",
			cstats.conflicts, cstats.conflicts == 1 ? "" : "s",
			report_name_list(cstats.conflict_paths, SIZE_MAX, &msg));
	}
	if (commit_state == OUTCOME_DONE) {
		/* Held symlinks and dropped set-id bits are said even with
		 * --quiet: they are changes that did not land as made. */
		delta_commit_stats rest = cstats;

		rest.conflict_paths = NULL;
		report_commit_notes(&rest, o.on_conflict, st.delta, "rls: ", stderr);
	}
	if (res.timed_out)
		fprintf(stderr, "rls: timed out after %gs; %s and nothing committed\n", o.timeout,
			res.started ? "the command was killed" : "the sandbox was still being set up");
	else if (oom)
		fprintf(stderr, "rls: killed: memory limit %s reached; nothing committed\n", o.memory_arg);
	else if (res.interrupted_by && res.started)
		fprintf(stderr, "rls: interrupted (%s); nothing committed\n", strsignal(res.interrupted_by));
	if (keep_delta)
		fprintf(stderr, "rls: delta kept: %s\n", st.delta);
	else if (st.delta_is_ours)
		remove_delta_start(&st);
	delta_settled = true;
	report_read_denials(st.audit, &denials);
	if (!o.quiet && res.started)
		fprintf(stderr, "rls: policy: %s\n", poldesc);
	if (!o.quiet)
		report_print_denials(&denials, stderr);
	/* The command succeeded but its work did not land: say so in the
	 * status too, so that scripts notice. */
	if (status == 0 && (late_error || commit_state == OUTCOME_CONFLICT ||
			    commit_state == OUTCOME_ERROR))
		status = RUN_EXIT_FAILED;
	/* A conflict is never silent, not even in the status. */
	else if (status == 0 && commit_state == OUTCOME_DONE && (cstats.conflicts || cstats.n_held))
		status = RUN_EXIT_UNCLEAN;
	if (o.json_fd >= 0) {
		rep.exit_status = status;
		rep.timed_out = res.timed_out;
		rep.interrupted_by = res.interrupted_by;
		rep.duration_s = run_now() - t0;
		rep.commit = outcome_names[commit_state];
		rep.added = cstats.added;
		rep.modified = cstats.modified;
		rep.deleted = cstats.deleted;
		rep.conflict_paths = cstats.conflict_paths;
		rep.denials = &denials;
		rep.cg = &st.cg;
		rep.delta_kept = keep_delta ? st.delta : NULL;
		rep.error = late_error;
		rep.policy = poldesc;
		rep.killed_by = res.timed_out ? "timeout" : oom ? "memory" :
				res.interrupted_by ? "signal" : NULL;
		rep.capture = capture.on ? &capture : NULL;
		report_json(&rep, o.json_fd);
		json_written = true;
	}
	report_denials_free(&denials);
	delta_commit_stats_free(&cstats);
	if (late_error && strcmp(late_error, "could not unmount the sandbox's file system"))
		free((char *)late_error);
out:
	if (o.json_fd >= 0 && !json_written) {
		/* The command never ran: the object says why. */
		run_report r0 = { .exit_status = status, .commit = "none", .cg = &st.cg,
				  .error = early[0] ? early : "rls could not run the command", .policy = poldesc };

		report_json(&r0, o.json_fd);
	}
	if (!delta_settled && st.delta_is_ours) {
		/* Failed before the command ran: the fresh delta is empty. */
		unmount_rlsfs(&st);
		if (!st.mounted && wait_delta_free(st.delta, 2, &err) == 0)
			(void)rls_rm_rf_at(AT_FDCWD, st.delta, NULL);
	}
	free_strv(env);
	capture_free(&capture);
	run_cleanup(&st, &o);
	run_opts_free(&o);
	return status;
}
