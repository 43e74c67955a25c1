/* run.h - the pieces of `rls run`, shared by the launcher files that make it
 * up (internal to launcher/: no other module includes this).
 *
 *   run.c            options, orchestration, commit, exit status
 *   sandbox-bwrap.c  the bubblewrap command line and its seccomp filter
 *   limits.c         --memory / --cpus / --pids: cgroup v2, v1, rlimits
 *   supervise.c      waiting for the sandbox: signals, timeout, tree kill
 *   guard.c          the helper that cleans up if rls itself is killed
 *   report.c         audit summary and the --json object
 */
#ifndef RLS_LAUNCHER_RUN_H
#define RLS_LAUNCHER_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/common.h"

/* ---- limits.c ---- */

typedef struct run_limits {
	bool has_memory, has_cpus, has_pids;
	uint64_t memory;	/* bytes */
	double cpus;		/* CPUs' worth of time per period */
	uint64_t pids;
} run_limits;

/* How one limit is enforced. */
typedef enum limit_how {
	LIMIT_NOT_SET = 0,	/* not asked for */
	LIMIT_CGROUP_V1,
	LIMIT_CGROUP_V2,
	LIMIT_RLIMIT,
	LIMIT_UNENFORCED,	/* asked for, but nothing here can enforce it */
} limit_how;

const char *limit_how_name(limit_how how);	/* NULL for LIMIT_NOT_SET */

#define RUN_CGROUP_MAX 3

typedef struct run_cgroup {
	int version;			/* 0: no cgroup, 1 or 2 */
	char *dirs[RUN_CGROUP_MAX];	/* v1: one per controller; v2: dirs[0] */
	size_t n_dirs;
	limit_how memory, cpus, pids;
	char note[512];			/* why a fallback was taken, for stderr */
} run_cgroup;

/* Make a cgroup named `name` holding the limits, trying v2, then v1, then
 * falling back to rlimits.  Never fails for lack of cgroups: *cg says what
 * was done.  Fails only when a limit cannot be written at all. */
int limits_setup(const run_limits *lim, const char *name, run_cgroup *cg, rls_error *err);
/* In the child between fork and exec: join the cgroup or set rlimits.
 * Writes nothing but errno-style failures into *err. */
int limits_enter(const run_cgroup *cg, const run_limits *lim, rls_error *err);
/* Signal every process in the cgroup; returns how many were signalled. */
int limits_signal_all(const run_cgroup *cg, int sig);
/* Remove the cgroup directories, waiting up to `wait_ms` for them to
 * empty.  0 or -1. */
int limits_remove(run_cgroup *cg, int wait_ms, rls_error *err);
void limits_free(run_cgroup *cg);

/* ---- sandbox-bwrap.c ---- */

typedef struct sandbox_spec {
	const char *bwrap;		/* path of bwrap */
	const char *mountpoint;		/* host path of the rlsfs mount */
	const char *mount_at;		/* where it appears inside */
	const char *chdir;		/* starting directory inside */
	const char *home;		/* HOME inside */
	bool share_net;
	bool new_session;		/* detach from the controlling terminal */
	char **env;			/* NAME=VALUE, NULL-terminated: the whole environment */
	int seccomp_fd;			/* -1 for none */
	int status_fd;			/* bwrap --json-status-fd */
	char **argv;			/* the command */
	/* Host paths the command must not reach (the source, the delta, the
	 * audit file, the rlsfs mountpoint), NULL-terminated: hidden when a
	 * bound system directory holds them. */
	const char *const *hide;
} sandbox_spec;

/* The bwrap command line (NULL-terminated; free with sandbox_argv_free). */
char **sandbox_bwrap_argv(const sandbox_spec *spec);
void sandbox_argv_free(char **argv);
/* A readable fd holding the seccomp program that denies TIOCSTI and
 * TIOCLINUX (terminal input injection), for bwrap --seccomp. */
int sandbox_seccomp_fd(rls_error *err);
/* The directories bound read-only from the host, in order. */
extern const char *const sandbox_system_dirs[];

/* ---- supervise.c ---- */

typedef struct supervise_opts {
	pid_t bwrap_pid;
	int status_fd;		/* bwrap's --json-status-fd, read end */
	int signal_fd;		/* signalfd for SIGCHLD, SIGINT, SIGTERM, SIGHUP */
	double timeout_s;	/* 0: none */
	double grace_s;		/* between SIGTERM and SIGKILL after a timeout */
	bool forward_tty_signals;	/* the sandbox is not in our process group */
	const run_cgroup *cg;
} supervise_opts;

typedef struct supervise_result {
	int wait_status;	/* bwrap's, from waitpid */
	pid_t child_pid;	/* the sandbox's pid 1 on the host, 0 if it never started */
	int exit_code;		/* the command's, from bwrap's status; -1 if unknown */
	bool timed_out;
	int interrupted_by;	/* a signal sent to rls and forwarded, or 0 */
} supervise_result;

/* The signals rls handles itself while a command runs. */
void supervise_sigset(sigset_t *set);
int supervise_wait(const supervise_opts *opts, supervise_result *res, rls_error *err);
/* Send `sig` to every process of the pid namespace whose init is `init_pid`
 * (not to that init).  Returns how many were signalled. */
int supervise_signal_pidns(pid_t init_pid, int sig);

/* ---- guard.c ---- */

typedef struct run_guard {
	pid_t pid;
	int fd;			/* write end; EOF without "done" means clean up */
} run_guard;

typedef struct guard_spec {
	const char *tmpdir;	/* private temp dir (holds mnt/ and files) */
	const char *mountpoint;
	const char *rlsfs;	/* for `rlsfs umount` */
	const char *delta;	/* printed when kept */
	const char *audit;	/* removed unless kept by --audit */
	bool keep_audit;
	const run_cgroup *cg;
} guard_spec;

int guard_start(const guard_spec *spec, run_guard *g, rls_error *err);
/* Everything is clean: let the guard exit without doing anything. */
void guard_release(run_guard *g);

/* ---- report.c ---- */

#define REPORT_MAX_PATHS 5

typedef struct denial_summary {
	unsigned count;
	char *paths[REPORT_MAX_PATHS];	/* first distinct paths */
	size_t n_paths;
	unsigned long long dropped;	/* denials rlsfs counted but did not log */
} denial_summary;

void report_read_denials(const char *audit_path, denial_summary *out);
void report_denials_free(denial_summary *d);
void report_print_denials(const denial_summary *d, FILE *out);

typedef struct run_report {
	int exit_status;
	bool timed_out;
	int interrupted_by;
	double duration_s;
	const char *commit;	/* "done", "kept", "conflict", "error", "none" */
	unsigned added, modified, deleted;
	const char *conflict_paths;	/* newline-separated, or NULL */
	const denial_summary *denials;
	const run_cgroup *cg;
	const char *delta_kept;	/* path, or NULL */
	const char *error;	/* rls's own error after the command ran, or NULL */
} run_report;

void report_json(const run_report *r, FILE *out);

/* ---- run.c helpers used elsewhere ---- */

/* Reset signal mask and handlers in a freshly forked child. */
void run_child_reset_signals(void);
/* Run argv (absolute path in argv[0]) with stdin and stdout on /dev/null,
 * wait for it; returns its wait status or -1. */
int run_program(char *const argv[]);

#endif
