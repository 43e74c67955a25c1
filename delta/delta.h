/* delta.h - the whole public face of the copy-on-write layer.
 *
 * A delta is a directory:
 *
 *   DELTA/index/       LMDB environment: the upper layer's index
 *   DELTA/data/        regular-file data, one file per delta inode, named by
 *                      its id in hex; sizes and times of regular files live
 *                      on these files, everything else in the index
 *   DELTA/mount.lock   flock()ed by the one rlsfs that serves the delta
 *   DELTA/commit.lock  flock()ed during commit / discard
 *
 * The index holds four databases:
 *
 *   "meta"    key/value settings: "format" ("2"), "source" (absolute path
 *             of the source tree the delta belongs to), "next_id", the
 *             commit journal
 *   "entries" (parent folder id, name) -> delta_node: what the upper layer
 *             says about that path (a file, directory, symlink, device,
 *             fifo, socket, or a whiteout that hides the source's entry)
 *   "dirs"    (parent folder id, name) -> folder id: the id under which the
 *             entries of a folder are keyed, there while anything is below
 *             it (with or without a node of its own)
 *
 * The API speaks of merged paths, written as in the policy module: "/" is
 * the root, "/a/b" a path below it, no trailing slash; the index looks
 * them up one name at a time, as a filesystem does.
 *   "inodes"  id -> delta_inode: attributes shared by every path that names
 *             the same delta inode (hard links), and the "base": the
 *             identity and xxh3 hash of the source file it was copied up
 *             from, for conflict detection at commit.
 *
 * Whiteouts and opaque directories are index entries only: no name in the
 * data directory is special, so a user file called ".wh.foo" is just a file.
 *
 * A directory node that is not opaque shows the source's entries at its own
 * path merged with the delta's; an opaque one (a directory removed and made
 * anew) shows none of them.  Entries may stand below a whiteout or an
 * opaque directory: whiteouts of source entries deleted before their parent
 * was.  Commit deletes exactly the source entries that whiteouts name,
 * deepest first, and never removes a source directory that is not empty
 * after that.
 *
 * All calls return 0 (or a documented positive value) on success and -1
 * with *err filled on failure.
 */
#ifndef RLS_DELTA_H
#define RLS_DELTA_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../common/common.h"

typedef struct delta delta;
typedef struct delta_txn delta_txn;

typedef enum delta_kind {
	DELTA_WHITEOUT = 1,
	DELTA_FILE = 2,
	DELTA_DIR = 3,
	DELTA_SYMLINK = 4,
	DELTA_FIFO = 5,
	DELTA_SOCK = 6,
	DELTA_CHR = 7,
	DELTA_BLK = 8,
} delta_kind;

/* The S_IFMT bits of a kind (0 for a whiteout), and the kind of a mode (0
 * for none). */
mode_t delta_kind_type(uint8_t kind);
uint8_t delta_type_kind(mode_t mode);

enum {
	DELTA_OPAQUE = 1u << 0,		/* directory hides the source's entries */
};

#define DELTA_PATH_MAX 4096

typedef struct delta_node {
	uint8_t kind;		/* delta_kind */
	uint8_t flags;		/* DELTA_OPAQUE */
	uint64_t id;		/* the delta inode; 0 for a whiteout without base */
	char target[DELTA_PATH_MAX];	/* symlink target (DELTA_SYMLINK) */
} delta_node;

/* The source file a delta inode was copied up from. */
typedef struct delta_base {
	uint64_t dev, ino;
	uint64_t size;
	int64_t mtime_ns, ctime_ns;
	uint64_t xxh3;
	uint8_t has_hash;	/* xxh3 is valid */
} delta_base;

enum {
	DELTA_HAS_BASE = 1u << 0,	/* base and origin are set */
	/* Its set-user-id or set-group-id bits were given by a caller
	 * entitled to them (CAP_FSETID, on a mount that honours it): a
	 * commit keeps them.  Any change of the data drops bits and flag. */
	DELTA_SETID_OK = 1u << 1,
};

typedef struct delta_inode {
	uint32_t mode;		/* full st_mode, type bits included */
	uint32_t uid, gid;
	uint32_t nlink;		/* paths in the delta naming this inode */
	uint32_t flags;		/* DELTA_HAS_BASE */
	uint64_t rdev;
	/* Times and size of everything but regular files (theirs are on the
	 * data file). */
	int64_t atime_ns, mtime_ns, ctime_ns;
	uint64_t size;
	delta_base base;
	char origin[DELTA_PATH_MAX];	/* source path of the base */
} delta_inode;

/* delta_open flags */
enum {
	DELTA_CREATE = 1u << 0,		/* make the delta if it does not exist */
	DELTA_MOUNT = 1u << 1,		/* take the mount lock (fail with EBUSY if held) */
};

/* Open (or with DELTA_CREATE make) the delta at `dir`.  `source` is the
 * source tree's path: recorded on creation; when the delta exists and
 * `source` is not NULL it must name the same tree.  Finishes an interrupted
 * commit (the journal) before returning. */
int delta_open(const char *dir, const char *source, unsigned flags, delta **out, rls_error *err);
void delta_close(delta *d);

/* Make every change committed so far durable: the names of the data files,
 * then the index.  A delta opened with DELTA_MOUNT writes its index without
 * syncs; this is the sync fsync(2) in the mount asks for.  (A data file's
 * own content is synced through its descriptor.) */
int delta_flush(delta *d, rls_error *err);

/* Absolute path of the delta directory / of the recorded source tree. */
const char *delta_path(const delta *d);
const char *delta_source(const delta *d);
/* O_PATH descriptor of DELTA/data, for *at() calls. */
int delta_data_fd(const delta *d);
/* Is the delta mounted right now (its mount lock held by someone)? */
bool delta_is_mounted(const delta *d);

/* Transactions.  One writer at a time (LMDB's rule); readers never block.
 * A read transaction sees a snapshot. */
int delta_begin(delta *d, bool write, delta_txn **out, rls_error *err);
int delta_commit_txn(delta_txn *txn, rls_error *err);
void delta_abort(delta_txn *txn);

/* Node at `path`: 0 and *node filled, 1 when the index has no entry.
 * Any path a filesystem allows can be written (names of up to 255 bytes,
 * paths shorter than DELTA_PATH_MAX); lookups and listings answer for one
 * beyond that as for any path without entries: nothing is there, nothing
 * below.  Only writes fail with ENAMETOOLONG. */
int delta_get(delta_txn *txn, const char *path, delta_node *node, rls_error *err);
/* A new path fails with EDQUOT when the quota is reached (see below). */
int delta_put(delta_txn *txn, const char *path, const delta_node *node, rls_error *err);
/* Remove the entry at `path` (not its inode); 1 if there was none. */
int delta_del(delta_txn *txn, const char *path, rls_error *err);

/* Inode `id`: 0 and *ino filled, 1 when unknown. */
int delta_get_inode(delta_txn *txn, uint64_t id, delta_inode *ino, rls_error *err);
int delta_put_inode(delta_txn *txn, uint64_t id, const delta_inode *ino, rls_error *err);
/* Forget inode `id` and unlink its data file (the unlink happens when the
 * transaction commits). */
int delta_del_inode(delta_txn *txn, uint64_t id, rls_error *err);
/* A fresh inode id. */
int delta_new_id(delta_txn *txn, uint64_t *id, rls_error *err);

/* Call fn for every entry directly inside directory `dir` (not deeper),
 * in byte order of name.  fn returns 0 to go on, non-zero to stop (that
 * value is returned). */
typedef int (*delta_each_fn)(const char *name, const delta_node *node, void *opaque);
int delta_list(delta_txn *txn, const char *dir, delta_each_fn fn, void *opaque, rls_error *err);
/* Every entry of the index, parents before children, each folder's
 * entries in byte order of name. `path` is passed as the name. */
int delta_walk(delta_txn *txn, delta_each_fn fn, void *opaque, rls_error *err);
/* Call fn for every entry strictly below `dir`, at any depth, parents
 * before children, each folder's entries in byte order of name; `path` is
 * passed as the name.  No recursion: a tree of any depth costs no stack.
 * fn must not change the index. */
int delta_each_below(delta_txn *txn, const char *dir, delta_each_fn fn, void *opaque, rls_error *err);
/* Does the index have any entry strictly below `dir`? */
int delta_has_below(delta_txn *txn, const char *dir, bool *out, rls_error *err);
/* Rename every entry strictly below `from` to the same place below `to`:
 * one record, whatever lies below.  When entries are below `to` already,
 * those from `from` are put among them one by one (EXDEV when there are
 * too many to move at once: tens of MiB of entries, or a quarter of the
 * room of an index written through its map). */
int delta_move_below(delta_txn *txn, const char *from, const char *to, rls_error *err);
/* Remove every entry strictly below `dir` (inodes whose last name goes are
 * forgotten too). */
int delta_del_below(delta_txn *txn, const char *dir, rls_error *err);

/* Name of the data file of inode `id` inside DELTA/data (buf >= 17 bytes). */
void delta_data_name(uint64_t id, char buf[static 17]);
/* Create the data file of inode `id` as a copy of the open regular file
 * `srcfd` (reflink or copy_file_range where the filesystem allows), and
 * fill *base with srcfd's identity and xxh3 hash.  Returns an fd of the
 * new data file opened O_RDWR.  Under a quota it needs room for srcfd's
 * whole size (EDQUOT). */
int delta_copy_up(delta *d, uint64_t id, int srcfd, delta_base *base, rls_error *err);
/* Create an empty data file for inode `id`; returns an O_RDWR fd. */
int delta_data_create(delta *d, uint64_t id, rls_error *err);
/* Open the data file of inode `id` with open(2) flags. */
int delta_data_open(delta *d, uint64_t id, int flags, rls_error *err);

/* ---- quota --------------------------------------------------------------
 * A delta can be held to a size and a number of entries.  Its size is what
 * it takes on disk: the blocks allocated to its data files (st_blocks, so a
 * hole costs nothing; a file unlinked while open counts until its last
 * descriptor goes) plus the pages its index uses.  Its entries are the
 * index's paths: files, folders, links, whiteouts.
 *
 * With a quota set, what would go beyond it fails with EDQUOT and changes
 * nothing: delta_put of a new path, delta_copy_up, and the changes to open
 * data files that the caller brackets with delta_grow_begin/end.  What
 * shrinks the delta always works, even above the quota (which a remount
 * with a smaller one can leave it).  The usage is measured when the quota
 * is set and kept up to date from then on, so it is right across remounts
 * of a kept delta. */
typedef struct delta_usage {
	uint64_t data_bytes;	/* allocated to data files */
	uint64_t index_bytes;	/* pages of the index in use */
	uint64_t entries;	/* paths in the index */
	uint64_t max_bytes, max_entries;	/* the quota; 0 for none */
} delta_usage;

/* Set the quota (0 for no limit on either), before the delta is used by
 * more than one thread. */
int delta_set_quota(delta *d, uint64_t max_bytes, uint64_t max_entries, rls_error *err);
/* Without a quota set, the first call measures the data files (as
 * delta_set_quota does), which must not race other calls. */
int delta_get_usage(delta *d, delta_usage *u, rls_error *err);

/* A data file held open (see delta_data_hold). */
typedef struct delta_hold delta_hold;

typedef struct delta_grow {
	uint64_t len;			/* how much of the change may be done */
	bool active;
	bool own_hold;
	int fd;
	int64_t before;			/* bytes charged before the change */
	uint64_t reserved;
	delta_hold *held;
} delta_grow;

enum {
	DELTA_GROW_CUT = 1u << 0,	/* a part that fits will do (a write) */
};

/* Bracket a change to an open data file (a write, fallocate, truncation)
 * that may make it off + len bytes long and allocate the bytes of
 * [off, off + len) (len 0: nothing, as for a truncation).  `held` is the
 * file's hold when the caller has one, else NULL.  begin fails with EFBIG
 * when the file would grow past the quota's size, with EDQUOT when the
 * quota has no room for the bytes and they are not allocated already; with
 * DELTA_GROW_CUT, when there is room for a first part of them, it sets
 * g->len to that part (a write is cut short there, as on a full disk), else
 * to len.  end charges what the change really allocated or freed.  Changes
 * to one file are serialised between begin and end. */
int delta_grow_begin(delta *d, delta_hold *held, int fd, off_t off, uint64_t len, unsigned flags, delta_grow *g,
		     rls_error *err);
void delta_grow_end(delta *d, delta_grow *g);

/* A data file open through `fd` keeps its blocks after the index forgets
 * it: hold it while open (from before the operation that opened it lets
 * go of the index), release it just before the close.  The hold (NULL
 * without a size quota) also makes changes through it cheap to count.
 * `st` is the file's fstat(2) when the caller has one, else NULL. */
delta_hold *delta_data_hold(delta *d, int fd, const struct stat *st);
void delta_data_release(delta *d, delta_hold *held);

/* Identity and xxh3 hash of an open regular file. */
int delta_hash_fd(int fd, delta_base *base, rls_error *err);

/* Changes a delta makes to its source, for `rls diff`. */
typedef enum delta_change_kind {
	DELTA_ADDED = 'A',
	DELTA_MODIFIED = 'M',
	DELTA_DELETED = 'D',
} delta_change_kind;

typedef int (*delta_change_fn)(delta_change_kind kind, const char *path, void *opaque);
/* Every change, in path order.  Paths are merged paths ("/a/b"). */
int delta_changes(delta *d, delta_change_fn fn, void *opaque, rls_error *err);

typedef enum delta_conflict_mode {
	DELTA_CONFLICT_OURS = 0,	/* the delta's version wins; reported */
	DELTA_CONFLICT_THEIRS,		/* the source's version is kept */
	DELTA_CONFLICT_FAIL,		/* commit nothing */
} delta_conflict_mode;

/* A symlink a commit did not apply (see delta_commit). */
typedef struct delta_held {
	char *path;		/* merged path of the symlink */
	char *target;		/* its target, as the sandbox wrote it */
	const char *why;	/* "absolute target", "leaves the tree", ... */
} delta_held;

typedef struct delta_commit_stats {
	unsigned added, modified, deleted;
	unsigned conflicts;
	/* Paths of the conflicts, NULL-terminated (owned, with its strings:
	 * delta_commit_stats_free()); NULL when there are none.  A name may
	 * hold any byte but NUL: print them quoted (rls_quote_name()). */
	char **conflict_paths;
	/* Files committed without the set-user-id or set-group-id bit their
	 * delta inode had, because their data is not what was copied up from
	 * the source: paths, as conflict_paths. */
	unsigned setid_dropped;
	char **setid_paths;
	/* Symlinks held back, in path order (owned).  Their paths and targets
	 * are the sandbox's: print them quoted. */
	delta_held *held;
	size_t n_held;
} delta_commit_stats;

/* delta_commit flags */
enum {
	/* Apply symlinks that would otherwise be held back. */
	DELTA_COMMIT_ALLOW_SYMLINKS_OUT = 1u << 0,
	/* Plan only: fill stats with the conflicts and the symlinks that
	 * would be held back, write nothing, take no lock (works on a
	 * mounted delta too, as of that moment). */
	DELTA_COMMIT_DRY_RUN = 1u << 1,
};

/* Apply the delta to its source and leave it empty.  Each file reaches its
 * name by one rename(2), complete and synced: its data file is moved there
 * when the delta shares the target's file system, else a copy is written
 * under a temporary name in the target directory first.  Journaled: after a crash at any point the next delta_open()
 * finishes the job.  Commits of deltas over one source are serialised by
 * flock() on a lock file in /run/lock named after the source's root
 * (not on the folder: a sandbox may open it, see commit.c).  Fails with EBUSY when the delta
 * is mounted.  Returns 1 when `mode` is DELTA_CONFLICT_FAIL and there are
 * conflicts: nothing is written, stats says what conflicted.
 *
 * A symlink whose target is absolute, leads out of the tree (resolved
 * lexically from its folder, through the other symlinks of the tree as the
 * commit would leave it) or reaches a path hidden by a policy the delta was
 * served under (delta_note_policy) is held back: not applied, kept in the
 * delta, listed in stats->held; then the rest is committed and 2 returned.
 * DELTA_COMMIT_ALLOW_SYMLINKS_OUT in `flags` applies them like the rest. */
int delta_commit(delta *d, delta_conflict_mode mode, unsigned flags, delta_commit_stats *stats, rls_error *err);
/* Record that the delta is served under the policy `spec` (a preset name,
 * or a policy file's absolute path): commit judges symlinks by every
 * policy recorded since the delta was last emptied. */
int delta_note_policy(delta *d, const char *spec, rls_error *err);
/* Empty the delta; the source is untouched. */
int delta_discard(delta *d, rls_error *err);
void delta_commit_stats_free(delta_commit_stats *stats);

#endif
