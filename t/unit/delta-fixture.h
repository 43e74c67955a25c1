/* delta-fixture.h - build deltas for tests through the delta API, the way
 * rlsfs records changes, from a small line-based spec:
 *
 *   write PATH TEXT      copy up PATH if the source has it (else new), set content
 *   new PATH TEXT        a new file, no base
 *   bin PATH N           a new file of N bytes 0, 1, 2, ... (binary)
 *   touch PATH           copy up PATH unchanged
 *   chmod PATH MODE      copy up PATH, set its mode (octal)
 *   mtime PATH SECONDS   copy up PATH, set its mtime
 *   mkdir PATH MODE      a new directory
 *   symlink PATH TARGET
 *   fifo PATH
 *   link PATH EXISTING   a second name for the delta inode at EXISTING
 *   rm PATH              whiteout (with a base when the source has a file)
 *   rmdir PATH           whiteout of a directory (no base)
 *
 * TEXT runs to the end of the line; "\n" in it is a newline.  Included by
 * the unit tests and by the delta-fixture tool the shell tests use. */
#ifndef RLS_T_DELTA_FIXTURE_H
#define RLS_T_DELTA_FIXTURE_H

#include "../../delta/delta.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

static int64_t fx_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void fx_inode_from_stat(delta_inode *ino, const struct stat *st)
{
	memset(ino, 0, sizeof *ino);
	ino->mode = st->st_mode;
	ino->uid = st->st_uid;
	ino->gid = st->st_gid;
	ino->nlink = 1;
	ino->atime_ns = (int64_t)st->st_atim.tv_sec * 1000000000LL + st->st_atim.tv_nsec;
	ino->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
	ino->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
	ino->size = (uint64_t)st->st_size;
}

static void fx_inode_new(delta_inode *ino, mode_t mode)
{
	memset(ino, 0, sizeof *ino);
	ino->mode = mode;
	ino->uid = geteuid();
	ino->gid = getegid();
	ino->nlink = 1;
	ino->atime_ns = ino->mtime_ns = ino->ctime_ns = fx_now_ns();
}

/* The delta inode of the regular file at `path`, copying it up from the
 * source when the delta has none; returns an O_RDWR fd of its data. */
static int fx_file(delta *d, delta_txn *txn, const char *path, bool copy, uint64_t *idp, rls_error *err)
{
	delta_node n;
	delta_inode ino;
	char sp[8192];
	int r = delta_get(txn, path, &n, err), fd;
	struct stat st;

	if (r < 0)
		return -1;
	if (r == 0 && n.kind == DELTA_FILE) {
		*idp = n.id;
		return delta_data_open(d, n.id, O_RDWR, err);
	}
	memset(&n, 0, sizeof n);
	n.kind = DELTA_FILE;
	if (delta_new_id(txn, &n.id, err) < 0)
		return -1;
	snprintf(sp, sizeof sp, "%s%s", delta_source(d), path);
	if (copy && lstat(sp, &st) == 0 && S_ISREG(st.st_mode)) {
		int sfd = open(sp, O_RDONLY);

		if (sfd < 0)
			return rls_error_set(err, errno, "%s", sp);
		fx_inode_from_stat(&ino, &st);
		fd = delta_copy_up(d, n.id, sfd, &ino.base, err);
		close(sfd);
		if (fd < 0)
			return -1;
		ino.flags = DELTA_HAS_BASE;
		snprintf(ino.origin, sizeof ino.origin, "%s", path);
	} else {
		fx_inode_new(&ino, S_IFREG | 0644);
		fd = delta_data_create(d, n.id, err);
		if (fd < 0)
			return -1;
	}
	if (delta_put_inode(txn, n.id, &ino, err) < 0 || delta_put(txn, path, &n, err) < 0) {
		close(fd);
		return -1;
	}
	*idp = n.id;
	return fd;
}

static int fx_update_inode(delta_txn *txn, uint64_t id, uint32_t mode, bool set_mode, rls_error *err)
{
	delta_inode ino;

	if (delta_get_inode(txn, id, &ino, err) != 0)
		return -1;
	if (set_mode)
		ino.mode = (ino.mode & S_IFMT) | mode;
	return delta_put_inode(txn, id, &ino, err);
}

static void fx_unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] == 'n') {
			*o++ = '\n';
			s++;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

static int fx_line(delta *d, delta_txn *txn, char *line, rls_error *err)
{
	char *op = strtok(line, " "), *path = strtok(NULL, " "), *arg = strtok(NULL, "");
	delta_node n;
	delta_inode ino;
	uint64_t id;
	int fd;

	if (!op || op[0] == '#')
		return 0;
	if (!path)
		return rls_error_set(err, EINVAL, "fixture: %s: no path", op);
	memset(&n, 0, sizeof n);
	if (!strcmp(op, "write") || !strcmp(op, "new")) {
		size_t len;

		fd = fx_file(d, txn, path, !strcmp(op, "write"), &id, err);
		if (fd < 0)
			return -1;
		if (!arg)
			arg = "";
		fx_unescape(arg);
		len = strlen(arg);
		if (ftruncate(fd, 0) < 0 || pwrite(fd, arg, len, 0) != (ssize_t)len) {
			close(fd);
			return rls_error_set(err, errno, "fixture write %s", path);
		}
		close(fd);
		return 0;
	}
	if (!strcmp(op, "bin")) {
		/* a new binary file of `arg` bytes */
		size_t len = arg ? strtoul(arg, NULL, 10) : 256, chunk = 1 << 20;
		_cleanup_free_ char *buf = rls_xmalloc(chunk);

		for (size_t i = 0; i < chunk; i++)
			buf[i] = (char)i;
		fd = fx_file(d, txn, path, false, &id, err);
		if (fd < 0)
			return -1;
		for (size_t off = 0; off < len; off += chunk) {
			size_t part = len - off < chunk ? len - off : chunk;

			if (pwrite(fd, buf, part, (off_t)off) != (ssize_t)part) {
				close(fd);
				return rls_error_set(err, errno, "fixture write %s", path);
			}
		}
		close(fd);
		return 0;
	}
	if (!strcmp(op, "touch")) {
		fd = fx_file(d, txn, path, true, &id, err);
		if (fd < 0)
			return -1;
		close(fd);
		return 0;
	}
	if (!strcmp(op, "chmod") || !strcmp(op, "mtime")) {
		fd = fx_file(d, txn, path, true, &id, err);
		if (fd < 0)
			return -1;
		if (!strcmp(op, "mtime")) {
			struct timespec ts[2] = { { UTIME_OMIT, UTIME_OMIT }, { arg ? atol(arg) : 0, 0 } };

			futimens(fd, ts);
		}
		close(fd);
		return !strcmp(op, "chmod") ? fx_update_inode(txn, id, (uint32_t)strtoul(arg ? arg : "644", NULL, 8), true, err) : 0;
	}
	if (!strcmp(op, "mkdir") || !strcmp(op, "symlink") || !strcmp(op, "fifo")) {
		n.kind = op[0] == 'm' ? DELTA_DIR : op[0] == 's' ? DELTA_SYMLINK : DELTA_FIFO;
		if (delta_new_id(txn, &n.id, err) < 0)
			return -1;
		if (n.kind == DELTA_DIR)
			fx_inode_new(&ino, S_IFDIR | (mode_t)strtoul(arg ? arg : "755", NULL, 8));
		else if (n.kind == DELTA_SYMLINK) {
			fx_inode_new(&ino, S_IFLNK | 0777);
			snprintf(n.target, sizeof n.target, "%s", arg ? arg : "");
		} else
			fx_inode_new(&ino, S_IFIFO | 0644);
		{
			/* a whiteout at the path is replaced; a removed source
			 * directory made anew hides the source's entries */
			delta_node old;

			if (n.kind == DELTA_DIR && delta_get(txn, path, &old, err) == 0 && old.kind == DELTA_WHITEOUT)
				n.flags = DELTA_OPAQUE;
		}
		if (delta_put_inode(txn, n.id, &ino, err) < 0 || delta_put(txn, path, &n, err) < 0)
			return -1;
		return 0;
	}
	if (!strcmp(op, "link")) {
		delta_node old;

		if (!arg || delta_get(txn, arg, &old, err) != 0 || old.kind != DELTA_FILE)
			return rls_error_set(err, EINVAL, "fixture: link %s: no delta file %s", path, arg ? arg : "");
		if (delta_get_inode(txn, old.id, &ino, err) != 0)
			return -1;
		ino.nlink++;
		if (delta_put_inode(txn, old.id, &ino, err) < 0 || delta_put(txn, path, &old, err) < 0)
			return -1;
		return 0;
	}
	if (!strcmp(op, "rm") || !strcmp(op, "rmdir")) {
		char sp[8192];
		struct stat st;
		delta_node old;

		if (delta_get(txn, path, &old, err) == 0 && old.id) {
			/* a delta file goes: its inode loses a name */
			if (delta_get_inode(txn, old.id, &ino, err) == 0) {
				if (ino.nlink > 1) {
					ino.nlink--;
					delta_put_inode(txn, old.id, &ino, err);
				} else {
					delta_del_inode(txn, old.id, err);
				}
			}
		}
		n.kind = DELTA_WHITEOUT;
		snprintf(sp, sizeof sp, "%s%s", delta_source(d), path);
		if (lstat(sp, &st) < 0) {
			/* nothing in the source: the name just goes */
			delta_del(txn, path, err);
			return 0;
		}
		if (S_ISREG(st.st_mode) && !strcmp(op, "rm")) {
			int sfd = open(sp, O_RDONLY);

			if (sfd < 0 || delta_new_id(txn, &n.id, err) < 0)
				return -1;
			fx_inode_from_stat(&ino, &st);
			ino.flags = DELTA_HAS_BASE;
			snprintf(ino.origin, sizeof ino.origin, "%s", path);
			if (delta_hash_fd(sfd, &ino.base, err) < 0) {
				close(sfd);
				return -1;
			}
			close(sfd);
			if (delta_put_inode(txn, n.id, &ino, err) < 0)
				return -1;
		}
		return delta_put(txn, path, &n, err);
	}
	return rls_error_set(err, EINVAL, "fixture: unknown op '%s'", op);
}

/* Apply a spec (several lines) to the delta at `dir` over `source`. */
static int fx_build(const char *dir, const char *source, const char *spec, rls_error *err)
{
	_cleanup_free_ char *copy = rls_xstrdup(spec);
	char *save = NULL, *line;
	delta *d;
	delta_txn *txn;

	if (delta_open(dir, source, DELTA_CREATE | DELTA_MOUNT, &d, err) < 0)
		return -1;
	if (delta_begin(d, true, &txn, err) < 0) {
		delta_close(d);
		return -1;
	}
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (fx_line(d, txn, line, err) < 0) {
			delta_abort(txn);
			delta_close(d);
			return -1;
		}
	}
	if (delta_commit_txn(txn, err) < 0) {
		delta_close(d);
		return -1;
	}
	delta_close(d);
	return 0;
}

#endif
