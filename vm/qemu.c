/* qemu.c - qemu's command line for one guest.
 *
 * Every device is virtio over MMIO (x86: -M microvm; arm64: -M virt): no
 * PCI to enumerate, no firmware to run.  On x86 qemu boots the
 * uncompressed vmlinux through its PVH entry point (image/mkimage).
 * The channel and the console are sockets we made, passed as fds, and
 * virtiofsd's socket is one too: nothing is named on disk.
 *
 * Under TCG the kernel is told what it cannot measure (the TSC's rate,
 * with no PIT or HPET on microvm) and to skip work that only costs there
 * (crypto self-tests, zeroing every allocation).  mitigations=off too:
 * under TCG no guest instruction runs on the host CPU as itself, so the
 * hardware side channels those mitigations close do not reach the guest
 * kernel's memory through its page tables; they stay on under KVM.
 */
#include "vmint.h"

#include <inttypes.h>

static void addf(rls_strv *a, const char *fmt, ...) RLS_PRINTF(2, 3);
static void addf(rls_strv *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		rls_die_oom();
	va_end(ap);
	rls_strv_add(a, s);
	free(s);
}

/* qemu's option syntax doubles a comma inside a value. */
static char *opt_escape(const char *s)
{
	rls_buf b = { 0 };

	for (; *s; s++) {
		if (*s == ',')
			rls_buf_addc(&b, ',');
		rls_buf_addc(&b, *s);
	}
	rls_buf_addc(&b, '\0');
	return b.data;
}

/* The host's TSC rate in kHz, which TCG's guest TSC runs at. */
static unsigned long host_tsc_khz(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/cpuinfo", "re");
	char line[256];
	double mhz;

	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "cpu MHz : %lf", &mhz) == 1 && mhz > 100 && mhz < 100000)
			return (unsigned long)(mhz * 1000);
	return 2000000;
}

static char *kernel_cmdline(const qemu_spec *s, bool x86)
{
	rls_buf b = { 0 };

	rls_buf_printf(&b, "console=%s panic=-1 quiet audit=0 apparmor=0", x86 ? "ttyS0" : "ttyAMA0");
	if (x86)
		rls_buf_adds(&b, " pci=off 8250.nr_uarts=1 i8042.noaux=1 i8042.nokbd=1 i8042.nopnp=1");
	if (!s->kvm) {
		rls_buf_adds(&b, " mitigations=off init_on_alloc=0 cryptomgr.notests");
		if (x86)
			rls_buf_printf(&b, " tsc_early_khz=%lu tsc=reliable", host_tsc_khz());
	}
	return b.data;
}

char **qemu_argv(const qemu_spec *s)
{
	rls_strv a = { 0 };
	bool x86 = !strcmp(s->img->arch, "amd64");
	_cleanup_free_ char *append = kernel_cmdline(s, x86);
	uint64_t mib = s->memory >> 20;

	rls_strv_add(&a, s->img->qemu);
	if (s->name) {
		_cleanup_free_ char *name = opt_escape(s->name);

		/* which run a qemu belongs to, for whoever reads ps */
		rls_strv_add(&a, "-name");
		addf(&a, "rls-vm:%s", name);
	}
	rls_strv_add(&a, "-nodefaults");
	rls_strv_add(&a, "-no-user-config");
	rls_strv_add(&a, "-display");
	rls_strv_add(&a, "none");
	/* a reboot (the guest's panic=-1 included) ends qemu */
	rls_strv_add(&a, "-no-reboot");
	/* Should the guest break into qemu, qemu cannot spawn, setuid or
	 * use the obsolete system calls. */
	rls_strv_add(&a, "-sandbox");
	rls_strv_add(&a, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	/* modern virtio-mmio: vhost-user (virtiofsd) refuses legacy devices */
	rls_strv_add(&a, "-global");
	rls_strv_add(&a, "virtio-mmio.force-legacy=false");
	rls_strv_add(&a, "-machine");
	addf(&a, "%s,accel=%s,memory-backend=mem", x86 ? "microvm" : "virt", s->kvm ? "kvm" : "tcg");
	if (s->kvm || !x86) {
		rls_strv_add(&a, "-cpu");
		rls_strv_add(&a, s->kvm ? "host" : "cortex-a57");
	}
	/* virtiofsd maps the guest's memory: it must be a shared memfd */
	rls_strv_add(&a, "-object");
	addf(&a, "memory-backend-memfd,id=mem,size=%" PRIu64 "M,share=%s", mib, s->virtiofs ? "on" : "off");
	rls_strv_add(&a, "-m");
	addf(&a, "%" PRIu64 "M", mib);
	rls_strv_add(&a, "-smp");
	addf(&a, "%u", s->cpus ? s->cpus : 1);
	rls_strv_add(&a, "-kernel");
	addf(&a, "/dev/fd/%d", s->kernel_fd);
	rls_strv_add(&a, "-initrd");
	addf(&a, "/dev/fd/%d", s->initrd_fd);
	rls_strv_add(&a, "-append");
	rls_strv_add(&a, append);

	rls_strv_add(&a, "-chardev");
	addf(&a, "socket,id=con,fd=%d", s->console_fd);
	rls_strv_add(&a, "-serial");
	rls_strv_add(&a, "chardev:con");

	rls_strv_add(&a, "-device");
	rls_strv_add(&a, "virtio-serial-device");
	rls_strv_add(&a, "-chardev");
	addf(&a, "socket,id=ctl,fd=%d", s->ctl_fd);
	rls_strv_add(&a, "-device");
	rls_strv_add(&a, "virtserialport,chardev=ctl,name=" "org.rls.guest.0");

	for (size_t i = 0; i < s->n_shares; i++) {
		const qemu_share *sh = &s->shares[i];

		if (s->virtiofs) {
			rls_strv_add(&a, "-chardev");
			addf(&a, "socket,id=fs%zu,fd=%d", i, sh->vhost_fd);
			rls_strv_add(&a, "-device");
			addf(&a, "vhost-user-fs-device,chardev=fs%zu,tag=%s", i, sh->tag);
		} else {
			_cleanup_free_ char *path = opt_escape(sh->path);

			rls_strv_add(&a, "-fsdev");
			addf(&a, "local,id=fs%zu,path=%s,security_model=%s,multidevs=remap%s", i, path,
			     s->ninep_passthrough ? "passthrough" : "none", sh->read_only ? ",readonly=on" : "");
			rls_strv_add(&a, "-device");
			addf(&a, "virtio-9p-device,fsdev=fs%zu,mount_tag=%s", i, sh->tag);
		}
	}
	if (s->net) {
		rls_strv_add(&a, "-netdev");
		rls_strv_add(&a, "user,id=net0");
		rls_strv_add(&a, "-device");
		rls_strv_add(&a, "virtio-net-device,netdev=net0");
	}
	return a.v;
}

void qemu_argv_free(char **argv)
{
	rls_strv_free(argv);
}
