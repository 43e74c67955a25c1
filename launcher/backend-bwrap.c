/* backend-bwrap.c - the default backend: bubblewrap over the rlsfs mount.
 *
 * The child forked here becomes bwrap: it joins the cgroup, takes its own
 * process group (and the terminal's foreground when rls had it), stages
 * the mount for an unprivileged identity, drops to that identity, takes a
 * fresh session keyring and execs bwrap with the sandbox's environment
 * and its options in a memfd.  rls-init inside checks the sandbox and
 * writes its verdict; supervise.c waits, forwarding signals, enforcing
 * the timeout and proxying Ctrl-Z.
 */
#include "launcher.h"
#include "run.h"

#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>

/* The rlsfs mount, rls-init and the --bind sources, staged on a tmpfs
 * over the private temp dir for an identity that could not walk to them
 * (see identity_stage_tmpdir); then the tmpfs is made read-only. */
static int stage_mounts(const backend_ctx *ctx, sandbox_spec *spec, rls_error *err)
{
	_cleanup_close_ int mnt_fd = -1, init_fd = -1;
	_cleanup_free_ char *init_at = rls_xasprintf("%s/init", ctx->tmpdir);
	const char *init = ctx->init;
	int fd = -1;

	_cleanup_free_ run_bind *binds = NULL;

	if (identity_private_mounts(err) < 0)
		return -1;
	/* Opened in the new namespace: a bind takes its source from there. */
	mnt_fd = open(ctx->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
	init_fd = open(init, O_PATH | O_CLOEXEC);
	if (mnt_fd < 0 || init_fd < 0)
		return rls_error_set(err, errno, "open %s", mnt_fd < 0 ? ctx->mountpoint : init);
	if (identity_stage_tmpdir(ctx->tmpdir, ctx->mountpoint, mnt_fd, init_at, init_fd, err) < 0)
		return -1;
	/* --bind sources, which the identity may not be able to walk to
	 * either: opened here, in this namespace, as root. */
	binds = rls_xcalloc(ctx->n_binds + 1, sizeof *binds);
	for (size_t i = 0; i < ctx->n_binds; i++) {
		_cleanup_close_ int bfd = open(ctx->binds[i].host, O_PATH | O_CLOEXEC);
		struct stat st;
		char *at = rls_xasprintf("%s/bind%zu", ctx->tmpdir, i);

		binds[i] = ctx->binds[i];
		binds[i].host = at;
		if (bfd < 0 || fstat(bfd, &st) < 0)
			return rls_error_set(err, errno, "--bind %s", ctx->binds[i].host);
		if (S_ISDIR(st.st_mode) ? mkdir(at, 0755) < 0 : (fd = open(at, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
			return rls_error_set(err, errno, "%s", at);
		if (!S_ISDIR(st.st_mode))
			close(fd);
		if (identity_bind_fd(bfd, at, MS_REC) < 0)
			return rls_error_set(err, errno, "bind %s", ctx->binds[i].host);
	}
	identity_drop_foreign_mounts(ctx->tmpdir);
	{
		/* What bwrap binds from: the system folders and /proc (their
		 * mounts beneath included: the sandbox sees them), the temp
		 * dir with what is staged in it; and /dev, for its device
		 * nodes alone (the host's /dev/pts and /dev/shm are not the
		 * sandbox's). */
		static const char *const points[] = { "/dev", NULL };
		size_t n = 0;
		_cleanup_free_ const char **trees = NULL;

		while (sandbox_system_dirs[n])
			n++;
		trees = rls_xcalloc(n + 3, sizeof *trees);
		memcpy(trees, sandbox_system_dirs, n * sizeof *trees);
		trees[n++] = "/proc";
		trees[n++] = ctx->tmpdir;
		identity_keep_only_mounts(trees, points);
	}
	if (mount(NULL, ctx->tmpdir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return rls_error_set(err, errno, "remount %s read-only", ctx->tmpdir);
	spec->mountpoint = ctx->mountpoint;
	spec->init = steal_pointer(&init_at);
	spec->binds = steal_pointer(&binds);
	return 0;
}

/* Keyrings are not namespaced: without a session keyring of its own the
 * command would possess the caller's.  The seccomp filter refuses the
 * key calls as well; this is the second lock. */
static int fresh_session_keyring(rls_error *err)
{
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS)
		return rls_error_set(err, errno, "a fresh session keyring");
	return 0;
}

/* What the child needs to become the sandbox. */
typedef struct spawn_ctx {
	const char *bwrap;
	const backend_ctx *ctx;
	sandbox_spec spec;
	const int *pass_fds;
	size_t n_pass;
	bool take_tty;			/* hand the terminal's foreground to the sandbox */
} spawn_ctx;

/* The child, from fork to exec.  Order matters: the cgroup is joined
 * first (so all of the sandbox is in it), mounts are staged while still
 * root, the identity is dropped before anything the sandbox could touch
 * is made, and bwrap is exec'd with the sandbox's environment only, so
 * that even its pid 1 carries nothing of the caller's. */
static RLS_NORETURN void spawn_child(void *arg, int report_fd)
{
	spawn_ctx *c = arg;
	rls_error e = { 0 };
	char **args;
	int args_fd;
	struct stat bst;
	bool setuid_bwrap = stat(c->bwrap, &bst) == 0 && (bst.st_mode & S_ISUID);

	if (limits_enter(c->ctx->cg, c->ctx->lim, &e) < 0)
		goto fail;
	run_child_reset_signals();
	/* Its own process group always: kill(0, sig) inside reaches only
	 * the sandbox, never rls, its guard or the caller's pipeline. */
	setpgid(0, 0);
	if (c->take_tty)
		run_terminal_to(getpgrp());
	if (chdir("/") < 0) {
		rls_error_set(&e, errno, "chdir /");
		goto fail;
	}
	c->spec.mountpoint = c->ctx->mountpoint;
	c->spec.init = c->ctx->init;
	if (c->ctx->id->change && stage_mounts(c->ctx, &c->spec, &e) < 0)
		goto fail;
	if (identity_enter(c->ctx->id, &e) < 0 || fresh_session_keyring(&e) < 0)
		goto fail;
	args = sandbox_bwrap_args(&c->spec);
	args_fd = sandbox_args_fd(args, &e);
	if (args_fd < 0)
		goto fail;
	/* Whatever the caller left open must not reach the sandbox. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	for (size_t i = 0; i < c->n_pass; i++)
		fcntl(c->pass_fds[i], F_SETFD, 0);
	fcntl(args_fd, F_SETFD, 0);
	/* bwrap sets it too; setting it first means no setuid binary can
	 * be reached even through bwrap's own setup.  A setuid bwrap needs
	 * its privileges, so not for that one. */
	if (!setuid_bwrap && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		rls_error_set(&e, errno, "PR_SET_NO_NEW_PRIVS");
		goto fail;
	}
	execve(c->bwrap, sandbox_bwrap_argv(&c->spec, args_fd), c->ctx->env);
	rls_error_set(&e, errno, "exec %s", c->bwrap);
fail:
	(void)rls_write_all(report_fd, e.msg, strlen(e.msg));
	_exit(125);	/* rls's own failure; the message says why */
}

static char *find_bwrap(void)
{
	char *p = run_search_path("bwrap", getenv("PATH"));

	return p ? p : run_search_path("bwrap", RUN_SANDBOX_PATH);
}

static int bwrap_probe(rls_error *err)
{
	_cleanup_free_ char *bwrap = find_bwrap();

	if (!bwrap)
		return rls_error_set(err, 0, "bwrap is not installed (apt-get install bubblewrap)");
	return 0;
}

static int bwrap_run(const backend_ctx *ctx, backend_result *res, rls_error *err)
{
	_cleanup_free_ char *bwrap = find_bwrap();
	_cleanup_close_ int seccomp_fd = -1, verdict_rd = -1;
	int status_pipe[2] = { -1, -1 }, verdict_pipe[2] = { -1, -1 };
	supervise_result sr = { 0 };
	pid_t pid;
	char c;

	memset(res, 0, sizeof *res);
	if (!bwrap)
		return rls_error_set(err, 0, "bwrap not found (see rls doctor)");
	seccomp_fd = seccomp_bpf_fd(0, err);
	if (seccomp_fd < 0)
		return -1;
	if (pipe2(status_pipe, O_CLOEXEC) < 0)
		return rls_error_set(err, errno, "pipe");
	if (pipe2(verdict_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		close(status_pipe[0]);
		close(status_pipe[1]);
		return rls_error_set(err, errno, "pipe");
	}
	verdict_rd = verdict_pipe[0];
	{
		int pass[] = { seccomp_fd, status_pipe[1], verdict_pipe[1] };
		spawn_ctx sc = {
			.bwrap = bwrap, .ctx = ctx, .pass_fds = pass, .n_pass = RLS_ARRAY_SIZE(pass),
			.take_tty = ctx->tty_fg,
			.spec = {
				.hide = ctx->hide, .mount_at = ctx->mount_at, .chdir = ctx->chdir,
				.home = ctx->home, .share_net = ctx->share_net, .tmp_size = ctx->tmp_size,
				.binds = ctx->binds, .n_binds = ctx->n_binds,
				/* A terminal stays shared so that shells inside have
				 * job control; the seccomp filter stops TIOCSTI
				 * instead. */
				.new_session = !ctx->tty_in, .seccomp_fd = seccomp_fd,
				.status_fd = status_pipe[1], .verdict_fd = verdict_pipe[1], .argv = ctx->argv,
			},
		};

		pid = run_spawn(spawn_child, &sc, true, sc.take_tty, err);
	}
	close(status_pipe[1]);
	close(verdict_pipe[1]);
	if (pid < 0) {
		close(status_pipe[0]);
		return -1;
	}
	/* bwrap builds the sandbox while rlsfs starts; it waits on the
	 * mount, before the command, until rlsfs serves.  Should rlsfs fail,
	 * the sandbox goes before anything in it ran. */
	if (ctx->mount_served(ctx->mount_arg, err) < 0) {
		/* Its group: bwrap's own child, still setting up, is in it
		 * too, and would wait for ever for a parent killed alone. */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		close(status_pipe[0]);
		return -1;
	}
	if (ctx->timeout_s > 0 &&
	    guard_arm(ctx->guard, pid, run_now() + ctx->timeout_s + ctx->grace_s + 1, err) < 0)
		rls_warn("%s", err->msg);
	{
		supervise_opts so = { .bwrap_pid = pid, .status_fd = status_pipe[0],
				      .signal_fd = ctx->signal_fd, .timeout_s = ctx->timeout_s,
				      .grace_s = ctx->grace_s, .tty_fd = ctx->tty_fg ? STDIN_FILENO : -1,
				      .tty_settings = ctx->tty_settings, .cg = ctx->cg };

		/* supervise_wait closes the status pipe at its end of file. */
		if (supervise_wait(&so, &sr, err) < 0) {
			kill(pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
	}
	if (ctx->tty_fg) {
		/* A shell inside made its own process group the terminal's
		 * foreground; take it back as its parent shell would. */
		run_terminal_to(getpgrp());
	}
	res->started = sr.child_pid && read(verdict_rd, &c, 1) == 1 && c == '1';
	res->timed_out = sr.timed_out;
	res->interrupted_by = sr.interrupted_by;
	if (WIFSIGNALED(sr.wait_status)) {
		/* bwrap itself was killed (a Ctrl-C at the terminal reaches it
		 * with the command): the sandbox went down with it. */
		res->term_signal = WTERMSIG(sr.wait_status);
		if (!res->interrupted_by)
			res->interrupted_by = res->term_signal;
	} else {
		res->exit_code = WEXITSTATUS(sr.wait_status);
	}
	return 0;
}

const backend backend_bwrap = {
	.name = "bwrap",
	.summary = "bubblewrap: the host's kernel, its own namespaces, no capabilities, seccomp",
	.probe = bwrap_probe,
	.run = bwrap_run,
	.starts_before_mount_served = true,
};
