/* rlsfs.c - `rlsfs mount` and `rlsfs umount`. */
#include "internal.h"

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/xattr.h>

/* The bounds on what a program in the sandbox can make rlsfs and its delta
 * take from the host (see rlsfs(1), RESOURCE LIMITS).  The delta's size has
 * no fixed default: it is worked out at mount from the room on the delta's
 * file system. */
#define DEFAULT_DELTA_SIZE_CEILING (8ull << 30)
#define DEFAULT_DELTA_FILES 1000000
#define DEFAULT_AUDIT_MAX_SIZE (16ull << 20)
#define DEFAULT_AUDIT_RATE 100
#define DEFAULT_AUDIT_BURST 1000
#define DEFAULT_DIR_MEMORY (64ull << 20)

typedef struct mount_opts {
	const char *policy;
	const char *policy_spec;	/* what the delta records (policy_resolve_spec) */
	const char *delta;
	bool fresh_delta;		/* made by this mount: removed at unmount if still empty */
	const char *audit;
	const char *fuse_opts;
	pid_t watch_pid;
	bool map_owner;
	bool ignore_caller_caps;
	uid_t sandbox_uid, owner_uid;
	gid_t sandbox_gid, owner_gid;
	bool foreground;
	bool debug;
	int ready_fd;			/* --ready-fd: serve here, say when mounted there; -1 */
	int fuse_fd;			/* --fuse-fd: the caller mounted it; -1 */
	int policy_fd;			/* --policy-fd: the policy's snapshot; -1 */
	bool delta_size_set;
	uint64_t delta_size;		/* 0: none */
	uint64_t delta_files;		/* 0: none */
	uint64_t audit_max_size;	/* 0: none */
	double audit_rate, audit_burst;	/* rate 0: none */
	uint64_t dir_memory;		/* 0: none */
	const char *source;
	const char *mountpoint;
} mount_opts;

static void usage(FILE *out)
{
	fputs("usage: rlsfs mount [-p|--policy POLICY [--policy-fd FD]] [--delta DIR] [--audit FILE] [--watch-pid PID]\n"
	      "                   [--map-owner UID:GID=UID:GID] [--ignore-caller-caps]\n"
	      "                   [--max-delta-size SIZE] [--max-delta-files N]\n"
	      "                   [--max-dir-memory SIZE] [--audit-max-size SIZE] [--audit-rate RATE[:BURST]]\n"
	      "                   [-o FUSE-OPTIONS] [-f | --ready-fd FD [--fuse-fd FD]] SOURCE MOUNTPOINT\n"
	      "       rlsfs umount [-l] MOUNTPOINT\n"
	      "Limits take 0 or unlimited for none.  See rlsfs(1).\n", out);
}

static bool is_unlimited(const char *s)
{
	return !strcmp(s, "unlimited") || !strcmp(s, "none");
}

/* A limit: a size (like 10G) or a count, 0 or unlimited for none.  0, or 2
 * after saying what is wrong. */
static int parse_limit(const char *opt, const char *s, bool size, uint64_t *out)
{
	char *end;

	if (is_unlimited(s)) {
		*out = 0;
		return 0;
	}
	if (size) {
		if (rls_parse_size(s, out) == 0)
			return 0;
		fprintf(stderr, "rlsfs: %s wants a size (like 10G or 512M), 0 or unlimited, not '%s'\n", opt, s);
		return 2;
	}
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (*s >= '0' && *s <= '9' && !*end && !errno)
		return 0;
	fprintf(stderr, "rlsfs: %s wants a number (like 100000), 0 or unlimited, not '%s'\n", opt, s);
	return 2;
}

/* --audit-rate RATE[:BURST]: lines a second, and at once (ten seconds'
 * worth unless given). */
static int parse_rate(const char *s, double *rate, double *burst)
{
	uint64_t r, b;
	char *end;

	if (is_unlimited(s)) {
		*rate = *burst = 0;
		return 0;
	}
	errno = 0;
	r = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || errno || (*end && *end != ':'))
		goto bad;
	b = r * 10;
	if (*end == ':') {
		const char *bs = end + 1;

		b = strtoull(bs, &end, 10);
		if (*bs < '0' || *bs > '9' || errno || *end || b == 0)
			goto bad;
	}
	*rate = (double)r;
	*burst = (double)b;
	return 0;
bad:
	fprintf(stderr, "rlsfs: --audit-rate wants lines a second and a burst (like 100 or 100:1000), 0 or unlimited, not '%s'\n", s);
	return 2;
}

/* The delta's size quota when none was given: let it grow by half the room
 * its file system has now, and to no more than a fixed ceiling, so that a
 * sandbox cannot fill the disk of the laptop it runs on. */
static int default_delta_size(delta *d, uint64_t *out, rls_error *err)
{
	struct statvfs sv;
	delta_usage u;
	uint64_t used, room;

	if (delta_get_usage(d, &u, err) < 0)
		return -1;
	if (fstatvfs(delta_data_fd(d), &sv) < 0)
		return rls_error_set(err, errno, "statfs %s", delta_path(d));
	used = u.data_bytes + u.index_bytes;
	room = (uint64_t)sv.f_bavail * sv.f_frsize;
	*out = used + room / 2;
	if (*out > DEFAULT_DELTA_SIZE_CEILING)
		*out = DEFAULT_DELTA_SIZE_CEILING;
	return 0;
}

/* --map-owner SANDBOX_UID:SANDBOX_GID=OWNER_UID:OWNER_GID, all numbers. */
static int parse_map_owner(const char *s, mount_opts *mo)
{
	unsigned long v[4];
	const char *p = s;

	for (int i = 0; i < 4; i++) {
		char *end;

		if (*p < '0' || *p > '9')
			return -1;
		errno = 0;
		v[i] = strtoul(p, &end, 10);
		if (errno || v[i] >= (uid_t)-1 || *end != (i == 3 ? '\0' : i == 1 ? '=' : ':'))
			return -1;
		p = end + (i < 3);
	}
	mo->map_owner = true;
	mo->sandbox_uid = (uid_t)v[0];
	mo->sandbox_gid = (gid_t)v[1];
	mo->owner_uid = (uid_t)v[2];
	mo->owner_gid = (gid_t)v[3];
	return 0;
}

/* A fresh delta under $XDG_STATE_HOME/rls/deltas. */
static char *fresh_delta_dir(const char *source, rls_error *err)
{
	_cleanup_free_ char *prefix = rls_delta_prefix(source, err);
	char *dir;

	if (!prefix)
		return NULL;
	dir = rls_xasprintf("%s-XXXXXX", prefix);
	if (!mkdtemp(dir)) {
		rls_error_set(err, errno, "mkdtemp %s", dir);
		free(dir);
		return NULL;
	}
	return dir;
}

static int count_change(delta_change_kind kind, const char *path, void *opaque)
{
	(*(unsigned *)opaque)++;
	return 0;
}

static bool is_mountpoint(const char *path)
{
	struct statx stx;

	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
		return false;
	return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* Everything that can be checked before the filesystem starts, so a bad
 * invocation mounts nothing. */
static int check_args(mount_opts *mo, char **source_real, char **mnt_real, rls_error *err)
{
	struct stat st;

	/* fusermount3 opens the device with the caller's own rights, so a
	 * user who cannot open it cannot mount at all. */
	if (stat("/dev/fuse", &st) < 0 || !S_ISCHR(st.st_mode))
		return rls_error_set(err, ENODEV, "/dev/fuse");
	if (access("/dev/fuse", R_OK | W_OK) < 0)
		return rls_error_set(err, errno, "/dev/fuse (FUSE needs read and write access to it)");
	*source_real = realpath(mo->source, NULL);
	if (!*source_real)
		return rls_error_set(err, errno, "source %s", mo->source);
	if (stat(*source_real, &st) < 0 || !S_ISDIR(st.st_mode))
		return rls_error_set(err, ENOTDIR, "source %s", mo->source);
	if (mo->fuse_fd >= 0) {
		/* Mounted already, and served by nobody until this process
		 * is: a look at the mount point would wait for ever.  The
		 * caller names it by its real path. */
		if (fstat(mo->fuse_fd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(10, 229))
			return rls_error_set(err, EBADF, "--fuse-fd %d is not a descriptor of /dev/fuse", mo->fuse_fd);
		if (mo->mountpoint[0] != '/')
			return rls_error_set(err, EINVAL, "mountpoint %s: --fuse-fd wants its real, absolute path",
					     mo->mountpoint);
		*mnt_real = rls_xstrdup(mo->mountpoint);
		goto inside;
	}
	*mnt_real = realpath(mo->mountpoint, NULL);
	if (!*mnt_real)
		return rls_error_set(err, errno, "mountpoint %s", mo->mountpoint);
	if (stat(*mnt_real, &st) < 0 || !S_ISDIR(st.st_mode))
		return rls_error_set(err, ENOTDIR, "mountpoint %s", mo->mountpoint);
	if (is_mountpoint(*mnt_real))
		return rls_error_set(err, EBUSY, "mountpoint %s is already mounted on", mo->mountpoint);
inside:
	{
		size_t sl = strlen(*source_real);

		if (!strncmp(*mnt_real, *source_real, sl) && ((*mnt_real)[sl] == '/' || !(*mnt_real)[sl] ||
							       sl == 1))
			return rls_error_set(err, EINVAL, "mountpoint %s lies inside the source", mo->mountpoint);
	}
	return 0;
}


/* Protect the tree's .rls/ folder and, when they lie inside the tree, the
 * policy file and the files it extends, each with the path it was named
 * by. */
static void protect_policy(policy *pol, const char *source)
{
	policy_protect_source(pol, source);
}

/* --watch-pid: the owner's death unmounts, while the loop serves.  The
 * watch is told to leave (stop_fd, an eventfd) and joined as the loop
 * ends: a watch outliving the loop would act on a destroyed session, and
 * unmount whatever is mounted at the mount point by then. */
typedef struct owner_watch {
	rlsfs *fs;
	pid_t pid;
	int stop_fd;
	pthread_t thread;
} owner_watch;

static void *watch_thread(void *arg)
{
	owner_watch *w = arg;
	int pfd = (int)syscall(SYS_pidfd_open, w->pid, 0);
	struct pollfd p[2] = { { .fd = w->stop_fd, .events = POLLIN }, { .fd = pfd, .events = POLLIN } };

	if (pfd < 0 && errno != ESRCH)
		return NULL;
	/* pfd < 0: the owner is gone already */
	if (pfd >= 0) {
		while (poll(p, 2, -1) < 0 && errno == EINTR)
			;
		close(pfd);
		if (p[0].revents)
			return NULL;
	}
	/* The owner died without unmounting: leave no stale mount. */
	fuse_session_exit(w->fs->se);
	rls_fuse_unmount(w->fs->mountpoint, true);
	return NULL;
}

static bool watch_start(owner_watch *w, rlsfs *fs, pid_t pid)
{
	w->fs = fs;
	w->pid = pid;
	w->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (w->stop_fd < 0)
		return false;
	if (loop_thread_start(&w->thread, watch_thread, w) < 0) {
		close(w->stop_fd);
		return false;
	}
	return true;
}

static void watch_stop(owner_watch *w)
{
	uint64_t one = 1;

	(void)rls_write_all(w->stop_fd, &one, sizeof one);
	pthread_join(w->thread, NULL);
	close(w->stop_fd);
}

/* Standard input and output (and error, when stderr_too) on /dev/null,
 * as a daemon's are: what the sandbox does must not reach the caller's
 * terminal through them. */
static void daemon_stdio(bool stderr_too)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (devnull < 0)
		return;
	dup2(devnull, STDIN_FILENO);
	dup2(devnull, STDOUT_FILENO);
	if (stderr_too)
		dup2(devnull, STDERR_FILENO);
	close(devnull);
}

/* Report to the waiting parent: "" for ready, else the error message. */
static void notify(int fd, const char *msg)
{
	if (fd < 0)
		return;
	(void)rls_write_all(fd, msg, strlen(msg) + 1);
	close(fd);
}

/* --ready-fd's last word, once the delta is closed: "empty" when it
 * records nothing beneath the root (whatever the source holds now, there
 * is nothing to commit), else "kept"; then a NUL.  A caller told "empty"
 * need not open the delta again.  Nothing is said when this could not be
 * told: a caller that reads nothing (this process died, or the index
 * could not be read) opens the delta itself. */
static void notify_end(int fd, int empty)
{
	if (fd < 0)
		return;
	if (empty >= 0)
		(void)rls_write_all(fd, empty ? "empty" : "kept", strlen(empty ? "empty" : "kept") + 1);
	close(fd);
}

/* 1 when the delta records nothing beneath the root, 0 when it does, -1
 * when the index cannot say. */
static int nothing_recorded(delta *d)
{
	delta_txn *txn;
	rls_error err;
	bool below = true;

	if (delta_begin(d, false, &txn, &err) < 0)
		return -1;
	if (delta_has_below(txn, "/", &below, &err) < 0) {
		delta_abort(txn);
		return -1;
	}
	delta_abort(txn);
	return !below;
}

static int serve(mount_opts *mo, policy *pol, const char *source, const char *mnt, const char *delta_dir,
		 int notify_fd, int end_fd)
{
	rlsfs fs = { .src_fd = -1, .audit_fd = -1 };
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	owner_watch watch;
	bool watching = false;
	rls_error err;
	int rc = 1;

	/* One malloc arena for every thread.  glibc gives each new thread
	 * an arena of its own (up to 8 a core), which it never returns: a
	 * daemon whose workers came and went grew by about 1 MB in ten
	 * minutes, pages scattered over a dozen half-used arenas.  Its
	 * threads spend their time in system calls, not in malloc. */
	mallopt(M_ARENA_MAX, 1);
	fs.pol = pol;
	fs.timeout = 86400.0;
	if (mo->map_owner && (mo->sandbox_uid != mo->owner_uid || mo->sandbox_gid != mo->owner_gid)) {
		fs.idmap.on = true;
		fs.idmap.sandbox_uid = mo->sandbox_uid;
		fs.idmap.sandbox_gid = mo->sandbox_gid;
		fs.idmap.owner_uid = mo->owner_uid;
		fs.idmap.owner_gid = mo->owner_gid;
	}
	fs.caller_caps = !mo->ignore_caller_caps && caller_init(&fs);
	fs.audit_max = mo->audit_max_size;
	fs.audit_rate = mo->audit_rate;
	fs.audit_burst = mo->audit_burst;
	fs.dir_bytes_max = (size_t)mo->dir_memory;
	atomic_init(&fs.dir_bytes, 0);
	{
		struct rlimit rl;

		fs.srcfds_max = RLSFS_DIR_FDS_MAX;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur / 4 < (rlim_t)fs.srcfds_max)
			fs.srcfds_max = (int)(rl.rlim_cur / 4);
	}
	fs.mountpoint = (char *)mnt;
	pthread_rwlock_init(&fs.tree, NULL);
	pthread_mutex_init(&fs.audit_lock, NULL);
	node_table_init(&fs);
	fs.src_fd = open(source, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs.src_fd < 0) {
		rls_error_set(&err, errno, "source %s", source);
		goto fail;
	}
	if (mo->audit && audit_open(&fs, mo->audit, &err) < 0)
		goto fail;
	if (delta_open(delta_dir, source, DELTA_CREATE | DELTA_MOUNT, &fs.d, &err) < 0) {
		if (err.code == EBUSY)
			rls_error_set(&err, 0, "delta %s is mounted by another rlsfs", delta_dir);
		goto fail;
	}
	/* commit judges the symlinks made here by this policy */
	if (delta_note_policy(fs.d, mo->policy_spec, &err) < 0)
		goto fail;
	{
		uint64_t size = mo->delta_size;

		if (!mo->delta_size_set && default_delta_size(fs.d, &size, &err) < 0)
			goto fail;
		/* set even when both are unlimited: statfs reads the usage */
		if (delta_set_quota(fs.d, size, mo->delta_files, &err) < 0)
			goto fail;
	}
	fuse_opt_add_arg(&args, "rlsfs");
	fuse_opt_add_arg(&args, "-o");
	fuse_opt_add_arg(&args, "fsname=rlsfs,subtype=rlsfs");
	if (mo->fuse_opts) {
		fuse_opt_add_arg(&args, "-o");
		fuse_opt_add_arg(&args, mo->fuse_opts);
	}
	if (mo->debug)
		fuse_opt_add_arg(&args, "-d");
	fs.se = fuse_session_new(&args, &rlsfs_ops, sizeof rlsfs_ops, &fs);
	if (!fs.se) {
		rls_error_set(&err, 0, "bad FUSE options '%s'", mo->fuse_opts ? mo->fuse_opts : "");
		goto fail;
	}
	if (fuse_set_signal_handlers(fs.se) < 0) {
		rls_error_set(&err, errno, "signal handlers");
		goto fail;
	}
	if (mo->fuse_fd >= 0) {
		char dev[32];

		/* libfuse serves a mount made on /dev/fuse by its caller when
		 * named so. */
		snprintf(dev, sizeof dev, "/dev/fd/%d", mo->fuse_fd);
		if (fuse_session_mount(fs.se, dev) < 0) {
			rls_error_set(&err, 0, "cannot serve the mount on %s", mnt);
			goto fail;
		}
	} else if (fuse_session_mount(fs.se, mnt) < 0) {
		rls_error_set(&err, 0, "cannot mount on %s", mnt);
		goto fail;
	}
	if (channel_init(&fs, &err) < 0) {
		fuse_session_unmount(fs.se);
		goto fail;
	}
	/* Without watches (no inotify instance left to the user), the kernel
	 * asks at each opendir: slower, as right (see rls_opendir). */
	(void)srcwatch_start(&fs, &err);
	if (mo->watch_pid > 0)
		watching = watch_start(&watch, &fs, mo->watch_pid);
	if (end_fd >= 0)
		(void)rls_write_all(notify_fd, "", 1);
	else
		notify(notify_fd, "");
	/* Ready: from here on nothing is the caller's to read. */
	if (notify_fd >= 0 && !mo->debug)
		daemon_stdio(true);
	/* As many workers as processors at most, and at least 4: a few reads
	 * waiting on a cold disk or a long fsync must not hold up the rest
	 * on a small machine.  Under a serial load one serves (see loop.c). */
	{
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		unsigned workers = cpus < 4 ? 4 : cpus > RLSFS_THREADS_MAX ? RLSFS_THREADS_MAX : (unsigned)cpus;

		rc = loop_serve(&fs, workers, &err) == 0 ? 0 : 1;
		if (rc)
			fprintf(stderr, "rlsfs: %s\n", err.msg);
	}
	if (watching)
		watch_stop(&watch);
	/* Ending: a signal from here on (rls's SIGTERM, meant for a loop
	 * that a copy of the mount kept going) must not cut the delta's
	 * sync short, which would leave a kept delta not durable.  Set
	 * before the handlers are removed, which leaves these alone. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	srcwatch_stop(&fs);
	fuse_session_unmount(fs.se);
	fuse_remove_signal_handlers(fs.se);
	fuse_session_destroy(fs.se);
	/* the log's last line before the delta's sync, which may be slow */
	audit_close(&fs);
	{
		/* A delta this mount made and nothing was written to is not
		 * left to pile up in the state directory.  Nothing writes to
		 * it any more: the count is final. */
		unsigned changes = 1;
		int empty = end_fd >= 0 ? nothing_recorded(fs.d) : -1;

		if (mo->fresh_delta) {
			changes = 0;
			if (delta_changes(fs.d, count_change, &changes, &err) < 0)
				changes = 1;
		}
		delta_close(fs.d);
		if (mo->fresh_delta && !changes)
			(void)rls_rm_rf_at(AT_FDCWD, delta_dir, NULL);
		notify_end(end_fd, empty);
	}
	fuse_opt_free_args(&args);
	close(fs.src_fd);
	node_table_free(&fs);
	return rc;

fail:
	if (notify_fd >= 0)
		notify(notify_fd, err.msg);
	else
		fprintf(stderr, "rlsfs: %s\n", err.msg);
	if (fs.se) {
		fuse_remove_signal_handlers(fs.se);
		fuse_session_destroy(fs.se);
	}
	if (fs.d)
		delta_close(fs.d);
	fuse_opt_free_args(&args);
	audit_close(&fs);
	if (fs.src_fd >= 0)
		close(fs.src_fd);
	node_table_free(&fs);
	return 1;
}

static int cmd_mount(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "delta", required_argument, NULL, 'D' },
		{ "audit", required_argument, NULL, 'A' },
		{ "watch-pid", required_argument, NULL, 'W' },
		{ "map-owner", required_argument, NULL, 'O' },
		{ "ignore-caller-caps", no_argument, NULL, 'I' },
		{ "max-delta-size", required_argument, NULL, 'S' },
		{ "max-delta-files", required_argument, NULL, 'N' },
		{ "max-dir-memory", required_argument, NULL, 'M' },
		{ "audit-max-size", required_argument, NULL, 'Z' },
		{ "audit-rate", required_argument, NULL, 'R' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "ready-fd", required_argument, NULL, 'F' },
		{ "fuse-fd", required_argument, NULL, 'U' },
		{ "policy-fd", required_argument, NULL, 'P' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	mount_opts mo = {
		.delta_files = DEFAULT_DELTA_FILES,
		.audit_max_size = DEFAULT_AUDIT_MAX_SIZE,
		.audit_rate = DEFAULT_AUDIT_RATE,
		.audit_burst = DEFAULT_AUDIT_BURST,
		.dir_memory = DEFAULT_DIR_MEMORY,
		.ready_fd = -1,
		.fuse_fd = -1,
		.policy_fd = -1,
	};
	_cleanup_free_ char *source = NULL, *mnt = NULL, *delta_dir = NULL, *spec = NULL;
	policy *pol = NULL;
	rls_error err = { 0 };
	int c, pipefd[2];
	pid_t child;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+p:o:fdh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': mo.policy = optarg; break;
		case 'D': mo.delta = optarg; break;
		case 'A': mo.audit = optarg; break;
		case 'o': mo.fuse_opts = optarg; break;
		case 'f': mo.foreground = true; break;
		case 'F':
		case 'U':
		case 'P': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || end == optarg || v < 3 || v > INT_MAX || fcntl((int)v, F_SETFD, FD_CLOEXEC) < 0) {
				fprintf(stderr, "rlsfs: %s wants an open descriptor (3 or more), not '%s'\n",
					c == 'F' ? "--ready-fd" : c == 'U' ? "--fuse-fd" : "--policy-fd", optarg);
				return 2;
			}
			*(c == 'F' ? &mo.ready_fd : c == 'U' ? &mo.fuse_fd : &mo.policy_fd) = (int)v;
			break;
		}
		case 'd': mo.debug = mo.foreground = true; break;
		case 'W': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v <= 0 || v > INT_MAX) {
				fprintf(stderr, "rlsfs: --watch-pid: not a process id: '%s'\n", optarg);
				return 2;
			}
			mo.watch_pid = (pid_t)v;
			break;
		}
		case 'O':
			if (parse_map_owner(optarg, &mo) < 0) {
				fprintf(stderr, "rlsfs: --map-owner wants UID:GID=UID:GID (numbers), not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'I':
			mo.ignore_caller_caps = true;
			break;
		case 'S':
			if (parse_limit("--max-delta-size", optarg, true, &mo.delta_size))
				return 2;
			mo.delta_size_set = true;
			break;
		case 'N':
			if (parse_limit("--max-delta-files", optarg, false, &mo.delta_files))
				return 2;
			break;
		case 'M':
			if (parse_limit("--max-dir-memory", optarg, true, &mo.dir_memory))
				return 2;
			break;
		case 'Z':
			if (parse_limit("--audit-max-size", optarg, true, &mo.audit_max_size))
				return 2;
			break;
		case 'R':
			if (parse_rate(optarg, &mo.audit_rate, &mo.audit_burst))
				return 2;
			break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "rlsfs: mount: bad option '%s' (see rlsfs --help)\n", argv[optind - 1]);
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "rlsfs: mount needs SOURCE and MOUNTPOINT (see rlsfs --help)\n");
		return 2;
	}
	mo.source = argv[optind];
	mo.mountpoint = argv[optind + 1];
	if (check_args(&mo, &source, &mnt, &err) < 0) {
		fprintf(stderr, "rlsfs: %s\n", err.msg);
		return 1;
	}
	if (mo.policy_fd >= 0 && !mo.policy) {
		fprintf(stderr, "rlsfs: --policy-fd wants -p POLICY too: the name the delta records\n");
		return 2;
	}
	/* A bad policy is bad input: 2, as for rls run.  A snapshot is read
	 * as it is, the files it was taken from not at all. */
	if ((mo.policy_fd >= 0 ? policy_load_snapshot(mo.policy_fd, &pol, &err) :
				 policy_load_for_source(mo.policy, source, &pol, &err)) < 0) {
		fprintf(stderr, "rlsfs: %s\n", err.msg);
		return 2;
	}
	if (mo.policy_fd >= 0)
		close(mo.policy_fd);
	protect_policy(pol, source);
	spec = policy_resolve_spec(mo.policy, source);
	mo.policy_spec = spec;
	if (mo.delta) {
		if (rls_mkdir_p(mo.delta, 0700, &err) < 0 ||
		    (!(delta_dir = realpath(mo.delta, NULL)) && rls_error_set(&err, errno, "delta %s", mo.delta) < 0)) {
			fprintf(stderr, "rlsfs: %s\n", err.msg);
			policy_free(pol);
			return 1;
		}
		if (!strncmp(delta_dir, source, strlen(source)) && delta_dir[strlen(source)] == '/') {
			fprintf(stderr, "rlsfs: delta %s lies inside the source\n", mo.delta);
			policy_free(pol);
			return 2;
		}
	} else if (!(delta_dir = fresh_delta_dir(source, &err))) {
		fprintf(stderr, "rlsfs: %s\n", err.msg);
		policy_free(pol);
		return 1;
	}

	mo.fresh_delta = !mo.delta;
	if (mo.foreground || mo.ready_fd >= 0) {
		int rc;

		if (!mo.delta)
			printf("%s\n", delta_dir);
		fflush(stdout);
		if (mo.ready_fd >= 0) {
			/* The caller's child, but a daemon all the same: no
			 * signal from its terminal, no folder held.  Standard
			 * error stays until the mount is ready. */
			setsid();
			if (chdir("/") < 0) {
				notify(mo.ready_fd, "chdir /");
				policy_free(pol);
				return 1;
			}
			daemon_stdio(false);
		}
		rc = serve(&mo, pol, source, mnt, delta_dir, mo.ready_fd, mo.ready_fd);
		policy_free(pol);
		return rc;
	}

	/* Detach: the child serves, the parent waits until the mount is
	 * ready (or failed) and reports.  The delta is opened in the child:
	 * an LMDB environment must not cross a fork. */
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		rls_die_errno("pipe");
	fflush(NULL);
	child = fork();
	if (child < 0)
		rls_die_errno("fork");
	if (child == 0) {
		close(pipefd[0]);
		setsid();
		if (chdir("/") < 0)
			_exit(1);
		daemon_stdio(!mo.debug);
		_exit(serve(&mo, pol, source, mnt, delta_dir, pipefd[1], -1));
	}
	close(pipefd[1]);
	{
		char msg[sizeof err.msg] = "";
		size_t got = 0;
		ssize_t r;

		while (got < sizeof msg - 1 && (r = read(pipefd[0], msg + got, sizeof msg - 1 - got)) != 0) {
			if (r < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			got += (size_t)r;
			if (memchr(msg, '\0', got))
				break;
		}
		close(pipefd[0]);
		policy_free(pol);
		if (got == 0) {
			int status;

			waitpid(child, &status, 0);
			fprintf(stderr, "rlsfs: the filesystem process died before the mount was ready\n");
			return 1;
		}
		if (msg[0]) {
			waitpid(child, NULL, 0);
			rls_text_sanitize(msg, sizeof msg);
			fprintf(stderr, "rlsfs: %s\n", msg);
			return 1;
		}
	}
	if (!mo.delta)
		printf("%s\n", delta_dir);
	return 0;
}

static int match_rlsfs(const char *point, const char *fstype, const char *source, const char *opts,
		       void *mnt)
{
	return !strcmp(point, mnt) && !strcmp(fstype, "fuse.rlsfs");
}

/* Is `mnt` an rlsfs mount? */
static bool is_rlsfs_mount(const char *mnt)
{
	return rls_mountinfo_each(match_rlsfs, (void *)mnt) == 1;
}

#define UMOUNT_NOTE_MS 10000

/* A pidfd of the process serving the rlsfs mount at `mnt`, or -1. */
static int serving_process(const char *mnt)
{
	char buf[24];
	ssize_t n = getxattr(mnt, RLSFS_PID_XATTR, buf, sizeof buf - 1);
	long pid;
	char *end;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	if (*end || pid <= 0 || pid > INT_MAX)
		return -1;
	return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
}

static int cmd_umount(int argc, char **argv)
{
	_cleanup_free_ char *mnt = NULL;
	int daemon;
	bool lazy = false;
	int c;

	optind = 1;
	while ((c = getopt(argc, argv, "+lh")) != -1) {
		switch (c) {
		case 'l': lazy = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "rlsfs: umount needs MOUNTPOINT (see rlsfs --help)\n");
		return 2;
	}
	mnt = realpath(argv[optind], NULL);
	if (!mnt) {
		fprintf(stderr, "rlsfs: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	if (!is_rlsfs_mount(mnt)) {
		fprintf(stderr, "rlsfs: %s is not an rlsfs mount\n", argv[optind]);
		return 1;
	}
	daemon = serving_process(mnt);
	if (rls_fuse_unmount(mnt, lazy) < 0) {
		fprintf(stderr, "rlsfs: umount %s: %s%s\n", argv[optind], strerror(errno),
			errno == EBUSY ? " (a process still uses it: see fuser -vm MOUNTPOINT)" : "");
		if (daemon >= 0)
			close(daemon);
		return 1;
	}
	/* Return only once the daemon has synced and closed the delta, so
	 * that `rlsfs umount M; rls commit D` never finds it busy. */
	/* However long that takes: the delta's sync waits on the disk, and
	 * on all else dirty on its file system, as long as a busy host
	 * needs.  Said every UMOUNT_NOTE_MS; Ctrl-C stops the wait. */
	if (daemon >= 0 && !lazy) {
		struct pollfd p = { .fd = daemon, .events = POLLIN };
		int waited_ms = 0;

		while (RLS_TEMP_FAILURE_RETRY(poll(&p, 1, UMOUNT_NOTE_MS)) == 0) {
			waited_ms += UMOUNT_NOTE_MS;
			fprintf(stderr, "rlsfs: %s is unmounted; its process is still syncing the delta "
				"after %ds: waiting\n", argv[optind], waited_ms / 1000);
		}
	}
	if (daemon >= 0)
		close(daemon);
	return 0;
}

int rlsfs_main(int argc, char **argv)
{
	rls_progname = "rlsfs";
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		puts("rlsfs " RLS_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "mount"))
		return cmd_mount(argc - 1, argv + 1);
	if (!strcmp(argv[1], "umount") || !strcmp(argv[1], "unmount"))
		return cmd_umount(argc - 1, argv + 1);
	fprintf(stderr, "rlsfs: unknown command '%s' (try rlsfs --help)\n", argv[1]);
	return 2;
}
