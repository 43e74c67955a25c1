/* seccomp.c - the system calls every sandbox refuses, whatever the backend.
 *
 * One table, two forms: a BPF program (bubblewrap's --seccomp, and
 * rls-init's --seccomp where the runtime's own filter cannot say it all)
 * and an OCI seccomp profile (runc, crun, runsc).  What is refused, and
 * why:
 *
 *  - ioctl(fd, TIOCSTI or TIOCLINUX, ...), EPERM.  The terminal stays
 *    shared (no --new-session, so that job control works), and those two
 *    would let the command type into the user's shell after rls exits.
 *    The request is compared on its low 32 bits: the kernel ignores the
 *    high ones (CVE-2019-10063 in flatpak).
 *  - add_key, request_key, keyctl, ENOSYS.  Keyrings are not namespaced:
 *    the keys of the sandbox's uid on the host (and, were it shared, the
 *    caller's session keyring) would be readable and writable.  rls also
 *    gives the sandbox a fresh, empty session keyring.
 *  - io_uring_setup/enter/register and userfaultfd, ENOSYS.  Both are the
 *    usual tools of kernel exploits (io_uring also runs operations outside
 *    any seccomp filter), and programs fall back when they are missing.
 *
 *  - for the OCI runtimes, which have no bwrap --disable-userns: unshare
 *    and clone with CLONE_NEWUSER, EPERM, and clone3 (whose flags a
 *    filter cannot read), ENOSYS, which makes the C library use clone.
 *    A new user namespace is where most of the kernel's reachable
 *    attack surface lies.
 *
 * x32 system calls are refused whole, ENOSYS; on x86-64 the i386 entry
 * points get the same filter by their own numbers; any other architecture
 * is refused.  A program is a list of (number, errno) checks per
 * architecture, assembled with forward jumps resolved at the end.
 *
 * What an OCI profile cannot say: "a system call of any other
 * architecture, ENOSYS".  It lists architectures (here x86-64 and i386,
 * by the same names), and a call of an unlisted one meets libseccomp's
 * bad-arch action: runc and crun kill the calling process with SIGSYS
 * (an x32 call, say, ends the process with status 159 instead of failing
 * with ENOSYS).  Refused either way; only the manner differs.  gVisor
 * implements neither x32 nor foreign system calls at all, and its 2022
 * builds answer every refused call of an OCI profile with EPERM whatever
 * errnoRet says, so under runsc rls-init installs the BPF program below
 * as well, whose answers (ENOSYS) are the ones the command sees.
 */
#include "launcher.h"
#include "run.h"

#include <fcntl.h>
#include <jansson.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#define ARG_LO(n) (offsetof(struct seccomp_data, args[n]))
#define NR_OFF (offsetof(struct seccomp_data, nr))
#define ARCH_OFF (offsetof(struct seccomp_data, arch))

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LO_OFF(n) ARG_LO(n)
#else
#define LO_OFF(n) (ARG_LO(n) + 4)
#endif

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#define OCI_ARCHES "SCMP_ARCH_X86_64", "SCMP_ARCH_X86"
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#define OCI_ARCHES "SCMP_ARCH_AARCH64"
#elif defined(__i386__)
#define NATIVE_ARCH AUDIT_ARCH_I386
#define OCI_ARCHES "SCMP_ARCH_X86"
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_ARCH AUDIT_ARCH_RISCV64
#define OCI_ARCHES "SCMP_ARCH_RISCV64"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_ARCH AUDIT_ARCH_PPC64LE
#define OCI_ARCHES "SCMP_ARCH_PPC64LE"
#elif defined(__s390x__)
#define NATIVE_ARCH AUDIT_ARCH_S390X
#define OCI_ARCHES "SCMP_ARCH_S390X"
#endif

/* The refused calls: their names (for OCI profiles, which name calls and
 * leave the numbers to libseccomp), native numbers and errno. */
typedef struct sc_deny {
	const char *name;
	int nr;
	int err;
} sc_deny;

#ifdef NATIVE_ARCH
static const sc_deny native_denied[] = {
	{ "add_key", __NR_add_key, ENOSYS }, { "request_key", __NR_request_key, ENOSYS },
	{ "keyctl", __NR_keyctl, ENOSYS }, { "io_uring_setup", __NR_io_uring_setup, ENOSYS },
	{ "io_uring_enter", __NR_io_uring_enter, ENOSYS },
	{ "io_uring_register", __NR_io_uring_register, ENOSYS },
	{ "userfaultfd", __NR_userfaultfd, ENOSYS },
};
#endif

/* ioctl requests refused, EPERM. */
static const unsigned long denied_ioctls[] = { TIOCSTI, TIOCLINUX };

#if defined(__x86_64__)
#define X32_SYSCALL_BIT 0x40000000u
#define COMPAT_ARCH AUDIT_ARCH_I386
#define COMPAT_IOCTL 54u
/* The i386 numbers, from arch/x86/entry/syscalls/syscall_32.tbl. */
static const sc_deny compat_denied[] = {
	{ "add_key", 286, ENOSYS }, { "request_key", 287, ENOSYS }, { "keyctl", 288, ENOSYS },
	{ "io_uring_setup", 425, ENOSYS }, { "io_uring_enter", 426, ENOSYS },
	{ "io_uring_register", 427, ENOSYS }, { "userfaultfd", 374, ENOSYS },
};
#endif

enum { L_IOCTL, L_ALLOW, L_DENY_ENOSYS, L_DENY_EPERM, L_COMPAT, L_USERNS_ARG0, L_NLABELS };

/* clone's flags are its first argument on x86-64, aarch64 and the others
 * rls builds for (s390 swaps the first two; it gets no userns rule). */
#if defined(__s390x__)
#define CLONE_FLAGS_NR 0xffffffffu
#else
#define CLONE_FLAGS_NR __NR_clone
#endif

typedef struct bpf_asm {
	struct sock_filter prog[128];
	int target[128];	/* label a jump goes to when taken, or -1 */
	int target_f[128];	/* when not taken, or -1 */
	unsigned n;
	int label[L_NLABELS];
} bpf_asm;

static void emit(bpf_asm *b, struct sock_filter insn, int jt, int jf)
{
	b->target[b->n] = jt;
	b->target_f[b->n] = jf;
	b->prog[b->n++] = insn;
}

static void load_nr(bpf_asm *b)
{
	emit(b, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR_OFF), -1, -1);
}

static RLS_UNUSED void deny_list(bpf_asm *b, const sc_deny *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		emit(b, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)list[i].nr, 0, 1),
		     -1, -1);
		emit(b, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
						     SECCOMP_RET_ERRNO | ((unsigned)list[i].err & SECCOMP_RET_DATA)),
		     -1, -1);
	}
}

/* Resolve label jumps into relative offsets; -1 when one is too far. */
static int link_prog(bpf_asm *b)
{
	for (unsigned pc = 0; pc < b->n; pc++) {
		if (b->target[pc] >= 0) {
			int off = b->label[b->target[pc]] - (int)pc - 1;

			if (off < 0 || off > 255)
				return -1;
			b->prog[pc].jt = (unsigned char)off;
		}
		if (b->target_f[pc] >= 0) {
			int off = b->label[b->target_f[pc]] - (int)pc - 1;

			if (off < 0 || off > 255)
				return -1;
			b->prog[pc].jf = (unsigned char)off;
		}
	}
	return 0;
}

static void mark(bpf_asm *b, int label)
{
	b->label[label] = (int)b->n;
}

#define JEQ(k) ((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), 0, 0))
#define JGE(k) ((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (k), 0, 0))
#define JSET(k) ((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (k), 0, 0))
#define RET(k) ((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (k)))

int seccomp_bpf_fd(unsigned flags, rls_error *err)
{
#ifdef NATIVE_ARCH
	bpf_asm b = { .n = 0 };
	int p[2];

	emit(&b, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARCH_OFF), -1, -1);
#ifdef COMPAT_ARCH
	emit(&b, JEQ(COMPAT_ARCH), L_COMPAT, -1);
#endif
	emit(&b, JEQ(NATIVE_ARCH), -1, L_DENY_ENOSYS);
	load_nr(&b);
#ifdef X32_SYSCALL_BIT
	emit(&b, JGE(X32_SYSCALL_BIT), L_DENY_ENOSYS, -1);
#endif
	deny_list(&b, native_denied, RLS_ARRAY_SIZE(native_denied));
	if (flags & SECCOMP_NO_USERNS) {
		emit(&b, JEQ(__NR_clone3), L_DENY_ENOSYS, -1);
		emit(&b, JEQ(__NR_unshare), L_USERNS_ARG0, -1);
		emit(&b, JEQ(CLONE_FLAGS_NR), L_USERNS_ARG0, -1);
	}
	emit(&b, JEQ(__NR_ioctl), L_IOCTL, L_ALLOW);
#ifdef COMPAT_ARCH
	mark(&b, L_COMPAT);
	load_nr(&b);
	deny_list(&b, compat_denied, RLS_ARRAY_SIZE(compat_denied));
	emit(&b, JEQ(COMPAT_IOCTL), L_IOCTL, L_ALLOW);
#endif
	if (flags & SECCOMP_NO_USERNS) {
		mark(&b, L_USERNS_ARG0);
		emit(&b, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, LO_OFF(0)), -1, -1);
		emit(&b, JSET(CLONE_NEWUSER), L_DENY_EPERM, L_ALLOW);
	}
	mark(&b, L_IOCTL);
	emit(&b, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, LO_OFF(1)), -1, -1);
	emit(&b, JEQ((unsigned)TIOCSTI), -1, -1);
	b.prog[b.n - 1].jt = 2;		/* -> the EPERM below */
	emit(&b, JEQ((unsigned)TIOCLINUX), -1, L_ALLOW);
	b.prog[b.n - 1].jt = 1;
	mark(&b, L_ALLOW);
	emit(&b, RET(SECCOMP_RET_ALLOW), -1, -1);
	mark(&b, L_DENY_EPERM);
	emit(&b, RET(SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)), -1, -1);
	mark(&b, L_DENY_ENOSYS);
	emit(&b, RET(SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)), -1, -1);
	if (link_prog(&b) < 0)
		return rls_error_set(err, 0, "seccomp program: a jump is out of range");

	if (pipe2(p, O_CLOEXEC) < 0)
		return rls_error_set(err, errno, "pipe");
	/* Far below a pipe's capacity: the write cannot block. */
	if (rls_write_all(p[1], b.prog, b.n * sizeof b.prog[0]) < 0) {
		rls_error_set(err, errno, "seccomp program");
		close(p[0]);
		close(p[1]);
		return -1;
	}
	close(p[1]);
	return p[0];
#else
	(void)flags;
	return rls_error_set(err, ENOSYS, "no seccomp filter for this architecture");
#endif
}

static json_t *oci_rule(const char *name, int err)
{
	return json_pack("{s:[s], s:s, s:i}", "names", name, "action", "SCMP_ACT_ERRNO", "errnoRet", err);
}

json_t *seccomp_oci_profile(void)
{
#ifdef NATIVE_ARCH
	json_t *calls = json_array();
	json_t *arches = json_array();
	static const char *const arch_names[] = { OCI_ARCHES };

	for (size_t i = 0; i < RLS_ARRAY_SIZE(arch_names); i++)
		json_array_append_new(arches, json_string(arch_names[i]));
	for (size_t i = 0; i < RLS_ARRAY_SIZE(native_denied); i++)
		json_array_append_new(calls, oci_rule(native_denied[i].name, native_denied[i].err));
	/* The request on its low 32 bits, as in the BPF program: one rule a
	 * request, for the rules of a call are OR-ed while the arguments of
	 * one rule are AND-ed. */
	json_array_append_new(calls, oci_rule("clone3", ENOSYS));
	{
		static const char *const names[] = { "unshare", "clone" };

		for (size_t i = 0; i < RLS_ARRAY_SIZE(names); i++)
			json_array_append_new(calls, json_pack("{s:[s], s:s, s:i, s:[{s:i, s:I, s:I, s:s}]}",
							       "names", names[i], "action", "SCMP_ACT_ERRNO",
							       "errnoRet", EPERM, "args", "index", 0, "value",
							       (json_int_t)CLONE_NEWUSER, "valueTwo",
							       (json_int_t)CLONE_NEWUSER, "op",
							       "SCMP_CMP_MASKED_EQ"));
	}
	for (size_t i = 0; i < RLS_ARRAY_SIZE(denied_ioctls); i++)
		json_array_append_new(calls, json_pack("{s:[s], s:s, s:i, s:[{s:i, s:I, s:I, s:s}]}",
						       "names", "ioctl", "action", "SCMP_ACT_ERRNO",
						       "errnoRet", EPERM, "args", "index", 1,
						       "value", (json_int_t)denied_ioctls[i],
						       "valueTwo", (json_int_t)0xffffffff,
						       "op", "SCMP_CMP_MASKED_EQ"));
	return json_pack("{s:s, s:o, s:o}", "defaultAction", "SCMP_ACT_ALLOW", "architectures", arches,
			 "syscalls", calls);
#else
	return NULL;
#endif
}
