/* changes.c - what a delta changes in its source (`rls diff`), and the
 * comparisons commit shares with it. */
#include "delta-int.h"

#include <fcntl.h>
#include <sys/stat.h>

int delta_source_path(const delta *d, const char *path, char *buf, size_t cap, rls_error *err)
{
	int n = snprintf(buf, cap, "%s%s", d->source, strcmp(path, "/") ? path : "");

	if (n < 0 || (size_t)n >= cap)
		return rls_error_set(err, ENAMETOOLONG, "%s%s", d->source, path);
	return 0;
}

void delta_free_entries(delta_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].path);
		free(e[i].target);
		free(e[i].origin);
	}
	free(e);
}

struct load {
	delta *d;
	delta_txn *txn;
	delta_entry *v;
	size_t n, cap;
	rls_error *err;
};

static int load_one(const char *path, const delta_node *node, void *opaque)
{
	struct load *l = opaque;
	delta_entry *e;
	delta_inode ino;
	int r;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = rls_xrealloc(l->v, l->cap * sizeof *l->v);
	}
	e = &l->v[l->n++];
	memset(e, 0, sizeof *e);
	e->path = rls_xstrdup(path);
	e->kind = node->kind;
	e->flags = node->flags;
	e->id = node->id;
	if (node->kind == DELTA_SYMLINK)
		e->target = rls_xstrdup(node->target);
	if (node->id) {
		r = delta_get_inode(l->txn, node->id, &ino, l->err);
		if (r < 0)
			return -1;
		if (r == 0) {
			e->has_inode = true;
			e->mode = ino.mode;
			e->uid = ino.uid;
			e->gid = ino.gid;
			e->iflags = ino.flags;
			e->rdev = ino.rdev;
			e->atime_ns = ino.atime_ns;
			e->mtime_ns = ino.mtime_ns;
			e->size = ino.size;
			if (ino.flags & DELTA_HAS_BASE) {
				e->base = ino.base;
				e->origin = rls_xstrdup(ino.origin);
			}
		}
	}
	if (node->kind == DELTA_FILE) {
		char name[17];
		struct stat st;

		if (!e->has_inode) {
			rls_error_set(l->err, EIO, "%s: damaged delta: file without inode", path);
			return -1;
		}
		delta_data_name(node->id, name);
		if (fstatat(l->d->data_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rls_error_set(l->err, errno, "%s: damaged delta: data file %s", path, name);
			return -1;
		}
		e->size = (uint64_t)st.st_size;
		e->atime_ns = delta_ts_ns(&st.st_atim);
		e->mtime_ns = delta_ts_ns(&st.st_mtim);
	}
	return 0;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const delta_entry *)a)->path, ((const delta_entry *)b)->path);
}

int delta_load_entries(delta *d, delta_entry **out, size_t *n, rls_error *err)
{
	struct load l = { .d = d, .err = err };
	int r;

	if (delta_begin(d, false, &l.txn, err) < 0)
		return -1;
	r = delta_walk(l.txn, load_one, &l, err);
	delta_abort(l.txn);
	if (r != 0) {
		delta_free_entries(l.v, l.n);
		return -1;
	}
	/* the walk goes folder by folder ("/a/b" before "/a-b"); diff and
	 * commit look entries up by path (bsearch) */
	if (l.n)
		qsort(l.v, l.n, sizeof *l.v, by_path);
	*out = l.v;
	*n = l.n;
	return 0;
}

mode_t delta_kind_type(uint8_t kind)
{
	switch (kind) {
	case DELTA_FILE: return S_IFREG;
	case DELTA_DIR: return S_IFDIR;
	case DELTA_SYMLINK: return S_IFLNK;
	case DELTA_FIFO: return S_IFIFO;
	case DELTA_SOCK: return S_IFSOCK;
	case DELTA_CHR: return S_IFCHR;
	case DELTA_BLK: return S_IFBLK;
	default: return 0;
	}
}

uint8_t delta_type_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return DELTA_FILE;
	case S_IFDIR: return DELTA_DIR;
	case S_IFLNK: return DELTA_SYMLINK;
	case S_IFIFO: return DELTA_FIFO;
	case S_IFSOCK: return DELTA_SOCK;
	case S_IFCHR: return DELTA_CHR;
	case S_IFBLK: return DELTA_BLK;
	default: return 0;
	}
}

static bool same_identity(const delta_base *b, const struct stat *st)
{
	return b->dev == (uint64_t)st->st_dev && b->ino == (uint64_t)st->st_ino &&
	       b->size == (uint64_t)st->st_size && b->mtime_ns == delta_ts_ns(&st->st_mtim) &&
	       b->ctime_ns == delta_ts_ns(&st->st_ctim);
}

static int hash_path(const char *path, uint64_t *h, rls_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return rls_error_set(err, errno, "%s", path);
	return delta_hash_content(fd, h, err);
}

static int hash_data(delta *d, uint64_t id, uint64_t *h, rls_error *err)
{
	_cleanup_close_ int fd = delta_data_open(d, id, O_RDONLY, err);

	if (fd < 0)
		return -1;
	return delta_hash_content(fd, h, err);
}

int delta_entry_differs(delta *d, const delta_entry *e, const struct stat *st, bool *out, rls_error *err)
{
	char sp[DELTA_PATH_MAX * 2];

	*out = true;
	if (!st || (st->st_mode & S_IFMT) != delta_kind_type(e->kind))
		return 0;
	if (e->kind == DELTA_SYMLINK) {
		char buf[DELTA_PATH_MAX];
		ssize_t n;

		if (delta_source_path(d, e->path, sp, sizeof sp, err) < 0)
			return -1;
		n = readlink(sp, buf, sizeof buf - 1);
		if (n < 0)
			return rls_error_set(err, errno, "%s", sp);
		buf[n] = '\0';
		*out = strcmp(buf, e->target ? e->target : "") != 0;
		return 0;
	}
	if (!e->has_inode) {
		*out = false;
		return 0;
	}
	if ((e->mode & 07777) != (st->st_mode & 07777) || e->uid != st->st_uid || e->gid != st->st_gid) {
		return 0;
	}
	if (e->kind == DELTA_CHR || e->kind == DELTA_BLK) {
		*out = e->rdev != (uint64_t)st->st_rdev;
		return 0;
	}
	if (e->kind != DELTA_FILE) {
		/* A directory's own times change with its content: not a change. */
		*out = false;
		return 0;
	}
	if (e->size != (uint64_t)st->st_size || e->mtime_ns != delta_ts_ns(&st->st_mtim))
		return 0;
	uint64_t ours, theirs;

	if (hash_data(d, e->id, &ours, err) < 0)
		return -1;
	if ((e->iflags & DELTA_HAS_BASE) && e->base.has_hash && e->origin && !strcmp(e->origin, e->path) &&
	    same_identity(&e->base, st)) {
		theirs = e->base.xxh3;
	} else {
		if (delta_source_path(d, e->path, sp, sizeof sp, err) < 0 || hash_path(sp, &theirs, err) < 0)
			return -1;
	}
	*out = ours != theirs;
	return 0;
}

int delta_base_changed(delta *d, const delta_entry *e, bool *out, rls_error *err)
{
	char sp[DELTA_PATH_MAX * 2];
	struct stat st;
	uint64_t h;

	*out = false;
	if (!(e->iflags & DELTA_HAS_BASE) || !e->origin)
		return 0;
	if (delta_source_path(d, e->origin, sp, sizeof sp, err) < 0)
		return -1;
	if (lstat(sp, &st) < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			return rls_error_set(err, errno, "%s", sp);
		*out = true;
		return 0;
	}
	if (same_identity(&e->base, &st))
		return 0;
	if (!S_ISREG(st.st_mode) || !e->base.has_hash || (uint64_t)st.st_size != e->base.size) {
		*out = true;
		return 0;
	}
	if (hash_path(sp, &h, err) < 0)
		return -1;
	*out = h != e->base.xxh3;
	return 0;
}

int delta_changes(delta *d, delta_change_fn fn, void *opaque, rls_error *err)
{
	delta_entry *v = NULL;
	size_t n = 0;
	int ret = 0;

	if (delta_load_entries(d, &v, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && ret == 0; i++) {
		const delta_entry *e = &v[i];
		char sp[DELTA_PATH_MAX * 2];
		struct stat st;
		bool exists, differs;
		int kind = 0;

		if (!strcmp(e->path, "/"))
			continue;
		if (delta_source_path(d, e->path, sp, sizeof sp, err) < 0) {
			ret = -1;
			break;
		}
		exists = lstat(sp, &st) == 0;
		if (!exists && errno != ENOENT && errno != ENOTDIR) {
			ret = rls_error_set(err, errno, "%s", sp);
			break;
		}
		if (e->kind == DELTA_WHITEOUT) {
			if (exists)
				kind = DELTA_DELETED;
		} else if (!exists) {
			kind = DELTA_ADDED;
		} else {
			if (delta_entry_differs(d, e, &st, &differs, err) < 0) {
				ret = -1;
				break;
			}
			if (differs)
				kind = DELTA_MODIFIED;
		}
		if (kind)
			ret = fn((delta_change_kind)kind, e->path, opaque);
	}
	delta_free_entries(v, n);
	return ret;
}
