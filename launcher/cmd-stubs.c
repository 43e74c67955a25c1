/* cmd-stubs.c - commands not built yet; each file replacing one removes it here. */
#include "launcher.h"
#include "commands.h"

#define NOT_YET(fn, name) \
	int fn(int argc, char **argv) { fprintf(stderr, "rls: %s: not available in this build\n", name); return 2; }
