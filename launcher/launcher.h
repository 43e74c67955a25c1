/* launcher.h - the whole public face of the launcher module (`rls`). */
#ifndef RLS_LAUNCHER_H
#define RLS_LAUNCHER_H

#include "../common/common.h"

/* The `rls` program: dispatches run / diff / commit / discard / policy /
 * doctor.  Returns the process exit status. */
int launcher_main(int argc, char **argv);

#endif
