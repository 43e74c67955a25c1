/* rlsfs.c - placeholder until the overlay lands. */
#include "fs.h"

int rlsfs_main(int argc, char **argv)
{
	fputs("rlsfs: not available in this build\n", stderr);
	return 2;
}
