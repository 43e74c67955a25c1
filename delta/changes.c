/* changes.c - what a delta changes in its source: `rls diff`. */
#include "delta-int.h"

int delta_changes(delta *d, delta_change_fn fn, void *opaque, rls_error *err)
{
	return rls_error_set(err, ENOSYS, "changes");
}
