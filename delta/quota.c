/* quota.c - what a delta takes on disk, and the quota that bounds it.
 *
 * A program in the sandbox must not be able to fill the disk the delta
 * lives on, nor make an index of millions of paths.  The size is charged
 * as allocated blocks, measured with fstat(2) after each change (so a
 * sparse file costs what it holds, and a write over allocated blocks costs
 * nothing), and kept in one counter that starts from a walk of DELTA/data
 * when the quota is set.
 *
 * Why the counter stays right:
 * - Growth is reserved before the change (atomically, so threads writing
 *   different files cannot together overshoot) and settled after it with
 *   the blocks really allocated.
 * - Changes to one file are serialised, by a lock in its hold: a write
 *   racing a truncation through another name of the file would otherwise
 *   count the same blocks twice or not at all.  The hold also keeps what is
 *   charged for the file, so a change costs one fstat, not two (an fstat
 *   is about a microsecond; rlsfs spends some 70 on a 4 KiB write).
 * - A data file unlinked while a descriptor holds it keeps its blocks until
 *   the last close: it is uncharged then (delta_data_release), not at the
 *   unlink.  rlsfs holds a file before it lets go of the namespace lock
 *   that unlinks take, so no unlink can slip between open and hold.
 * - A data file left behind by an operation that failed after making it
 *   stays charged (it is on disk) until the id is used again, which
 *   replaces it and uncharges it.
 */
#include "delta-int.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#define HELD_BUCKETS 256

struct delta_hold {
	ino_t ino;
	unsigned count;		/* holders; under held_lock */
	pthread_mutex_t lock;	/* serialises changes to the file */
	int64_t charged;	/* bytes charged for the file; under lock */
	bool unlinked;		/* its name is gone; under held_lock */
	struct delta_hold *next;
};

struct delta_quota {
	uint64_t max_bytes, max_entries;	/* 0: none */
	bool measured;
	uint64_t block;				/* of the data's file system */
	_Atomic int64_t data_bytes;
	pthread_mutex_t held_lock;
	delta_hold *held[HELD_BUCKETS];
};

/* "1.5 GiB" and the like, for messages. */
static const char *human(uint64_t n, char buf[static 32])
{
	static const char *units[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024 && u + 1 < RLS_ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 32, "%llu bytes", (unsigned long long)n);
	else
		snprintf(buf, 32, "%.1f %s", v, units[u]);
	return buf;
}

/* The pages the index uses, not the room allocated ahead of them
 * (map.c), which is bounded and not the sandbox's doing. */
static uint64_t index_bytes(delta *d)
{
	return delta_map_used(d);
}

static uint64_t data_bytes(const struct delta_quota *q)
{
	int64_t v = atomic_load(&q->data_bytes);

	return v > 0 ? (uint64_t)v : 0;
}

/* The blocks of every file in DELTA/data. */
static int measure(delta *d, int64_t *out, rls_error *err)
{
	_cleanup_close_ int fd = openat(d->data_sync_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;
	struct dirent *de;
	int64_t total = 0;

	if (fd < 0)
		return rls_error_set(err, errno, "%s/data", d->path);
	dir = fdopendir(fd);
	if (!dir)
		return rls_error_set(err, errno, "%s/data", d->path);
	fd = -1;
	while ((de = readdir(dir))) {
		struct stat st;

		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			total += (int64_t)st.st_blocks * 512;
	}
	closedir(dir);
	*out = total;
	return 0;
}

int delta_set_quota(delta *d, uint64_t max_bytes, uint64_t max_entries, rls_error *err)
{
	struct delta_quota *q = d->quota;

	if (!q) {
		struct statvfs sv;

		q = rls_xcalloc(1, sizeof *q);
		q->block = fstatvfs(d->data_fd, &sv) == 0 && sv.f_bsize ? sv.f_bsize : 4096;
		pthread_mutex_init(&q->held_lock, NULL);
		atomic_init(&q->data_bytes, 0);
		d->quota = q;
	}
	if (!q->measured) {
		int64_t n;

		if (measure(d, &n, err) < 0)
			return -1;
		atomic_store(&q->data_bytes, n);
		q->measured = true;
	}
	q->max_bytes = max_bytes;
	q->max_entries = max_entries;
	return 0;
}

int delta_get_usage(delta *d, delta_usage *u, rls_error *err)
{
	MDB_txn *txn;
	MDB_stat st;
	int rc;

	memset(u, 0, sizeof *u);
	if (!d->quota && delta_set_quota(d, 0, 0, err) < 0)
		return -1;
	/* LMDB directly: the index (index.c) calls on the quota, not the
	 * other way round */
	if (delta_map_begin(d, false, &txn, err) < 0)
		return -1;
	rc = mdb_stat(txn, d->nodes, &st);
	mdb_txn_abort(txn);
	delta_map_end(d, false);
	if (rc)
		return delta_mdb_error(err, rc, "index statistics");
	u->entries = st.ms_entries;
	u->data_bytes = data_bytes(d->quota);
	u->index_bytes = index_bytes(d);
	u->max_bytes = d->quota->max_bytes;
	u->max_entries = d->quota->max_entries;
	return 0;
}

/* Are bytes more than the size quota allows?  (Files and index together.) */
static bool over_size(delta *d, uint64_t data)
{
	return d->quota->max_bytes && data + index_bytes(d) > d->quota->max_bytes;
}

int delta_quota_entry(delta *d, uint64_t entries, rls_error *err)
{
	struct delta_quota *q = d->quota;
	char a[32];

	if (!q)
		return 0;
	if (q->max_entries && entries > q->max_entries)
		return rls_error_set(err, EDQUOT, "delta quota: %llu entries at most",
				     (unsigned long long)q->max_entries);
	if (over_size(d, data_bytes(q)))
		return rls_error_set(err, EDQUOT, "delta quota: %s at most", human(q->max_bytes, a));
	return 0;
}

int delta_quota_reserve(delta *d, uint64_t bytes, rls_error *err)
{
	struct delta_quota *q = d->quota;
	int64_t now;
	char a[32], b[32];

	if (!q || !q->max_bytes || !bytes)
		return 0;
	if (bytes > q->max_bytes)
		return rls_error_set(err, EDQUOT, "delta quota: %s will not fit in %s", human(bytes, a),
				     human(q->max_bytes, b));
	now = atomic_fetch_add(&q->data_bytes, (int64_t)bytes) + (int64_t)bytes;
	if (over_size(d, now > 0 ? (uint64_t)now : 0)) {
		atomic_fetch_sub(&q->data_bytes, (int64_t)bytes);
		return rls_error_set(err, EDQUOT, "delta quota: no room for %s more in %s", human(bytes, a),
				     human(q->max_bytes, b));
	}
	return 0;
}

void delta_quota_charge(delta *d, int64_t bytes)
{
	if (d->quota && d->quota->max_bytes)
		atomic_fetch_add(&d->quota->data_bytes, bytes);
}

/* ---- changes to open data files ------------------------------------------ */

/* The room left under the size quota (0 when none). */
static uint64_t room_left(delta *d)
{
	uint64_t used = data_bytes(d->quota) + index_bytes(d);

	return used < d->quota->max_bytes ? d->quota->max_bytes - used : 0;
}

int delta_grow_begin(delta *d, delta_hold *held, int fd, off_t off, uint64_t len, unsigned flags, delta_grow *g,
		     rls_error *err)
{
	struct delta_quota *q = d->quota;
	struct stat st = { .st_size = -1 };
	uint64_t end, bs, first, want;
	char a[32];

	g->active = false;
	g->len = len;
	if (!q || !q->max_bytes)
		return 0;
	g->own_hold = !held;
	if (!held && !(held = delta_data_hold(d, fd, NULL)))
		return rls_error_set(err, errno, "delta data file");
	pthread_mutex_lock(&held->lock);
	g->held = held;
	g->fd = fd;
	g->before = held->charged;
	g->reserved = 0;
	if (off < 0)
		off = 0;
	end = (uint64_t)off + len;
	/* growing past the quota's size; a file already larger (under a
	 * former quota) may still shrink and be written within */
	if (end > q->max_bytes && (fstat(fd, &st) < 0 || end > (uint64_t)st.st_size)) {
		rls_error_set(err, EFBIG, "delta quota: no file may be larger than %s", human(q->max_bytes, a));
		goto fail;
	}
	if (len) {
		bs = q->block;
		first = (uint64_t)off / bs * bs;
		want = (end + bs - 1) / bs * bs - first;
		if (delta_quota_reserve(d, want, err) == 0) {
			g->reserved = want;
		} else {
			/* an overwrite of allocated blocks takes nothing more */
			off_t hole = lseek(fd, off, SEEK_HOLE);
			uint64_t fit = room_left(d) / bs * bs;

			if (st.st_size < 0 && fstat(fd, &st) < 0)
				st.st_size = 0;
			if (end <= (uint64_t)st.st_size && hole >= 0 && (uint64_t)hole >= end) {
				/* the range is allocated: nothing to reserve */
			} else if ((flags & DELTA_GROW_CUT) && first + fit > (uint64_t)off &&
				   delta_quota_reserve(d, fit, err) == 0) {
				g->reserved = fit;
				g->len = first + fit - (uint64_t)off;
			} else {
				goto fail;
			}
		}
	}
	g->active = true;
	return 0;
fail:
	pthread_mutex_unlock(&held->lock);
	if (g->own_hold)
		delta_data_release(d, held);
	return -1;
}

void delta_grow_end(delta *d, delta_grow *g)
{
	struct stat st;
	int64_t after;

	if (!g->active)
		return;
	/* what is charged for the file becomes what it holds now, whatever
	 * changed it since the last count (an extent block allocated at
	 * writeback, say); without a fresh count, assume all that was
	 * reserved was taken */
	after = fstat(g->fd, &st) == 0 ? (int64_t)st.st_blocks * 512 : g->before + (int64_t)g->reserved;
	atomic_fetch_add(&d->quota->data_bytes, after - g->before - (int64_t)g->reserved);
	g->held->charged = after;
	pthread_mutex_unlock(&g->held->lock);
	if (g->own_hold)
		delta_data_release(d, g->held);
	g->active = false;
}

/* ---- files held open ------------------------------------------------------ */

static delta_hold **held_slot(struct delta_quota *q, ino_t ino)
{
	delta_hold **pp = &q->held[ino % HELD_BUCKETS];

	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->next;
	return pp;
}

delta_hold *delta_data_hold(delta *d, int fd, const struct stat *st)
{
	struct delta_quota *q = d->quota;
	struct stat own;
	delta_hold **pp, *h;

	if (!q || !q->max_bytes)
		return NULL;
	if (!st) {
		if (fstat(fd, &own) < 0)
			return NULL;
		st = &own;
	}
	pthread_mutex_lock(&q->held_lock);
	pp = held_slot(q, st->st_ino);
	if (!*pp) {
		h = rls_xcalloc(1, sizeof *h);
		h->ino = st->st_ino;
		h->charged = (int64_t)st->st_blocks * 512;
		pthread_mutex_init(&h->lock, NULL);
		*pp = h;
	}
	h = *pp;
	h->count++;
	pthread_mutex_unlock(&q->held_lock);
	return h;
}

void delta_data_release(delta *d, delta_hold *h)
{
	struct delta_quota *q = d->quota;
	delta_hold **pp;

	if (!q || !h)
		return;
	pthread_mutex_lock(&q->held_lock);
	if (--h->count == 0) {
		pp = held_slot(q, h->ino);
		if (*pp == h)
			*pp = h->next;
		/* the last descriptor of an unlinked file: its blocks go now
		 * (every unlink of a data file is delta_quota_unlink's, which
		 * marks the hold under this lock) */
		if (h->unlinked)
			atomic_fetch_sub(&q->data_bytes, h->charged);
		pthread_mutex_destroy(&h->lock);
		free(h);
	}
	pthread_mutex_unlock(&q->held_lock);
}

void delta_quota_unlink(delta *d, const char *name)
{
	struct delta_quota *q = d->quota;
	struct stat st;

	if (!q || !q->max_bytes || fstatat(d->data_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		unlinkat(d->data_fd, name, 0);
		return;
	}
	/* under the lock: a release between the test and the unlink would
	 * see the file still named and leave its blocks charged for good */
	pthread_mutex_lock(&q->held_lock);
	if (unlinkat(d->data_fd, name, 0) == 0) {
		delta_hold *h = *held_slot(q, st.st_ino);

		/* held open: its blocks go at the last release */
		if (h)
			h->unlinked = true;
		else
			atomic_fetch_sub(&q->data_bytes, (int64_t)st.st_blocks * 512);
	}
	pthread_mutex_unlock(&q->held_lock);
}

void delta_quota_free(delta *d)
{
	struct delta_quota *q = d->quota;

	if (!q)
		return;
	for (size_t i = 0; i < HELD_BUCKETS; i++) {
		while (q->held[i]) {
			delta_hold *h = q->held[i];

			q->held[i] = h->next;
			pthread_mutex_destroy(&h->lock);
			free(h);
		}
	}
	pthread_mutex_destroy(&q->held_lock);
	free(q);
	d->quota = NULL;
}
