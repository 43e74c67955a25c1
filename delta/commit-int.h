/* commit-int.h - what the files of a commit share (commit.c, plan.c,
 * apply.c, journal.c); not public, not for the rest of the module.
 *
 *   commit.c   delta_commit, delta_discard, delta_recover: locks, and the
 *              order of the steps below
 *   plan.c     the ops a commit will do, from the index and the source
 *   journal.c  the ops written to the index's journal and read back
 *   apply.c    the ops done to the source, batched and synced
 */
#ifndef RLS_DELTA_COMMIT_INT_H
#define RLS_DELTA_COMMIT_INT_H

#include "delta-int.h"

#define BATCH_FILES 1024
#define BATCH_BYTES ((uint64_t)128 << 20)

/* Paths that conflicted, one string each and NULL after the last: a name
 * may hold any byte but NUL, so no separator could keep two apart. */
struct delta_path_list {
	char **v;
	size_t n, cap;
};

static inline void delta_path_list_add(struct delta_path_list *l, const char *path)
{
	if (l->n + 2 > l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->v = rls_xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = rls_xstrdup(path);
	l->v[l->n] = NULL;
}

static inline void delta_path_list_free(struct delta_path_list *l)
{
	for (size_t i = 0; l->v && i < l->n; i++)	/* v may have been handed on */
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* The state of one execution (a commit or a recovery). */
struct delta_run {
	delta *d;
	int src_fd;
	struct delta_journal j;
	struct delta_op *ops;
	size_t n_ops;
	long crash_after, steps;
	size_t batch_files;
	bool root;
	uint64_t src_dev;
	/* DELTA/data is not on the source root's filesystem: nothing is
	 * moved (so every move lands on the filesystem syncfs(src_fd) syncs). */
	bool data_other_fs;
	/* A filesystem a move was refused into (EXDEV although st_dev matched:
	 * another mount of it); files into it are copied from then on. */
	bool have_exdev;
	uint64_t exdev_dev;
	/* Parent directory cache for runs of files in one directory; while
	 * `cache_pinned`, the fd belongs to `dirs` (the batch uses it). */
	char *cache_dir;
	int cache_fd;
	bool cache_pinned;
	bool cache_dev_known;
	uint64_t cache_dev;
	/* Files waiting for the next syncfs before their rename: staged copies
	 * (temporary names) and moves (data files with their attributes set). */
	struct staged {
		int dir_fd;	/* borrowed from `dirs` or r->src_fd */
		bool move;
		char *name;	/* points into r->ops[op].path */
		size_t op;
	} *batch;
	size_t n_batch;
	uint64_t batch_bytes;
	int *dirs;		/* directory fds the batch holds */
	size_t n_dirs, cap_dirs;
	struct delta_path_list conflicts;
	unsigned late_conflicts;
	struct delta_path_list setid;	/* paths whose set-id bits were dropped */
};


/* journal.c */
void delta_free_ops(struct delta_op *ops, size_t n);
/* Write the journal header in its own durable transaction. */
int delta_journal_mark(struct delta_run *r, rls_error *err);
/* Write the ops and the header, durably. */
int delta_journal_write(struct delta_run *r, rls_error *err);
/* Read the header (and with `ops` the ops): 0, 1 when there is no journal. */
int delta_journal_read(delta *d, struct delta_journal *j, struct delta_op **ops, rls_error *err);
/* Remove the journal; with `clear_index` clear the index but the symlinks
 * held back and move the journal to phase 2. */
int delta_journal_finish(delta *d, bool clear_index, struct delta_journal *j, const struct delta_op *ops,
			 size_t n_ops, rls_error *err);

/* apply.c */
void delta_run_init(struct delta_run *r, delta *d, int src_fd);
void delta_run_free(struct delta_run *r);
/* Test hook: exit at the step RLS_COMMIT_CRASH_AFTER names. */
void delta_run_step(struct delta_run *r);
/* Do the journal's ops from where it says, then empty the delta. */
int delta_run_finish(struct delta_run *r, rls_error *err);
/* Remove temporary names a crash left in the source. */
void delta_run_sweep(struct delta_run *r);

/* plan.c */
/* Fill buf from the kernel's random pool. */
int delta_random_bytes(void *buf, size_t n, rls_error *err);
/* Fill r->ops from the index (and stats with what conflicts and is
 * held back); 1 when `mode` is DELTA_CONFLICT_FAIL and something conflicts. */
int delta_plan(struct delta_run *r, delta_conflict_mode mode, unsigned flags, delta_commit_stats *stats, rls_error *err);

#endif
