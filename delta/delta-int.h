/* delta-int.h - what the files of the delta module share; not public. */
#ifndef RLS_DELTA_INT_H
#define RLS_DELTA_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "delta.h"

/* Format 1 keyed "nodes" by whole path; format 2 keys "entries" and
 * "dirs" by (parent folder, name).  A format 1 delta is migrated on open. */
#define DELTA_FORMAT "2"
#define DELTA_FORMAT_PATHS "1"

struct delta {
	char *path;		/* absolute path of the delta directory */
	char *source;		/* realpath of the source tree */
	MDB_env *env;
	MDB_dbi meta, nodes, dirs, inodes;	/* nodes: the "entries" table */
	int dir_fd;		/* DELTA, O_RDONLY: locks and syncs */
	int data_fd;		/* DELTA/data, O_PATH */
	int data_sync_fd;	/* DELTA/data, O_RDONLY: fsync / syncfs */
	int mount_fd;		/* mount.lock held LOCK_EX, or -1 */
	bool live;		/* opened with DELTA_MOUNT: relaxed durability */
	bool wrote;		/* a write transaction committed: the close syncs */
	size_t page_size;	/* of the index */
	struct delta_quota *quota;	/* quota.c; NULL without one */
	/* The index's reserve (map.c): allocated up to this offset of its
	 * file; short when the filesystem could not make it good; off when
	 * it cannot allocate ahead at all. */
	_Atomic uint64_t reserved_end;
	atomic_bool reserve_short;
	atomic_bool reserve_off;
	/* The index's map (map.c): written through (MDB_WRITEMAP), every
	 * page of it allocated.  Every transaction holds map_lock shared;
	 * a remap holds it alone. */
	bool writemap;
	pthread_rwlock_t map_lock;
	atomic_bool map_full;		/* a change found it full: grow more */
	atomic_bool map_broken;		/* a remap failed: no map at all */
	_Atomic uint64_t map_refused_at;	/* index size when growth was refused */
};

struct delta_txn {
	delta *d;
	MDB_txn *t;
	bool write;
	/* Begun while the reserve was short: may not add records, of which
	 * the index held `records` then. */
	bool guarded;
	size_t records;
	/* Data files to unlink once the transaction is durable in LMDB. */
	uint64_t *unlink_ids;
	size_t n_unlink, cap_unlink;
};

/* ---- records (records.c): the one place that encodes and decodes what
 * the delta keeps on disk.  Decoders return 0, or -1 for anything that is
 * not a record as the encoders write it. */

/* Is p[0..n) a path as the index writes them: "/" or "/a/b", no empty, "."
 * or ".." name, no name longer than DELTA_NAME_MAX, no NUL?  Paths read
 * back from disk are checked with it. */
bool delta_path_ok(const char *p, size_t n);
/* Is name[0..n) one name: 1 to DELTA_NAME_MAX bytes, no '/', no NUL, not
 * "." or ".."? */
bool delta_name_ok(const char *name, size_t n);

#define DELTA_NAME_MAX 255
/* Keys of "entries" and "dirs": the parent folder's id, 8 bytes big-endian
 * (so a folder's names sort together, in byte order), then the name.  The
 * root folder's id is 0; the root's own node has the key DELTA_ROOT_KEY
 * with no name. */
#define DELTA_KEY_MAX (8 + DELTA_NAME_MAX)
#define DELTA_ROOT_DIR ((uint64_t)0)
#define DELTA_ROOT_KEY UINT64_MAX
#define DELTA_NODE_MAX (16 + DELTA_PATH_MAX)
#define DELTA_INODE_MAX (128 + DELTA_PATH_MAX)

size_t delta_pack_key(uint64_t parent, const char *name, size_t len, uint8_t buf[static DELTA_KEY_MAX]);
int delta_unpack_key(const void *data, size_t size, uint64_t *parent, const char **name, size_t *len);
/* A "dirs" value: the id under which a folder's own entries are keyed. */
void delta_pack_dir(uint64_t id, uint8_t buf[static 8]);
int delta_unpack_dir(const void *data, size_t size, uint64_t *id);
size_t delta_pack_node(const delta_node *n, uint8_t buf[static DELTA_NODE_MAX]);
int delta_unpack_node(const void *data, size_t size, delta_node *n);
size_t delta_pack_inode(const delta_inode *i, uint8_t buf[static DELTA_INODE_MAX]);
int delta_unpack_inode(const void *data, size_t size, delta_inode *i);

/* The commit journal: a header ("journal" in "meta") and its ops
 * ("journal/%08x"). */
enum delta_op_kind {
	DELTA_OP_DEL = 1,	/* remove the source entry (a directory only if empty) */
	DELTA_OP_MKDIR,		/* make a directory (replacing a non-directory) */
	DELTA_OP_FILE,		/* regular file from the data file of `id` */
	DELTA_OP_LINK,		/* hard link to `target` (the merged path of the first name) */
	DELTA_OP_SYMLINK,
	DELTA_OP_NODE,		/* fifo, socket, device */
	DELTA_OP_DIRATTR,	/* mode, owner, times of a directory */
	DELTA_OP_HOLD,		/* a symlink held back: nothing is done, and its
				 * entry stays in the delta when the rest is cleared */
};

enum {
	DELTA_OPF_CONFLICT = 1u << 0,
	DELTA_OPF_SKIP = 1u << 1,	/* planned but not applied (theirs, or kept) */
	DELTA_OPF_EXISTS = 1u << 2,	/* the source had an entry at the path */
	DELTA_OPF_COUNT = 1u << 3,	/* counts in the summary */
	DELTA_OPF_MOVE = 1u << 4,	/* OP_FILE: rename the data file into place */
	DELTA_OPF_TIMES = 1u << 5,	/* OPF_MOVE: the data file has the times already */
	DELTA_OPF_SETID = 1u << 6,	/* OP_FILE: set-id bits dropped */
	/* Planning only (kind 0): a file copied up and never changed, as the
	 * source has it now: its inode's other names link to it there. */
	DELTA_OPF_IN_PLACE = 1u << 7,
};

struct delta_op {
	uint8_t kind, flags;
	uint64_t id;
	uint32_t mode, uid, gid;
	uint64_t rdev;
	int64_t atime_ns, mtime_ns;
	uint64_t size;
	uint64_t data_dev, data_ino;	/* OPF_MOVE: the data file's identity */
	uint64_t tmp;		/* random part of the temporary name; 0 in an
				 * older journal */
	char *path;
	char *target;
	/* OP_SYMLINK, OP_NODE: the merged path of another name of the same
	 * inode, in place before this op runs; this name is a hard link to
	 * it while it is still what this op would make.  NULL: none. */
	char *link;
};

/* Version 2 added data_dev and data_ino at the end of each op, version 3
 * tmp, version 4 link; an older journal still reads. */
#define DELTA_JOURNAL_V 4
#define DELTA_JOURNAL_SIZE 24

struct delta_journal {
	uint64_t nonce;
	uint32_t n_ops;
	uint32_t done;		/* ops [0, done) are applied and durable */
	uint8_t phase;		/* 1 applying, 2 cleaning up */
};

void delta_pack_op(rls_buf *b, const struct delta_op *o);
/* On success o->path (and o->target) are the caller's to free. */
int delta_unpack_op(const void *buf, size_t len, struct delta_op *o);
void delta_pack_journal(const struct delta_journal *j, uint8_t buf[static DELTA_JOURNAL_SIZE]);
int delta_unpack_journal(const void *buf, size_t len, struct delta_journal *j);

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

/* Map an LMDB (negative) or errno (positive) result into *err.  An
 * MDB_MAP_FULL sets delta_map_full_seen in the calling thread. */
int delta_mdb_error(rls_error *err, int rc, const char *what);
extern _Thread_local bool delta_map_full_seen;

/* ---- the index's room and map (map.c) */

/* The map a process that only reads, or writes with pwrite(2), uses:
 * sparse, LMDB touches only what it uses. */
#define DELTA_MAPSIZE ((size_t)1 << 36)
/* Keep room allocated past the index's last page (an index written with
 * pwrite(2)). */
void delta_reserve_refill(delta *d);
/* Before the environment of a mounted delta opens: 1 and *mapsize set
 * when the index is to be written through its map (MDB_WRITEMAP), its
 * blocks up to *mapsize reserved; 0 to write it as any other process. */
int delta_map_prepare(delta *d, size_t *mapsize);
/* Begin an LMDB transaction, the map grown first when a write needs room
 * (or mapped again when another process grew the index); end it with
 * delta_map_end after the commit or abort. */
int delta_map_begin(delta *d, bool write, MDB_txn **out, rls_error *err);
void delta_map_end(delta *d, bool write);
/* Hold the map in place outside a transaction (for mdb_env_* calls). */
int delta_map_enter(delta *d, rls_error *err);
void delta_map_leave(delta *d);
/* Bytes of the index in use (its pages up to the last one). */
uint64_t delta_map_used(delta *d);
/* Room left in the map for a transaction begun in it (UINT64_MAX for an
 * index written with pwrite(2)); inside a transaction. */
uint64_t delta_map_room(delta *d);

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

/* Every node of the index, in byte order of path.  Regular files' data files are
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
