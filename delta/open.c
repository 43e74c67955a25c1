/* open.c - opening a delta: its folders, its lock, its LMDB environment,
 * the format check (and the migration of an older format), the recovery
 * of an interrupted commit. */
#include "delta-int.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#define DELTA_MAXREADERS 1024

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

/* Format 1 keyed its nodes by whole path in "nodes": put each under its
 * (parent, name) key in the tables opened in `txn`, and drop "nodes".  One
 * transaction: a crash leaves the old format whole, to be migrated again. */
static int migrate_paths(delta *d, delta_txn *txn, rls_error *err)
{
	_cleanup_free_ char *fmt = NULL;
	MDB_cursor *c = NULL;
	MDB_dbi old;
	MDB_val k, v;
	int rc, r;

	r = delta_meta_get(txn, "format", &fmt, NULL, err);
	if (r < 0)
		return -1;
	if (r == 1 || strcmp(fmt, DELTA_FORMAT_PATHS) != 0)
		return rls_error_set(err, EINVAL, "%s: unknown delta format '%s'; commit or discard it with the rls "
				     "that made it", d->path, r == 1 ? "" : fmt);
	if (delta_is_mounted(d))
		return rls_error_set(err, EBUSY, "%s: delta of an older format is mounted; unmount it, then "
				     "open it again to bring it up to date", d->path);
	if ((rc = mdb_dbi_open(txn->t, "nodes", 0, &old)) || (rc = mdb_cursor_open(txn->t, old, &c)))
		return delta_mdb_error(err, rc, "index");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		_cleanup_free_ char *path = NULL;
		delta_node node;

		if (!delta_path_ok(k.mv_data, k.mv_size) || delta_unpack_node(v.mv_data, v.mv_size, &node) < 0) {
			mdb_cursor_close(c);
			return rls_error_set(err, EIO, "%s: damaged index entry, so the delta cannot be brought "
					     "up to date; commit or discard it with the rls that made it", d->path);
		}
		path = rls_xstrndup(k.mv_data, k.mv_size);
		if (delta_put(txn, path, &node, err) < 0) {
			mdb_cursor_close(c);
			return -1;
		}
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return delta_mdb_error(err, rc, "index");
	if ((rc = mdb_drop(txn->t, old, 1)))
		return delta_mdb_error(err, rc, "index");
	return delta_meta_put(txn, "format", DELTA_FORMAT, strlen(DELTA_FORMAT), err);
}

/* Open the tables; make them in a new delta, migrate an older one. */
static int open_tables(delta *d, bool create, rls_error *err)
{
	delta_txn *txn = NULL;
	unsigned dflags = create ? MDB_CREATE : 0;
	bool migrate = false;
	int rc;

	if (delta_begin(d, true, &txn, err) < 0)
		return -1;
	if ((rc = mdb_dbi_open(txn->t, "meta", dflags, &d->meta)))
		goto fail;
	rc = mdb_dbi_open(txn->t, "entries", dflags, &d->nodes);
	if (rc == MDB_NOTFOUND) {
		migrate = true;
		rc = mdb_dbi_open(txn->t, "entries", MDB_CREATE, &d->nodes);
	}
	if (rc || (rc = mdb_dbi_open(txn->t, "dirs", migrate ? MDB_CREATE : dflags, &d->dirs)) ||
	    (rc = mdb_dbi_open(txn->t, "inodes", dflags, &d->inodes)))
		goto fail;
	if (migrate && migrate_paths(d, txn, err) < 0) {
		delta_abort(txn);
		return -1;
	}
	if (delta_commit_txn(txn, err) < 0)
		return -1;
	return migrate ? delta_sync(d, err) : 0;
fail:
	delta_abort(txn);
	if (rc == MDB_NOTFOUND)
		return rls_error_set(err, EINVAL, "%s: not a delta (index has no tables)", d->path);
	return delta_mdb_error(err, rc, "index");
}

static int open_env(delta *d, bool create, rls_error *err)
{
	_cleanup_free_ char *index = rls_xasprintf("%s/index", d->path);
	unsigned flags = MDB_NOTLS;
	size_t mapsize = DELTA_MAPSIZE;
	MDB_stat est;
	int rc;

	if (d->live)
		flags |= MDB_NOSYNC | MDB_NOMETASYNC;
	/* A mounted delta writes its index through the map where every
	 * page of the map can be allocated ahead (map.c). */
	if (d->live && delta_map_prepare(d, &mapsize))
		flags |= MDB_WRITEMAP;
	if ((rc = mdb_env_create(&d->env)))
		return delta_mdb_error(err, rc, "lmdb");
	/* meta, entries, dirs, inodes, and a format 1 delta's nodes */
	mdb_env_set_maxdbs(d->env, 8);
	mdb_env_set_mapsize(d->env, mapsize);
	mdb_env_set_maxreaders(d->env, DELTA_MAXREADERS);
	if ((rc = mdb_env_open(d->env, index, flags, 0600)))
		return delta_mdb_error(err, rc, index);
	d->page_size = mdb_env_stat(d->env, &est) == 0 ? est.ms_psize : 4096;
	return open_tables(d, create, err);
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
		/* Durable as every other transaction of this environment:
		 * synced as it commits, or, live, by the close that follows a
		 * write (a mount nothing was written to leaves an empty delta,
		 * with nothing to lose, and waits on no disk). */
		if (delta_commit_txn(txn, err) < 0)
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
	pthread_rwlock_init(&d->map_lock, NULL);
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
	/* Only a mounted delta records removals one by one as its
	 * filesystem fills; the others need no reserve. */
	atomic_store(&d->reserve_off, !d->live);
	delta_reserve_refill(d);
	/* What opening wrote is synced already (a finished commit, the
	 * record of a new delta outside a mount), changed nothing (the
	 * tables opened), or is a live delta's record, synced by the close
	 * that follows its first change: without one, the delta is empty. */
	d->wrote = false;
	*out = d;
	return 0;
fail:
	delta_close(d);
	return -1;
}

