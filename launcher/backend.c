/* backend.c - the backends `rls run` can use, looked up by name.
 *
 * The orchestration (run.c) knows none of them by name: it mounts the
 * tree, prepares a backend_ctx and calls the chosen backend's run(), as
 * crun looks up its handlers.  The first entry is the default.
 */
#include "launcher.h"
#include "run.h"

const backend *const run_backends[] = {
	&backend_bwrap,
	&backend_oci,
	&backend_vm,
	NULL,
};

const backend *backend_by_name(const char *name)
{
	for (const backend *const *b = run_backends; *b; b++)
		if (!strcmp((*b)->name, name))
			return *b;
	return NULL;
}
