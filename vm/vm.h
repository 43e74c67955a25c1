/* vm.h - the microVM backend's host side: boot the guest image/ builds,
 * share a folder into it, run one command there, stream its output, and
 * leave nothing behind (rls-guest(7) describes the guest and the
 * protocol).
 *
 * qemu boots the guest (x86: -M microvm with PVH; arm64: -M virt), under
 * KVM when a short probe has shown that a guest really boots with it, and
 * under TCG otherwise.  The shared folder goes in through virtiofsd or 9p;
 * the host's system folders (/usr, /etc, ...) through a second, read-only
 * share.  The command talks to nothing but its pipes; rls-guest carries
 * them over a virtio-serial port as JSON lines.
 */
#ifndef RLS_VM_H
#define RLS_VM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/common.h"

typedef struct vm_request {
	/* A folder holding kernel, initramfs.img and arch (make image);
	 * NULL: $RLS_IMAGE_DIR, else image/ beside the running program
	 * (the build tree), else RLS_LIBEXECDIR/image. */
	const char *image_dir;
	const char *share_dir;	/* host folder shared read-write (an rlsfs mount in practice) */
	const char *mount_at;	/* where it appears in the guest, e.g. /workspace */
	const char *chdir;	/* starting directory in the guest; NULL: mount_at */
	char **argv;		/* the command, argv[0] looked up in the guest's PATH */
	char **env;		/* its whole environment, NAME=VALUE */
	uid_t uid;		/* its identity in the guest; never 0 */
	gid_t gid;
	uint64_t memory;	/* bytes of guest RAM; 0: 512 MiB */
	double cpus;		/* vCPUs, rounded up; 0: 1 */
	bool share_net;		/* qemu's user-mode network; else no network device */
	const char *share;	/* "virtiofs", "9p", or NULL: virtiofs as root, else 9p */
	/* Host paths the guest must not see through the system share (the
	 * source, the delta, the audit file, the rlsfs mountpoint),
	 * NULL-terminated or NULL: hidden when a system folder holds them. */
	const char *const *hide;
	uint64_t tmp_size;	/* bytes of the guest's /tmp and HOME each; 0: the kernel's default */
	uint64_t pids;		/* processes the command may hold at once (RLIMIT_NPROC of its
				 * uid, alone in the guest); 0: no limit */
	int stdin_fd;		/* -1: empty stdin */
	int stdout_fd, stderr_fd;
	/* A signalfd rls reads SIGINT, SIGTERM and SIGHUP from: they are
	 * sent on to the command's process group (one that comes before the
	 * command starts ends the run).  vm_run reads everything it holds
	 * and drops what it does not forward: give it one for those three
	 * alone.  -1: none. */
	int signal_fd;
	/* One byte is written here when the command starts (its timeout
	 * runs from then on); -1: none. */
	int started_fd;
	double timeout_s;	/* 0: none; past it SIGTERM to the command, then after grace_s the VM ends */
	double grace_s;		/* 0: 2 s */
	double boot_timeout_s;	/* a guest that never answers; 0: 30 s under KVM, 120 s under TCG */
} vm_request;

typedef struct vm_result {
	bool started;		/* the command ran (the guest said so) */
	int exit_code;		/* the command's, when it exited; -1 otherwise */
	int term_signal;	/* the signal that ended it, or 0 (SIGKILL when the VM was ended) */
	bool timed_out;
	int interrupted_by;	/* a signal read from signal_fd and forwarded, or 0 */
	bool kvm;		/* ran under KVM (else TCG) */
	double boot_s;		/* from qemu's start to the guest's first line */
} vm_result;

/* Boot, run, stream, wait.  0 when the command ran and ended (res says
 * how: an exit status, a signal, a timeout); -1 with one line in *err
 * when it could not run or the guest failed under it (res->started says
 * which).  Whatever happened, everything it started (qemu, virtiofsd,
 * sockets, temporary files) is gone when it returns, and goes with the
 * caller if the caller is killed.  It forks (qemu, virtiofsd, a janitor)
 * and prepares children between fork and exec: call it from a
 * single-threaded process.  Output goes to stdout_fd and stderr_fd in
 * writes of at most PIPE_BUF after poll says they have room; the fds are
 * left as they are (blocking or not). */
int vm_run(const vm_request *req, vm_result *res, rls_error *err);

typedef struct vm_probe_info {
	bool kvm;		/* a guest boots under KVM here */
	bool virtiofs;		/* virtiofsd is there and we are root */
	bool ninep;		/* qemu has 9p */
	char summary[512];	/* one line: how a VM runs here, and why not KVM */
} vm_probe_info;

/* For rls doctor: 0 when a VM can run here, *info saying how (KVM or
 * TCG, virtiofsd or 9p, which image); -1 with the reason in *err.  May
 * boot the guest once to probe KVM (at most a few seconds; the answer is
 * kept until the host reboots). */
int vm_probe(vm_probe_info *info, rls_error *err);

/* ---- the protocol, host side (for tests and the fuzzer) ---- */

typedef enum vm_msg_type {
	VM_MSG_HELLO,		/* version, arch */
	VM_MSG_STARTED,
	VM_MSG_OUT,		/* fd (1 or 2), data, len */
	VM_MSG_IN_ACK,		/* count */
	VM_MSG_EXIT,		/* signaled, value */
	VM_MSG_ERROR,		/* text */
} vm_msg_type;

typedef struct vm_msg {
	vm_msg_type type;
	int version;
	char arch[16];
	int fd;
	unsigned char *data;	/* VM_MSG_OUT; free with vm_msg_free */
	size_t len;
	uint64_t count;
	bool signaled;
	int value;		/* exit code, or signal number */
	char text[1024];	/* VM_MSG_ERROR: the guest's words, not yet escaped for printing */
} vm_msg;

/* The longest line the guest may send, newline excluded. */
#define VM_LINE_MAX 65536

/* Decode one line from the guest (without its newline), strictly: any
 * line that is not exactly one known message is an error. */
int vm_msg_decode(const char *line, size_t len, vm_msg *msg, rls_error *err);
void vm_msg_free(vm_msg *msg);

#endif
