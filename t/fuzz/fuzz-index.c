/* fuzz-index.c - libFuzzer target: the decoders of the index's records
 * (nodes, inodes, keys, folder records, paths), which read what is on disk
 * and may find it damaged.  The first byte picks the decoder, the rest is
 * the record.  A record that decodes must stay within its bytes (ASan),
 * hold only what its type allows, and encode back to a record that
 * decodes to the same thing. */
#include <stdint.h>
#include <stdlib.h>

#include "../../delta/delta-int.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void node(const uint8_t *p, size_t n)
{
	delta_node a, b;
	uint8_t buf[DELTA_NODE_MAX];

	if (delta_unpack_node(p, n, &a) < 0)
		return;
	CHECK(a.kind >= DELTA_WHITEOUT && a.kind <= DELTA_BLK && !(a.flags & ~DELTA_OPAQUE));
	CHECK(strlen(a.target) < sizeof a.target);
	CHECK(delta_unpack_node(buf, delta_pack_node(&a, buf), &b) == 0);
	CHECK(a.kind == b.kind && a.flags == b.flags && a.id == b.id);
	CHECK(a.kind != DELTA_SYMLINK || !strcmp(a.target, b.target));
}

static void inode(const uint8_t *p, size_t n)
{
	delta_inode a, b;
	uint8_t buf[DELTA_INODE_MAX];

	if (delta_unpack_inode(p, n, &a) < 0)
		return;
	CHECK(strlen(a.origin) < sizeof a.origin);
	CHECK(delta_unpack_inode(buf, delta_pack_inode(&a, buf), &b) == 0);
	CHECK(a.mode == b.mode && a.uid == b.uid && a.gid == b.gid && a.nlink == b.nlink && a.flags == b.flags);
	CHECK(a.rdev == b.rdev && a.mtime_ns == b.mtime_ns && a.size == b.size && a.base.xxh3 == b.base.xxh3);
	CHECK(!(a.flags & DELTA_HAS_BASE) || !strcmp(a.origin, b.origin));
}

static void key(const uint8_t *p, size_t n)
{
	uint8_t buf[DELTA_KEY_MAX];
	uint64_t parent;
	const char *name;
	size_t len;

	if (delta_unpack_key(p, n, &parent, &name, &len) < 0)
		return;
	CHECK(len <= DELTA_NAME_MAX && name >= (const char *)p && name + len <= (const char *)p + n);
	CHECK(len ? delta_name_ok(name, len) && !memchr(name, '/', len) : parent == DELTA_ROOT_KEY);
	CHECK(delta_pack_key(parent, name, len, buf) == n && !memcmp(buf, p, n));
}

static void dir(const uint8_t *p, size_t n)
{
	uint8_t buf[8];
	uint64_t id;

	if (delta_unpack_dir(p, n, &id) < 0)
		return;
	CHECK(id != DELTA_ROOT_DIR && id != DELTA_ROOT_KEY);
	delta_pack_dir(id, buf);
	CHECK(n == 8 && !memcmp(buf, p, 8));
}

static void path(const uint8_t *p, size_t n)
{
	if (!delta_path_ok((const char *)p, n))
		return;
	CHECK(n >= 1 && p[0] == '/' && !memchr(p, '\0', n) && (n == 1 || p[n - 1] != '/'));
	CHECK(!memmem(p, n, "//", 2) && !memmem(p, n, "/./", 3) && !memmem(p, n, "/../", 4));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void (*const which[])(const uint8_t *, size_t) = { node, inode, key, dir, path };
	uint8_t *copy;

	if (size == 0)
		return 0;
	/* a copy of exactly the record's size: a read past it is ASan's */
	copy = malloc(size - 1 ? size - 1 : 1);
	memcpy(copy, data + 1, size - 1);
	which[data[0] % RLS_ARRAY_SIZE(which)](copy, size - 1);
	free(copy);
	return 0;
}
