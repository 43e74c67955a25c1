/* identity.c - who the command runs as on the host.
 *
 * The command never holds the host's uid 0 or gid 0, whoever runs rls.
 * A user namespace does not make uid 0 safe: the kernel checks some
 * things by uid alone (the 0644 sysctls under /proc/sys, files owned by
 * root on any file system the sandbox reaches), so a command whose uid is
 * the host's root can, for one, set a core pattern that makes the kernel
 * run a program as root.  A root caller's command therefore runs as an
 * unprivileged host identity, and rlsfs shows it the tree's owner's
 * files as its own (rlsfs --map-owner), so that ownership inside looks as
 * it does to the owner and what it makes is committed as the owner's.
 */
#include "launcher.h"
#include "run.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <pwd.h>
#include <sys/mount.h>
#include <sys/stat.h>

#define NOBODY_ID 65534

static int parse_id(const char *s, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || *end || *out >= (uid_t)-1 ? -1 : 0;
}

/* USER[:GROUP], names or numbers.  A user without a group takes the
 * user's primary group, or for a number with no account the same number. */
static int parse_user(const char *spec, uid_t *uid, gid_t *gid, rls_error *err)
{
	_cleanup_free_ char *user = rls_xstrndup(spec, strcspn(spec, ":"));
	const char *group = strchr(spec, ':');
	unsigned long v;
	struct passwd *pw = NULL;

	if (!*user)
		return rls_error_set(err, 0, "--user wants USER[:GROUP], not '%s'", spec);
	if (parse_id(user, &v) == 0) {
		*uid = (uid_t)v;
		pw = getpwuid(*uid);
		*gid = pw ? pw->pw_gid : (gid_t)v;
	} else if ((pw = getpwnam(user))) {
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	} else {
		return rls_error_set(err, 0, "--user: no user '%s' on this system", user);
	}
	if (group) {
		struct group *gr;

		group++;
		if (parse_id(group, &v) == 0)
			*gid = (gid_t)v;
		else if ((gr = getgrnam(group)))
			*gid = gr->gr_gid;
		else
			return rls_error_set(err, 0, "--user: no group '%s' on this system", group);
	}
	return 0;
}

int identity_resolve(const char *spec, const char *source, run_identity *id, rls_error *err)
{
	struct stat st;

	memset(id, 0, sizeof *id);
	if (stat(source, &st) < 0)
		return rls_error_set(err, errno, "source %s", source);
	if (geteuid() != 0) {
		id->uid = geteuid();
		id->gid = getegid();
		if (spec) {
			uid_t u;
			gid_t g;

			if (parse_user(spec, &u, &g, err) < 0)
				return -1;
			if (u != id->uid || g != id->gid)
				return rls_error_set(err, 0, "--user: only root can run the command as "
					     "someone else (you are uid %u, gid %u)", (unsigned)id->uid,
					     (unsigned)id->gid);
		}
		return 0;
	}

	id->change = true;
	if (spec) {
		if (parse_user(spec, &id->uid, &id->gid, err) < 0)
			return -1;
		if (id->uid == 0 || id->gid == 0)
			return rls_error_set(err, 0, "--user: the command never runs as root (uid 0 or "
					     "gid 0); name an unprivileged user");
	} else if (st.st_uid != 0) {
		struct passwd *pw = getpwuid(st.st_uid);

		id->uid = st.st_uid;
		id->gid = st.st_gid ? st.st_gid : pw && pw->pw_gid ? pw->pw_gid : NOBODY_ID;
	} else {
		id->uid = NOBODY_ID;
		id->gid = NOBODY_ID;
	}
	id->owner_uid = st.st_uid;
	id->owner_gid = st.st_gid;
	id->map_owner = id->uid != id->owner_uid || id->gid != id->owner_gid;
	return 0;
}

int identity_enter(const run_identity *id, rls_error *err)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (id->change) {
		if (setgroups(0, NULL) < 0)
			return rls_error_set(err, errno, "setgroups");
		if (setresgid(id->gid, id->gid, id->gid) < 0)
			return rls_error_set(err, errno, "setresgid %u", (unsigned)id->gid);
		if (setresuid(id->uid, id->uid, id->uid) < 0)
			return rls_error_set(err, errno, "setresuid %u", (unsigned)id->uid);
	}
	if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return rls_error_set(err, errno, "getresuid");
	if (!r || !e || !s || !rg || !eg || !sg)
		return rls_error_set(err, 0, "refusing to start the sandbox as the host's root "
				     "(uid %u, gid %u)", (unsigned)e, (unsigned)eg);
	{
		gid_t groups[64];
		int n = getgroups((int)RLS_ARRAY_SIZE(groups), groups);

		if (n < 0)
			return rls_error_set(err, errno, "getgroups");
		for (int i = 0; i < n; i++)
			if (groups[i] == 0)
				return rls_error_set(err, 0, "refusing to start the sandbox in the host's "
						     "group 0 (drop it, or run rls as root)");
	}
	return 0;
}

char *identity_map_owner_arg(const run_identity *id)
{
	if (!id->map_owner)
		return NULL;
	return rls_xasprintf("%u:%u=%u:%u", (unsigned)id->uid, (unsigned)id->gid, (unsigned)id->owner_uid,
			     (unsigned)id->owner_gid);
}

int identity_private_mounts(rls_error *err)
{
	if (unshare(CLONE_NEWNS) < 0)
		return rls_error_set(err, errno, "unshare(CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return rls_error_set(err, errno, "make / private");
	return 0;
}

typedef struct foreign_ctx {
	const char *keep;	/* the run's temp dir */
	size_t keep_len;
} foreign_ctx;

static int detach_foreign(const char *point, const char *fstype, const char *source, const char *opts,
			  void *opaque)
{
	const foreign_ctx *f = opaque;

	if (strcmp(fstype, "fuse.rlsfs") ||
	    (!strncmp(point, f->keep, f->keep_len) && (point[f->keep_len] == '/' || !point[f->keep_len])))
		return 0;
	(void)umount2(point, MNT_DETACH);
	return 0;
}

void identity_drop_foreign_mounts(const char *tmpdir)
{
	foreign_ctx f = { tmpdir, strlen(tmpdir) };

	(void)rls_mountinfo_each(detach_foreign, &f);
}

typedef struct keep_ctx {
	const char *const *trees;
	const char *const *points;
} keep_ctx;

static int detach_unused(const char *point, const char *fstype, const char *source, const char *opts,
			 void *opaque)
{
	const keep_ctx *k = opaque;

	for (const char *const *t = k->trees; *t; t++)
		if (run_path_within(point, *t) || run_path_within(*t, point))
			return 0;
	for (const char *const *p = k->points; *p; p++)
		if (run_path_within(*p, point))
			return 0;
	(void)umount2(point, MNT_DETACH);
	return 0;
}

void identity_keep_only_mounts(const char *const *trees, const char *const *points)
{
	keep_ctx k = { trees, points };

	(void)rls_mountinfo_each(detach_unused, &k);
}

int identity_bind_fd(int fd, const char *at, unsigned long flags)
{
	char from[64];

	snprintf(from, sizeof from, "/proc/self/fd/%d", fd);
	return mount(from, at, NULL, MS_BIND | flags, NULL);
}

int identity_stage_tmpdir(const char *tmpdir, const char *mountpoint, int mnt_fd, const char *init_at,
			  int init_fd, rls_error *err)
{
	int fd;

	if (mount("rls", tmpdir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") < 0)
		return rls_error_set(err, errno, "tmpfs on %s", tmpdir);
	if (mkdir(mountpoint, 0755) < 0)
		return rls_error_set(err, errno, "mkdir %s", mountpoint);
	fd = open(init_at, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (fd < 0)
		return rls_error_set(err, errno, "%s", init_at);
	close(fd);
	if (identity_bind_fd(mnt_fd, mountpoint, 0) < 0)
		return rls_error_set(err, errno, "bind the rlsfs mount");
	if (identity_bind_fd(init_fd, init_at, 0) < 0)
		return rls_error_set(err, errno, "bind rls-init");
	return 0;
}
