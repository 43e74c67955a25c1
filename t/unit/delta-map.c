/* delta-map.c - a mounted delta's index written through its map on a
 * tmpfs (rls-delta(7), THE INDEX'S ROOM): a change larger than the map's
 * room fails with ENOSPC and the next finds the room grown, with a block
 * behind every page of the map all along. */
#include "../../delta/delta.h"
#include "tap.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#define NAMES 8000

static char tmp[256];

/* Put NAMES entries of long names in one transaction: 0, or -1 with the
 * error of the put or the commit that failed. */
static int put_many(delta *d, rls_error *err)
{
	delta_txn *txn;
	delta_node n;
	char path[300];

	if (delta_begin(d, true, &txn, err) < 0)
		return -1;
	memset(&n, 0, sizeof n);
	n.kind = DELTA_WHITEOUT;
	for (int i = 0; i < NAMES; i++) {
		snprintf(path, sizeof path, "/%05d-%0240d", i, 0);
		if (delta_put(txn, path, &n, err) < 0) {
			delta_abort(txn);
			return -1;
		}
	}
	return delta_commit_txn(txn, err);
}

static int count(const char *name, const delta_node *node, void *opaque)
{
	(*(int *)opaque)++;
	return 0;
}

int main(void)
{
	char src[300], dir[300], index[320];
	struct statfs sf;
	struct stat st;
	delta *d = NULL;
	delta_txn *txn;
	rls_error err;
	int n = 0;

	if (statfs("/dev/shm", &sf) < 0 || (unsigned long)sf.f_type != TMPFS_MAGIC) {
		tap_skip("no tmpfs at /dev/shm");
		return tap_done();
	}
	snprintf(tmp, sizeof tmp, "/dev/shm/rls-delta-map.XXXXXX");
	if (!mkdtemp(tmp))
		return 1;
	snprintf(src, sizeof src, "%s/src", tmp);
	snprintf(dir, sizeof dir, "%s/delta", tmp);
	snprintf(index, sizeof index, "%s/index/data.mdb", dir);
	TAP_MUST(mkdir(src, 0755));

	if (!tap_ok(delta_open(dir, src, DELTA_CREATE | DELTA_MOUNT, &d, &err) == 0, "a mounted delta opens"))
		tap_diag("%s", err.msg);
	TAP_MUST(stat(index, &st));
	tap_is_int(st.st_size, 1 << 20, "its index is mapped at 1 MiB");
	tap_ok(st.st_blocks * 512 >= st.st_size, "with a block behind every page");

	tap_ok(put_many(d, &err) < 0 && err.code == ENOSPC,
	       "a change larger than the map's room fails with ENOSPC (%s)", err.msg);
	if (!tap_ok(put_many(d, &err) == 0, "the same change made again fits: the map grew for it"))
		tap_diag("%s", err.msg);
	TAP_MUST(stat(index, &st));
	tap_ok(st.st_size > 1 << 20 && st.st_size < 64 << 20, "the index grew to %lld bytes",
	       (long long)st.st_size);
	tap_ok(st.st_blocks * 512 >= st.st_size, "with a block behind every page");
	TAP_MUST(delta_begin(d, false, &txn, &err));
	TAP_MUST(delta_list(txn, "/", count, &n, &err));
	delta_abort(txn);
	tap_is_int(n, NAMES, "every entry is there");
	delta_close(d);

	TAP_MUST(delta_open(dir, src, 0, &d, &err));
	n = 0;
	TAP_MUST(delta_begin(d, false, &txn, &err));
	TAP_MUST(delta_list(txn, "/", count, &n, &err));
	delta_abort(txn);
	tap_is_int(n, NAMES, "and read by a process that does not write through a map");
	delta_close(d);

	{
		char cmd[300];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			tap_diag("could not remove %s", tmp);
	}
	return tap_done();
}
