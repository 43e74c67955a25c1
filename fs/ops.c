/* ops.c - the FUSE operations: the source and the delta joined, the policy
 * enforced on every one.
 *
 * What a path shows is decided afresh from the index and the source on each
 * operation; the only cached state is the kernel's (long entry and
 * attribute timeouts: while mounted, rlsfs is the tree's only writer) and a
 * node's policy level.  Source files are reached with openat2(2) beneath
 * the source root and RESOLVE_NO_SYMLINKS, so no symlink in the source, and
 * no race that swaps a directory for one, can lead outside it.
 */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <linux/xattr.h>
#include <time.h>

#define DELTA_INO_BIT (1ull << 62)

static rlsfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* ---- source access ---------------------------------------------------- */

/* rel beneath the source directory dfd, through no symlink */
static int src_openat(int dfd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dfd, rel, &how, sizeof how);

	return fd < 0 ? -errno : (int)fd;
}

static int src_open(rlsfs *fs, const char *path, int flags)
{
	return src_openat(fs->src_fd, path_rel(path), flags);
}

/* ---- what a path shows ------------------------------------------------ */

typedef struct entry {
	bool exists;
	bool upper;		/* the delta has the entry (not a whiteout) */
	bool whiteout;		/* the delta hides the source's entry */
	bool lower;		/* the source has an entry here, seen through the parents */
	bool merged;		/* a directory whose source entries show through */
	delta_node node;
	delta_inode di;		/* when upper and node.id */
	struct stat lst;	/* the source's entry, when lower */
	struct stat st;		/* what the kernel is told */
} entry;

static int err_code(const rls_error *err)
{
	return err->code > 0 ? err->code : EIO;
}

static void ts_set(struct timespec *ts, int64_t ns)
{
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts_ns(&ts);
}

/* The size and times of a regular file of the delta: its data file's,
 * whose fstat(2) is ds. */
static void entry_data_attr_from(entry *e, const struct stat *ds)
{
	struct stat *st = &e->st;

	st->st_size = ds->st_size;
	st->st_blocks = ds->st_blocks;
	st->st_atim = ds->st_atim;
	st->st_mtim = ds->st_mtim;
	/* A write changes the data file's ctime, a change of mode, owner or
	 * links only the record's: the later of the two is the file's. */
	if (ts_ns(&ds->st_ctim) > e->di.ctime_ns)
		st->st_ctim = ds->st_ctim;
}

static void entry_data_attr(rlsfs *fs, entry *e)
{
	char name[17];
	struct stat ds;

	delta_data_name(e->node.id, name);
	if (fstatat(delta_data_fd(fs->d), name, &ds, AT_SYMLINK_NOFOLLOW) == 0)
		entry_data_attr_from(e, &ds);
}

/* What the kernel is told of e, from the index and the source; with
 * `data`, a delta file's size and times from its data file too (without,
 * they are the record's: for an operation that replies with none).
 * Hidden entries must leave no trace: directories report one link and a
 * fixed size, so neither betrays how many entries they hold; source files
 * report one link, as the other names of a hard-linked file may be hidden. */
static void entry_attr_from(rlsfs *fs, entry *e, bool data)
{
	struct stat *st = &e->st;

	if (e->upper) {
		memset(st, 0, sizeof *st);
		/* the type is the node's: an inode record read from disk
		 * cannot make a file look like a folder */
		st->st_mode = delta_kind_type(e->node.kind) | (e->di.mode & 07777);
		st->st_uid = e->di.uid;
		st->st_gid = e->di.gid;
		st->st_nlink = e->di.nlink ? e->di.nlink : 1;
		st->st_rdev = e->di.rdev;
		st->st_size = (off_t)e->di.size;
		ts_set(&st->st_atim, e->di.atime_ns);
		ts_set(&st->st_mtim, e->di.mtime_ns);
		ts_set(&st->st_ctim, e->di.ctime_ns);
		/* An entry keeps its inode number when it is copied up:
		 * tar, find and git compare them. */
		st->st_ino = e->di.flags & DELTA_HAS_BASE ? e->di.base.ino :
			     e->lower ? e->lst.st_ino : e->node.id | DELTA_INO_BIT;
		if (e->node.kind == DELTA_FILE) {
			if (data)
				entry_data_attr(fs, e);
		} else if (e->node.kind == DELTA_SYMLINK) {
			st->st_size = (off_t)strlen(e->node.target);
		}
	} else {
		*st = e->lst;
		st->st_nlink = 1;
	}
	st->st_uid = idmap_uid(fs, st->st_uid);
	st->st_gid = idmap_gid(fs, st->st_gid);
	st->st_blksize = 4096;
	if (S_ISDIR(st->st_mode)) {
		st->st_nlink = 1;
		st->st_size = 4096;
		st->st_blocks = 8;
	}
}

static void entry_attr(rlsfs *fs, entry *e)
{
	entry_attr_from(fs, e, true);
}

/* The descriptor kept for directory node n, or -1 when none is yet. */
static int dir_fd_kept(rlsfs *fs, rnode *n)
{
	return n->parent ? atomic_load(&n->srcfd) : fs->src_fd;
}

/* The source directory of merged directory node n, as an O_PATH
 * descriptor borrowed for the length of the operation (the tree lock is
 * held).  Opened once with openat2 beneath the root, then kept: lookups in
 * the directory cost one fstatat(2) of a single name.  Merged directories
 * never move (renaming one is EXDEV), so the descriptor stays right. */
static int dir_fd(rlsfs *fs, rnode *n, const char *path)
{
	int fd = dir_fd_kept(fs, n), expected = -1;

	if (fd >= 0)
		return fd;
	fd = src_open(fs, path, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return fd;
	if (!atomic_compare_exchange_strong(&n->srcfd, &expected, fd)) {
		close(fd);
		return expected;
	}
	atomic_fetch_add(&fs->srcfds, 1);
	return fd;
}

/* The source directory holding path, whose directory is node `parent`
 * (not the root itself), as a descriptor borrowed like dir_fd's, and the
 * last name of path in *name. */
static int src_parent_fd(rlsfs *fs, rnode *parent, const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	char dirpath[PATH_MAX];
	size_t len = slash == path ? 1 : (size_t)(slash - path);
	int dfd;

	*name = slash + 1;
	/* the kept descriptor, the usual case, needs no copy of the path */
	dfd = dir_fd_kept(fs, parent);
	if (dfd >= 0)
		return dfd;
	memcpy(dirpath, path, len);
	dirpath[len] = '\0';
	dfd = dir_fd(fs, parent, dirpath);
	return dfd == -ELOOP || dfd == -ENOTDIR ? -ENOENT : dfd;
}

/* The source's entry at path, whose parent directory is node `parent`
 * (NULL for the root itself). */
static int src_lstat_at(rlsfs *fs, rnode *parent, const char *path, struct stat *st)
{
	const char *name;
	int dfd;

	if (!parent)
		return fstat(fs->src_fd, st) < 0 ? -errno : 0;
	dfd = src_parent_fd(fs, parent, path, &name);
	if (dfd < 0)
		return dfd;
	return fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* src_open of path, whose parent directory is node `parent`: one name
 * resolved from the kept directory (dir_fd: the one lookups use) instead
 * of the whole path from the root, and no more: the name cannot climb out
 * of it nor go through a symlink. */
static int src_open_at(rlsfs *fs, rnode *parent, const char *path, int flags)
{
	const char *name;
	int dfd;

	if (!parent)
		return src_open(fs, path, flags);
	dfd = src_parent_fd(fs, parent, path, &name);
	return dfd < 0 ? dfd : src_openat(dfd, name, flags);
}

/* entry_load flags */
enum {
	/* Ask the source about a path the delta holds as a non-directory
	 * too; else what the path shows and its inode number come from the
	 * delta alone (only removing it needs to know). */
	ENTRY_LOWER = 1u << 0,
	/* Leave a delta file's data file unasked (entry_attr_from). */
	ENTRY_META = 1u << 1,
	/* The delta is known to hold nothing at the path (see
	 * dir_handle.delta_none): the index is not asked. */
	ENTRY_NO_UPPER = 1u << 2,
};

/* Load what `path` shows; `parent` is its parent directory's node (NULL
 * for the root). */
static int entry_load(rlsfs *fs, delta_txn *txn, rnode *parent, const char *path, entry *e, unsigned load)
{
	bool need_lower = load & ENTRY_LOWER;
	bool parent_merged = parent ? parent->merged : true;
	rls_error err;
	int r;

	e->exists = e->upper = e->whiteout = e->lower = e->merged = false;
	r = load & ENTRY_NO_UPPER ? 1 : delta_get(txn, path, &e->node, &err);
	if (r < 0)
		return -err_code(&err);
	if (r == 0) {
		if (e->node.kind == DELTA_WHITEOUT)
			e->whiteout = true;
		else
			e->upper = true;
		if (e->node.id) {
			r = delta_get_inode(txn, e->node.id, &e->di, &err);
			if (r < 0)
				return -err_code(&err);
			if (r == 1)
				memset(&e->di, 0, sizeof e->di);
		}
	}
	if (parent_merged && !e->whiteout && (need_lower || !e->upper || e->node.kind == DELTA_DIR)) {
		r = src_lstat_at(fs, parent, path, &e->lst);
		if (r == 0)
			e->lower = true;
		else if (r != -ENOENT && r != -ENOTDIR)
			return r;
	}
	e->exists = e->upper || e->lower;
	if (!e->exists)
		return 0;
	if (e->upper)
		e->merged = e->node.kind == DELTA_DIR && !(e->node.flags & DELTA_OPAQUE) && e->lower &&
			    S_ISDIR(e->lst.st_mode);
	else
		e->merged = S_ISDIR(e->lst.st_mode);
	entry_attr_from(fs, e, !(load & ENTRY_META));
	return 0;
}

/* ---- policy ------------------------------------------------------------- */

static policy_level level_of_path(rlsfs *fs, const char *path, bool is_dir)
{
	policy_level l = policy_decide(fs->pol, path, is_dir, NULL);

	/* The root is always at least visible: it is the mount itself. */
	if (!path[1] && l < POLICY_VIEW)
		l = POLICY_VIEW;
	return l;
}

static policy_level level_of(rlsfs *fs, rnode *n, const char *path)
{
	unsigned gen = atomic_load(&fs->rename_gen);

	if (n->level_gen != gen + 1) {
		n->level = level_of_path(fs, path, S_ISDIR(n->type));
		n->level_gen = gen + 1;
	}
	return n->level;
}

/* The level for making an entry at path: its own type's, except that a
 * name hidden as either a file or a folder is hidden for making anything
 * (rules ending in "/" apply to folders only; were a file allowed where a
 * folder is hidden, EEXIST would betray the folder). */
static policy_level create_level(rlsfs *fs, const char *path, bool is_dir)
{
	policy_level own = level_of_path(fs, path, is_dir);

	if (own == POLICY_NONE || level_of_path(fs, path, !is_dir) == POLICY_NONE)
		return POLICY_NONE;
	return own;
}

/* Reply with a denial and note it in the audit log. */
static void deny(rlsfs *fs, fuse_req_t req, const char *op, const char *path, policy_level level, int e)
{
	audit_denial(fs, req, op, path, level, e);
	fuse_reply_err(req, e);
}

/* The error for a modifying operation on an existing path below write. */
static int modify_errno(policy_level level)
{
	return level == POLICY_NONE ? ENOENT : EACCES;
}

/* ---- per-operation context ---------------------------------------------- */

typedef struct op {
	rlsfs *fs;
	delta_txn *txn;
	bool write;
	bool locked;
	char path[PATH_MAX];
} op;

static bool delta_known_empty(rlsfs *fs);

/* Lock the tree and begin a transaction; for a `lookup` (entries loaded
 * with upper_hint, nothing else asked of the index), none while the delta
 * is known to hold nothing. */
static int op_start(op *o, rlsfs *fs, bool write, bool lookup)
{
	rls_error err;

	o->fs = fs;
	o->write = write;
	o->txn = NULL;
	if (write)
		pthread_rwlock_wrlock(&fs->tree);
	else
		pthread_rwlock_rdlock(&fs->tree);
	o->locked = true;
	if (lookup && !write && delta_known_empty(fs))
		return 0;
	if (delta_begin(fs->d, write, &o->txn, &err) < 0) {
		pthread_rwlock_unlock(&fs->tree);
		o->locked = false;
		return -err_code(&err);
	}
	return 0;
}

static int op_begin(op *o, rlsfs *fs, bool write)
{
	return op_start(o, fs, write, false);
}

/* Commit (write, status 0) or drop the transaction, keeping the lock, so
 * that the node table can follow what was committed.  Returns status, or a
 * negative errno from the commit. */
static int op_commit(op *o, int status)
{
	rls_error err;
	int r = status;

	if (o->txn) {
		if (o->write && status == 0) {
			if (delta_commit_txn(o->txn, &err) < 0)
				r = -err_code(&err);
			/* under the tree lock held for writing: a reader
			 * holding it sees the count of the index it reads */
			atomic_fetch_add(&o->fs->delta_writes, 1);
		} else {
			delta_abort(o->txn);
		}
		o->txn = NULL;
	}
	return r;
}

/* ENTRY_NO_UPPER when the delta holds nothing at all (a fresh mount that
 * has only been read): every lookup and open then leaves the index
 * unasked.  Known once for each count of the delta's changes: read under
 * the tree lock, which writers hold alone to commit and count, it is the
 * count of what o's transaction reads.  Not for a write, whose
 * transaction may hold changes not yet counted. */
static uint64_t delta_seen_now(rlsfs *fs)
{
	return ((uint64_t)atomic_load(&fs->delta_writes) + 1) << 1;
}

static bool delta_known_empty(rlsfs *fs)
{
	return atomic_load(&fs->delta_seen) == (delta_seen_now(fs) | 1);
}

static unsigned upper_hint(op *o)
{
	rlsfs *fs = o->fs;
	uint64_t seen, now = delta_seen_now(fs);
	rls_error err;
	bool any;

	if (o->write)
		return 0;
	seen = atomic_load(&fs->delta_seen);
	/* without a transaction (op_start), the delta is known empty */
	if ((seen & ~(uint64_t)1) != now && o->txn) {
		if (delta_has_below(o->txn, "/", &any, &err) < 0)
			return 0;
		seen = now | !any;
		atomic_store(&fs->delta_seen, seen);
	}
	return seen & 1 ? ENTRY_NO_UPPER : 0;
}

/* op_commit, then unlock. */
static int op_end(op *o, int status)
{
	int r = op_commit(o, status);

	if (o->locked) {
		pthread_rwlock_unlock(&o->fs->tree);
		o->locked = false;
	}
	/* Cached directory descriptors are closed only under the write lock,
	 * when no operation can be using one. */
	if (atomic_load(&o->fs->srcfds) > o->fs->srcfds_max) {
		pthread_rwlock_wrlock(&o->fs->tree);
		node_drop_fds(o->fs);
		pthread_rwlock_unlock(&o->fs->tree);
	}
	return r;
}

/* Does e name a delta inode with several names? */
static bool entry_linked(const entry *e)
{
	return e->upper && e->node.kind != DELTA_DIR && e->di.nlink > 1;
}

/* The kernel cannot see that a write, chmod, link or unlink made through
 * one name of a hard-linked inode changed what its other names show: the
 * attributes of such an inode are not cached, whatever its type (a fifo or
 * a device node has names too). */
static double attr_timeout(rlsfs *fs, const entry *e)
{
	return entry_linked(e) ? 0 : fs->timeout;
}

/* May an opening of node n keep the pages the kernel has?  Yes but where a
 * name of a hard-linked inode has a node of its own (node.c: a name at
 * another policy level than the others), so that the kernel has two
 * inodes, two page caches, for one file: one does not see the other's
 * writes. */
static bool keep_pages(const rnode *n, const entry *e)
{
	return !entry_linked(e) || node_whole(n);
}

static void fill_entry(rlsfs *fs, struct fuse_entry_param *fe, rnode *n, const entry *e)
{
	memset(fe, 0, sizeof *fe);
	fe->ino = n->nodeid;
	fe->attr = e->st;
	fe->attr_timeout = attr_timeout(fs, e);
	fe->entry_timeout = fs->timeout;
}

/* The delta inode of e, for node_get: 0 for none and for folders. */
static uint64_t entry_id(const entry *e)
{
	return e->upper && e->node.kind != DELTA_DIR ? e->node.id : 0;
}

/* ---- changing the delta ------------------------------------------------- */

/* All zero, but for the origin's 4 KiB: an empty string is enough. */
static void inode_clear(delta_inode *di)
{
	memset(di, 0, offsetof(delta_inode, origin));
	di->origin[0] = '\0';
}

static void inode_init(delta_inode *di, mode_t mode, uid_t uid, gid_t gid)
{
	int64_t now = now_ns();

	inode_clear(di);
	di->mode = mode;
	di->uid = uid;
	di->gid = gid;
	di->nlink = 1;
	di->atime_ns = di->mtime_ns = di->ctime_ns = now;
}

static void inode_from_stat(delta_inode *di, const struct stat *st)
{
	inode_clear(di);
	di->mode = st->st_mode;
	di->uid = st->st_uid;
	di->gid = st->st_gid;
	di->nlink = 1;
	di->rdev = st->st_rdev;
	di->size = S_ISDIR(st->st_mode) ? 0 : (uint64_t)st->st_size;
	di->atime_ns = ts_ns(&st->st_atim);
	di->mtime_ns = ts_ns(&st->st_mtim);
	di->ctime_ns = ts_ns(&st->st_ctim);
}

static int put_node(op *o, const char *path, uint8_t kind, uint8_t flags, uint64_t id, const char *target)
{
	delta_node node;
	rls_error err;

	node.kind = kind;
	node.flags = flags;
	node.id = id;
	snprintf(node.target, sizeof node.target, "%s", target ? target : "");
	return delta_put(o->txn, path, &node, &err) < 0 ? -err_code(&err) : 0;
}

static int put_inode(op *o, uint64_t id, const delta_inode *di)
{
	rls_error err;

	return delta_put_inode(o->txn, id, di, &err) < 0 ? -err_code(&err) : 0;
}

static int new_inode(op *o, const delta_inode *di, uint64_t *id)
{
	rls_error err;

	if (delta_new_id(o->txn, id, &err) < 0)
		return -err_code(&err);
	return put_inode(o, *id, di);
}

/* Carry extended attributes over to a copy.  Best effort: a name the
 * delta's filesystem refuses (a security.* one, say) is left behind, as
 * cp --preserve=xattr does. */
static void copy_xattrs(int from, int to)
{
	char names[8192], value[8192];
	ssize_t len = flistxattr(from, names, sizeof names);

	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1) {
		ssize_t vlen = fgetxattr(from, names + i, value, sizeof value);

		if (vlen >= 0)
			(void)fsetxattr(to, names + i, value, (size_t)vlen, 0);
	}
}

/* Make the delta hold `path` (copy-up).  Regular files get their data copied
 * with the source's identity and hash as base; other kinds become nodes.
 * On return e describes the upper entry. */
static int copy_up(op *o, const char *path, entry *e)
{
	rlsfs *fs = o->fs;
	_cleanup_close_ int srcfd = -1;
	_cleanup_close_ int datafd = -1;
	char target[PATH_MAX];
	/* built in place: e->di counts only once e->upper says so */
	delta_inode *di = &e->di;
	rls_error err;
	uint64_t id;
	int r;

	if (e->upper)
		return 0;
	if (!e->lower)
		return -ENOENT;
	target[0] = '\0';
	inode_from_stat(di, &e->lst);
	if (S_ISLNK(e->lst.st_mode)) {
		_cleanup_close_ int lfd = src_open(fs, path, O_PATH);
		ssize_t n;

		if (lfd < 0)
			return lfd;
		n = readlinkat(lfd, "", target, sizeof target - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
	}
	r = delta_new_id(o->txn, &id, &err);
	if (r < 0)
		return -err_code(&err);
	/* the entry first: a full index refuses before any data is copied */
	r = put_node(o, path, delta_type_kind(e->lst.st_mode), 0, id, target);
	if (r < 0)
		return r;
	if (S_ISREG(e->lst.st_mode)) {
		struct timespec times[2] = { e->lst.st_atim, e->lst.st_mtim };

		srcfd = src_open(fs, path, O_RDONLY);
		if (srcfd < 0)
			return srcfd;
		datafd = delta_copy_up(fs->d, id, srcfd, &di->base, &err);
		if (datafd < 0)
			return -err_code(&err);
		copy_xattrs(srcfd, datafd);
		/* The copy keeps the source's times: make and git must not
		 * see a file as changed because it was copied. */
		(void)futimens(datafd, times);
		di->flags |= DELTA_HAS_BASE;
		snprintf(di->origin, sizeof di->origin, "%s", path);
	}
	r = put_inode(o, id, di);
	if (r < 0)
		return r;
	e->upper = true;
	e->node.kind = delta_type_kind(e->lst.st_mode);
	e->node.flags = 0;
	e->node.id = id;
	snprintf(e->node.target, sizeof e->node.target, "%s", target);
	entry_attr(fs, e);
	return 0;
}

/* Record that a directory changed (mtime, ctime), copying it up as a
 * metadata-only node when it lives in the source. */
static int touch_dir(op *o, rnode *dir, const char *path)
{
	entry e;
	int64_t now = now_ns();
	int r = entry_load(o->fs, o->txn, dir->parent, path, &e, 0);

	/* whatever the outcome: a listing the kernel keeps is dropped at the
	 * next open, never shown stale (see rls_opendir) */
	atomic_fetch_add(&dir->changes, 1);
	if (r < 0 || !e.exists)
		return r;
	if (!e.upper) {
		r = copy_up(o, path, &e);
		if (r < 0)
			return r;
	}
	e.di.mtime_ns = e.di.ctime_ns = now;
	return put_inode(o, e.node.id, &e.di);
}

/* The upper inode of e has changed its metadata now. */
static int touch_ctime(op *o, entry *e)
{
	e->di.ctime_ns = now_ns();
	return put_inode(o, e->node.id, &e->di);
}

/* Drop one name of the upper inode `id`. */
static int unref_inode(op *o, uint64_t id)
{
	delta_inode di;
	rls_error err;
	int r;

	if (!id)
		return 0;
	r = delta_get_inode(o->txn, id, &di, &err);
	if (r < 0)
		return -err_code(&err);
	if (r == 1)
		return 0;
	if (di.nlink > 1) {
		di.nlink--;
		di.ctime_ns = now_ns();
		return put_inode(o, id, &di);
	}
	return delta_del_inode(o->txn, id, &err) < 0 ? -err_code(&err) : 0;
}

/* Remove what `path` shows: a whiteout where the source has an entry (it
 * keeps the base of a copied-up file, or the source's identity, for conflict
 * detection), nothing otherwise. */
static int remove_entry(op *o, const char *path, const entry *e, bool keep_below)
{
	rls_error err;
	int r;

	if (e->lower || keep_below) {
		uint64_t wid = 0;

		if (e->lower && !S_ISDIR(e->lst.st_mode)) {
			delta_inode wdi;

			if (e->upper && e->node.id && (e->di.flags & DELTA_HAS_BASE)) {
				/* its base: the origin's string, not its 4 KiB */
				memcpy(&wdi, &e->di, offsetof(delta_inode, origin));
				snprintf(wdi.origin, sizeof wdi.origin, "%s", e->di.origin);
			} else {
				inode_from_stat(&wdi, &e->lst);
				wdi.base.dev = e->lst.st_dev;
				wdi.base.ino = e->lst.st_ino;
				wdi.base.size = (uint64_t)e->lst.st_size;
				wdi.base.mtime_ns = ts_ns(&e->lst.st_mtim);
				wdi.base.ctime_ns = ts_ns(&e->lst.st_ctim);
				wdi.flags = DELTA_HAS_BASE;
				snprintf(wdi.origin, sizeof wdi.origin, "%s", path);
			}
			wdi.nlink = 1;
			r = new_inode(o, &wdi, &wid);
			if (r < 0)
				return r;
		}
		r = put_node(o, path, DELTA_WHITEOUT, 0, wid, NULL);
	} else {
		r = delta_del(o->txn, path, &err) < 0 ? -err_code(&err) : 0;
	}
	if (r < 0)
		return r;
	if (e->upper)
		r = unref_inode(o, e->node.id);
	return r;
}

/* ---- directory contents ------------------------------------------------- */

static mode_t dtype_mode(unsigned char t)
{
	switch (t) {
	case DT_REG: return S_IFREG;
	case DT_DIR: return S_IFDIR;
	case DT_LNK: return S_IFLNK;
	case DT_FIFO: return S_IFIFO;
	case DT_SOCK: return S_IFSOCK;
	case DT_CHR: return S_IFCHR;
	case DT_BLK: return S_IFBLK;
	}
	return 0;
}

typedef struct list_ctx {
	op *o;
	const char *dir;
	dir_handle *dh;		/* collect visible entries, or */
	int verdict;		/* for emptiness checks: 0, -ENOTEMPTY, -EACCES */
	bool any_whiteout;
	bool any_upper;		/* the delta has an entry here, whiteouts too */
} list_ctx;

static int collect_upper(const char *name, const delta_node *node, void *opaque)
{
	list_ctx *c = opaque;
	char path[PATH_MAX];
	mode_t type = delta_kind_type(node->kind);
	policy_level level;

	c->any_upper = true;
	if (c->dh && c->dh->full)
		return 1;
	if (node->kind == DELTA_WHITEOUT) {
		c->any_whiteout = true;
		return 0;
	}
	if (path_join(path, sizeof path, c->dir, name) < 0)
		return 0;
	level = level_of_path(c->o->fs, path, S_ISDIR(type));
	if (!c->dh) {
		/* emptiness check: a visible entry makes the directory
		 * non-empty, whatever else it holds; hidden ones alone make
		 * its removal a denial */
		if (level == POLICY_NONE) {
			c->verdict = -EACCES;
			return 0;
		}
		c->verdict = -ENOTEMPTY;
		return 1;
	}
	if (level >= POLICY_VIEW) {
		delta_inode di;
		rls_error err;
		ino_t ino = node->id | DELTA_INO_BIT;

		if (node->id && delta_get_inode(c->o->txn, node->id, &di, &err) == 0 &&
		    (di.flags & DELTA_HAS_BASE))
			ino = di.base.ino;
		dh_add(c->dh, name, ino, type, level);
	}
	return 0;
}

/* Walk the directory's entries: the source's that show through and the
 * delta's.  With c->dh set, collect the visible ones; without, stop at the
 * first visible entry (c->verdict -ENOTEMPTY), or note that hidden ones
 * exist (-EACCES) and look on. */
static int scan_dir(op *o, const char *path, bool merged, list_ctx *c)
{
	rls_error err;
	int r;

	c->o = o;
	c->dir = path;
	c->verdict = 0;
	c->any_whiteout = c->any_upper = false;
	r = delta_list(o->txn, path, collect_upper, c, &err);
	if (r < 0)
		return -err_code(&err);
	if (c->verdict == -ENOTEMPTY)
		return 0;
	if (merged) {
		int fd = src_open(o->fs, path, O_RDONLY | O_DIRECTORY);
		DIR *dir;
		struct dirent *de;

		if (fd < 0)
			return fd == -ENOENT ? 0 : fd;
		dir = fdopendir(fd);
		if (!dir) {
			close(fd);
			return -errno;
		}
		while ((de = readdir(dir))) {
			char cpath[PATH_MAX];
			delta_node node;
			mode_t type = dtype_mode(de->d_type);
			policy_level level;

			if (c->dh && c->dh->full)
				break;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (path_join(cpath, sizeof cpath, path, de->d_name) < 0)
				continue;
			/* a folder the delta has nothing in (most of a tree)
			 * costs no index lookup an entry */
			r = c->any_upper ? delta_get(o->txn, cpath, &node, &err) : 1;
			if (r < 0) {
				closedir(dir);
				return -err_code(&err);
			}
			if (r == 0)
				continue;	/* the delta's entry decides */
			if (!type) {
				struct stat st;

				if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
					continue;
				type = st.st_mode & S_IFMT;
			}
			level = level_of_path(o->fs, cpath, S_ISDIR(type));
			if (!c->dh) {
				if (level == POLICY_NONE) {
					c->verdict = -EACCES;
					continue;
				}
				c->verdict = -ENOTEMPTY;
				break;
			}
			if (level >= POLICY_VIEW)
				dh_add(c->dh, de->d_name, de->d_ino, type, level);
		}
		closedir(dir);
	}
	return 0;
}

/* ---- operations --------------------------------------------------------- */

static void rls_init(void *userdata, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* Every chunk of a listing asked for with attributes, rlsfs choosing
	 * which entries carry them (rls_readdirplus): the kernel's own
	 * choice (READDIRPLUS_AUTO) asks so only for a listing's first chunk
	 * unless a lookup came between, and a folder of 1,000 files listed
	 * for du then cost about 800 lookups. */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	/* Writes go through to the delta as they are made: a quota is
	 * enforced at write(2), not at a writeback that cannot report it, and
	 * sizes and times stay rlsfs's. */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

/* Look name up in directory node p (whose path is dirpath) within the
 * operation o: fe is filled for the kernel, with ino 0 (a negative entry)
 * when nothing visible is there, hidden or absent alike.  A found node's
 * lookup count is raised.  `listed`, when not NULL, is the name's entry in
 * a listing of p still true of the policy, and `load` what else the
 * listing tells (see rls_readdirplus). */
static int lookup_in(fuse_req_t req, op *o, rnode *p, const char *dirpath, const char *name,
		     const dirent_snap *listed, unsigned load, struct fuse_entry_param *fe)
{
	rlsfs *fs = o->fs;
	char path[PATH_MAX];
	policy_level level;
	entry e;
	rnode *n;
	int r;

	memset(fe, 0, sizeof *fe);
	fe->entry_timeout = fs->timeout;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	r = path_join(path, sizeof path, dirpath, name);
	if (r == 0)
		r = entry_load(fs, o->txn, p, path, &e, load | upper_hint(o));
	if (r < 0 || !e.exists)
		return r;
	/* the policy's verdict depends on the path and whether it is a
	 * folder alone: the listing's stands for an entry still of its kind */
	if (listed && S_ISDIR(listed->type) == S_ISDIR(e.st.st_mode))
		level = listed->level;
	else
		level = level_of_path(fs, path, S_ISDIR(e.st.st_mode));
	if (level == POLICY_NONE) {
		audit_denial(fs, req, "lookup", path, level, ENOENT);
		return 0;
	}
	n = node_get(fs, p, name, e.st.st_mode, entry_id(&e), entry_linked(&e), level);
	n->merged = e.merged;
	fill_entry(fs, fe, n, &e);
	return 0;
}

static void rls_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	rlsfs *fs = fs_of(req);
	rnode *p = node_of(fs, parent);
	struct fuse_entry_param fe;
	op o;
	int r = op_start(&o, fs, false, true);

	if (r == 0)
		r = node_path(fs, p, o.path, sizeof o.path);
	if (r == 0)
		r = lookup_in(req, &o, p, o.path, name, NULL, 0, &fe);
	op_end(&o, 0);
	/* A file stat'ed or opened right after its folder was listed bare:
	 * the listing should have carried its attributes.  At the miss that
	 * turns listings to attributes, the kernel lets go of the bare ones
	 * it keeps, so that the next walk over them (find, then du or ls -l)
	 * takes them with attributes instead of a lookup per file. */
	if (r == 0 && fe.ino && !S_ISDIR(fe.attr.st_mode) && atomic_load(&p->listed_bare) &&
	    atomic_load(&fs->bare_misses) < RLSFS_PLUS_AFTER &&
	    atomic_fetch_add(&fs->bare_misses, 1) + 1 == RLSFS_PLUS_AFTER)
		srcwatch_inval_all(fs);
	if (r < 0)
		fuse_reply_err(req, -r);
	else if (fuse_reply_entry(req, &fe) == -ENOENT && fe.ino)
		node_forget(fs, node_of(fs, fe.ino), 1);
}

static void rls_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	rlsfs *fs = fs_of(req);

	node_forget(fs, node_of(fs, ino), nlookup);
	fuse_reply_none(req);
}

static void rls_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	rlsfs *fs = fs_of(req);

	for (size_t i = 0; i < count; i++)
		node_forget(fs, node_of(fs, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

/* Resolve ino to its path and entry; on failure the reply is sent and a
 * negative value returned. */
static int resolve(fuse_req_t req, op *o, rnode *n, entry *e, bool write, unsigned load)
{
	rlsfs *fs = fs_of(req);
	int r = op_begin(o, fs, write);

	if (r == 0)
		r = node_path(fs, n, o->path, sizeof o->path);
	if (r == 0)
		r = entry_load(fs, o->txn, n->parent, o->path, e, load | upper_hint(o));
	if (r == 0 && !e->exists)
		r = -ENOENT;
	if (r < 0) {
		op_end(o, r);
		fuse_reply_err(req, -r);
	}
	return r;
}

/* resolve() for the operations that only look: a path at none is not
 * there.  (Only a rename can have moved a known node to such a path.) */
static int resolve_visible(fuse_req_t req, op *o, rnode *n, entry *e, unsigned load)
{
	if (resolve(req, o, n, e, false, load) < 0)
		return -1;
	if (level_of(o->fs, n, o->path) == POLICY_NONE) {
		op_end(o, 0);
		fuse_reply_err(req, ENOENT);
		return -1;
	}
	return 0;
}

typedef struct open_file {
	int fd;
	bool upper;
	uint64_t id;		/* the delta inode, when upper */
	/* Opened for writing while the file had a set-id bit: the first
	 * write through it drops the bit (fh_drop_privs). */
	atomic_bool setid;
	/* fs->setid_given when the handle last knew its file had no set-id
	 * bit: while it is unchanged, no file was given one since. */
	atomic_uint setid_seen;
	/* Opened for writing on a file that may carry security.capability:
	 * the first write through it takes the attribute off (drop_caps);
	 * caps_seen is fs->caps_given when it last did. */
	atomic_bool caps;
	atomic_uint caps_seen;
	/* Its opener held CAP_FSETID (caller_capable): the writer the
	 * kernel's writeback of a shared mapping stands for, as the kernel
	 * judges such a writer by the opener's credentials; the WRITE it
	 * sends names no caller. */
	bool opener_fsetid;
	delta_hold *held;	/* for the delta's quota, or NULL */
	struct stat st;		/* what the node showed when opened */
	rnode *node;
	struct open_file *next;	/* in node->files */
} open_file;

static open_file *fh_of(struct fuse_file_info *fi)
{
	return (open_file *)(uintptr_t)fi->fh;
}

/* Writing or truncating a file takes its set-user-id bit off, and its
 * set-group-id bit where group execute is set, as the kernel's
 * file_remove_privs() does, but whatever the caller's capabilities: commit
 * may write the result as root.  The kernel cannot be relied on for it (a
 * shared writable mapping's pages come as plain writes, which ext4 lets
 * keep the bits; a caller with CAP_FSETID keeps them), so rlsfs drops them
 * itself, unless the writer holds CAP_FSETID (setid_on_write): at a truncation
 * (setattr, O_TRUNC), and at the first write, fallocate or
 * copy_file_range through a handle opened for writing while the bits were
 * set.  Only writing can bring a file to that (a file that is not a folder
 * never gets the bits back: setattr_allowed).  A change of owner drops them
 * from any file that is not a folder, as chown(2) does.  True when the
 * mode changed. */
static bool drop_setid(delta_inode *di)
{
	uint32_t mode = di->mode;

	if (S_ISDIR(mode))
		return false;
	mode &= ~(uint32_t)S_ISUID;
	if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		mode &= ~(uint32_t)S_ISGID;
	if (mode == di->mode)
		return false;
	di->mode = mode;
	di->flags &= ~(uint32_t)DELTA_SETID_OK;
	di->ctime_ns = now_ns();
	return true;
}

/* Record whether the set-id bits of a file that is not a folder were given
 * by a caller entitled to them: setattr_allowed() and make_node() let
 * them through only then, so any bit here was. */
static void mark_setid(delta_inode *di)
{
	if (S_ISDIR(di->mode) || !(di->mode & (S_ISUID | S_ISGID)))
		di->flags &= ~(uint32_t)DELTA_SETID_OK;
	else
		di->flags |= DELTA_SETID_OK;
}

static bool has_setid(mode_t mode)
{
	return S_ISREG(mode) && ((mode & S_ISUID) || (mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP));
}

/* The data of the inode changes at the request of req's caller, or for
 * the kernel's writeback (fh given) of whoever opened fh: its set-id bits
 * go (drop_setid), unless that writer holds CAP_FSETID, which keeps them,
 * as on Linux, and vouches for the new content (mark_setid).  True when
 * the record changed. */
static bool setid_on_write(fuse_req_t req, const open_file *writeback, delta_inode *di)
{
	uint32_t flags = di->flags;

	if (!has_setid(di->mode))
		return false;
	if (writeback ? !writeback->opener_fsetid : !caller_capable(fs_of(req), fuse_req_ctx(req), CAP_FSETID))
		return drop_setid(di);
	mark_setid(di);
	return di->flags != flags;
}

static int xattr_path(rlsfs *fs, rnode *n, const char *path, const entry *e, char *buf, size_t size);

/* A file made in this mount, no extended attribute set or removed through
 * it since, and no hard link of another: it carries no capability (see
 * made_bare).  Under the tree lock. */
static bool node_capless(const rnode *n)
{
	return n->made_bare && !n->link;
}

/* A change of a file's data takes its file capability (security.capability)
 * off, whoever makes it, as Linux's file_remove_privs() does: else a
 * sandbox could write its own code into a file that grants capabilities,
 * and the commit would carry both to the source.  rlsfs tells the kernel
 * it does so (FUSE_HANDLE_KILLPRIV_V2, channel.c), which spares the
 * request that asked for the attribute before every write(2).  Done at a
 * write, fallocate or copy_file_range through a handle (the first one, or
 * the first since a capability was given to any file), at a truncation
 * and at a change of owner.  fd: the data file, or with path its name
 * (xattr_path), fd unused.  Asked first: taking it off needs CAP_SETFCAP
 * even when it is not there. */
static int drop_caps(int fd, const char *path)
{
	if ((path ? lgetxattr(path, XATTR_NAME_CAPS, NULL, 0) : fgetxattr(fd, XATTR_NAME_CAPS, NULL, 0)) < 0)
		return errno == ENODATA || errno == ENOTSUP ? 0 : -errno;
	if ((path ? lremovexattr(path, XATTR_NAME_CAPS) : fremovexattr(fd, XATTR_NAME_CAPS)) < 0 && errno != ENODATA)
		return -errno;
	return 0;
}

/* A handle opened now on a file of mode `mode`: whether its first write
 * must look at the set-id bits and the file capability (fh_drop_privs).
 * capless: the file carries no capability (node_capless, or just taken
 * off). */
static void fh_setid_init(rlsfs *fs, open_file *fh, fuse_req_t req, mode_t mode, bool writable, bool capless)
{
	atomic_init(&fh->setid, writable && has_setid(mode));
	atomic_init(&fh->setid_seen, atomic_load(&fs->setid_given));
	atomic_init(&fh->caps, writable && !capless);
	atomic_init(&fh->caps_seen, atomic_load(&fs->caps_given));
	fh->opener_fsetid = atomic_load(&fh->setid) && caller_capable(fs, fuse_req_ctx(req), CAP_FSETID);
}

/* A file was given a set-id bit: every handle without one looks again at
 * its next write.  (The kernel does not: rlsfs handles killpriv, see
 * channel.c.) */
static void setid_given(rlsfs *fs)
{
	atomic_fetch_add(&fs->setid_given, 1);
}

/* Before the first change of data through fh: drop the inode's set-id
 * bits (by inode id, so an unlinked file's other names lose them too), and
 * tell the kernel, which has the old mode cached.  writeback: the change
 * is the kernel's writeback of cached pages, sent without a caller.  A
 * handle opened before its file was given a bit finds it here too. */
static int fh_drop_privs(fuse_req_t req, fuse_ino_t ino, open_file *fh, bool writeback)
{
	rlsfs *fs = fs_of(req);
	bool changed = false;
	delta_inode di;
	rls_error err;
	op o;
	int r;

	di.mode = 0;
	if (fh->upper) {
		unsigned given = atomic_load(&fs->caps_given);

		if (atomic_load(&fh->caps) || atomic_exchange(&fh->caps_seen, given) != given) {
			r = drop_caps(fh->fd, NULL);
			atomic_store(&fh->caps, r < 0);
			if (r < 0)
				return r;
		}
	}
	if (!atomic_load(&fh->setid)) {
		unsigned given = atomic_load(&fs->setid_given);

		if (!fh->upper || atomic_exchange(&fh->setid_seen, given) == given)
			return 0;
	}
	r = op_begin(&o, fs, true);
	if (r == 0) {
		r = delta_get_inode(o.txn, fh->id, &di, &err);
		if (r < 0)
			r = -err_code(&err);
		else if (r == 0 && (changed = setid_on_write(req, writeback ? fh : NULL, &di)))
			r = put_inode(&o, fh->id, &di);
		else
			r = 0;
	}
	r = op_end(&o, r) ?: r;
	if (r < 0)
		return r;
	if (has_setid(di.mode)) {
		/* kept by a caller with CAP_FSETID: the next writer is judged anew */
		atomic_store(&fh->setid, true);
		return 0;
	}
	atomic_store(&fh->setid, false);
	if (changed) {
		pthread_mutex_lock(&fs->nodes_lock);
		for (open_file *f = fh->node->files; f; f = f->next)
			f->st.st_mode = (f->st.st_mode & S_IFMT) | (di.mode & 07777);
		pthread_mutex_unlock(&fs->nodes_lock);
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	}
	return 0;
}

static void fh_track(rlsfs *fs, open_file *fh, rnode *n, const struct stat *st)
{
	fh->st = *st;
	fh->node = n;
	pthread_mutex_lock(&fs->nodes_lock);
	fh->next = n->files;
	n->files = fh;
	pthread_mutex_unlock(&fs->nodes_lock);
}

static void fh_free(rlsfs *fs, open_file *fh)
{
	pthread_mutex_lock(&fs->nodes_lock);
	for (open_file **pp = &fh->node->files; *pp; pp = &(*pp)->next) {
		if (*pp == fh) {
			*pp = fh->next;
			break;
		}
	}
	pthread_mutex_unlock(&fs->nodes_lock);
	delta_data_release(fs->d, fh->held);
	close(fh->fd);
	free(fh);
}

/* ---- data files under the delta's quota --------------------------------- */

/* ftruncate(2) of a delta data file, charged to the quota. */
static int truncate_data(rlsfs *fs, int fd, off_t size)
{
	delta_grow g;
	rls_error err;
	int r = 0;

	if (delta_grow_begin(fs->d, NULL, fd, size, 0, 0, &g, &err) < 0)
		return -err_code(&err);
	if (ftruncate(fd, size) < 0)
		r = -errno;
	delta_grow_end(fs->d, &g);
	return r;
}

/* A detached node's file may still have other names (one name of a hard
 * link removed, the file open): its link count, mode and owner are then
 * the delta inode's, which the other names change.  With mode (not
 * (mode_t)-1), a chmod through the handle sets the inode's permission
 * bits first (never set-id bits: no name checked them). */
static int detached_inode(rlsfs *fs, uint64_t id, mode_t mode, struct stat *st)
{
	delta_inode di;
	rls_error err;
	op o;
	int r = op_begin(&o, fs, mode != (mode_t)-1);

	if (r < 0)
		return r;
	r = delta_get_inode(o.txn, id, &di, &err);
	if (r < 0)
		r = -err_code(&err);
	if (r == 0 && di.nlink > 0) {
		if (mode != (mode_t)-1) {
			di.mode = (di.mode & ~(mode_t)07777) | (mode & 01777);
			di.ctime_ns = now_ns();
			r = put_inode(&o, id, &di);
		}
		st->st_nlink = di.nlink;
		st->st_mode = (st->st_mode & S_IFMT) | (di.mode & 07777);
		st->st_uid = idmap_uid(fs, di.uid);
		st->st_gid = idmap_gid(fs, di.gid);
	}
	return op_end(&o, r < 0 ? r : 0) ?: (r < 0 ? r : 0);
}

/* The attributes of an unlinked node that is still open, from one of its
 * handles (fstat of an unlinked file comes without one); with fd_out, a
 * duplicate of that handle's descriptor for the caller to change it
 * through, or -1 when the handle reads the source (which is never written
 * while mounted).  A node without handles (a fifo or a socket: the kernel
 * opens them without asking) answers what its name last showed.  -ENOENT
 * when there is neither. */
static int detached_attr(rlsfs *fs, rnode *n, struct fuse_file_info *fi, mode_t mode, struct stat *st, int *fd_out)
{
	open_file *fh;
	struct stat now;
	uint64_t id = 0;
	int r = 0;

	pthread_mutex_lock(&fs->nodes_lock);
	fh = fi ? fh_of(fi) : n->files;
	if (!fh && n->gone) {
		if (mode != (mode_t)-1)
			n->gone->st_mode = (n->gone->st_mode & S_IFMT) | (mode & 07777);
		*st = *n->gone;
		st->st_nlink = 0;
		id = node_linked(n) ? n->link->id : 0;
		fd_out = NULL;
	} else if (!fh) {
		r = -ENOENT;
	} else if (fstat(fh->fd, &now) < 0) {
		r = -errno;
	}
	if (r == 0 && fh) {
		*st = fh->st;
		st->st_size = now.st_size;
		st->st_blocks = now.st_blocks;
		st->st_atim = now.st_atim;
		st->st_mtim = now.st_mtim;
		st->st_ctim = now.st_ctim;
		st->st_nlink = 0;
		st->st_uid = idmap_uid(fs, st->st_uid);
		st->st_gid = idmap_gid(fs, st->st_gid);
		id = fh->upper ? fh->id : 0;
	}
	if (r == 0 && fd_out && fh->upper) {
		*fd_out = fcntl(fh->fd, F_DUPFD_CLOEXEC, 0);
		if (*fd_out < 0)
			r = -errno;
	}
	pthread_mutex_unlock(&fs->nodes_lock);
	/* after nodes_lock: an operation takes the tree lock first */
	if (r == 0 && id)
		r = detached_inode(fs, id, mode, st);
	return r;
}

static void rls_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	rlsfs *fs = fs_of(req);
	rnode *n = node_of(fs, ino);
	entry e;
	op o;

	if (n->detached) {
		/* unlinked but open: the handles still have the file */
		struct stat st;
		int r = detached_attr(fs, n, fi, (mode_t)-1, &st, NULL);

		if (r < 0)
			fuse_reply_err(req, -r);
		else
			fuse_reply_attr(req, &st, 0);
		return;
	}
	if (resolve_visible(req, &o, n, &e, 0) < 0)
		return;
	op_end(&o, 0);
	fuse_reply_attr(req, &e.st, attr_timeout(fs, &e));
}

/* What the sandbox writes may be committed by root.  So a caller may not
 * give a file away (owner and group only to its own, or left as they are)
 * nor make a set-user-id or set-group-id file: either would let a command
 * without privileges leave a privileged program in the tree.  Only a
 * caller holding CAP_CHOWN, or CAP_FSETID, on a mount that honours them
 * (caller.c; never under rls run) may, as on ext4. */
static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t groups[64];
	int n = fuse_req_getgroups(req, (int)RLS_ARRAY_SIZE(groups), groups);

	for (int i = 0; i < n && i < (int)RLS_ARRAY_SIZE(groups); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

static int setattr_allowed(fuse_req_t req, const struct stat *now, const struct stat *attr, int to_set)
{
	rlsfs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != now->st_uid && attr->st_uid != ctx->uid &&
	    !caller_capable(fs, ctx, CAP_CHOWN))
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != now->st_gid && attr->st_gid != ctx->gid &&
	    !caller_in_group(req, attr->st_gid) && !caller_capable(fs, ctx, CAP_CHOWN))
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_MODE) && !S_ISDIR(now->st_mode) && (attr->st_mode & (S_ISUID | S_ISGID)) &&
	    !caller_capable(fs, ctx, CAP_FSETID))
		return -EPERM;
	return 0;
}

/* setattr of an unlinked, open file: through its descriptor. */
static void setattr_detached(fuse_req_t req, rnode *n, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	rlsfs *fs = fs_of(req);
	struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r = detached_attr(fs, n, fi, (mode_t)-1, &st, &fd);

	if (to_set & FUSE_SET_ATTR_ATIME)
		times[0] = to_set & FUSE_SET_ATTR_ATIME_NOW ? (struct timespec){ .tv_nsec = UTIME_NOW } : attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME)
		times[1] = to_set & FUSE_SET_ATTR_MTIME_NOW ? (struct timespec){ .tv_nsec = UTIME_NOW } : attr->st_mtim;
	if (r == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		r = -EPERM;
	/* set-id bits as on a file with a name: the handles would show them */
	if (r == 0)
		r = setattr_allowed(req, &st, attr, to_set & FUSE_SET_ATTR_MODE);
	/* opened for reading and never copied up: the handle is the
	 * source's file, which must not change */
	if (r == 0 && fd < 0 && (to_set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)))
		r = -EACCES;
	if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		r = fi ? fh_drop_privs(req, n->nodeid, fh_of(fi), false) : drop_caps(fd, NULL);
	if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		r = truncate_data(fs, fd, attr->st_size);
	if (r == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) && futimens(fd, times) < 0)
		r = -errno;
	if (r == 0 && (to_set & FUSE_SET_ATTR_MODE)) {
		pthread_mutex_lock(&fs->nodes_lock);
		for (open_file *fh = n->files; fh; fh = fh->next)
			fh->st.st_mode = (fh->st.st_mode & S_IFMT) | (attr->st_mode & 07777);
		pthread_mutex_unlock(&fs->nodes_lock);
	}
	if (r == 0)
		r = detached_attr(fs, n, fi, to_set & FUSE_SET_ATTR_MODE ? attr->st_mode : (mode_t)-1, &st, NULL);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, 0);
}

/* A change to a delta file that leaves its record as it was: the data
 * file's ctime says when (a chown to nobody changes nothing else). */
static int touch_data_ctime(rlsfs *fs, uint64_t id)
{
	char name[17];

	delta_data_name(id, name);
	return fchownat(delta_data_fd(fs->d), name, (uid_t)-1, (gid_t)-1, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static void rls_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	rlsfs *fs = fs_of(req);
	rnode *n = node_of(fs, ino);
	delta_inode stored;
	policy_level level;
	bool capless;
	entry e;
	op o;
	int r;

	if (n->detached) {
		setattr_detached(req, n, attr, to_set, fi);
		return;
	}
	if (resolve(req, &o, n, &e, true, ENTRY_META) < 0)
		return;
	level = level_of(fs, n, o.path);
	if (level < POLICY_WRITE) {
		op_end(&o, 0);
		deny(fs, req, "setattr", o.path, level, modify_errno(level));
		return;
	}
	capless = node_capless(n);
	r = setattr_allowed(req, &e.st, attr, to_set);
	if (r == 0)
		r = copy_up(&o, o.path, &e);
	/* the record as stored, its 4 KiB origin aside */
	memcpy(&stored, &e.di, offsetof(delta_inode, origin));
	if (r == 0 && (to_set & FUSE_SET_ATTR_MODE)) {
		e.di.mode = (e.di.mode & S_IFMT) | (attr->st_mode & 07777);
		mark_setid(&e.di);
	}
	if (r == 0 && (to_set & FUSE_SET_ATTR_UID))
		e.di.uid = idmap_uid(fs, attr->st_uid);
	if (r == 0 && (to_set & FUSE_SET_ATTR_GID))
		e.di.gid = idmap_gid(fs, attr->st_gid);
	/* a change of owner takes the bits off, whoever asks, as on Linux
	 * (the kernel leaves it to rlsfs: see channel.c) */
	if (r == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		char xpath[PATH_MAX + 64];

		drop_setid(&e.di);
		if (e.node.kind == DELTA_FILE && !capless) {
			r = xattr_path(fs, n, o.path, &e, xpath, sizeof xpath);
			if (r == 0)
				r = drop_caps(-1, xpath);
		}
	}
	if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		setid_on_write(req, NULL, &e.di);
	if (r == 0 && (to_set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };

		if (to_set & FUSE_SET_ATTR_ATIME)
			times[0] = to_set & FUSE_SET_ATTR_ATIME_NOW ? (struct timespec){ .tv_nsec = UTIME_NOW } : attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME)
			times[1] = to_set & FUSE_SET_ATTR_MTIME_NOW ? (struct timespec){ .tv_nsec = UTIME_NOW } : attr->st_mtim;
		if (e.node.kind == DELTA_FILE && !(to_set & FUSE_SET_ATTR_SIZE)) {
			/* by name: no descriptor to open and close */
			char name[17];

			delta_data_name(e.node.id, name);
			if (utimensat(delta_data_fd(fs->d), name, times, AT_SYMLINK_NOFOLLOW) < 0)
				r = -errno;
		} else if (e.node.kind == DELTA_FILE) {
			rls_error err;
			_cleanup_close_ int fd = delta_data_open(fs->d, e.node.id, O_WRONLY, &err);

			if (fd < 0)
				r = -err_code(&err);
			if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE))
				r = truncate_data(fs, fd, attr->st_size);
			if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE) && !capless)
				r = drop_caps(fd, NULL);
			if (r == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) && futimens(fd, times) < 0)
				r = -errno;
		} else if (to_set & FUSE_SET_ATTR_SIZE) {
			r = S_ISDIR(e.di.mode) ? -EISDIR : -EINVAL;
		} else {
			int64_t now = now_ns();

			if (to_set & FUSE_SET_ATTR_ATIME)
				e.di.atime_ns = times[0].tv_nsec == UTIME_NOW ? now : ts_ns(&times[0]);
			if (to_set & FUSE_SET_ATTR_MTIME)
				e.di.mtime_ns = times[1].tv_nsec == UTIME_NOW ? now : ts_ns(&times[1]);
		}
	}
	/* A file's times, and the ctime a change of them gives, are its data
	 * file's (entry_attr): a change that leaves the record as it was (of
	 * times alone, or a chown or chmod to what is there already, as tar
	 * makes after writing each file) leaves the index as it is, and the
	 * transaction commits nothing; the data file takes the ctime. */
	if (r == 0 && e.node.kind == DELTA_FILE && !memcmp(&stored, &e.di, offsetof(delta_inode, origin))) {
		if (!(to_set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)))
			r = touch_data_ctime(fs, e.node.id);
	} else if (r == 0) {
		e.di.ctime_ns = now_ns();
		r = put_inode(&o, e.node.id, &e.di);
	}
	if (r == 0)
		entry_attr(fs, &e);
	r = op_end(&o, r) ?: r;
	if (r == 0 && has_setid(e.di.mode))
		setid_given(fs);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &e.st, attr_timeout(fs, &e));
}

static void rls_readlink(fuse_req_t req, fuse_ino_t ino)
{
	rlsfs *fs = fs_of(req);
	rnode *n = node_of(fs, ino);
	char buf[PATH_MAX];
	entry e;
	op o;

	if (resolve_visible(req, &o, n, &e, 0) < 0)
		return;
	if (e.upper) {
		snprintf(buf, sizeof buf, "%s", e.node.target);
	} else {
		_cleanup_close_ int fd = src_open(fs, o.path, O_PATH);
		ssize_t len = fd < 0 ? -1 : readlinkat(fd, "", buf, sizeof buf - 1);

		if (len < 0) {
			int er = fd < 0 ? -fd : errno;

			op_end(&o, 0);
			fuse_reply_err(req, er);
			return;
		}
		buf[len] = '\0';
	}
	op_end(&o, 0);
	fuse_reply_readlink(req, buf);
}

/* path = the path of name in directory node p: 0 or a negative errno. */
static int child_path(rlsfs *fs, rnode *p, const char *name, char *path, size_t size)
{
	char dirpath[PATH_MAX];
	int r;

	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	r = node_path(fs, p, dirpath, sizeof dirpath);
	return r < 0 ? r : path_join(path, size, dirpath, name);
}

/* Common start of the operations that make a new name in a directory:
 * resolve the parent, build the path, check the level (the answer does not
 * depend on whether a hidden entry exists), and load what is there. */
static int begin_create(fuse_req_t req, op *o, fuse_ino_t parent, const char *name, bool is_dir,
			const char *opname, entry *e)
{
	rlsfs *fs = fs_of(req);
	rnode *p = node_of(fs, parent);
	policy_level level;
	int r = op_begin(o, fs, true);

	if (r == 0)
		r = child_path(fs, p, name, o->path, sizeof o->path);
	if (r < 0) {
		op_end(o, r);
		fuse_reply_err(req, -r);
		return -1;
	}
	level = create_level(fs, o->path, is_dir);
	if (level < POLICY_WRITE) {
		op_end(o, 0);
		deny(fs, req, opname, o->path, level, EACCES);
		return -1;
	}
	r = entry_load(fs, o->txn, p, o->path, e, ENTRY_META);
	if (r == 0 && e->exists)
		r = -EEXIST;
	if (r < 0) {
		op_end(o, r);
		fuse_reply_err(req, -r);
		return -1;
	}
	return 0;
}

/* Finish a creation: the parent's times, the commit, the reply.  For a
 * link, `target` is the node of the inode linked, which the new name
 * joins.  A file made open comes with fh, whose st is its data file's
 * fstat(2) until the reply. */
static void end_create(fuse_req_t req, op *o, fuse_ino_t parent, const char *name, int r,
		       struct fuse_file_info *fi, open_file *fh, rnode *target)
{
	rlsfs *fs = fs_of(req);
	rnode *p = node_of(fs, parent);
	struct fuse_entry_param fe;
	bool capless = false;
	entry e;
	rnode *n = NULL;

	if (r == 0) {
		char dirpath[PATH_MAX];

		r = node_path(fs, p, dirpath, sizeof dirpath);
		if (r == 0)
			r = touch_dir(o, p, dirpath);
	}
	if (r == 0)
		r = entry_load(fs, o->txn, p, o->path, &e, fh ? ENTRY_META : 0);
	if (r == 0 && !e.exists)
		r = -EIO;
	if (r == 0 && fh)
		entry_data_attr_from(&e, &fh->st);
	if (r == 0 && target) {
		n = node_add_link(fs, target, p, name, e.node.id);
	} else if (r == 0) {
		n = node_get(fs, p, name, e.st.st_mode, entry_id(&e), false, POLICY_WRITE);
		n->merged = false;
		n->made_bare = S_ISREG(e.st.st_mode);
		capless = node_capless(n);
	}
	r = op_end(o, r) ?: r;
	if (r < 0) {
		if (target && n) {
			/* under the tree lock: the name the link did not make */
			rnode *a;

			pthread_rwlock_wrlock(&fs->tree);
			a = node_find(fs, p, name);
			if (a)
				node_detach(fs, a, NULL);
			pthread_rwlock_unlock(&fs->tree);
		}
		if (n)
			node_forget(fs, n, 1);
		if (fh) {
			delta_data_release(fs->d, fh->held);
			close(fh->fd);
			free(fh);
		}
		fuse_reply_err(req, -r);
		return;
	}
	fill_entry(fs, &fe, n, &e);
	if (fi) {
		fh_setid_init(fs, fh, req, e.st.st_mode, true, capless);
		fh_track(fs, fh, n, &e.st);
		fi->fh = (uint64_t)(uintptr_t)fh;
		fi->keep_cache = 1;
		fi->noflush = 1;	/* see rls_flush */
		if (fuse_reply_create(req, &fe, fi) == -ENOENT) {
			fh_free(fs, fh);
			node_forget(fs, n, 1);
		}
	} else if (fuse_reply_entry(req, &fe) == -ENOENT) {
		node_forget(fs, n, 1);
	}
}

/* The group a new entry in the folder `parent` takes, as stored: the
 * caller's, or the folder's when it is set-group-id (then a new folder is
 * set-group-id too), as on Linux. */
static int new_group(op *o, fuse_req_t req, fuse_ino_t parent, mode_t *mode, gid_t *gid)
{
	rnode *p = node_of(o->fs, parent);
	char dirpath[PATH_MAX];
	entry pe;
	int r = node_path(o->fs, p, dirpath, sizeof dirpath);

	if (r == 0)
		r = entry_load(o->fs, o->txn, p->parent, dirpath, &pe, 0);
	if (r < 0)
		return r;
	if (pe.exists && (pe.st.st_mode & S_ISGID)) {
		*gid = idmap_gid(o->fs, pe.st.st_gid);
		if (S_ISDIR(*mode))
			*mode |= S_ISGID;
	} else {
		*gid = idmap_gid(o->fs, fuse_req_ctx(req)->gid);
	}
	return 0;
}

static int make_node(op *o, fuse_req_t req, fuse_ino_t parent, mode_t mode, dev_t rdev, uint8_t flags,
		     const char *target, uint64_t *idp)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	delta_inode di;
	uint64_t id;
	gid_t gid;
	int r = new_group(o, req, parent, &mode, &gid);

	if (r < 0)
		return r;
	/* see setattr_allowed() */
	if (!S_ISDIR(mode) && (mode & (S_ISUID | S_ISGID)) && !caller_capable(o->fs, ctx, CAP_FSETID))
		mode &= ~(mode_t)(S_ISUID | S_ISGID);
	inode_init(&di, mode, idmap_uid(o->fs, ctx->uid), gid);
	mark_setid(&di);
	if (has_setid(di.mode))
		setid_given(o->fs);
	di.rdev = rdev;
	if (target)
		di.size = strlen(target);
	r = new_inode(o, &di, &id);
	if (r == 0)
		r = put_node(o, o->path, delta_type_kind(mode), flags, id, target);
	if (idp)
		*idp = id;
	return r;
}

static void rls_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	rlsfs *fs = fs_of(req);
	entry e;
	op o;
	int r;

	if (!delta_type_kind(mode) || S_ISDIR(mode) || S_ISLNK(mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (begin_create(req, &o, parent, name, false, "mknod", &e) < 0)
		return;
	if (S_ISREG(mode)) {
		uint64_t id;
		rls_error err;

		r = make_node(&o, req, parent, mode, 0, 0, NULL, &id);
		if (r == 0) {
			int fd = delta_data_create(fs->d, id, &err);

			if (fd < 0)
				r = -err_code(&err);
			else
				close(fd);
		}
	} else {
		r = make_node(&o, req, parent, mode, rdev, 0, NULL, NULL);
	}
	end_create(req, &o, parent, name, r, NULL, NULL, NULL);
}

static void rls_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	entry e;
	op o;
	int r;

	if (begin_create(req, &o, parent, name, true, "mkdir", &e) < 0)
		return;
	/* Made where the source's entry was deleted: hide what the source
	 * still has there. */
	r = make_node(&o, req, parent, S_IFDIR | (mode & 07777), 0, e.whiteout ? DELTA_OPAQUE : 0, NULL, NULL);
	end_create(req, &o, parent, name, r, NULL, NULL, NULL);
}

static void rls_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	entry e;
	op o;
	int r;

	if (strlen(link) >= DELTA_PATH_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if (begin_create(req, &o, parent, name, false, "symlink", &e) < 0)
		return;
	r = make_node(&o, req, parent, S_IFLNK | 0777, 0, 0, link, NULL);
	end_create(req, &o, parent, name, r, NULL, NULL, NULL);
}

static void rls_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	rlsfs *fs = fs_of(req);
	open_file *fh = NULL;
	rls_error err;
	uint64_t id;
	entry e;
	op o;
	int r;

	if (begin_create(req, &o, parent, name, false, "create", &e) < 0)
		return;
	r = make_node(&o, req, parent, S_IFREG | (mode & 07777), 0, 0, NULL, &id);
	if (r == 0) {
		int fd = delta_data_create(fs->d, id, &err);
		struct stat ds;

		if (fd < 0) {
			r = -err_code(&err);
		} else if (fstat(fd, &ds) < 0) {
			r = -errno;
			close(fd);
		} else {
			if (fi->flags & O_APPEND) {
				int fl = fcntl(fd, F_GETFL);

				(void)fcntl(fd, F_SETFL, fl | O_APPEND);
			}
			fh = rls_xcalloc(1, sizeof *fh);
			fh->fd = fd;
			fh->upper = true;
			fh->id = id;
			fh->st = ds;	/* one fstat for the quota's hold and the reply */
			fh->held = delta_data_hold(fs->d, fd, &ds);
		}
	}
	end_create(req, &o, parent, name, r, fi, fh, NULL);
}

static void rls_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	rlsfs *fs = fs_of(req);
	rnode *n = node_of(fs, ino);
	char oldpath[PATH_MAX];
	policy_level level;
	entry old, e;
	op o;
	int r;

	/* The existing name must be writable too: a link must not make
	 * content reachable at a higher level than it has. */
	if (resolve(req, &o, n, &old, true, 0) < 0)
		return;
	memcpy(oldpath, o.path, sizeof oldpath);
	level = level_of(fs, n, oldpath);
	op_end(&o, 0);
	if (level < POLICY_WRITE) {
		deny(fs, req, "link", oldpath, level, level == POLICY_NONE ? ENOENT : EACCES);
		return;
	}
	if (S_ISDIR(old.st.st_mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (begin_create(req, &o, newparent, newname, false, "link", &e) < 0)
		return;
	r = entry_load(fs, o.txn, n->parent, oldpath, &old, 0);
	if (r == 0 && !old.exists)
		r = -ENOENT;
	if (r == 0)
		r = copy_up(&o, oldpath, &old);
	if (r == 0) {
		old.di.nlink++;
		old.di.ctime_ns = now_ns();
		r = put_inode(&o, old.node.id, &old.di);
	}
	if (r == 0)
		r = put_node(&o, o.path, old.node.kind, 0, old.node.id, old.node.target);
	/* the new name joins the node of the old one: the kernel gets the
	 * same nodeid, so one inode for both names */
	end_create(req, &o, newparent, newname, r, NULL, NULL, n);
}

/* Start an operation that removes or renames the name (parent, name):
 * resolve, check the level (none answers as if nothing were there), load. */
static int begin_modify(fuse_req_t req, op *o, fuse_ino_t parent, const char *name, const char *opname,
			entry *e, bool need_exist)
{
	rlsfs *fs = fs_of(req);
	rnode *p = node_of(fs, parent);
	policy_level level;
	int r = child_path(fs, p, name, o->path, sizeof o->path);

	if (r == 0)
		r = entry_load(fs, o->txn, p, o->path, e, ENTRY_LOWER);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return -1;
	}
	level = level_of_path(fs, o->path, e->exists && S_ISDIR(e->st.st_mode));
	if (!need_exist && create_level(fs, o->path, false) == POLICY_NONE) {
		/* a target: refused alike whether or not something hidden
		 * is there, and whatever its type */
		deny(fs, req, opname, o->path, POLICY_NONE, EACCES);
		return -1;
	}
	if (level == POLICY_NONE && e->exists) {
		deny(fs, req, opname, o->path, level, need_exist ? ENOENT : EACCES);
		return -1;
	}
	if (level < POLICY_WRITE) {
		if (!e->exists && need_exist)
			fuse_reply_err(req, ENOENT);
		else
			deny(fs, req, opname, o->path, level, EACCES);
		return -1;
	}
	if (need_exist && !e->exists) {
		fuse_reply_err(req, ENOENT);
		return -1;
	}
	return 0;
}

/* May the directory at path go?  0 when it shows nothing and hides
 * nothing; -ENOTEMPTY, or -EACCES when hidden entries are in it (they must
 * not be removed with it).  The caller answers -EACCES as ENOTEMPTY, a
 * visible non-empty directory's answer, and audits it as a denial. */
static int dir_removable(op *o, const char *path, const entry *e, bool *whiteouts_below)
{
	list_ctx c = { 0 };
	rls_error err;
	int r = scan_dir(o, path, e->merged, &c);

	if (r < 0)
		return r;
	if (c.verdict)
		return c.verdict;
	if (delta_has_below(o->txn, path, whiteouts_below, &err) < 0)
		return -err_code(&err);
	return 0;
}

/* unlink and rmdir. */
static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
	rlsfs *fs = fs_of(req);
	const char *opname = dir ? "rmdir" : "unlink";
	bool below = false;
	char dirpath[PATH_MAX];
	entry e;
	op o;
	int r;

	if (op_begin(&o, fs, true) < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (begin_modify(req, &o, parent, name, opname, &e, true) < 0) {
		op_end(&o, -1);
		return;
	}
	if (S_ISDIR(e.st.st_mode) != dir) {
		op_end(&o, -1);
		fuse_reply_err(req, dir ? ENOTDIR : EISDIR);
		return;
	}
	r = dir ? dir_removable(&o, o.path, &e, &below) : 0;
	if (r == -EACCES) {
		op_end(&o, -1);
		deny(fs, req, opname, o.path, POLICY_NONE, ENOTEMPTY);
		return;
	}
	if (r == 0)
		r = remove_entry(&o, o.path, &e, below);
	if (r == 0)
		r = node_path(fs, node_of(fs, parent), dirpath, sizeof dirpath);
	if (r == 0)
		r = touch_dir(&o, node_of(fs, parent), dirpath);
	r = op_commit(&o, r);
	if (r == 0) {
		rnode *n = node_find(fs, node_of(fs, parent), name);

		if (n)
			node_detach(fs, n, &e.st);
	}
	op_end(&o, r);
	fuse_reply_err(req, -r);
}

static void rls_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, false);
}

static void rls_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, true);
}

/* A directory may move only when it is the delta's alone: no source entries
 * below it (those would have to move in the source too; mv(1) copies on
 * EXDEV, entry by entry, under the policy) and no whiteouts anywhere below
 * (they name source paths and must stay where they are).  Nor may the move
 * change what the policy allows of anything below: every entry must be
 * writable where it is and where it would arrive (a folder must not carry a
 * file to where it could not be created, or make one writable that was
 * not).  The entries below are read with one cursor, not a recursion per
 * level: the sandbox chooses the depth. */
typedef struct movable_ctx {
	op *o;
	size_t from_len;
	const char *to;
	bool refused;
} movable_ctx;

static int entry_movable(const char *path, const delta_node *node, void *opaque)
{
	movable_ctx *m = opaque;
	char to[PATH_MAX];
	bool is_dir = node->kind == DELTA_DIR;

	if (node->kind == DELTA_WHITEOUT || (node->flags & DELTA_OPAQUE) ||
	    path_join(to, sizeof to, m->to, path + m->from_len + 1) < 0 ||
	    level_of_path(m->o->fs, path, is_dir) < POLICY_WRITE || level_of_path(m->o->fs, to, is_dir) < POLICY_WRITE) {
		m->refused = true;
		return 1;
	}
	return 0;
}

/* May the directory at path, entry e, move to `to`? */
static int subtree_movable(op *o, const char *path, const char *to, const entry *e)
{
	movable_ctx m = { o, strlen(path), to, false };
	rls_error err;

	if (e->lower || !e->upper || (e->node.flags & DELTA_OPAQUE))
		return -EXDEV;
	if (delta_each_below(o->txn, path, entry_movable, &m, &err) < 0)
		return -err_code(&err);
	return m.refused ? -EXDEV : 0;
}

static void rls_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		       const char *newname, unsigned int flags)
{
	rlsfs *fs = fs_of(req);
	char oldpath[PATH_MAX], tmp[PATH_MAX];
	bool below = false;
	rls_error err;
	entry a, b;
	op o;
	int r;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (op_begin(&o, fs, true) < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (begin_modify(req, &o, parent, name, "rename", &a, true) < 0) {
		op_end(&o, -1);
		return;
	}
	memcpy(oldpath, o.path, sizeof oldpath);
	if (begin_modify(req, &o, newparent, newname, "rename", &b, false) < 0) {
		op_end(&o, -1);
		return;
	}
	if (!strcmp(oldpath, o.path)) {
		op_end(&o, -1);
		fuse_reply_err(req, 0);
		return;
	}
	r = 0;
	if ((flags & RENAME_NOREPLACE) && b.exists)
		r = -EEXIST;
	else if ((flags & RENAME_EXCHANGE) && !b.exists)
		r = -ENOENT;
	else if (!(flags & RENAME_EXCHANGE) && b.exists && S_ISDIR(a.st.st_mode) != S_ISDIR(b.st.st_mode))
		r = S_ISDIR(a.st.st_mode) ? -ENOTDIR : -EISDIR;
	if (r == 0) {
		/* Each name is judged as what will arrive there too, not only
		 * as what is there now: a rule ending in "/" gives folders a
		 * level files do not get, so a file must not take a name only
		 * a folder may be made at (nor a folder a file's). */
		bool a_dir = S_ISDIR(a.st.st_mode), b_dir = S_ISDIR(b.st.st_mode);
		policy_level at_new = create_level(fs, o.path, a_dir);
		policy_level at_old = flags & RENAME_EXCHANGE ? create_level(fs, oldpath, b_dir) : POLICY_WRITE;

		if (at_new < POLICY_WRITE || at_old < POLICY_WRITE) {
			op_end(&o, -1);
			if (at_new < POLICY_WRITE)
				deny(fs, req, "rename", o.path, at_new, EACCES);
			else
				deny(fs, req, "rename", oldpath, at_old, EACCES);
			return;
		}
	}
	/* A folder in the way that is not empty is ENOTEMPTY before any
	 * EXDEV: on EXDEV mv(1) would copy into it, merging the two. */
	if (r == 0 && !(flags & RENAME_EXCHANGE) && b.exists && S_ISDIR(b.st.st_mode)) {
		r = dir_removable(&o, o.path, &b, &below);
		if (r == -EACCES) {
			op_end(&o, -1);
			deny(fs, req, "rename", o.path, POLICY_NONE, ENOTEMPTY);
			return;
		}
	}
	if (r == 0 && S_ISDIR(a.st.st_mode))
		r = subtree_movable(&o, oldpath, o.path, &a);
	if (r == 0 && (flags & RENAME_EXCHANGE) && S_ISDIR(b.st.st_mode))
		r = subtree_movable(&o, o.path, oldpath, &b);
	if (r == 0)
		r = copy_up(&o, oldpath, &a);
	if (r == 0 && (flags & RENAME_EXCHANGE))
		r = copy_up(&o, o.path, &b);
	/* A renamed inode's ctime changes, as on Linux's filesystems (POSIX
	 * leaves it open; tar and backup tools look at it). */
	if (r == 0)
		r = touch_ctime(&o, &a);
	if (r == 0 && (flags & RENAME_EXCHANGE))
		r = touch_ctime(&o, &b);
	if (r < 0) {
		op_end(&o, r);
		fuse_reply_err(req, -r);
		return;
	}

	if (flags & RENAME_EXCHANGE) {
		/* Swap the two nodes and whatever lies below them. */
		uint8_t aflags = a.node.flags & ~DELTA_OPAQUE, bflags = b.node.flags & ~DELTA_OPAQUE;
		bool busy = false;

		if (a.node.kind == DELTA_DIR && b.lower)
			aflags |= DELTA_OPAQUE;
		if (b.node.kind == DELTA_DIR && a.lower)
			bflags |= DELTA_OPAQUE;
		/* The scratch name is an ordinary name: what the sandbox put
		 * below it would be swept into the exchange. */
		snprintf(tmp, sizeof tmp, "/\x01rls-exchange");
		if (delta_has_below(o.txn, tmp, &busy, &err) < 0)
			r = -err_code(&err);
		else if (busy)
			r = -EBUSY;
		if (r == 0)
			r = put_node(&o, o.path, a.node.kind, aflags, a.node.id, a.node.target);
		if (r == 0)
			r = put_node(&o, oldpath, b.node.kind, bflags, b.node.id, b.node.target);
		if (r == 0 && delta_move_below(o.txn, oldpath, tmp, &err) < 0)
			r = -err_code(&err);
		if (r == 0 && delta_move_below(o.txn, o.path, oldpath, &err) < 0)
			r = -err_code(&err);
		if (r == 0 && delta_move_below(o.txn, tmp, o.path, &err) < 0)
			r = -err_code(&err);
	} else {
		uint8_t nflags = 0;

		if (b.exists && b.upper && a.node.id == b.node.id) {
			/* two names of one inode: rename(2) does nothing */
			op_end(&o, -1);
			fuse_reply_err(req, 0);
			return;
		}
		if (b.exists)
			r = remove_entry(&o, o.path, &b, below);
		/* a directory arriving where the source has (or had) an
		 * entry must not show what the source keeps there */
		if (a.node.kind == DELTA_DIR && (b.lower || b.whiteout))
			nflags = DELTA_OPAQUE;
		if (r == 0)
			r = put_node(&o, o.path, a.node.kind, nflags, a.node.id, a.node.target);
		if (r == 0 && a.node.kind == DELTA_DIR && delta_move_below(o.txn, oldpath, o.path, &err) < 0)
			r = -err_code(&err);
		if (r == 0) {
			/* The old name goes; the inode keeps its one name. */
			bool upper = a.upper;

			a.upper = false;
			r = remove_entry(&o, oldpath, &a, false);
			a.upper = upper;
		}
	}
	if (r == 0) {
		char dirpath[PATH_MAX];

		r = node_path(fs, node_of(fs, parent), dirpath, sizeof dirpath);
		if (r == 0)
			r = touch_dir(&o, node_of(fs, parent), dirpath);
		if (r == 0 && newparent != parent) {
			r = node_path(fs, node_of(fs, newparent), dirpath, sizeof dirpath);
			if (r == 0)
				r = touch_dir(&o, node_of(fs, newparent), dirpath);
		}
	}
	r = op_commit(&o, r);
	if (r == 0) {
		rnode *pa = node_of(fs, parent), *pb = node_of(fs, newparent);
		rnode *na = node_find(fs, pa, name), *nb = node_find(fs, pb, newname);

		/* (an alias of a linked node is freed here) */
		if (nb && !(flags & RENAME_EXCHANGE))
			node_detach(fs, nb, &b.st);
		if (na)
			node_move(fs, na, pb, newname);
		if (nb && (flags & RENAME_EXCHANGE))
			node_move(fs, nb, pa, name);
		if (na && S_ISDIR(na->type))
			na->merged = false;
		if ((flags & RENAME_EXCHANGE) && nb && S_ISDIR(nb->type))
			nb->merged = false;
		atomic_fetch_add(&fs->rename_gen, 1);
		if (S_ISDIR(a.st.st_mode) || ((flags & RENAME_EXCHANGE) && S_ISDIR(b.st.st_mode))) {
			atomic_fetch_add(&fs->dirs_moved, 1);
			/* the kernel's listings beneath are of another path */
			srcwatch_inval_all(fs);
		}
	}
	op_end(&o, r);
	fuse_reply_err(req, -r);
}

static int open_access(rlsfs *fs, fuse_req_t req, const char *path, policy_level level, int flags)
{
	bool want_write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	policy_level need = want_write ? POLICY_WRITE : POLICY_READ;

	if (level >= need)
		return 0;
	deny(fs, req, "open", path, level, level == POLICY_NONE ? ENOENT : EACCES);
	return -1;
}

static void rls_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	rlsfs *fs = fs_of(req);
	rnode *n = node_of(fs, ino);
	bool want_write = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	delta_hold *held = NULL;
	open_file *fh;
	rls_error err;
	bool dropped = false, capless;
	entry e;
	op o;
	int fd, r = 0;

	if (resolve(req, &o, n, &e, want_write, 0) < 0)
		return;
	capless = node_capless(n);
	if (open_access(fs, req, o.path, level_of(fs, n, o.path), fi->flags) < 0) {
		op_end(&o, -1);
		return;
	}
	if (want_write) {
		r = copy_up(&o, o.path, &e);
		/* always readable: the kernel reads pages around partial
		 * writes of mmapped files */
		fd = r < 0 ? r : delta_data_open(fs->d, e.node.id, O_RDWR | (fi->flags & O_APPEND), &err);
		if (r == 0 && fd < 0)
			r = -err_code(&err);
		if (r == 0 && (fi->flags & O_TRUNC))
			r = truncate_data(fs, fd, 0);
		if (r == 0 && (fi->flags & O_TRUNC) && !capless) {
			r = drop_caps(fd, NULL);
			capless = r == 0;
		}
		if (r == 0 && (fi->flags & O_TRUNC) && setid_on_write(req, NULL, &e.di)) {
			r = put_inode(&o, e.node.id, &e.di);
			entry_attr(fs, &e);
			dropped = true;
		}
	} else if (e.upper) {
		fd = delta_data_open(fs->d, e.node.id, O_RDONLY, &err);
		if (fd < 0)
			r = -err_code(&err);
	} else {
		fd = src_open_at(fs, n->parent, o.path, O_RDONLY | (fi->flags & O_NONBLOCK));
		if (fd < 0)
			r = fd;
	}
	/* before the lock goes, so that no unlink comes between */
	if (r == 0 && (want_write || e.upper))
		held = delta_data_hold(fs->d, fd, NULL);
	r = op_end(&o, r) ?: r;
	if (r < 0) {
		if (fd >= 0) {
			delta_data_release(fs->d, held);
			close(fd);
		}
		fuse_reply_err(req, -r);
		return;
	}
	fh = rls_xcalloc(1, sizeof *fh);
	fh->fd = fd;
	fh->upper = want_write || e.upper;
	fh->id = fh->upper ? e.node.id : 0;
	fh_setid_init(fs, fh, req, e.di.mode, want_write, capless);
	fh->held = held;
	fh_track(fs, fh, n, &e.st);
	fi->fh = (uint64_t)(uintptr_t)fh;
	fi->keep_cache = keep_pages(n, &e);
	fi->noflush = 1;	/* see rls_flush */
	if (fuse_reply_open(req, fi) == -ENOENT)
		fh_free(fs, fh);
	/* the kernel still has the mode with the bits */
	if (dropped)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

/* Reads below this go through a buffer (pread(2), writev(2)), larger ones
 * through the worker's pipe (vmsplice(2), then splice(2) twice): a pipe
 * saves a copy, which pays for its extra calls only on large reads. */
#define RLSFS_SPLICE_MIN (64 * 1024)

static void rls_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fh_of(fi)->fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, size < RLSFS_SPLICE_MIN ? FUSE_BUF_NO_SPLICE : FUSE_BUF_SPLICE_MOVE);
}

static void rls_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
			  struct fuse_file_info *fi)
{
	rlsfs *fs = fs_of(req);
	delta_grow g;
	rls_error err;
	ssize_t n;
	int r = fh_drop_privs(req, ino, fh_of(fi), fi->writepage);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (delta_grow_begin(fs->d, fh_of(fi)->held, fh_of(fi)->fd, off, fuse_buf_size(in), DELTA_GROW_CUT, &g,
			     &err) < 0) {
		fuse_reply_err(req, err_code(&err));
		return;
	}
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(g.len);

	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fh_of(fi)->fd;
	out.buf[0].pos = off;
	n = fuse_buf_copy(&out, in, 0);
	delta_grow_end(fs->d, &g);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

/* Writes go straight to the delta's file and POSIX locks are the kernel's:
 * close(2) has nothing to do here, and the files are opened with noflush so
 * that it does not ask (one request fewer for each file closed). */
static void rls_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void rls_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fh_free(fs_of(req), fh_of(fi));
	fuse_reply_err(req, 0);
}

/* fsync of a file: its data, then the delta's index (where its name, its
 * attributes and every other change made so far are), so that after a
 * crash the file is there with what was written before the fsync.  Other
 * writes do not sync the index (see rls-delta(7), DURABILITY). */
static void rls_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	int fd = fh_of(fi)->fd;
	rls_error err;

	loop_may_block(fs_of(req));
	if ((datasync ? fdatasync(fd) : fsync(fd)) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fuse_reply_err(req, delta_flush(fs_of(req)->d, &err) < 0 ? err_code(&err) : 0);
}

/* What a directory's listing depends on, folded into one number: its own
 * times and inode (the source's too, for a merged directory: another
 * sandbox's commit changes them), the changes the mount made to it
 * (a file renamed into or out of it among them), and the count of
 * directories moved (a move above it changes the policy's verdict on its
 * entries).  A file renamed elsewhere leaves every other listing kept:
 * programs that save a file by renaming a new one over it (git's index,
 * editors, package installers) would otherwise have every folder read
 * afresh after each save.  Never 0, which means "no listing kept". */
static uint64_t listing_stamp(rlsfs *fs, rnode *n, const entry *e)
{
	uint64_t v[] = {
		(uint64_t)ts_ns(&e->st.st_mtim), (uint64_t)ts_ns(&e->st.st_ctim), e->st.st_ino,
		e->merged ? (uint64_t)ts_ns(&e->lst.st_mtim) : 0,
		e->merged ? (uint64_t)ts_ns(&e->lst.st_ctim) : 0,
		e->merged ? e->lst.st_ino : 0,
		atomic_load(&n->changes), atomic_load(&fs->dirs_moved),
	};
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		h = (h ^ v[i]) * 0x100000001b3ull ^ (h >> 31);
	return h ? h : 1;
}

/* Opening a directory.  With the source watched (srcwatch.c), the answer
 * is ENOSYS, once for the mount: the kernel then opens every folder
 * without asking, sends no releasedir, and keeps each listing
 * (FOPEN_CACHE_DIR) until a change made through the mount, a new mtime
 * seen in a getattr, or a notification drops it; that spares two requests
 * a folder opened.  What the kernel keeps stays true: a change another
 * sandbox commits to the source is seen by the folder's watch, and its
 * thread drops the listing; a folder moved (the policy judges names by
 * their paths) drops every listing; the level is asked at each readdir,
 * and hidden names never enter a listing.
 *
 * Without watches (inotify could not be set up), each open checks the
 * level and decides whether the kernel may answer readdir from the
 * listing it keeps: only when nothing the listing depends on changed
 * since the kernel was last told to start afresh (see listing_stamp). */
static void rls_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	rlsfs *fs = fs_of(req);
	rnode *n = node_of(fs, ino);
	dir_handle *dh;
	uint64_t stamp;
	entry e;
	op o;

	if (fs->srcwatch) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (resolve_visible(req, &o, n, &e, 0) < 0)
		return;
	op_end(&o, 0);
	if (!S_ISDIR(e.st.st_mode)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	dh = dh_new(fs);
	stamp = listing_stamp(fs, n, &e);
	fi->fh = (uint64_t)(uintptr_t)dh;
	fi->cache_readdir = 1;
	fi->keep_cache = atomic_exchange(&n->listing, stamp) == stamp;
	if (fuse_reply_open(req, fi) == -ENOENT)
		dh_free(dh);
}

/* Take the listing of directory node n into dh, whole: readdir while the
 * directory changes sees each entry once.  The level is asked again: a
 * rename since opendir may have moved the directory somewhere hidden.
 * A source folder listed for the kernel to keep is watched first, so
 * that no change made after its reading goes unseen; *unwatched when it
 * could not be. */
static int dh_take(rlsfs *fs, rnode *n, dir_handle *dh, bool *unwatched)
{
	list_ctx c = { .dh = dh };
	entry e;
	op o;
	int r = op_begin(&o, fs, false);

	if (r == 0)
		r = node_path(fs, n, o.path, sizeof o.path);
	if (r == 0)
		r = entry_load(fs, o.txn, n->parent, o.path, &e, 0);
	if (r == 0 && (!e.exists || level_of(fs, n, o.path) == POLICY_NONE))
		r = -ENOENT;
	if (r == 0 && !S_ISDIR(e.st.st_mode))
		r = -ENOTDIR;
	if (r == 0 && unwatched && e.merged) {
		int fd = dir_fd(fs, n, o.path);

		*unwatched = fd < 0 || srcwatch_add(fs, n, fd) < 0;
	}
	if (r == 0) {
		dh_add(dh, ".", e.st.st_ino, S_IFDIR, POLICY_VIEW);
		dh_add(dh, "..", 1, S_IFDIR, POLICY_VIEW);
		dh->rename_gen = atomic_load(&fs->rename_gen);
		dh->dirs_moved = atomic_load(&fs->dirs_moved);
		dh->delta_writes = atomic_load(&fs->delta_writes);
		r = scan_dir(&o, o.path, e.merged, &c);
		dh->delta_none = !c.any_upper;
	}
	op_end(&o, 0);
	/* past the bound: refused whole, never a listing cut short */
	if (r == 0 && dh->full)
		r = -ENOMEM;
	return r;
}

/* Is directory node n still where its level lets it be listed? */
static int dir_listable(rlsfs *fs, rnode *n)
{
	op o;
	int r = op_start(&o, fs, false, true);

	if (r == 0)
		r = node_path(fs, n, o.path, sizeof o.path);
	if (r == 0 && level_of(fs, n, o.path) == POLICY_NONE)
		r = -ENOENT;
	op_end(&o, 0);
	return r;
}

/* What a readdir reads from: an open directory's handle, or (opened
 * without one) the listing kept on the node. */
typedef struct dir_read {
	rlsfs *fs;
	fuse_ino_t ino;
	dir_handle *dh;
	bool kept;
} dir_read;

/* The listing to read from offset off of directory ino, held.  A kept
 * listing is taken afresh at offset 0 (the kernel asks from the start
 * only when it keeps none) and read on at later offsets; the level is
 * asked each time. */
static int dir_read_begin(dir_read *d, rlsfs *fs, fuse_ino_t ino, off_t off, struct fuse_file_info *fi)
{
	rnode *n = node_of(fs, ino);
	int r = 0;

	*d = (dir_read){ .fs = fs, .ino = ino, .dh = (dir_handle *)(uintptr_t)fi->fh };
	if (d->dh) {
		pthread_mutex_lock(&d->dh->lock);
		if (!d->dh->taken) {
			r = dh_take(fs, n, d->dh, NULL);
			d->dh->taken = r == 0;
		}
		if (r < 0)
			pthread_mutex_unlock(&d->dh->lock);
		return r;
	}
	d->kept = true;
	d->dh = off ? listing_get(fs, n) : NULL;
	if (d->dh && d->dh->dirs_moved != atomic_load(&fs->dirs_moved)) {
		listing_put(fs, d->dh, true);
		d->dh = NULL;
	}
	if (d->dh) {
		r = dir_listable(fs, n);
		if (r < 0)
			listing_put(fs, d->dh, false);
		return r;
	}
	d->dh = dh_new(fs);
	r = dh_take(fs, n, d->dh, &d->dh->unwatched);
	if (r < 0) {
		dh_free(d->dh);
		return r;
	}
	listing_keep(fs, n, d->dh);
	return 0;
}

/* Let go of the listing; `end`: the reply carried nothing, its end. */
static void dir_read_end(dir_read *d, bool end)
{
	if (!d->kept) {
		pthread_mutex_unlock(&d->dh->lock);
		return;
	}
	/* unwatched: the kernel is not to keep what it read */
	if (end && d->dh->unwatched)
		srcwatch_inval(d->fs, d->ino);
	listing_put(d->fs, d->dh, end);
}

static void rls_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	dir_read d;
	dir_handle *dh;
	int r = dir_read_begin(&d, fs_of(req), ino, off, fi);
	char *buf;
	size_t used = 0;

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	dh = d.dh;
	buf = rls_xmalloc(size);
	for (size_t i = (size_t)off; i < dh->n; i++) {
		struct stat st = { .st_ino = dh->ents[i].ino, .st_mode = dh->ents[i].type };
		size_t len = fuse_add_direntry(req, buf + used, size - used, dh->ents[i].name, &st, (off_t)i + 1);

		if (len > size - used)
			break;
		used += len;
	}
	dir_read_end(&d, used == 0);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* readdirplus: each entry may come with what a lookup would answer,
 * saving the kernel one request per entry (ls -l, du, git status), or bare,
 * as readdir gives it (nodeid 0: the kernel makes no dentry), saving rlsfs
 * the lookup (find, which needs only the type).  The kernel asks for plus
 * for every chunk of every listing (rls_init), so rlsfs chooses: files
 * bare until files are looked up in folders it listed bare, then with
 * attributes for the rest of the mount; folders always with them, as
 * whatever walks a tree goes into each folder it lists. */
static void rls_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	rlsfs *fs = fs_of(req);
	rnode *p = node_of(fs, ino);
	bool bare = atomic_load(&fs->bare_misses) < RLSFS_PLUS_AFTER;
	bool begun = false, fresh_levels = false;
	unsigned load = 0;
	char *buf;
	size_t used = 0;
	dir_read dr;
	dir_handle *dh;
	op o;
	int r = dir_read_begin(&dr, fs, ino, off, fi);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	dh = dr.dh;
	buf = rls_xmalloc(size);
	for (size_t i = (size_t)off; i < dh->n; i++) {
		const dirent_snap *d = &dh->ents[i];
		struct fuse_entry_param fe;
		size_t len;

		/* "." and "..", bare entries, and names the kernel holds a
		 * node for already (git status lstat()s every file before
		 * it lists the folders): no lookup, no reference */
		if (i < 2 || (bare && !S_ISDIR(d->type)) || node_known(fs, p, d->name)) {
			memset(&fe, 0, sizeof fe);
			fe.attr.st_ino = d->ino;
			fe.attr.st_mode = d->type;
		} else {
			/* the transaction and the path, once a name needs them */
			if (!begun) {
				begun = true;
				r = op_start(&o, fs, false, true);
				if (r == 0)
					r = node_path(fs, p, o.path, sizeof o.path);
				if (r < 0)
					break;
				fresh_levels = dh->rename_gen == atomic_load(&fs->rename_gen);
				if (dh->delta_none && dh->delta_writes == atomic_load(&fs->delta_writes))
					load = ENTRY_NO_UPPER;
			}
			if (lookup_in(req, &o, p, o.path, d->name, fresh_levels ? d : NULL, load, &fe) < 0 ||
			    !fe.ino)
				continue;	/* gone since the listing was taken */
		}
		len = fuse_add_direntry_plus(req, buf + used, size - used, d->name, &fe, (off_t)i + 1);
		if (len > size - used) {
			if (fe.ino)
				node_forget(fs, node_of(fs, fe.ino), 1);
			break;
		}
		used += len;
	}
	if (begun)
		op_end(&o, 0);
	dir_read_end(&dr, r == 0 && used == 0);
	atomic_store(&p->listed_bare, bare);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void rls_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (fi->fh)
		dh_free((dir_handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* fsync of a folder: its entries are in the index. */
static void rls_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	rls_error err;

	loop_may_block(fs_of(req));
	fuse_reply_err(req, delta_flush(fs_of(req)->d, &err) < 0 ? err_code(&err) : 0);
}

static void rls_statfs(fuse_req_t req, fuse_ino_t ino)
{
	rlsfs *fs = fs_of(req);
	struct statvfs sv;
	delta_usage u;
	rls_error err;

	/* what matters to a writer is room in the delta: on its file
	 * system, and within its quota (df shows the quota as the size) */
	if (fstatvfs(delta_data_fd(fs->d), &sv) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	if (delta_get_usage(fs->d, &u, &err) == 0 && u.max_bytes && sv.f_frsize) {
		uint64_t used = u.data_bytes + u.index_bytes;
		fsblkcnt_t left = used < u.max_bytes ? (u.max_bytes - used) / sv.f_frsize : 0;

		sv.f_blocks = u.max_bytes / sv.f_frsize;
		sv.f_bfree = left < sv.f_bfree ? left : sv.f_bfree;
		sv.f_bavail = left < sv.f_bavail ? left : sv.f_bavail;
	}
	if (u.max_entries) {
		sv.f_files = u.max_entries;
		sv.f_ffree = sv.f_favail = u.entries < u.max_entries ? u.max_entries - u.entries : 0;
	}
	sv.f_namemax = NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

static void rls_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	rlsfs *fs = fs_of(req);
	rnode *n = node_of(fs, ino);
	policy_level level, need = POLICY_VIEW;
	bool dir;
	entry e;
	op o;

	if (resolve(req, &o, n, &e, false, ENTRY_META) < 0)
		return;
	level = level_of(fs, n, o.path);
	op_end(&o, 0);
	dir = S_ISDIR(e.st.st_mode);
	if (level == POLICY_NONE) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (mask & W_OK)
		need = POLICY_WRITE;
	else if (!dir && (mask & (R_OK | X_OK)))
		need = POLICY_READ;
	if (level < need) {
		deny(fs, req, "access", o.path, level, EACCES);
		return;
	}
	if ((mask & X_OK) && !dir && !(e.st.st_mode & 0111)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	fuse_reply_err(req, 0);
}

/* xattrs live on the file that holds the data: the source's, or the data
 * file once copied up; other kinds in the delta carry none.  The path is
 * one name beneath a directory descriptor already held (/proc/self/fd/N/
 * NAME, used with the l*xattr calls), so no descriptor is opened and no
 * symlink followed.  Valid while the operation holds the tree lock. */
static int xattr_path(rlsfs *fs, rnode *n, const char *path, const entry *e, char *buf, size_t size)
{
	int dfd;

	if (e->upper) {
		char name[17];

		if (e->node.kind != DELTA_FILE)
			return -ENOTSUP;
		delta_data_name(e->node.id, name);
		snprintf(buf, size, "/proc/self/fd/%d/%s", delta_data_fd(fs->d), name);
		return 0;
	}
	if (S_ISLNK(e->st.st_mode))
		return -ENOTSUP;
	if (!n->parent) {
		snprintf(buf, size, "/proc/self/fd/%d", fs->src_fd);
		return 0;
	}
	{
		const char *slash = strrchr(path, '/');
		char dirpath[PATH_MAX];

		snprintf(dirpath, sizeof dirpath, "%.*s", slash == path ? 1 : (int)(slash - path), path);
		dfd = dir_fd(fs, n->parent, dirpath);
		if (dfd < 0)
			return dfd;
		if ((size_t)snprintf(buf, size, "/proc/self/fd/%d/%s", dfd, slash + 1) >= size)
			return -ENAMETOOLONG;
	}
	return 0;
}

/* getxattr (name given) and listxattr (name NULL): metadata, so visible
 * from view up.  Entries that carry no attributes have none to show. */
static void xattr_read(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	rlsfs *fs = fs_of(req);
	rnode *n = node_of(fs, ino);
	char xpath[PATH_MAX + 64];
	char *buf = NULL;
	ssize_t len = 0;
	entry e;
	op o;
	int r;

	if (resolve_visible(req, &o, n, &e, ENTRY_META) < 0)
		return;
	/* Answered without asking the data file (one call fewer for each
	 * write and chown): only a name of no other node, no hard link of
	 * one, and no capability can come onto a file but through it. */
	if (name && node_capless(n) && !strcmp(name, XATTR_NAME_CAPS))
		r = -ENODATA;
	else
		r = xattr_path(fs, n, o.path, &e, xpath, sizeof xpath);
	if (r == 0) {
		buf = size ? rls_xmalloc(size) : NULL;
		len = name ? lgetxattr(xpath, name, buf, size) : llistxattr(xpath, buf, size);
		if (len < 0)
			r = -errno;
	} else if (r == -ENOTSUP) {
		r = name ? -ENODATA : 0;
	}
	op_end(&o, 0);
	if (r < 0)
		fuse_reply_err(req, -r);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else
		fuse_reply_buf(req, buf, (size_t)len);
	free(buf);
}

static void rls_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	/* `rlsfs umount` asks the root for the serving process, to wait
	 * until it has let go of the delta.  A pid, and nothing else. */
	if (ino == FUSE_ROOT_ID && !strcmp(name, RLSFS_PID_XATTR)) {
		char pid[24];
		int n = snprintf(pid, sizeof pid, "%d", (int)getpid());

		if (size == 0)
			fuse_reply_xattr(req, (size_t)n);
		else if (size < (size_t)n)
			fuse_reply_err(req, ERANGE);
		else
			fuse_reply_buf(req, pid, (size_t)n);
		return;
	}
	xattr_read(req, ino, name, size);
}

static void rls_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	xattr_read(req, ino, NULL, size);
}

/* setxattr and removexattr: at write, on a copied-up regular file. */
static void xattr_change(fuse_req_t req, fuse_ino_t ino, const char *opname, const char *name,
			 const char *value, size_t size, int flags, bool remove)
{
	rlsfs *fs = fs_of(req);
	rnode *n = node_of(fs, ino);
	policy_level level;
	char xpath[PATH_MAX + 64];
	entry e;
	op o;
	int r;

	if (resolve(req, &o, n, &e, true, ENTRY_META) < 0)
		return;
	level = level_of(fs, n, o.path);
	if (level < POLICY_WRITE) {
		op_end(&o, 0);
		deny(fs, req, opname, o.path, level, modify_errno(level));
		return;
	}
	/* POSIX ACLs are not kept (the mode is the delta's): refused, as
	 * on a file system without them, cp -p and mv fall back to chmod */
	n->made_bare = false;
	if (!strncmp(name, "system.posix_acl_", 17))
		r = -EOPNOTSUPP;
	else
		r = S_ISREG(e.st.st_mode) ? copy_up(&o, o.path, &e) : -ENOTSUP;
	if (r == 0)
		r = xattr_path(fs, n, o.path, &e, xpath, sizeof xpath);
	if (r == 0 && (remove ? lremovexattr(xpath, name) : lsetxattr(xpath, name, value, size, flags)))
		r = -errno;
	/* every handle looks again before its next write (see drop_caps) */
	if (r == 0 && !remove && !strcmp(name, XATTR_NAME_CAPS))
		atomic_fetch_add(&fs->caps_given, 1);
	r = op_end(&o, r) ?: r;
	fuse_reply_err(req, -r);
}

static void rls_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
			 int flags)
{
	xattr_change(req, ino, "setxattr", name, value, size, flags, false);
}

static void rls_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	xattr_change(req, ino, "removexattr", name, NULL, 0, 0, true);
}

static void rls_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			  struct fuse_file_info *fi)
{
	rlsfs *fs = fs_of(req);
	open_file *fh = fh_of(fi);
	bool frees = mode & FALLOC_FL_PUNCH_HOLE;
	delta_grow g;
	rls_error err;
	int r;

	if (!fh->upper) {
		fuse_reply_err(req, EBADF);
		return;
	}
	r = fh_drop_privs(req, ino, fh, false);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (delta_grow_begin(fs->d, fh->held, fh->fd, frees ? 0 : offset, frees ? 0 : (uint64_t)length, 0, &g,
			     &err) < 0) {
		fuse_reply_err(req, err_code(&err));
		return;
	}
	r = fallocate(fh->fd, mode, offset, length) < 0 ? errno : 0;
	delta_grow_end(fs->d, &g);
	fuse_reply_err(req, r);
}

static void rls_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in,
				fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out, size_t len,
				int flags)
{
	rlsfs *fs = fs_of(req);
	open_file *out = fh_of(fi_out);
	delta_grow g;
	rls_error err;
	ssize_t n;
	int r;

	if (!out->upper) {
		fuse_reply_err(req, EBADF);
		return;
	}
	r = fh_drop_privs(req, ino_out, out, false);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (delta_grow_begin(fs->d, out->held, out->fd, off_out, len, DELTA_GROW_CUT, &g, &err) < 0) {
		fuse_reply_err(req, err_code(&err));
		return;
	}
	n = copy_file_range(fh_of(fi_in)->fd, &off_in, out->fd, &off_out, g.len, (unsigned)flags);
	r = n < 0 ? errno : 0;
	delta_grow_end(fs->d, &g);
	if (n < 0)
		fuse_reply_err(req, r);
	else
		fuse_reply_write(req, (size_t)n);
}

static void rls_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	off_t r = lseek(fh_of(fi)->fd, off, whence);

	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}

const struct fuse_lowlevel_ops rlsfs_ops = {
	.init = rls_init,
	.lookup = rls_lookup,
	.forget = rls_forget,
	.forget_multi = rls_forget_multi,
	.getattr = rls_getattr,
	.setattr = rls_setattr,
	.readlink = rls_readlink,
	.mknod = rls_mknod,
	.mkdir = rls_mkdir,
	.symlink = rls_symlink,
	.link = rls_link,
	.unlink = rls_unlink,
	.rmdir = rls_rmdir,
	.rename = rls_rename,
	.create = rls_create,
	.open = rls_open,
	.read = rls_read,
	.write_buf = rls_write_buf,
	.flush = rls_flush,
	.release = rls_release,
	.fsync = rls_fsync,
	.opendir = rls_opendir,
	.readdir = rls_readdir,
	.readdirplus = rls_readdirplus,
	.releasedir = rls_releasedir,
	.fsyncdir = rls_fsyncdir,
	.statfs = rls_statfs,
	.access = rls_access,
	.getxattr = rls_getxattr,
	.listxattr = rls_listxattr,
	.setxattr = rls_setxattr,
	.removexattr = rls_removexattr,
	.fallocate = rls_fallocate,
	.copy_file_range = rls_copy_file_range,
	.lseek = rls_lseek,
};
