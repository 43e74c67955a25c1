/* floorfs - the least a FUSE filesystem can do: a read-only view of a tree
 * whose names and attributes are read once at mount and answered from
 * memory, with the kernel told to keep entries, attributes, listings and
 * pages for a day.  An open opens the file below the root and a read is
 * spliced from it; nothing else is asked of the disk.  A benchmark peer
 * (t/perf/fs-bench), not a product: what is left between it and native is
 * the price of FUSE itself (a round trip per open, release and getattr).
 *
 *   floorfs -o source=DIR MOUNTPOINT
 */
/* 3.12 or later: fuse_session_loop_mt takes the loop config made below
 * (an older version reads it as the old struct, and the loop then starts a
 * thread for each request) */
#define FUSE_USE_VERSION 314
#define _GNU_SOURCE
#include <fuse_lowlevel.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TIMEOUT 86400.0

typedef struct fnode {
	struct stat st;
	char *path;		/* relative to the root, "." for the root */
	const char *name;	/* within path */
	size_t parent;		/* index; the root is its own */
	size_t child, next;	/* first child, next sibling; 0 for none */
} fnode;

static fnode *nodes;
static size_t nnodes, cap;
static size_t level_dir[PATH_MAX / 2];	/* while walking: the folder at each depth */
static size_t *table, table_size;	/* (parent, name) -> index + 1 */
static int root_fd = -1;

static size_t slot(size_t parent, const char *name)
{
	size_t h = parent * 0x9e3779b97f4a7c15ull;

	while (*name)
		h = (h ^ (unsigned char)*name++) * 0x100000001b3ull;
	return h & (table_size - 1);
}

static void index_names(void)
{
	for (table_size = 1; table_size < nnodes * 2; table_size *= 2)
		;
	table = calloc(table_size, sizeof *table);
	if (!table)
		abort();
	for (size_t i = 1; i < nnodes; i++) {
		size_t s = slot(nodes[i].parent, nodes[i].name);

		while (table[s])
			s = (s + 1) & (table_size - 1);
		table[s] = i + 1;
	}
}

/* FUSE node ids are indexes + 1 (1 is the root) */
static fnode *node(fuse_ino_t ino)
{
	return &nodes[ino - 1];
}

static int add(const char *fpath, const struct stat *st, int flag, struct FTW *ftw)
{
	fnode *n;

	(void)flag;
	if (nnodes == cap) {
		cap = cap ? cap * 2 : 4096;
		nodes = realloc(nodes, cap * sizeof *nodes);
		if (!nodes)
			abort();
	}
	n = &nodes[nnodes];
	n->st = *st;
	n->path = strdup(ftw->level ? fpath + 2 : ".");	/* fpath is "./..." */
	n->name = ftw->level ? n->path + (ftw->base - 2) : n->path;
	n->parent = ftw->level ? level_dir[ftw->level - 1] : 0;
	n->child = 0;
	/* prepended: a listing comes out in reverse walk order */
	n->next = ftw->level ? nodes[n->parent].child : 0;
	if (ftw->level)
		nodes[n->parent].child = nnodes;
	if (S_ISDIR(st->st_mode) && (size_t)ftw->level < sizeof level_dir / sizeof *level_dir)
		level_dir[ftw->level] = nnodes;
	nnodes++;
	return 0;
}

static void reply_entry(fuse_req_t req, size_t i)
{
	struct fuse_entry_param e = { 0 };

	e.ino = i + 1;
	e.attr = nodes[i].st;
	e.attr.st_ino = i + 1;
	e.attr_timeout = e.entry_timeout = TIMEOUT;
	fuse_reply_entry(req, &e);
}

static void fl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	for (size_t s = slot(parent - 1, name); table[s]; s = (s + 1) & (table_size - 1)) {
		size_t i = table[s] - 1;

		if (nodes[i].parent == parent - 1 && !strcmp(nodes[i].name, name)) {
			reply_entry(req, i);
			return;
		}
	}
	struct fuse_entry_param e = { .entry_timeout = TIMEOUT };
	fuse_reply_entry(req, &e);
}

static void fl_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st = node(ino)->st;

	(void)fi;
	st.st_ino = ino;
	fuse_reply_attr(req, &st, TIMEOUT);
}

static void fl_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX];
	ssize_t n = readlinkat(root_fd, node(ino)->path, buf, sizeof buf - 1);

	if (n < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

static void fl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int fd;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fd = openat(root_fd, node(ino)->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	fi->noflush = 1;
	fuse_reply_open(req, fi);
}

static void fl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	(void)ino;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = (int)fi->fh;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void fl_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void fl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* an offset is the index of the next child, 0 for the first */
static void fl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	char *buf = calloc(1, size);
	size_t used = 0;

	(void)fi;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = off ? (size_t)off : node(ino)->child; i && i < nnodes; i = nodes[i].next) {
		struct stat st = { .st_ino = i + 1, .st_mode = nodes[i].st.st_mode };
		size_t n = fuse_add_direntry(req, buf + used, size - used, nodes[i].name, &st,
					     nodes[i].next ? (off_t)nodes[i].next : INT64_MAX);

		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void fl_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE | FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS;
}

static const struct fuse_lowlevel_ops ops = {
	.init = fl_init,
	.lookup = fl_lookup,
	.getattr = fl_getattr,
	.readlink = fl_readlink,
	.open = fl_open,
	.read = fl_read,
	.release = fl_release,
	.opendir = fl_opendir,
	.readdir = fl_readdir,
};

struct opts {
	char *source;
};

static const struct fuse_opt opt_spec[] = {
	{ "source=%s", offsetof(struct opts, source), 0 },
	FUSE_OPT_END
};

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd;
	struct fuse_loop_config *cfg;
	struct opts o = { 0 };
	struct fuse_session *se;
	int rc;

	if (fuse_opt_parse(&args, &o, opt_spec, NULL) < 0 || fuse_parse_cmdline(&args, &cmd) < 0 ||
	    !o.source || !cmd.mountpoint) {
		fprintf(stderr, "usage: floorfs -o source=DIR MOUNTPOINT\n");
		return 2;
	}
	if (chdir(o.source) < 0 || (root_fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    nftw(".", add, 64, FTW_PHYS) < 0) {
		perror(o.source);
		return 1;
	}
	index_names();
	se = fuse_session_new(&args, &ops, sizeof ops, NULL);
	if (!se || fuse_session_mount(se, cmd.mountpoint) < 0)
		return 1;
	if (fuse_daemonize(cmd.foreground) < 0)
		return 1;
	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	fuse_loop_cfg_set_max_threads(cfg, 16);
	fuse_loop_cfg_set_idle_threads(cfg, 4);
	rc = fuse_session_loop_mt(se, cfg);
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	return rc ? 1 : 0;
}
