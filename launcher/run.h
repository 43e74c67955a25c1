/* run.h - the pieces of `rls run`, shared by the launcher files that make it
 * up (internal to launcher/: no other module includes this).
 *
 *   run.c            options, orchestration, commit, exit status
 *   proc.c           child processes: signals, start-up word, PATH, captured output
 *   backend.c        the backends, looked up by name
 *   backend-bwrap.c  the bubblewrap backend: spawning and supervising it
 *   identity.c       who the command runs as, and becoming that identity
 *   sandbox-bwrap.c  the bubblewrap command line
 *   seccomp.c        the system calls every sandbox refuses: BPF and OCI forms
 *   backend-oci.c    the OCI backend: a runtime (runc, crun, runsc) over a bundle
 *   backend-vm.c     the microVM backend: vm_run (vm/) in a child the guard holds
 *   oci-bundle.c     the bundle's config.json and root file system
 *   oci-image.c      OCI image layouts, unpacked once into a digest-keyed cache
 *   oci-runtime.c    the OCI runtimes: finding, probing, their command lines
 *   sha256.c         SHA-256, for image blobs
 *   limits.c         --memory / --cpus / --pids: cgroup v2, v1, rlimits
 *   supervise.c      waiting for the sandbox: signals, timeout, tree kill
 *   guard.c          the helper that cleans up if rls itself is killed
 *   report.c         audit summary and the --json object
 */
#ifndef RLS_LAUNCHER_RUN_H
#define RLS_LAUNCHER_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <termios.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/common.h"
#include "../delta/delta.h"

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
	LIMIT_VM,		/* the size of the backend's VM */
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
/* Whether the kernel killed a process of the cgroup for its memory limit. */
bool limits_oom_killed(const run_cgroup *cg);
/* Signal every process in the cgroup; returns how many were signalled. */
int limits_signal_all(const run_cgroup *cg, int sig);
/* Remove the cgroup directories, waiting up to `wait_ms` for them to
 * empty.  0 or -1. */
int limits_remove(run_cgroup *cg, int wait_ms, rls_error *err);
void limits_free(run_cgroup *cg);

/* ---- identity.c ---- */

/* Who the command runs as on the host.  Never uid 0 or gid 0. */
typedef struct run_identity {
	uid_t uid;
	gid_t gid;
	bool change;		/* rls is root: become uid:gid before the sandbox starts */
	/* rlsfs shows the tree's owner as uid:gid, and records what the
	 * sandbox makes as the owner's (rlsfs --map-owner). */
	bool map_owner;
	uid_t owner_uid;
	gid_t owner_gid;
} run_identity;

/* `spec` is --user (USER[:GROUP], names or numbers) or NULL for the
 * default: the caller itself, or for a root caller the owner of `source`
 * when that is not root, else nobody (65534:65534). */
int identity_resolve(const char *spec, const char *source, run_identity *id, rls_error *err);
/* In the child, before exec: drop every group and become id->uid:gid.
 * Checks afterwards that no id of the process is 0. */
int identity_enter(const run_identity *id, rls_error *err);
/* rlsfs's --map-owner argument, or NULL when none is needed. */
char *identity_map_owner_arg(const run_identity *id);

/* A root caller's sandbox starts as an unprivileged identity, which
 * cannot walk the private temp dir (0700, root's).  So, still root, the
 * child takes a mount namespace of its own (identity_private_mounts),
 * opens what the sandbox needs there, and lays a small tmpfs over the
 * temp dir holding the rlsfs mount at `mountpoint` and rls-init at
 * `init_at`, bound from those descriptors (identity_stage_tmpdir).  No
 * host process sees that tmpfs. */
int identity_private_mounts(rls_error *err);
/* In that namespace, detach every rlsfs mount but the run's own (under
 * tmpdir): each is another run's, whose unmount would otherwise not end
 * its rlsfs while this sandbox lives (the namespace's private copy keeps
 * it), and whose delta would stay busy. */
void identity_drop_foreign_mounts(const char *tmpdir);
/* In that namespace, detach every mount but those at, beneath or above a
 * path of `trees`, and those at or above a path of `points` (both
 * NULL-terminated): the host's mounts the sandbox never reaches.
 * bubblewrap reads the whole mount table again after each of its binds,
 * so each of those it need not read some thirty times. */
void identity_keep_only_mounts(const char *const *trees, const char *const *points);
int identity_stage_tmpdir(const char *tmpdir, const char *mountpoint, int mnt_fd, const char *init_at,
			  int init_fd, rls_error *err);
/* Bind what descriptor fd names at `at` (MS_BIND | flags); 0 or -1. */
int identity_bind_fd(int fd, const char *at, unsigned long flags);

/* ---- --bind ---- */

/* A host path shown inside as it is, not through the policy. */
typedef struct run_bind {
	char *host;		/* real absolute path on the host */
	char *inside;		/* absolute path inside */
	bool rw;		/* --bind-rw */
} run_bind;

/* ---- sandbox-bwrap.c ---- */

typedef struct sandbox_spec {
	const char *mountpoint;		/* the rlsfs mount, as bwrap can reach it */
	const char *init;		/* rls-init, as bwrap can reach it */
	const char *mount_at;		/* where the mount appears inside */
	const char *chdir;		/* starting directory inside */
	const char *home;		/* HOME inside */
	bool share_net;
	bool new_session;		/* detach from the controlling terminal */
	uint64_t tmp_size;		/* bytes of each of /tmp, HOME, /dev/shm; 0: default */
	int seccomp_fd;			/* -1 for none */
	int status_fd;			/* bwrap --json-status-fd */
	int verdict_fd;			/* rls-init's verdict, write end */
	const run_bind *binds;		/* --bind: host paths as bwrap can reach them */
	size_t n_binds;
	char **argv;			/* the command */
	/* Host paths the command must not reach (the source, the delta, the
	 * audit file, the rlsfs mountpoint), NULL-terminated: hidden when a
	 * bound system directory holds them. */
	const char *const *hide;
} sandbox_spec;

/* bwrap's options (NULL-terminated; free with sandbox_argv_free).  Call
 * it as the sandbox's identity: it looks at the paths to hide as the
 * sandbox would. */
char **sandbox_bwrap_args(const sandbox_spec *spec);
/* A memfd holding `args` NUL-separated, at offset 0, for bwrap --args:
 * the options (host paths among them) stay out of the sandbox's
 * /proc/1/cmdline. */
int sandbox_args_fd(char *const *args, rls_error *err);
/* bwrap's whole command line: the options from `args_fd`, then rls-init
 * and the command. */
char **sandbox_bwrap_argv(const sandbox_spec *spec, int args_fd);
void sandbox_argv_free(char **argv);
/* The directories bound read-only from the host, in order. */
extern const char *const sandbox_system_dirs[];
/* Files masked with /dev/null; /proc paths made read-only, and masked
 * (as runc's defaults).  NULL-terminated. */
extern const char *const sandbox_masked_files[];
extern const char *const sandbox_proc_read_only[];
extern const char *const sandbox_proc_masked[];

/* Where rls-init appears inside every sandbox. */
#define SANDBOX_INIT "/run/rls/init"

/* ---- seccomp.c ---- */

/* Also refuse new user namespaces (unshare, clone; clone3 whole), for
 * sandboxes where bwrap --disable-userns does not hold. */
#define SECCOMP_NO_USERNS 1u

/* A readable fd holding the BPF program (see seccomp.c for what it
 * refuses), for bwrap --seccomp and rls-init --seccomp. */
int seccomp_bpf_fd(unsigned flags, rls_error *err);
/* The same rules as an OCI seccomp profile (a new jansson reference). */
struct json_t *seccomp_oci_profile(void);

/* ---- supervise.c ---- */

typedef struct supervise_opts {
	pid_t bwrap_pid;
	int status_fd;		/* bwrap's --json-status-fd, read end */
	int signal_fd;		/* signalfd for SIGCHLD, SIGINT, SIGTERM, SIGHUP */
	double timeout_s;	/* 0: none */
	double grace_s;		/* between SIGTERM and SIGKILL after a timeout */
	/* The terminal whose foreground the sandbox was given, or -1; its
	 * settings to restore when the sandbox stops (Ctrl-Z). */
	int tty_fd;
	const struct termios *tty_settings;
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
/* Hand the guard the sandbox (`pid`, a child of ours not yet waited for)
 * and a deadline on CLOCK_MONOTONIC: past it the guard kills the sandbox
 * itself, so that a timeout holds even while rls is stopped. */
int guard_arm(run_guard *g, pid_t pid, double deadline, rls_error *err);
/* Commands for the guard to run should rls die: `kill` also at the
 * deadline (after killing the armed pid), `cleanup` after it, then the
 * tree `remove` is removed (never across a mount) and the cgroups named
 * `cgroup` beside ours (oci_cgroup_sweep).  Each argv is NULL-terminated,
 * argv[0] an absolute path; any may be NULL. */
int guard_add_cleanup(run_guard *g, char *const *kill, char *const *cleanup, const char *remove,
		      const char *cgroup, rls_error *err);
/* Everything is clean: let the guard exit without doing anything
 * (guard_reap waits for its end, so that other waits overlap it). */
void guard_release(run_guard *g);
/* Wait for the end of a guard guard_release let go (nothing when it did
 * not). */
void guard_reap(run_guard *g);

/* What rlsfs said of the delta as it ended. */
typedef enum run_mount_end {
	RUN_MOUNT_END_UNKNOWN = 0,	/* nothing: look at the delta */
	RUN_MOUNT_END_EMPTY,		/* it records nothing: nothing to commit */
	RUN_MOUNT_END_KEPT,		/* it records something */
} run_mount_end;

/* The rlsfs serving a run's mount: rls's own child (mount.c). */
typedef struct run_mount {
	pid_t pid;		/* 0: none */
	int pidfd;		/* -1: none */
	int ready_fd;		/* its word still to read, or -1 */
	int end_fd;		/* its last word still to read, or -1 */
	run_mount_end end;	/* its last word, once run_mount_stop saw it end */
	bool ending;		/* it let go of the delta: run_mount_reap waits for the rest */
	int fuse_fd;		/* rls's /dev/fuse of a mount it made, until rlsfs serves; -1 */
	bool ours;		/* rls made the mount (as root) */
	int wstatus;		/* its wait status when it failed before serving; -1 */
} run_mount;

/* Mount `rlsfs mount OPTS... SOURCE MNT` with the kernel's FUSE options
 * fuse_opts (as `-o`; "" for none).  policy_fd, unless -1, is the
 * snapshot of the policy rls checked (policy_snapshot_fd), which rlsfs
 * enforces instead of reading the policy's files again.
 * As root rls mounts itself and rlsfs may still be starting when this
 * returns: run_mount_ready says when it serves.  Otherwise rlsfs mounts,
 * and this waits for it.  0, or -1, nothing mounted, and why in *err
 * (empty when rlsfs said it on standard error; its wait status in
 * m->wstatus). */
int run_mount_start(const char *rlsfs, char *const opts[], int policy_fd, const char *fuse_opts,
		    const char *source, const char *mnt, run_mount *m, rls_error *err);
/* Wait until the mount is served.  0; or -1 and why, as run_mount_start
 * says it: then whatever looks at the mount waits until run_mount_stop
 * lets it go (kill what waits first). */
int run_mount_ready(run_mount *m, rls_error *err);
/* Unmount mnt and wait for its rlsfs to let go of the delta: then the
 * delta is synced and free, and m->end says what rlsfs said of it.  The
 * wait has no bound but the caller's signals: SIGINT, SIGTERM or SIGHUP
 * read from signal_fd (-1: none) end it.  A mount never served is let
 * go.  0; 1 when the wait was given up, rlsfs still holding the delta;
 * -1 when the unmount failed, and why in *err. */
int run_mount_stop(run_mount *m, const char *mnt, int signal_fd, rls_error *err);
/* Wait for the end of the rlsfs run_mount_stop saw let go of the delta
 * (nothing when it did not). */
void run_mount_reap(run_mount *m);

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
/* The first n names of paths (or up to its NULL) quoted for a ", " list,
 * in b (emptied first); returns b's text. */
const char *report_name_list(char *const *paths, size_t n, rls_buf *b);
/* rls commit's statuses besides 0, 1 (an error, or nothing committed
 * under --on-conflict fail) and 2 (usage). */
enum {
	COMMIT_EXIT_CONFLICT = 3,	/* committed over conflicts: see which version won */
	COMMIT_EXIT_HELD = 4,		/* committed, but symlinks were held back */
};

/* What a commit left to look at, one line each, names quoted: its
 * conflicts (and which version won under `mode`), set-id bits dropped,
 * symlinks held back (and how to accept them for `delta_dir`, if given). */
void report_commit_notes(const delta_commit_stats *s, delta_conflict_mode mode, const char *delta_dir,
			 const char *prefix, FILE *out);

/* ---- capture.c ---- */

/* --capture: the command's standard output and error, each kept up to
 * CAPTURE_MAX bytes by a small process of its own while the command runs
 * (what is beyond is counted, not kept). */
#define CAPTURE_MAX (16u << 20)

typedef struct run_capture {
	bool on;
	pid_t pid;		/* the process that reads the pipes */
	int saved[2];		/* rls's own stdout and stderr while the command runs */
	int fds[2];		/* where it keeps them: nameless files of the temp dir */
	int report_fd;		/* the reader's counts arrive here at its end */
	uint64_t dropped[2];	/* bytes beyond CAPTURE_MAX */
} run_capture;

/* Start the reader, keeping into nameless files of `dir` (nothing to
 * leave behind), and point rls's stdout and stderr at it so that the
 * sandbox inherits them. */
int capture_start(run_capture *c, const char *dir, rls_error *err);
/* Give rls its stdout and stderr back and wait for the reader (the
 * command and all it started are gone by then). */
void capture_finish(run_capture *c);
/* What was kept of stream i (0 stdout, 1 stderr), NUL-terminated, and its
 * length; NULL when nothing could be read. */
char *capture_read(const run_capture *c, int i, size_t *len);
void capture_free(run_capture *c);

typedef struct run_report {
	int exit_status;
	bool timed_out;
	int interrupted_by;
	double duration_s;
	const char *commit;	/* "done", "kept", "conflict", "error", "none" */
	unsigned added, modified, deleted;
	char *const *conflict_paths;	/* NULL-terminated, or NULL */
	const denial_summary *denials;
	const run_cgroup *cg;
	const char *delta_kept;	/* path, or NULL */
	const char *error;	/* rls's own error, or NULL */
	const char *policy;	/* which policy was applied, in words, or NULL */
	const char *killed_by;	/* "timeout", "memory", "signal" or NULL */
	const run_capture *capture;	/* --capture, or NULL */
} run_report;

/* Write the --json object to fd, one line, at once. */
void report_json(const run_report *r, int fd);

/* ---- backends (backend.c, backend-*.c) ---- */

/* Everything a backend is given.  When it is called the rlsfs mount is
 * up, the cgroup made and the guard running. */
typedef struct backend_ctx {
	const char *mountpoint;		/* host path of the rlsfs mount */
	const char *tmpdir;		/* the run's private temp dir (0700, the caller's) */
	const char *init;		/* rls-init on the host */
	const run_identity *id;
	const run_cgroup *cg;
	const run_limits *lim;
	const char *mount_at;		/* where the mount appears inside */
	const char *chdir;		/* starting directory inside */
	const char *home;		/* HOME inside */
	char **argv;			/* the command */
	char **env;			/* its whole environment, NAME=VALUE */
	bool share_net;
	uint64_t tmp_size;		/* each of /tmp, HOME, /dev/shm */
	const char *const *hide;	/* host paths the command must not reach */
	const run_bind *binds;		/* --bind and --bind-rw, in order */
	size_t n_binds;
	bool tty_in;			/* standard input is a terminal: share it */
	bool tty_fg;			/* and rls holds its foreground: hand it over */
	const struct termios *tty_settings;	/* to restore, or NULL */
	int signal_fd;			/* rls's signals, to forward to the command */
	double timeout_s;		/* 0: none */
	double grace_s;			/* between SIGTERM and SIGKILL after a timeout */
	run_guard *guard;		/* to arm with the sandbox and its deadline */
	const char *source;		/* the tree (real path): no state is kept in it */
	/* The oci backend's --runtime, --rootfs and --image, or NULL. */
	const char *runtime;
	const char *rootfs;
	const char *image;
	/* The vm backend's --vm-share (virtiofs or 9p), or NULL. */
	const char *vm_share;
	/* Wait until rlsfs serves the mount: 0, or -1 (nothing mounted,
	 * the command must not start) and why in *err.  Called before run
	 * unless the backend starts_before_mount_served. */
	int (*mount_served)(void *arg, rls_error *err);
	void *mount_arg;
} backend_ctx;

typedef struct backend_result {
	bool started;		/* the command ran: the sandbox passed its own check */
	int exit_code;		/* the command's, when it exited */
	int term_signal;	/* the signal that ended the sandbox, or 0 */
	bool timed_out;
	int interrupted_by;	/* a signal rls received and forwarded, or 0 */
	/* The kernel killed a process for the memory limit, seen where rls's
	 * cgroup cannot show it afterwards (an OCI runtime's own cgroup). */
	bool oom_killed;
} backend_result;

typedef struct backend {
	const char *name;
	const char *summary;	/* what it shares with the host, in a line */
	/* 0 when it can run here; -1 and why in *err. */
	int (*probe)(rls_error *err);
	/* It enforces --memory, --cpus and --pids itself (the size of a
	 * VM): rls makes no cgroup. */
	bool own_limits;
	/* It builds the sandbox while rlsfs starts, and calls
	 * ctx->mount_served before the command can start. */
	bool starts_before_mount_served;
	/* Start the command, supervise it (signals, timeout, stops) and wait
	 * for its end; everything the backend started is gone when it
	 * returns.  -1 only when the sandbox could not be started at all. */
	int (*run)(const backend_ctx *ctx, backend_result *res, rls_error *err);
} backend;

/* NULL-terminated, the default first. */
extern const backend *const run_backends[];
/* The backend called `name`, or NULL. */
const backend *backend_by_name(const char *name);

extern const backend backend_bwrap;
extern const backend backend_oci;
extern const backend backend_vm;

/* ---- oci-runtime.c ---- */

typedef enum oci_kind {
	OCI_RUNC,
	OCI_CRUN,
	OCI_RUNSC,
} oci_kind;

typedef struct oci_runtime {
	char *path;		/* absolute */
	const char *name;	/* runc, crun or runsc: how it is driven */
	oci_kind kind;
	bool gvisor;		/* the command meets gVisor's kernel, not the host's */
	bool rootless;		/* rls is not root */
	bool share_net;		/* --net host (runsc takes it as a flag) */
} oci_runtime;

/* runc, crun, runsc: the default order. */
extern const char *const oci_runtime_names[];
/* `spec` is --runtime (a name or a path) or NULL for the first that works
 * here.  A probe's answer is kept in the state dir (never inside
 * `source`). */
int oci_runtime_find(const char *spec, const char *source, oci_runtime *rt, rls_error *err);
/* Run a minimal bundle now: 0 when it works, else why in *err. */
int oci_runtime_probe(const oci_runtime *rt, rls_error *err);
void oci_runtime_free(oci_runtime *rt);
/* RUNTIME --root ROOT [its flags] VERB ARGS...; free with oci_argv_free. */
char **oci_runtime_argv(const oci_runtime *rt, const char *root, const char *verb, const char *const *args);
void oci_argv_free(char **argv);
/* Run a runtime's argv (run_captured, its output dropped): its wait
 * status, or -1. */
int oci_run_quietly(char *const argv[], int timeout_ms);
/* Remove the cgroup `name` (a relative path) beside ours in every
 * hierarchy, should the runtime have left it (it makes one in each, and
 * a runtime killed half-way forgets them), but those `keep` holds (may
 * be NULL).  Empty ones only; waits up to wait_ms for each. */
void oci_cgroup_sweep(const char *name, const run_cgroup *keep, int wait_ms);

/* ---- oci-bundle.c ---- */

/* Where rls-init finds its verdict file and seccomp program, when the
 * runtime needs them (runsc). */
#define OCI_VERDICT_INSIDE "/run/rls/verdict"
#define OCI_SECCOMP_INSIDE "/run/rls/seccomp"
/* The command's arguments, NUL-separated (rls-init --argv-file). */
#define OCI_ARGV_INSIDE "/run/rls/argv"

typedef struct oci_bundle_spec {
	const backend_ctx *ctx;
	const oci_runtime *rt;
	const char *dir;		/* the bundle: config.json and rootfs/ are made here */
	const char *tree;		/* an image's or --rootfs root, or NULL for the host's */
	const char *tree_source;	/* the same folder, as the runtime reaches it */
	const char *verdict_file;	/* host path, or NULL: the verdict comes on fd 3 */
	const char *seccomp_file;	/* host path of a BPF program for rls-init, or NULL */
	const char *cgroup;		/* cgroupsPath, relative to the runtime's cgroup */
	/* --bind sources as the runtime reaches them (ctx->n_binds of them),
	 * or NULL: the host paths. */
	char *const *bind_sources;
	/* The root's mount points are made later, by oci_bundle_skeleton on
	 * a tmpfs over DIR/rootfs in the runtime's own mount namespace: the
	 * root's mount shows no host path inside. */
	bool skeleton_later;
} oci_bundle_spec;

int oci_bundle_write(const oci_bundle_spec *spec, rls_error *err);
int oci_bundle_skeleton(const oci_bundle_spec *spec, rls_error *err);
/* A minimal config.json for probing a runtime, with the user namespace
 * of a real run; the command is `uid`. */
struct json_t *oci_probe_config(const oci_runtime *rt, unsigned uid);

/* ---- oci-image.c ---- */

/* LAYOUT[:TAG] (an OCI image layout on disk; TAG defaults to the one
 * image in its index, or "latest") unpacked into the cache, once per
 * manifest digest (in the state dir, never inside `source`): *root is its
 * root file system, read-only from then on.  Every blob's sha256 is checked as it is read. */
int oci_image_root(const char *ref, const char *source, char **root, rls_error *err);

/* ---- sha256.c ---- */

typedef struct sha256_ctx {
	uint32_t h[8];
	uint64_t len;
	unsigned char buf[64];
	size_t n;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
/* 64 lowercase hex digits and a NUL. */
void sha256_final_hex(sha256_ctx *c, char out[65]);

/* ---- proc.c ---- */

/* Exit statuses of rls itself (the command's own otherwise). */
enum {
	RUN_EXIT_USAGE = 2,
	RUN_EXIT_UNCLEAN = 123,	/* the command succeeded; its commit met conflicts or held symlinks back */
	RUN_EXIT_TIMEOUT = 124,
	RUN_EXIT_FAILED = 125,	/* rls could not run the command, or could not commit */
	RUN_EXIT_NOT_FOUND = 127,
};

#define RUN_SANDBOX_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* `name` looked up in `path` (colon-separated); NULL when not found. */
char *run_search_path(const char *name, const char *path);
/* `path` is `dir` or lies beneath it (everything lies beneath "/"). */
bool run_path_within(const char *path, const char *dir);
/* CLOCK_MONOTONIC, in seconds. */
double run_now(void);
/* Make process group `pgid` the foreground of the terminal on standard
 * input, as a shell does for a job (SIGTTOU ignored meanwhile). */
void run_terminal_to(pid_t pgid);
/* After a fork whose child reports a failure before exec as a message on
 * a close-on-exec pipe: wait for its word on `report_fd` (the read end,
 * closed here).  End of file means it exec'd: pid.  A message means it
 * failed: it is reaped and -1 returned with the message in *err. */
pid_t run_child_started(pid_t pid, int report_fd, rls_error *err);

/* What a forked child runs: it execs, or writes why it could not to
 * report_fd (close-on-exec) and exits. */
typedef void (*run_child_fn)(void *arg, int report_fd);
/* Fork child(arg), in a process group of its own when own_group (then
 * given the terminal's foreground when take_tty), and wait for its word
 * as run_child_started does. */
pid_t run_spawn(run_child_fn child, void *arg, bool own_group, bool take_tty, rls_error *err);

/* Reset signal mask and handlers in a freshly forked child. */
void run_child_reset_signals(void);
/* Run argv (absolute path in argv[0]) with stdin and stdout on /dev/null,
 * wait for it; returns its wait status or -1. */
int run_program(char *const argv[]);

/* What run_captured keeps of a program's output. */
#define RUN_CAPTURED_MAX 4096
/* Run argv (absolute path in argv[0]; environment envp, or NULL for
 * ours) in a process group of its own, stdin on /dev/null, stdout and
 * stderr into *out (to free: the first RUN_CAPTURED_MAX bytes or so,
 * trailing blanks cut), killed past timeout_ms.  Its wait status; -1
 * when it could not start; RUN_CAPTURED_LATE when it did not end in time
 * ("timed out" in *out). */
#define RUN_CAPTURED_LATE (-2)
int run_captured(char *const argv[], char *const envp[], int timeout_ms, char **out);

#endif
