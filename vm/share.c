/* share.c - what the guest sees of the host: the shared folder, and a
 * read-only view of the host's system folders.
 *
 * The system view is staged in a mount namespace of the process that
 * serves it (virtiofsd, or qemu for 9p), never in the host's: a tmpfs
 * holding /usr, /etc, ... bound read-only, the host's /bin -> usr/bin
 * symlinks copied, and masks over the files no command may read and the
 * paths the caller hides (the source tree, the delta).  Read-only is the
 * host's doing, not the guest's: a guest kernel that ignored its own
 * read-only mount still meets EROFS here.  Exporting / would have been
 * simpler, and would have shown the guest every home directory and the
 * source tree behind rlsfs's back.
 *
 * virtiofsd gets a listening socket we made and connected to at once:
 * its name is unlinked before qemu starts, and the connected end goes to
 * qemu as an fd.  No one else can reach either.
 */
#include "vmint.h"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

/* As the bubblewrap backend binds them (launcher/sandbox-bwrap.c). */
static const char *const system_dirs[] = {
	"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc", "/opt", NULL,
};

/* Never readable in the guest, whoever the command is. */
static const char *const masked_files[] = {
	"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-",
	"/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ecdsa_key",
	"/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_dsa_key", NULL,
};

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
struct mount_attr {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

static bool path_is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

static int write_proc(const char *path, const char *text, rls_error *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || rls_write_all(fd, text, strlen(text)) < 0)
		return rls_error_set(err, errno, "%s", path);
	return 0;
}

/* A mount namespace of our own; as a non-root user, inside a user
 * namespace where we are ourselves, which is what makes it possible. */
static int own_mount_ns(rls_error *err)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];

	if (uid == 0) {
		if (unshare(CLONE_NEWNS) < 0)
			return rls_error_set(err, errno, "unshare(CLONE_NEWNS)");
	} else {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			return rls_error_set(err, errno, "a user namespace for the system share");
		snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
		if (write_proc("/proc/self/setgroups", "deny", err) < 0 ||
		    write_proc("/proc/self/uid_map", map, err) < 0)
			return -1;
		snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
		if (write_proc("/proc/self/gid_map", map, err) < 0)
			return -1;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return rls_error_set(err, errno, "making mounts private");
	return 0;
}

/* dst and every mount under it: read-only, nosuid, nodev. */
static int make_read_only(const char *dst, rls_error *err)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };

#ifdef SYS_mount_setattr
	if (syscall(SYS_mount_setattr, AT_FDCWD, dst, AT_RECURSIVE, &attr, sizeof attr) == 0)
		return 0;
	if (errno != ENOSYS)
		return rls_error_set(err, errno, "making %s read-only", dst);
#endif
	(void)attr;
	/* older kernels: the top mount only (a bind without its submounts) */
	if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return rls_error_set(err, errno, "making %s read-only", dst);
	return 0;
}

static int mask(const char *stage, const char *host_path, rls_error *err)
{
	char canon[PATH_MAX];
	struct stat st;
	_cleanup_free_ char *dst = NULL, *empty = NULL;
	bool exported = false;

	if (!realpath(host_path, canon))
		return 0;	/* not there: nothing to show */
	for (const char *const *d = system_dirs; *d && !exported; d++) {
		struct stat dst_st;

		exported = lstat(*d, &dst_st) == 0 && S_ISDIR(dst_st.st_mode) && path_is_under(canon, *d);
	}
	if (!exported)
		return 0;
	dst = rls_xasprintf("%s%s", stage, canon);
	if (lstat(dst, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", dst, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0755") < 0)
			return rls_error_set(err, errno, "hiding %s", canon);
		return 0;
	}
	empty = rls_xasprintf("%s/.rls-empty", stage);
	if (mount(empty, dst, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return rls_error_set(err, errno, "hiding %s", canon);
	return 0;
}

int share_stage_system(const char *stage, const char *const *hide, rls_error *err)
{
	_cleanup_free_ char *empty = NULL;
	int efd;

	if (own_mount_ns(err) < 0)
		return -1;
	if (mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755") < 0)
		return rls_error_set(err, errno, "a tmpfs on %s", stage);
	/* what masked files show: nothing */
	empty = rls_xasprintf("%s/.rls-empty", stage);
	efd = open(empty, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (efd < 0)
		return rls_error_set(err, errno, "%s", empty);
	/* open for writing, it would keep the tmpfs from going read-only */
	close(efd);
	for (const char *const *d = system_dirs; *d; d++) {
		_cleanup_free_ char *dst = rls_xasprintf("%s%s", stage, *d);
		char target[PATH_MAX];
		struct stat st;
		ssize_t n;

		if (lstat(*d, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			n = readlink(*d, target, sizeof target - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			if (symlink(target, dst) < 0)
				return rls_error_set(err, errno, "symlink %s", dst);
			continue;
		}
		if (!S_ISDIR(st.st_mode))
			continue;
		if (mkdir(dst, 0755) < 0)
			return rls_error_set(err, errno, "mkdir %s", dst);
		if (mount(*d, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
			return rls_error_set(err, errno, "binding %s", *d);
		if (make_read_only(dst, err) < 0)
			return -1;
	}
	for (const char *const *f = masked_files; *f; f++)
		if (mask(stage, *f, err) < 0)
			return -1;
	for (const char *const *h = hide; h && *h; h++)
		if (mask(stage, *h, err) < 0)
			return -1;
	if (mount(NULL, stage, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return rls_error_set(err, errno, "making %s read-only", stage);
	return 0;
}

typedef struct stage_job {
	const char *stage;
	const char *const *hide;
} stage_job;

static int stage_prepare(void *opaque, rls_error *err)
{
	stage_job *job = opaque;

	return share_stage_system(job->stage, job->hide, err);
}

int share_virtiofsd(const char *tmpdir, const char *name, const char *source, bool system,
		    const char *const *hide, int log_fd, share_server *srv, rls_error *err)
{
	const char *virtiofsd = image_virtiofsd();
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int lfd = -1, cfd = -1;
	_cleanup_free_ char *sock = rls_xasprintf("%s/%s.sock", tmpdir, name);
	_cleanup_free_ char *src_opt = NULL, *fd_opt = NULL;
	stage_job job = { .stage = source, .hide = hide };
	spawn_opts o = { .stdout_fd = log_fd, .stderr_fd = log_fd };

	srv->pid = 0;
	srv->qemu_fd = -1;
	if (!virtiofsd)
		return rls_error_set(err, 0, "virtiofsd is not installed (Debian: qemu-system-common); 9p needs none");
	if (strlen(sock) >= sizeof sa.sun_path)
		return rls_error_set(err, ENAMETOOLONG, "%s", sock);
	strcpy(sa.sun_path, sock);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || cfd < 0)
		return rls_error_set(err, errno, "socket");
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1) < 0 ||
	    connect(cfd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		unlink(sock);
		return rls_error_set(err, errno, "virtiofsd's socket %s", sock);
	}
	unlink(sock);

	src_opt = rls_xasprintf("source=%s", source);
	fd_opt = rls_xasprintf("--fd=%d", lfd);
	{
		char *argv[] = {
			(char *)virtiofsd, fd_opt, "-o", src_opt,
			/* the system folders do not change under the guest */
			"-o", system ? "cache=always" : "cache=auto",
			"-o", "sandbox=namespace", "-o", "log_level=warn",
			"-o", "no_posix_lock", "-o", "no_flock",
			/* it would raise RLIMIT_NOFILE past what root may here */
			"--rlimit-nofile=0", NULL,
		};

		o.keep[o.n_keep++] = lfd;
		if (system) {
			o.prepare = stage_prepare;
			o.opaque = &job;
		}
		srv->pid = spawn_child(argv, &o, err);
		if (srv->pid < 0) {
			srv->pid = 0;
			return rls_error_prefix(err, "virtiofsd");
		}
	}
	srv->qemu_fd = steal_fd(&cfd);
	return 0;
}
