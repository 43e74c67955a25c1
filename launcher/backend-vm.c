/* backend-vm.c - the microVM backend: the command in a guest of its own
 * (vm/), its kernel not the host's.
 *
 * vm_run boots the guest, exports the rlsfs mount into it (virtiofs or
 * 9p), runs the command as the sandbox's identity, streams its output and
 * enforces the timeout; everything it starts dies with the process that
 * called it (qemu and virtiofsd by PR_SET_PDEATHSIG, its private folder
 * by its janitor).  So vm_run runs in a child of rls, the runner, and
 * the guard is armed with that child: at the deadline the guard kills the
 * runner, and the VM goes with it, even while rls is stopped.  A killed
 * rls takes the runner along (its own PR_SET_PDEATHSIG).
 *
 * The runner tells rls on a pipe when the command starts ('S': the
 * timeout runs from then on, so the guard's deadline is moved to it) and
 * how it ended ('R' and a vm_outcome).  rls forwards SIGINT, SIGTERM and
 * SIGHUP to it; vm_run sends them on to the command in the guest.
 *
 * Threat: the command never runs on the host, so the host's uid 0 is out
 * of its reach by construction; in the guest it runs as the sandbox's
 * identity (never 0) without capabilities.  What it can reach of the host
 * is the rlsfs mount (through virtiofsd or qemu's 9p server) and the
 * read-only system view vm/ builds; qemu itself runs as the sandbox's
 * identity under virtiofs.
 */
#include "launcher.h"
#include "run.h"
#include "../vm/vm.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* How long a guest may take to say hello before its command starts (vm_run's
 * longest default boot timeout): the guard's first deadline allows for it. */
#define VM_BOOT_ALLOWANCE_S 120.0

/* $RLS_VM_BOOT_TIMEOUT: the seconds a guest may take to answer, or 0
 * for vm_run's default. */
static double boot_timeout(void)
{
	const char *v = getenv("RLS_VM_BOOT_TIMEOUT");
	double s;

	if (!v || rls_parse_seconds(v, &s) < 0) {
		if (v)
			rls_warn("RLS_VM_BOOT_TIMEOUT wants seconds (like 30), not '%s': ignored", v);
		return 0;
	}
	return s;
}

/* What the runner reports at its end. */
typedef struct vm_outcome {
	int rc;			/* vm_run's */
	vm_result res;
	char msg[sizeof ((rls_error *)0)->msg];
} vm_outcome;

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* The runner: a child of rls in a process group of its own, which holds
 * the terminal's foreground when rls did (a Ctrl-C reaches it once,
 * from the terminal; what is sent to rls itself, rls forwards).  It
 * ignores the job-control stops, which would leave the VM running with
 * no one to carry its output, and Ctrl-\, which it cannot forward. */
static RLS_NORETURN void runner_main(const backend_ctx *ctx, pid_t parent, double boot_s, int report_fd)
{
	static const int ignored[] = { SIGTSTP, SIGTTIN, SIGTTOU, SIGQUIT, SIGPIPE };
	vm_outcome o = { 0 };
	rls_error err = { 0 };
	sigset_t set;
	int sigfd;
	vm_request req = {
		.share_dir = ctx->mountpoint, .mount_at = ctx->mount_at,
		.chdir = ctx->chdir, .argv = ctx->argv, .env = ctx->env,
		.uid = ctx->id->uid, .gid = ctx->id->gid,
		.memory = ctx->lim->has_memory ? ctx->lim->memory : 0,
		.cpus = ctx->lim->has_cpus ? ctx->lim->cpus : 0,
		.pids = ctx->lim->has_pids ? ctx->lim->pids : 0,
		.share_net = ctx->share_net, .share = ctx->vm_share, .hide = ctx->hide,
		.tmp_size = ctx->tmp_size,
		.stdin_fd = fd_open(STDIN_FILENO) ? STDIN_FILENO : -1,
		.stdout_fd = STDOUT_FILENO, .stderr_fd = STDERR_FILENO,
		.timeout_s = ctx->timeout_s, .grace_s = ctx->grace_s,
		.started_fd = 3, .boot_timeout_s = boot_s,
	};

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(125);
	for (size_t i = 0; i < RLS_ARRAY_SIZE(ignored); i++)
		signal(ignored[i], SIG_IGN);
	/* Nothing of rls's stays open but the standard streams and the
	 * report pipe: not its signalfd, not the guard's socket. */
	if (dup2(report_fd, 3) < 0)
		_exit(125);
	syscall(SYS_close_range, 4, ~0U, 0);
	/* rls's signals arrive blocked (inherited); INT, TERM and HUP alone
	 * are read from this one, as vm_run wants. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	req.signal_fd = sigfd;
	o.rc = vm_run(&req, &o.res, &err);
	snprintf(o.msg, sizeof o.msg, "%s", err.msg);
	(void)rls_write_all(3, "R", 1);
	(void)rls_write_all(3, &o, sizeof o);
	_exit(0);
}

/* Read what the runner says until it ends: 'S' moves the guard's
 * deadline to the command's start; 'R' and the outcome close it.
 * Signals for the command are passed on meanwhile.  The runner is
 * reaped here; *got says whether its outcome arrived.  `deadline` is the
 * one the guard holds until the command starts. */
static int supervise_runner(const backend_ctx *ctx, pid_t pid, int rd, double deadline, vm_outcome *o,
			    bool *got, rls_error *err)
{
	unsigned char buf[1 + sizeof *o];
	size_t have = 0;
	int ws;

	*got = false;
	for (;;) {
		struct pollfd p[2] = { { .fd = rd, .events = POLLIN }, { .fd = ctx->signal_fd, .events = POLLIN } };
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return rls_error_set(err, errno, "poll");
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(ctx->signal_fd, &si, sizeof si) == (ssize_t)sizeof si)
				if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM || si.ssi_signo == SIGHUP)
					kill(pid, (int)si.ssi_signo);
		}
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (have == 0) {
			n = RLS_TEMP_FAILURE_RETRY(read(rd, buf, 1));
			if (n == 1 && buf[0] == 'S') {
				deadline = run_now() + ctx->timeout_s + ctx->grace_s + 1;
				if (ctx->timeout_s > 0 && guard_arm(ctx->guard, pid, deadline, err) < 0)
					rls_warn("%s", err->msg);
				continue;
			}
			if (n == 1 && buf[0] == 'R') {
				have = 1;
				continue;
			}
			break;	/* end of file, or a byte the runner never sends */
		}
		n = RLS_TEMP_FAILURE_RETRY(read(rd, buf + have, sizeof buf - have));
		if (n <= 0)
			break;
		have += (size_t)n;
		if (have == sizeof buf) {
			memcpy(o, buf + 1, sizeof *o);
			*got = true;
			break;
		}
	}
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (!*got && WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL && ctx->timeout_s > 0 &&
	    run_now() >= deadline - 0.5) {
		/* The guard's deadline passed: the timeout held without us. */
		o->res.started = true;
		o->res.timed_out = true;
		o->res.term_signal = SIGKILL;
		*got = true;
		return 0;
	}
	if (!*got)
		return rls_error_set(err, 0, "the vm backend's runner ended without a word (%s %d)",
				     WIFSIGNALED(ws) ? "signal" : "status",
				     WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
	return 0;
}

static int vm_backend_probe(rls_error *err)
{
	vm_probe_info info;

	return vm_probe(&info, err);
}

static int vm_backend_run(const backend_ctx *ctx, backend_result *res, rls_error *err)
{
	_cleanup_close_ int rd = -1;
	int p[2];
	vm_outcome o = { 0 };
	double boot_s = boot_timeout(), deadline;
	pid_t self = getpid(), pid;
	bool got;

	memset(res, 0, sizeof *res);
	if (pipe2(p, O_CLOEXEC) < 0)
		return rls_error_set(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return rls_error_set(err, errno, "fork");
	}
	if (pid == 0) {
		close(p[0]);
		setpgid(0, 0);
		if (ctx->tty_fg)
			run_terminal_to(getpgrp());
		runner_main(ctx, self, boot_s, p[1]);
	}
	close(p[1]);
	rd = p[0];
	/* Either side may win the race; both set it. */
	setpgid(pid, pid);
	if (ctx->tty_fg)
		run_terminal_to(pid);
	/* Until the command starts, its deadline lies past the boot. */
	deadline = run_now() + (boot_s > VM_BOOT_ALLOWANCE_S ? boot_s : VM_BOOT_ALLOWANCE_S) + ctx->timeout_s +
		   ctx->grace_s + 1;
	if (ctx->timeout_s > 0 && guard_arm(ctx->guard, pid, deadline, err) < 0)
		rls_warn("%s", err->msg);
	if (supervise_runner(ctx, pid, rd, deadline, &o, &got, err) < 0)
		return -1;
	if (ctx->tty_fg)
		run_terminal_to(getpgrp());
	if (o.rc < 0 && !o.res.started)
		return rls_error_set(err, 0, "vm: %s", o.msg);
	res->started = o.res.started;
	res->timed_out = o.res.timed_out;
	res->interrupted_by = o.res.interrupted_by;
	res->term_signal = o.res.term_signal;
	res->exit_code = o.res.term_signal ? 0 : o.res.exit_code;
	if (o.rc < 0) {
		/* The guest failed under a running command: what it did stays
		 * in the delta, uncommitted, as after a signal. */
		fprintf(stderr, "rls: run: vm: %s\n", o.msg);
		res->term_signal = SIGKILL;
		if (!res->interrupted_by)
			res->interrupted_by = SIGKILL;
	}
	return 0;
}

const backend backend_vm = {
	.name = "vm",
	.summary = "a microVM (qemu): a kernel of its own; the tree through virtiofs or 9p",
	.probe = vm_backend_probe,
	.own_limits = true,
	.run = vm_backend_run,
};
