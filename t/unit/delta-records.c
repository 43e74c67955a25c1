/* delta-records.c - records read back from a delta's index are untrusted
 * input: every decoder checks every length.  Each valid record is cut at
 * every length and has its bytes changed at random (a fixed seed); reading
 * it back must give the record or an error, never a crash or a read past
 * its end (the sanitizer build checks that).  Keys that are not paths as
 * the index writes them, and damaged commit journals, are refused. */
#include "../../delta/delta-int.h"
#include "tap.h"

#include <sys/stat.h>

static char tmp[256];

static uint32_t rnd_state = 46;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/* Write one record straight through LMDB; a failure ends the test. */
static void raw_put(delta *d, MDB_dbi dbi, const void *k, size_t klen, const void *v, size_t vlen)
{
	MDB_txn *t;
	MDB_val key = { klen, (void *)k }, val = { vlen, (void *)v };
	int rc = mdb_txn_begin(d->env, NULL, 0, &t);

	if (rc == 0 && (rc = mdb_put(t, dbi, &key, &val, 0)) != 0)
		mdb_txn_abort(t);
	else if (rc == 0)
		rc = mdb_txn_commit(t);
	tap_must(rc == 0, mdb_strerror(rc), __FILE__, __LINE__);
}

/* Open DIR's index through LMDB alone, with its meta table in d->meta:
 * delta_open would run the journal. */
static void raw_open_meta(delta *d, const char *dir)
{
	char index[400];
	MDB_txn *t;
	int rc;

	snprintf(index, sizeof index, "%s/index", dir);
	rc = mdb_env_create(&d->env);
	rc = rc ? rc : mdb_env_set_maxdbs(d->env, 4);
	rc = rc ? rc : mdb_env_set_mapsize(d->env, (size_t)1 << 36);
	rc = rc ? rc : mdb_env_open(d->env, index, 0, 0600);
	rc = rc ? rc : mdb_txn_begin(d->env, NULL, 0, &t);
	rc = rc ? rc : mdb_dbi_open(t, "meta", 0, &d->meta);
	rc = rc ? rc : mdb_txn_commit(t);
	tap_must(rc == 0, mdb_strerror(rc), __FILE__, __LINE__);
}

static int raw_get(delta *d, MDB_dbi dbi, const void *k, size_t klen, uint8_t *out, size_t *len)
{
	MDB_txn *t;
	MDB_val key = { klen, (void *)k }, val;
	int rc = mdb_txn_begin(d->env, NULL, MDB_RDONLY, &t);

	if (rc)
		return rc;
	rc = mdb_get(t, dbi, &key, &val);
	if (rc == 0) {
		memcpy(out, val.mv_data, val.mv_size);
		*len = val.mv_size;
	}
	mdb_txn_abort(t);
	return rc;
}

static void raw_del(delta *d, MDB_dbi dbi, const void *k, size_t klen)
{
	MDB_txn *t;
	MDB_val key = { klen, (void *)k };

	if (mdb_txn_begin(d->env, NULL, 0, &t) == 0) {
		mdb_del(t, dbi, &key, NULL);
		mdb_txn_commit(t);
	}
}

/* The key of a name in the root folder. */
static size_t root_key(const char *path, uint8_t kb[DELTA_KEY_MAX])
{
	return delta_pack_key(DELTA_ROOT_DIR, path + 1, strlen(path + 1), kb);
}

/* Replace the value at `path` by buf[0..len) and read it back: 0 and a
 * sane node, or -1 with EIO (returned as -2 when the error is another). */
static int node_read(delta *d, const char *path, const uint8_t *buf, size_t len)
{
	delta_txn *txn;
	delta_node n;
	rls_error err;
	int r;

	uint8_t kb[DELTA_KEY_MAX];

	raw_put(d, d->nodes, kb, root_key(path, kb), buf, len);
	TAP_MUST(delta_begin(d, false, &txn, &err));
	r = delta_get(txn, path, &n, &err);
	delta_abort(txn);
	if (r == 0)
		return n.kind >= DELTA_WHITEOUT && n.kind <= DELTA_BLK && strlen(n.target) < sizeof n.target ? 0 : -2;
	return r < 0 && err.code == EIO ? -1 : -2;
}

static bool node_reads(delta *d, const char *path, const uint8_t *buf, size_t len)
{
	return node_read(d, path, buf, len) != -2;
}

static bool inode_reads(delta *d, uint64_t id, const uint8_t *buf, size_t len, bool want_damaged)
{
	uint64_t be = htobe64(id);
	delta_txn *txn;
	delta_inode ino;
	rls_error err;
	int r;

	raw_put(d, d->inodes, &be, sizeof be, buf, len);
	TAP_MUST(delta_begin(d, false, &txn, &err));
	r = delta_get_inode(txn, id, &ino, &err);
	delta_abort(txn);
	if (want_damaged)
		return r < 0 && err.code == EIO;
	return r == 0 ? strlen(ino.origin) < sizeof ino.origin : r < 0 && err.code == EIO;
}

static int count(const char *name, const delta_node *node, void *opaque)
{
	++*(int *)opaque;
	return 0;
}

int main(void)
{
	char src[300], dir[300];
	uint8_t good[8192], buf[8192];
	size_t len;
	delta *d = NULL;
	delta_txn *txn;
	delta_node n;
	delta_inode ino;
	rls_error err;
	bool all;
	int r;

	snprintf(tmp, sizeof tmp, "%s/rls-delta-records.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return 1;
	snprintf(src, sizeof src, "%s/src", tmp);
	snprintf(dir, sizeof dir, "%s/delta", tmp);
	TAP_MUST(mkdir(src, 0755));
	/* DELTA_MOUNT: the live index does not sync each write */
	if (!tap_ok(delta_open(dir, src, DELTA_CREATE | DELTA_MOUNT, &d, &err) == 0, "a delta is made"))
		return tap_done();

	/* a symlink node and an inode with an origin, as rlsfs writes them */
	memset(&n, 0, sizeof n);
	n.kind = DELTA_SYMLINK;
	n.id = 7;
	snprintf(n.target, sizeof n.target, "../some/target");
	memset(&ino, 0, sizeof ino);
	ino.mode = S_IFREG | 0644;
	ino.nlink = 1;
	ino.flags = DELTA_HAS_BASE;
	ino.base.has_hash = 1;
	snprintf(ino.origin, sizeof ino.origin, "/the/origin");
	TAP_MUST(delta_begin(d, true, &txn, &err));
	TAP_MUST(delta_put(txn, "/link", &n, &err));
	TAP_MUST(delta_put_inode(txn, 7, &ino, &err));
	TAP_MUST(delta_commit_txn(txn, &err));

	{
		uint8_t kb[DELTA_KEY_MAX];

		len = 0;
		tap_is_int(raw_get(d, d->nodes, kb, root_key("/link", kb), good, &len), 0,
			   "the node is found under its (folder, name) key");
	}
	all = true;
	for (size_t cut = 0; cut < len; cut++)
		all &= node_read(d, "/link", good, cut) == -1;
	tap_ok(all, "a node record cut at any of its %zu lengths is read as damaged", len);
	all = true;
	for (int i = 0; i < 20000; i++) {
		size_t l = len + (rnd() % 8) - 4;

		memcpy(buf, good, len);
		for (int k = rnd() % 4; k >= 0; k--)
			buf[rnd() % len] = (uint8_t)rnd();
		all &= node_reads(d, "/link", buf, l > sizeof buf ? len : l);
	}
	tap_ok(all, "nor does one with bytes changed at random give anything but a node or an error");
	buf[0] = 1;
	buf[1] = 99;
	memset(buf + 2, 0, 11);
	tap_is_int(node_read(d, "/link", buf, 13), -1, "a node of an unknown kind is damaged");
	memcpy(buf, good, len);
	buf[2] = 0x80;
	tap_is_int(node_read(d, "/link", buf, len), -1, "and so is one with unknown flags");
	{
		delta_txn *t2;
		int g;

		memcpy(buf, good, len);
		buf[len - 3] = '\0';	/* a NUL inside the target */
		uint8_t kb[DELTA_KEY_MAX];

		raw_put(d, d->nodes, kb, root_key("/link", kb), buf, len);
		TAP_MUST(delta_begin(d, false, &t2, &err));
		g = delta_get(t2, "/link", &n, &err);
		delta_abort(t2);
		tap_ok(g < 0 && err.code == EIO, "a target with a NUL in it is damaged, not cut short");
	}

	raw_get(d, d->inodes, &(uint64_t){ htobe64(7) }, 8, good, &len);
	all = true;
	for (size_t cut = 0; cut < len; cut++)
		all &= inode_reads(d, 7, good, cut, true);
	tap_ok(all, "an inode record cut at any of its %zu lengths is read as damaged", len);
	all = true;
	for (int i = 0; i < 20000; i++) {
		memcpy(buf, good, len);
		for (int k = rnd() % 4; k >= 0; k--)
			buf[rnd() % len] = (uint8_t)rnd();
		all &= inode_reads(d, 7, buf, len - (rnd() % 3), false);
	}
	tap_ok(all, "nor does one with bytes changed at random");

	/* next_id of the wrong size */
	raw_put(d, d->meta, "next_id", 7, "\1\2\3", 3);
	{
		uint64_t id;

		TAP_MUST(delta_begin(d, true, &txn, &err));
		r = delta_new_id(txn, &id, &err);
		delta_abort(txn);
		tap_ok(r < 0 && err.code == EIO, "a damaged next_id gives an error, not ids from 1 again");
	}
	raw_put(d, d->meta, "next_id", 7, "\x10\0\0\0\0\0\0\0", 8);

	/* keys that are not paths as the index writes them */
	{
		uint8_t kb[DELTA_KEY_MAX];

		raw_del(d, d->nodes, kb, root_key("/link", kb));
	}
	{
		/* names in the root folder */
		static const char *const bad[] = { "", ".", "..", "a/b", "/a" };
		static const char nul[] = "a\0b";

		all = true;
		for (size_t i = 0; i < RLS_ARRAY_SIZE(bad) + 2; i++) {
			uint8_t k[DELTA_KEY_MAX + 8];
			size_t kl;
			int c = 0;

			if (i < RLS_ARRAY_SIZE(bad))
				kl = delta_pack_key(DELTA_ROOT_DIR, bad[i], strlen(bad[i]), k);
			else if (i == RLS_ARRAY_SIZE(bad))
				kl = delta_pack_key(DELTA_ROOT_DIR, nul, sizeof nul - 1, k);
			else
				kl = 8 + 256, memset(k, 0, 8), memset(k + 8, 'n', 256);

			raw_put(d, d->nodes, k, kl, "\1\3\0\0\0\0\0\0\0\0\0\0\0", 13);
			TAP_MUST(delta_begin(d, false, &txn, &err));
			r = delta_walk(txn, count, &c, &err);
			delta_abort(txn);
			if (!(r < 0 && err.code == EIO)) {
				tap_diag("key %zu walked: %d", i, r);
				all = false;
			}
			raw_del(d, d->nodes, k, kl);
		}
		tap_ok(all, "a walk refuses keys with empty, '.' or '..' names, a '/' or a NUL in them, or too long");
	}
	TAP_MUST(delta_begin(d, true, &txn, &err));
	tap_ok(delta_get(txn, "/a/../b", &n, &err) < 0 && err.code == EINVAL, "such a path is refused when asked for, too");
	delta_abort(txn);

	/* damaged commit journals: delta_open finishes a journal it finds */
	{
		/* version 3, applying, nonce, 0xffffffff ops, none done */
		static const uint8_t huge[24] = { 3, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
						  0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0 };
		static const uint8_t done_past[24] = { 3, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
						       1, 0, 0, 0, 2, 0, 0, 0 };
		static const uint8_t one[24] = { 3, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
						 1, 0, 0, 0, 0, 0, 0, 0 };
		uint8_t op[128] = { 0 };
		delta *d2;

		raw_put(d, d->meta, "journal", 7, huge, sizeof huge);
		delta_close(d);
		r = delta_open(dir, src, 0, &d2, &err);
		tap_ok(r < 0 && strstr(err.msg, "damaged commit journal (op 0)"),
		       "a journal claiming 4 billion ops fails on the first missing one: %s", err.msg);
		if (r == 0)
			delta_close(d2);

		/* through LMDB directly again: delta_open would run the journal */
		d = rls_xcalloc(1, sizeof *d);
		raw_open_meta(d, dir);
		raw_put(d, d->meta, "journal", 7, done_past, sizeof done_past);
		mdb_env_close(d->env);
		r = delta_open(dir, src, 0, &d2, &err);
		tap_ok(r < 0 && strstr(err.msg, "damaged commit journal"), "so does one that says more ops are done than it has");
		if (r == 0)
			delta_close(d2);

		/* one op whose path climbs out: kind OP_FILE, path "/../x" */
		raw_open_meta(d, dir);
		op[0] = 3;	/* OP_FILE */
		op[54] = 5;	/* path length */
		memcpy(op + 56, "/../x", 5);
		raw_put(d, d->meta, "journal", 7, one, sizeof one);
		raw_put(d, d->meta, "journal/00000000", 16, op, 56 + 5 + 2 + 16);
		mdb_env_close(d->env);
		free(d);
		r = delta_open(dir, src, 0, &d2, &err);
		tap_ok(r < 0 && strstr(err.msg, "damaged commit journal (op 0)"),
		       "and one whose op names a path with '..' in it: %s", err.msg);
		if (r == 0)
			delta_close(d2);
	}

	{
		char cmd[400];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
		(void)!system(cmd);
	}
	return tap_done();
}
