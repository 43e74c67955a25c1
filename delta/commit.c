/* commit.c - journaled commit of a delta to its source, recovery, discard.
 *
 * A commit is planned from the index, written to a journal in the "meta"
 * database (header "journal", ops "journal/%08x") and synced, then executed
 * op by op.  Every op is idempotent, so recovery simply runs the ops again
 * from the last durable progress mark.
 *
 * A regular file whose data file has no other name in the delta is moved:
 * the data file gets the file's attributes and is renamed from DELTA/data
 * straight to its final name (the delta is emptied by the commit anyway).
 * The journal holds the data file's (dev, ino), so a run that finds the data
 * file gone and that identity at the target knows the move happened.  Other
 * files (hard links within the delta, or a target directory on another
 * filesystem) are copied to a temporary name in their target directory.
 * Both kinds are renamed in batches after one syncfs(): the data is durable
 * before any rename can expose it, at the cost of two syncs per batch
 * instead of two fsyncs per file.
 *
 * Execution order: deletions deepest first, then creations in path order
 * (parents first), then directory attributes deepest first (a directory's
 * mtime is set after its content stops changing).
 */
#include "commit-int.h"

#include <fcntl.h>
#include <sys/file.h>
#include <time.h>

/* ---- locks ------------------------------------------------------------ */

static int lock_file(delta *d, const char *name, int how, int *out, rls_error *err)
{
	int fd = openat(d->dir_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return rls_error_set(err, errno, "%s/%s", d->path, name);
	if (RLS_TEMP_FAILURE_RETRY(flock(fd, how)) < 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK)
			return rls_error_set(err, EBUSY, "%s: delta is mounted", d->path);
		return rls_error_set(err, e, "%s/%s", d->path, name);
	}
	*out = fd;
	return 0;
}

/* Commits of every delta over one source take turns on a lock named
 * after the source's identity, in SOURCE_LOCK_DIR.
 *
 * Threat: the lock must be one that no sandbox can take.  A sandbox sees
 * the host's system folders (/usr, /etc, /opt) and what --bind adds:
 * another source there is a folder it may open, and flock(2) asks no more
 * than that.  A lock on the folder itself, held from inside, stopped every
 * other commit over that source (and `rls commit` of any delta of it)
 * for as long as the sandbox lived.  No backend shows its sandbox /run.
 * The file is opened without following a symlink nor waiting on a fifo
 * (the folder is everyone's), and read-only: flock(2) needs no more, and
 * another user's lock file serves as well.  Its holder removes it when
 * done; whoever waited on the removed file finds it gone and starts over.
 * Where there is no such folder, the source folder is the lock, as
 * before. */
#define SOURCE_LOCK_DIR "/run/lock"

typedef struct source_lock {
	int fd;			/* the lock file, or -1: the source folder is the lock */
	char path[96];
} source_lock;

static void source_lock_release(source_lock *l)
{
	if (l->fd < 0)
		return;
	(void)unlink(l->path);
	close(l->fd);
	l->fd = -1;
}
#define _cleanup_source_lock_ __attribute__((cleanup(source_lock_release)))

static int open_source_lock(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT) {
		fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
		if (fd >= 0)
			(void)fchmod(fd, 0644);	/* whatever the umask: every user locks it */
		else if (errno == EEXIST)
			fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	}
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Is the lock file held still the one at its path? */
static bool source_lock_current(const source_lock *l)
{
	struct stat held, now;

	return fstat(l->fd, &held) == 0 && lstat(l->path, &now) == 0 && held.st_dev == now.st_dev &&
	       held.st_ino == now.st_ino;
}

/* The source folder (*out), and the lock of its commits, held (l). */
static int lock_source(delta *d, int *out, source_lock *l, rls_error *err)
{
	_cleanup_close_ int fd = open(d->source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;

	l->fd = -1;
	if (fd < 0 || fstat(fd, &st) < 0)
		return rls_error_set(err, errno, "source %s", d->source);
	snprintf(l->path, sizeof l->path, SOURCE_LOCK_DIR "/rls-source-%jx-%jx.lock", (uintmax_t)st.st_dev,
		 (uintmax_t)st.st_ino);
	for (;;) {
		l->fd = open_source_lock(l->path);
		if (RLS_TEMP_FAILURE_RETRY(flock(l->fd >= 0 ? l->fd : fd, LOCK_EX)) < 0) {
			int e = errno;

			if (l->fd >= 0)
				close(l->fd);
			l->fd = -1;
			return rls_error_set(err, e, "lock source %s", d->source);
		}
		if (l->fd < 0 || source_lock_current(l))
			break;
		close(l->fd);	/* removed by the holder before: start over */
	}
	*out = steal_fd(&fd);
	return 0;
}

int delta_recover(delta *d, rls_error *err)
{
	_cleanup_close_ int commit_fd = -1, src_fd = -1;
	_cleanup_source_lock_ source_lock src_lock = { .fd = -1 };
	struct delta_journal j;
	struct delta_run r;
	int rc;

	rc = delta_journal_read(d, &j, NULL, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	/* Wait out a commit that is running right now, then look again. */
	if (lock_file(d, "commit.lock", LOCK_EX, &commit_fd, err) < 0 || lock_source(d, &src_fd, &src_lock, err) < 0)
		return -1;
	delta_run_init(&r, d, src_fd);
	rc = delta_journal_read(d, &r.j, &r.ops, err);
	if (rc != 0) {
		delta_run_free(&r);
		return rc < 0 ? -1 : 0;
	}
	r.n_ops = r.j.n_ops;
	rc = delta_run_finish(&r, err);
	if (rc == 0)
		delta_run_sweep(&r);
	delta_run_free(&r);
	if (rc < 0)
		return rls_error_prefix(err, "%s: cannot finish an interrupted commit", d->path);
	return 0;
}

/* ---- commit and discard ----------------------------------------------- */

static int check_not_mounted(delta *d, int *lock_fd, rls_error *err)
{
	if (d->mount_fd >= 0)
		return rls_error_set(err, EBUSY, "%s: delta is mounted", d->path);
	return lock_file(d, "mount.lock", LOCK_EX | LOCK_NB, lock_fd, err);
}

int delta_commit(delta *d, delta_conflict_mode mode, unsigned flags, delta_commit_stats *stats, rls_error *err)
{
	_cleanup_close_ int mount_fd = -1, commit_fd = -1, src_fd = -1;
	_cleanup_source_lock_ source_lock src_lock = { .fd = -1 };
	struct delta_run r;
	int rc;

	memset(stats, 0, sizeof *stats);
	if (flags & DELTA_COMMIT_DRY_RUN) {
		src_fd = open(d->source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (src_fd < 0)
			return rls_error_set(err, errno, "source %s", d->source);
		/* Every conflict is wanted, whatever the mode. */
		mode = DELTA_CONFLICT_OURS;
	} else if (check_not_mounted(d, &mount_fd, err) < 0 ||
		   lock_file(d, "commit.lock", LOCK_EX, &commit_fd, err) < 0 ||
		   lock_source(d, &src_fd, &src_lock, err) < 0) {
		return -1;
	}
	delta_run_init(&r, d, src_fd);
	/* An interrupted commit (of this delta) is finished first. */
	rc = delta_journal_read(d, &r.j, &r.ops, err);
	if (rc < 0)
		goto out;
	if (rc == 0 && (flags & DELTA_COMMIT_DRY_RUN)) {
		rc = rls_error_set(err, EBUSY, "an interrupted commit must finish first (rls commit)");
		goto out;
	}
	if (rc == 0) {
		r.n_ops = r.j.n_ops;
		rc = delta_run_finish(&r, err);
		if (rc == 0)
			delta_run_sweep(&r);
		goto out;
	}
	rc = delta_plan(&r, mode, flags, stats, err);
	if (rc != 0 || (flags & DELTA_COMMIT_DRY_RUN))
		goto out;
	if (delta_random_bytes(&r.j.nonce, sizeof r.j.nonce, err) < 0) {
		rc = -1;
		goto out;
	}
	r.j.nonce |= 1;
	r.j.n_ops = (uint32_t)r.n_ops;
	r.j.phase = 1;
	r.j.done = 0;
	if ((rc = delta_journal_write(&r, err)) < 0)
		goto out;
	delta_run_step(&r);
	rc = delta_run_finish(&r, err);
out:
	if (rc >= 0) {
		stats->conflicts += r.late_conflicts;
		if (stats->conflicts)
			stats->conflict_paths = steal_pointer(&r.conflicts.v);
		if (stats->setid_dropped)
			stats->setid_paths = steal_pointer(&r.setid.v);
		if (rc == 0 && stats->n_held)
			rc = 2;
	}
	delta_run_free(&r);
	if (rc < 0)
		return rls_error_prefix(err, "commit %s", d->path);
	return rc;
}

int delta_discard(delta *d, rls_error *err)
{
	_cleanup_close_ int mount_fd = -1, commit_fd = -1;
	delta_txn *txn;
	struct delta_journal j;
	char epoch[32];
	struct timespec now;
	int rc;

	if (check_not_mounted(d, &mount_fd, err) < 0 ||
	    lock_file(d, "commit.lock", LOCK_EX, &commit_fd, err) < 0)
		return -1;
	rc = delta_journal_read(d, &j, NULL, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return rls_error_set(err, EBUSY, "%s: an interrupted commit must finish first", d->path);
	if (delta_begin(d, true, &txn, err) < 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(epoch, sizeof epoch, "%lld", (long long)delta_ts_ns(&now));
	if (delta_clear_index(txn, err) < 0 || delta_meta_put(txn, "epoch", epoch, strlen(epoch), err) < 0 ||
	    delta_forget_policies(txn, err) < 0) {
		delta_abort(txn);
		return -1;
	}
	if (delta_commit_txn(txn, err) < 0 || delta_sync(d, err) < 0)
		return -1;
	/* The index no longer names any data file: they can go in any order. */
	return delta_clear_data(d, err);
}

void delta_commit_stats_free(delta_commit_stats *stats)
{
	for (char **p = stats->conflict_paths; p && *p; p++)
		free(*p);
	free(stats->conflict_paths);
	stats->conflict_paths = NULL;
	for (char **p = stats->setid_paths; p && *p; p++)
		free(*p);
	free(stats->setid_paths);
	stats->setid_paths = NULL;
	for (size_t i = 0; i < stats->n_held; i++) {
		free(stats->held[i].path);
		free(stats->held[i].target);
	}
	free(stats->held);
	stats->held = NULL;
	stats->n_held = 0;
}

