/* records.c - every record the delta reads back from disk, encoded and
 * decoded here and nowhere else: index nodes, inodes, index keys, folder
 * records, the commit journal's header and ops.
 *
 * What is on disk may have been damaged (a crash of the disk, a person with
 * an editor, a sandbox that once wrote its own delta): every decoder checks
 * every length and every field it hands on, and answers -1 for anything
 * that is not a record as the encoders write them.  t/fuzz/fuzz-index.c and
 * t/fuzz/fuzz-journal.c feed them arbitrary bytes. */
#include "delta-int.h"

#include <endian.h>

#define NODE_V 1
#define INODE_V 1

/* What an LMDB (negative) or errno (positive) result means, in *err: a
 * damaged index is EIO, a full one ENOSPC. */
_Thread_local bool delta_map_full_seen;

int delta_mdb_error(rls_error *err, int rc, const char *what)
{
	if (rc > 0)
		return rls_error_set(err, rc, "%s", what);
	switch (rc) {
	case MDB_MAP_FULL:
		delta_map_full_seen = true;
		return rls_error_set(err, ENOSPC, "%s: index full", what);
	case MDB_INVALID:
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_VERSION_MISMATCH:
		return rls_error_set(err, EIO, "%s: index is damaged (%s)", what, mdb_strerror(rc));
	default:
		return rls_error_set(err, EIO, "%s: %s", what, mdb_strerror(rc));
	}
}

/* ---- little-endian fields -------------------------------------------- */

static uint8_t *put8(uint8_t *p, uint8_t v) { *p = v; return p + 1; }
static uint8_t *put16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); return p + 2; }
static uint8_t *put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); return p + 4; }
static uint8_t *put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); return p + 8; }

struct reader {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t getn(struct reader *r, size_t n)
{
	uint64_t v = 0;

	if ((size_t)(r->end - r->p) < n) {
		r->bad = true;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	return v;
}

/* A string of a 16-bit length: its bytes and length, or NULL (bad set) when
 * the record is too short or the string holds a NUL, which would cut it
 * short. */
static const char *getbytes(struct reader *r, size_t *len)
{
	size_t n = getn(r, 2);
	const char *s = (const char *)r->p;

	if (r->bad || (size_t)(r->end - r->p) < n || memchr(r->p, '\0', n)) {
		r->bad = true;
		*len = 0;
		return NULL;
	}
	r->p += n;
	*len = n;
	return s;
}

static void getstr(struct reader *r, char *dst, size_t cap)
{
	size_t n;
	const char *s = getbytes(r, &n);

	if (!s || n >= cap) {
		r->bad = true;
		dst[0] = '\0';
		return;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static char *getstr_dup(struct reader *r)
{
	size_t n;
	const char *s = getbytes(r, &n);

	return s && n ? rls_xstrndup(s, n) : NULL;
}

/* ---- nodes and inodes ------------------------------------------------- */

size_t delta_pack_node(const delta_node *n, uint8_t buf[static DELTA_NODE_MAX])
{
	size_t tl = n->kind == DELTA_SYMLINK ? strnlen(n->target, DELTA_PATH_MAX - 1) : 0;
	uint8_t *p = buf;

	p = put8(p, NODE_V);
	p = put8(p, n->kind);
	p = put8(p, n->flags);
	p = put64(p, n->id);
	p = put16(p, (uint16_t)tl);
	memcpy(p, n->target, tl);
	return (size_t)(p - buf) + tl;
}

int delta_unpack_node(const void *data, size_t size, delta_node *n)
{
	struct reader r = { data, (const uint8_t *)data + size, false };

	if (getn(&r, 1) != NODE_V)
		return -1;
	n->kind = (uint8_t)getn(&r, 1);
	n->flags = (uint8_t)getn(&r, 1);
	n->id = getn(&r, 8);
	getstr(&r, n->target, sizeof n->target);
	if (n->kind < DELTA_WHITEOUT || n->kind > DELTA_BLK || (n->flags & ~DELTA_OPAQUE))
		return -1;
	return r.bad ? -1 : 0;
}

size_t delta_pack_inode(const delta_inode *i, uint8_t buf[static DELTA_INODE_MAX])
{
	size_t ol = i->flags & DELTA_HAS_BASE ? strnlen(i->origin, DELTA_PATH_MAX - 1) : 0;
	uint8_t *p = buf;

	p = put8(p, INODE_V);
	p = put32(p, i->mode);
	p = put32(p, i->uid);
	p = put32(p, i->gid);
	p = put32(p, i->nlink);
	p = put32(p, i->flags);
	p = put64(p, i->rdev);
	p = put64(p, (uint64_t)i->atime_ns);
	p = put64(p, (uint64_t)i->mtime_ns);
	p = put64(p, (uint64_t)i->ctime_ns);
	p = put64(p, i->size);
	p = put64(p, i->base.dev);
	p = put64(p, i->base.ino);
	p = put64(p, i->base.size);
	p = put64(p, (uint64_t)i->base.mtime_ns);
	p = put64(p, (uint64_t)i->base.ctime_ns);
	p = put64(p, i->base.xxh3);
	p = put8(p, i->base.has_hash);
	p = put16(p, (uint16_t)ol);
	memcpy(p, i->origin, ol);
	return (size_t)(p - buf) + ol;
}

int delta_unpack_inode(const void *data, size_t size, delta_inode *i)
{
	struct reader r = { data, (const uint8_t *)data + size, false };

	if (getn(&r, 1) != INODE_V)
		return -1;
	i->mode = (uint32_t)getn(&r, 4);
	i->uid = (uint32_t)getn(&r, 4);
	i->gid = (uint32_t)getn(&r, 4);
	i->nlink = (uint32_t)getn(&r, 4);
	i->flags = (uint32_t)getn(&r, 4);
	i->rdev = getn(&r, 8);
	i->atime_ns = (int64_t)getn(&r, 8);
	i->mtime_ns = (int64_t)getn(&r, 8);
	i->ctime_ns = (int64_t)getn(&r, 8);
	i->size = getn(&r, 8);
	i->base.dev = getn(&r, 8);
	i->base.ino = getn(&r, 8);
	i->base.size = getn(&r, 8);
	i->base.mtime_ns = (int64_t)getn(&r, 8);
	i->base.ctime_ns = (int64_t)getn(&r, 8);
	i->base.xxh3 = getn(&r, 8);
	i->base.has_hash = (uint8_t)getn(&r, 1);
	getstr(&r, i->origin, sizeof i->origin);
	return r.bad ? -1 : 0;
}

/* ---- keys and folder records ------------------------------------------ */

bool delta_name_ok(const char *name, size_t n)
{
	if (n == 0 || n > DELTA_NAME_MAX || memchr(name, '/', n) || memchr(name, '\0', n))
		return false;
	return !((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'));
}

size_t delta_pack_key(uint64_t parent, const char *name, size_t len, uint8_t buf[static DELTA_KEY_MAX])
{
	uint64_t be = htobe64(parent);

	memcpy(buf, &be, 8);
	memcpy(buf + 8, name, len);
	return 8 + len;
}

int delta_unpack_key(const void *data, size_t size, uint64_t *parent, const char **name, size_t *len)
{
	uint64_t be;

	if (size < 8)
		return -1;
	memcpy(&be, data, 8);
	*parent = be64toh(be);
	*name = (const char *)data + 8;
	*len = size - 8;
	/* the root's own node is the one key without a name */
	if (*len == 0)
		return *parent == DELTA_ROOT_KEY ? 0 : -1;
	return *parent != DELTA_ROOT_KEY && delta_name_ok(*name, *len) ? 0 : -1;
}

void delta_pack_dir(uint64_t id, uint8_t buf[static 8])
{
	uint64_t be = htobe64(id);

	memcpy(buf, &be, 8);
}

int delta_unpack_dir(const void *data, size_t size, uint64_t *id)
{
	uint64_t be;

	if (size != 8)
		return -1;
	memcpy(&be, data, 8);
	*id = be64toh(be);
	/* the root folder is no one's child; the root node's key is no folder */
	return *id == DELTA_ROOT_DIR || *id == DELTA_ROOT_KEY ? -1 : 0;
}

/* ---- the commit journal ----------------------------------------------- */

static void add_str(rls_buf *b, const char *s)
{
	uint16_t n = htole16((uint16_t)(s ? strlen(s) : 0));

	rls_buf_add(b, &n, 2);
	if (s)
		rls_buf_add(b, s, strlen(s));
}

#define ADD(b, v, conv) do { __typeof__(v) _x = conv(v); rls_buf_add(b, &_x, sizeof _x); } while (0)

void delta_pack_op(rls_buf *b, const struct delta_op *o)
{
	rls_buf_reset(b);
	rls_buf_addc(b, (char)o->kind);
	rls_buf_addc(b, (char)o->flags);
	ADD(b, o->id, htole64);
	ADD(b, o->mode, htole32);
	ADD(b, o->uid, htole32);
	ADD(b, o->gid, htole32);
	ADD(b, o->rdev, htole64);
	ADD(b, (uint64_t)o->atime_ns, htole64);
	ADD(b, (uint64_t)o->mtime_ns, htole64);
	ADD(b, o->size, htole64);
	add_str(b, o->path);
	add_str(b, o->target);
	ADD(b, o->data_dev, htole64);
	ADD(b, o->data_ino, htole64);
	ADD(b, o->tmp, htole64);
	add_str(b, o->link);
}

int delta_unpack_op(const void *buf, size_t len, struct delta_op *o)
{
	struct reader r = { buf, (const uint8_t *)buf + len, false };

	memset(o, 0, sizeof *o);
	o->kind = (uint8_t)getn(&r, 1);
	o->flags = (uint8_t)getn(&r, 1);
	o->id = getn(&r, 8);
	o->mode = (uint32_t)getn(&r, 4);
	o->uid = (uint32_t)getn(&r, 4);
	o->gid = (uint32_t)getn(&r, 4);
	o->rdev = getn(&r, 8);
	o->atime_ns = (int64_t)getn(&r, 8);
	o->mtime_ns = (int64_t)getn(&r, 8);
	o->size = getn(&r, 8);
	o->path = getstr_dup(&r);
	o->target = getstr_dup(&r);
	/* Version 2 added data_dev and data_ino at the end, version 3 tmp,
	 * version 4 link. */
	if (r.p != r.end) {
		o->data_dev = getn(&r, 8);
		o->data_ino = getn(&r, 8);
	}
	if (r.p != r.end)
		o->tmp = getn(&r, 8);
	if (r.p != r.end)
		o->link = getstr_dup(&r);
	if (!o->data_ino)
		o->flags &= (uint8_t)~DELTA_OPF_MOVE;
	/* Paths from disk: as the index writes them, never "/" itself (no op
	 * is planned for the root), and a hard link's first name likewise. */
	if (r.bad || !o->path || o->kind < DELTA_OP_DEL || o->kind > DELTA_OP_HOLD ||
	    !delta_path_ok(o->path, strlen(o->path)) || !strcmp(o->path, "/") ||
	    (o->kind == DELTA_OP_LINK && (!o->target || !delta_path_ok(o->target, strlen(o->target)) ||
					  !strcmp(o->target, "/"))) ||
	    (o->link && ((o->kind != DELTA_OP_SYMLINK && o->kind != DELTA_OP_NODE) ||
			 !delta_path_ok(o->link, strlen(o->link)) || !strcmp(o->link, "/")))) {
		free(o->path);
		free(o->target);
		free(o->link);
		o->path = o->target = o->link = NULL;
		return -1;
	}
	return 0;
}

void delta_pack_journal(const struct delta_journal *j, uint8_t buf[static DELTA_JOURNAL_SIZE])
{
	uint64_t nonce = htole64(j->nonce);
	uint32_t n = htole32(j->n_ops), done = htole32(j->done);

	buf[0] = DELTA_JOURNAL_V;
	buf[1] = j->phase;
	memset(buf + 2, 0, 6);
	memcpy(buf + 8, &nonce, 8);
	memcpy(buf + 16, &n, 4);
	memcpy(buf + 20, &done, 4);
}

int delta_unpack_journal(const void *buf, size_t len, struct delta_journal *j)
{
	struct reader r = { buf, (const uint8_t *)buf + len, false };
	uint64_t v = getn(&r, 1);

	if (len != DELTA_JOURNAL_SIZE || v < 1 || v > DELTA_JOURNAL_V)
		return -1;
	j->phase = (uint8_t)getn(&r, 1);
	getn(&r, 6);
	j->nonce = getn(&r, 8);
	j->n_ops = (uint32_t)getn(&r, 4);
	j->done = (uint32_t)getn(&r, 4);
	return r.bad || j->phase < 1 || j->phase > 2 || j->done > j->n_ops ? -1 : 0;
}

bool delta_path_ok(const char *p, size_t n)
{
	if (n == 0 || p[0] != '/' || memchr(p, '\0', n))
		return false;
	if (n == 1)
		return true;
	if (p[n - 1] == '/')
		return false;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		while (j < n && p[j] != '/')
			j++;
		if (!delta_name_ok(p + i + 1, j - i - 1))
			return false;
		i = j;
	}
	return true;
}
