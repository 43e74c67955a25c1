/* commit.c - journaled commit of a delta to its source, recovery, discard. */
#include "delta-int.h"

int delta_recover(delta *d, rls_error *err)
{
	return 0;
}

int delta_commit(delta *d, delta_conflict_mode mode, delta_commit_stats *stats, rls_error *err)
{
	return rls_error_set(err, ENOSYS, "commit");
}

int delta_discard(delta *d, rls_error *err)
{
	return rls_error_set(err, ENOSYS, "discard");
}

void delta_commit_stats_free(delta_commit_stats *stats)
{
	free(stats->conflict_paths);
	stats->conflict_paths = NULL;
}
