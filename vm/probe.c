/* probe.c - does a guest really boot under KVM here?
 *
 * /dev/kvm being there proves little: under nested virtualisation a
 * minimal KVM_RUN can succeed while a full boot hangs for good (and
 * `-cpu host` can abort on an MSR).  So the probe is the real thing: boot
 * the image under KVM and wait a few seconds for rls-guest's hello; a
 * working KVM answers in well under one.  The answer holds until the host
 * reboots, kept in $XDG_STATE_HOME/rls/vm/kvm under the boot's id.
 */
#include "vmint.h"

#include <fcntl.h>
#include <sys/stat.h>

/* A KVM guest that has not said hello by then never will. */
#define PROBE_TIMEOUT_S 8.0

static bool boot_id(char *out, size_t size)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	rls_error err;

	if (rls_read_file(AT_FDCWD, "/proc/sys/kernel/random/boot_id", 64, &text, &len, &err) < 0)
		return false;
	text[strcspn(text, "\n")] = '\0';
	snprintf(out, size, "%s", text);
	return out[0] != '\0';
}

/* "BOOT-ID 1|0 REASON" */
static bool cache_read(const char *path, const char *boot, bool *kvm, char *why, size_t why_size)
{
	_cleanup_free_ char *text = NULL;
	size_t len, n = strlen(boot);
	rls_error err;

	if (rls_read_file(AT_FDCWD, path, 1024, &text, &len, &err) < 0)
		return false;
	text[strcspn(text, "\n")] = '\0';
	if (strncmp(text, boot, n) || text[n] != ' ' || (text[n + 1] != '0' && text[n + 1] != '1') ||
	    text[n + 2] != ' ')
		return false;
	*kvm = text[n + 1] == '1';
	snprintf(why, why_size, "%s", text + n + 3);
	return true;
}

static void cache_write(const char *path, const char *boot, bool kvm, const char *why)
{
	_cleanup_free_ char *tmp = rls_xasprintf("%s.%d", path, (int)getpid());
	_cleanup_free_ char *text = rls_xasprintf("%s %d %s\n", boot, kvm, why);
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || rls_write_all(fd, text, strlen(text)) < 0 || rename(tmp, path) < 0)
		unlink(tmp);
}

bool probe_use_kvm(const vm_image *img, char *why, size_t why_size)
{
	const char *accel = getenv("RLS_VM_ACCEL");
	_cleanup_free_ char *dir = NULL, *path = NULL;
	char boot[64];
	bool kvm;
	rls_error err;

	if (accel && !strcmp(accel, "tcg")) {
		snprintf(why, why_size, "RLS_VM_ACCEL=tcg");
		return false;
	}
	if (!img->native) {
		snprintf(why, why_size, "an %s guest on an %s host", img->arch, image_host_arch());
		return false;
	}
	if (accel && !strcmp(accel, "kvm")) {
		snprintf(why, why_size, "RLS_VM_ACCEL=kvm");
		return true;
	}
	if (access("/dev/kvm", F_OK) < 0) {
		snprintf(why, why_size, "no /dev/kvm");
		return false;
	}
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		snprintf(why, why_size, "/dev/kvm is not open to this user (the kvm group?)");
		return false;
	}
	dir = rls_state_dir("vm", NULL, &err);
	if (dir)
		path = rls_xasprintf("%s/kvm", dir);
	if (path && boot_id(boot, sizeof boot) && cache_read(path, boot, &kvm, why, why_size))
		return kvm;

	kvm = run_boot_check(img, true, PROBE_TIMEOUT_S, &err) == 0;
	if (kvm)
		snprintf(why, why_size, "a guest booted under KVM");
	else
		snprintf(why, why_size, "a guest did not boot under KVM (%.300s)", err.msg);
	if (path && boot_id(boot, sizeof boot))
		cache_write(path, boot, kvm, why);
	return kvm;
}

int vm_probe(vm_probe_info *info, rls_error *err)
{
	vm_image img;
	char why[400];
	const char *virtiofsd = image_virtiofsd();

	memset(info, 0, sizeof *info);
	if (image_find(NULL, &img, err) < 0) {
		image_free(&img);
		return -1;
	}
	info->kvm = probe_use_kvm(&img, why, sizeof why);
	info->virtiofs = virtiofsd && geteuid() == 0;
	info->ninep = true;
	snprintf(info->summary, sizeof info->summary, "%s guest (%s) under %s (%s); shares through %s", img.arch,
		 img.dir, info->kvm ? "KVM" : "TCG, slow", why,
		 info->virtiofs ? "virtiofs or 9p"
		 : virtiofsd	? "9p (virtiofsd needs root)"
				: "9p (no virtiofsd)");
	image_free(&img);
	return 0;
}
