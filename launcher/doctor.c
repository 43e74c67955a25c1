/* doctor.c - `rls doctor`: which backends work on this machine, and why
 * not.  Every check tries the real thing (a bwrap sandbox, an OCI bundle,
 * a KVM guest instruction) rather than trusting version numbers, with a
 * short timeout where a broken host would hang. */
#include "launcher.h"
#include "commands.h"
#include "run.h"

#include <cap-ng.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define PROBE_TIMEOUT_MS 5000

static void line(const char *what, bool ok, const char *fmt, ...) RLS_PRINTF(3, 4);
static void line(const char *what, bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%-14s %s", what, ok ? "ok" : "no");
	if (fmt && *fmt) {
		fputs(ok ? " (" : ": ", stdout);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		if (ok)
			fputc(')', stdout);
	}
	fputc('\n', stdout);
}

/* `name` in PATH, then the system's sbin folders (doctor may be run by a
 * user whose PATH lacks them). */
static char *find_in_path(const char *name)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *all = rls_xasprintf("%s:/usr/local/sbin:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");

	return run_search_path(name, all);
}

/* A probe's combined output, its wait status or -1 (timed out). */
static int probe(char *const argv[], char **out)
{
	return run_captured(argv, NULL, PROBE_TIMEOUT_MS, out);
}

static char *first_line(char *s)
{
	if (s)
		s[strcspn(s, "\n")] = '\0';
	return s ? s : "";
}

static bool check_fuse(void)
{
	struct stat st;
	_cleanup_free_ char *fm = find_in_path("fusermount3");
	int fd;
	bool dev_ok;

	if (stat("/dev/fuse", &st) < 0 || !S_ISCHR(st.st_mode)) {
		line("fuse", false, "/dev/fuse is missing (modprobe fuse; in a container, pass the device)");
		return false;
	}
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	dev_ok = fd >= 0;
	if (fd >= 0)
		close(fd);
	if (dev_ok)
		line("fuse", true, "/dev/fuse");
	else
		line("fuse", false, "/dev/fuse is mode %o and this user cannot open it (ordinary users need it 0666)",
		     st.st_mode & 07777);
	if (!fm)
		line("fusermount3", geteuid() == 0, "%s",
		     geteuid() == 0 ? "not installed; root mounts without it" : "not installed (apt-get install fuse3)");
	else if (stat(fm, &st) == 0 && (st.st_mode & S_ISUID) && st.st_uid == 0)
		line("fusermount3", true, "%s, setuid root", fm);
	else
		line("fusermount3", geteuid() == 0, "%s is not setuid root%s", fm,
		     geteuid() == 0 ? "; root does not need it" : ": ordinary users cannot mount");
	return dev_ok && (geteuid() == 0 || fm);
}

static bool check_userns(void)
{
	_cleanup_free_ char *max = NULL, *clone = NULL;

	if (rls_read_file(AT_FDCWD, "/proc/sys/user/max_user_namespaces", 64, &max, NULL, NULL) == 0 &&
	    atol(max) == 0) {
		line("userns", false, "user.max_user_namespaces is 0");
		return false;
	}
	if (rls_read_file(AT_FDCWD, "/proc/sys/kernel/unprivileged_userns_clone", 64, &clone, NULL, NULL) == 0 &&
	    atol(clone) == 0 && geteuid() != 0) {
		line("userns", false, "kernel.unprivileged_userns_clone is 0");
		return false;
	}
	line("userns", true, "user.max_user_namespaces %ld", max ? atol(max) : -1L);
	return true;
}

/* A sandbox as rls run makes it, running a shell that reports its
 * capabilities and no_new_privs. */
static bool check_bwrap(void)
{
	_cleanup_free_ char *bwrap = find_in_path("bwrap");
	_cleanup_free_ char *out = NULL, *ver = NULL;
	char *vargv[] = { NULL, "--version", NULL };
	char *argv[] = { NULL, "--unshare-all", "--unshare-user", "--die-with-parent", "--cap-drop", "ALL",
			 "--new-session", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
			 "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
			 "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--remount-ro", "/",
			 "--clearenv", "--", "/bin/sh", "-c",
			 "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status | tr -s '\\t ' ' '", NULL };
	int ws;

	if (!bwrap) {
		line("bwrap", false, "not installed (apt-get install bubblewrap)");
		return false;
	}
	vargv[0] = argv[0] = bwrap;
	probe(vargv, &ver);
	ws = probe(argv, &out);
	if (ws != 0) {
		line("bwrap", false, "a sandbox could not start: %s", first_line(out));
		return false;
	}
	if (!strstr(out, "CapEff: 0000000000000000") || !strstr(out, "NoNewPrivs: 1")) {
		line("bwrap", false, "the sandbox kept privileges: %s", out);
		return false;
	}
	line("bwrap", true, "%s; a sandbox starts with no capabilities and no_new_privs", first_line(ver));
	return true;
}

static void check_caps(void)
{
	capng_get_caps_process();
	switch (capng_have_capabilities(CAPNG_SELECT_CAPS)) {
	case CAPNG_FULL:
		line("capabilities", true, "rls runs with all capabilities; the sandbox drops them all");
		break;
	case CAPNG_PARTIAL:
		line("capabilities", true, "rls runs with some capabilities; the sandbox drops them all");
		break;
	default:
		line("capabilities", true, "rls runs with none; the sandbox relies on a user namespace");
	}
}

static void check_cgroups(void)
{
	run_limits lim = { .has_memory = true, .memory = 1 << 30, .has_pids = true, .pids = 1000,
			   .has_cpus = true, .cpus = 1 };
	run_cgroup cg;
	rls_error err;
	char name[64];
	bool v1 = access("/sys/fs/cgroup/memory", F_OK) == 0 || access("/sys/fs/cgroup/pids", F_OK) == 0;
	bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ||
		  access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) == 0;

	snprintf(name, sizeof name, "rls-doctor-%d", (int)getpid());
	if (limits_setup(&lim, name, &cg, &err) < 0) {
		line("cgroups", false, "%s%s; --memory/--pids fall back to rlimits", v1 ? "v1 " : "", err.msg);
		return;
	}
	if (cg.version) {
		line("cgroups", true, "%s%s, writable: --memory, --cpus and --pids use cgroup v%d",
		     v1 && v2 ? "hybrid v1 + v2" : v2 ? "v2" : "v1",
		     cg.version == 1 && v2 ? " (the unified tree has no controllers)" : "", cg.version);
		(void)limits_remove(&cg, 1000, NULL);
	} else {
		line("cgroups", false, "%s%s; --memory/--pids fall back to rlimits, --cpus is not enforced",
		     v1 && v2 ? "hybrid v1 + v2: " : v2 ? "v2: " : v1 ? "v1: " : "", cg.note);
	}
	limits_free(&cg);
}

/* Each OCI runtime runs a minimal bundle with the user namespace of a
 * real run (oci-runtime.c), as rls run would before choosing it. */
static bool check_oci_runtime(const char *name)
{
	oci_runtime rt = { 0 };
	rls_error err = { 0 };
	_cleanup_free_ char *path = run_search_path(name, getenv("PATH"));
	bool ok;

	if (!path)
		path = run_search_path(name, RUN_SANDBOX_PATH);
	if (!path) {
		line(name, false, "not installed (apt-get install %s)", name);
		return false;
	}
	rt.path = steal_pointer(&path);
	rt.name = name;
	rt.kind = !strcmp(name, "runsc") ? OCI_RUNSC : !strcmp(name, "crun") ? OCI_CRUN : OCI_RUNC;
	rt.gvisor = rt.kind == OCI_RUNSC;
	rt.rootless = geteuid() != 0;
	ok = oci_runtime_probe(&rt, &err) == 0;
	if (ok)
		line(name, true, "%s runs a bundle%s%s", rt.path, rt.rootless ? " rootless" : "",
		     rt.gvisor ? "; the command meets gVisor's kernel, not the host's" : "");
	else
		line(name, false, "%s", err.msg);
	oci_runtime_free(&rt);
	return ok;
}

/* Run four bytes of real-mode guest code ("out 0x10, al; hlt") in a fresh
 * VM.  Where nested virtualisation is broken the first KVM_RUN never
 * returns: the child is killed after a moment and KVM counts as unusable. */
static RLS_NORETURN void kvm_child(void)
{
	static const uint8_t code[] = { 0xb0, 0x2a, 0xe6, 0x10, 0xf4 };	/* mov al,42; out 0x10,al; hlt */
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm, vcpu;
	struct kvm_userspace_memory_region mem = { 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	struct kvm_run *run;
	uint8_t *guest;
	int size;

	if (kvm < 0 || ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		_exit(2);
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	guest = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (vm < 0 || guest == MAP_FAILED)
		_exit(3);
	memcpy(guest, code, sizeof code);
	mem.guest_phys_addr = 0x1000;
	mem.memory_size = 0x1000;
	mem.userspace_addr = (uint64_t)(uintptr_t)guest;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &mem) < 0)
		_exit(4);
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || size <= 0)
		_exit(5);
	run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED || ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		_exit(6);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		_exit(7);
	regs.rip = 0x1000;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		_exit(8);
	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		_exit(9);
	_exit(run->exit_reason == KVM_EXIT_IO && run->io.port == 0x10 ? 0 : 10);
}

static bool check_kvm(void)
{
	pid_t pid;
	int ws = -1;

	if (access("/dev/kvm", F_OK) < 0) {
		line("kvm", false, "no /dev/kvm: the vm backend would use TCG (slow)");
		return false;
	}
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		line("kvm", false, "/dev/kvm is not accessible to this user (group kvm?): TCG instead");
		return false;
	}
	pid = fork();
	if (pid == 0) {
		run_child_reset_signals();
		kvm_child();
	}
	for (int i = 0; pid > 0 && i < 200; i++) {
		if (waitpid(pid, &ws, WNOHANG) == pid)
			break;
		ws = -1;
		usleep(10000);
	}
	if (pid > 0 && ws == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		line("kvm", false, "a guest instruction did not finish within 2 s (broken nested virtualisation?): TCG instead");
		return false;
	}
	if (ws != 0) {
		line("kvm", false, "a minimal guest failed (step %d): TCG instead",
		     WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
		return false;
	}
	line("kvm", true, "a minimal guest ran under /dev/kvm; a full boot can still hang where nesting is broken");
	return true;
}

static bool check_qemu(void)
{
#if defined(__x86_64__)
	const char *name = "qemu-system-x86_64";
#elif defined(__aarch64__)
	const char *name = "qemu-system-aarch64";
#else
	const char *name = "qemu-system";
#endif
	_cleanup_free_ char *q = find_in_path(name), *out = NULL;
	char *argv[] = { q, "--version", NULL };

	if (!q) {
		line("qemu", false, "%s not installed (apt-get install qemu-system-x86)", name);
		return false;
	}
	if (probe(argv, &out) != 0) {
		line("qemu", false, "%s --version failed: %s", q, first_line(out));
		return false;
	}
	line("qemu", true, "%s", first_line(out));
	return true;
}

static bool check_virtiofsd(void)
{
	static const char *const where[] = { "/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd",
					     "/usr/lib/virtiofsd", NULL };

	for (const char *const *w = where; *w; w++)
		if (access(*w, X_OK) == 0) {
			line("virtiofsd", true, "%s", *w);
			return true;
		}
	line("virtiofsd", false, "not found (qemu-system-common ships it); 9p can stand in");
	return false;
}

/* The guest kernel and initramfs that image/ builds. */
static bool check_image(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	_cleanup_free_ char *near = NULL;
	const char *env = getenv("RLS_IMAGE_DIR");
	const char *dirs[4] = { env, NULL, RLS_DATADIR "/image", NULL };

	if (n > 0) {
		self[n] = '\0';
		if (strrchr(self, '/'))
			*strrchr(self, '/') = '\0';
		near = rls_xasprintf("%s/image", self);
		dirs[1] = near;
	}
	for (size_t i = 0; i < 3; i++) {
		_cleanup_free_ char *k = NULL, *r = NULL;

		if (!dirs[i])
			continue;
		k = rls_xasprintf("%s/vmlinuz", dirs[i]);
		r = rls_xasprintf("%s/initramfs.img", dirs[i]);
		if (access(k, R_OK) == 0 && access(r, R_OK) == 0) {
			line("guest image", true, "%s", dirs[i]);
			return true;
		}
	}
	line("guest image", false, "no vmlinuz + initramfs.img in %s or %s (this version builds none)",
	     near ? near : "the build dir", RLS_DATADIR "/image");
	return false;
}

int cmd_doctor(int argc, char **argv)
{
	bool fuse, userns, bwrap, runc, crun, runsc, qemu, image;

	if (argc > 1) {
		if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
			puts("usage: rls doctor\nSays which backends work on this machine and why not. See rls(1).");
			return 0;
		}
		fprintf(stderr, "rls: doctor: takes no arguments\n");
		return 2;
	}
	fuse = check_fuse();
	userns = check_userns();
	bwrap = check_bwrap();
	check_caps();
	check_cgroups();
	runc = check_oci_runtime("runc");
	crun = check_oci_runtime("crun");
	runsc = check_oci_runtime("runsc");
	/* What only the microVM backend needs is looked at once this build
	 * has that backend. */
	qemu = image = false;
	if (backend_by_name("vm")) {
		qemu = check_qemu();
		(void)check_kvm();
		(void)check_virtiofsd();
		image = check_image();
	}

	line("backend bwrap", fuse && userns && bwrap, "%s",
	     fuse && userns && bwrap ? "the default" : "needs fuse, user namespaces and bwrap (above)");
	if (fuse && (runc || crun || runsc))
		line("backend oci", true, "--runtime %s by default; works: %s%s%s", runc ? "runc" : crun ? "crun" : "runsc",
		     runc ? "runc " : "", crun ? "crun " : "", runsc ? "runsc" : "");
	else
		line("backend oci", false, "%s", !fuse ? "needs fuse (above)" :
		     "needs an OCI runtime that works here: runc, crun or runsc (above)");
	if (!backend_by_name("vm"))
		line("backend vm", false, "not in this build of rls (use --backend bwrap, or oci for a "
		     "user-space kernel under gVisor)");
	else
		line("backend vm", qemu && image, "%s", !qemu ? "needs qemu (apt-get install qemu-system-x86)" :
		     !image ? "needs the guest image (make image)" : "ok");
	fflush(stdout);
	return fuse && userns && bwrap ? 0 : 1;
}
