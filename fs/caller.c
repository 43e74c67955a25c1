/* caller.c - what a caller of the mount may do beyond its own files.
 *
 * A process holding CAP_CHOWN may give files away, one holding CAP_FSETID
 * may make set-user-id and set-group-id files: on ext4, `tar xp` and
 * `cp -a` as root rely on both.  rlsfs grants them only to a caller that
 * holds the capability in rlsfs's own user namespace, as the kernel would
 * judge it there, and never when mounted with --ignore-caller-caps (as
 * `rls run` mounts: its sandbox never holds these capabilities, and the
 * mount says so again).
 *
 * Threat: a sandboxed process in a user namespace of its own holds every
 * capability there, and /proc shows them; they are worth nothing outside,
 * so the caller's user namespace must be rlsfs's.  The request names the
 * caller by thread id, which could be reused if the caller died while its
 * request was served: the thread's filesystem uid and gid, read from the
 * same /proc directory, must also be the request's.
 */
#include "internal.h"

#include <fcntl.h>
#include <sys/stat.h>

/* The user namespace rlsfs runs in, as (dev, ino) of /proc/self/ns/user;
 * false when it cannot be told (then no caller is capable). */
bool caller_init(rlsfs *fs)
{
	struct stat st;

	if (stat("/proc/self/ns/user", &st) < 0)
		return false;
	fs->userns_dev = st.st_dev;
	fs->userns_ino = st.st_ino;
	return true;
}

/* The value of the line "KEY:\t..." of /proc/PID/status text. */
static const char *status_field(const char *text, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, n) && p[n] == ':')
			return p + n + 1;
	return NULL;
}

bool caller_capable(rlsfs *fs, const struct fuse_ctx *ctx, int cap)
{
	char dir[32], text[4096];
	_cleanup_close_ int dfd = -1, fd = -1;
	unsigned long long eff;
	unsigned long ruid, euid, suid, fsuid, rgid, egid, sgid, fsgid;
	const char *f;
	struct stat st;
	ssize_t n;

	if (!fs->caller_caps || !fs->userns_ino || ctx->pid <= 0 || cap < 0 || cap > 63)
		return false;
	snprintf(dir, sizeof dir, "/proc/%d", (int)ctx->pid);
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fstatat(dfd, "ns/user", &st, 0) < 0 || st.st_dev != fs->userns_dev ||
	    st.st_ino != fs->userns_ino)
		return false;
	fd = openat(dfd, "status", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, text, sizeof text - 1)) <= 0)
		return false;
	text[n] = '\0';
	if (!(f = status_field(text, "Uid")) ||
	    sscanf(f, "%lu %lu %lu %lu", &ruid, &euid, &suid, &fsuid) != 4 || fsuid != ctx->uid)
		return false;
	if (!(f = status_field(text, "Gid")) ||
	    sscanf(f, "%lu %lu %lu %lu", &rgid, &egid, &sgid, &fsgid) != 4 || fsgid != ctx->gid)
		return false;
	if (!(f = status_field(text, "CapEff")) || sscanf(f, "%llx", &eff) != 1)
		return false;
	return (eff >> cap) & 1;
}
