/* main.c - `rlsfs`: the FUSE overlay's command line. */
#include "fs.h"

int main(int argc, char **argv)
{
	return rlsfs_main(argc, argv);
}
