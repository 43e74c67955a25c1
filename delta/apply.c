/* apply.c - doing a commit's ops to the source: deletions, folders, files
 * moved or copied into place in batches behind one syncfs, attributes; and
 * the progress marks that let a recovery pick up where a crash left off
 * (see the crash model in commit.c). */
#include "commit-int.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

void delta_run_step(struct delta_run *r)
{
	r->steps++;
	if (r->crash_after > 0 && r->steps == r->crash_after)
		_exit(137);
}

/* ---- executing ops ---------------------------------------------------- */

/* Open a directory below the source root without following symlinks, so a
 * directory swapped for a symlink cannot send writes outside the tree. */
static int open_beneath(int root, const char *dir)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, root, dir, &how, sizeof how);

	if (fd < 0 && errno == ENOSYS)
		fd = openat(root, dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd;
}

static void cache_drop(struct delta_run *r)
{
	free(r->cache_dir);
	r->cache_dir = NULL;
	if (r->cache_fd >= 0 && !r->cache_pinned)
		close(r->cache_fd);
	r->cache_fd = -1;
	r->cache_pinned = false;
	r->cache_dev_known = false;
}

/* The batch uses directory fd `dirfd`: keep the cached one open until the
 * batch is flushed, whatever the cache does meanwhile. */
static void cache_pin(struct delta_run *r, int dirfd)
{
	if (dirfd != r->cache_fd || r->cache_pinned)
		return;
	if (r->n_dirs == r->cap_dirs) {
		r->cap_dirs = r->cap_dirs ? 2 * r->cap_dirs : 16;
		r->dirs = rls_xrealloc(r->dirs, r->cap_dirs * sizeof *r->dirs);
	}
	r->dirs[r->n_dirs++] = dirfd;
	r->cache_pinned = true;
}

/* Close the batch's directories; the cached one goes back to the cache. */
static void release_dirs(struct delta_run *r)
{
	for (size_t i = 0; i < r->n_dirs; i++)
		if (r->dirs[i] != r->cache_fd)
			close(r->dirs[i]);
	r->n_dirs = 0;
	r->cache_pinned = false;
}

/* The parent directory of merged path `path` (borrowed fd) and the last
 * component.  With `make`, missing parents are created: the source lost a
 * directory the delta writes into, and the delta wins. */
static int parent_of(struct delta_run *r, const char *path, bool make, const char **name, rls_error *err)
{
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *dir = NULL;
	int fd;

	*name = slash + 1;
	if (slash == path)
		return r->src_fd;
	dir = rls_xstrndup(path + 1, (size_t)(slash - path - 1));
	if (r->cache_dir && !strcmp(r->cache_dir, dir))
		return r->cache_fd;
	fd = open_beneath(r->src_fd, dir);
	if (fd < 0 && errno == ENOENT && make) {
		for (char *p = dir; ; p++) {
			if (*p == '/' || *p == '\0') {
				char c = *p;

				*p = '\0';
				if (mkdirat(r->src_fd, dir, 0755) < 0 && errno != EEXIST)
					return rls_error_set(err, errno, "mkdir %s/%s", r->d->source, dir);
				*p = c;
				if (!c)
					break;
			}
		}
		r->late_conflicts++;
		delta_path_list_add(&r->conflicts, path);
		fd = open_beneath(r->src_fd, dir);
	}
	if (fd < 0)
		return rls_error_set(err, errno, "%s/%s", r->d->source, dir);	/* err->code tells */
	cache_drop(r);
	r->cache_dir = steal_pointer(&dir);
	r->cache_fd = fd;
	return fd;
}

/* st_dev of a directory parent_of returned. */
static int dir_dev(struct delta_run *r, int dirfd, uint64_t *dev, rls_error *err)
{
	struct stat st;

	if (dirfd == r->src_fd) {
		*dev = r->src_dev;
		return 0;
	}
	if (dirfd == r->cache_fd && r->cache_dev_known) {
		*dev = r->cache_dev;
		return 0;
	}
	if (fstat(dirfd, &st) < 0)
		return rls_error_set(err, errno, "stat %s/%s", r->d->source, r->cache_dir ? r->cache_dir : "");
	*dev = st.st_dev;
	if (dirfd == r->cache_fd) {
		r->cache_dev = *dev;
		r->cache_dev_known = true;
	}
	return 0;
}

/* The temporary name of op i in its target directory: 64 random bits
 * drawn for the op when the commit was planned, kept in the journal so
 * that a recovery finds what a crash left.  Nobody else can know the name
 * before the commit makes it, and it is made only by calls that never
 * follow or open what is already there (O_CREAT|O_EXCL|O_NOFOLLOW, mknod,
 * symlink, link).  Journals written before version 3 named the file after
 * the commit's nonce and the op's index. */
static void tmp_name(const struct delta_run *r, size_t i, char buf[48])
{
	if (r->ops[i].tmp)
		snprintf(buf, 48, ".rls-commit.%016llx", (unsigned long long)r->ops[i].tmp);
	else
		snprintf(buf, 48, ".rls-commit.%016llx.%zx", (unsigned long long)r->j.nonce, i);
}

/* Make dirfd/name a new empty file open for writing.  Something already
 * there is what a crash left or something planted: it is unlinked (which
 * touches only the name) and the file made again, once. */
static int create_tmp(int dirfd, const char *name)
{
	for (int tries = 0;; tries++) {
		int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd >= 0 || errno != EEXIST || tries == 1)
			return fd;
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return -1;
	}
}

/* Give dirfd/name (with AT_EMPTY_PATH in flags, dirfd itself) op o's
 * owner, as root, when it has another: what an entry holds (the source's
 * owner, a set-group-id folder's group, the ids of whoever made a data
 * file) says nothing of the committer's own ids, so only what is there
 * tells whether a chown is due. */
static void set_owner_at(struct delta_run *r, int dirfd, const char *name, int flags, const struct delta_op *o)
{
	struct stat st;

	if (!r->root)
		return;
	flags |= AT_SYMLINK_NOFOLLOW;
	if (fstatat(dirfd, name, &st, flags) == 0 && st.st_uid == o->uid && st.st_gid == o->gid)
		return;
	(void)!fchownat(dirfd, name, o->uid, o->gid, flags);
}

/* Give the file open as fd op o's owner, mode and times. */
static void set_attrs_fd(struct delta_run *r, int fd, const struct delta_op *o)
{
	struct timespec ts[2] = { delta_ns_ts(o->atime_ns), delta_ns_ts(o->mtime_ns) };

	set_owner_at(r, fd, "", AT_EMPTY_PATH, o);
	(void)!fchmod(fd, o->mode & 07777);
	futimens(fd, ts);
}

/* Give the entry dirfd/name op o's owner, mode (not for a symlink) and
 * times, when it is of type `type`: through an O_PATH descriptor of what
 * is really there, so that nothing put in its place since (a symlink, or a
 * hard link to a file elsewhere) is changed.  1 when the entry is not of
 * that type (nothing is changed), 0 when done, -1 when it is gone. */
static int set_attrs_at(struct delta_run *r, int dirfd, const char *name, const struct delta_op *o, mode_t type)
{
	struct timespec ts[2] = { delta_ns_ts(o->atime_ns), delta_ns_ts(o->mtime_ns) };
	_cleanup_close_ int pfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	char proc[32];
	struct stat st;

	if (pfd < 0 || fstat(pfd, &st) < 0)
		return -1;
	if ((st.st_mode & S_IFMT) != type)
		return 1;
	if (r->root && (st.st_uid != o->uid || st.st_gid != o->gid))
		(void)!fchownat(pfd, "", o->uid, o->gid, AT_EMPTY_PATH);
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
	if (!S_ISLNK(type))
		(void)!chmod(proc, o->mode & 07777);
	if (utimensat(pfd, "", ts, AT_EMPTY_PATH) < 0 && errno == EINVAL && !S_ISLNK(type))
		utimensat(AT_FDCWD, proc, ts, 0);	/* kernels before 5.8 */
	return 0;
}

/* Make room at dirfd/name for a non-directory: an empty directory there
 * goes (its deletions already ran); a non-empty one is kept, a conflict. */
static int clear_dir_at(struct delta_run *r, int dirfd, const char *name, const char *path, bool *kept, rls_error *err)
{
	struct stat st;

	*kept = false;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0)
		return 0;
	if (errno == ENOTEMPTY || errno == EEXIST) {
		*kept = true;
		r->late_conflicts++;
		delta_path_list_add(&r->conflicts, path);
		return 0;
	}
	return rls_error_set(err, errno, "rmdir %s%s", r->d->source, path);
}

/* Rename the non-directory from_fd/from over dirfd/name.  The rename is
 * tried first: only when a directory is in the way does clear_dir_at look
 * at it.  *kept: that directory stays, and `from` is still the caller's. */
static int rename_over(struct delta_run *r, int from_fd, const char *from, int dirfd, const char *name, const char *path,
		       bool *kept, rls_error *err)
{
	*kept = false;
	if (renameat(from_fd, from, dirfd, name) == 0)
		return 0;
	if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST) {
		if (clear_dir_at(r, dirfd, name, path, kept, err) < 0)
			return -1;
		if (*kept || renameat(from_fd, from, dirfd, name) == 0)
			return 0;
	}
	return rls_error_set(err, errno, "rename into %s%s", r->d->source, path);
}

/* Rename a temporary file into place; it is gone afterwards either way. */
static int rename_into_place(struct delta_run *r, int dirfd, const char *tmp, const char *name, const char *path, rls_error *err)
{
	bool kept;
	int rc = rename_over(r, dirfd, tmp, dirfd, name, path, &kept, err);

	if (rc < 0 || kept)
		unlinkat(dirfd, tmp, 0);
	return rc;
}

static int sync_source(struct delta_run *r, rls_error *err)
{
	if (syncfs(r->src_fd) < 0)
		return rls_error_set(err, errno, "sync %s", r->d->source);
	return 0;
}

/* Write a copy of op i's data file to `tmp` in dirfd with the op's
 * attributes; returns its fd (the caller closes it). */
static int copy_to_tmp(struct delta_run *r, size_t i, int dirfd, const char *tmp, rls_error *err)
{
	const struct delta_op *o = &r->ops[i];
	_cleanup_close_ int data = -1, fd = -1;

	data = delta_data_open(r->d, o->id, O_RDONLY, err);
	if (data < 0)
		return rls_error_prefix(err, "%s", o->path);
	fd = create_tmp(dirfd, tmp);
	if (fd < 0)
		return rls_error_set(err, errno, "create %s%s", r->d->source, o->path);
	if (delta_copy_data(data, fd, err) < 0) {
		unlinkat(dirfd, tmp, 0);
		return rls_error_prefix(err, "write %s%s", r->d->source, o->path);
	}
	set_attrs_fd(r, fd, o);
	return steal_fd(&fd);
}

/* The data file of a move is gone: an earlier run renamed it into place.
 * The target is normally still that file (the identity the journal holds);
 * if it is not, someone replaced it since, and their version stays. */
static void moved_before(struct delta_run *r, const struct delta_op *o, int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (uint64_t)st.st_dev == o->data_dev &&
	    (uint64_t)st.st_ino == o->data_ino)
		return;
	r->late_conflicts++;
	delta_path_list_add(&r->conflicts, o->path);
}

static bool data_gone(struct delta_run *r, const struct delta_op *o)
{
	char dname[17];
	struct stat st;

	delta_data_name(o->id, dname);
	return fstatat(r->d->data_fd, dname, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
}

/* Make op o's data file ready to be renamed to dirfd/name: give it the
 * file's owner, mode and times.  *move is false when the target directory
 * is on another filesystem (the file is copied instead).  Returns 1 when
 * an earlier run already moved it. */
static int prepare_move(struct delta_run *r, const struct delta_op *o, int dirfd, const char *name, bool *move, rls_error *err)
{
	struct timespec ts[2] = { delta_ns_ts(o->atime_ns), delta_ns_ts(o->mtime_ns) };
	int data_fd = r->d->data_fd;
	char dname[17];
	uint64_t dev = 0;

	*move = false;
	if (dir_dev(r, dirfd, &dev, err) < 0)
		return -1;
	if (dev != o->data_dev || (r->have_exdev && dev == r->exdev_dev))
		return 0;
	delta_data_name(o->id, dname);
	set_owner_at(r, data_fd, dname, 0, o);
	if (fchmodat(data_fd, dname, o->mode & 07777, 0) < 0 && errno == ENOENT) {
		moved_before(r, o, dirfd, name);
		return 1;
	}
	if (!(o->flags & DELTA_OPF_TIMES))
		utimensat(data_fd, dname, ts, AT_SYMLINK_NOFOLLOW);
	*move = true;
	return 0;
}

/* Make dirfd/tmp a hard link to `first`, an inode's name applied before
 * (a flush ran since, for a file): reached beneath the root without
 * following symlinks (not through parent_of: its one cached descriptor is
 * dirfd).  False when it cannot be. */
static bool link_first(struct delta_run *r, const char *first, int dirfd, const char *tmp)
{
	const char *slash = strrchr(first, '/');
	_cleanup_free_ char *tdir = slash != first ? rls_xstrndup(first + 1, (size_t)(slash - first - 1)) : NULL;
	_cleanup_close_ int tfd = tdir ? open_beneath(r->src_fd, tdir) : -1;

	unlinkat(dirfd, tmp, 0);
	return (!tdir || tfd >= 0) && linkat(tdir ? tfd : r->src_fd, slash + 1, dirfd, tmp, 0) == 0;
}

/* Is dirfd/name what op o (a symlink or special file) would make? */
static bool is_special_of(const struct delta_op *o, int dirfd, const char *name)
{
	struct stat st;
	char buf[DELTA_PATH_MAX];
	ssize_t n;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if (o->kind == DELTA_OP_NODE)
		return (st.st_mode & S_IFMT) == (o->mode & S_IFMT) &&
		       (!(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) || (uint64_t)st.st_rdev == o->rdev);
	if (!S_ISLNK(st.st_mode) || (n = readlinkat(dirfd, name, buf, sizeof buf)) < 0 || (size_t)n == sizeof buf)
		return false;
	return (size_t)n == strlen(o->target ? o->target : "") && !memcmp(buf, o->target ? o->target : "", (size_t)n);
}

static int stage_file(struct delta_run *r, size_t i, rls_error *err)
{
	const struct delta_op *o = &r->ops[i];
	const char *name;
	bool move = false;
	int dirfd = parent_of(r, o->path, true, &name, err);

	if (dirfd < 0)
		return -1;
	if (o->flags & DELTA_OPF_MOVE) {
		int rc = prepare_move(r, o, dirfd, name, &move, err);

		if (rc != 0)
			return rc < 0 ? -1 : 0;
	}
	if (!move) {
		char tmp[48];
		bool linked = false;
		int fd;

		tmp_name(r, i, tmp);
		if (o->kind == DELTA_OP_LINK)
			linked = link_first(r, o->target, dirfd, tmp);
		if (!linked && (o->flags & DELTA_OPF_MOVE) && data_gone(r, o)) {
			/* Moved by an earlier run into a directory since
			 * replaced by one on another filesystem. */
			moved_before(r, o, dirfd, name);
			return 0;
		}
		if (!linked) {
			fd = copy_to_tmp(r, i, dirfd, tmp, err);
			if (fd < 0)
				return -1;
			close(fd);
		}
	}
	cache_pin(r, dirfd);
	if (r->n_batch % 64 == 0)
		r->batch = rls_xrealloc(r->batch, (r->n_batch + 64) * sizeof *r->batch);
	struct staged *s = &r->batch[r->n_batch++];
	s->dir_fd = dirfd;
	s->move = move;
	s->name = (char *)name;	/* points into r->ops[i].path */
	s->op = i;
	if (!move)
		r->batch_bytes += o->size;
	return 0;
}

/* A move the kernel refused (EXDEV: another mount of the filesystem):
 * copy now, durably, since the batch's sync has already run. */
static int copy_now(struct delta_run *r, const struct staged *s, rls_error *err)
{
	const struct delta_op *o = &r->ops[s->op];
	_cleanup_close_ int fd = -1;
	char tmp[48];

	r->have_exdev = true;
	r->exdev_dev = o->data_dev;
	tmp_name(r, s->op, tmp);
	fd = copy_to_tmp(r, s->op, s->dir_fd, tmp, err);
	if (fd < 0)
		return -1;
	if (fsync(fd) < 0) {
		int e = errno;

		unlinkat(s->dir_fd, tmp, 0);
		return rls_error_set(err, e, "fsync %s%s", r->d->source, o->path);
	}
	return rename_into_place(r, s->dir_fd, tmp, s->name, o->path, err);
}

/* Rename one staged file into place: a data file (move) or a copy. */
static int place(struct delta_run *r, const struct staged *s, rls_error *err)
{
	const struct delta_op *o = &r->ops[s->op];
	char from[48];
	bool kept;

	if (!s->move) {
		tmp_name(r, s->op, from);
		return rename_into_place(r, s->dir_fd, from, s->name, o->path, err);
	}
	delta_data_name(o->id, from);
	if (rename_over(r, r->d->data_fd, from, s->dir_fd, s->name, o->path, &kept, err) == 0)
		return 0;	/* a kept directory leaves the data file to the cleanup */
	if (err->code != EXDEV)
		return -1;
	return copy_now(r, s, err);
}

/* Make the staged files durable, rename them into place, make the renames
 * durable and record the progress. */
static int flush(struct delta_run *r, size_t next_op, rls_error *err)
{
	int ret = 0;

	if (r->n_batch) {
		ret = sync_source(r, err);
		for (size_t i = 0; i < r->n_batch; i++) {
			struct staged *s = &r->batch[i];

			if (ret == 0) {
				ret = place(r, s, err);
				if (ret == 0)
					delta_run_step(r);
			} else if (!s->move) {
				char tmp[48];

				tmp_name(r, s->op, tmp);
				unlinkat(s->dir_fd, tmp, 0);
			}
		}
		r->n_batch = 0;
		r->batch_bytes = 0;
		release_dirs(r);
		if (ret < 0)
			return -1;
	}
	if (next_op > r->j.done) {
		if (sync_source(r, err) < 0)
			return -1;
		r->j.done = (uint32_t)next_op;
		if (delta_journal_mark(r, err) < 0)
			return -1;
	}
	return 0;
}

static int do_del(struct delta_run *r, const struct delta_op *o, rls_error *err)
{
	const char *name;
	struct stat st;
	int dirfd = parent_of(r, o->path, false, &name, err);

	if (dirfd < 0)
		return err->code == ENOENT || err->code == ENOTDIR ? 0 : -1;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (unlinkat(dirfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) == 0 || errno == ENOENT)
		return 0;
	if (S_ISDIR(st.st_mode) && (errno == ENOTEMPTY || errno == EEXIST)) {
		/* Content the delta does not name appeared: keep it. */
		r->late_conflicts++;
		delta_path_list_add(&r->conflicts, o->path);
		return 0;
	}
	return rls_error_set(err, errno, "remove %s%s", r->d->source, o->path);
}

static int do_mkdir(struct delta_run *r, const struct delta_op *o, rls_error *err)
{
	const char *name;
	struct stat st;
	int dirfd = parent_of(r, o->path, true, &name, err);

	if (dirfd < 0)
		return -1;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return rls_error_set(err, errno, "remove %s%s", r->d->source, o->path);
	}
	/* Owner-writable until its attributes are set, after its content. */
	if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return rls_error_set(err, errno, "mkdir %s%s", r->d->source, o->path);
	return 0;
}

static int do_special(struct delta_run *r, size_t i, rls_error *err)
{
	const struct delta_op *o = &r->ops[i];
	const char *name;
	char tmp[48];
	int dirfd = parent_of(r, o->path, true, &name, err);

	if (dirfd < 0)
		return -1;
	tmp_name(r, i, tmp);
	/* Another name of the inode is in place: a link to it, unless what
	 * is there now is not what this op would make. */
	if (!o->link || !link_first(r, o->link, dirfd, tmp) || !is_special_of(o, dirfd, tmp)) {
		unlinkat(dirfd, tmp, 0);
		if (o->kind == DELTA_OP_SYMLINK) {
			if (symlinkat(o->target ? o->target : "", dirfd, tmp) < 0)
				return rls_error_set(err, errno, "symlink %s%s", r->d->source, o->path);
		} else if (mknodat(dirfd, tmp, (o->mode & S_IFMT) | 0600, (dev_t)o->rdev) < 0) {
			return rls_error_set(err, errno, "mknod %s%s", r->d->source, o->path);
		}
	}
	if (set_attrs_at(r, dirfd, tmp, o, o->kind == DELTA_OP_SYMLINK ? S_IFLNK : o->mode & S_IFMT) != 0)
		return rls_error_set(err, EEXIST, "%s%s: its temporary name was replaced while the commit made it",
				     r->d->source, o->path);
	return rename_into_place(r, dirfd, tmp, name, o->path, err);
}

static int do_dirattr(struct delta_run *r, const struct delta_op *o, rls_error *err)
{
	const char *name;
	int dirfd = parent_of(r, o->path, false, &name, err);

	if (dirfd < 0)
		return err->code == ENOENT || err->code == ENOTDIR ? 0 : -1;
	/* what is there now may be a symlink put in the folder's place */
	(void)set_attrs_at(r, dirfd, name, o, S_IFDIR);
	return 0;
}

static int delta_run_execute(struct delta_run *r, rls_error *err)
{
	for (size_t i = r->j.done; i < r->n_ops; i++) {
		const struct delta_op *o = &r->ops[i];
		int rc = 0;

		/* A hard link needs its first name in place; a directory's
		 * attributes must come after every rename in it; deletions and
		 * mkdirs invalidate the parent cache. */
		if ((o->kind == DELTA_OP_LINK || o->kind == DELTA_OP_DIRATTR) && r->n_batch && flush(r, i, err) < 0)
			return -1;
		if (o->kind != DELTA_OP_FILE)
			cache_drop(r);
		switch (o->kind) {
		case DELTA_OP_DEL: rc = do_del(r, o, err); break;
		case DELTA_OP_MKDIR: rc = do_mkdir(r, o, err); break;
		case DELTA_OP_FILE:
		case DELTA_OP_LINK: rc = stage_file(r, i, err); break;
		case DELTA_OP_SYMLINK:
		case DELTA_OP_NODE: rc = do_special(r, i, err); break;
		case DELTA_OP_DIRATTR: rc = do_dirattr(r, o, err); break;
		case DELTA_OP_HOLD: break;
		}
		if (rc < 0) {
			flush(r, i, &(rls_error){ 0 });
			return -1;
		}
		delta_run_step(r);
		if (r->n_batch >= r->batch_files || r->batch_bytes >= BATCH_BYTES)
			if (flush(r, i + 1, err) < 0)
				return -1;
	}
	if (flush(r, r->n_ops, err) < 0)
		return -1;
	cache_drop(r);
	return 0;
}

/* Remove staged files a crash left behind (named by the journal). */
void delta_run_sweep(struct delta_run *r)
{
	for (size_t i = 0; i < r->n_ops; i++) {
		const struct delta_op *o = &r->ops[i];
		const char *name;
		char tmp[48];
		rls_error ignore;
		int dirfd;

		if (o->kind != DELTA_OP_FILE && o->kind != DELTA_OP_LINK && o->kind != DELTA_OP_SYMLINK && o->kind != DELTA_OP_NODE)
			continue;
		dirfd = parent_of(r, o->path, false, &name, &ignore);
		if (dirfd < 0)
			continue;
		tmp_name(r, i, tmp);
		unlinkat(dirfd, tmp, 0);
	}
	cache_drop(r);
}

void delta_run_init(struct delta_run *r, delta *d, int src_fd)
{
	const char *crash = getenv("RLS_COMMIT_CRASH_AFTER");
	struct stat src, data;

	memset(r, 0, sizeof *r);
	r->d = d;
	r->src_fd = src_fd;
	r->cache_fd = -1;
	r->root = geteuid() == 0;
	if (fstat(src_fd, &src) == 0 && fstat(d->data_fd, &data) == 0) {
		r->src_dev = src.st_dev;
		r->data_other_fs = src.st_dev != data.st_dev;
	} else {
		r->data_other_fs = true;	/* copy, to be sure */
	}
	r->crash_after = crash ? strtol(crash, NULL, 10) : 0;
	/* Test hook: small batches let crash tests land between them. */
	r->batch_files = getenv("RLS_COMMIT_BATCH") ? strtoul(getenv("RLS_COMMIT_BATCH"), NULL, 10) : 0;
	if (!r->batch_files)
		r->batch_files = BATCH_FILES;
}

void delta_run_free(struct delta_run *r)
{
	cache_drop(r);
	release_dirs(r);
	free(r->dirs);
	free(r->batch);
	delta_free_ops(r->ops, r->n_ops);
	delta_path_list_free(&r->conflicts);
	delta_path_list_free(&r->setid);
}

/* Apply the ops from the journal's progress mark on, then empty the delta
 * and drop the journal. */
int delta_run_finish(struct delta_run *r, rls_error *err)
{
	if (r->j.phase == 1) {
		if (delta_run_execute(r, err) < 0)
			return -1;
		if (delta_journal_finish(r->d, true, &r->j, r->ops, r->n_ops, err) < 0)
			return -1;
		delta_run_step(r);
	}
	if (delta_clear_data(r->d, err) < 0)
		return -1;
	delta_run_step(r);
	return delta_journal_finish(r->d, false, &r->j, r->ops, r->n_ops, err);
}
