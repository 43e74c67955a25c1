/* delta-index.c - the delta's index: nodes, inodes, listings, subtree
 * moves, persistence and the locks taken by delta_open. */
#include "../../delta/delta.h"
#include "tap.h"

#include <fcntl.h>
#include <sys/stat.h>

static char tmp[256];

static delta_node mknode(uint8_t kind, uint64_t id, const char *target)
{
	delta_node n;

	memset(&n, 0, sizeof n);
	n.kind = kind;
	n.id = id;
	if (target)
		snprintf(n.target, sizeof n.target, "%s", target);
	return n;
}

static int collect(const char *name, const delta_node *node, void *opaque)
{
	rls_buf *b = opaque;

	if (b->len)
		rls_buf_addc(b, ' ');
	rls_buf_adds(b, name);
	return 0;
}

static char *list(delta *d, const char *dir)
{
	delta_txn *txn;
	rls_error err;
	rls_buf b = { 0 };

	if (delta_begin(d, false, &txn, &err) < 0)
		return rls_xstrdup(err.msg);
	if (delta_list(txn, dir, collect, &b, &err) < 0)
		rls_buf_adds(&b, err.msg);
	delta_abort(txn);
	rls_buf_add(&b, "", 0);
	return b.data;
}

static char *walk(delta *d)
{
	delta_txn *txn;
	rls_error err;
	rls_buf b = { 0 };

	if (delta_begin(d, false, &txn, &err) < 0)
		return rls_xstrdup(err.msg);
	if (delta_walk(txn, collect, &b, &err) < 0)
		rls_buf_adds(&b, err.msg);
	delta_abort(txn);
	rls_buf_add(&b, "", 0);
	return b.data;
}

static int stop_at_second(const char *name, const delta_node *node, void *opaque)
{
	int *n = opaque;

	return ++*n == 2 ? 42 : 0;
}

int main(void)
{
	char src[300], dir[300], other[300];
	delta *d = NULL, *d2 = NULL;
	delta_txn *txn = NULL;
	delta_node n;
	delta_inode ino, got;
	rls_error err;
	uint64_t id1 = 0, id2 = 0;
	bool below;
	char *s;

	snprintf(tmp, sizeof tmp, "%s/rls-delta-index.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return 1;
	snprintf(src, sizeof src, "%s/src", tmp);
	snprintf(dir, sizeof dir, "%s/delta", tmp);
	snprintf(other, sizeof other, "%s/other", tmp);
	TAP_MUST(mkdir(src, 0755));
	TAP_MUST(mkdir(other, 0755));

	tap_ok(delta_open(dir, src, 0, &d, &err) < 0 && err.code == ENOENT,
	       "opening a missing delta without DELTA_CREATE fails with ENOENT");
	if (!tap_ok(delta_open(dir, src, DELTA_CREATE, &d, &err) == 0, "a delta is created"))
		tap_diag("%s", err.msg);
	tap_ok(strcmp(delta_source(d), src) == 0, "the source's real path is recorded");
	tap_ok(delta_data_fd(d) >= 0, "the data directory has a descriptor");

	/* ids */
	TAP_MUST(delta_begin(d, true, &txn, &err));
	TAP_MUST(delta_new_id(txn, &id1, &err));
	TAP_MUST(delta_new_id(txn, &id2, &err));
	tap_ok(id1 > 0 && id2 > id1, "new ids are fresh and increasing (%llu, %llu)",
	       (unsigned long long)id1, (unsigned long long)id2);

	/* nodes */
	n = mknode(DELTA_DIR, 0, NULL);
	TAP_MUST(delta_put(txn, "/", &n, &err));
	TAP_MUST(delta_put(txn, "/a", &n, &err));
	TAP_MUST(delta_put(txn, "/a/b", &n, &err));
	n = mknode(DELTA_FILE, id1, NULL);
	TAP_MUST(delta_put(txn, "/a/b/deep", &n, &err));
	TAP_MUST(delta_put(txn, "/a/file", &n, &err));
	n = mknode(DELTA_SYMLINK, id2, "../target/with/a/long/path");
	TAP_MUST(delta_put(txn, "/a/link", &n, &err));
	n = mknode(DELTA_WHITEOUT, 0, NULL);
	TAP_MUST(delta_put(txn, "/a-b", &n, &err));
	TAP_MUST(delta_put(txn, "/a0", &n, &err));
	TAP_MUST(delta_put(txn, "/z", &n, &err));
	n = mknode(DELTA_DIR, 0, NULL);
	n.flags = DELTA_OPAQUE;
	TAP_MUST(delta_put(txn, "/a/b/c", &n, &err));
	n = mknode(DELTA_WHITEOUT, 0, NULL);
	TAP_MUST(delta_put(txn, "/a/b/c/gone", &n, &err));
	TAP_MUST(delta_put(txn, "/a/.wh.x", &n, &err));

	memset(&ino, 0, sizeof ino);
	ino.mode = S_IFREG | 0644;
	ino.uid = 1000;
	ino.gid = 100;
	ino.nlink = 2;
	ino.flags = DELTA_HAS_BASE;
	ino.mtime_ns = 1234567890123456789LL;
	ino.base.dev = 7;
	ino.base.ino = 99;
	ino.base.xxh3 = 0xdeadbeefcafef00dULL;
	ino.base.has_hash = 1;
	snprintf(ino.origin, sizeof ino.origin, "/a/file");
	tap_ok(delta_put_inode(txn, id1, &ino, &err) == 0, "an inode is stored");
	ino.nlink = 1;
	ino.flags = 0;
	ino.mode = S_IFLNK | 0777;
	TAP_MUST(delta_put_inode(txn, id2, &ino, &err));
	tap_ok(delta_commit_txn(txn, &err) == 0, "the write transaction commits");

	TAP_MUST(delta_begin(d, false, &txn, &err));
	tap_is_int(delta_get(txn, "/a/link", &n, &err), 0, "a stored node is found");
	tap_ok(n.kind == DELTA_SYMLINK && n.id == id2 && !strcmp(n.target, "../target/with/a/long/path"),
	       "a symlink node keeps kind, id and target");
	tap_is_int(delta_get(txn, "/a/b/c", &n, &err), 0, "an opaque dir is found");
	tap_is_int(n.flags, DELTA_OPAQUE, "the opaque flag is kept");
	tap_is_int(delta_get(txn, "/nope", &n, &err), 1, "a missing path gives 1");
	memset(&got, 0, sizeof got);
	tap_is_int(delta_get_inode(txn, id1, &got, &err), 0, "a stored inode is found");
	tap_ok(got.mode == (S_IFREG | 0644) && got.uid == 1000 && got.gid == 100 && got.nlink == 2 &&
	       got.mtime_ns == 1234567890123456789LL && got.base.ino == 99 &&
	       got.base.xxh3 == 0xdeadbeefcafef00dULL && got.base.has_hash && !strcmp(got.origin, "/a/file"),
	       "an inode keeps every field, base and origin");
	tap_is_int(delta_get_inode(txn, 424242, &got, &err), 1, "an unknown inode gives 1");
	tap_ok(delta_put(txn, "/x", &n, &err) < 0 && err.code == EBADF, "a read transaction refuses writes");
	delta_abort(txn);

	s = list(d, "/");
	tap_is_str(s, "a a-b a0 z", "listing the root shows its direct children in byte order");
	free(s);
	s = list(d, "/a");
	tap_is_str(s, ".wh.x b file link", "listing skips whole deeper subtrees; .wh. names are plain names");
	free(s);
	s = list(d, "/a/b/c");
	tap_is_str(s, "gone", "entries below an opaque dir are listed");
	free(s);
	s = list(d, "/empty");
	tap_is_str(s, "", "listing a directory without entries is empty");
	free(s);
	s = walk(d);
	tap_is_str(s, "/ /a /a/.wh.x /a/b /a/b/c /a/b/c/gone /a/b/deep /a/file /a/link /a-b /a0 /z",
		   "the walk visits every entry, parents before children");
	free(s);
	{
		int count = 0;

		TAP_MUST(delta_begin(d, false, &txn, &err));
		tap_is_int(delta_walk(txn, stop_at_second, &count, &err), 42,
			   "a callback's non-zero result stops the walk and is returned");
		delta_abort(txn);
	}

	TAP_MUST(delta_begin(d, false, &txn, &err));
	TAP_MUST(delta_has_below(txn, "/a/b", &below, &err));
	tap_ok(below, "/a/b has entries below it");
	TAP_MUST(delta_has_below(txn, "/a/link", &below, &err));
	tap_ok(!below, "a leaf has none");
	TAP_MUST(delta_has_below(txn, "/a-", &below, &err));
	tap_ok(!below, "a name that is only a prefix of siblings has none");
	{
		rls_buf b = { 0 };

		tap_is_int(delta_each_below(txn, "/a", collect, &b, &err), 0, "every entry below a directory is visited");
		rls_buf_add(&b, "", 0);
		tap_is_str(b.data, "/a/.wh.x /a/b /a/b/c /a/b/c/gone /a/b/deep /a/file /a/link",
			   "at every depth, parents first, and not the siblings that only share a prefix");
		rls_buf_free(&b);
	}
	delta_abort(txn);

	/* move_below */
	TAP_MUST(delta_begin(d, true, &txn, &err));
	tap_ok(delta_move_below(txn, "/a/b", "/q", &err) == 0, "moving a subtree works");
	n = mknode(DELTA_DIR, 0, NULL);
	TAP_MUST(delta_del(txn, "/a/b", &err));
	TAP_MUST(delta_put(txn, "/q", &n, &err));
	TAP_MUST(delta_commit_txn(txn, &err));
	s = walk(d);
	tap_is_str(s, "/ /a /a/.wh.x /a/file /a/link /a-b /a0 /q /q/c /q/c/gone /q/deep /z",
		   "every entry below the old name is now below the new one");
	free(s);

	/* del_below and nlink */
	TAP_MUST(delta_begin(d, true, &txn, &err));
	tap_ok(delta_del_below(txn, "/q", &err) == 0, "deleting a subtree works");
	TAP_MUST(delta_get_inode(txn, id1, &got, &err));
	tap_is_int(got.nlink, 1, "an inode losing one of its names has its count lowered");
	tap_is_int(delta_del(txn, "/a/link", &err), 0, "deleting a node works");
	tap_is_int(delta_del(txn, "/a/link", &err), 1, "deleting a missing node gives 1");
	TAP_MUST(delta_commit_txn(txn, &err));
	s = walk(d);
	tap_is_str(s, "/ /a /a/.wh.x /a/file /a-b /a0 /q /z", "only the subtree went");
	free(s);

	/* data files and del_inode */
	{
		char path[400], name[17];
		int fd = TAP_MUST(delta_data_create(d, id1, &err));
		struct stat st;

		tap_ok(fd >= 0 && write(fd, "hello", 5) == 5, "a data file is created and written");
		close(fd);
		delta_data_name(id1, name);
		tap_is_int(strlen(name), 16, "data names are 16 hex digits");
		snprintf(path, sizeof path, "%s/data/%s", dir, name);
		TAP_MUST(delta_begin(d, true, &txn, &err));
		TAP_MUST(delta_del(txn, "/a/file", &err));
		TAP_MUST(delta_del_inode(txn, id1, &err));
		tap_ok(stat(path, &st) == 0, "the data file stays until the transaction commits");
		TAP_MUST(delta_commit_txn(txn, &err));
		tap_ok(stat(path, &st) < 0 && errno == ENOENT, "then it is unlinked");
		TAP_MUST(delta_begin(d, true, &txn, &err));
		tap_is_int(delta_get_inode(txn, id1, &got, &err), 1, "and the inode is forgotten");
		fd = TAP_MUST(delta_data_create(d, id2, &err));
		close(fd);
		TAP_MUST(delta_del_inode(txn, id2, &err));
		delta_abort(txn);
		delta_data_name(id2, name);
		snprintf(path, sizeof path, "%s/data/%s", dir, name);
		tap_ok(stat(path, &st) == 0, "an aborted transaction unlinks nothing");
	}

	/* long paths: no key holds more than a name, so any legal path fits */
	{
		char longp[DELTA_PATH_MAX], moved[DELTA_PATH_MAX], name[300];
		size_t at = 0;

		while (at < 4000 - 200) {
			longp[at++] = '/';
			memset(longp + at, 'x', 199);
			at += 199;
		}
		memcpy(longp + at, "/f", 3);	/* 3,802 bytes, 20 folders deep */
		TAP_MUST(delta_begin(d, true, &txn, &err));
		n = mknode(DELTA_FILE, 77, NULL);
		tap_is_int(delta_put(txn, longp, &n, &err), 0, "a path of %zu bytes is written", strlen(longp));
		memset(&n, 0, sizeof n);
		tap_ok(delta_get(txn, longp, &n, &err) == 0 && n.kind == DELTA_FILE && n.id == 77, "and read back");
		{
			rls_buf b = { 0 };
			char folder[DELTA_PATH_MAX];

			snprintf(folder, sizeof folder, "%.*s", (int)(strlen(longp) - 2), longp);
			tap_ok(delta_list(txn, folder, collect, &b, &err) == 0 && !strcmp(b.data ? b.data : "", "f"),
			       "and listed in its folder");
			rls_buf_free(&b);
		}
		{
			char far[600];

			memset(far, 'z', 513);
			far[0] = far[256] = '/';
			far[513] = '\0';
			snprintf(name, sizeof name, "%.200s", longp);
			tap_ok(delta_move_below(txn, name, far, &err) < 0 && err.code == ENAMETOOLONG &&
			       delta_get(txn, longp, &n, &err) == 0,
			       "a move that would make a path below it 4,096 bytes long is ENAMETOOLONG, and moves nothing");
		}
		snprintf(moved, sizeof moved, "/m%s", longp + 200);
		snprintf(name, sizeof name, "%.200s", longp);
		tap_ok(delta_move_below(txn, name, "/m", &err) == 0 &&
		       delta_get(txn, moved, &n, &err) == 0 && delta_get(txn, longp, &n, &err) == 1,
		       "its top folder moves, and it with it");
		tap_ok(delta_del(txn, moved, &err) == 0 && delta_get(txn, moved, &n, &err) == 1, "and it is deleted");
		below = true;
		tap_ok(delta_has_below(txn, "/m", &below, &err) == 0 && !below,
		       "leaving no folder record behind");
		memset(name, 'y', 257);
		name[0] = '/';
		name[257] = '\0';
		tap_ok(delta_put(txn, name, &n, &err) < 0 && err.code == ENAMETOOLONG,
		       "a name longer than 255 bytes is ENAMETOOLONG");
		tap_is_int(delta_get(txn, name, &n, &err), 1, "but looking it up finds nothing, without an error");
		tap_is_int(delta_del(txn, name, &err), 1, "deleting it finds nothing either");
		{
			rls_buf b = { 0 };

			tap_ok(delta_list(txn, name, collect, &b, &err) == 0 && b.len == 0 &&
			       delta_each_below(txn, name, collect, &b, &err) == 0 && b.len == 0,
			       "listing below it finds nothing, without an error");
			rls_buf_free(&b);
		}
		delta_abort(txn);
	}

	/* persistence */
	delta_close(d);
	d = NULL;
	tap_ok(delta_open(dir, NULL, 0, &d, &err) == 0, "the delta reopens");
	s = walk(d);
	tap_is_str(s, "/ /a /a/.wh.x /a-b /a0 /q /z", "its entries survived close and reopen");
	free(s);
	TAP_MUST(delta_begin(d, true, &txn, &err));
	uint64_t id3 = 0;
	TAP_MUST(delta_new_id(txn, &id3, &err));
	delta_abort(txn);
	tap_ok(id3 > id2, "ids are not reused after reopening");
	tap_ok(!delta_is_mounted(d), "a delta opened without DELTA_MOUNT is not mounted");
	delta_close(d);
	d = NULL;

	/* locks and checks */
	tap_ok(delta_open(dir, src, DELTA_MOUNT, &d, &err) == 0, "the delta opens for mounting");
	tap_ok(delta_open(dir, src, DELTA_MOUNT, &d2, &err) < 0 && err.code == EBUSY,
	       "a second mount open is refused with EBUSY");
	tap_ok(strstr(err.msg, "mounted") != NULL, "saying it is mounted: %s", err.msg);
	tap_ok(delta_open(dir, src, 0, &d2, &err) == 0, "a plain open still works while mounted");
	tap_ok(d2 && delta_is_mounted(d2), "and sees the delta as mounted");
	delta_close(d2);
	d2 = NULL;
	delta_close(d);
	d = NULL;
	tap_ok(delta_open(dir, other, 0, &d, &err) < 0 && err.code == EINVAL,
	       "opening with another source is refused");
	tap_ok(strstr(err.msg, "belongs to") != NULL, "naming the recorded source: %s", err.msg);
	tap_ok(delta_open(src, NULL, 0, &d, &err) < 0, "a directory that is not a delta is refused");

	{
		char cmd[700];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			tap_diag("cleanup failed");
	}
	return tap_done();
}
