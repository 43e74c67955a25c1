/* commit.c - journaled commit of a delta to its source, recovery, discard.
 *
 * A commit is planned from the index, written to a journal in the "meta"
 * database (header "journal", ops "journal/%08x") and synced, then executed
 * op by op.  Every op is idempotent, so recovery simply runs the ops again
 * from the last durable progress mark.
 *
 * A regular file whose data file has no other name in the delta is moved:
 * the data file gets the file's attributes and is renamed from DELTA/data
 * straight to its final name (the delta is emptied by the commit anyway).
 * The journal holds the data file's (dev, ino), so a run that finds the data
 * file gone and that identity at the target knows the move happened.  Other
 * files (hard links within the delta, or a target directory on another
 * filesystem) are copied to a temporary name in their target directory.
 * Both kinds are renamed in batches after one syncfs(): the data is durable
 * before any rename can expose it, at the cost of two syncs per batch
 * instead of two fsyncs per file.
 *
 * Execution order: deletions deepest first, then creations in path order
 * (parents first), then directory attributes deepest first (a directory's
 * mtime is set after its content stops changing).
 */
#include "delta-int.h"

#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>

enum op_kind {
	OP_DEL = 1,	/* remove the source entry (a directory only if empty) */
	OP_MKDIR,	/* make a directory (replacing a non-directory) */
	OP_FILE,	/* regular file from the data file of `id` */
	OP_LINK,	/* hard link to `target` (the merged path of the first name) */
	OP_SYMLINK,
	OP_NODE,	/* fifo, socket, device */
	OP_DIRATTR,	/* mode, owner, times of a directory */
	OP_HOLD,	/* a symlink held back: nothing is done, and its entry
			 * stays in the delta when the rest is cleared */
};

enum {
	OPF_CONFLICT = 1u << 0,
	OPF_SKIP = 1u << 1,	/* planned but not applied (theirs, or kept) */
	OPF_EXISTS = 1u << 2,	/* the source had an entry at the path */
	OPF_COUNT = 1u << 3,	/* counts in the summary */
	OPF_MOVE = 1u << 4,	/* OP_FILE: rename the data file into place */
	OPF_TIMES = 1u << 5,	/* OPF_MOVE: the data file has the times already */
	OPF_SETID = 1u << 6,	/* OP_FILE: set-id bits dropped (keep_setid) */
};

struct op {
	uint8_t kind, flags;
	uint64_t id;
	uint32_t mode, uid, gid;
	uint64_t rdev;
	int64_t atime_ns, mtime_ns;
	uint64_t size;
	uint64_t data_dev, data_ino;	/* OPF_MOVE: the data file's identity */
	uint64_t tmp;		/* random part of the temporary name; 0 in an
				 * older journal (see tmp_name) */
	char *path;
	char *target;
};

/* Version 2 added data_dev and data_ino at the end of each op, version 3
 * tmp; a version 1 or 2 journal still reads. */
#define JOURNAL_V 3
#define BATCH_FILES 1024
#define BATCH_BYTES ((uint64_t)128 << 20)

struct journal {
	uint64_t nonce;
	uint32_t n_ops;
	uint32_t done;		/* ops [0, done) are applied and durable */
	uint8_t phase;		/* 1 applying, 2 cleaning up */
};

/* Paths that conflicted, one string each and NULL after the last: a name
 * may hold any byte but NUL, so no separator could keep two apart. */
struct path_list {
	char **v;
	size_t n, cap;
};

static void path_list_add(struct path_list *l, const char *path)
{
	if (l->n + 2 > l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->v = rls_xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = rls_xstrdup(path);
	l->v[l->n] = NULL;
}

static void path_list_free(struct path_list *l)
{
	for (size_t i = 0; l->v && i < l->n; i++)	/* v may have been handed on */
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* The state of one execution (a commit or a recovery). */
struct run {
	delta *d;
	int src_fd;
	struct journal j;
	struct op *ops;
	size_t n_ops;
	long crash_after, steps;
	size_t batch_files;
	bool root;
	uint64_t src_dev;
	uid_t euid;
	gid_t egid;
	/* DELTA/data is not on the source root's filesystem: nothing is
	 * moved (so every move lands on the filesystem syncfs(src_fd) syncs). */
	bool data_other_fs;
	/* A filesystem a move was refused into (EXDEV although st_dev matched:
	 * another mount of it); files into it are copied from then on. */
	bool have_exdev;
	uint64_t exdev_dev;
	/* Parent directory cache for runs of files in one directory; while
	 * `cache_pinned`, the fd belongs to `dirs` (the batch uses it). */
	char *cache_dir;
	int cache_fd;
	bool cache_pinned;
	bool cache_dev_known;
	uint64_t cache_dev;
	/* Files waiting for the next syncfs before their rename: staged copies
	 * (temporary names) and moves (data files with their attributes set). */
	struct staged {
		int dir_fd;	/* borrowed from `dirs` or r->src_fd */
		bool move;
		char *name;	/* points into r->ops[op].path */
		size_t op;
	} *batch;
	size_t n_batch;
	uint64_t batch_bytes;
	int *dirs;		/* directory fds the batch holds */
	size_t n_dirs, cap_dirs;
	struct path_list conflicts;
	unsigned late_conflicts;
	struct path_list setid;	/* paths whose set-id bits were dropped */
};

/* Fill buf from the kernel's random pool. */
static int random_bytes(void *buf, size_t n, rls_error *err)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = getrandom((char *)buf + got, n - got, 0);

		if (r < 0 && errno != EINTR)
			return rls_error_set(err, errno, "getrandom");
		if (r > 0)
			got += (size_t)r;
	}
	return 0;
}

/* ---- test hook ---------------------------------------------------------- */

static void step(struct run *r)
{
	r->steps++;
	if (r->crash_after > 0 && r->steps == r->crash_after)
		_exit(137);
}

/* ---- ops and their encoding ------------------------------------------- */

static void free_ops(struct op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(ops[i].path);
		free(ops[i].target);
	}
	free(ops);
}

static void add_str(rls_buf *b, const char *s)
{
	uint16_t n = htole16((uint16_t)(s ? strlen(s) : 0));

	rls_buf_add(b, &n, 2);
	if (s)
		rls_buf_add(b, s, strlen(s));
}

#define ADD(b, v, conv) do { __typeof__(v) _x = conv(v); rls_buf_add(b, &_x, sizeof _x); } while (0)

static void pack_op(rls_buf *b, const struct op *o)
{
	rls_buf_reset(b);
	rls_buf_addc(b, (char)o->kind);
	rls_buf_addc(b, (char)o->flags);
	ADD(b, o->id, htole64);
	ADD(b, o->mode, htole32);
	ADD(b, o->uid, htole32);
	ADD(b, o->gid, htole32);
	ADD(b, o->rdev, htole64);
	ADD(b, (uint64_t)o->atime_ns, htole64);
	ADD(b, (uint64_t)o->mtime_ns, htole64);
	ADD(b, o->size, htole64);
	add_str(b, o->path);
	add_str(b, o->target);
	ADD(b, o->data_dev, htole64);
	ADD(b, o->data_ino, htole64);
	ADD(b, o->tmp, htole64);
}

struct rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static uint64_t rd_n(struct rd *r, size_t n)
{
	uint64_t v = 0;

	if (r->left < n) {
		r->bad = true;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	r->left -= n;
	return v;
}

static char *rd_str(struct rd *r)
{
	size_t n = rd_n(r, 2);
	char *s;

	if (r->bad || r->left < n) {
		r->bad = true;
		return NULL;
	}
	if (n == 0)
		return NULL;
	s = rls_xstrndup((const char *)r->p, n);
	r->p += n;
	r->left -= n;
	return s;
}

static int unpack_op(const char *buf, size_t len, struct op *o)
{
	struct rd r = { (const uint8_t *)buf, len, false };

	memset(o, 0, sizeof *o);
	o->kind = (uint8_t)rd_n(&r, 1);
	o->flags = (uint8_t)rd_n(&r, 1);
	o->id = rd_n(&r, 8);
	o->mode = (uint32_t)rd_n(&r, 4);
	o->uid = (uint32_t)rd_n(&r, 4);
	o->gid = (uint32_t)rd_n(&r, 4);
	o->rdev = rd_n(&r, 8);
	o->atime_ns = (int64_t)rd_n(&r, 8);
	o->mtime_ns = (int64_t)rd_n(&r, 8);
	o->size = rd_n(&r, 8);
	o->path = rd_str(&r);
	o->target = rd_str(&r);
	if (r.left) {
		o->data_dev = rd_n(&r, 8);
		o->data_ino = rd_n(&r, 8);
	}
	if (r.left)
		o->tmp = rd_n(&r, 8);
	if (!o->data_ino)
		o->flags &= (uint8_t)~OPF_MOVE;
	/* Paths from disk: as the index writes them, never "/" itself (no op
	 * is planned for the root), and a hard link's first name likewise. */
	if (r.bad || !o->path || o->kind < OP_DEL || o->kind > OP_HOLD ||
	    !delta_path_ok(o->path, strlen(o->path)) || !strcmp(o->path, "/") ||
	    (o->kind == OP_LINK && (!o->target || !delta_path_ok(o->target, strlen(o->target)) ||
				    !strcmp(o->target, "/")))) {
		free(o->path);
		free(o->target);
		return -1;
	}
	return 0;
}

static void pack_journal(const struct journal *j, uint8_t buf[24])
{
	uint64_t nonce = htole64(j->nonce);
	uint32_t n = htole32(j->n_ops), done = htole32(j->done);

	buf[0] = JOURNAL_V;
	buf[1] = j->phase;
	memset(buf + 2, 0, 6);
	memcpy(buf + 8, &nonce, 8);
	memcpy(buf + 16, &n, 4);
	memcpy(buf + 20, &done, 4);
}

static int unpack_journal(const char *buf, size_t len, struct journal *j)
{
	struct rd r = { (const uint8_t *)buf, len, false };
	uint64_t v = rd_n(&r, 1);

	if (len != 24 || v < 1 || v > JOURNAL_V)
		return -1;
	j->phase = (uint8_t)rd_n(&r, 1);
	rd_n(&r, 6);
	j->nonce = rd_n(&r, 8);
	j->n_ops = (uint32_t)rd_n(&r, 4);
	j->done = (uint32_t)rd_n(&r, 4);
	return r.bad || j->phase < 1 || j->phase > 2 || j->done > j->n_ops ? -1 : 0;
}

static void op_key(char buf[24], size_t i)
{
	snprintf(buf, 24, "journal/%08zx", i);
}

/* Write the journal header in its own durable transaction. */
static int journal_mark(struct run *r, rls_error *err)
{
	delta_txn *txn;
	uint8_t buf[24];

	pack_journal(&r->j, buf);
	if (delta_begin(r->d, true, &txn, err) < 0)
		return -1;
	if (delta_meta_put(txn, "journal", buf, sizeof buf, err) < 0) {
		delta_abort(txn);
		return -1;
	}
	if (delta_commit_txn(txn, err) < 0 || delta_sync(r->d, err) < 0)
		return -1;
	return 0;
}

static int journal_write(struct run *r, rls_error *err)
{
	_cleanup_buf_ rls_buf b = { 0 };
	delta_txn *txn;
	uint8_t hdr[24];
	char key[24];

	if (delta_begin(r->d, true, &txn, err) < 0)
		return -1;
	for (size_t i = 0; i < r->n_ops; i++) {
		pack_op(&b, &r->ops[i]);
		op_key(key, i);
		if (delta_meta_put(txn, key, b.data, b.len, err) < 0)
			goto fail;
	}
	pack_journal(&r->j, hdr);
	if (delta_meta_put(txn, "journal", hdr, sizeof hdr, err) < 0)
		goto fail;
	if (delta_commit_txn(txn, err) < 0 || delta_sync(r->d, err) < 0)
		return -1;
	return 0;
fail:
	delta_abort(txn);
	return -1;
}

static int journal_read(delta *d, struct journal *j, struct op **ops, rls_error *err)
{
	delta_txn *txn;
	_cleanup_free_ char *hdr = NULL;
	size_t len;
	struct op *v = NULL;
	int r;

	if (delta_begin(d, false, &txn, err) < 0)
		return -1;
	r = delta_meta_get(txn, "journal", &hdr, &len, err);
	if (r != 0) {
		delta_abort(txn);
		return r;
	}
	if (unpack_journal(hdr, len, j) < 0) {
		delta_abort(txn);
		return rls_error_set(err, EIO, "%s: damaged commit journal", d->path);
	}
	if (ops) {
		/* Grown as ops are read: n_ops is read from disk, and a damaged
		 * one must fail on a missing op, not on an allocation. */
		size_t cap = 0;

		for (size_t i = 0; i < j->n_ops; i++) {
			char key[24];
			_cleanup_free_ char *val = NULL;

			if (i == cap) {
				cap = cap ? 2 * cap : 64;
				v = rls_xrealloc(v, cap * sizeof *v);
			}
			op_key(key, i);
			if (delta_meta_get(txn, key, &val, &len, err) != 0 || unpack_op(val, len, &v[i]) < 0) {
				delta_abort(txn);
				free_ops(v, i);
				return rls_error_set(err, EIO, "%s: damaged commit journal (op %zu)", d->path, i);
			}
		}
		*ops = v ? v : rls_xcalloc(1, sizeof *v);
	}
	delta_abort(txn);
	return 0;
}

/* Entries of the index that outlive a commit: the symlinks it held back. */
struct kept {
	char *path;
	delta_node node;
	delta_inode ino;
	bool has_ino;
};

/* Read the entries the OP_HOLD ops name (before the index is cleared). */
static int kept_read(delta_txn *txn, const struct op *ops, size_t n_ops, struct kept **out, size_t *n_out,
		     rls_error *err)
{
	struct kept *k = NULL;
	size_t n = 0;
	int r;

	for (size_t i = 0; i < n_ops; i++) {
		if (ops[i].kind != OP_HOLD)
			continue;
		k = rls_xrealloc(k, (n + 1) * sizeof *k);
		memset(&k[n], 0, sizeof k[n]);
		k[n].path = ops[i].path;
		r = delta_get(txn, ops[i].path, &k[n].node, err);
		if (r < 0)
			goto fail;
		if (r == 1 || k[n].node.kind != DELTA_SYMLINK)
			continue;	/* not there (a second recovery): nothing to keep */
		r = k[n].node.id ? delta_get_inode(txn, k[n].node.id, &k[n].ino, err) : 1;
		if (r < 0)
			goto fail;
		k[n++].has_ino = r == 0;
	}
	*out = k;
	*n_out = n;
	return 0;
fail:
	free(k);
	return -1;
}

/* Remove the journal; with `clear_index` also every node and inode but
 * the symlinks held back, in the same transaction so no state is half one
 * and half the other. */
static int journal_finish(delta *d, bool clear_index, struct journal *j, const struct op *ops, size_t n_ops,
			  rls_error *err)
{
	delta_txn *txn;
	char key[24], epoch[32];
	struct timespec now;

	if (delta_begin(d, true, &txn, err) < 0)
		return -1;
	if (clear_index) {
		uint8_t hdr[24];
		_cleanup_free_ struct kept *kept = NULL;
		size_t n_kept = 0;

		if (kept_read(txn, ops, n_ops, &kept, &n_kept, err) < 0 || delta_clear_index(txn, err) < 0)
			goto fail;
		for (size_t i = 0; i < n_kept; i++) {
			if (delta_put(txn, kept[i].path, &kept[i].node, err) < 0 ||
			    (kept[i].has_ino && delta_put_inode(txn, kept[i].node.id, &kept[i].ino, err) < 0))
				goto fail;
		}
		/* The policies judge the symlinks kept; with none, the delta
		 * starts over. */
		if (!n_kept && delta_forget_policies(txn, err) < 0)
			goto fail;
		/* Conflict checks of nodes without a base compare against the
		 * time the (now empty) delta starts over. */
		clock_gettime(CLOCK_REALTIME, &now);
		snprintf(epoch, sizeof epoch, "%lld", (long long)delta_ts_ns(&now));
		if (delta_meta_put(txn, "epoch", epoch, strlen(epoch), err) < 0)
			goto fail;
		j->phase = 2;
		pack_journal(j, hdr);
		if (delta_meta_put(txn, "journal", hdr, sizeof hdr, err) < 0)
			goto fail;
	} else {
		for (size_t i = 0; i < j->n_ops; i++) {
			op_key(key, i);
			if (delta_meta_del(txn, key, err) < 0)
				goto fail;
		}
		if (delta_meta_del(txn, "journal", err) < 0)
			goto fail;
	}
	if (delta_commit_txn(txn, err) < 0 || delta_sync(d, err) < 0)
		return -1;
	return 0;
fail:
	delta_abort(txn);
	return -1;
}

/* ---- locks ------------------------------------------------------------ */

static int lock_file(delta *d, const char *name, int how, int *out, rls_error *err)
{
	int fd = openat(d->dir_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return rls_error_set(err, errno, "%s/%s", d->path, name);
	if (RLS_TEMP_FAILURE_RETRY(flock(fd, how)) < 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK)
			return rls_error_set(err, EBUSY, "%s: delta is mounted", d->path);
		return rls_error_set(err, e, "%s/%s", d->path, name);
	}
	*out = fd;
	return 0;
}

static int lock_source(delta *d, int *out, rls_error *err)
{
	int fd = open(d->source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return rls_error_set(err, errno, "source %s", d->source);
	/* Commits of every delta over this source take turns here. */
	if (RLS_TEMP_FAILURE_RETRY(flock(fd, LOCK_EX)) < 0) {
		int e = errno;

		close(fd);
		return rls_error_set(err, e, "lock source %s", d->source);
	}
	*out = fd;
	return 0;
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

static void cache_drop(struct run *r)
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
static void cache_pin(struct run *r, int dirfd)
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
static void release_dirs(struct run *r)
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
static int parent_of(struct run *r, const char *path, bool make, const char **name, rls_error *err)
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
		path_list_add(&r->conflicts, path);
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
static int dir_dev(struct run *r, int dirfd, uint64_t *dev, rls_error *err)
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
static void tmp_name(const struct run *r, size_t i, char buf[48])
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

/* Give the file open as fd op o's owner, mode and times. */
static void set_attrs_fd(struct run *r, int fd, const struct op *o)
{
	struct timespec ts[2] = { delta_ns_ts(o->atime_ns), delta_ns_ts(o->mtime_ns) };

	if (r->root && (o->uid != r->euid || o->gid != r->egid))
		(void)!fchown(fd, o->uid, o->gid);
	(void)!fchmod(fd, o->mode & 07777);
	futimens(fd, ts);
}

/* Give the entry dirfd/name op o's owner, mode (not for a symlink) and
 * times, when it is of type `type`: through an O_PATH descriptor of what
 * is really there, so that nothing put in its place since (a symlink, or a
 * hard link to a file elsewhere) is changed.  1 when the entry is not of
 * that type (nothing is changed), 0 when done, -1 when it is gone. */
static int set_attrs_at(struct run *r, int dirfd, const char *name, const struct op *o, mode_t type)
{
	struct timespec ts[2] = { delta_ns_ts(o->atime_ns), delta_ns_ts(o->mtime_ns) };
	_cleanup_close_ int pfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	char proc[32];
	struct stat st;

	if (pfd < 0 || fstat(pfd, &st) < 0)
		return -1;
	if ((st.st_mode & S_IFMT) != type)
		return 1;
	if (r->root && (o->uid != r->euid || o->gid != r->egid))
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
static int clear_dir_at(struct run *r, int dirfd, const char *name, const char *path, bool *kept, rls_error *err)
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
		path_list_add(&r->conflicts, path);
		return 0;
	}
	return rls_error_set(err, errno, "rmdir %s%s", r->d->source, path);
}

/* Rename the non-directory from_fd/from over dirfd/name.  The rename is
 * tried first: only when a directory is in the way does clear_dir_at look
 * at it.  *kept: that directory stays, and `from` is still the caller's. */
static int rename_over(struct run *r, int from_fd, const char *from, int dirfd, const char *name, const char *path,
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
static int rename_into_place(struct run *r, int dirfd, const char *tmp, const char *name, const char *path, rls_error *err)
{
	bool kept;
	int rc = rename_over(r, dirfd, tmp, dirfd, name, path, &kept, err);

	if (rc < 0 || kept)
		unlinkat(dirfd, tmp, 0);
	return rc;
}

static int sync_source(struct run *r, rls_error *err)
{
	if (syncfs(r->src_fd) < 0)
		return rls_error_set(err, errno, "sync %s", r->d->source);
	return 0;
}

/* Write a copy of op i's data file to `tmp` in dirfd with the op's
 * attributes; returns its fd (the caller closes it). */
static int copy_to_tmp(struct run *r, size_t i, int dirfd, const char *tmp, rls_error *err)
{
	const struct op *o = &r->ops[i];
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
static void moved_before(struct run *r, const struct op *o, int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (uint64_t)st.st_dev == o->data_dev &&
	    (uint64_t)st.st_ino == o->data_ino)
		return;
	r->late_conflicts++;
	path_list_add(&r->conflicts, o->path);
}

static bool data_gone(struct run *r, const struct op *o)
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
static int prepare_move(struct run *r, const struct op *o, int dirfd, const char *name, bool *move, rls_error *err)
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
	if (r->root && (o->uid != r->euid || o->gid != r->egid))
		(void)!fchownat(data_fd, dname, o->uid, o->gid, AT_SYMLINK_NOFOLLOW);
	if (fchmodat(data_fd, dname, o->mode & 07777, 0) < 0 && errno == ENOENT) {
		moved_before(r, o, dirfd, name);
		return 1;
	}
	if (!(o->flags & OPF_TIMES))
		utimensat(data_fd, dname, ts, AT_SYMLINK_NOFOLLOW);
	*move = true;
	return 0;
}

static int stage_file(struct run *r, size_t i, rls_error *err)
{
	const struct op *o = &r->ops[i];
	const char *name;
	bool move = false;
	int dirfd = parent_of(r, o->path, true, &name, err);

	if (dirfd < 0)
		return -1;
	if (o->flags & OPF_MOVE) {
		int rc = prepare_move(r, o, dirfd, name, &move, err);

		if (rc != 0)
			return rc < 0 ? -1 : 0;
	}
	if (!move) {
		char tmp[48];
		bool linked = false;
		int fd;

		tmp_name(r, i, tmp);
		if (o->kind == OP_LINK) {
			/* The first name is in place (a flush ran before this op).
			 * Reach it beneath the root without following symlinks
			 * (not through parent_of: its one cached descriptor is
			 * dirfd). */
			const char *slash = strrchr(o->target, '/');
			_cleanup_free_ char *tdir = slash != o->target ?
				rls_xstrndup(o->target + 1, (size_t)(slash - o->target - 1)) : NULL;
			_cleanup_close_ int tfd = tdir ? open_beneath(r->src_fd, tdir) : -1;

			unlinkat(dirfd, tmp, 0);
			linked = (!tdir || tfd >= 0) &&
				 linkat(tdir ? tfd : r->src_fd, slash + 1, dirfd, tmp, 0) == 0;
		}
		if (!linked && (o->flags & OPF_MOVE) && data_gone(r, o)) {
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
static int copy_now(struct run *r, const struct staged *s, rls_error *err)
{
	const struct op *o = &r->ops[s->op];
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
static int place(struct run *r, const struct staged *s, rls_error *err)
{
	const struct op *o = &r->ops[s->op];
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
static int flush(struct run *r, size_t next_op, rls_error *err)
{
	int ret = 0;

	if (r->n_batch) {
		ret = sync_source(r, err);
		for (size_t i = 0; i < r->n_batch; i++) {
			struct staged *s = &r->batch[i];

			if (ret == 0) {
				ret = place(r, s, err);
				if (ret == 0)
					step(r);
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
		if (journal_mark(r, err) < 0)
			return -1;
	}
	return 0;
}

static int do_del(struct run *r, const struct op *o, rls_error *err)
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
		path_list_add(&r->conflicts, o->path);
		return 0;
	}
	return rls_error_set(err, errno, "remove %s%s", r->d->source, o->path);
}

static int do_mkdir(struct run *r, const struct op *o, rls_error *err)
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

static int do_special(struct run *r, size_t i, rls_error *err)
{
	const struct op *o = &r->ops[i];
	const char *name;
	char tmp[48];
	int dirfd = parent_of(r, o->path, true, &name, err);

	if (dirfd < 0)
		return -1;
	tmp_name(r, i, tmp);
	unlinkat(dirfd, tmp, 0);
	if (o->kind == OP_SYMLINK) {
		if (symlinkat(o->target ? o->target : "", dirfd, tmp) < 0)
			return rls_error_set(err, errno, "symlink %s%s", r->d->source, o->path);
	} else if (mknodat(dirfd, tmp, (o->mode & S_IFMT) | 0600, (dev_t)o->rdev) < 0) {
		return rls_error_set(err, errno, "mknod %s%s", r->d->source, o->path);
	}
	if (set_attrs_at(r, dirfd, tmp, o, o->kind == OP_SYMLINK ? S_IFLNK : o->mode & S_IFMT) != 0)
		return rls_error_set(err, EEXIST, "%s%s: its temporary name was replaced while the commit made it",
				     r->d->source, o->path);
	return rename_into_place(r, dirfd, tmp, name, o->path, err);
}

static int do_dirattr(struct run *r, const struct op *o, rls_error *err)
{
	const char *name;
	int dirfd = parent_of(r, o->path, false, &name, err);

	if (dirfd < 0)
		return err->code == ENOENT || err->code == ENOTDIR ? 0 : -1;
	/* what is there now may be a symlink put in the folder's place */
	(void)set_attrs_at(r, dirfd, name, o, S_IFDIR);
	return 0;
}

static int execute(struct run *r, rls_error *err)
{
	for (size_t i = r->j.done; i < r->n_ops; i++) {
		const struct op *o = &r->ops[i];
		int rc = 0;

		/* A hard link needs its first name in place; a directory's
		 * attributes must come after every rename in it; deletions and
		 * mkdirs invalidate the parent cache. */
		if ((o->kind == OP_LINK || o->kind == OP_DIRATTR) && r->n_batch && flush(r, i, err) < 0)
			return -1;
		if (o->kind != OP_FILE)
			cache_drop(r);
		switch (o->kind) {
		case OP_DEL: rc = do_del(r, o, err); break;
		case OP_MKDIR: rc = do_mkdir(r, o, err); break;
		case OP_FILE:
		case OP_LINK: rc = stage_file(r, i, err); break;
		case OP_SYMLINK:
		case OP_NODE: rc = do_special(r, i, err); break;
		case OP_DIRATTR: rc = do_dirattr(r, o, err); break;
		case OP_HOLD: break;
		}
		if (rc < 0) {
			flush(r, i, &(rls_error){ 0 });
			return -1;
		}
		step(r);
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
static void sweep_tmp(struct run *r)
{
	for (size_t i = 0; i < r->n_ops; i++) {
		const struct op *o = &r->ops[i];
		const char *name;
		char tmp[48];
		rls_error ignore;
		int dirfd;

		if (o->kind != OP_FILE && o->kind != OP_LINK && o->kind != OP_SYMLINK && o->kind != OP_NODE)
			continue;
		dirfd = parent_of(r, o->path, false, &name, &ignore);
		if (dirfd < 0)
			continue;
		tmp_name(r, i, tmp);
		unlinkat(dirfd, tmp, 0);
	}
	cache_drop(r);
}

static void run_init(struct run *r, delta *d, int src_fd)
{
	const char *crash = getenv("RLS_COMMIT_CRASH_AFTER");
	struct stat src, data;

	memset(r, 0, sizeof *r);
	r->d = d;
	r->src_fd = src_fd;
	r->cache_fd = -1;
	r->euid = geteuid();
	r->egid = getegid();
	r->root = r->euid == 0;
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

static void run_free(struct run *r)
{
	cache_drop(r);
	release_dirs(r);
	free(r->dirs);
	free(r->batch);
	free_ops(r->ops, r->n_ops);
	path_list_free(&r->conflicts);
	path_list_free(&r->setid);
}

/* Apply the ops from the journal's progress mark on, then empty the delta
 * and drop the journal. */
static int finish(struct run *r, rls_error *err)
{
	if (r->j.phase == 1) {
		if (execute(r, err) < 0)
			return -1;
		if (journal_finish(r->d, true, &r->j, r->ops, r->n_ops, err) < 0)
			return -1;
		step(r);
	}
	if (delta_clear_data(r->d, err) < 0)
		return -1;
	step(r);
	return journal_finish(r->d, false, &r->j, r->ops, r->n_ops, err);
}

int delta_recover(delta *d, rls_error *err)
{
	_cleanup_close_ int commit_fd = -1, src_fd = -1;
	struct journal j;
	struct run r;
	int rc;

	rc = journal_read(d, &j, NULL, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	/* Wait out a commit that is running right now, then look again. */
	if (lock_file(d, "commit.lock", LOCK_EX, &commit_fd, err) < 0 || lock_source(d, &src_fd, err) < 0)
		return -1;
	run_init(&r, d, src_fd);
	rc = journal_read(d, &r.j, &r.ops, err);
	if (rc != 0) {
		run_free(&r);
		return rc < 0 ? -1 : 0;
	}
	r.n_ops = r.j.n_ops;
	rc = finish(&r, err);
	if (rc == 0)
		sweep_tmp(&r);
	run_free(&r);
	if (rc < 0)
		return rls_error_prefix(err, "%s: cannot finish an interrupted commit", d->path);
	return 0;
}

/* ---- planning --------------------------------------------------------- */

struct plan {
	delta *d;
	delta_conflict_mode mode;
	delta_entry *e;
	size_t n;
	struct op *ops;		/* one slot per entry, path order */
	struct op *attrs;	/* DIRATTR per entry (kind 0 when none) */
	int64_t epoch;
	uint64_t need_bytes, need_names;
};

static int entry_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const delta_entry *)elem)->path);
}

static ssize_t find_entry(const struct plan *p, const char *path)
{
	const delta_entry *e = bsearch(path, p->e, p->n, sizeof *p->e, entry_cmp);

	return e ? e - p->e : -1;
}

/* Will the source directory at entry i's path be empty once the planned
 * deletions below it have run?  Children are decided before parents. */
static int dir_will_empty(struct plan *p, const char *path, bool *out, rls_error *err)
{
	char sp[DELTA_PATH_MAX * 2], child[DELTA_PATH_MAX * 2];
	DIR *dir;
	struct dirent *de;

	*out = true;
	if (delta_source_path(p->d, path, sp, sizeof sp, err) < 0)
		return -1;
	dir = opendir(sp);
	if (!dir)
		return errno == ENOENT || errno == ENOTDIR ? 0 : rls_error_set(err, errno, "%s", sp);
	while ((de = readdir(dir))) {
		ssize_t k;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(child, sizeof child, "%s/%s", strcmp(path, "/") ? path : "", de->d_name);
		k = find_entry(p, child);
		if (k < 0 || p->ops[k].kind != OP_DEL || (p->ops[k].flags & OPF_SKIP)) {
			*out = false;
			break;
		}
	}
	closedir(dir);
	return 0;
}

static void fill_attrs(struct op *o, const delta_entry *e)
{
	if (!e->has_inode) {
		/* A node without attributes gets what mkdir(1) would give. */
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		o->mode = (e->kind == DELTA_DIR ? 0755 : 0644);
		o->uid = geteuid();
		o->gid = getegid();
		o->atime_ns = o->mtime_ns = delta_ts_ns(&now);
		return;
	}
	o->mode = e->mode;
	o->uid = e->uid;
	o->gid = e->gid;
	o->rdev = e->rdev;
	o->atime_ns = e->atime_ns;
	o->mtime_ns = e->mtime_ns;
}

/* A set-user-id or set-group-id bit (the latter with group execute, as
 * the kernel's file_remove_privs judges) goes onto a file only with the
 * content it had in the source: a commit, maybe run as root, must not
 * leave a privileged program the sandbox wrote.  rlsfs drops the bits when
 * a file is opened for writing; this catches whatever reached the delta
 * otherwise.  The bits are dropped, and the path reported, when the
 * data is not the base's. */
static int keep_setid(struct plan *p, const delta_entry *e, struct op *o, rls_error *err)
{
	uint32_t mode = o->mode & ~(uint32_t)S_ISUID;
	uint64_t h;

	if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		mode &= ~(uint32_t)S_ISGID;
	if (mode == o->mode || (e->iflags & DELTA_SETID_OK))
		return 0;
	if ((e->iflags & DELTA_HAS_BASE) && e->base.has_hash && e->size == e->base.size) {
		_cleanup_close_ int fd = delta_data_open(p->d, e->id, O_RDONLY, err);

		if (fd < 0 || delta_hash_content(fd, &h, err) < 0)
			return rls_error_prefix(err, "%s", e->path);
		if (h == e->base.xxh3)
			return 0;
	}
	o->mode = mode;
	o->flags |= OPF_SETID;
	return 0;
}

/* Decide one entry's op and whether it conflicts. */
static int plan_entry(struct plan *p, size_t i, rls_error *err)
{
	const delta_entry *e = &p->e[i];
	struct op *o = &p->ops[i];
	char sp[DELTA_PATH_MAX * 2];
	struct stat st;
	bool exists, differs, changed = false;

	if (!strcmp(e->path, "/"))
		return 0;
	if (delta_source_path(p->d, e->path, sp, sizeof sp, err) < 0)
		return -1;
	exists = lstat(sp, &st) == 0;
	if (!exists && errno != ENOENT && errno != ENOTDIR)
		return rls_error_set(err, errno, "%s", sp);
	if (delta_base_changed(p->d, e, &changed, err) < 0)
		return -1;
	/* Without a base, an entry the source gained or changed after the
	 * delta began is someone else's: both sides wrote the path. */
	if (!(e->iflags & DELTA_HAS_BASE) && exists && !S_ISDIR(st.st_mode) && delta_ts_ns(&st.st_ctim) > p->epoch)
		changed = true;

	o->path = rls_xstrdup(e->path);
	o->id = e->id;
	fill_attrs(o, e);
	if (exists)
		o->flags |= OPF_EXISTS;

	switch (e->kind) {
	case DELTA_WHITEOUT:
		if (!exists) {
			o->kind = 0;	/* already gone */
			return 0;
		}
		o->kind = OP_DEL;
		break;
	case DELTA_DIR:
		if (exists && S_ISDIR(st.st_mode)) {
			if (delta_entry_differs(p->d, e, &st, &differs, err) < 0)
				return -1;
			o->kind = 0;
			changed = false;	/* directories merge */
		} else {
			o->kind = OP_MKDIR;
			differs = true;
		}
		if (differs) {
			struct op *a = &p->attrs[i];

			a->kind = OP_DIRATTR;
			a->path = rls_xstrdup(e->path);
			fill_attrs(a, e);
			if (!o->kind)
				a->flags |= OPF_EXISTS | OPF_COUNT;
		}
		break;
	default:
		if (exists && delta_entry_differs(p->d, e, &st, &differs, err) < 0)
			return -1;
		if (exists && !differs) {
			o->kind = 0;	/* copied up, never changed */
			return 0;
		}
		if (e->kind == DELTA_FILE) {
			o->kind = OP_FILE;
			o->size = e->size;
			p->need_bytes += e->size;
			if (keep_setid(p, e, o, err) < 0)
				return -1;
		} else if (e->kind == DELTA_SYMLINK) {
			o->kind = OP_SYMLINK;
			o->target = e->target ? rls_xstrdup(e->target) : NULL;
		} else {
			o->kind = OP_NODE;
			o->mode = (o->mode & 07777) | (mode_t)(e->kind == DELTA_FIFO ? S_IFIFO :
				e->kind == DELTA_SOCK ? S_IFSOCK : e->kind == DELTA_CHR ? S_IFCHR : S_IFBLK);
		}
		break;
	}
	o->flags |= OPF_COUNT;
	p->need_names++;
	if (changed)
		o->flags |= OPF_CONFLICT;
	return 0;
}

static bool below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static void report_path(struct path_list *l, unsigned *count, const char *path)
{
	(*count)++;
	path_list_add(l, path);
}

static int check_space(struct plan *p, int src_fd, rls_error *err)
{
	struct statvfs vfs;
	uint64_t avail, slack = 1 << 20;

	if (fstatvfs(src_fd, &vfs) < 0)
		return 0;
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (p->need_bytes + slack > avail && geteuid() != 0)
		goto full;
	if (p->need_bytes + slack > (uint64_t)vfs.f_bfree * vfs.f_frsize)
		goto full;
	if (vfs.f_files && p->need_names > vfs.f_favail)
		return rls_error_set(err, ENOSPC, "source %s: not enough inodes for the commit (%llu needed)",
				     p->d->source, (unsigned long long)p->need_names);
	return 0;
full:
	return rls_error_set(err, ENOSPC, "source %s: not enough space for the commit (%llu MiB needed, %llu MiB free)",
			     p->d->source, (unsigned long long)((p->need_bytes + slack) >> 20),
			     (unsigned long long)(avail >> 20));
}

static int read_epoch(delta *d, int64_t *out, rls_error *err)
{
	delta_txn *txn;
	_cleanup_free_ char *s = NULL;
	int r;

	*out = 0;
	if (delta_begin(d, false, &txn, err) < 0)
		return -1;
	r = delta_meta_get(txn, "epoch", &s, NULL, err);
	delta_abort(txn);
	if (r < 0)
		return -1;
	if (r == 0)
		*out = strtoll(s, NULL, 10);
	return 0;
}

/* A regular file's op by inode id: sorted, the names of one inode come
 * together, in path order. */
struct by_id {
	uint64_t id;
	size_t i;
};

static int by_id_cmp(const void *a, const void *b)
{
	const struct by_id *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Build r->ops (execution order) and the stats from the index. */
/* Turn each symlink op whose link must not be committed into OP_HOLD, and
 * list it in stats (see links.c). */
static int hold_symlinks(struct plan *p, delta_commit_stats *stats, rls_error *err)
{
	delta_links links;

	if (delta_links_init(&links, p->d, p->e, p->n, err) < 0)
		return -1;
	for (size_t i = 0; i < p->n; i++) {
		struct op *o = &p->ops[i];
		const char *why;

		if (o->kind != OP_SYMLINK || (o->flags & OPF_SKIP))
			continue;
		why = delta_link_held(&links, o->path, o->target ? o->target : "");
		if (!why)
			continue;
		o->kind = OP_HOLD;
		o->flags &= (uint8_t)~OPF_COUNT;
		stats->held = rls_xrealloc(stats->held, (stats->n_held + 1) * sizeof *stats->held);
		stats->held[stats->n_held++] = (delta_held){
			.path = rls_xstrdup(o->path),
			.target = rls_xstrdup(o->target ? o->target : ""),
			.why = why,
		};
	}
	delta_links_free(&links);
	return 0;
}

static int plan(struct run *r, delta_conflict_mode mode, unsigned flags, delta_commit_stats *stats,
		rls_error *err)
{
	struct plan p = { .d = r->d, .mode = mode };
	int ret = -1;
	size_t n = 0;

	if (read_epoch(r->d, &p.epoch, err) < 0 || delta_load_entries(r->d, &p.e, &p.n, err) < 0)
		return -1;
	p.ops = rls_xcalloc(p.n ? p.n : 1, sizeof *p.ops);
	p.attrs = rls_xcalloc(p.n ? p.n : 1, sizeof *p.attrs);
	for (size_t i = 0; i < p.n; i++)
		if (plan_entry(&p, i, err) < 0)
			goto out;

	/* theirs: a conflicting path keeps the source's version, and nothing
	 * is created below a directory that is not made. */
	if (mode == DELTA_CONFLICT_THEIRS) {
		for (size_t i = 0; i < p.n; i++) {
			if (!(p.ops[i].flags & OPF_CONFLICT) || (p.ops[i].flags & OPF_SKIP))
				continue;
			p.ops[i].flags |= OPF_SKIP;
			p.attrs[i].flags |= OPF_SKIP;
			if (p.ops[i].kind == OP_MKDIR)
				for (size_t k = i + 1; k < p.n; k++)
					if (below(p.e[k].path, p.e[i].path)) {
						p.ops[k].flags |= OPF_SKIP;
						p.attrs[k].flags |= OPF_SKIP;
					}
		}
	}
	/* A source directory is removed (or replaced by a non-directory) only
	 * when its recorded deletions empty it; otherwise it stays, a
	 * conflict.  Deepest first, so children are decided first. */
	for (size_t i = p.n; i-- > 0;) {
		struct op *o = &p.ops[i];
		char sp[DELTA_PATH_MAX * 2];
		struct stat st;
		bool empty;

		if (!o->kind || o->kind == OP_MKDIR || (o->flags & OPF_SKIP) || !(o->flags & OPF_EXISTS))
			continue;
		if (delta_source_path(r->d, o->path, sp, sizeof sp, err) < 0)
			goto out;
		if (lstat(sp, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (dir_will_empty(&p, o->path, &empty, err) < 0)
			goto out;
		if (!empty)
			o->flags |= OPF_CONFLICT | OPF_SKIP;
	}
	if (!(flags & DELTA_COMMIT_ALLOW_SYMLINKS_OUT) && hold_symlinks(&p, stats, err) < 0)
		goto out;

	/* Hard links: the first applied name of an inode carries the data,
	 * the others link to it.  A data file with one name is moved into
	 * place when the delta shares the source's filesystem (and, it turns
	 * out, the target directory's); the first of several names is
	 * copied, since a link may need the data file again.  The data file's
	 * identity goes to the journal. */
	struct by_id *files = rls_xcalloc(p.n ? p.n : 1, sizeof *files);
	size_t n_files = 0;

	for (size_t i = 0; i < p.n; i++)
		if (p.ops[i].kind == OP_FILE && !(p.ops[i].flags & OPF_SKIP) && p.e[i].has_inode)
			files[n_files++] = (struct by_id){ p.ops[i].id, i };
	qsort(files, n_files, sizeof *files, by_id_cmp);
	for (size_t f = 0; f < n_files; f++) {
		struct op *o = &p.ops[files[f].i];
		bool linked = false;
		char dname[17];
		struct stat st;

		while (f + 1 < n_files && files[f + 1].id == o->id) {
			struct op *l = &p.ops[files[++f].i];

			l->kind = OP_LINK;
			free(l->target);
			l->target = rls_xstrdup(o->path);
			linked = true;
		}
		delta_data_name(o->id, dname);
		if (!linked && !r->data_other_fs && fstatat(r->d->data_fd, dname, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_ino) {
			o->flags |= OPF_MOVE;
			/* Its times are the file's, unless planning read it. */
			if (delta_ts_ns(&st.st_atim) == o->atime_ns && delta_ts_ns(&st.st_mtim) == o->mtime_ns)
				o->flags |= OPF_TIMES;
			o->data_dev = st.st_dev;
			o->data_ino = st.st_ino;
			/* A move takes no room. */
			p.need_bytes -= o->size;
			p.need_names--;
		}
	}
	free(files);

	for (size_t i = 0; i < p.n; i++) {
		struct op *o = &p.ops[i];

		if (o->flags & OPF_CONFLICT)
			report_path(&r->conflicts, &stats->conflicts, o->path);
		if (!o->kind || o->kind == OP_HOLD || (o->flags & OPF_SKIP))
			continue;
		if (o->flags & OPF_SETID)
			report_path(&r->setid, &stats->setid_dropped, o->path);
		if (o->kind == OP_DEL)
			stats->deleted++;
		else if (o->flags & OPF_EXISTS)
			stats->modified++;
		else
			stats->added++;
	}
	for (size_t i = 0; i < p.n; i++)
		if (p.attrs[i].kind && (p.attrs[i].flags & OPF_COUNT) && !(p.attrs[i].flags & OPF_SKIP))
			stats->modified++;

	if (mode == DELTA_CONFLICT_FAIL && stats->conflicts) {
		ret = 1;
		goto out;
	}
	if (check_space(&p, r->src_fd, err) < 0)
		goto out;

	/* Execution order: deletions deepest first, creations parents first,
	 * directory attributes deepest first. */
	r->ops = rls_xcalloc(2 * p.n + 1, sizeof *r->ops);
	for (size_t i = p.n; i-- > 0;)
		if (p.ops[i].kind == OP_DEL && !(p.ops[i].flags & OPF_SKIP))
			r->ops[n++] = p.ops[i], memset(&p.ops[i], 0, sizeof p.ops[i]);
	for (size_t i = 0; i < p.n; i++)
		if (p.ops[i].kind && !(p.ops[i].flags & OPF_SKIP))
			r->ops[n++] = p.ops[i], memset(&p.ops[i], 0, sizeof p.ops[i]);
	for (size_t i = p.n; i-- > 0;)
		if (p.attrs[i].kind && !(p.attrs[i].flags & OPF_SKIP))
			r->ops[n++] = p.attrs[i], memset(&p.attrs[i], 0, sizeof p.attrs[i]);
	r->n_ops = n;
	{
		_cleanup_free_ uint64_t *rnd = rls_xcalloc(n ? n : 1, sizeof *rnd);

		if (random_bytes(rnd, n * sizeof *rnd, err) < 0)
			goto out;
		for (size_t i = 0; i < n; i++)
			r->ops[i].tmp = rnd[i] | 1;	/* never 0: an older journal's */
	}
	ret = 0;
out:
	free_ops(p.ops, p.n);
	free_ops(p.attrs, p.n);
	delta_free_entries(p.e, p.n);
	return ret;
}

/* ---- commit and discard ----------------------------------------------- */

static int check_not_mounted(delta *d, int *lock_fd, rls_error *err)
{
	if (d->mount_fd >= 0)
		return rls_error_set(err, EBUSY, "%s: delta is mounted", d->path);
	return lock_file(d, "mount.lock", LOCK_EX | LOCK_NB, lock_fd, err);
}


int delta_commit(delta *d, delta_conflict_mode mode, unsigned flags, delta_commit_stats *stats, rls_error *err)
{
	_cleanup_close_ int mount_fd = -1, commit_fd = -1, src_fd = -1;
	struct run r;
	int rc;

	memset(stats, 0, sizeof *stats);
	if (flags & DELTA_COMMIT_DRY_RUN) {
		src_fd = open(d->source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (src_fd < 0)
			return rls_error_set(err, errno, "source %s", d->source);
		/* Every conflict is wanted, whatever the mode. */
		mode = DELTA_CONFLICT_OURS;
	} else if (check_not_mounted(d, &mount_fd, err) < 0 ||
		   lock_file(d, "commit.lock", LOCK_EX, &commit_fd, err) < 0 || lock_source(d, &src_fd, err) < 0) {
		return -1;
	}
	run_init(&r, d, src_fd);
	/* An interrupted commit (of this delta) is finished first. */
	rc = journal_read(d, &r.j, &r.ops, err);
	if (rc < 0)
		goto out;
	if (rc == 0 && (flags & DELTA_COMMIT_DRY_RUN)) {
		rc = rls_error_set(err, EBUSY, "an interrupted commit must finish first (rls commit)");
		goto out;
	}
	if (rc == 0) {
		r.n_ops = r.j.n_ops;
		rc = finish(&r, err);
		if (rc == 0)
			sweep_tmp(&r);
		goto out;
	}
	rc = plan(&r, mode, flags, stats, err);
	if (rc != 0 || (flags & DELTA_COMMIT_DRY_RUN))
		goto out;
	if (random_bytes(&r.j.nonce, sizeof r.j.nonce, err) < 0) {
		rc = -1;
		goto out;
	}
	r.j.nonce |= 1;
	r.j.n_ops = (uint32_t)r.n_ops;
	r.j.phase = 1;
	r.j.done = 0;
	if ((rc = journal_write(&r, err)) < 0)
		goto out;
	step(&r);
	rc = finish(&r, err);
out:
	if (rc >= 0) {
		stats->conflicts += r.late_conflicts;
		if (stats->conflicts)
			stats->conflict_paths = steal_pointer(&r.conflicts.v);
		if (stats->setid_dropped)
			stats->setid_paths = steal_pointer(&r.setid.v);
		if (rc == 0 && stats->n_held)
			rc = 2;
	}
	run_free(&r);
	if (rc < 0)
		return rls_error_prefix(err, "commit %s", d->path);
	return rc;
}

int delta_discard(delta *d, rls_error *err)
{
	_cleanup_close_ int mount_fd = -1, commit_fd = -1;
	delta_txn *txn;
	struct journal j;
	char epoch[32];
	struct timespec now;
	int rc;

	if (check_not_mounted(d, &mount_fd, err) < 0 ||
	    lock_file(d, "commit.lock", LOCK_EX, &commit_fd, err) < 0)
		return -1;
	rc = journal_read(d, &j, NULL, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return rls_error_set(err, EBUSY, "%s: an interrupted commit must finish first", d->path);
	if (delta_begin(d, true, &txn, err) < 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(epoch, sizeof epoch, "%lld", (long long)delta_ts_ns(&now));
	if (delta_clear_index(txn, err) < 0 || delta_meta_put(txn, "epoch", epoch, strlen(epoch), err) < 0 ||
	    delta_forget_policies(txn, err) < 0) {
		delta_abort(txn);
		return -1;
	}
	if (delta_commit_txn(txn, err) < 0 || delta_sync(d, err) < 0)
		return -1;
	/* The index no longer names any data file: they can go in any order. */
	return delta_clear_data(d, err);
}

void delta_commit_stats_free(delta_commit_stats *stats)
{
	for (char **p = stats->conflict_paths; p && *p; p++)
		free(*p);
	free(stats->conflict_paths);
	stats->conflict_paths = NULL;
	for (char **p = stats->setid_paths; p && *p; p++)
		free(*p);
	free(stats->setid_paths);
	stats->setid_paths = NULL;
	for (size_t i = 0; i < stats->n_held; i++) {
		free(stats->held[i].path);
		free(stats->held[i].target);
	}
	free(stats->held);
	stats->held = NULL;
	stats->n_held = 0;
}
