/* doctor.c - `rls doctor`: which backends work on this machine, and why
 * not.  Every check tries the real thing (a bwrap sandbox, an OCI bundle,
 * a guest booted under KVM) rather than trusting version numbers, with a
 * short timeout where a broken host would hang. */
#include "launcher.h"
#include "commands.h"
#include "run.h"
#include "../vm/vm.h"

#include <cap-ng.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
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

/* The whole vm backend, as vm_run would find it: the guest image, the
 * qemu for its architecture, whether a guest really boots under KVM
 * (a boot with a short timeout: nested KVM can hang), virtiofsd or 9p. */
static bool check_vm(void)
{
	vm_probe_info info;
	rls_error err = { 0 };

	if (vm_probe(&info, &err) < 0) {
		line("guest", false, "%s", err.msg);
		return false;
	}
	line("guest", true, "%s", info.summary);
	return true;
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
		image = check_vm();
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
		     !image ? "needs what the guest line says" : "ok");
	fflush(stdout);
	return fuse && userns && bwrap ? 0 : 1;
}
