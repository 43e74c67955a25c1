/* delta-int.h - what the files of the delta module share; not public. */
#ifndef RLS_DELTA_INT_H
#define RLS_DELTA_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "delta.h"

#define DELTA_FORMAT "1"

struct delta {
	char *path;		/* absolute path of the delta directory */
	char *source;		/* realpath of the source tree */
	MDB_env *env;
	MDB_dbi meta, nodes, inodes;
	int dir_fd;		/* DELTA, O_RDONLY: locks and syncs */
	int data_fd;		/* DELTA/data, O_PATH */
	int data_sync_fd;	/* DELTA/data, O_RDONLY: fsync / syncfs */
	int mount_fd;		/* mount.lock held LOCK_EX, or -1 */
	bool live;		/* opened with DELTA_MOUNT: relaxed durability */
	bool wrote;		/* a write transaction committed: the close syncs */
	size_t max_key;
	size_t page_size;	/* of the index */
	struct delta_quota *quota;	/* quota.c; NULL without one */
};

struct delta_txn {
	delta *d;
	MDB_txn *t;
	bool write;
	/* Data files to unlink once the transaction is durable in LMDB. */
	uint64_t *unlink_ids;
	size_t n_unlink, cap_unlink;
};

/* Is p[0..n) a path as the index writes them: "/" or "/a/b", no empty, "."
 * or ".." name, no NUL?  Paths read back from disk are checked with it. */
bool delta_path_ok(const char *p, size_t n);

/* quota.c: may the index take one more path, now that it has `entries`?
 * 0, or -1 with EDQUOT in *err. */
int delta_quota_entry(delta *d, uint64_t entries, rls_error *err);
/* Unlink the data file `name` and uncharge it, or leave that to its last
 * release when it is held open. */
void delta_quota_unlink(delta *d, const char *name);
/* Room for `bytes` more, reserved: 0, or -1 with EDQUOT in *err. */
int delta_quota_reserve(delta *d, uint64_t bytes, rls_error *err);
/* Add (or with a negative value take) bytes to what is charged. */
void delta_quota_charge(delta *d, int64_t bytes);
void delta_quota_free(delta *d);

/* Map an LMDB (negative) or errno (positive) result into *err. */
int delta_mdb_error(rls_error *err, int rc, const char *what);

/* Meta values: 0 and *out (malloc'ed, NUL-terminated) filled, 1 when absent. */
int delta_meta_get(delta_txn *txn, const char *key, char **out, size_t *len, rls_error *err);
int delta_meta_put(delta_txn *txn, const char *key, const void *val, size_t len, rls_error *err);
int delta_meta_del(delta_txn *txn, const char *key, rls_error *err);

/* Empty "nodes" and "inodes" (data files are the caller's business). */
int delta_clear_index(delta_txn *txn, rls_error *err);
/* Unlink every file in DELTA/data. */
int delta_clear_data(delta *d, rls_error *err);
/* Flush the LMDB environment to disk. */
int delta_sync(delta *d, rls_error *err);

/* Hash of an open file's content read with pread from offset 0. */
int delta_hash_content(int fd, uint64_t *out, rls_error *err);

/* Finish an interrupted commit if the journal says there is one; called by
 * delta_open.  Takes commit.lock and the source lock itself. */
int delta_recover(delta *d, rls_error *err);

/* A node with what diff and commit need of its inode and data file, in a
 * compact form (delta_node and delta_inode carry 4 KiB arrays). */
typedef struct delta_entry {
	char *path;
	char *target;		/* symlink target, or NULL */
	char *origin;		/* source path of the base, or NULL */
	uint64_t id;
	uint8_t kind, flags;
	bool has_inode;
	uint32_t mode, uid, gid, iflags;
	uint64_t rdev;
	int64_t atime_ns, mtime_ns;	/* regular files: from the data file */
	uint64_t size;
	delta_base base;
} delta_entry;

/* Every node of the index, in path order.  Regular files' data files are
 * stat'ed: a missing one is an error (a damaged delta). */
int delta_load_entries(delta *d, delta_entry **out, size_t *n, rls_error *err);
void delta_free_entries(delta_entry *e, size_t n);

/* Does entry `e` differ from the source entry lstat'ed as *st (the one at
 * e->path)?  Shared by diff and commit so they agree. */
int delta_entry_differs(delta *d, const delta_entry *e, const struct stat *st, bool *out, rls_error *err);
/* Has the source file `e` was copied up from changed since?  (Identity, and
 * when that differs, content.)  False when `e` has no base. */
int delta_base_changed(delta *d, const delta_entry *e, bool *out, rls_error *err);

/* What commit knows to judge the symlinks it would apply (links.c): the
 * tree as the commit would leave it (the delta's entries, sorted by path,
 * over the source) and the policies the delta was served under. */
typedef struct delta_links {
	delta *d;
	const delta_entry *e;
	size_t n;
	struct policy **pols;
	size_t n_pols;
	bool pols_failed;	/* a recorded policy could not be loaded */
	char *pols_error;	/* why (owned) */
} delta_links;

/* Load the recorded policies into *l (entries set by the caller). */
int delta_links_init(delta_links *l, delta *d, const delta_entry *e, size_t n, rls_error *err);
void delta_links_free(delta_links *l);
/* Why the symlink at `path` with `target` must be held back, or NULL. */
const char *delta_link_held(const delta_links *l, const char *path, const char *target);
/* Forget the recorded policies (the delta is empty again). */
int delta_forget_policies(delta_txn *txn, rls_error *err);

/* Copy all of src into dst (reflink, in-kernel copy, read/write). */
int delta_copy_data(int src, int dst, rls_error *err);
/* The source path of merged path `path`, in buf. */
int delta_source_path(const delta *d, const char *path, char *buf, size_t cap, rls_error *err);

static inline int64_t delta_ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static inline struct timespec delta_ns_ts(int64_t ns)
{
	struct timespec ts;

	ts.tv_sec = ns / 1000000000LL;
	ts.tv_nsec = ns % 1000000000LL;
	if (ts.tv_nsec < 0) {
		ts.tv_nsec += 1000000000LL;
		ts.tv_sec--;
	}
	return ts;
}

#endif
