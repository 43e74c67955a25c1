/* fs.h - the whole public face of the rlsfs module. */
#ifndef RLS_FS_H
#define RLS_FS_H

#include "../common/common.h"

/* The `rlsfs` program: mount / umount.  Returns the exit status. */
int rlsfs_main(int argc, char **argv);

#endif
