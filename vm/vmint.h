/* vmint.h - the pieces of the vm module, shared by its files (internal to
 * vm/: no other module includes this).
 *
 *   vm.c       vm_run: a session with the probe's choice of KVM or TCG
 *   run.c      the session: the phases, and the loop that carries the streams
 *   proto.c    the host's lines out, the guest's lines in (jansson)
 *   image.c    finding the guest image and the qemu that boots it
 *   qemu.c     qemu's command line
 *   share.c    the shared folders: virtiofsd, the system folders' view
 *   spawn.c    children that die with us, and the janitor that cleans up
 *              if we die first
 *   probe.c    does KVM really boot a guest here? (cached per host boot)
 */
#ifndef RLS_VM_INT_H
#define RLS_VM_INT_H

#include "vm.h"

/* ---- proto.c ---- */

/* The "run" line: the request as rls-guest(7) describes it.  NULL and
 * *err when it cannot be said (argv or environment too large). */
char *proto_run_line(const vm_request *req, const char *share, bool sys, rls_error *err);
/* The host's other lines, each with its newline, appended to *b. */
void proto_in(rls_buf *b, const void *data, size_t len);
void proto_in_eof(rls_buf *b);
void proto_signal(rls_buf *b, int sig);
void proto_bye(rls_buf *b);

/* ---- image.c ---- */

typedef struct vm_image {
	char *dir;
	char *kernel;		/* paths */
	char *initrd;
	char arch[16];		/* amd64 or arm64 */
	bool native;		/* the host's architecture */
	char *qemu;		/* the qemu-system-* binary for arch */
} vm_image;

/* Find and check the image (req_dir or the default places) and the qemu
 * that boots it. */
int image_find(const char *req_dir, vm_image *img, rls_error *err);
void image_free(vm_image *img);
/* The host's architecture in Debian's words. */
const char *image_host_arch(void);
/* virtiofsd's path, or NULL. */
const char *image_virtiofsd(void);

/* ---- qemu.c ---- */

#define QEMU_MAX_SHARES 2

typedef struct qemu_share {
	const char *tag;
	int vhost_fd;		/* virtiofs: our connected end of virtiofsd's socket */
	const char *path;	/* 9p: the folder */
	bool read_only;
} qemu_share;

typedef struct qemu_spec {
	const vm_image *img;
	const char *name;		/* for ps: the run's private folder */
	bool kvm;
	uint64_t memory;
	unsigned cpus;
	int kernel_fd, initrd_fd;	/* opened by us: qemu reads /dev/fd/N */
	int ctl_fd;			/* qemu's end of the channel */
	int console_fd;			/* qemu's end of the console */
	bool virtiofs;			/* shares are vhost-user (needs shared memory) */
	bool ninep_passthrough;		/* 9p keeps the guest's owners (root only) */
	qemu_share shares[QEMU_MAX_SHARES];
	size_t n_shares;
	bool net;
} qemu_spec;

/* NULL-terminated; free with qemu_argv_free. */
char **qemu_argv(const qemu_spec *spec);
void qemu_argv_free(char **argv);

/* ---- spawn.c ---- */

typedef struct spawn_opts {
	int keep[8];			/* fds that stay open across exec, at their numbers */
	size_t n_keep;
	int stdout_fd, stderr_fd;	/* -1: /dev/null; stdin is always /dev/null */
	/* Run in the child before exec; fills *err and returns -1 to fail. */
	int (*prepare)(void *opaque, rls_error *err);
	void *opaque;
} spawn_opts;

/* fork + exec argv[0] in a child that gets SIGKILL when this thread
 * ends, in its own process group (a terminal's Ctrl-C is for the
 * command, not for qemu), with every other fd closed.  The pid, or -1
 * with *err saying what failed in the child (exec included). */
pid_t spawn_child(char *const argv[], const spawn_opts *opts, rls_error *err);
/* A pidfd for pid, or -1 (then poll with waitpid). */
int spawn_pidfd(pid_t pid);
/* SIGKILL and reap; 0 if pid <= 0. */
void spawn_kill(pid_t *pid);

typedef struct janitor {
	pid_t pid;
	int fd;			/* write end: "done" then close, or EOF when we die */
} janitor;

/* A process that removes `dir` if we die before janitor_done(). */
int janitor_start(const char *dir, janitor *j, rls_error *err);
void janitor_done(janitor *j);

/* ---- share.c ---- */

/* The read-only view of the host's system folders, made in the calling
 * child's own mount namespace at `stage` (an empty folder): /usr, /etc,
 * ... bound read-only, their symlinks copied, secrets and `hide` masked.
 * As a non-root user, a user namespace first makes that possible. */
int share_stage_system(const char *stage, const char *const *hide, rls_error *err);

typedef struct share_server {
	pid_t pid;		/* virtiofsd */
	int qemu_fd;		/* connected socket for qemu's chardev */
} share_server;

/* Start virtiofsd on `source` (staged first when stage_hide is set: the
 * system share), its socket in `tmpdir`. */
int share_virtiofsd(const char *tmpdir, const char *name, const char *source, bool system,
		    const char *const *hide, int log_fd, share_server *srv, rls_error *err);

/* ---- probe.c ---- */

/* Should this run use KVM?  RLS_VM_ACCEL=kvm|tcg decides when set;
 * otherwise the cached answer for this host boot, or a probe. */
bool probe_use_kvm(const vm_image *img, char *why, size_t why_size);

/* ---- run.c ---- */

/* KVM (true) or TCG for this image, and why, in words. */
typedef bool (*run_kvm_fn)(const vm_image *img, char *why, size_t why_size);

/* vm_run, but KVM or TCG as use_kvm says (probe.c's probe_use_kvm: the
 * session never calls the probe, which boots through it). */
int run_session(const vm_request *req, vm_result *res, run_kvm_fn use_kvm, rls_error *err);

/* Boot the image with no shares and wait for the guest's hello at most
 * timeout_s: the KVM probe. 0 when it answered. */
int run_boot_check(const vm_image *img, bool kvm, double timeout_s, rls_error *err);

#endif
