/* loop.c - rlsfs's request loop: one warm thread serves, others only while
 * it is held up.
 *
 * libfuse's multi-threaded loop keeps every worker blocked in read(2) on
 * /dev/fuse, and the kernel hands each request to the reader that has
 * waited longest.  Under a serial load (tar, find, grep, a compiler: one
 * request at a time) every request then wakes another, cold thread.  With
 * 4 workers, an untar took about 30% more of the daemon's CPU time and 40%
 * more wall time than with one.
 *
 * Here one thread at a time reads, the reader: it serves what it read
 * itself and reads again, so a serial load is served by one thread with no
 * handover.  The other threads are parked, the last one parked first to
 * go.  One more is made to read (a parked one promoted, or a new one
 * started, up to the bound) when:
 *   - a request has been served for a whole tick while nobody read: a read
 *     from a cold disk, an fsync, a notification the kernel holds until
 *     another request is answered.  The main thread watches for that;
 *   - a handler says it is about to wait (loop_may_block).
 * A thread done serving reads next if nobody does, else parks: after a
 * burst the pool falls back to one reader by itself.
 *
 * The watch ticks only while requests come; a quiet mount sleeps until the
 * next one.  Signals that end rlsfs (SIGTERM, SIGINT, SIGHUP, SIGQUIT) are
 * blocked in every thread but the main one, the watch.  While the loop
 * serves, SIGTERM, SIGINT and SIGHUP end the session as libfuse's handlers
 * do, and also wake the watch: one landing just before it sleeps would
 * otherwise be seen only at the next request.
 */
#include "internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* How long a request may be served while nobody reads before another
 * thread is made to read, and how many quiet ticks before the watch
 * sleeps until the next request. */
#define LOOP_TICK_NS 1000000L
#define LOOP_QUIET_TICKS 50

typedef struct loop_worker {
	struct rls_loop *lp;
	pthread_t thread;
	sem_t wake;			/* posted when promoted or stopping */
	struct loop_worker *next_parked;
	struct loop_worker *next;	/* every worker, for the end */
	struct fuse_buf buf;		/* libfuse's, kept across requests */
} loop_worker;

struct rls_loop {
	struct fuse_session *se;
	pthread_mutex_t lock;
	loop_worker *parked;		/* under lock: the last parked first */
	loop_worker *all;		/* under lock */
	unsigned workers, max;		/* under lock */
	/* Threads reading, or promoted to and about to: a promotion counts
	 * its thread at once, so that a slow wake-up is not promoted for
	 * again at the next tick. */
	atomic_uint readers;
	atomic_ullong taken;		/* requests read so far */
	atomic_int asleep;		/* futex: the watch sleeps until the next request */
	atomic_bool stop;
	int error;			/* under lock: the read error that ended the loop */
};

static void futex_wake(atomic_int *word)
{
	(void)syscall(SYS_futex, (int *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void futex_wait(atomic_int *word, int val)
{
	(void)syscall(SYS_futex, (int *)word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

int loop_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
	sigset_t block, old;
	int r;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	r = pthread_create(thread, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -r;
}

/* Wake the watch if it sleeps: a request was read. */
static void loop_taken(struct rls_loop *lp)
{
	atomic_fetch_add(&lp->taken, 1);
	if (atomic_load(&lp->asleep) && atomic_exchange(&lp->asleep, 0))
		futex_wake(&lp->asleep);
}

static void *worker_main(void *arg);

/* The loop being served, for the end signals' handler. */
static struct rls_loop *_Atomic serving;
static const int end_signals[] = { SIGTERM, SIGINT, SIGHUP };

/* In the main thread, the only one not blocking the signal.  Clearing
 * asleep before the wake makes a watch about to wait on it return at
 * once; one that already waits is woken. */
static void end_handler(int sig)
{
	struct rls_loop *lp = atomic_load(&serving);
	int saved = errno;

	(void)sig;
	if (!lp)
		return;
	fuse_session_exit(lp->se);
	atomic_store(&lp->asleep, 0);
	futex_wake(&lp->asleep);
	errno = saved;
}

/* One more thread reads: the last one parked, else a new one (lock held).
 * Past the bound, none: every thread is serving already. */
static void promote_locked(struct rls_loop *lp)
{
	loop_worker *w = lp->parked;

	if (atomic_load(&lp->stop))
		return;
	if (w) {
		lp->parked = w->next_parked;
		atomic_fetch_add(&lp->readers, 1);
		sem_post(&w->wake);
		return;
	}
	if (lp->workers >= lp->max)
		return;
	w = rls_xcalloc(1, sizeof *w);
	w->lp = lp;
	sem_init(&w->wake, 0, 0);
	atomic_fetch_add(&lp->readers, 1);
	if (loop_thread_start(&w->thread, worker_main, w) < 0) {
		/* the threads there are serve on */
		atomic_fetch_sub(&lp->readers, 1);
		sem_destroy(&w->wake);
		free(w);
		return;
	}
	w->next = lp->all;
	lp->all = w;
	lp->workers++;
}

static void promote(struct rls_loop *lp)
{
	pthread_mutex_lock(&lp->lock);
	promote_locked(lp);
	pthread_mutex_unlock(&lp->lock);
}

void loop_may_block(rlsfs *fs)
{
	struct rls_loop *lp = fs->loop;

	if (lp && atomic_load(&lp->readers) == 0)
		promote(lp);
}

/* The loop ends: every parked thread and the watch are told. */
static void loop_end(struct rls_loop *lp, int error)
{
	pthread_mutex_lock(&lp->lock);
	if (error && !lp->error)
		lp->error = error;
	atomic_store(&lp->stop, true);
	for (loop_worker *w = lp->parked; w; w = w->next_parked)
		sem_post(&w->wake);
	lp->parked = NULL;
	pthread_mutex_unlock(&lp->lock);
	fuse_session_exit(lp->se);
	atomic_store(&lp->asleep, 0);
	futex_wake(&lp->asleep);
}

/* Be the reader, or park until promoted; false when the loop ends. */
static bool worker_read_turn(loop_worker *w)
{
	struct rls_loop *lp = w->lp;
	unsigned none = 0;

	if (atomic_compare_exchange_strong(&lp->readers, &none, 1))
		return !atomic_load(&lp->stop);
	pthread_mutex_lock(&lp->lock);
	if (atomic_load(&lp->stop)) {
		pthread_mutex_unlock(&lp->lock);
		return false;
	}
	w->next_parked = lp->parked;
	lp->parked = w;
	pthread_mutex_unlock(&lp->lock);
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	while (sem_wait(&w->wake) < 0 && errno == EINTR)
		;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	/* promoted: counted among the readers already */
	return !atomic_load(&lp->stop);
}

static void *worker_main(void *arg)
{
	loop_worker *w = arg;
	struct rls_loop *lp = w->lp;
	bool turn = true;	/* a thread starts promoted */

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	for (;;) {
		int res;

		if (!turn && !worker_read_turn(w))
			break;
		turn = false;
		/* Cancelled only here and parked: the end of a loop that a
		 * signal ended, with the reader blocked on the device. */
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		res = fuse_session_receive_buf(lp->se, &w->buf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		atomic_fetch_sub(&lp->readers, 1);
		if (res == -EINTR)
			continue;
		if (res <= 0) {
			/* 0: unmounted (libfuse saw ENODEV), or ended */
			loop_end(lp, res < 0 ? -res : 0);
			break;
		}
		loop_taken(lp);
		fuse_session_process_buf(lp->se, &w->buf);
	}
	return NULL;
}

/* The main thread: make another thread read whenever a request has been
 * served for a whole tick while none did, until the loop ends. */
static void loop_watch(struct rls_loop *lp)
{
	const struct timespec tick = { 0, LOOP_TICK_NS };
	unsigned long long seen = atomic_load(&lp->taken);
	unsigned quiet = 0;

	while (!atomic_load(&lp->stop) && !fuse_session_exited(lp->se)) {
		unsigned long long now;

		if (quiet >= LOOP_QUIET_TICKS) {
			/* Sleep until a request is read: loop_taken wakes
			 * the watch, unless it saw the request first. */
			atomic_store(&lp->asleep, 1);
			if (atomic_load(&lp->taken) == seen && !atomic_load(&lp->stop) &&
			    !fuse_session_exited(lp->se))
				futex_wait(&lp->asleep, 1);
			atomic_store(&lp->asleep, 0);
			quiet = 0;
			continue;
		}
		(void)nanosleep(&tick, NULL);
		now = atomic_load(&lp->taken);
		if (now != seen) {
			seen = now;
			quiet = 0;
		} else if (atomic_load(&lp->readers) == 0) {
			promote(lp);
		} else {
			quiet++;
		}
	}
}

int loop_serve(rlsfs *fs, unsigned max_workers, rls_error *err)
{
	struct rls_loop lp = { .se = fs->se, .max = max_workers ? max_workers : 1 };
	struct sigaction sa = { .sa_handler = end_handler }, old[RLS_ARRAY_SIZE(end_signals)];
	int error;

	pthread_mutex_init(&lp.lock, NULL);
	fs->loop = &lp;
	promote(&lp);
	if (!lp.workers) {
		fs->loop = NULL;
		pthread_mutex_destroy(&lp.lock);
		return rls_error_set(err, EAGAIN, "cannot start a thread to serve requests");
	}
	atomic_store(&serving, &lp);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < RLS_ARRAY_SIZE(end_signals); i++)
		sigaction(end_signals[i], &sa, &old[i]);
	loop_watch(&lp);
	for (size_t i = 0; i < RLS_ARRAY_SIZE(end_signals); i++)
		sigaction(end_signals[i], &old[i], NULL);
	atomic_store(&serving, NULL);
	/* Ended by a signal or --watch-pid (the reader may still be blocked
	 * on the device), or by the unmount (every reader was told). */
	pthread_mutex_lock(&lp.lock);
	atomic_store(&lp.stop, true);
	for (loop_worker *w = lp.all; w; w = w->next) {
		pthread_cancel(w->thread);
		sem_post(&w->wake);
	}
	pthread_mutex_unlock(&lp.lock);
	while (lp.all) {
		loop_worker *w = lp.all;

		pthread_join(w->thread, NULL);
		lp.all = w->next;
		sem_destroy(&w->wake);
		free(w->buf.mem);
		free(w);
	}
	fs->loop = NULL;
	error = lp.error;
	pthread_mutex_destroy(&lp.lock);
	return error ? rls_error_set(err, error, "reading /dev/fuse") : 0;
}
