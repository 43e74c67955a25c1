/* srcwatch.c - telling the kernel when the source changes under what it
 * keeps.
 *
 * rlsfs answers opendir with ENOSYS (see rls_opendir), so the kernel opens
 * folders without asking and keeps each listing until a change made
 * through the mount, or until told.  Another sandbox's commit, or the
 * host, may change the source meanwhile: each source folder whose listing
 * was taken is watched (inotify), and one thread of its own turns what the
 * watches see into notifications: the folder's listing and attributes are
 * dropped, and so are the name's (its node's attributes and pages when the
 * kernel holds one, else any negative entry it keeps).  Never from a
 * request's worker: a notification may wait on a request in flight.
 *
 * A name the kernel holds is never invalidated as an entry: that would
 * detach whatever is mounted on it.
 *
 * The watches are the user's, shared with every program of the user's on
 * the host (editors, build tools): a mount takes a quarter of what the
 * host allows at most.  Where a folder cannot be watched, its
 * listing is dropped again after each time it is read, so the kernel asks
 * afresh at the next listing: slower, never stale.  When the queue of
 * events overflows, every folder's listing is dropped. */
#include "internal.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>

#define SRCWATCH_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_MODIFY | \
		       IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

typedef struct watch_slot {
	int wd;			/* 0: empty */
	uint64_t nodeid;
} watch_slot;

struct srcwatch {
	int ifd;		/* inotify */
	int efd;		/* eventfd: wakes the thread */
	pthread_t thread;
	pthread_mutex_t lock;	/* everything below */
	watch_slot *slots;	/* wd -> nodeid, open addressing */
	size_t size, used;
	uint64_t *queue;	/* folders whose listing the kernel must drop */
	size_t nq, capq;
	bool all;		/* every folder's */
	bool stop;
	size_t max;		/* watches at most */
};

static size_t slot_of(const srcwatch *sw, int wd)
{
	size_t i = ((uint32_t)wd * 0x9e3779b1u) & (sw->size - 1);

	while (sw->slots[i].wd && sw->slots[i].wd != wd)
		i = (i + 1) & (sw->size - 1);
	return i;
}

static void table_put(srcwatch *sw, int wd, uint64_t nodeid)
{
	size_t i;

	if (2 * (sw->used + 1) > sw->size) {
		watch_slot *old = sw->slots;
		size_t size = sw->size;

		sw->size = size ? 2 * size : 256;
		sw->slots = rls_xcalloc(sw->size, sizeof *sw->slots);
		for (size_t k = 0; k < size; k++)
			if (old[k].wd)
				sw->slots[slot_of(sw, old[k].wd)] = old[k];
		free(old);
	}
	i = slot_of(sw, wd);
	if (!sw->slots[i].wd)
		sw->used++;
	sw->slots[i] = (watch_slot){ wd, nodeid };
}

static uint64_t table_get(srcwatch *sw, int wd)
{
	return sw->size ? sw->slots[slot_of(sw, wd)].nodeid : 0;
}

/* Backward-shift deletion: no tombstones. */
static void table_del(srcwatch *sw, int wd)
{
	size_t i, j, mask = sw->size - 1;

	if (!sw->size || sw->slots[i = slot_of(sw, wd)].wd != wd)
		return;
	sw->slots[i].wd = 0;
	sw->used--;
	for (j = (i + 1) & mask; sw->slots[j].wd; j = (j + 1) & mask) {
		size_t home = ((uint32_t)sw->slots[j].wd * 0x9e3779b1u) & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			sw->slots[i] = sw->slots[j];
			sw->slots[j].wd = 0;
			i = j;
		}
	}
}

static void wake(srcwatch *sw)
{
	uint64_t one = 1;

	(void)!write(sw->efd, &one, sizeof one);
}

/* Remove the watches of the nodes forgotten since last time. */
static void drop_gone(rlsfs *fs, srcwatch *sw)
{
	int wds[64];
	size_t n;

	while ((n = node_take_unwatched(fs, wds, RLS_ARRAY_SIZE(wds))) > 0) {
		pthread_mutex_lock(&sw->lock);
		for (size_t i = 0; i < n; i++) {
			table_del(sw, wds[i]);
			inotify_rm_watch(sw->ifd, wds[i]);
		}
		pthread_mutex_unlock(&sw->lock);
	}
}

int srcwatch_add(rlsfs *fs, rnode *n, int dirfd)
{
	srcwatch *sw = fs->srcwatch;
	char proc[32];
	int wd;

	if (atomic_load(&n->watch))
		return 0;
	drop_gone(fs, sw);
	/* the folder the descriptor holds, never a path another may swap */
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", dirfd);
	pthread_mutex_lock(&sw->lock);
	if (sw->used >= sw->max) {
		wd = -1;
		errno = ENOSPC;
	} else {
		wd = inotify_add_watch(sw->ifd, proc, SRCWATCH_MASK);
	}
	if (wd > 0)
		table_put(sw, wd, n->nodeid);
	pthread_mutex_unlock(&sw->lock);
	if (wd < 0)
		return -errno;
	atomic_store(&n->watch, wd);
	return 0;
}

void srcwatch_inval(rlsfs *fs, uint64_t nodeid)
{
	srcwatch *sw = fs->srcwatch;

	pthread_mutex_lock(&sw->lock);
	if (sw->nq == sw->capq) {
		sw->capq = sw->capq ? 2 * sw->capq : 64;
		sw->queue = rls_xrealloc(sw->queue, sw->capq * sizeof *sw->queue);
	}
	sw->queue[sw->nq++] = nodeid;
	pthread_mutex_unlock(&sw->lock);
	wake(sw);
}

void srcwatch_inval_all(rlsfs *fs)
{
	srcwatch *sw = fs->srcwatch;

	if (!sw)
		return;
	pthread_mutex_lock(&sw->lock);
	sw->all = true;
	pthread_mutex_unlock(&sw->lock);
	wake(sw);
}

static void drop_listing(rlsfs *fs, uint64_t nodeid)
{
	/* offset 0, length 0: the attributes and every page, and so the
	 * listing kept in the folder's pages */
	fuse_lowlevel_notify_inval_inode(fs->se, nodeid, 0, 0);
}

/* The thread's own queue: what was asked of it, then done without the lock. */
static void serve_queue(rlsfs *fs, srcwatch *sw)
{
	uint64_t *q;
	size_t nq;
	bool all;

	pthread_mutex_lock(&sw->lock);
	q = sw->queue;
	nq = sw->nq;
	all = sw->all;
	sw->queue = NULL;
	sw->nq = sw->capq = 0;
	sw->all = false;
	pthread_mutex_unlock(&sw->lock);
	if (all) {
		free(q);
		nq = node_dir_ids(fs, &q);
	}
	for (size_t i = 0; i < nq; i++)
		drop_listing(fs, q[i]);
	free(q);
}

/* One event; *last: the folder whose listing this batch of events dropped
 * last (a commit writing many files into one folder drops it once). */
static void serve_event(rlsfs *fs, srcwatch *sw, const struct inotify_event *ev, uint64_t *last)
{
	uint64_t dir, child;

	if (ev->mask & IN_Q_OVERFLOW) {
		srcwatch_inval_all(fs);
		return;
	}
	pthread_mutex_lock(&sw->lock);
	dir = table_get(sw, ev->wd);
	if (ev->mask & IN_IGNORED)
		table_del(sw, ev->wd);
	pthread_mutex_unlock(&sw->lock);
	if (!dir)
		return;
	if (ev->mask & IN_IGNORED) {
		/* the folder went: a later listing watches what stands there */
		node_watch_lost(fs, dir, ev->wd);
		return;
	}
	if (dir != *last)
		drop_listing(fs, dir);
	*last = dir;
	if (!ev->len || !ev->name[0])
		return;
	child = node_child_id(fs, dir, ev->name);
	if (child)
		drop_listing(fs, child);
	else
		fuse_lowlevel_notify_inval_entry(fs->se, dir, ev->name, strlen(ev->name));
}

static void *srcwatch_thread(void *arg)
{
	rlsfs *fs = arg;
	srcwatch *sw = fs->srcwatch;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd p[2] = { { .fd = sw->ifd, .events = POLLIN }, { .fd = sw->efd, .events = POLLIN } };

	for (;;) {
		ssize_t len;
		uint64_t v;
		bool stop;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents && read(sw->efd, &v, sizeof v) < 0 && errno != EAGAIN)
			break;
		pthread_mutex_lock(&sw->lock);
		stop = sw->stop;
		pthread_mutex_unlock(&sw->lock);
		if (stop)
			break;
		while ((len = read(sw->ifd, buf, sizeof buf)) > 0) {
			uint64_t last = 0;

			for (char *e = buf; e < buf + len;) {
				const struct inotify_event *ev = (const struct inotify_event *)e;

				serve_event(fs, sw, ev, &last);
				e += sizeof *ev + ev->len;
			}
		}
		serve_queue(fs, sw);
	}
	return NULL;
}

/* The watches each user may hold on the host (8192 when unknown). */
static size_t host_watches(void)
{
	FILE *f = fopen("/proc/sys/fs/inotify/max_user_watches", "re");
	unsigned long v = 8192;

	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 8192;
		fclose(f);
	}
	return v;
}

int srcwatch_start(rlsfs *fs, rls_error *err)
{
	srcwatch *sw = rls_xcalloc(1, sizeof *sw);

	sw->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	sw->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (sw->ifd < 0 || sw->efd < 0) {
		rls_error_set(err, errno, "inotify");
		goto fail;
	}
	sw->max = host_watches() / 4;
	pthread_mutex_init(&sw->lock, NULL);
	fs->srcwatch = sw;
	if ((errno = -loop_thread_start(&sw->thread, srcwatch_thread, fs))) {
		rls_error_set(err, errno, "source watch thread");
		pthread_mutex_destroy(&sw->lock);
		fs->srcwatch = NULL;
		goto fail;
	}
	return 0;
fail:
	if (sw->ifd >= 0)
		close(sw->ifd);
	if (sw->efd >= 0)
		close(sw->efd);
	free(sw);
	return -1;
}

void srcwatch_stop(rlsfs *fs)
{
	srcwatch *sw = fs->srcwatch;

	if (!sw)
		return;
	pthread_mutex_lock(&sw->lock);
	sw->stop = true;
	pthread_mutex_unlock(&sw->lock);
	wake(sw);
	pthread_join(sw->thread, NULL);
	fs->srcwatch = NULL;
	close(sw->ifd);
	close(sw->efd);
	pthread_mutex_destroy(&sw->lock);
	free(sw->slots);
	free(sw->queue);
	free(sw);
}
