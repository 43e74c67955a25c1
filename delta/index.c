/* index.c - the delta's LMDB index: transactions, nodes, inodes, listings
 * and subtree moves (opening it is open.c's). */
#include "delta-int.h"

#include <endian.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

/* ---- meta ------------------------------------------------------------- */

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

int delta_sync(delta *d, rls_error *err)
{
	int rc;

	/* a written map is synced with msync(2): held in place meanwhile */
	if (delta_map_enter(d, err) < 0)
		return -1;
	rc = mdb_env_sync(d->env, 1);
	delta_map_leave(d);
	return rc ? delta_mdb_error(err, rc, "sync index") : 0;
}

int delta_flush(delta *d, rls_error *err)
{
	/* The names in DELTA/data first (a copy-up links its file in there),
	 * then the index that points at them. */
	if (fsync(d->data_sync_fd) < 0)
		return rls_error_set(err, errno, "sync %s/data", d->path);
	return delta_sync(d, err);
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
		 * ends without waiting on the disk).  Any other environment
		 * synced each transaction as it committed: nothing is left. */
		if (d->live && d->wrote && !atomic_load(&d->map_broken)) {
			if (d->data_sync_fd >= 0)
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
	pthread_rwlock_destroy(&d->map_lock);
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

static size_t count_records(delta_txn *txn)
{
	MDB_dbi dbis[] = { txn->d->meta, txn->d->nodes, txn->d->dirs, txn->d->inodes };
	size_t n = 0;
	MDB_stat st;

	for (size_t i = 0; i < RLS_ARRAY_SIZE(dbis); i++)
		if (mdb_stat(txn->t, dbis[i], &st) == 0)
			n += st.ms_entries;
	return n;
}

/* ---- transactions ---------------------------------------------------- */

int delta_begin(delta *d, bool write, delta_txn **out, rls_error *err)
{
	delta_txn *txn;
	MDB_txn *t;

	if (delta_map_begin(d, write, &t, err) < 0)
		return -1;
	txn = rls_xcalloc(1, sizeof *txn);
	txn->t = t;
	txn->d = d;
	txn->write = write;
	/* (the tables opened: opening them adds none of their records) */
	if (write && atomic_load(&d->reserve_short) && d->inodes) {
		txn->guarded = true;
		txn->records = count_records(txn);
	}
	*out = txn;
	return 0;
}

int delta_commit_txn(delta_txn *txn, rls_error *err)
{
	int rc;

	if (txn->guarded && count_records(txn) > txn->records) {
		delta_abort(txn);
		return rls_error_set(err, ENOSPC, "delta: its filesystem is full: only removals are recorded "
				     "until room is freed there");
	}
	rc = mdb_txn_commit(txn->t);
	if (rc == 0 && txn->write)
		delta_reserve_refill(txn->d);
	delta_map_end(txn->d, txn->write);
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
	delta_map_end(txn->d, txn->write);
	free(txn->unlink_ids);
	free(txn);
}

static int need_write(delta_txn *txn, rls_error *err)
{
	if (!txn->write)
		return rls_error_set(err, EBADF, "delta: read-only transaction");
	return 0;
}

/* ---- names -------------------------------------------------------------
 * A path is looked up one name at a time, as a filesystem does: "dirs"
 * maps (parent folder, name) to the id under which that folder's own
 * entries are keyed, "entries" maps (parent folder, name) to the node.  A
 * folder has a "dirs" record while anything is below it, whether or not it
 * has a node of its own (a whiteout can stand below a source folder the
 * delta has no node for), and loses it with its last entry.  So no key is
 * longer than a name, whatever the path's length, and a folder moves by one
 * record whatever lies below it. */

/* One folder on the way down a path: its parent's id, its name, its id. */
struct step {
	uint64_t parent, id;
	const char *name;
	size_t len;
};

/* The folders of a path, root first (for pruning those a removal leaves
 * empty). */
struct chain {
	struct step *v;
	size_t n, cap;
};

static void chain_free(struct chain *c)
{
	free(c->v);
}
#define _cleanup_chain_ __attribute__((cleanup(chain_free)))

static int dir_get(delta_txn *txn, uint64_t parent, const char *name, size_t len, uint64_t *id, rls_error *err)
{
	uint8_t kb[DELTA_KEY_MAX];
	MDB_val k = { delta_pack_key(parent, name, len, kb), kb }, v;
	int rc = mdb_get(txn->t, txn->d->dirs, &k, &v);

	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc)
		return delta_mdb_error(err, rc, "folder record");
	if (delta_unpack_dir(v.mv_data, v.mv_size, id) < 0)
		return rls_error_set(err, EIO, "damaged folder record '%.*s'", (int)len, name);
	return 0;
}

static int dir_put(delta_txn *txn, uint64_t parent, const char *name, size_t len, uint64_t id, rls_error *err)
{
	uint8_t kb[DELTA_KEY_MAX], vb[8];
	MDB_val k = { delta_pack_key(parent, name, len, kb), kb }, v = { sizeof vb, vb };
	int rc;

	delta_pack_dir(id, vb);
	rc = mdb_put(txn->t, txn->d->dirs, &k, &v, 0);
	return rc ? delta_mdb_error(err, rc, "folder record") : 0;
}

static int dir_del(delta_txn *txn, uint64_t parent, const char *name, size_t len, rls_error *err)
{
	uint8_t kb[DELTA_KEY_MAX];
	MDB_val k = { delta_pack_key(parent, name, len, kb), kb };
	int rc = mdb_del(txn->t, txn->d->dirs, &k, NULL);

	return rc && rc != MDB_NOTFOUND ? delta_mdb_error(err, rc, "folder record") : 0;
}

enum resolve_mode {
	RESOLVE_LOOKUP,		/* 1 when a folder on the way has nothing below it */
	RESOLVE_CREATE,		/* make the folder records missing on the way */
};

/* Walk `path` down to its last name: *parent is the id of the folder that
 * holds it, name/len the last name (NULL for "/" itself).  With `chain`,
 * the folders passed are recorded.  0, 1 (RESOLVE_LOOKUP: not there), or
 * -1: EINVAL for what is not a path, ENAMETOOLONG for a name longer than
 * DELTA_NAME_MAX or a path of DELTA_PATH_MAX bytes or more (lookups answer
 * 1 for those: nothing can be there). */
static int resolve(delta_txn *txn, const char *path, enum resolve_mode mode, uint64_t *parent, const char **name,
		   size_t *len, struct chain *chain, rls_error *err)
{
	size_t n = strlen(path);
	uint64_t at = DELTA_ROOT_DIR;
	const char *p = path + 1;

	if (path[0] != '/')
		return rls_error_set(err, EINVAL, "delta: bad path '%s'", path);
	if (n >= DELTA_PATH_MAX) {
		if (mode == RESOLVE_LOOKUP)
			return 1;
		return rls_error_set(err, ENAMETOOLONG, "delta: path of %zu bytes: %.60s...", n, path);
	}
	if (!delta_path_ok(path, n)) {
		/* a name too long for any filesystem is not there, nor can be */
		for (const char *s = p, *e; *s; s = *e ? e + 1 : e) {
			e = strchrnul(s, '/');
			if (e - s > DELTA_NAME_MAX)
				return mode == RESOLVE_LOOKUP ? 1 :
					rls_error_set(err, ENAMETOOLONG, "delta: name longer than %d bytes in %.60s...",
						      DELTA_NAME_MAX, path);
		}
		return rls_error_set(err, EINVAL, "delta: bad path '%s'", path);
	}
	*parent = DELTA_ROOT_DIR;
	*name = NULL;
	*len = 0;
	if (n == 1)
		return 0;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t l = slash ? (size_t)(slash - p) : strlen(p);
		uint64_t id;
		int r;

		if (!slash) {
			*parent = at;
			*name = p;
			*len = l;
			return 0;
		}
		r = dir_get(txn, at, p, l, &id, err);
		if (r < 0)
			return -1;
		if (r == 1) {
			if (mode == RESOLVE_LOOKUP)
				return 1;
			if (delta_new_id(txn, &id, err) < 0 || dir_put(txn, at, p, l, id, err) < 0)
				return -1;
		}
		if (chain) {
			if (chain->n == chain->cap) {
				chain->cap = chain->cap ? 2 * chain->cap : 16;
				chain->v = rls_xrealloc(chain->v, chain->cap * sizeof *chain->v);
			}
			chain->v[chain->n++] = (struct step){ at, id, p, l };
		}
		at = id;
		p = slash + 1;
	}
}

/* The id under which the entries below folder `path` are keyed: 0, or 1
 * when nothing is below it.  With `step`, where its folder record is. */
static int dir_id(delta_txn *txn, const char *path, uint64_t *id, struct chain *chain, struct step *step,
		  rls_error *err)
{
	uint64_t parent;
	const char *name;
	size_t len;
	int r = resolve(txn, path, RESOLVE_LOOKUP, &parent, &name, &len, chain, err);

	if (r != 0)
		return r;
	if (!name) {
		*id = DELTA_ROOT_DIR;
		return 0;
	}
	r = dir_get(txn, parent, name, len, id, err);
	if (r == 0 && step)
		*step = (struct step){ parent, *id, name, len };
	return r;
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

/* Does table `dbi` hold a key of folder `id` (a name after `after`, when
 * given)?  0 and *k (the key) filled, 1 when not. */
static int first_in(delta_txn *txn, MDB_cursor *c, uint64_t id, const char *after, size_t alen, MDB_val *k,
		    MDB_val *v, rls_error *err)
{
	uint8_t kb[DELTA_KEY_MAX];
	int rc;

	k->mv_data = kb;
	k->mv_size = delta_pack_key(id, after ? after : "", after ? alen : 0, kb);
	rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
	if (rc == 0 && after && k->mv_size == 8 + alen && !memcmp((uint8_t *)k->mv_data + 8, after, alen))
		rc = mdb_cursor_get(c, k, v, MDB_NEXT);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc)
		return delta_mdb_error(err, rc, "index");
	return k->mv_size >= 8 && !memcmp(k->mv_data, kb, 8) ? 0 : 1;
}

static int dir_empty(delta_txn *txn, uint64_t id, bool *out, rls_error *err)
{
	_cleanup_cursor_ struct cursor a = { NULL }, b = { NULL };
	MDB_val k, v;
	int rc, r;

	if ((rc = mdb_cursor_open(txn->t, txn->d->nodes, &a.c)) || (rc = mdb_cursor_open(txn->t, txn->d->dirs, &b.c)))
		return delta_mdb_error(err, rc, "index");
	if ((r = first_in(txn, a.c, id, NULL, 0, &k, &v, err)) == 1)
		r = first_in(txn, b.c, id, NULL, 0, &k, &v, err);
	if (r < 0)
		return -1;
	*out = r == 1;
	return 0;
}

/* Drop the folder records of the chain's folders, deepest first, while
 * nothing is below them any more. */
static int prune(delta_txn *txn, const struct chain *chain, rls_error *err)
{
	for (size_t i = chain->n; i-- > 0;) {
		const struct step *s = &chain->v[i];
		bool empty;

		if (dir_empty(txn, s->id, &empty, err) < 0)
			return -1;
		if (!empty)
			break;
		if (dir_del(txn, s->parent, s->name, s->len, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- nodes ------------------------------------------------------------ */

static size_t node_key(uint64_t parent, const char *name, size_t len, uint8_t kb[static DELTA_KEY_MAX])
{
	return name ? delta_pack_key(parent, name, len, kb) : delta_pack_key(DELTA_ROOT_KEY, "", 0, kb);
}

int delta_get(delta_txn *txn, const char *path, delta_node *node, rls_error *err)
{
	uint8_t kb[DELTA_KEY_MAX];
	uint64_t parent;
	const char *name;
	size_t len;
	MDB_val k, v;
	int rc;

	if ((rc = resolve(txn, path, RESOLVE_LOOKUP, &parent, &name, &len, NULL, err)) != 0)
		return rc;
	k.mv_data = kb;
	k.mv_size = node_key(parent, name, len, kb);
	rc = mdb_get(txn->t, txn->d->nodes, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc)
		return delta_mdb_error(err, rc, path);
	if (delta_unpack_node(v.mv_data, v.mv_size, node) < 0)
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
	_cleanup_chain_ struct chain chain = { 0 };
	uint8_t buf[DELTA_NODE_MAX], kb[DELTA_KEY_MAX];
	uint64_t parent;
	const char *name;
	size_t len;
	MDB_val k, v;
	int rc;

	if (need_write(txn, err) < 0)
		return -1;
	if (node->kind < DELTA_WHITEOUT || node->kind > DELTA_BLK)
		return rls_error_set(err, EINVAL, "%s: bad node kind %d", path, node->kind);
	if (resolve(txn, path, RESOLVE_CREATE, &parent, &name, &len, &chain, err) < 0)
		return -1;
	k.mv_data = kb;
	k.mv_size = node_key(parent, name, len, kb);
	v.mv_data = buf;
	v.mv_size = delta_pack_node(node, buf);
	if (txn->d->quota)
		rc = put_counted(txn, path, &k, &v, err);
	else if ((rc = mdb_put(txn->t, txn->d->nodes, &k, &v, 0)))
		rc = delta_mdb_error(err, rc, path);
	if (rc < 0) {
		/* no folder record made on the way stays empty */
		rls_error e2;

		prune(txn, &chain, &e2);
	}
	return rc;
}

int delta_del(delta_txn *txn, const char *path, rls_error *err)
{
	_cleanup_chain_ struct chain chain = { 0 };
	uint8_t kb[DELTA_KEY_MAX];
	uint64_t parent;
	const char *name;
	size_t len;
	MDB_val k;
	int rc;

	if (need_write(txn, err) < 0)
		return -1;
	if ((rc = resolve(txn, path, RESOLVE_LOOKUP, &parent, &name, &len, &chain, err)) != 0)
		return rc;
	k.mv_data = kb;
	k.mv_size = node_key(parent, name, len, kb);
	rc = mdb_del(txn->t, txn->d->nodes, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc)
		return delta_mdb_error(err, rc, path);
	return prune(txn, &chain, err);
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
	if (delta_unpack_inode(v.mv_data, v.mv_size, ino) < 0)
		return rls_error_set(err, EIO, "inode %llu: damaged index entry", (unsigned long long)id);
	return 0;
}

int delta_put_inode(delta_txn *txn, uint64_t id, const delta_inode *ino, rls_error *err)
{
	uint8_t buf[DELTA_INODE_MAX];
	uint64_t be = htobe64(id);
	MDB_val k = { sizeof be, &be }, v;
	int rc;

	if (need_write(txn, err) < 0)
		return -1;
	if (id == 0)
		return rls_error_set(err, EINVAL, "delta: inode id 0");
	v.mv_data = buf;
	v.mv_size = delta_pack_inode(ino, buf);
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

int delta_list(delta_txn *txn, const char *dir, delta_each_fn fn, void *opaque, rls_error *err)
{
	_cleanup_cursor_ struct cursor cur = { NULL };
	char name[DELTA_NAME_MAX + 1];
	uint64_t id, parent;
	const char *nm;
	size_t len;
	MDB_val k, v;
	delta_node node;
	int rc, r;

	if ((r = dir_id(txn, dir, &id, NULL, NULL, err)) != 0)
		return r < 0 ? -1 : 0;
	if ((rc = mdb_cursor_open(txn->t, txn->d->nodes, &cur.c)))
		return delta_mdb_error(err, rc, dir);
	for (r = first_in(txn, cur.c, id, NULL, 0, &k, &v, err); r == 0;
	     r = first_in(txn, cur.c, id, name, len, &k, &v, err)) {
		if (delta_unpack_key(k.mv_data, k.mv_size, &parent, &nm, &len) < 0 || len == 0)
			return rls_error_set(err, EIO, "%s: damaged index key", dir);
		memcpy(name, nm, len);
		name[len] = '\0';
		if (delta_unpack_node(v.mv_data, v.mv_size, &node) < 0)
			return rls_error_set(err, EIO, "%s/%s: damaged index entry", dir, name);
		if ((r = fn(name, &node, opaque)))
			return r;
	}
	return r < 0 ? -1 : 0;
}

/* A depth-first walk below one folder, without recursion: each level
 * remembers the last name it passed, and the next is found by seeking past
 * it in both tables ("entries" and "dirs" hold the same names in the same
 * order).  The path built on the way bounds the depth: a damaged index
 * whose folder records make a loop ends at DELTA_PATH_MAX with EIO. */
struct level {
	uint64_t id;
	size_t plen;		/* of the folder's path in walk.path */
	size_t last_len;
	bool started;
	char last[DELTA_NAME_MAX];
};

typedef int (*visit_fn)(const char *path, const MDB_val *k, const MDB_val *v, bool is_dir, void *opaque);

static int walk_below(delta_txn *txn, const char *dir, uint64_t id, visit_fn visit, void *opaque, rls_error *err)
{
	_cleanup_cursor_ struct cursor ce = { NULL }, cd = { NULL };
	_cleanup_free_ struct level *lv = NULL;
	_cleanup_free_ char *path = rls_xmalloc(DELTA_PATH_MAX + DELTA_NAME_MAX + 2);
	size_t depth = 0, cap = 16;
	int rc;

	if ((rc = mdb_cursor_open(txn->t, txn->d->nodes, &ce.c)) || (rc = mdb_cursor_open(txn->t, txn->d->dirs, &cd.c)))
		return delta_mdb_error(err, rc, dir);
	lv = rls_xmalloc(cap * sizeof *lv);
	lv[0] = (struct level){ .id = id, .plen = strcmp(dir, "/") ? strlen(dir) : 0 };
	memcpy(path, dir, lv[0].plen);
	depth = 1;
	while (depth) {
		struct level *l = &lv[depth - 1];
		const char *after = l->started ? l->last : NULL;
		MDB_val ke, ve, kd, vd;
		int re = first_in(txn, ce.c, l->id, after, l->last_len, &ke, &ve, err);
		int rd = re < 0 ? -1 : first_in(txn, cd.c, l->id, after, l->last_len, &kd, &vd, err);
		const MDB_val *kn;
		uint64_t parent, child;
		const char *name;
		size_t len;
		int cmp, r;

		if (re < 0 || rd < 0)
			return -1;
		if (re == 1 && rd == 1) {
			depth--;
			continue;
		}
		/* the smaller name of the two tables comes first */
		if (re == 0 && rd == 0) {
			size_t m = ke.mv_size < kd.mv_size ? ke.mv_size : kd.mv_size;

			cmp = memcmp(ke.mv_data, kd.mv_data, m);
			if (cmp == 0)
				cmp = ke.mv_size < kd.mv_size ? -1 : ke.mv_size > kd.mv_size;
		} else {
			cmp = re == 0 ? -1 : 1;
		}
		kn = cmp <= 0 ? &ke : &kd;
		if (delta_unpack_key(kn->mv_data, kn->mv_size, &parent, &name, &len) < 0 || len == 0)
			return rls_error_set(err, EIO, "%s: damaged index key", dir);
		if (l->plen + 1 + len >= DELTA_PATH_MAX)
			return rls_error_set(err, EIO, "%s: damaged index (a path longer than %d bytes)", dir,
					     DELTA_PATH_MAX);
		l->started = true;
		memcpy(l->last, name, len);
		l->last_len = len;
		path[l->plen] = '/';
		memcpy(path + l->plen + 1, name, len);
		path[l->plen + 1 + len] = '\0';
		if (cmp <= 0 && (r = visit(path, &ke, &ve, false, opaque)))
			return r;
		if (cmp < 0)
			continue;
		if (delta_unpack_dir(vd.mv_data, vd.mv_size, &child) < 0)
			return rls_error_set(err, EIO, "%s: damaged folder record", path);
		if ((r = visit(path, &kd, &vd, true, opaque)))
			return r;
		if (depth == cap) {
			cap *= 2;
			lv = rls_xrealloc(lv, cap * sizeof *lv);
			l = &lv[depth - 1];
		}
		lv[depth++] = (struct level){ .id = child, .plen = l->plen + 1 + len };
	}
	return 0;
}

struct each {
	delta_each_fn fn;
	void *opaque;
};

static int each_node(const char *path, const MDB_val *k, const MDB_val *v, bool is_dir, void *opaque)
{
	struct each *e = opaque;
	delta_node node;

	if (is_dir)
		return 0;
	if (delta_unpack_node(v->mv_data, v->mv_size, &node) < 0)
		return -EIO;
	return e->fn(path, &node, e->opaque);
}

/* Walk's and each_node's answer: a damaged node is EIO, anything else the
 * callback's. */
static int each_result(int r, const char *dir, rls_error *err)
{
	return r == -EIO ? rls_error_set(err, EIO, "%s: damaged index entry", dir) : r;
}

int delta_walk(delta_txn *txn, delta_each_fn fn, void *opaque, rls_error *err)
{
	delta_node node;
	int r = delta_get(txn, "/", &node, err);

	if (r < 0)
		return -1;
	if (r == 0 && (r = fn("/", &node, opaque)))
		return r;
	return delta_each_below(txn, "/", fn, opaque, err);
}

int delta_each_below(delta_txn *txn, const char *dir, delta_each_fn fn, void *opaque, rls_error *err)
{
	struct each e = { fn, opaque };
	uint64_t id;
	int r;

	if ((r = dir_id(txn, dir, &id, NULL, NULL, err)) != 0)
		return r < 0 ? -1 : 0;
	return each_result(walk_below(txn, dir, id, each_node, &e, err), dir, err);
}

int delta_has_below(delta_txn *txn, const char *dir, bool *out, rls_error *err)
{
	uint64_t id;
	bool empty;
	int r;

	*out = false;
	if ((r = dir_id(txn, dir, &id, NULL, NULL, err)) != 0)
		return r < 0 ? -1 : 0;
	if (dir_empty(txn, id, &empty, err) < 0)
		return -1;
	*out = !empty;
	return 0;
}

/* What lies below a folder, copied out: callers change the tree, which
 * must not happen under a live cursor. */
struct entry {
	char *path;
	uint8_t *key;
	size_t klen;
	void *val;
	size_t vlen;
	bool is_dir;
};

struct collect {
	struct entry *v;
	size_t n, cap, used, budget;
};

/* How much of a subtree a move into an occupied folder may copy into
 * memory: rlsfs's memory is not the sandbox's to spend (EXDEV, which mv(1)
 * answers by moving entry by entry).  In a mapped index, no more than a
 * quarter of the map's room either: the records are written anew, and
 * the move must fit in the room its transaction has (map.c). */
#define MOVE_MAX_BYTES ((size_t)64 << 20)

static size_t move_budget(delta *d)
{
	uint64_t room = delta_map_room(d) / 4;

	return room < MOVE_MAX_BYTES ? (room ? (size_t)room : 1) : MOVE_MAX_BYTES;
}

static int collect_one(const char *path, const MDB_val *k, const MDB_val *v, bool is_dir, void *opaque)
{
	struct collect *c = opaque;
	size_t pl = strlen(path);
	struct entry *e;

	c->used += sizeof *e + pl + k->mv_size + v->mv_size + 32;
	if (c->budget && c->used > c->budget)
		return -EXDEV;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->v = rls_xrealloc(c->v, c->cap * sizeof *c->v);
	}
	e = &c->v[c->n++];
	e->path = rls_xmalloc(pl + 1 + k->mv_size + v->mv_size);
	memcpy(e->path, path, pl + 1);
	e->key = (uint8_t *)e->path + pl + 1;
	memcpy(e->key, k->mv_data, k->mv_size);
	e->klen = k->mv_size;
	e->val = e->key + k->mv_size;
	memcpy(e->val, v->mv_data, v->mv_size);
	e->vlen = v->mv_size;
	e->is_dir = is_dir;
	return 0;
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].path);
	free(c->v);
}
#define _cleanup_collect_ __attribute__((cleanup(collect_free)))

static int collect_below(delta_txn *txn, const char *dir, uint64_t id, struct collect *c, rls_error *err)
{
	int r = walk_below(txn, dir, id, collect_one, c, err);

	if (r == -EXDEV)
		return rls_error_set(err, EXDEV, "%s: too many entries below to move at once", dir);
	return r ? -1 : 0;
}

/* Take every entry of `c` out of the index (folder records too). */
static int delete_collected(delta_txn *txn, const struct collect *c, rls_error *err)
{
	for (size_t i = 0; i < c->n; i++) {
		MDB_val k = { c->v[i].klen, c->v[i].key };
		int rc = mdb_del(txn->t, c->v[i].is_dir ? txn->d->dirs : txn->d->nodes, &k, NULL);

		if (rc && rc != MDB_NOTFOUND)
			return delta_mdb_error(err, rc, c->v[i].path);
	}
	return 0;
}

static int longest_one(const char *path, const MDB_val *k, const MDB_val *v, bool is_dir, void *opaque)
{
	size_t *longest = opaque, n = strlen(path);

	if (n > *longest)
		*longest = n;
	return 0;
}

/* Would a path below `from` (the folder `id`) be DELTA_PATH_MAX bytes or
 * longer below `to`?  Only a longer name can make one so; then every path
 * below is read (reads only: the move still writes one record). */
static int check_lengths(delta_txn *txn, const char *from, uint64_t id, const char *to, rls_error *err)
{
	size_t flen = strlen(from), tlen = strlen(to), longest = 0;
	int r;

	if (tlen <= flen)
		return 0;
	if ((r = walk_below(txn, from, id, longest_one, &longest, err)) != 0)
		return -1;
	if (longest - flen + tlen >= DELTA_PATH_MAX)
		return rls_error_set(err, ENAMETOOLONG, "%s: a path below would be %zu bytes long below %s", from,
				     longest - flen + tlen, to);
	return 0;
}

int delta_move_below(delta_txn *txn, const char *from, const char *to, rls_error *err)
{
	_cleanup_chain_ struct chain chain = { 0 };
	_cleanup_collect_ struct collect c = { .budget = move_budget(txn->d) };
	struct step src;
	uint64_t id, parent, dest;
	const char *name;
	size_t len, flen = strlen(from);
	int r;

	if (need_write(txn, err) < 0)
		return -1;
	if ((r = dir_id(txn, from, &id, &chain, &src, err)) != 0)
		return r < 0 ? -1 : 0;
	if (!strcmp(from, "/") || !strcmp(to, "/") || (!strncmp(to, from, flen) && (to[flen] == '/' || !to[flen])))
		return rls_error_set(err, EINVAL, "delta: cannot move what is below %s to %s", from, to);
	if (check_lengths(txn, from, id, to, err) < 0)
		return -1;
	r = dir_id(txn, to, &dest, NULL, NULL, err);
	if (r < 0)
		return -1;
	if (r == 1) {
		/* The common case, whatever the size of the folder: its one
		 * record changes place. */
		if (dir_del(txn, src.parent, src.name, src.len, err) < 0 || prune(txn, &chain, err) < 0 ||
		    resolve(txn, to, RESOLVE_CREATE, &parent, &name, &len, NULL, err) < 0)
			return -1;
		return dir_put(txn, parent, name, len, id, err);
	}
	/* Something is below `to` already: what comes from `from` is put in
	 * place entry by entry, over what is there at the same path. */
	if (collect_below(txn, from, id, &c, err) < 0 || delete_collected(txn, &c, err) < 0 ||
	    dir_del(txn, src.parent, src.name, src.len, err) < 0 || prune(txn, &chain, err) < 0)
		return -1;
	for (size_t i = 0; i < c.n; i++) {
		_cleanup_free_ char *path = NULL;
		delta_node node;

		if (c.v[i].is_dir)
			continue;
		path = rls_xasprintf("%s%s", to, c.v[i].path + flen);
		if (delta_unpack_node(c.v[i].val, c.v[i].vlen, &node) < 0)
			return rls_error_set(err, EIO, "%s: damaged index entry", c.v[i].path);
		if (delta_put(txn, path, &node, err) < 0)
			return -1;
	}
	return 0;
}

int delta_del_below(delta_txn *txn, const char *dir, rls_error *err)
{
	_cleanup_chain_ struct chain chain = { 0 };
	_cleanup_collect_ struct collect c = { 0 };
	struct step at;
	uint64_t id;
	int r;

	if (need_write(txn, err) < 0)
		return -1;
	if ((r = dir_id(txn, dir, &id, &chain, &at, err)) != 0)
		return r < 0 ? -1 : 0;
	if (collect_below(txn, dir, id, &c, err) < 0 || delete_collected(txn, &c, err) < 0)
		return -1;
	for (size_t i = 0; i < c.n; i++) {
		delta_node node;
		delta_inode ino;

		if (c.v[i].is_dir)
			continue;
		if (delta_unpack_node(c.v[i].val, c.v[i].vlen, &node) < 0)
			return rls_error_set(err, EIO, "%s: damaged index entry", c.v[i].path);
		if (node.id == 0)
			continue;
		r = delta_get_inode(txn, node.id, &ino, err);
		if (r < 0)
			return -1;
		if (r == 1)
			continue;
		if (ino.nlink > 1) {
			ino.nlink--;
			if (delta_put_inode(txn, node.id, &ino, err) < 0)
				return -1;
		} else if (delta_del_inode(txn, node.id, err) < 0) {
			return -1;
		}
	}
	if (strcmp(dir, "/") && dir_del(txn, at.parent, at.name, at.len, err) < 0)
		return -1;
	return prune(txn, &chain, err);
}

int delta_clear_index(delta_txn *txn, rls_error *err)
{
	int rc;

	if (need_write(txn, err) < 0)
		return -1;
	if ((rc = mdb_drop(txn->t, txn->d->nodes, 0)) || (rc = mdb_drop(txn->t, txn->d->dirs, 0)) ||
	    (rc = mdb_drop(txn->t, txn->d->inodes, 0)))
		return delta_mdb_error(err, rc, "clear index");
	return 0;
}
