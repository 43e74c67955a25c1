/* delta-quota.c - what a mounted delta takes, its quota, and the bound on
 * the memory a subtree move may take. */
#include "../../delta/delta-int.h"
#include "tap.h"

#include <fcntl.h>
#include <sys/stat.h>

static delta_node file_node(uint64_t id)
{
	delta_node n;

	memset(&n, 0, sizeof n);
	n.kind = DELTA_FILE;
	n.id = id;
	return n;
}

static uint64_t data_bytes(delta *d)
{
	delta_usage u;
	rls_error err;

	return delta_get_usage(d, &u, &err) == 0 ? u.data_bytes : (uint64_t)-1;
}

/* Write len bytes at off through the bracket, as rlsfs does (with the
 * file's hold, or NULL); the errno, or 0.  *done gets what was written. */
static int grow_write_held(delta *d, delta_hold *h, int fd, off_t off, size_t len, size_t *done)
{
	static char buf[1 << 20];
	delta_grow g;
	rls_error err;
	ssize_t n;

	*done = 0;
	if (delta_grow_begin(d, h, fd, off, len, DELTA_GROW_CUT, &g, &err) < 0)
		return err.code;
	n = pwrite(fd, buf, g.len, off);
	delta_grow_end(d, &g);
	if (n < 0)
		return errno;
	*done = (size_t)n;
	return 0;
}

static int grow_write(delta *d, int fd, off_t off, size_t len, size_t *done)
{
	return grow_write_held(d, NULL, fd, off, len, done);
}

int main(void)
{
	char tmp[256], src[300], dir[300], path[600];
	delta *d = NULL;
	delta_txn *txn;
	delta_node n;
	rls_error err;
	size_t done;
	uint64_t id, id2;
	delta_hold *h1, *h2;
	int fd, fd2;

	snprintf(tmp, sizeof tmp, "%s/rls-delta-quota.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return 1;
	snprintf(src, sizeof src, "%s/src", tmp);
	snprintf(dir, sizeof dir, "%s/delta", tmp);
	TAP_MUST(mkdir(src, 0755));
	if (delta_open(dir, src, DELTA_CREATE | DELTA_MOUNT, &d, &err) < 0) {
		tap_diag("%s", err.msg);
		return 1;
	}

	/* entries */
	tap_ok(delta_set_quota(d, 0, 3, &err) == 0, "a quota of 3 entries is set");
	TAP_MUST(delta_begin(d, true, &txn, &err));
	n = file_node(0);
	n.kind = DELTA_DIR;
	tap_ok(delta_put(txn, "/a", &n, &err) == 0 && delta_put(txn, "/b", &n, &err) == 0 &&
	       delta_put(txn, "/c", &n, &err) == 0, "three entries fit");
	tap_is_int(delta_put(txn, "/d", &n, &err) < 0 ? err.code : 0, EDQUOT, "a fourth is EDQUOT");
	tap_is_int(delta_get(txn, "/d", &n, &err), 1, "and is not left in the index");
	n.flags = DELTA_OPAQUE;
	tap_ok(delta_put(txn, "/c", &n, &err) == 0, "an entry already there can still be changed");
	tap_ok(delta_del(txn, "/c", &err) == 0 && delta_put(txn, "/d", &n, &err) == 0,
	       "one removed makes room for another");
	tap_ok(delta_commit_txn(txn, &err) == 0, "and the transaction commits");

	/* size */
	tap_ok(delta_set_quota(d, 1 << 20, 0, &err) == 0, "a quota of 1 MiB is set");
	TAP_MUST(delta_begin(d, true, &txn, &err));
	TAP_MUST(delta_new_id(txn, &id, &err));
	fd = TAP_MUST(delta_data_create(d, id, &err));
	n = file_node(id);
	TAP_MUST(delta_put(txn, "/f", &n, &err));
	TAP_MUST(delta_new_id(txn, &id2, &err));
	fd2 = TAP_MUST(delta_data_create(d, id2, &err));
	n = file_node(id2);
	TAP_MUST(delta_put(txn, "/g", &n, &err));
	TAP_MUST(delta_commit_txn(txn, &err));
	tap_is_int(grow_write(d, fd, 0, 600 << 10, &done), 0, "600 KiB are written");
	tap_is_int(grow_write(d, fd2, 0, 600 << 10, &done), 0, "600 more, to another file, are cut short");
	tap_ok(done > 0 && done < (600 << 10), "where the quota ends (%zu bytes)", done);
	tap_is_int(grow_write(d, fd2, 700 << 10, 4096, &done), EDQUOT, "then a write is EDQUOT");
	tap_is_int(grow_write(d, fd, 4096, 4096, &done), 0, "an overwrite in place still works");
	tap_is_int(grow_write(d, fd, 2 << 20, 1, &done), EFBIG, "no file may be larger than the quota");
	tap_ok(data_bytes(d) <= 1 << 20 && data_bytes(d) >= 900 << 10, "the usage is what was allocated (%llu)",
	       (unsigned long long)data_bytes(d));
	close(fd2);

	/* a file unlinked while held counts until its last release */
	fd2 = dup(fd);
	h1 = delta_data_hold(d, fd, NULL);
	h2 = delta_data_hold(d, fd2, NULL);
	{
		uint64_t was = data_bytes(d);
		delta_grow g;

		tap_ok(delta_grow_begin(d, NULL, fd2, 200 << 10, 0, 0, &g, &err) == 0 && ftruncate(fd2, 200 << 10) == 0,
		       "a held file is truncated through a descriptor not held");
		delta_grow_end(d, &g);
		tap_ok(data_bytes(d) == was - (400 << 10), "which is counted at once");
		tap_is_int(grow_write_held(d, h1, fd, 300 << 10, 100 << 10, &done), 0,
			   "a write through the hold then finds the room");
		tap_ok(data_bytes(d) == was - (300 << 10), "and is counted (%llu, was %llu)",
		       (unsigned long long)data_bytes(d), (unsigned long long)was);
	}
	{
		uint64_t was = data_bytes(d);

		TAP_MUST(delta_begin(d, true, &txn, &err));
		TAP_MUST(delta_del(txn, "/f", &err));
		TAP_MUST(delta_del_inode(txn, id, &err));
		TAP_MUST(delta_commit_txn(txn, &err));
		tap_ok(data_bytes(d) == was, "a data file unlinked while open still counts");
		delta_data_release(d, h2);
		close(fd2);
		tap_ok(data_bytes(d) == was, "until the last descriptor goes");
		delta_data_release(d, h1);
		close(fd);
		tap_ok(data_bytes(d) == was - (300 << 10), "then it is uncharged (%llu left of %llu)",
		       (unsigned long long)data_bytes(d), (unsigned long long)was);
	}
	/* a file held and let go while it keeps its name keeps its charge */
	{
		uint64_t was = data_bytes(d);
		char name[17];
		struct stat st;

		delta_data_name(id2, name);
		fd2 = TAP_MUST(openat(delta_data_fd(d), name, O_RDONLY | O_CLOEXEC));
		TAP_MUST(fstat(fd2, &st));
		h2 = delta_data_hold(d, fd2, &st);
		delta_data_release(d, h2);
		close(fd2);
		tap_ok(was > 0 && data_bytes(d) == was, "a named file let go is still charged (%llu)",
		       (unsigned long long)data_bytes(d));
	}
	TAP_MUST(delta_begin(d, true, &txn, &err));
	TAP_MUST(delta_del(txn, "/g", &err));
	TAP_MUST(delta_del_inode(txn, id2, &err));
	TAP_MUST(delta_commit_txn(txn, &err));
	tap_is_int((long long)data_bytes(d), 0, "a data file unlinked while closed is uncharged at once");

	/* a copy-up needs room for the file */
	{
		delta_base base;
		int sfd;

		snprintf(path, sizeof path, "%s/big", src);
		sfd = TAP_MUST(open(path, O_RDWR | O_CREAT, 0644));
		(void)!ftruncate(sfd, 2 << 20);
		TAP_MUST(pwrite(sfd, "x", 1, 0));
		TAP_MUST(pwrite(sfd, "x", 1, (2 << 20) - 1));
		fsync(sfd);
		char kib[1024] = "";
		delta_usage u;

		TAP_MUST(delta_get_usage(d, &u, &err));
		TAP_MUST(delta_set_quota(d, u.index_bytes + (64 << 10), 0, &err));
		fd = delta_copy_up(d, 99, sfd, &base, &err);
		if (!tap_ok(fd >= 0, "a sparse file of 2 MiB is copied up into 64 KiB of room"))
			tap_diag("%s", err.msg);
		if (fd >= 0)
			close(fd);
		TAP_MUST(delta_set_quota(d, 1 << 20, 0, &err));
		snprintf(path, sizeof path, "%s/dense", src);
		close(sfd);
		sfd = TAP_MUST(open(path, O_RDWR | O_CREAT, 0644));
		for (int i = 0; i < 2048; i++)
			TAP_MUST(write(sfd, kib, sizeof kib));
		fd = delta_copy_up(d, 100, sfd, &base, &err);
		tap_is_int(fd < 0 ? err.code : 0, EDQUOT, "a dense file larger than the room left is EDQUOT");
		close(sfd);
	}

	/* a subtree move changes one folder record, whatever lies below:
	 * no copy in memory, no bound */
	TAP_MUST(delta_set_quota(d, 0, 0, &err));
	TAP_MUST(delta_begin(d, true, &txn, &err));
	{
		char key[512];
		int k = 0;
		MDB_stat before, after;
		bool any = true, moved = false;

		for (k = 0; k < 20000; k++) {
			snprintf(key, sizeof key, "/tree/%06d%0200d/f", k, 0);
			n = file_node(0);
			n.kind = DELTA_FIFO;
			if (delta_put(txn, key, &n, &err) < 0)
				break;
		}
		tap_is_int(k, 20000, "a folder of 20,000 folders with long names is made");
		mdb_stat(txn->t, d->nodes, &before);
		tap_is_int(delta_move_below(txn, "/tree", "/moved", &err), 0, "what is below it moves");
		mdb_stat(txn->t, d->nodes, &after);
		tap_ok(before.ms_entries == after.ms_entries && before.ms_leaf_pages == after.ms_leaf_pages &&
		       before.ms_branch_pages == after.ms_branch_pages,
		       "without touching one entry of the index");
		delta_has_below(txn, "/tree", &any, &err);
		delta_has_below(txn, "/moved", &moved, &err);
		snprintf(key, sizeof key, "/moved/%06d%0200d/f", 19999, 0);
		tap_ok(!any && moved && delta_get(txn, key, &n, &err) == 0 && n.kind == DELTA_FIFO,
		       "and every entry is found at its new path, none at the old");
	}
	delta_abort(txn);

	delta_close(d);
	{
		rls_error e2;
		int dfd = open("/", O_PATH);

		rls_rm_rf_at(dfd, tmp + 1, &e2);
		close(dfd);
	}
	return tap_done();
}
