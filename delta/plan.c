/* plan.c - what a commit will do: one op per entry of the index, judged
 * against the source (conflicts, set-id bits, symlinks held back, room). */
#include "commit-int.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

/* Fill buf from the kernel's random pool. */
int delta_random_bytes(void *buf, size_t n, rls_error *err)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = getrandom((char *)buf + got, n - got, 0);

		if (r < 0 && errno != EINTR)
			return rls_error_set(err, errno, "getrandom");
		if (r > 0)
			got += (size_t)r;
	}
	return 0;
}

/* ---- planning --------------------------------------------------------- */

struct plan {
	delta *d;
	delta_conflict_mode mode;
	delta_entry *e;
	size_t n;
	struct delta_op *ops;		/* one slot per entry, path order */
	struct delta_op *attrs;	/* DIRATTR per entry (kind 0 when none) */
	int64_t epoch;
	uint64_t need_bytes, need_names;
};

static int entry_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const delta_entry *)elem)->path);
}

static ssize_t find_entry(const struct plan *p, const char *path)
{
	const delta_entry *e = bsearch(path, p->e, p->n, sizeof *p->e, entry_cmp);

	return e ? e - p->e : -1;
}

/* Will the source directory at entry i's path be empty once the planned
 * deletions below it have run?  Children are decided before parents. */
static int dir_will_empty(struct plan *p, const char *path, bool *out, rls_error *err)
{
	char sp[DELTA_PATH_MAX * 2], child[DELTA_PATH_MAX * 2];
	DIR *dir;
	struct dirent *de;

	*out = true;
	if (delta_source_path(p->d, path, sp, sizeof sp, err) < 0)
		return -1;
	dir = opendir(sp);
	if (!dir)
		return errno == ENOENT || errno == ENOTDIR ? 0 : rls_error_set(err, errno, "%s", sp);
	while ((de = readdir(dir))) {
		ssize_t k;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(child, sizeof child, "%s/%s", strcmp(path, "/") ? path : "", de->d_name);
		k = find_entry(p, child);
		if (k < 0 || p->ops[k].kind != DELTA_OP_DEL || (p->ops[k].flags & DELTA_OPF_SKIP)) {
			*out = false;
			break;
		}
	}
	closedir(dir);
	return 0;
}

static void fill_attrs(struct delta_op *o, const delta_entry *e)
{
	if (!e->has_inode) {
		/* A node without attributes gets what mkdir(1) would give. */
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		o->mode = (e->kind == DELTA_DIR ? 0755 : 0644);
		o->uid = geteuid();
		o->gid = getegid();
		o->atime_ns = o->mtime_ns = delta_ts_ns(&now);
		return;
	}
	o->mode = e->mode;
	o->uid = e->uid;
	o->gid = e->gid;
	o->rdev = e->rdev;
	o->atime_ns = e->atime_ns;
	o->mtime_ns = e->mtime_ns;
}

/* A set-user-id or set-group-id bit (the latter with group execute, as
 * the kernel's file_remove_privs judges) goes onto a file only with the
 * content it had in the source: a commit, maybe run as root, must not
 * leave a privileged program the sandbox wrote.  rlsfs drops the bits when
 * a file is opened for writing; this catches whatever reached the delta
 * otherwise.  The bits are dropped, and the path reported, when the
 * data is not the base's. */
static int keep_setid(struct plan *p, const delta_entry *e, struct delta_op *o, rls_error *err)
{
	uint32_t mode = o->mode & ~(uint32_t)S_ISUID;
	uint64_t h;

	if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		mode &= ~(uint32_t)S_ISGID;
	if (mode == o->mode || (e->iflags & DELTA_SETID_OK))
		return 0;
	if ((e->iflags & DELTA_HAS_BASE) && e->base.has_hash && e->size == e->base.size) {
		_cleanup_close_ int fd = delta_data_open(p->d, e->id, O_RDONLY, err);

		if (fd < 0 || delta_hash_content(fd, &h, err) < 0)
			return rls_error_prefix(err, "%s", e->path);
		if (h == e->base.xxh3)
			return 0;
	}
	o->mode = mode;
	o->flags |= DELTA_OPF_SETID;
	return 0;
}

/* Decide one entry's op and whether it conflicts. */
static int plan_entry(struct plan *p, size_t i, rls_error *err)
{
	const delta_entry *e = &p->e[i];
	struct delta_op *o = &p->ops[i];
	char sp[DELTA_PATH_MAX * 2];
	struct stat st;
	bool exists, differs, changed = false;

	if (!strcmp(e->path, "/"))
		return 0;
	if (delta_source_path(p->d, e->path, sp, sizeof sp, err) < 0)
		return -1;
	exists = lstat(sp, &st) == 0;
	if (!exists && errno != ENOENT && errno != ENOTDIR)
		return rls_error_set(err, errno, "%s", sp);
	if (delta_base_changed(p->d, e, &changed, err) < 0)
		return -1;
	/* Without a base, an entry the source gained or changed after the
	 * delta began is someone else's: both sides wrote the path. */
	if (!(e->iflags & DELTA_HAS_BASE) && exists && !S_ISDIR(st.st_mode) && delta_ts_ns(&st.st_ctim) > p->epoch)
		changed = true;

	o->path = rls_xstrdup(e->path);
	o->id = e->id;
	fill_attrs(o, e);
	if (exists)
		o->flags |= DELTA_OPF_EXISTS;

	switch (e->kind) {
	case DELTA_WHITEOUT:
		if (!exists) {
			o->kind = 0;	/* already gone */
			return 0;
		}
		o->kind = DELTA_OP_DEL;
		break;
	case DELTA_DIR:
		if (exists && S_ISDIR(st.st_mode)) {
			if (delta_entry_differs(p->d, e, &st, &differs, err) < 0)
				return -1;
			o->kind = 0;
			changed = false;	/* directories merge */
		} else {
			o->kind = DELTA_OP_MKDIR;
			differs = true;
		}
		if (differs) {
			struct delta_op *a = &p->attrs[i];

			a->kind = DELTA_OP_DIRATTR;
			a->path = rls_xstrdup(e->path);
			fill_attrs(a, e);
			if (!o->kind)
				a->flags |= DELTA_OPF_EXISTS | DELTA_OPF_COUNT;
		}
		break;
	default:
		if (exists && delta_entry_differs(p->d, e, &st, &differs, err) < 0)
			return -1;
		if (exists && !differs) {
			o->kind = 0;	/* copied up, never changed */
			if ((st.st_mode & S_IFMT) == delta_kind_type(e->kind))
				o->flags |= DELTA_OPF_IN_PLACE;
			return 0;
		}
		if (e->kind == DELTA_FILE) {
			o->kind = DELTA_OP_FILE;
			o->size = e->size;
			p->need_bytes += e->size;
			if (keep_setid(p, e, o, err) < 0)
				return -1;
		} else if (e->kind == DELTA_SYMLINK) {
			o->kind = DELTA_OP_SYMLINK;
			o->target = e->target ? rls_xstrdup(e->target) : NULL;
		} else {
			o->kind = DELTA_OP_NODE;
			o->mode = (o->mode & 07777) | (mode_t)(e->kind == DELTA_FIFO ? S_IFIFO :
				e->kind == DELTA_SOCK ? S_IFSOCK : e->kind == DELTA_CHR ? S_IFCHR : S_IFBLK);
		}
		break;
	}
	o->flags |= DELTA_OPF_COUNT;
	p->need_names++;
	if (changed)
		o->flags |= DELTA_OPF_CONFLICT;
	return 0;
}

static bool below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static void report_path(struct delta_path_list *l, unsigned *count, const char *path)
{
	(*count)++;
	delta_path_list_add(l, path);
}

static int check_space(struct plan *p, int src_fd, rls_error *err)
{
	struct statvfs vfs;
	uint64_t avail, slack = 1 << 20;

	if (fstatvfs(src_fd, &vfs) < 0)
		return 0;
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (p->need_bytes + slack > avail && geteuid() != 0)
		goto full;
	if (p->need_bytes + slack > (uint64_t)vfs.f_bfree * vfs.f_frsize)
		goto full;
	if (vfs.f_files && p->need_names > vfs.f_favail)
		return rls_error_set(err, ENOSPC, "source %s: not enough inodes for the commit (%llu needed)",
				     p->d->source, (unsigned long long)p->need_names);
	return 0;
full:
	return rls_error_set(err, ENOSPC, "source %s: not enough space for the commit (%llu MiB needed, %llu MiB free)",
			     p->d->source, (unsigned long long)((p->need_bytes + slack) >> 20),
			     (unsigned long long)(avail >> 20));
}

static int read_epoch(delta *d, int64_t *out, rls_error *err)
{
	delta_txn *txn;
	_cleanup_free_ char *s = NULL;
	int r;

	*out = 0;
	if (delta_begin(d, false, &txn, err) < 0)
		return -1;
	r = delta_meta_get(txn, "epoch", &s, NULL, err);
	delta_abort(txn);
	if (r < 0)
		return -1;
	if (r == 0)
		*out = strtoll(s, NULL, 10);
	return 0;
}

/* An op by inode id: sorted, the names of one inode come together, in
 * path order. */
struct by_id {
	uint64_t id;
	size_t i;
	bool in_place;	/* sorts first among its inode's names */
};

static int by_id_cmp(const void *a, const void *b)
{
	const struct by_id *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->in_place != y->in_place)
		return x->in_place ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Build r->ops (execution order) and the stats from the index. */
/* Turn each symlink op whose link must not be committed into DELTA_OP_HOLD, and
 * list it in stats (see links.c). */
static int hold_symlinks(struct plan *p, delta_commit_stats *stats, rls_error *err)
{
	delta_links links;

	if (delta_links_init(&links, p->d, p->e, p->n, err) < 0)
		return -1;
	for (size_t i = 0; i < p->n; i++) {
		struct delta_op *o = &p->ops[i];
		const char *why;

		if (o->kind != DELTA_OP_SYMLINK || (o->flags & DELTA_OPF_SKIP))
			continue;
		why = delta_link_held(&links, o->path, o->target ? o->target : "");
		if (!why)
			continue;
		o->kind = DELTA_OP_HOLD;
		o->flags &= (uint8_t)~DELTA_OPF_COUNT;
		stats->held = rls_xrealloc(stats->held, (stats->n_held + 1) * sizeof *stats->held);
		stats->held[stats->n_held++] = (delta_held){
			.path = rls_xstrdup(o->path),
			.target = rls_xstrdup(o->target ? o->target : ""),
			.why = why,
		};
	}
	delta_links_free(&links);
	return 0;
}

int delta_plan(struct delta_run *r, delta_conflict_mode mode, unsigned flags, delta_commit_stats *stats,
		rls_error *err)
{
	struct plan p = { .d = r->d, .mode = mode };
	int ret = -1;
	size_t n = 0;

	if (read_epoch(r->d, &p.epoch, err) < 0 || delta_load_entries(r->d, &p.e, &p.n, err) < 0)
		return -1;
	p.ops = rls_xcalloc(p.n ? p.n : 1, sizeof *p.ops);
	p.attrs = rls_xcalloc(p.n ? p.n : 1, sizeof *p.attrs);
	for (size_t i = 0; i < p.n; i++)
		if (plan_entry(&p, i, err) < 0)
			goto out;

	/* theirs: a conflicting path keeps the source's version, and nothing
	 * is created below a directory that is not made. */
	if (mode == DELTA_CONFLICT_THEIRS) {
		for (size_t i = 0; i < p.n; i++) {
			if (!(p.ops[i].flags & DELTA_OPF_CONFLICT) || (p.ops[i].flags & DELTA_OPF_SKIP))
				continue;
			p.ops[i].flags |= DELTA_OPF_SKIP;
			p.attrs[i].flags |= DELTA_OPF_SKIP;
			if (p.ops[i].kind == DELTA_OP_MKDIR)
				for (size_t k = i + 1; k < p.n; k++)
					if (below(p.e[k].path, p.e[i].path)) {
						p.ops[k].flags |= DELTA_OPF_SKIP;
						p.attrs[k].flags |= DELTA_OPF_SKIP;
					}
		}
	}
	/* A source directory is removed (or replaced by a non-directory) only
	 * when its recorded deletions empty it; otherwise it stays, a
	 * conflict.  Deepest first, so children are decided first. */
	for (size_t i = p.n; i-- > 0;) {
		struct delta_op *o = &p.ops[i];
		char sp[DELTA_PATH_MAX * 2];
		struct stat st;
		bool empty;

		if (!o->kind || o->kind == DELTA_OP_MKDIR || (o->flags & DELTA_OPF_SKIP) || !(o->flags & DELTA_OPF_EXISTS))
			continue;
		if (delta_source_path(r->d, o->path, sp, sizeof sp, err) < 0)
			goto out;
		if (lstat(sp, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (dir_will_empty(&p, o->path, &empty, err) < 0)
			goto out;
		if (!empty)
			o->flags |= DELTA_OPF_CONFLICT | DELTA_OPF_SKIP;
	}
	if (!(flags & DELTA_COMMIT_ALLOW_SYMLINKS_OUT) && hold_symlinks(&p, stats, err) < 0)
		goto out;

	/* Hard links: the first applied name of an inode carries the data,
	 * the others link to it.  A name the source has already, unchanged,
	 * comes first: the others link to it in place.  A data file with one
	 * name is moved into place when the delta shares the source's
	 * filesystem (and, it turns out, the target directory's); the first
	 * of several names is copied, since a link may need the data file
	 * again.  The data file's identity goes to the journal.  A symlink's
	 * or a special file's other names keep their own op, which knows
	 * what to make should the link fail (op->link); each symlink name was
	 * judged on its own by hold_symlinks. */
	struct by_id *files = rls_xcalloc(p.n ? p.n : 1, sizeof *files);
	size_t n_files = 0;

	for (size_t i = 0; i < p.n; i++) {
		uint8_t kind = p.ops[i].kind;

		if (p.e[i].has_inode && p.e[i].kind != DELTA_DIR &&
		    (((kind == DELTA_OP_FILE || kind == DELTA_OP_SYMLINK || kind == DELTA_OP_NODE) &&
		      !(p.ops[i].flags & DELTA_OPF_SKIP)) ||
		     (!kind && (p.ops[i].flags & DELTA_OPF_IN_PLACE))))
			files[n_files++] = (struct by_id){ p.ops[i].id, i, !kind };
	}
	qsort(files, n_files, sizeof *files, by_id_cmp);
	for (size_t f = 0; f < n_files; f++) {
		struct delta_op *o = &p.ops[files[f].i];
		bool linked = false;
		char dname[17];
		struct stat st;

		if (!o->kind && (f + 1 == n_files || files[f + 1].id != o->id))
			continue;	/* in place, and no other name */
		while (f + 1 < n_files && files[f + 1].id == o->id) {
			struct delta_op *l = &p.ops[files[++f].i];

			if (l->kind == DELTA_OP_FILE) {
				l->kind = DELTA_OP_LINK;
				free(l->target);
				l->target = rls_xstrdup(o->path);
			} else {
				l->link = rls_xstrdup(o->path);
			}
			linked = true;
		}
		delta_data_name(o->id, dname);
		if (!linked && o->kind == DELTA_OP_FILE && !r->data_other_fs && fstatat(r->d->data_fd, dname, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_ino) {
			o->flags |= DELTA_OPF_MOVE;
			/* Its times are the file's, unless planning read it. */
			if (delta_ts_ns(&st.st_atim) == o->atime_ns && delta_ts_ns(&st.st_mtim) == o->mtime_ns)
				o->flags |= DELTA_OPF_TIMES;
			o->data_dev = st.st_dev;
			o->data_ino = st.st_ino;
			/* A move takes no room. */
			p.need_bytes -= o->size;
			p.need_names--;
		}
	}
	free(files);

	for (size_t i = 0; i < p.n; i++) {
		struct delta_op *o = &p.ops[i];

		if (o->flags & DELTA_OPF_CONFLICT)
			report_path(&r->conflicts, &stats->conflicts, o->path);
		if (!o->kind || o->kind == DELTA_OP_HOLD || (o->flags & DELTA_OPF_SKIP))
			continue;
		if (o->flags & DELTA_OPF_SETID)
			report_path(&r->setid, &stats->setid_dropped, o->path);
		if (o->kind == DELTA_OP_DEL)
			stats->deleted++;
		else if (o->flags & DELTA_OPF_EXISTS)
			stats->modified++;
		else
			stats->added++;
	}
	for (size_t i = 0; i < p.n; i++)
		if (p.attrs[i].kind && (p.attrs[i].flags & DELTA_OPF_COUNT) && !(p.attrs[i].flags & DELTA_OPF_SKIP))
			stats->modified++;

	if (mode == DELTA_CONFLICT_FAIL && stats->conflicts) {
		ret = 1;
		goto out;
	}
	if (check_space(&p, r->src_fd, err) < 0)
		goto out;

	/* Execution order: deletions deepest first, creations parents first,
	 * directory attributes deepest first. */
	r->ops = rls_xcalloc(2 * p.n + 1, sizeof *r->ops);
	for (size_t i = p.n; i-- > 0;)
		if (p.ops[i].kind == DELTA_OP_DEL && !(p.ops[i].flags & DELTA_OPF_SKIP))
			r->ops[n++] = p.ops[i], memset(&p.ops[i], 0, sizeof p.ops[i]);
	for (size_t i = 0; i < p.n; i++)
		if (p.ops[i].kind && !(p.ops[i].flags & DELTA_OPF_SKIP))
			r->ops[n++] = p.ops[i], memset(&p.ops[i], 0, sizeof p.ops[i]);
	for (size_t i = p.n; i-- > 0;)
		if (p.attrs[i].kind && !(p.attrs[i].flags & DELTA_OPF_SKIP))
			r->ops[n++] = p.attrs[i], memset(&p.attrs[i], 0, sizeof p.attrs[i]);
	r->n_ops = n;
	{
		_cleanup_free_ uint64_t *rnd = rls_xcalloc(n ? n : 1, sizeof *rnd);

		if (delta_random_bytes(rnd, n * sizeof *rnd, err) < 0)
			goto out;
		for (size_t i = 0; i < n; i++)
			r->ops[i].tmp = rnd[i] | 1;	/* never 0: an older journal's */
	}
	ret = 0;
out:
	delta_free_ops(p.ops, p.n);
	delta_free_ops(p.attrs, p.n);
	delta_free_entries(p.e, p.n);
	return ret;
}
