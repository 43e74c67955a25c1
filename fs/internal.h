/* internal.h - rlsfs's private structures, shared by the files of fs/ only. */
#ifndef RLS_FS_INTERNAL_H
#define RLS_FS_INTERNAL_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <limits.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "../common/common.h"
#include "../delta/delta.h"
#include "../policy/policy.h"
#include "fs.h"

struct dir_handle;
typedef struct srcwatch srcwatch;

/* The hard-link side of a node (node.c). */
typedef struct node_link {
	uint64_t id;		/* the delta inode */
	struct rnode *shared;	/* an alias: the node the kernel knows; else NULL */
	struct rnode *aliases;	/* the node's other names, chained by anext */
	struct rnode *anext;
	struct rnode *inext;	/* chain in the table by delta id */
	/* A name of the inode at another policy level has a node of its
	 * own: the kernel has two inodes, two page caches, for the file. */
	bool split;
} node_link;

/* One node the kernel knows (or a parent of one).  Nodes are keyed by
 * (parent, name), not by an open descriptor: a tree of any size costs
 * memory, never file descriptors.  The nodeid handed to the kernel is an
 * opaque number, never the node's address: the kernel passes nodeids to
 * the sandbox (name_to_handle_at(2) file handles), and rlsfs runs with
 * more privilege than the sandbox, so its heap layout must not show.
 *
 * Every name of a delta inode with several names (hard links) is one node
 * for the kernel, so one kernel inode: one page cache, one pipe.  That
 * node holds one of the names itself; the others are aliases, nodes in
 * the (parent, name) table without a nodeid of their own (see node.c). */
typedef struct rnode {
	struct rnode *parent;
	uint64_t nodeid;	/* slot | generation << 32; see node.c */
	char *name;
	uint64_t hash;		/* of (parent, name): see node_hash() */
	struct rnode *hnext;	/* chain in the (parent, name) table */
	/* Hard links: set for the node of a delta inode with several names
	 * and for each of its aliases, NULL for every other node. */
	struct node_link *link;
	/* What the kernel was last told of a detached node: an open fifo or
	 * socket answers fstat from it (they have no handle here). */
	struct stat *gone;
	uint64_t nlookup;	/* references the kernel holds */
	uint32_t children;	/* live nodes whose parent this is */
	mode_t type;		/* S_IFMT bits */
	bool merged;		/* directory: the source's entries show through */
	bool detached;		/* unlinked or replaced: no longer has a path */
	/* The policy level of the node's path, valid while level_gen equals
	 * the filesystem's rename generation. */
	uint32_t level_gen;
	policy_level level;
	/* O_PATH descriptor of the source directory (merged directories),
	 * or -1; see dir_fd() in ops.c. */
	atomic_int srcfd;
	/* Merged directories: the inotify watch of the source directory, or
	 * 0 (see srcwatch.c). */
	atomic_int watch;
	/* Directories: the listing kept for the kernel to read on by offset,
	 * or NULL (under kept_lock; see listing.c). */
	struct dir_handle *kept;
	/* Open handles of the node (under nodes_lock): an unlinked file
	 * still answers fstat and fchmod through them. */
	struct open_file *files;
	/* Directories: bumped by each change the mount makes to the entries
	 * (touch_dir in ops.c), and the stamp of the listing the kernel was
	 * last allowed to keep (see rls_opendir). */
	atomic_uint changes;
	_Atomic uint64_t listing;
	/* Directories: the last listing went out without attributes (see
	 * rls_readdirplus), so a lookup of a child now is one it cost. */
	atomic_bool listed_bare;
	/* A file made in this mount, no extended attribute set or removed
	 * through it since: it has no security.capability, which the
	 * kernel asks about before each write and chown (see xattr_read).
	 * Under the tree lock. */
	bool made_bare;
} rnode;

/* Listings go out without attributes until this many files were looked
 * up in folders so listed (see rls_readdirplus). */
#define RLSFS_PLUS_AFTER 16

/* Worker threads serving requests at most (one a processor up to this). */
#define RLSFS_THREADS_MAX 16

/* How many directory descriptors rlsfs keeps at most: a quarter of the
 * open-file limit, at most this.  The limit may be small (20,000 on some
 * hosts, shared with files open through the mount) and a tree far larger. */
#define RLSFS_DIR_FDS_MAX 4096

/* nodeid -> node: the low 32 bits of a nodeid are a slot in a table of
 * chunks that never move once made (so finding a node takes two loads and
 * no lock), the high 32 bits the slot's generation (so a reused slot gives
 * a new nodeid). */
#define RLSFS_SLOT_BITS 12
#define RLSFS_SLOTS_PER_CHUNK (1u << RLSFS_SLOT_BITS)
#define RLSFS_CHUNKS (1u << 16)

typedef struct rnode_chunk {
	_Atomic(rnode *) node[RLSFS_SLOTS_PER_CHUNK];
	uint32_t gen[RLSFS_SLOTS_PER_CHUNK];
} rnode_chunk;

typedef struct rlsfs {
	int src_fd;			/* O_PATH of the source root */
	char *src_path;
	delta *d;
	policy *pol;

	/* audit.c: the log of denials, bounded in size and rate */
	int audit_fd;			/* -1 without --audit */
	pthread_mutex_t audit_lock;
	uint64_t audit_max;		/* bytes the file may reach; 0: no cap */
	double audit_rate;		/* lines a second; 0: no limit */
	double audit_burst;		/* lines at once */
	double audit_tokens;
	int64_t audit_refilled_ns;	/* CLOCK_MONOTONIC */
	uint64_t audit_dropped;		/* denials left out, not yet said */
	int64_t audit_dropped_said_ns;	/* when they last were */

	/* Memory the listings taken take, and its bound (0: none): rlsfs
	 * lies outside the command's memory limit.  The listings kept on
	 * nodes, newest first, under kept_lock (see listing.c). */
	atomic_size_t dir_bytes;
	size_t dir_bytes_max;
	pthread_mutex_t kept_lock;
	struct dir_handle *kept;

	/* srcwatch.c: the source folders watched, or NULL when the mount
	 * opens folders as handles (see rls_opendir); the watches of nodes
	 * freed, for it to remove (under nodes_lock). */
	srcwatch *srcwatch;
	int *unwatched;
	size_t n_unwatched, cap_unwatched;

	/* The namespace lock: path-changing operations take it for writing,
	 * everything else for reading. */
	pthread_rwlock_t tree;
	pthread_mutex_t nodes_lock;	/* the table and reference counts */
	rnode root;
	rnode **table;
	size_t table_size, table_used;
	rnode **by_id;			/* linked nodes by delta id */
	size_t by_id_size, by_id_used;
	_Atomic(rnode_chunk *) *chunks;	/* RLSFS_CHUNKS of them, made as needed */
	uint32_t slots_used;		/* slots ever handed out */
	uint32_t *free_slots;		/* slots to reuse */
	size_t n_free, cap_free;
	atomic_uint rename_gen;		/* bumped by each rename */
	/* Bumped by each rename that moves a directory: the paths beneath
	 * it, and so the policy's verdict on their names, change.  A file
	 * renamed changes no path but its own (see listing_stamp in ops.c). */
	atomic_uint dirs_moved;
	atomic_uint delta_writes;	/* bumped by each commit of a change */
	/* (delta_writes + 1) << 1 when last asked, | 1 if the delta then
	 * held nothing (see upper_hint in ops.c) */
	_Atomic uint64_t delta_seen;
	/* Files looked up in folders listed without attributes; at
	 * RLSFS_PLUS_AFTER, listings carry attributes from then on. */
	atomic_uint bare_misses;
	atomic_int srcfds;		/* descriptors cached in nodes */
	int srcfds_max;

	/* --map-owner: the sandbox's identity and the tree's owner trade
	 * places (see idmap_uid()). */
	struct {
		bool on;
		uid_t sandbox_uid, owner_uid;
		gid_t sandbox_gid, owner_gid;
	} idmap;

	/* caller.c: callers holding CAP_CHOWN or CAP_FSETID in this user
	 * namespace (dev, ino of its /proc entry) may use them, unless
	 * mounted with --ignore-caller-caps */
	bool caller_caps;
	dev_t userns_dev;
	ino_t userns_ino;

	/* Bumped whenever a file is given a set-id bit (see fh_drop_privs). */
	atomic_uint setid_given;
	/* Bumped whenever a file is given a capability (see drop_caps). */
	atomic_uint caps_given;

	/* channel.c: the INIT request, until its reply is amended */
	atomic_bool init_seen;
	uint32_t init_killpriv;		/* the FUSE_HANDLE_KILLPRIV flags the kernel offered */
	uint64_t init_unique;

	double timeout;			/* entry and attribute cache, seconds */
	struct fuse_session *se;
	struct rls_loop *loop;		/* loop.c, while it serves */
	char *mountpoint;
} rlsfs;

/* The extended attribute of the mount's root that names the serving
 * process (see rlsfs umount). */
#define RLSFS_PID_XATTR "user.rlsfs.pid"

/* node.c */
void node_table_init(rlsfs *fs);
void node_table_free(rlsfs *fs);
rnode *node_of(rlsfs *fs, fuse_ino_t ino);
/* The node for (parent, name), made if new, its policy level set; its
 * nlookup is raised by one.  `id` is the entry's delta inode (0 for none);
 * with `linked` (the inode has several names) the node the kernel already
 * knows for that inode is answered, when it is at the same level. */
rnode *node_get(rlsfs *fs, rnode *parent, const char *name, mode_t type, uint64_t id, bool linked,
		policy_level level);
/* (parent, name) was made a new name of n's delta inode `id`: the node
 * for it, n unless another node is the inode's already (at another policy
 * level); its nlookup is raised by one. */
rnode *node_add_link(rlsfs *fs, rnode *n, rnode *parent, const char *name, uint64_t id);
/* Is n the one node of the names of a hard-linked inode? */
static inline bool node_linked(const rnode *n)
{
	return n->link && !n->link->shared;
}

/* Is n the kernel's only inode for the names of its delta inode? */
static inline bool node_whole(const rnode *n)
{
	return node_linked(n) && !n->link->split;
}

/* The node of the name (parent, name): the node the kernel knows, or an
 * alias of it; NULL when the name has none.  For node_detach and
 * node_move only. */
rnode *node_find(rlsfs *fs, rnode *parent, const char *name);
/* Does the kernel hold a node it was given for the name (parent, name)? */
bool node_known(rlsfs *fs, rnode *parent, const char *name);
void node_forget(rlsfs *fs, rnode *n, uint64_t nlookup);
/* The name of node_find's n left the namespace (unlinked, or replaced by a
 * rename; tree lock held for writing).  The kernel's node takes over one
 * of its other names, if any; else it is detached and keeps `st` (what
 * the name showed, or NULL) for fstat.  An alias is freed. */
void node_detach(rlsfs *fs, rnode *n, const struct stat *st);
void node_move(rlsfs *fs, rnode *n, rnode *newparent, const char *newname);
/* Close every cached directory descriptor (tree lock held for writing). */
void node_drop_fds(rlsfs *fs);
/* Write n's path ("/a/b", "/" for the root) into buf; -ENOENT for a
 * detached node, -ENAMETOOLONG when it does not fit. */
int node_path(rlsfs *fs, const rnode *n, char *buf, size_t size);
int path_join(char *buf, size_t size, const char *dir, const char *name);
/* The path relative to the source root, for *at() calls ("." for "/"). */
static inline const char *path_rel(const char *path)
{
	return path[1] ? path + 1 : ".";
}

/* With --map-owner the sandbox works as the tree's owner without holding
 * the owner's identity: files of the owner are shown as the sandbox's,
 * and what the sandbox makes or chowns to itself is recorded as the
 * owner's.  The exchange is its own inverse, so one function serves both
 * directions and no two ids ever collapse into one. */
static inline uid_t idmap_uid(const rlsfs *fs, uid_t u)
{
	if (!fs->idmap.on)
		return u;
	return u == fs->idmap.owner_uid ? fs->idmap.sandbox_uid :
	       u == fs->idmap.sandbox_uid ? fs->idmap.owner_uid : u;
}

static inline gid_t idmap_gid(const rlsfs *fs, gid_t g)
{
	if (!fs->idmap.on)
		return g;
	return g == fs->idmap.owner_gid ? fs->idmap.sandbox_gid :
	       g == fs->idmap.sandbox_gid ? fs->idmap.owner_gid : g;
}

/* node.c, for srcwatch.c: each by nodeid, under nodes_lock. */
/* Take up to max watches of nodes freed since last asked. */
size_t node_take_unwatched(rlsfs *fs, int *wds, size_t max);
/* The source folder of node id went: its watch wd is gone. */
void node_watch_lost(rlsfs *fs, uint64_t id, int wd);
/* The nodeid the kernel holds for (parent, name), or 0. */
uint64_t node_child_id(rlsfs *fs, uint64_t parent, const char *name);
/* The nodeids of every directory the kernel holds, in *ids (malloc'd). */
size_t node_dir_ids(rlsfs *fs, uint64_t **ids);

/* listing.c: a folder's entries, listed whole at once. */
typedef struct dirent_snap {
	char *name;
	ino_t ino;
	mode_t type;
	policy_level level;	/* of the name as a type's entry */
} dirent_snap;

typedef struct dir_handle {
	dirent_snap *ents;
	size_t n, cap;
	rlsfs *fs;
	size_t bytes;		/* charged to fs->dir_bytes */
	bool full;		/* the bound was reached: the listing is cut short */
	/* An open directory's: the listing is taken at the first readdir,
	 * not at opendir, as a directory whose listing the kernel keeps is
	 * opened without being read. */
	pthread_mutex_t lock;
	bool taken;
	/* What a listing with attributes may reuse of the listing: the
	 * entries' levels, while no rename moved a folder (rename_gen), and
	 * that the delta held nothing in the folder, while it took no write
	 * (delta_writes).  A kept listing whose dirs_moved is past is not
	 * read on: the levels of its names are those of another path. */
	unsigned rename_gen, delta_writes, dirs_moved;
	bool delta_none;
	bool unwatched;		/* kept, but its source folder is not watched */
	/* Kept on a node (under kept_lock): readers holding it, the node,
	 * the chain of kept listings. */
	unsigned refs;
	rnode *node;
	struct dir_handle *kprev, *knext;
} dir_handle;

dir_handle *dh_new(rlsfs *fs);
/* Charge bytes of a listing to the mount; past the bound, once kept
 * listings nothing reads are dropped, false and the listing marked full. */
bool dh_charge(dir_handle *dh, size_t bytes);
void dh_add(dir_handle *dh, const char *name, ino_t ino, mode_t type, policy_level level);
void dh_free(dir_handle *dh);
/* n's kept listing, held (listing_put), or NULL. */
dir_handle *listing_get(rlsfs *fs, rnode *n);
/* Keep dh, held by the caller, as n's listing, in place of any other. */
void listing_keep(rlsfs *fs, rnode *n, dir_handle *dh);
/* Let go of dh; with done (read to its end), no longer keep it. */
void listing_put(rlsfs *fs, dir_handle *dh, bool done);
/* n is freed: its kept listing goes. */
void listing_forget(rlsfs *fs, rnode *n);

/* srcwatch.c: see there. */
int srcwatch_start(rlsfs *fs, rls_error *err);
void srcwatch_stop(rlsfs *fs);
/* Watch the source folder of merged directory node n (dirfd: an O_PATH
 * descriptor of it); 0, or -errno (ENOSPC: the user's watches ran out). */
int srcwatch_add(rlsfs *fs, rnode *n, int dirfd);
/* The kernel is to drop the listing and attributes of node nodeid,
 * or of every directory, soon: from srcwatch's thread.  Every directory's:
 * none when the source is not watched: each folder open then decides
 * what the kernel keeps (rls_opendir). */
void srcwatch_inval(rlsfs *fs, uint64_t nodeid);
void srcwatch_inval_all(rlsfs *fs);

/* caller.c */
bool caller_init(rlsfs *fs);
/* Does the caller of a request hold capability `cap` (CAP_CHOWN,
 * CAP_FSETID) where it counts, and does the mount honour it? */
bool caller_capable(rlsfs *fs, const struct fuse_ctx *ctx, int cap);

/* channel.c: serve the session's /dev/fuse descriptor (after
 * fuse_session_mount) through rlsfs's own reads and writes. */
int channel_init(rlsfs *fs, rls_error *err);

/* audit.c */
int audit_open(rlsfs *fs, const char *path, rls_error *err);
void audit_denial(rlsfs *fs, fuse_req_t req, const char *op, const char *path, policy_level level, int err);
/* Say what was dropped, and close. */
void audit_close(rlsfs *fs);

/* loop.c: serve the session's requests until it ends, with at most
 * max_workers threads (see loop.c).  The reading error that ended it, if
 * any, is an error. */
int loop_serve(rlsfs *fs, unsigned max_workers, rls_error *err);
/* A handler is about to wait (on the disk, or on the kernel, which may
 * wait for another request): let another thread read meanwhile. */
void loop_may_block(rlsfs *fs);
/* pthread_create, with the signals that end rlsfs blocked in the new
 * thread: they go to the main thread, which the loop's end waits in. */
int loop_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

/* ops.c */
extern const struct fuse_lowlevel_ops rlsfs_ops;

#endif
