/* map.c - the room the index takes on disk, and the map through which it
 * is read and written.
 *
 * A mounted delta writes its index through a writable map (MDB_WRITEMAP):
 * a change is stores into the page cache, with no write(2) of its pages at
 * each commit.  A store into a page of a shared map that has no block
 * behind it must allocate one at the fault, and on a full filesystem the
 * kernel answers that with SIGBUS, not ENOSPC: the daemon would die.  So
 * the map never covers a page without a block: the file's blocks are
 * reserved with fallocate(2) before the map covers them (LMDB extends the
 * file to the map's size, over those blocks), and only on a filesystem
 * that writes a reserved block in place and keeps a written page writable
 * (tmpfs: see maps_well).  Where the filesystem is another, or will not
 * reserve the blocks, the index is written with pwrite(2) as in any other
 * process, in a map of DELTA_MAPSIZE that is only read.
 *
 * The map starts small (MAP_MIN, or the file's size) and keeps room for
 * changes: as much again as the index uses, between MAP_MIN_ROOM and
 * MAP_MAX_ROOM (room_wanted), so that a change that rewrites every page of
 * the index still fits; what is allocated ahead is bounded so, and not
 * charged to the delta's quota (quota.c counts the pages in use).  A write transaction
 * begins only once that room is there; growing it (reserve, then remap)
 * needs no transaction open in the process (LMDB's rule), so every
 * transaction holds map_lock shared from begin to end and growth takes it
 * alone.  A change that finds the map full all the same fails (ENOSPC) and
 * the next grows the map by twice the room (a change bigger than the room
 * is one that rewrites most of a large index, or moves a subtree into an
 * occupied folder, which index.c bounds by the room).  When the filesystem cannot
 * give the room, what is left of it is the index's reserve (below).
 *
 * Other processes (rls diff, commit, deltas) map the index read-only at
 * DELTA_MAPSIZE; one that finds the index grown past its map
 * (MDB_MAP_RESIZED) maps it again. */
#include "delta-int.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#define MAP_STEP ((uint64_t)1 << 20)
#define MAP_MIN MAP_STEP
#define MAP_MIN_ROOM ((uint64_t)512 << 10)
#define MAP_MAX_ROOM ((uint64_t)64 << 20)

/* ---- the reserve -----------------------------------------------------
 * Every change of the index writes new pages (LMDB copies on write), and
 * pages past the end of its file need room that a full filesystem no
 * longer has: then not even a removal, which would free room, could be
 * recorded.  So the index keeps DELTA_RESERVE_PAGES allocated past its
 * last page (fallocate with FALLOC_FL_KEEP_SIZE: LMDB sees no change of
 * size, and its writes there need no new blocks), made good when a change
 * has eaten half of it; a mapped index has its whole map allocated, and
 * its reserve is the map's room.  While the filesystem cannot make it good
 * the reserve is short, and a transaction that adds records is refused
 * with ENOSPC; one that removes or changes records goes on in what is left
 * (a removal frees its data file's room, and the next change makes the
 * reserve good again).  A change takes a few pages per table it touches,
 * so the reserve lasts for many of them. */
#define DELTA_RESERVE_PAGES 64

void delta_reserve_refill(delta *d)
{
	MDB_envinfo info;
	uint64_t end, want;
	int fd;

	if (d->writemap || atomic_load(&d->reserve_off) || mdb_env_info(d->env, &info) != 0 ||
	    mdb_env_get_fd(d->env, &fd) != 0)
		return;
	end = ((uint64_t)info.me_last_pgno + 1) * d->page_size;
	want = end + DELTA_RESERVE_PAGES * d->page_size;
	if (atomic_load(&d->reserved_end) >= end + DELTA_RESERVE_PAGES / 2 * d->page_size)
		return;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)end, (off_t)(want - end)) == 0) {
		atomic_store(&d->reserved_end, want);
		atomic_store(&d->reserve_short, false);
	} else if (errno == ENOSPC || errno == EDQUOT) {
		atomic_store(&d->reserve_short, true);
	} else {
		atomic_store(&d->reserve_off, true);	/* no allocating ahead here: nothing to keep */
	}
}

/* ---- the map ---------------------------------------------------------- */

static uint64_t round_up(uint64_t n, uint64_t step)
{
	return (n + step - 1) / step * step;
}

/* Room a map keeps past what the index uses. */
static uint64_t room_wanted(uint64_t used)
{
	return used < MAP_MIN_ROOM ? MAP_MIN_ROOM : used > MAP_MAX_ROOM ? MAP_MAX_ROOM : used;
}

/* Is a writable map of the file `fd` safe and cheap: does its filesystem
 * write a block reserved by fallocate(2) in place, with no new allocation
 * however often it is rewritten, and keep a page it was written once
 * writable?  tmpfs does both.  ext4 and XFS write reserved blocks in
 * place, but their writeback (which any syncfs(2) of the filesystem
 * forces) makes each page it cleans fault again at the next store, a
 * journaled fault: with other programs syncing, that cost the daemon
 * three times the CPU of pwrite(2) there.  Copy-on-write filesystems
 * (btrfs, bcachefs, ZFS) need new blocks to rewrite one, and network
 * filesystems promise nothing of the kind. */
static bool maps_well(int fd)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == 0 && (unsigned long)sf.f_type == TMPFS_MAGIC;
}

int delta_map_prepare(delta *d, size_t *mapsize)
{
	_cleanup_close_ int fd = openat(d->dir_fd, "index/data.mdb", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;
	uint64_t size;

	d->writemap = false;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !maps_well(fd))
		return 0;
	size = round_up((uint64_t)st.st_size, MAP_STEP);
	if (size < MAP_MIN)
		size = MAP_MIN;
	/* KEEP_SIZE: a new index must look empty to LMDB, which then
	 * extends it to the map's size over these blocks. */
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)size) < 0)
		return 0;
	d->writemap = true;
	*mapsize = size;
	return 1;
}

/* Under map_lock held alone: remap at `size`, the blocks up to it
 * reserved first.  -1 with errno when the filesystem has no room (the map
 * is as it was). */
static int remap(delta *d, uint64_t map, uint64_t size)
{
	int fd, rc;

	if (d->writemap) {
		if (mdb_env_get_fd(d->env, &fd) != 0)
			return errno = EBADF, -1;
		/* mode 0: the file's size too, so that LMDB's own extension
		 * to the map's size cannot fail after it let go of the map */
		if (size > map && fallocate(fd, 0, (off_t)map, (off_t)(size - map)) < 0)
			return -1;
	}
	rc = mdb_env_set_mapsize(d->env, size);
	if (rc) {
		/* LMDB let go of the old map and could not make the new:
		 * the environment has none; nothing may use it now */
		atomic_store(&d->map_broken, true);
		return errno = rc > 0 ? rc : EIO, -1;
	}
	return 0;
}

/* Used and mapped bytes of the index; under map_lock. */
static void map_span(delta *d, uint64_t *used, uint64_t *map)
{
	MDB_envinfo info;

	if (mdb_env_info(d->env, &info) != 0) {
		*used = *map = 0;
		return;
	}
	*used = ((uint64_t)info.me_last_pgno + 1) * d->page_size;
	*map = info.me_mapsize;
}

/* Must the map grow before a write transaction?  Under map_lock. */
static bool map_short(delta *d)
{
	uint64_t used, map;

	if (atomic_load(&d->map_full))
		return true;
	map_span(d, &used, &map);
	if (map - used >= room_wanted(used))
		return false;
	/* a growth the filesystem refused is tried again once the index
	 * has used more, or when the reserve is short */
	return atomic_load(&d->reserve_short) || used != atomic_load(&d->map_refused_at);
}

static void map_grow(delta *d)
{
	uint64_t used, map, want;
	bool full;

	pthread_rwlock_wrlock(&d->map_lock);
	if (atomic_load(&d->map_broken))
		goto out;
	map_span(d, &used, &map);
	full = atomic_exchange(&d->map_full, false);
	if (!full && map - used >= room_wanted(used))
		goto out;	/* another thread grew it */
	want = used + 2 * room_wanted(used);
	if (full && want < map + 2 * room_wanted(map))
		want = map + 2 * room_wanted(map);
	want = round_up(want, MAP_STEP);
	if (want <= map)
		goto out;
	/* on a filesystem nearly full, one step may fit where more will not */
	if (remap(d, map, want) < 0 && (atomic_load(&d->map_broken) || want == map + MAP_STEP ||
					remap(d, map, round_up(map + 1, MAP_STEP)) < 0)) {
		if (atomic_load(&d->map_broken))
			goto out;
		atomic_store(&d->map_refused_at, used);
		atomic_store(&d->reserve_short, map - used < DELTA_RESERVE_PAGES * d->page_size);
	} else {
		atomic_store(&d->reserve_short, false);
	}
out:
	pthread_rwlock_unlock(&d->map_lock);
}

/* Another process made the index larger than this one's map. */
static int map_resized(delta *d, rls_error *err)
{
	uint64_t used, map, want;
	int r = 0;

	pthread_rwlock_wrlock(&d->map_lock);
	if (!atomic_load(&d->map_broken)) {
		/* the meta pages, first in the map, tell the index's size */
		map_span(d, &used, &map);
		want = round_up(used + room_wanted(used), MAP_STEP);
		if (!d->writemap && want < DELTA_MAPSIZE)
			want = DELTA_MAPSIZE;
		if (want > map && remap(d, map, want) < 0)
			r = rls_error_set(err, errno, "%s: cannot map the index at %llu bytes", d->path,
					  (unsigned long long)want);
	}
	pthread_rwlock_unlock(&d->map_lock);
	return r;
}

static int map_enter(delta *d, rls_error *err)
{
	pthread_rwlock_rdlock(&d->map_lock);
	if (atomic_load(&d->map_broken)) {
		pthread_rwlock_unlock(&d->map_lock);
		return rls_error_set(err, EIO, "%s: the index could not be mapped again; unmount the delta "
				     "and mount it again", d->path);
	}
	return 0;
}

int delta_map_begin(delta *d, bool write, MDB_txn **out, rls_error *err)
{
	int rc;

	for (int tries = 0;; tries++) {
		if (map_enter(d, err) < 0)
			return -1;
		if (write && d->writemap && map_short(d)) {
			pthread_rwlock_unlock(&d->map_lock);
			map_grow(d);
			if (map_enter(d, err) < 0)
				return -1;
		} else if (write && atomic_load(&d->reserve_short)) {
			delta_reserve_refill(d);	/* room may have been freed since */
		}
		rc = mdb_txn_begin(d->env, NULL, write ? 0 : MDB_RDONLY, out);
		if (rc == 0)
			return 0;
		pthread_rwlock_unlock(&d->map_lock);
		if (rc != MDB_MAP_RESIZED || tries == 3)
			return delta_mdb_error(err, rc, "begin transaction");
		if (map_resized(d, err) < 0)
			return -1;
	}
}

void delta_map_end(delta *d, bool write)
{
	/* A change found the map full (delta_mdb_error saw it in this
	 * thread, which ran the transaction): the next grows it more. */
	if (write && delta_map_full_seen) {
		delta_map_full_seen = false;
		atomic_store(&d->map_full, true);
	}
	pthread_rwlock_unlock(&d->map_lock);
}

int delta_map_enter(delta *d, rls_error *err)
{
	return map_enter(d, err);
}

void delta_map_leave(delta *d)
{
	pthread_rwlock_unlock(&d->map_lock);
}

uint64_t delta_map_used(delta *d)
{
	uint64_t used = 0, map;
	rls_error err;

	if (map_enter(d, &err) == 0) {
		map_span(d, &used, &map);
		pthread_rwlock_unlock(&d->map_lock);
	}
	return used;
}

uint64_t delta_map_room(delta *d)
{
	uint64_t used, map;

	if (!d->writemap)
		return UINT64_MAX;
	map_span(d, &used, &map);
	return map - used;
}
