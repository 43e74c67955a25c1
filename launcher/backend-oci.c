/* backend-oci.c - `rls run --backend oci`: an OCI runtime over a bundle.
 *
 * Phases: find the runtime, find the root file system (the host's, an
 * image's from the cache, or --rootfs), write the bundle in the run's
 * temp dir, hand the guard the runtime's kill and delete commands, start
 * `RUNTIME run`, supervise it, and delete whatever is left.  Everything
 * of the run (bundle, the runtime's state, the verdict) lives in
 * TMPDIR/oci, removed at the end, or by the guard should rls die.
 *
 * The runtime is a child of rls and dies with it (PR_SET_PDEATHSIG); the
 * container does not die with the runtime, which is why the guard gets
 * `RUNTIME kill ID KILL` and `RUNTIME delete --force ID` up front.
 * Signals that reach rls go to the runtime, which passes them to the
 * container's pid 1, rls-init, which passes them to the command.
 */
#include "launcher.h"
#include "run.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define DELETE_TIMEOUT_MS 10000

/* Everything one run of the backend holds. */
typedef struct oci_run {
	const backend_ctx *ctx;
	oci_runtime rt;
	char *id;		/* the container's name: rls-run-PID, as the cgroup */
	char *cgroup;		/* its cgroupsPath: ID, or ID/oci below rls's limits */
	char *dir;		/* TMPDIR/oci */
	char *bundle;		/* TMPDIR/oci/bundle */
	char *state;		/* TMPDIR/oci/state: the runtime's --root */
	char *tree;		/* an image's or --rootfs root, or NULL */
	char *tree_at;		/* TMPDIR/oci/tree, where the runtime reaches it */
	char *verdict_file;	/* TMPDIR/oci/verdict (runsc) */
	char *seccomp_file;	/* TMPDIR/oci/seccomp (runsc) */
	bool stage;		/* root: the runtime runs in a mount namespace of its own */
	backend_ctx staged;	/* ctx as the runtime reaches it */
	char **bind_at;		/* TMPDIR/oci/bindN, --bind sources staged */
	/* runsc writes a regular file given as stdout or stderr at offsets
	 * of its own, over what rls writes there: it gets pipes instead,
	 * which rls copies on.  [0] for fd 1, [1] for fd 2; -1 when none. */
	int relay_rd[2], relay_wr[2];
	char *init_at;		/* TMPDIR/init, rls-init staged */
	int verdict_w;		/* rls-init's verdict pipe, write end, or -1 (runsc: a file) */
	oci_bundle_spec bs;
} oci_run;

static void oci_run_free(oci_run *r)
{
	oci_runtime_free(&r->rt);
	free(r->id);
	free(r->cgroup);
	free(r->dir);
	free(r->bundle);
	free(r->state);
	free(r->tree);
	free(r->tree_at);
	free(r->verdict_file);
	free(r->seccomp_file);
	free(r->init_at);
	for (size_t i = 0; r->bind_at && i < r->ctx->n_binds; i++)
		free(r->bind_at[i]);
	free(r->bind_at);
}

/* Cheap: which runtime works is found (and said) when the run starts,
 * the one --runtime names or the first that works. */
static int oci_probe(rls_error *err)
{
	for (const char *const *n = oci_runtime_names; *n; n++) {
		_cleanup_free_ char *p = run_search_path(*n, getenv("PATH"));

		if (!p)
			p = run_search_path(*n, RUN_SANDBOX_PATH);
		if (p)
			return 0;
	}
	return rls_error_set(err, 0, "no OCI runtime is installed (apt-get install runc, or crun, "
			     "or runsc); or use --backend bwrap");
}

/* ---- preparing ---- */

static int find_tree(oci_run *r, rls_error *err)
{
	const backend_ctx *ctx = r->ctx;
	struct stat st;

	if (ctx->image)
		return oci_image_root(ctx->image, ctx->source, &r->tree, err);
	if (!ctx->rootfs)
		return 0;
	r->tree = realpath(ctx->rootfs, NULL);
	if (!r->tree || stat(r->tree, &st) < 0)
		return rls_error_set(err, errno, "--rootfs %s", ctx->rootfs);
	if (!S_ISDIR(st.st_mode))
		return rls_error_set(err, 0, "--rootfs %s: not a directory", ctx->rootfs);
	return 0;
}

static int write_file_mode(const char *path, const void *data, size_t len, mode_t mode, rls_error *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);

	if (fd < 0 || rls_write_all(fd, data, len) < 0)
		return rls_error_set(err, errno, "%s", path);
	return 0;
}

/* runsc passes no descriptor in: the verdict comes back in a file the
 * command's identity may write, and rls-init installs the BPF program
 * itself, for gVisor's own filter answers EPERM to everything. */
static int prepare_gvisor_files(oci_run *r, rls_error *err)
{
	_cleanup_close_ int bpf = -1;
	char buf[4096];
	ssize_t n;
	rls_buf prog = { 0 };
	int ret;

	r->verdict_file = rls_xasprintf("%s/verdict", r->dir);
	if (write_file_mode(r->verdict_file, "", 0, 0600, err) < 0)
		return -1;
	if (!r->rt.rootless && chown(r->verdict_file, r->ctx->id->uid, r->ctx->id->gid) < 0)
		return rls_error_set(err, errno, "chown %s", r->verdict_file);
	bpf = seccomp_bpf_fd(SECCOMP_NO_USERNS, err);
	if (bpf < 0)
		return -1;
	while ((n = read(bpf, buf, sizeof buf)) > 0)
		rls_buf_add(&prog, buf, (size_t)n);
	r->seccomp_file = rls_xasprintf("%s/seccomp", r->dir);
	ret = write_file_mode(r->seccomp_file, prog.data, prog.len, 0644, err);
	rls_buf_free(&prog);
	return ret;
}

static int prepare(oci_run *r, rls_error *err)
{
	const backend_ctx *ctx = r->ctx;

	if (oci_runtime_find(ctx->runtime, ctx->source, &r->rt, err) < 0)
		return -1;
	r->rt.share_net = ctx->share_net;
	if (r->rt.gvisor && ctx->share_net)
		return rls_error_set(err, 0, "--net host does not work with runsc here (its sandbox cannot "
				     "be set up with the host's network in a user namespace); use --runtime runc "
				     "or --backend bwrap");
	if (find_tree(r, err) < 0)
		return -1;
	r->id = rls_xasprintf("rls-run-%d", (int)getpid());
	/* The container's cgroup: beside rls's own, or, where limits.c made
	 * one with the limits, a child of it (see resources() in
	 * oci-bundle.c). */
	r->cgroup = ctx->cg->version ? rls_xasprintf("%s/oci", r->id) : rls_xstrdup(r->id);
	r->dir = rls_xasprintf("%s/oci", ctx->tmpdir);
	r->bundle = rls_xasprintf("%s/bundle", r->dir);
	r->state = rls_xasprintf("%s/state", r->dir);
	r->stage = !r->rt.rootless;
	/* 0755: the runtime sets the container up as an unprivileged
	 * uid, which must walk to the bundle.  The temp dir above stays
	 * 0700; the runtime sees it through the staged mounts below. */
	if (mkdir(r->dir, 0755) < 0 || chmod(r->dir, 0755) < 0 || mkdir(r->bundle, 0755) < 0 ||
	    mkdir(r->state, 0711) < 0)
		return rls_error_set(err, errno, "%s", r->dir);
	if (r->tree) {
		r->tree_at = rls_xasprintf("%s/tree", r->dir);
		if (mkdir(r->tree_at, 0755) < 0)
			return rls_error_set(err, errno, "%s", r->tree_at);
	}
	if (r->rt.gvisor && prepare_gvisor_files(r, err) < 0)
		return -1;

	/* --bind sources, which the runtime's setup uid may not be able to
	 * walk to: staged too, at TMPDIR/oci/bindN (stage_mounts). */
	if (r->stage && ctx->n_binds) {
		r->bind_at = rls_xcalloc(ctx->n_binds + 1, sizeof *r->bind_at);
		for (size_t i = 0; i < ctx->n_binds; i++) {
			struct stat st;
			int fd;

			r->bind_at[i] = rls_xasprintf("%s/bind%zu", r->dir, i);
			if (stat(ctx->binds[i].host, &st) < 0)
				return rls_error_set(err, errno, "--bind %s", ctx->binds[i].host);
			if (S_ISDIR(st.st_mode)) {
				if (mkdir(r->bind_at[i], 0755) < 0)
					return rls_error_set(err, errno, "%s", r->bind_at[i]);
			} else {
				fd = open(r->bind_at[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
				if (fd < 0)
					return rls_error_set(err, errno, "%s", r->bind_at[i]);
				close(fd);
			}
		}
	}
	/* Staged, rls-init is reached at TMPDIR/init (stage_mounts). */
	r->init_at = rls_xasprintf("%s/init", ctx->tmpdir);
	r->staged = *ctx;
	if (r->stage)
		r->staged.init = r->init_at;
	r->bs = (oci_bundle_spec){
		.ctx = &r->staged, .rt = &r->rt, .dir = r->bundle, .tree = r->tree,
		.tree_source = r->stage ? r->tree_at : r->tree, .verdict_file = r->verdict_file,
		.seccomp_file = r->seccomp_file, .cgroup = r->cgroup, .skeleton_later = r->stage,
		.bind_sources = r->bind_at,
	};
	return oci_bundle_write(&r->bs, err);
}

/* ---- the runtime's commands ---- */

static char **verb_argv(const oci_run *r, const char *verb, const char *const *args)
{
	return oci_runtime_argv(&r->rt, r->state, verb, args);
}

static char **kill_argv(const oci_run *r, const char *sig, bool all)
{
	const char *args[] = { all ? "--all" : r->id, all ? r->id : sig, all ? sig : NULL, NULL };

	return verb_argv(r, "kill", args);
}

static char **delete_argv(const oci_run *r)
{
	const char *args[] = { r->rt.gvisor ? "-force" : "--force", r->id, NULL };

	return verb_argv(r, "delete", args);
}

static void run_quietly(char **argv)
{
	(void)oci_run_quietly(argv, DELETE_TIMEOUT_MS);
	oci_argv_free(argv);
}

/* ---- starting ---- */

/* A root caller's runtime sets the container up as an unprivileged uid,
 * which cannot walk the private temp dir (0700, root's).  So, as in
 * backend-bwrap.c, the runtime gets a mount namespace of its own with a
 * small tmpfs over the temp dir holding just the rlsfs mount, rls-init
 * and TMPDIR/oci, bound from descriptors opened before; the image's root
 * is bound read-only, nosuid and nodev at TMPDIR/oci/tree.  The runtime's
 * state dir is the real one, so that the guard and rls reach it. */
static int stage_mounts(const oci_run *r, rls_error *err)
{
	const backend_ctx *ctx = r->ctx;
	_cleanup_close_ int mnt_fd = -1, init_fd = -1, oci_fd = -1, tree_fd = -1;
	_cleanup_free_ char *init_at = rls_xasprintf("%s/init", ctx->tmpdir);

	if (identity_private_mounts(err) < 0)
		return -1;
	mnt_fd = open(ctx->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
	init_fd = open(ctx->init, O_PATH | O_CLOEXEC);
	oci_fd = open(r->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (mnt_fd < 0 || init_fd < 0 || oci_fd < 0)
		return rls_error_set(err, errno, "open %s", mnt_fd < 0 ? ctx->mountpoint :
					     init_fd < 0 ? ctx->init : r->dir);
	if (r->tree) {
		tree_fd = open(r->tree, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (tree_fd < 0)
			return rls_error_set(err, errno, "open %s", r->tree);
	}
	if (identity_stage_tmpdir(ctx->tmpdir, ctx->mountpoint, mnt_fd, init_at, init_fd, err) < 0)
		return -1;
	if (mkdir(r->dir, 0755) < 0)
		return rls_error_set(err, errno, "mkdir %s", r->dir);
	if (identity_bind_fd(oci_fd, r->dir, 0) < 0)
		return rls_error_set(err, errno, "bind %s", r->dir);
	if (r->tree) {
		if (identity_bind_fd(tree_fd, r->tree_at, MS_REC) < 0 ||
		    mount(NULL, r->tree_at, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
			  NULL) < 0)
			return rls_error_set(err, errno, "bind %s read-only", r->tree);
	}
	for (size_t i = 0; r->bind_at && i < ctx->n_binds; i++) {
		_cleanup_close_ int bfd = open(ctx->binds[i].host, O_PATH | O_CLOEXEC);

		if (bfd < 0)
			return rls_error_set(err, errno, "--bind %s", ctx->binds[i].host);
		if (identity_bind_fd(bfd, r->bind_at[i], MS_REC) < 0)
			return rls_error_set(err, errno, "bind %s", ctx->binds[i].host);
	}
	identity_drop_foreign_mounts(ctx->tmpdir);
	if (mount(NULL, ctx->tmpdir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return rls_error_set(err, errno, "remount %s read-only", ctx->tmpdir);
	/* The root: a small tmpfs of mount points, so that the sandbox's
	 * mount table shows "/" for it, not a host path.  Without nosuid and
	 * nodev (it holds only empty folders and links): flags set here are
	 * locked for the runtime's user namespace, and gVisor's gofer
	 * remounts the root read-only without them, which then fails. */
	{
		_cleanup_free_ char *root = rls_xasprintf("%s/rootfs", r->bundle);

		if (mount("rls", root, "tmpfs", 0, "mode=0755,size=1m") < 0)
			return rls_error_set(err, errno, "tmpfs on %s", root);
	}
	return oci_bundle_skeleton(&r->bs, err);
}

/* runc or crun on the terminal rls holds (see spawn_child). */
static bool shares_rls_group(const oci_run *r)
{
	return r->ctx->tty_fg && !r->rt.gvisor;
}

/* The child, from fork to exec of the runtime. */
static RLS_NORETURN void spawn_child(void *arg, int report_fd)
{
	const oci_run *r = arg;
	int verdict_w = r->verdict_w;
	rls_error e = { 0 };
	pid_t parent = getppid();
	char **argv;
	char *env[] = { "PATH=" RUN_SANDBOX_PATH, NULL };

	run_child_reset_signals();
	/* kill(0) inside never reaches rls: runc and crun give the container
	 * a session of its own, and rls-init the command a group of its own
	 * in it.  On a terminal rls holds, runc and crun stay in rls's
	 * group, the foreground: they relay the terminal (a background job
	 * touching it would be stopped), and Ctrl-C reaches rls too, which
	 * so knows the run was interrupted.  runsc, which passes no signal
	 * on, gets the foreground alone, and dies of Ctrl-C as bubblewrap
	 * does.  Elsewhere a group of its own. */
	if (!shares_rls_group(r)) {
		setpgid(0, 0);
		if (r->ctx->tty_fg)
			run_terminal_to(getpgrp());
	}
	/* rls's death takes the runtime down; the guard then kills and
	 * deletes the container. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent) {
		rls_error_set(&e, errno, "PR_SET_PDEATHSIG");
		goto fail;
	}
	if (chdir(r->bundle) < 0) {
		rls_error_set(&e, errno, "chdir %s", r->bundle);
		goto fail;
	}
	if (r->stage && stage_mounts(r, &e) < 0)
		goto fail;
	/* The runtime's own keyring is the caller's otherwise; the runtime
	 * gives the container a fresh one of its own besides. */
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS) {
		rls_error_set(&e, errno, "a fresh session keyring");
		goto fail;
	}
	for (int i = 0; i < 2; i++)
		if (r->relay_wr[i] >= 0 && dup2(r->relay_wr[i], i + 1) < 0) {
			rls_error_set(&e, errno, "dup2");
			goto fail;
		}
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (verdict_w >= 0) {
		/* --preserve-fds 1: the verdict pipe is fd 3 inside. */
		if (dup2(verdict_w, 3) < 0) {
			rls_error_set(&e, errno, "dup2");
			goto fail;
		}
		fcntl(3, F_SETFD, 0);
	}
	{
		/* runc and crun: --bundle B [--preserve-fds 1] ID; runsc:
		 * -bundle B ID (it passes no descriptor in). */
		const char *args[6];
		size_t n = 0;

		args[n++] = r->rt.gvisor ? "-bundle" : "--bundle";
		args[n++] = r->bundle;
		if (verdict_w >= 0) {
			args[n++] = "--preserve-fds";
			args[n++] = "1";
		}
		args[n++] = r->id;
		args[n] = NULL;
		argv = verb_argv(r, "run", args);
	}
	execve(argv[0], argv, env);
	rls_error_set(&e, errno, "exec %s", argv[0]);
fail:
	(void)rls_write_all(report_fd, e.msg, strlen(e.msg));
	_exit(125);
}

/* ---- supervising ---- */

/* The container's pid 1 on the host: a child of runc or crun (any of
 * its threads may have forked it).  0 when not there, or for runsc,
 * whose container lives inside its own kernel. */
static pid_t container_init(const oci_run *r, pid_t runtime)
{
	char path[64];
	DIR *d;
	struct dirent *de;
	pid_t found = 0;

	if (r->rt.gvisor)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/task", (int)runtime);
	d = opendir(path);
	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		char cpath[96], buf[128];
		_cleanup_close_ int fd = -1;
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(cpath, sizeof cpath, "/proc/%d/task/%s/children", (int)runtime, de->d_name);
		fd = open(cpath, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof buf - 1);
		if (n > 0) {
			buf[n] = '\0';
			found = (pid_t)strtol(buf, NULL, 10);
		}
	}
	closedir(d);
	return found;
}

/* After a timeout: every process of the container gets SIGTERM (not its
 * pid 1, rls-init, which would pass it on a second time); 0 when there
 * was none to send it to. */
static int terminate_all(const oci_run *r, pid_t runtime)
{
	pid_t init = container_init(r, runtime);

	if (init > 0)
		return supervise_signal_pidns(init, SIGTERM);
	if (r->rt.gvisor) {
		run_quietly(kill_argv(r, "TERM", true));
		return 1;
	}
	return 0;
}

static void kill_container(const oci_run *r, pid_t runtime)
{
	pid_t init = container_init(r, runtime);

	if (init > 0)
		kill(init, SIGKILL);
	else
		run_quietly(kill_argv(r, "KILL", false));
}

typedef struct oci_wait {
	int wait_status;
	bool timed_out;
	int interrupted_by;
} oci_wait;

/* Copy what a relay pipe holds to the file it stands for; false at its
 * end. */
static bool relay(oci_run *r, int i)
{
	char buf[65536];
	ssize_t n = read(r->relay_rd[i], buf, sizeof buf);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0) {
		close(r->relay_rd[i]);
		r->relay_rd[i] = -1;
		return false;
	}
	(void)rls_write_all(i + 1, buf, (size_t)n);
	return true;
}

static int supervise(oci_run *r, pid_t pid, oci_wait *w, rls_error *err)
{
	const backend_ctx *ctx = r->ctx;
	double deadline = ctx->timeout_s > 0 ? run_now() + ctx->timeout_s : 0;
	double kill_at = 0;
	int kills = 0;

	memset(w, 0, sizeof *w);
	for (;;) {
		struct pollfd fds[3] = { { .fd = ctx->signal_fd, .events = POLLIN },
					 { .fd = r->relay_rd[0], .events = POLLIN },
					 { .fd = r->relay_rd[1], .events = POLLIN } };
		struct pollfd pf;
		double next = kill_at ? kill_at : deadline;
		int timeout_ms = -1, ws;
		pid_t got;

		if (next) {
			double left = next - run_now();

			timeout_ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
		}
		if (poll(fds, 3, timeout_ms) < 0 && errno != EINTR)
			return rls_error_set(err, errno, "poll");
		for (int i = 0; i < 2; i++)
			if (fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR))
				relay(r, i);
		pf = fds[0];
		if (pf.revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(ctx->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
				if (si.ssi_signo == SIGCHLD)
					continue;
				/* From the terminal: the runtime, in rls's group,
				 * has it too and passes it on itself. */
				if (shares_rls_group(r) && si.ssi_code == SI_KERNEL) {
					w->interrupted_by = (int)si.ssi_signo;
					continue;
				}
				/* The runtime passes it to rls-init, which passes
				 * it to the command; runsc passes nothing on, and
				 * is asked to send it. */
				w->interrupted_by = (int)si.ssi_signo;
				if (r->rt.gvisor) {
					char num[16];

					snprintf(num, sizeof num, "%u", si.ssi_signo);
					run_quietly(kill_argv(r, num, false));
				} else {
					kill(pid, (int)si.ssi_signo);
				}
			}
		}
		got = waitpid(pid, &ws, WNOHANG);
		if (got == pid) {
			/* The rest of the output, until the sandbox's
			 * processes let go of the pipes. */
			for (int i = 0; i < 2; i++)
				while (r->relay_rd[i] >= 0) {
					struct pollfd rp = { .fd = r->relay_rd[i], .events = POLLIN };

					/* A sandbox process left standing (a killed
					 * runtime's) must not hold rls here. */
					if (poll(&rp, 1, 1000) <= 0 || !relay(r, i))
						break;
				}
			w->wait_status = ws;
			if (deadline && run_now() >= deadline)
				w->timed_out = true;
			return 0;
		}
		if (deadline && !w->timed_out && run_now() >= deadline) {
			w->timed_out = true;
			kill_at = run_now() + ctx->grace_s;
			if (!terminate_all(r, pid))
				kill_at = run_now();
		}
		if (kill_at && run_now() >= kill_at) {
			/* The container first; then, should it still stand
			 * after a second, the runtime itself. */
			if (kills++ == 0)
				kill_container(r, pid);
			else
				kill(pid, SIGKILL);
			kill_at = run_now() + 1;
		}
	}
}

/* On cgroup v1 the kernel counts an OOM kill in the victim's own cgroup
 * (the runtime's, NAME/oci, gone when `run` returns), not in rls's whose
 * limit was reached: rls asks rls's cgroup to notify it of an OOM in its
 * hierarchy instead.  An eventfd, or -1.  (v2 counts up the hierarchy:
 * limits_oom_killed sees it.) */
static int oom_watch(const backend_ctx *ctx)
{
	if (ctx->cg->version != 1 || ctx->cg->memory != LIMIT_CGROUP_V1)
		return -1;
	for (size_t i = 0; i < ctx->cg->n_dirs; i++) {
		_cleanup_free_ char *ctl = rls_xasprintf("%s/memory.oom_control", ctx->cg->dirs[i]);
		_cleanup_free_ char *ev = rls_xasprintf("%s/cgroup.event_control", ctx->cg->dirs[i]);
		_cleanup_free_ char *line = NULL;
		_cleanup_close_ int ofd = open(ctl, O_RDONLY | O_CLOEXEC), evfd = -1;
		int efd;

		if (ofd < 0)
			continue;
		evfd = open(ev, O_WRONLY | O_CLOEXEC);
		efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (evfd < 0 || efd < 0) {
			if (efd >= 0)
				close(efd);
			return -1;
		}
		line = rls_xasprintf("%d %d", efd, ofd);
		if (rls_write_all(evfd, line, strlen(line)) < 0) {
			close(efd);
			return -1;
		}
		return efd;
	}
	return -1;
}

static bool oom_seen(int efd)
{
	uint64_t n = 0;

	return efd >= 0 && read(efd, &n, sizeof n) == (ssize_t)sizeof n && n > 0;
}

/* ---- ending ---- */

static void finish(oci_run *r)
{
	_cleanup_free_ char *st = r->state && r->id ? rls_xasprintf("%s/%s", r->state, r->id) : NULL;
	rls_error e;

	/* runc and crun delete the container, its cgroups included, when
	 * `run` ends by itself; anything else (a killed runtime, runsc's
	 * sandbox) is deleted here, and what its cgroups leave swept. */
	if (st && (access(st, F_OK) == 0 || r->rt.gvisor))
		run_quietly(delete_argv(r));
	/* The runtime made NAME/oci in every hierarchy, NAME too where rls
	 * had none; it removed only the child.  Not rls's own: run.c reads
	 * its OOM count, then removes it. */
	if (r->id && !r->rt.rootless) {
		if (r->ctx->cg->version)
			oci_cgroup_sweep(r->cgroup, r->ctx->cg, 3000);
		oci_cgroup_sweep(r->id, r->ctx->cg, 3000);
	}
	if (r->dir)
		(void)rls_rm_rf_at(AT_FDCWD, r->dir, &e);
}

static int hand_guard(const oci_run *r, rls_error *err)
{
	char **k = kill_argv(r, "KILL", false), **d = delete_argv(r);
	int ret = guard_add_cleanup(r->ctx->guard, k, d, r->dir, r->rt.rootless ? NULL : r->cgroup, err);

	oci_argv_free(k);
	oci_argv_free(d);
	return ret;
}

static bool read_verdict(const oci_run *r, int verdict_rd)
{
	char c = 0;

	if (r->verdict_file) {
		_cleanup_close_ int fd = open(r->verdict_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

		return fd >= 0 && read(fd, &c, 1) == 1 && c == '1';
	}
	return read(verdict_rd, &c, 1) == 1 && c == '1';
}

static int oci_backend_run(const backend_ctx *ctx, backend_result *res, rls_error *err)
{
	oci_run r = { .ctx = ctx, .relay_rd = { -1, -1 }, .relay_wr = { -1, -1 }, .verdict_w = -1 };
	int vp[2] = { -1, -1 };
	oci_wait w;
	pid_t pid;
	int ret = -1;
	_cleanup_close_ int oom_fd = oom_watch(ctx);

	memset(res, 0, sizeof *res);
	if (prepare(&r, err) < 0 || hand_guard(&r, err) < 0)
		goto out;
	if (!r.verdict_file && pipe2(vp, O_CLOEXEC | O_NONBLOCK) < 0) {
		rls_error_set(err, errno, "pipe");
		goto out;
	}
	for (int i = 0; r.rt.gvisor && i < 2; i++) {
		struct stat st;
		int p[2];

		if (fstat(i + 1, &st) == 0 && S_ISREG(st.st_mode)) {
			if (pipe2(p, O_CLOEXEC) < 0 || fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
				rls_error_set(err, errno, "pipe");
				goto out;
			}
			r.relay_rd[i] = p[0];
			r.relay_wr[i] = p[1];
		}
	}
	r.verdict_w = vp[1];
	pid = run_spawn(spawn_child, &r, !shares_rls_group(&r), r.ctx->tty_fg, err);
	if (vp[1] >= 0)
		close(vp[1]);
	for (int i = 0; i < 2; i++)
		if (r.relay_wr[i] >= 0) {
			close(r.relay_wr[i]);
			r.relay_wr[i] = -1;
		}
	if (pid < 0)
		goto out;
	if (ctx->timeout_s > 0 &&
	    guard_arm(ctx->guard, pid, run_now() + ctx->timeout_s + ctx->grace_s + 1, err) < 0)
		rls_warn("%s", err->msg);
	if (supervise(&r, pid, &w, err) < 0) {
		kill_container(&r, pid);
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		goto out;
	}
	if (ctx->tty_fg)
		run_terminal_to(getpgrp());
	res->started = read_verdict(&r, vp[0]);
	res->oom_killed = oom_seen(oom_fd);
	res->timed_out = w.timed_out;
	res->interrupted_by = w.interrupted_by;
	if (WIFSIGNALED(w.wait_status)) {
		res->term_signal = WTERMSIG(w.wait_status);
		if (!res->interrupted_by && !res->timed_out)
			res->interrupted_by = res->term_signal;
	} else {
		res->exit_code = WEXITSTATUS(w.wait_status);
	}
	ret = 0;
out:
	if (vp[0] >= 0)
		close(vp[0]);
	for (int i = 0; i < 2; i++) {
		if (r.relay_rd[i] >= 0)
			close(r.relay_rd[i]);
		if (r.relay_wr[i] >= 0)
			close(r.relay_wr[i]);
	}
	finish(&r);
	oci_run_free(&r);
	return ret;
}

const backend backend_oci = {
	.name = "oci",
	.summary = "an OCI runtime (runc, crun: the host's kernel; runsc: gVisor's) over a generated bundle",
	.probe = oci_probe,
	.run = oci_backend_run,
};
