/* delta-format.c - a delta of format 1 (nodes keyed by whole path) is
 * brought to format 2 when it is opened: every entry is found at its path
 * again, in one transaction; one that cannot be is refused, untouched, with
 * a message saying so; an unknown format is refused with what to do. */
#include "../../delta/delta-int.h"
#include "tap.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

static char tmp[256];

/* Write a format 1 delta at dir for source src: the tables and records as
 * the version before this one wrote them, `bad` adding a damaged key. */
static int make_v1(const char *dir, const char *src, const char *format, bool bad)
{
	char index[400], data[400];
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi meta, nodes, inodes;
	static const struct { const char *path; delta_node n; } v[] = {
		{ "/", { DELTA_DIR, 0, 1, "" } },
		{ "/a", { DELTA_DIR, DELTA_OPAQUE, 2, "" } },
		{ "/a/.wh.x", { DELTA_WHITEOUT, 0, 0, "" } },
		{ "/a/b", { DELTA_FILE, 0, 3, "" } },
		{ "/a-b", { DELTA_SYMLINK, 0, 4, "a/b" } },
		{ "/gone/below", { DELTA_WHITEOUT, 0, 0, "" } },
	};
	uint8_t buf[DELTA_INODE_MAX];
	int rc;

	snprintf(index, sizeof index, "%s/index", dir);
	snprintf(data, sizeof data, "%s/data", dir);
	if (mkdir(dir, 0700) < 0 || mkdir(index, 0700) < 0 || mkdir(data, 0700) < 0)
		return -1;
	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 4)) ||
	    (rc = mdb_env_open(env, index, 0, 0600)) || (rc = mdb_txn_begin(env, NULL, 0, &t)))
		return -1;
	if (mdb_dbi_open(t, "meta", MDB_CREATE, &meta) || mdb_dbi_open(t, "nodes", MDB_CREATE, &nodes) ||
	    mdb_dbi_open(t, "inodes", MDB_CREATE, &inodes))
		return -1;
#define PUT(db, k, kl, v_, vl) do { MDB_val K = { kl, (void *)(k) }, V = { vl, (void *)(v_) }; \
		if (mdb_put(t, db, &K, &V, 0)) return -1; } while (0)
	PUT(meta, "format", 6, format, strlen(format));
	PUT(meta, "source", 6, src, strlen(src));
	PUT(meta, "epoch", 5, "1", 1);
	PUT(meta, "next_id", 7, "\x10\0\0\0\0\0\0\0", 8);
	for (size_t i = 0; i < RLS_ARRAY_SIZE(v); i++)
		PUT(nodes, v[i].path, strlen(v[i].path), buf, delta_pack_node(&v[i].n, buf));
	if (bad)
		PUT(nodes, "/a/../b", 7, buf, delta_pack_node(&v[2].n, buf));
	for (uint64_t id = 1; id <= 4; id++) {
		delta_inode ino = { .mode = (id == 4 ? S_IFLNK : id == 3 ? S_IFREG : S_IFDIR) | 0755, .nlink = 1 };
		uint64_t be = htobe64(id);

		PUT(inodes, &be, 8, buf, delta_pack_inode(&ino, buf));
	}
#undef PUT
	if (mdb_txn_commit(t))
		return -1;
	mdb_env_close(env);
	snprintf(data, sizeof data, "%s/data/0000000000000003", dir);
	return close(open(data, O_CREAT | O_WRONLY, 0600));
}

static int collect(const char *path, const delta_node *node, void *opaque)
{
	rls_buf *b = opaque;

	if (b->len)
		rls_buf_addc(b, ' ');
	rls_buf_adds(b, path);
	return 0;
}

int main(void)
{
	char src[300], dir[300], rsrc[PATH_MAX];
	delta *d = NULL;
	delta_txn *txn;
	delta_node n;
	rls_error err;
	rls_buf b = { 0 };
	char *fmt = NULL;
	int r;

	snprintf(tmp, sizeof tmp, "%s/rls-delta-format.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return 1;
	snprintf(src, sizeof src, "%s/src", tmp);
	mkdir(src, 0755);
	if (!realpath(src, rsrc))
		return 1;

	snprintf(dir, sizeof dir, "%s/v1", tmp);
	if (!tap_ok(make_v1(dir, rsrc, "1", false) == 0, "a format 1 delta is written"))
		return tap_done();
	r = delta_open(dir, src, 0, &d, &err);
	if (!tap_is_int(r, 0, "it opens"))
		return tap_done();
	delta_begin(d, false, &txn, &err);
	delta_walk(txn, collect, &b, &err);
	tap_is_str(b.data ? b.data : "", "/ /a /a/.wh.x /a/b /a-b /gone/below", "every entry is there after the migration");
	tap_ok(delta_get(txn, "/a/b", &n, &err) == 0 && n.kind == DELTA_FILE && n.id == 3,
	       "a file's node is found at its path");
	tap_ok(delta_get(txn, "/a", &n, &err) == 0 && n.flags == DELTA_OPAQUE, "a folder keeps its flags");
	tap_ok(delta_get(txn, "/a-b", &n, &err) == 0 && !strcmp(n.target, "a/b"), "a symlink its target");
	tap_ok(delta_meta_get(txn, "format", &fmt, NULL, &err) == 0 && !strcmp(fmt, DELTA_FORMAT),
	       "the delta says format %s now", DELTA_FORMAT);
	free(fmt);
	delta_abort(txn);
	delta_close(d);
	rls_buf_reset(&b);
	tap_is_int(delta_open(dir, src, 0, &d, &err), 0, "and opens again");
	delta_begin(d, false, &txn, &err);
	delta_walk(txn, collect, &b, &err);
	tap_is_str(b.data ? b.data : "", "/ /a /a/.wh.x /a/b /a-b /gone/below", "with the same entries");
	delta_abort(txn);
	delta_close(d);

	snprintf(dir, sizeof dir, "%s/bad", tmp);
	make_v1(dir, rsrc, "1", true);
	r = delta_open(dir, src, 0, &d, &err);
	tap_ok(r < 0 && err.code == EIO && strstr(err.msg, "cannot be brought up to date"),
	       "a format 1 delta with a damaged entry is refused: %s", r < 0 ? err.msg : "opened");
	if (r == 0)
		delta_close(d);
	{
		MDB_env *env;
		MDB_txn *t;
		MDB_dbi dbi;
		MDB_val k = { 6, "format" }, v = { 0, NULL };
		char index[400];

		snprintf(index, sizeof index, "%s/index", dir);
		mdb_env_create(&env);
		mdb_env_set_maxdbs(env, 8);
		mdb_env_open(env, index, 0, 0600);
		mdb_txn_begin(env, NULL, MDB_RDONLY, &t);
		r = mdb_dbi_open(t, "meta", 0, &dbi) || mdb_get(t, dbi, &k, &v);
		tap_ok(r == 0 && v.mv_size == 1 && !memcmp(v.mv_data, "1", 1) && mdb_dbi_open(t, "entries", 0, &dbi),
		       "and left as it was");
		mdb_txn_abort(t);
		mdb_env_close(env);
	}

	snprintf(dir, sizeof dir, "%s/future", tmp);
	make_v1(dir, rsrc, "9", false);
	r = delta_open(dir, src, 0, &d, &err);
	tap_ok(r < 0 && strstr(err.msg, "unknown delta format '9'") && strstr(err.msg, "with the rls that made it"),
	       "an unknown format is refused, saying what to do: %s", r < 0 ? err.msg : "opened");
	if (r == 0)
		delta_close(d);

	rls_buf_free(&b);
	{
		char cmd[400];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
		(void)!system(cmd);
	}
	return tap_done();
}
