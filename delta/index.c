/* index.c - the delta's LMDB index: environment, transactions, nodes,
 * inodes, listings and subtree moves. */
#include "delta-int.h"

#include <endian.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

/* One sparse map is enough for any tree: LMDB only touches what it uses. */
#define DELTA_MAPSIZE ((size_t)1 << 36)
#define DELTA_MAXREADERS 1024

int delta_mdb_error(rls_error *err, int rc, const char *what)
{
	if (rc > 0)
		return rls_error_set(err, rc, "%s", what);
	switch (rc) {
	case MDB_MAP_FULL:
		return rls_error_set(err, ENOSPC, "%s: index full", what);
	case MDB_INVALID:
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_VERSION_MISMATCH:
		return rls_error_set(err, EIO, "%s: index is damaged (%s)", what, mdb_strerror(rc));
	default:
		return rls_error_set(err, EIO, "%s: %s", what, mdb_strerror(rc));
	}
}

/* ---- packing ---------------------------------------------------------
 * Little-endian fixed fields followed by a length-prefixed string; a leading
 * version byte lets the encoding grow without a format bump. */

#define NODE_V 1
#define INODE_V 1

static uint8_t *put8(uint8_t *p, uint8_t v) { *p = v; return p + 1; }
static uint8_t *put16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); return p + 2; }
static uint8_t *put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); return p + 4; }
static uint8_t *put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); return p + 8; }

struct reader {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t getn(struct reader *r, size_t n)
{
	uint64_t v = 0;

	if ((size_t)(r->end - r->p) < n) {
		r->bad = true;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	return v;
}

static void getstr(struct reader *r, char *dst, size_t cap)
{
	size_t n = getn(r, 2);

	/* a path or target holds no NUL: one would cut it short */
	if (r->bad || n >= cap || (size_t)(r->end - r->p) < n || memchr(r->p, '\0', n)) {
		r->bad = true;
		dst[0] = '\0';
		return;
	}
	memcpy(dst, r->p, n);
	dst[n] = '\0';
	r->p += n;
}

static size_t pack_node(const delta_node *n, uint8_t *buf)
{
	size_t tl = n->kind == DELTA_SYMLINK ? strnlen(n->target, DELTA_PATH_MAX - 1) : 0;
	uint8_t *p = buf;

	p = put8(p, NODE_V);
	p = put8(p, n->kind);
	p = put8(p, n->flags);
	p = put64(p, n->id);
	p = put16(p, (uint16_t)tl);
	memcpy(p, n->target, tl);
	return (size_t)(p - buf) + tl;
}

static int unpack_node(const MDB_val *v, delta_node *n)
{
	struct reader r = { v->mv_data, (const uint8_t *)v->mv_data + v->mv_size, false };

	if (getn(&r, 1) != NODE_V)
		return -1;
	n->kind = (uint8_t)getn(&r, 1);
	n->flags = (uint8_t)getn(&r, 1);
	n->id = getn(&r, 8);
	getstr(&r, n->target, sizeof n->target);
	if (n->kind < DELTA_WHITEOUT || n->kind > DELTA_BLK || (n->flags & ~DELTA_OPAQUE))
		return -1;
	return r.bad ? -1 : 0;
}

static size_t pack_inode(const delta_inode *i, uint8_t *buf)
{
	size_t ol = i->flags & DELTA_HAS_BASE ? strnlen(i->origin, DELTA_PATH_MAX - 1) : 0;
	uint8_t *p = buf;

	p = put8(p, INODE_V);
	p = put32(p, i->mode);
	p = put32(p, i->uid);
	p = put32(p, i->gid);
	p = put32(p, i->nlink);
	p = put32(p, i->flags);
	p = put64(p, i->rdev);
	p = put64(p, (uint64_t)i->atime_ns);
	p = put64(p, (uint64_t)i->mtime_ns);
	p = put64(p, (uint64_t)i->ctime_ns);
	p = put64(p, i->size);
	p = put64(p, i->base.dev);
	p = put64(p, i->base.ino);
	p = put64(p, i->base.size);
	p = put64(p, (uint64_t)i->base.mtime_ns);
	p = put64(p, (uint64_t)i->base.ctime_ns);
	p = put64(p, i->base.xxh3);
	p = put8(p, i->base.has_hash);
	p = put16(p, (uint16_t)ol);
	memcpy(p, i->origin, ol);
	return (size_t)(p - buf) + ol;
}

static int unpack_inode(const MDB_val *v, delta_inode *i)
{
	struct reader r = { v->mv_data, (const uint8_t *)v->mv_data + v->mv_size, false };

	if (getn(&r, 1) != INODE_V)
		return -1;
	i->mode = (uint32_t)getn(&r, 4);
	i->uid = (uint32_t)getn(&r, 4);
	i->gid = (uint32_t)getn(&r, 4);
	i->nlink = (uint32_t)getn(&r, 4);
	i->flags = (uint32_t)getn(&r, 4);
	i->rdev = getn(&r, 8);
	i->atime_ns = (int64_t)getn(&r, 8);
	i->mtime_ns = (int64_t)getn(&r, 8);
	i->ctime_ns = (int64_t)getn(&r, 8);
	i->size = getn(&r, 8);
	i->base.dev = getn(&r, 8);
	i->base.ino = getn(&r, 8);
	i->base.size = getn(&r, 8);
	i->base.mtime_ns = (int64_t)getn(&r, 8);
	i->base.ctime_ns = (int64_t)getn(&r, 8);
	i->base.xxh3 = getn(&r, 8);
	i->base.has_hash = (uint8_t)getn(&r, 1);
	getstr(&r, i->origin, sizeof i->origin);
	return r.bad ? -1 : 0;
}

bool delta_path_ok(const char *p, size_t n)
{
	if (n == 0 || p[0] != '/' || memchr(p, '\0', n))
		return false;
	if (n == 1)
		return true;
	if (p[n - 1] == '/')
		return false;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1, len;

		while (j < n && p[j] != '/')
			j++;
		len = j - i - 1;
		if (len == 0 || (len == 1 && p[i + 1] == '.') || (len == 2 && p[i + 1] == '.' && p[i + 2] == '.'))
			return false;
		i = j;
	}
	return true;
}

/* ---- environment ----------------------------------------------------- */

/* The key of `path`: 0, or -1 with ENAMETOOLONG past the key limit. */
static int path_key(const delta *d, const char *path, MDB_val *key, rls_error *err)
{
	size_t n = strlen(path);

	if (!delta_path_ok(path, n))
		return rls_error_set(err, EINVAL, "delta: bad path '%s'", path);
	if (n > d->max_key)
		return rls_error_set(err, ENAMETOOLONG, "delta: path longer than %zu bytes: %.60s...",
				     d->max_key, path);
	key->mv_data = (void *)path;
	key->mv_size = n;
	return 0;
}

/* The key of `path` for a lookup: 0, 1 when the path is longer than any
 * key (so the index cannot hold it or anything below it), -1 when it is
 * not a path.  A lookup never fails for length: rlsfs looks up the source's
 * names, hidden ones included, and a hidden name must not make a visible
 * operation fail. */
static int lookup_key(const delta *d, const char *path, MDB_val *key, rls_error *err)
{
	if (path[0] == '/' && strlen(path) > d->max_key)
		return 1;
	return path_key(d, path, key, err);
}

int delta_meta_get(delta_txn *txn, const char *key, char **out, size_t *len, rls_error *err)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int rc = mdb_get(txn->t, txn->d->meta, &k, &v);
	char *s;

	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc)
		return delta_mdb_error(err, rc, key);
	s = rls_xmalloc(v.mv_size + 1);
	memcpy(s, v.mv_data, v.mv_size);
	s[v.mv_size] = '\0';
	*out = s;
	if (len)
		*len = v.mv_size;
	return 0;
}

int delta_meta_put(delta_txn *txn, const char *key, const void *val, size_t len, rls_error *err)
{
	MDB_val k = { strlen(key), (void *)key }, v = { len, (void *)val };
	int rc = mdb_put(txn->t, txn->d->meta, &k, &v, 0);

	return rc ? delta_mdb_error(err, rc, key) : 0;
}

int delta_meta_del(delta_txn *txn, const char *key, rls_error *err)
{
	MDB_val k = { strlen(key), (void *)key };
	int rc = mdb_del(txn->t, txn->d->meta, &k, NULL);

	if (rc == MDB_NOTFOUND)
		return 1;
	return rc ? delta_mdb_error(err, rc, key) : 0;
}

static int source_realpath(const char *source, char **out, rls_error *err)
{
	char *rp = realpath(source, NULL);
	struct stat st;

	if (!rp)
		return rls_error_set(err, errno, "source %s", source);
	if (stat(rp, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(rp);
		return rls_error_set(err, ENOTDIR, "source %s", source);
	}
	*out = rp;
	return 0;
}

static int open_env(delta *d, bool create, rls_error *err)
{
	_cleanup_free_ char *index = rls_xasprintf("%s/index", d->path);
	unsigned flags = MDB_NOTLS;
	delta_txn *txn = NULL;
	int rc, maxkey;

	if (d->live)
		flags |= MDB_NOSYNC | MDB_NOMETASYNC;
	if ((rc = mdb_env_create(&d->env)))
		return delta_mdb_error(err, rc, "lmdb");
	mdb_env_set_maxdbs(d->env, 4);
	mdb_env_set_mapsize(d->env, DELTA_MAPSIZE);
	mdb_env_set_maxreaders(d->env, DELTA_MAXREADERS);
	if ((rc = mdb_env_open(d->env, index, flags, 0600)))
		return delta_mdb_error(err, rc, index);
	maxkey = mdb_env_get_maxkeysize(d->env);
	d->max_key = maxkey > 0 ? (size_t)maxkey : 511;
	{
		MDB_stat est;

		d->page_size = mdb_env_stat(d->env, &est) == 0 ? est.ms_psize : 4096;
	}

	if (delta_begin(d, create, &txn, err) < 0)
		return -1;
	unsigned dflags = create ? MDB_CREATE : 0;
	if ((rc = mdb_dbi_open(txn->t, "meta", dflags, &d->meta)) ||
	    (rc = mdb_dbi_open(txn->t, "nodes", dflags, &d->nodes)) ||
	    (rc = mdb_dbi_open(txn->t, "inodes", dflags, &d->inodes))) {
		delta_abort(txn);
		if (rc == MDB_NOTFOUND)
			return rls_error_set(err, EINVAL, "%s: not a delta (index has no tables)", d->path);
		return delta_mdb_error(err, rc, index);
	}
	return delta_commit_txn(txn, err);
}

/* Record format, source and epoch in a new delta, or check them in an old
 * one. */
static int check_meta(delta *d, const char *source, rls_error *err)
{
	delta_txn *txn = NULL;
	_cleanup_free_ char *fmt = NULL, *src = NULL, *want = NULL;
	int r;

	if (source && source_realpath(source, &want, err) < 0)
		return -1;
	if (delta_begin(d, false, &txn, err) < 0)
		return -1;
	r = delta_meta_get(txn, "format", &fmt, NULL, err);
	if (r == 0)
		r = delta_meta_get(txn, "source", &src, NULL, err);
	delta_abort(txn);
	if (r < 0)
		return -1;
	if (r == 1) {
		/* Made just now (or a crash between mkdir and this): record. */
		char epoch[32];
		struct timespec now;

		if (!want)
			return rls_error_set(err, EINVAL, "%s: not a delta (no source recorded)", d->path);
		clock_gettime(CLOCK_REALTIME, &now);
		snprintf(epoch, sizeof epoch, "%lld", (long long)delta_ts_ns(&now));
		if (delta_begin(d, true, &txn, err) < 0)
			return -1;
		if (delta_meta_put(txn, "format", DELTA_FORMAT, strlen(DELTA_FORMAT), err) < 0 ||
		    delta_meta_put(txn, "source", want, strlen(want), err) < 0 ||
		    delta_meta_put(txn, "epoch", epoch, strlen(epoch), err) < 0) {
			delta_abort(txn);
			return -1;
		}
		if (delta_commit_txn(txn, err) < 0 || delta_sync(d, err) < 0)
			return -1;
		d->source = steal_pointer(&want);
		return 0;
	}
	if (strcmp(fmt, DELTA_FORMAT) != 0)
		return rls_error_set(err, EINVAL, "%s: unknown delta format '%s'", d->path, fmt);
	if (want && strcmp(want, src) != 0)
		return rls_error_set(err, EINVAL, "%s: delta belongs to source %s, not %s", d->path, src, want);
	d->source = steal_pointer(&src);
	return 0;
}

int delta_open(const char *dir, const char *source, unsigned flags, delta **out, rls_error *err)
{
	delta *d = rls_xcalloc(1, sizeof *d);
	_cleanup_free_ char *abs = NULL;
	struct stat st;
	bool create = false;

	d->dir_fd = d->data_fd = d->data_sync_fd = d->mount_fd = -1;
	d->live = flags & DELTA_MOUNT;
	if (stat(dir, &st) < 0) {
		if (errno != ENOENT || !(flags & DELTA_CREATE)) {
			rls_error_set(err, errno, "delta %s", dir);
			goto fail;
		}
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			rls_error_set(err, errno, "mkdir %s", dir);
			goto fail;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		rls_error_set(err, ENOTDIR, "delta %s", dir);
		goto fail;
	}
	abs = realpath(dir, NULL);
	if (!abs) {
		rls_error_set(err, errno, "delta %s", dir);
		goto fail;
	}
	d->path = steal_pointer(&abs);
	d->dir_fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dir_fd < 0) {
		rls_error_set(err, errno, "delta %s", d->path);
		goto fail;
	}
	if (faccessat(d->dir_fd, "index/data.mdb", F_OK, 0) < 0) {
		if (!(flags & DELTA_CREATE)) {
			rls_error_set(err, EINVAL, "%s: not a delta (no index)", d->path);
			goto fail;
		}
		create = true;
		if ((mkdirat(d->dir_fd, "index", 0700) < 0 && errno != EEXIST) ||
		    (mkdirat(d->dir_fd, "data", 0700) < 0 && errno != EEXIST)) {
			rls_error_set(err, errno, "%s: cannot make delta", d->path);
			goto fail;
		}
	}
	d->data_fd = openat(d->dir_fd, "data", O_PATH | O_DIRECTORY | O_CLOEXEC);
	d->data_sync_fd = openat(d->dir_fd, "data", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->data_fd < 0 || d->data_sync_fd < 0) {
		rls_error_set(err, errno, "%s/data", d->path);
		goto fail;
	}
	if (flags & DELTA_MOUNT) {
		d->mount_fd = openat(d->dir_fd, "mount.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (d->mount_fd < 0) {
			rls_error_set(err, errno, "%s/mount.lock", d->path);
			goto fail;
		}
		if (flock(d->mount_fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno == EWOULDBLOCK)
				rls_error_set(err, EBUSY, "%s: delta is mounted by another rlsfs", d->path);
			else
				rls_error_set(err, errno, "%s/mount.lock", d->path);
			goto fail;
		}
	}
	if (open_env(d, create, err) < 0)
		goto fail;
	if (check_meta(d, source, err) < 0)
		goto fail;
	if (delta_recover(d, err) < 0)
		goto fail;
	/* What opening wrote is synced already (the record of a new delta,
	 * a finished commit) or changed nothing (the tables opened). */
	d->wrote = false;
	*out = d;
	return 0;
fail:
	delta_close(d);
	return -1;
}

int delta_sync(delta *d, rls_error *err)
{
	int rc = mdb_env_sync(d->env, 1);

	return rc ? delta_mdb_error(err, rc, "sync index") : 0;
}

void delta_close(delta *d)
{
	if (!d)
		return;
	if (d->env) {
		/* The live environment skips syncs; make the index durable now, and
		 * the data files it points at before it.  Data is written only
		 * through descriptors opened in a write transaction: with none
		 * committed there is nothing to sync (a mount that only read
		 * ends without waiting on the disk). */
		if (!d->live || d->wrote) {
			if (d->live && d->data_sync_fd >= 0)
				syncfs(d->data_sync_fd);
			mdb_env_sync(d->env, 1);
		}
		mdb_env_close(d->env);
	}
	if (d->mount_fd >= 0)
		close(d->mount_fd);
	if (d->data_fd >= 0)
		close(d->data_fd);
	if (d->data_sync_fd >= 0)
		close(d->data_sync_fd);
	if (d->dir_fd >= 0)
		close(d->dir_fd);
	delta_quota_free(d);
	free(d->path);
	free(d->source);
	free(d);
}

const char *delta_path(const delta *d)
{
	return d->path;
}

const char *delta_source(const delta *d)
{
	return d->source;
}

int delta_data_fd(const delta *d)
{
	return d->data_fd;
}

bool delta_is_mounted(const delta *d)
{
	_cleanup_close_ int fd = -1;

	if (d->mount_fd >= 0)
		return true;
	fd = openat(d->dir_fd, "mount.lock", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	/* A fresh open file description conflicts with any holder, even one in
	 * this process. */
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		return errno == EWOULDBLOCK;
	flock(fd, LOCK_UN);
	return false;
}

/* ---- transactions ---------------------------------------------------- */

int delta_begin(delta *d, bool write, delta_txn **out, rls_error *err)
{
	delta_txn *txn = rls_xcalloc(1, sizeof *txn);
	int rc = mdb_txn_begin(d->env, NULL, write ? 0 : MDB_RDONLY, &txn->t);

	if (rc) {
		free(txn);
		return delta_mdb_error(err, rc, "begin transaction");
	}
	txn->d = d;
	txn->write = write;
	*out = txn;
	return 0;
}

int delta_commit_txn(delta_txn *txn, rls_error *err)
{
	int rc = mdb_txn_commit(txn->t);

	if (rc == 0) {
		txn->d->wrote |= txn->write;
		for (size_t i = 0; i < txn->n_unlink; i++) {
			char name[17];

			delta_data_name(txn->unlink_ids[i], name);
			delta_quota_unlink(txn->d, name);
		}
	}
	free(txn->unlink_ids);
	free(txn);
	return rc ? delta_mdb_error(err, rc, "commit transaction") : 0;
}

void delta_abort(delta_txn *txn)
{
	if (!txn)
		return;
	mdb_txn_abort(txn->t);
	free(txn->unlink_ids);
	free(txn);
}

static int need_write(delta_txn *txn, rls_error *err)
{
	if (!txn->write)
		return rls_error_set(err, EBADF, "delta: read-only transaction");
	return 0;
}

/* ---- nodes ------------------------------------------------------------ */

int delta_get(delta_txn *txn, const char *path, delta_node *node, rls_error *err)
{
	MDB_val k, v;
	int rc;

	if ((rc = lookup_key(txn->d, path, &k, err)) != 0)
		return rc;
	rc = mdb_get(txn->t, txn->d->nodes, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc)
		return delta_mdb_error(err, rc, path);
	if (unpack_node(&v, node) < 0)
		return rls_error_set(err, EIO, "%s: damaged index entry", path);
	return 0;
}

/* mdb_put under the quota: a path that is new must find room, else it is
 * taken out again and EDQUOT returned. */
static int put_counted(delta_txn *txn, const char *path, MDB_val *k, MDB_val *v, rls_error *err)
{
	MDB_stat before, after;
	int rc;

	if ((rc = mdb_stat(txn->t, txn->d->nodes, &before)) || (rc = mdb_put(txn->t, txn->d->nodes, k, v, 0)) ||
	    (rc = mdb_stat(txn->t, txn->d->nodes, &after)))
		return delta_mdb_error(err, rc, path);
	if (after.ms_entries > before.ms_entries && delta_quota_entry(txn->d, after.ms_entries, err) < 0) {
		mdb_del(txn->t, txn->d->nodes, k, NULL);
		return -1;
	}
	return 0;
}

int delta_put(delta_txn *txn, const char *path, const delta_node *node, rls_error *err)
{
	uint8_t buf[16 + DELTA_PATH_MAX];
	MDB_val k, v;
	int rc;

	if (need_write(txn, err) < 0 || path_key(txn->d, path, &k, err) < 0)
		return -1;
	if (node->kind < DELTA_WHITEOUT || node->kind > DELTA_BLK)
		return rls_error_set(err, EINVAL, "%s: bad node kind %d", path, node->kind);
	v.mv_data = buf;
	v.mv_size = pack_node(node, buf);
	if (txn->d->quota)
		return put_counted(txn, path, &k, &v, err);
	rc = mdb_put(txn->t, txn->d->nodes, &k, &v, 0);
	return rc ? delta_mdb_error(err, rc, path) : 0;
}

int delta_del(delta_txn *txn, const char *path, rls_error *err)
{
	MDB_val k;
	int rc;

	if (need_write(txn, err) < 0 || (rc = lookup_key(txn->d, path, &k, err)) < 0)
		return -1;
	if (rc)
		return 1;
	rc = mdb_del(txn->t, txn->d->nodes, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return 1;
	return rc ? delta_mdb_error(err, rc, path) : 0;
}

/* ---- inodes ----------------------------------------------------------- */

int delta_get_inode(delta_txn *txn, uint64_t id, delta_inode *ino, rls_error *err)
{
	uint64_t be = htobe64(id);
	MDB_val k = { sizeof be, &be }, v;
	int rc = mdb_get(txn->t, txn->d->inodes, &k, &v);

	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc)
		return delta_mdb_error(err, rc, "inode");
	if (unpack_inode(&v, ino) < 0)
		return rls_error_set(err, EIO, "inode %llu: damaged index entry", (unsigned long long)id);
	return 0;
}

int delta_put_inode(delta_txn *txn, uint64_t id, const delta_inode *ino, rls_error *err)
{
	uint8_t buf[128 + DELTA_PATH_MAX];
	uint64_t be = htobe64(id);
	MDB_val k = { sizeof be, &be }, v;
	int rc;

	if (need_write(txn, err) < 0)
		return -1;
	if (id == 0)
		return rls_error_set(err, EINVAL, "delta: inode id 0");
	v.mv_data = buf;
	v.mv_size = pack_inode(ino, buf);
	rc = mdb_put(txn->t, txn->d->inodes, &k, &v, 0);
	return rc ? delta_mdb_error(err, rc, "inode") : 0;
}

int delta_del_inode(delta_txn *txn, uint64_t id, rls_error *err)
{
	uint64_t be = htobe64(id);
	MDB_val k = { sizeof be, &be };
	int rc;

	if (need_write(txn, err) < 0)
		return -1;
	rc = mdb_del(txn->t, txn->d->inodes, &k, NULL);
	if (rc && rc != MDB_NOTFOUND)
		return delta_mdb_error(err, rc, "inode");
	if (txn->n_unlink == txn->cap_unlink) {
		txn->cap_unlink = txn->cap_unlink ? 2 * txn->cap_unlink : 8;
		txn->unlink_ids = rls_xrealloc(txn->unlink_ids, txn->cap_unlink * sizeof *txn->unlink_ids);
	}
	txn->unlink_ids[txn->n_unlink++] = id;
	return 0;
}

int delta_new_id(delta_txn *txn, uint64_t *id, rls_error *err)
{
	MDB_val k = { 7, (void *)"next_id" }, v;
	uint64_t next = 1, le;
	int rc;

	if (need_write(txn, err) < 0)
		return -1;
	rc = mdb_get(txn->t, txn->d->meta, &k, &v);
	if (rc == 0 && v.mv_size == 8) {
		memcpy(&le, v.mv_data, 8);
		next = le64toh(le);
	} else if (rc == 0) {
		/* starting over at 1 would give out ids in use */
		return rls_error_set(err, EIO, "next_id: damaged index entry");
	} else if (rc != MDB_NOTFOUND) {
		return delta_mdb_error(err, rc, "next_id");
	}
	if (next == 0)
		next = 1;
	le = htole64(next + 1);
	v.mv_data = &le;
	v.mv_size = 8;
	rc = mdb_put(txn->t, txn->d->meta, &k, &v, 0);
	if (rc)
		return delta_mdb_error(err, rc, "next_id");
	*id = next;
	return 0;
}

/* ---- listings --------------------------------------------------------- */

/* "dir/" for a directory; "/" for the root. */
static size_t dir_prefix(const char *dir, char *buf)
{
	size_t n = strlen(dir);

	memcpy(buf, dir, n);
	if (n == 0 || buf[n - 1] != '/')
		buf[n++] = '/';
	buf[n] = '\0';
	return n;
}

struct cursor {
	MDB_cursor *c;
};

static void cursor_closep(struct cursor *c)
{
	if (c->c)
		mdb_cursor_close(c->c);
}
#define _cleanup_cursor_ __attribute__((cleanup(cursor_closep)))

int delta_list(delta_txn *txn, const char *dir, delta_each_fn fn, void *opaque, rls_error *err)
{
	_cleanup_cursor_ struct cursor cur = { NULL };
	char prefix[DELTA_PATH_MAX + 2], seek[DELTA_PATH_MAX + 2], name[DELTA_PATH_MAX];
	size_t plen;
	MDB_val k, v;
	delta_node node;
	int rc;

	if ((rc = lookup_key(txn->d, dir, &k, err)) != 0)
		return rc < 0 ? -1 : 0;
	plen = dir_prefix(dir, prefix);
	if ((rc = mdb_cursor_open(txn->t, txn->d->nodes, &cur.c)))
		return delta_mdb_error(err, rc, dir);
	k.mv_data = prefix;
	k.mv_size = plen;
	rc = mdb_cursor_get(cur.c, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		const char *key = k.mv_data, *slash;
		size_t rest;

		if (k.mv_size < plen || memcmp(key, prefix, plen) != 0)
			break;
		rest = k.mv_size - plen;
		if (rest == 0) {	/* the root itself */
			rc = mdb_cursor_get(cur.c, &k, &v, MDB_NEXT);
			continue;
		}
		slash = memchr(key + plen, '/', rest);
		if (slash) {
			/* Deeper entry: jump past the whole subtree "dir/name/"; the
			 * next possible key is "dir/name0" since '0' is '/' + 1. */
			size_t n = (size_t)(slash - key);

			memcpy(seek, key, n);
			seek[n] = '0';
			k.mv_data = seek;
			k.mv_size = n + 1;
			rc = mdb_cursor_get(cur.c, &k, &v, MDB_SET_RANGE);
			continue;
		}
		if (rest >= sizeof name || !delta_path_ok(key, k.mv_size))
			return rls_error_set(err, EIO, "%s: damaged index key", dir);
		memcpy(name, key + plen, rest);
		name[rest] = '\0';
		if (unpack_node(&v, &node) < 0)
			return rls_error_set(err, EIO, "%s/%s: damaged index entry", dir, name);
		int r = fn(name, &node, opaque);
		if (r)
			return r;
		rc = mdb_cursor_get(cur.c, &k, &v, MDB_NEXT);
	}
	if (rc && rc != MDB_NOTFOUND)
		return delta_mdb_error(err, rc, dir);
	return 0;
}

int delta_walk(delta_txn *txn, delta_each_fn fn, void *opaque, rls_error *err)
{
	_cleanup_cursor_ struct cursor cur = { NULL };
	char path[DELTA_PATH_MAX];
	MDB_val k, v;
	delta_node node;
	int rc;

	if ((rc = mdb_cursor_open(txn->t, txn->d->nodes, &cur.c)))
		return delta_mdb_error(err, rc, "walk");
	for (rc = mdb_cursor_get(cur.c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur.c, &k, &v, MDB_NEXT)) {
		if (k.mv_size >= sizeof path || !delta_path_ok(k.mv_data, k.mv_size))
			return rls_error_set(err, EIO, "walk: damaged index key");
		memcpy(path, k.mv_data, k.mv_size);
		path[k.mv_size] = '\0';
		if (unpack_node(&v, &node) < 0)
			return rls_error_set(err, EIO, "%s: damaged index entry", path);
		int r = fn(path, &node, opaque);
		if (r)
			return r;
	}
	if (rc != MDB_NOTFOUND)
		return delta_mdb_error(err, rc, "walk");
	return 0;
}

int delta_each_below(delta_txn *txn, const char *dir, delta_each_fn fn, void *opaque, rls_error *err)
{
	_cleanup_cursor_ struct cursor cur = { NULL };
	char prefix[DELTA_PATH_MAX + 2], path[DELTA_PATH_MAX];
	size_t plen;
	MDB_val k, v;
	delta_node node;
	int rc;

	if ((rc = lookup_key(txn->d, dir, &k, err)) != 0)
		return rc < 0 ? -1 : 0;
	plen = dir_prefix(dir, prefix);
	if ((rc = mdb_cursor_open(txn->t, txn->d->nodes, &cur.c)))
		return delta_mdb_error(err, rc, dir);
	k.mv_data = prefix;
	k.mv_size = plen;
	for (rc = mdb_cursor_get(cur.c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur.c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if (k.mv_size == plen)
			continue;	/* "/" itself */
		if (k.mv_size >= sizeof path || !delta_path_ok(k.mv_data, k.mv_size))
			return rls_error_set(err, EIO, "%s: damaged index key", dir);
		memcpy(path, k.mv_data, k.mv_size);
		path[k.mv_size] = '\0';
		if (unpack_node(&v, &node) < 0)
			return rls_error_set(err, EIO, "%s: damaged index entry", path);
		int r = fn(path, &node, opaque);
		if (r)
			return r;
	}
	if (rc && rc != MDB_NOTFOUND)
		return delta_mdb_error(err, rc, dir);
	return 0;
}

int delta_has_below(delta_txn *txn, const char *dir, bool *out, rls_error *err)
{
	_cleanup_cursor_ struct cursor cur = { NULL };
	char prefix[DELTA_PATH_MAX + 2];
	size_t plen;
	MDB_val k, v;
	int rc;

	*out = false;
	if ((rc = lookup_key(txn->d, dir, &k, err)) != 0)
		return rc < 0 ? -1 : 0;
	plen = dir_prefix(dir, prefix);
	if ((rc = mdb_cursor_open(txn->t, txn->d->nodes, &cur.c)))
		return delta_mdb_error(err, rc, dir);
	k.mv_data = prefix;
	k.mv_size = plen;
	rc = mdb_cursor_get(cur.c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size == plen && memcmp(k.mv_data, prefix, plen) == 0)
		rc = mdb_cursor_get(cur.c, &k, &v, MDB_NEXT);	/* "/" itself */
	if (rc && rc != MDB_NOTFOUND)
		return delta_mdb_error(err, rc, dir);
	*out = rc == 0 && k.mv_size > plen && memcmp(k.mv_data, prefix, plen) == 0;
	return 0;
}

struct entry {
	char *key;
	size_t klen;
	void *val;
	size_t vlen;
};

/* How much of a subtree a move may copy into memory.  The sandbox makes the
 * subtree (up to the entry quota, each entry up to a few KiB), and rlsfs's
 * memory is not the sandbox's to spend: a larger folder does not move in
 * one step (EXDEV, which mv(1) answers by moving entry by entry). */
#define MOVE_MAX_BYTES ((size_t)64 << 20)

/* Copy out every (key, value) strictly below `dir`: callers change the
 * tree, which must not happen under a live cursor.  With `budget`, EXDEV
 * when the copy would take more bytes than that. */
static int collect_below(delta_txn *txn, const char *dir, size_t budget, struct entry **out, size_t *n_out,
			 rls_error *err)
{
	_cleanup_cursor_ struct cursor cur = { NULL };
	char prefix[DELTA_PATH_MAX + 2];
	struct entry *v_ = NULL;
	size_t n = 0, cap = 0, plen, used = 0;
	MDB_val k, v;
	int rc;

	*out = NULL;
	*n_out = 0;
	if ((rc = lookup_key(txn->d, dir, &k, err)) != 0)
		return rc < 0 ? -1 : 0;
	plen = dir_prefix(dir, prefix);
	if ((rc = mdb_cursor_open(txn->t, txn->d->nodes, &cur.c)))
		return delta_mdb_error(err, rc, dir);
	k.mv_data = prefix;
	k.mv_size = plen;
	for (rc = mdb_cursor_get(cur.c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur.c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if (k.mv_size == plen)
			continue;
		used += sizeof *v_ + k.mv_size + v.mv_size + 32;
		if (budget && used > budget) {
			rc = EXDEV;
			break;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			v_ = rls_xrealloc(v_, cap * sizeof *v_);
		}
		v_[n].key = rls_xmalloc(k.mv_size + v.mv_size + 1);
		memcpy(v_[n].key, k.mv_data, k.mv_size);
		v_[n].key[k.mv_size] = '\0';
		v_[n].klen = k.mv_size;
		v_[n].val = v_[n].key + k.mv_size + 1;
		memcpy(v_[n].val, v.mv_data, v.mv_size);
		v_[n].vlen = v.mv_size;
		n++;
	}
	if (rc && rc != MDB_NOTFOUND) {
		for (size_t i = 0; i < n; i++)
			free(v_[i].key);
		free(v_);
		if (rc == EXDEV)
			return rls_error_set(err, EXDEV, "%s: too many entries below to move at once", dir);
		return delta_mdb_error(err, rc, dir);
	}
	*out = v_;
	*n_out = n;
	return 0;
}

static void free_entries(struct entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].key);
	free(e);
}

int delta_move_below(delta_txn *txn, const char *from, const char *to, rls_error *err)
{
	struct entry *e = NULL;
	size_t n = 0, flen = strlen(from), tlen = strlen(to);
	char path[DELTA_PATH_MAX + 2];
	int ret = -1, rc;

	if (need_write(txn, err) < 0 || collect_below(txn, from, MOVE_MAX_BYTES, &e, &n, err) < 0)
		return -1;
	if (strcmp(from, "/") == 0)
		flen = 0;
	if (strcmp(to, "/") == 0)
		tlen = 0;
	for (size_t i = 0; i < n; i++) {
		MDB_val k = { e[i].klen, e[i].key };

		if ((rc = mdb_del(txn->t, txn->d->nodes, &k, NULL))) {
			delta_mdb_error(err, rc, e[i].key);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		size_t rest = e[i].klen - flen;
		MDB_val k, v = { e[i].vlen, e[i].val };

		if (tlen + rest >= sizeof path) {
			rls_error_set(err, ENAMETOOLONG, "%s%s", to, e[i].key + flen);
			goto out;
		}
		memcpy(path, to, tlen);
		memcpy(path + tlen, e[i].key + flen, rest + 1);
		if (path_key(txn->d, path, &k, err) < 0)
			goto out;
		if ((rc = mdb_put(txn->t, txn->d->nodes, &k, &v, 0))) {
			delta_mdb_error(err, rc, path);
			goto out;
		}
	}
	ret = 0;
out:
	free_entries(e, n);
	return ret;
}

int delta_del_below(delta_txn *txn, const char *dir, rls_error *err)
{
	struct entry *e = NULL;
	size_t n = 0;
	int ret = -1, rc;

	if (need_write(txn, err) < 0 || collect_below(txn, dir, 0, &e, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		MDB_val k = { e[i].klen, e[i].key }, v = { e[i].vlen, e[i].val };
		delta_node node;
		delta_inode ino;

		if (unpack_node(&v, &node) < 0) {
			rls_error_set(err, EIO, "%s: damaged index entry", e[i].key);
			goto out;
		}
		if ((rc = mdb_del(txn->t, txn->d->nodes, &k, NULL))) {
			delta_mdb_error(err, rc, e[i].key);
			goto out;
		}
		if (node.id == 0)
			continue;
		rc = delta_get_inode(txn, node.id, &ino, err);
		if (rc < 0)
			goto out;
		if (rc == 1)
			continue;
		if (ino.nlink > 1) {
			ino.nlink--;
			if (delta_put_inode(txn, node.id, &ino, err) < 0)
				goto out;
		} else if (delta_del_inode(txn, node.id, err) < 0) {
			goto out;
		}
	}
	ret = 0;
out:
	free_entries(e, n);
	return ret;
}

int delta_clear_index(delta_txn *txn, rls_error *err)
{
	int rc;

	if (need_write(txn, err) < 0)
		return -1;
	if ((rc = mdb_drop(txn->t, txn->d->nodes, 0)) || (rc = mdb_drop(txn->t, txn->d->inodes, 0)))
		return delta_mdb_error(err, rc, "clear index");
	return 0;
}
