/* image.c - the guest image (make image) and the qemu that boots it. */
#include "vmint.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

const char *image_host_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#else
	return "unknown";
#endif
}

static const struct {
	const char *arch, *qemu, *package;
} arches[] = {
	{ "amd64", "qemu-system-x86_64", "qemu-system-x86" },
	{ "arm64", "qemu-system-aarch64", "qemu-system-arm" },
};

const char *image_virtiofsd(void)
{
	static const char *const where[] = { "/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd",
					     "/usr/lib/virtiofsd", NULL };

	for (const char *const *w = where; *w; w++)
		if (access(*w, X_OK) == 0)
			return *w;
	return NULL;
}

static char *find_in_path(const char *name)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = rls_xstrdup(path && *path ? path : "/usr/bin:/bin");
	char *save = NULL;

	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *p = rls_xasprintf("%s/%s", dir, name);

		if (dir[0] == '/' && access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

/* The folder the image is looked for in when the caller names none. */
static char *default_dir(void)
{
	const char *env = getenv("RLS_IMAGE_DIR");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env)
		return rls_xstrdup(env);
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		char *near;

		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		near = rls_xasprintf("%s/image", self);
		if (access(near, F_OK) == 0)
			return near;
		free(near);
	}
	return rls_xstrdup(RLS_LIBEXECDIR "/image");
}

int image_find(const char *req_dir, vm_image *img, rls_error *err)
{
	_cleanup_free_ char *arch_file = NULL, *text = NULL;
	size_t len;
	rls_error ignored;

	memset(img, 0, sizeof *img);
	img->dir = req_dir ? rls_xstrdup(req_dir) : default_dir();
	img->kernel = rls_xasprintf("%s/kernel", img->dir);
	img->initrd = rls_xasprintf("%s/initramfs.img", img->dir);
	arch_file = rls_xasprintf("%s/arch", img->dir);
	if (access(img->kernel, R_OK) < 0 || access(img->initrd, R_OK) < 0 ||
	    rls_read_file(AT_FDCWD, arch_file, 64, &text, &len, &ignored) < 0)
		return rls_error_set(err, 0, "no guest image in %s (kernel, initramfs.img, arch): build it with `make image`",
				     img->dir);
	text[strcspn(text, "\n")] = '\0';
	for (size_t i = 0; i < RLS_ARRAY_SIZE(arches); i++) {
		if (strcmp(text, arches[i].arch))
			continue;
		snprintf(img->arch, sizeof img->arch, "%s", arches[i].arch);
		img->native = !strcmp(img->arch, image_host_arch());
		img->qemu = find_in_path(arches[i].qemu);
		if (!img->qemu)
			return rls_error_set(err, 0, "%s is not installed (Debian: %s; `make deps`)", arches[i].qemu,
					     arches[i].package);
		return 0;
	}
	return rls_error_set(err, 0, "%s: an architecture this rls cannot boot", arch_file);
}

void image_free(vm_image *img)
{
	free(img->dir);
	free(img->kernel);
	free(img->initrd);
	free(img->qemu);
	memset(img, 0, sizeof *img);
}
