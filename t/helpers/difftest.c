/* difftest.c - a seeded differential tester: the same random file system
 * operations on two trees side by side (an rlsfs mount and a native
 * directory), every outcome and errno compared, and the trees compared
 * after each operation.
 *
 *   difftest [-s SEED] [-n OPS] [-t SECONDS] [-c EVERY] [-x MASK]... [-d NAME] [-k] [-q] [-v] A B
 *       runs OPS operations (or until SECONDS have passed) in fresh
 *       folders A/NAME and B/NAME (default dt-SEED; with -k, the folders as
 *       they are, which must hold equal trees, and no shrinking); prints "ok SEED OPS" and exits 0,
 *       or prints the first difference, shrinks the operations before it
 *       to a minimal trace that still differs, prints that and exits 1.
 *   difftest -C [-x MASK]... [-u UID:GID=UID:GID] A B
 *       compares the trees A and B once (types, modes, owners, sizes, link
 *       counts, symlink targets, contents; no times), for a committed
 *       source against the native tree.  -u: B's owner UID:GID (the
 *       identity a sandbox wrote as) is A's UID:GID (the tree's owner,
 *       as rls run commits what that identity made).
 *   Shrinking takes up to two minutes (-q: 20 s); -v prints every operation and its
 *   native outcome on standard error.
 *
 * Operation i is drawn from its own generator seeded by (SEED, i), so any
 * subset of a run's operations can be replayed: that is what the shrinker
 * does, each attempt in fresh folders.  A is the side under test, B the
 * reference: no expected value is written by hand.
 *
 * Compared after every operation: the outcome of each call (errno name or
 * the values it returned), the names in every folder, and for every entry
 * its type, mode, owner, link count, size (files and symlinks), symlink
 * target and, where the test set it with utimensat and nothing changed it
 * since, its mtime.  Contents are compared for the files an operation
 * named and, every EVERY operations and at the end, for all files.  ctime
 * and atime are never compared (the kernel's clock granularity makes them
 * unreliable to compare between two trees).
 *
 * Masks (-x) leave out comparisons for known differences, by name:
 *   dirnlink  folder link counts
 *   speclink  hard links to fifos, sockets and devices are not made, and
 *             their mode, owner and link count are not compared (every
 *             name of one must be one inode, one pipe)
 *   owner     chown to an owner other than the caller's; with -C, owners
 *             (-u says how a sandbox's identity was committed instead)
 *   setid     set-uid and set-gid bits in chmod
 *   nodev     device nodes (made as sockets instead): an rlsfs mount is
 *             nodev, so opening one is EACCES there by design
 *   gonespecial  fstat of an open fifo or socket whose last name is gone
 *   perms     modes keep the owner's rwx (a caller without
 *             CAP_DAC_OVERRIDE is refused by its own mode 000 natively;
 *             a mount without default_permissions does not check modes,
 *             as rls run's does)
 *   commitlinks  link counts of all but folders, with -C
 *   srcdirs   with -k, renames of a folder from or to a path where the
 *             starting tree has an entry are not made (rlsfs answers EXDEV by design, as
 *             overlayfs; mv(1) then copies)
 * Exit: 0 no difference, 1 a difference, 2 a usage or setup error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define DT_SLOTS 3
#define DT_MAX_ENTRIES 4096
#define DT_MAX_DEPTH 24
#define DT_MAX_WRITE 9000
#define DT_EXPLICIT 256
#define DT_MAX_TIMED (1u << 22)

enum dt_mask {
	DT_MASK_DIRNLINK = 1 << 0,
	DT_MASK_SPECLINK = 1 << 1,
	DT_MASK_OWNER = 1 << 2,
	DT_MASK_SETID = 1 << 3,
	DT_MASK_NODEV = 1 << 4,
	DT_MASK_GONESPECIAL = 1 << 5,
	DT_MASK_SRCDIRS = 1 << 6,
	DT_MASK_COMMITLINKS = 1 << 7,
	DT_MASK_PERMS = 1 << 8,
};

static const struct {
	const char *name;
	unsigned bit;
} dt_masks[] = {
	{"dirnlink", DT_MASK_DIRNLINK}, {"speclink", DT_MASK_SPECLINK},
	{"owner", DT_MASK_OWNER},       {"setid", DT_MASK_SETID},
	{"nodev", DT_MASK_NODEV},       {"gonespecial", DT_MASK_GONESPECIAL},
	{"srcdirs", DT_MASK_SRCDIRS},   {"commitlinks", DT_MASK_COMMITLINKS},
	{"perms", DT_MASK_PERMS},
};

enum dt_kind {
	OP_CREATE, OP_WRITE, OP_TRUNCATE, OP_RENAME, OP_LINK, OP_UNLINK,
	OP_MKDIR, OP_RMDIR, OP_CHMOD, OP_CHOWN, OP_UTIMENS, OP_SYMLINK,
	OP_MKFIFO, OP_MKNOD, OP_MMAP, OP_FSYNC, OP_UNLINKED, OP_SLOT_OPEN,
	OP_SLOT_WRITE, OP_SLOT_READ, OP_SLOT_CLOSE, OP_READ, OP_KINDS
};

static const struct {
	const char *name;
	unsigned weight;
} dt_kinds[OP_KINDS] = {
	[OP_CREATE] = {"create", 10},    [OP_WRITE] = {"write", 12},
	[OP_TRUNCATE] = {"truncate", 5}, [OP_RENAME] = {"rename", 10},
	[OP_LINK] = {"link", 5},         [OP_UNLINK] = {"unlink", 6},
	[OP_MKDIR] = {"mkdir", 7},       [OP_RMDIR] = {"rmdir", 4},
	[OP_CHMOD] = {"chmod", 4},       [OP_CHOWN] = {"chown", 3},
	[OP_UTIMENS] = {"utimens", 4},   [OP_SYMLINK] = {"symlink", 4},
	[OP_MKFIFO] = {"mkfifo", 2},     [OP_MKNOD] = {"mknod", 1},
	[OP_MMAP] = {"mmap-write", 4},   [OP_FSYNC] = {"fsync", 2},
	[OP_UNLINKED] = {"open-unlinked-write", 3},
	[OP_SLOT_OPEN] = {"hold-open", 4}, [OP_SLOT_WRITE] = {"held-write", 4},
	[OP_SLOT_READ] = {"held-read", 2}, [OP_SLOT_CLOSE] = {"held-close", 3},
	[OP_READ] = {"read", 2},
};

struct dt_op {
	enum dt_kind kind;
	char p1[64], p2[64];
	int flags;
	mode_t mode;
	off_t off;
	size_t len;
	uint64_t dseed;
	uid_t uid;
	gid_t gid;
	struct timespec ts[2];
	int slot;
};

struct dt_side {
	char root[PATH_MAX];
	int slot[DT_SLOTS];
};

/* One replay: both sides, and the native inodes whose mtime the test set. */
struct dt_run {
	struct dt_side a, b;
	ino_t explicit_ino[DT_EXPLICIT];
	bool explicit_dir[DT_EXPLICIT];
	char **start_paths;	/* with -k: the starting tree's paths */
	size_t n_start_paths;
	unsigned n_explicit;
	char why[1024];
};

static unsigned dt_mask;
static bool dt_quiet;
static bool dt_verbose;
static bool dt_keep;
static bool dt_compare_only;
/* -u: an owner of the native tree taken as another (see the usage above) */
static struct {
	bool on;
	unsigned from_uid, from_gid, to_uid, to_gid;
} dt_idmap;

/* splitmix64: one generator per operation, seeded by (seed, index). */
static uint64_t dt_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned dt_below(uint64_t *s, unsigned n)
{
	return (unsigned)(dt_next(s) % n);
}

static void dt_path(uint64_t *s, char *out, size_t size)
{
	static const char *const names[] = {"a", "b", "c", "d", "e"};
	unsigned r = dt_below(s, 100);
	unsigned depth = r < 55 ? 1 : r < 88 ? 2 : 3;
	size_t n = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < depth; i++)
		n += (size_t)snprintf(out + n, size - n, "%s%s", i ? "/" : "", names[dt_below(s, 5)]);
}

static void dt_gen(uint64_t seed, uint64_t index, struct dt_op *op)
{
	uint64_t s = seed * 0x100000001b3ULL ^ index;
	unsigned total = 0, r;

	for (int k = 0; k < OP_KINDS; k++)
		total += dt_kinds[k].weight;
	dt_next(&s);
	memset(op, 0, sizeof(*op));
	r = dt_below(&s, total);
	for (op->kind = 0; r >= dt_kinds[op->kind].weight; op->kind++)
		r -= dt_kinds[op->kind].weight;
	dt_path(&s, op->p1, sizeof(op->p1));
	dt_path(&s, op->p2, sizeof(op->p2));
	op->slot = (int)dt_below(&s, DT_SLOTS);
	op->dseed = dt_next(&s);
	/* Offsets cross page boundaries; now and then far out (sparse). */
	op->off = dt_below(&s, 100) < 3 ? (off_t)(1 << 20) + dt_below(&s, 5000) : dt_below(&s, 20000);
	op->len = 1 + dt_below(&s, DT_MAX_WRITE);

	switch (op->kind) {
	case OP_CREATE: {
		static const int f[] = {0, O_EXCL, O_TRUNC, O_EXCL | O_TRUNC, O_APPEND};
		op->flags = f[dt_below(&s, 5)];
		op->mode = (mode_t[]){0644, 0600, 0755, 0444, 0}[dt_below(&s, 5)];
		break;
	}
	case OP_WRITE:
		op->flags = dt_below(&s, 6) == 0 ? O_APPEND : 0;
		break;
	case OP_TRUNCATE:
		op->off = dt_below(&s, 4) == 0 ? 0 : op->off;
		break;
	case OP_RENAME:
		op->flags = (int[]){0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE}[dt_below(&s, 4)];
		break;
	case OP_CHMOD: {
		static const mode_t m[] = {0644, 0600, 0755, 0700, 0444, 0, 0777, 01777, 04755, 02755, 02775, 06711};
		op->mode = m[dt_below(&s, (dt_mask & DT_MASK_SETID) ? 8 : 12)];
		op->flags = dt_below(&s, 4) == 0; /* through a descriptor */
		break;
	}
	case OP_CHOWN: {
		static const unsigned ids[] = {(unsigned)-1, 65534, 1000, 0};
		if (dt_mask & DT_MASK_OWNER) {
			op->uid = dt_below(&s, 2) ? (uid_t)-1 : geteuid();
			op->gid = dt_below(&s, 2) ? (gid_t)-1 : getegid();
		} else {
			op->uid = ids[dt_below(&s, 4)];
			op->gid = ids[dt_below(&s, 4)];
		}
		op->flags = dt_below(&s, 3) == 0 ? AT_SYMLINK_NOFOLLOW : 0;
		break;
	}
	case OP_UTIMENS:
		op->ts[0].tv_sec = 1000000000 + dt_below(&s, 100000000);
		op->ts[0].tv_nsec = dt_below(&s, 1000000000);
		op->ts[1].tv_sec = 1000000000 + dt_below(&s, 100000000);
		op->ts[1].tv_nsec = dt_below(&s, 3) == 0 ? UTIME_OMIT : dt_below(&s, 1000000000);
		op->flags = dt_below(&s, 3) == 0 ? AT_SYMLINK_NOFOLLOW : 0;
		break;
	case OP_SYMLINK:
		/* Targets are relative and without "..": the kernel follows a
		 * symlink on the mount too, and one leading out of the roots
		 * would have both sides write the same file. */
		break;
	case OP_MKNOD:
		op->mode = dt_below(&s, 2) || (dt_mask & DT_MASK_NODEV) ? (S_IFSOCK | 0644) : (S_IFCHR | 0600);
		break;
	case OP_SLOT_OPEN:
		op->flags = (int[]){O_RDWR, O_RDWR | O_CREAT, O_RDONLY, O_WRONLY | O_APPEND}[dt_below(&s, 4)];
		break;
	default:
		break;
	}
	if ((dt_mask & DT_MASK_PERMS) && (op->kind == OP_CREATE || op->kind == OP_CHMOD))
		op->mode |= 0700;
}

static int dt_fmt(const struct dt_op *op, char *buf, size_t size)
{
	const char *k = dt_kinds[op->kind].name;

	switch (op->kind) {
	case OP_CREATE:
		return snprintf(buf, size, "%s %s 0%o%s%s%s", k, op->p1, op->mode,
				op->flags & O_EXCL ? " O_EXCL" : "", op->flags & O_TRUNC ? " O_TRUNC" : "",
				op->flags & O_APPEND ? " O_APPEND" : "");
	case OP_WRITE:
	case OP_MMAP:
	case OP_UNLINKED:
		return snprintf(buf, size, "%s %s off=%jd len=%zu%s", k, op->p1, (intmax_t)op->off, op->len,
				op->flags & O_APPEND ? " O_APPEND" : "");
	case OP_TRUNCATE:
		return snprintf(buf, size, "%s %s %jd", k, op->p1, (intmax_t)op->off);
	case OP_RENAME:
		return snprintf(buf, size, "%s %s %s%s", k, op->p1, op->p2,
				op->flags == RENAME_NOREPLACE ? " RENAME_NOREPLACE" :
				op->flags == RENAME_EXCHANGE ? " RENAME_EXCHANGE" : "");
	case OP_LINK:
		return snprintf(buf, size, "%s %s %s", k, op->p1, op->p2);
	case OP_SYMLINK:
		return snprintf(buf, size, "%s %s -> %s", k, op->p1, op->p2);
	case OP_CHMOD:
		return snprintf(buf, size, "%s %s 0%o%s", k, op->p1, op->mode, op->flags ? " (fchmod)" : "");
	case OP_CHOWN:
		return snprintf(buf, size, "%s %s %d:%d%s", k, op->p1, (int)op->uid, (int)op->gid,
				op->flags ? " AT_SYMLINK_NOFOLLOW" : "");
	case OP_UTIMENS:
		return snprintf(buf, size, "%s %s %lld.%09ld %lld.%09ld%s", k, op->p1, (long long)op->ts[0].tv_sec,
				op->ts[0].tv_nsec, (long long)op->ts[1].tv_sec, op->ts[1].tv_nsec,
				op->flags ? " AT_SYMLINK_NOFOLLOW" : "");
	case OP_MKNOD:
		return snprintf(buf, size, "%s %s %s", k, op->p1, S_ISSOCK(op->mode) ? "socket" : "char 1:3");
	case OP_SLOT_OPEN:
		return snprintf(buf, size, "%s [%d] %s %s%s", k, op->slot, op->p1,
				(op->flags & O_ACCMODE) == O_RDONLY ? "O_RDONLY" :
				(op->flags & O_ACCMODE) == O_WRONLY ? "O_WRONLY" : "O_RDWR",
				op->flags & O_CREAT ? "|O_CREAT" : op->flags & O_APPEND ? "|O_APPEND" : "");
	case OP_SLOT_WRITE:
	case OP_SLOT_READ:
		return snprintf(buf, size, "%s [%d] off=%jd len=%zu", k, op->slot, (intmax_t)op->off, op->len);
	case OP_SLOT_CLOSE:
		return snprintf(buf, size, "%s [%d]", k, op->slot);
	default:
		return snprintf(buf, size, "%s %s", k, op->p1);
	}
}

static void dt_data(uint64_t seed, unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(dt_next(&seed) & 0xff);
}

static const char *dt_errname(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

/* The outcome of one operation on one side, as text: equal text, equal
 * behaviour.  The first failing call's step and errno, else what the
 * calls returned. */
struct dt_out {
	char s[256];
	size_t n;
};

static void dt_say(struct dt_out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->n >= sizeof(o->s))
		return;
	va_start(ap, fmt);
	o->n += (size_t)vsnprintf(o->s + o->n, sizeof(o->s) - o->n, fmt, ap);
	va_end(ap);
}

static int dt_fail(struct dt_out *o, const char *step)
{
	dt_say(o, "%s:%s ", step, dt_errname(errno));
	return -1;
}

static void dt_full(const struct dt_side *side, const char *rel, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", side->root, rel);
}

static void dt_fstat_say(int fd, struct dt_out *o)
{
	bool gone_masked = dt_mask & DT_MASK_GONESPECIAL;
	struct stat st;

	if (fstat(fd, &st) < 0) {
		if (errno == ENOENT && gone_masked)
			dt_say(o, "gone-special ");
		else
			dt_fail(o, "fstat");
	} else if (st.st_nlink == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) && gone_masked) {
		dt_say(o, "gone-special ");
	} else if (S_ISDIR(st.st_mode) && (dt_mask & DT_MASK_DIRNLINK)) {
		dt_say(o, "folder ");
	} else {
		dt_say(o, "size=%jd nlink=%ju ", (intmax_t)st.st_size, (uintmax_t)st.st_nlink);
	}
}

static void dt_apply(struct dt_side *side, const struct dt_op *op, struct dt_out *o)
{
	char p1[PATH_MAX], p2[PATH_MAX];
	unsigned char buf[DT_MAX_WRITE], back[DT_MAX_WRITE];
	int fd = -1;
	ssize_t n;

	dt_full(side, op->p1, p1);
	dt_full(side, op->p2, p2);
	dt_data(op->dseed, buf, op->len);
	errno = 0;

	switch (op->kind) {
	case OP_CREATE:
		fd = open(p1, O_CREAT | O_WRONLY | O_NONBLOCK | op->flags, op->mode);
		if (fd < 0)
			dt_fail(o, "open");
		break;
	case OP_WRITE:
		fd = open(p1, O_WRONLY | O_NONBLOCK | op->flags);
		if (fd < 0) {
			dt_fail(o, "open");
			break;
		}
		n = op->flags & O_APPEND ? write(fd, buf, op->len) : pwrite(fd, buf, op->len, op->off);
		if (n < 0)
			dt_fail(o, "write");
		else
			dt_say(o, "wrote=%zd ", n);
		break;
	case OP_TRUNCATE:
		if (truncate(p1, op->off) < 0)
			dt_fail(o, "truncate");
		break;
	case OP_RENAME:
		if (renameat2(AT_FDCWD, p1, AT_FDCWD, p2, (unsigned)op->flags) < 0)
			dt_fail(o, "rename");
		break;
	case OP_LINK:
		if (link(p1, p2) < 0)
			dt_fail(o, "link");
		break;
	case OP_UNLINK:
		if (unlink(p1) < 0)
			dt_fail(o, "unlink");
		break;
	case OP_MKDIR:
		if (mkdir(p1, 0755) < 0)
			dt_fail(o, "mkdir");
		break;
	case OP_RMDIR:
		if (rmdir(p1) < 0)
			dt_fail(o, "rmdir");
		break;
	case OP_CHMOD:
		if (op->flags) {
			fd = open(p1, O_RDONLY | O_NONBLOCK);
			if (fd < 0)
				dt_fail(o, "open");
			else if (fchmod(fd, op->mode) < 0)
				dt_fail(o, "fchmod");
		} else if (chmod(p1, op->mode) < 0) {
			dt_fail(o, "chmod");
		}
		break;
	case OP_CHOWN:
		if (fchownat(AT_FDCWD, p1, op->uid, op->gid, op->flags) < 0)
			dt_fail(o, "chown");
		break;
	case OP_UTIMENS:
		if (utimensat(AT_FDCWD, p1, op->ts, op->flags) < 0)
			dt_fail(o, "utimensat");
		break;
	case OP_SYMLINK:
		if (symlink(op->p2, p1) < 0)
			dt_fail(o, "symlink");
		break;
	case OP_MKFIFO:
		if (mkfifo(p1, 0644) < 0)
			dt_fail(o, "mkfifo");
		break;
	case OP_MKNOD:
		if (mknod(p1, op->mode, S_ISCHR(op->mode) ? makedev(1, 3) : 0) < 0)
			dt_fail(o, "mknod");
		break;
	case OP_MMAP: {
		struct stat st;
		void *map;

		fd = open(p1, O_RDWR | O_NONBLOCK);
		if (fd < 0) {
			dt_fail(o, "open");
			break;
		}
		if (fstat(fd, &st) < 0) {
			dt_fail(o, "fstat");
			break;
		}
		if (!S_ISREG(st.st_mode) || st.st_size == 0) {
			dt_say(o, "not-mappable ");
			break;
		}
		map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED) {
			dt_fail(o, "mmap");
			break;
		}
		{
			size_t off = (size_t)op->off % (size_t)st.st_size;
			size_t len = op->len < (size_t)st.st_size - off ? op->len : (size_t)st.st_size - off;

			memcpy((char *)map + off, buf, len);
			if (msync(map, (size_t)st.st_size, MS_SYNC) < 0)
				dt_fail(o, "msync");
			dt_say(o, "mapped=%zu ", len);
		}
		munmap(map, (size_t)st.st_size);
		break;
	}
	case OP_FSYNC:
		fd = open(p1, O_RDONLY | O_NONBLOCK);
		if (fd < 0)
			dt_fail(o, "open");
		else if (fsync(fd) < 0)
			dt_fail(o, "fsync");
		break;
	case OP_UNLINKED:
		fd = open(p1, O_RDWR | O_NONBLOCK);
		if (fd < 0) {
			dt_fail(o, "open");
			break;
		}
		if (unlink(p1) < 0) {
			dt_fail(o, "unlink");
			break;
		}
		n = pwrite(fd, buf, op->len, op->off);
		if (n < 0) {
			dt_fail(o, "pwrite");
			break;
		}
		dt_fstat_say(fd, o);
		if (pread(fd, back, op->len, op->off) != n || memcmp(back, buf, (size_t)n) != 0)
			dt_say(o, "read-back-differs ");
		break;
	case OP_SLOT_OPEN:
		if (side->slot[op->slot] >= 0)
			close(side->slot[op->slot]);
		side->slot[op->slot] = open(p1, op->flags | O_NONBLOCK, 0644);
		if (side->slot[op->slot] < 0)
			dt_fail(o, "open");
		break;
	case OP_SLOT_WRITE:
		n = pwrite(side->slot[op->slot], buf, op->len, op->off);
		if (n < 0)
			dt_fail(o, "pwrite");
		else
			dt_fstat_say(side->slot[op->slot], o);
		break;
	case OP_SLOT_READ:
		n = pread(side->slot[op->slot], back, op->len, op->off);
		if (n < 0)
			dt_fail(o, "pread");
		else
			dt_say(o, "read=%zd sum=%016" PRIx64 " ", n, (uint64_t)n ? *(uint64_t *)(void *)back ^ (uint64_t)n : 0);
		dt_fstat_say(side->slot[op->slot], o);
		break;
	case OP_SLOT_CLOSE:
		if (side->slot[op->slot] < 0) {
			dt_say(o, "not-open ");
			break;
		}
		if (close(side->slot[op->slot]) < 0)
			dt_fail(o, "close");
		side->slot[op->slot] = -1;
		break;
	case OP_READ:
		fd = open(p1, O_RDONLY | O_NONBLOCK);
		if (fd < 0) {
			dt_fail(o, "open");
			break;
		}
		n = pread(fd, back, op->len, op->off);
		if (n < 0)
			dt_fail(o, "pread");
		else
			dt_say(o, "read=%zd ", n);
		break;
	case OP_KINDS:
		break;
	}
	if (fd >= 0 && close(fd) < 0)
		dt_fail(o, "close");
	if (o->n == 0)
		dt_say(o, "OK");
}

/* -- comparing the trees -------------------------------------------------- */

static bool dt_is_explicit(const struct dt_run *run, ino_t ino)
{
	for (unsigned i = 0; i < run->n_explicit; i++)
		if (run->explicit_ino[i] == ino)
			return true;
	return false;
}

static void dt_forget_ino(struct dt_run *run, ino_t ino)
{
	for (unsigned i = 0; i < run->n_explicit; i++)
		if (run->explicit_ino[i] == ino) {
			run->n_explicit--;
			run->explicit_ino[i] = run->explicit_ino[run->n_explicit];
			run->explicit_dir[i] = run->explicit_dir[run->n_explicit];
		}
}

/* Forget the native inode at REL: the operation about to run may change
 * its mtime.  With NAMES, it may add or remove names, in any folder a
 * symlink leads to: forget every folder. */
static void dt_forget(struct dt_run *run, const char *rel, bool names)
{
	char p[PATH_MAX];
	struct stat st;

	dt_full(&run->b, rel, p);
	if (stat(p, &st) == 0)
		dt_forget_ino(run, st.st_ino);
	if (lstat(p, &st) == 0)
		dt_forget_ino(run, st.st_ino);
	for (unsigned i = 0; names && i < run->n_explicit;) {
		if (run->explicit_dir[i])
			dt_forget_ino(run, run->explicit_ino[i]);
		else
			i++;
	}
}

static int dt_cmp_names(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static int dt_list(const char *dir, char ***names, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0, cap = 16;
	char **v;

	if (!d)
		return -errno;
	v = malloc(cap * sizeof(*v));
	while (v && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			char **nv = realloc(v, (cap *= 2) * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		v[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (!v)
		return -ENOMEM;
	qsort(v, n, sizeof(*v), dt_cmp_names);
	*names = v;
	*count = n;
	return 0;
}

static void dt_free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int dt_differ(struct dt_run *run, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(run->why, sizeof(run->why), fmt, ap);
	va_end(ap);
	return 1;
}

static int dt_cmp_content(struct dt_run *run, const char *rel, const char *pa, const char *pb)
{
	static unsigned char ba[65536], bb[65536];
	int fa = open(pa, O_RDONLY | O_NONBLOCK), fb = open(pb, O_RDONLY | O_NONBLOCK);
	int rc = 0;
	off_t off = 0;

	if ((fa < 0) != (fb < 0)) {
		rc = dt_differ(run, "%s: open for reading: %s here, %s native", rel,
			       fa < 0 ? dt_errname(errno) : "OK", fb < 0 ? dt_errname(errno) : "OK");
		goto out;
	}
	for (;;) {
		ssize_t na = pread(fa, ba, sizeof(ba), off), nb = pread(fb, bb, sizeof(bb), off);

		if (na != nb || (na > 0 && memcmp(ba, bb, (size_t)na) != 0)) {
			size_t i = 0;
			while (na > 0 && nb > 0 && i < (size_t)na && i < (size_t)nb && ba[i] == bb[i])
				i++;
			rc = dt_differ(run, "%s: contents differ at byte %jd (read %zd here, %zd native)", rel,
				       (intmax_t)(off + (off_t)i), na, nb);
			break;
		}
		if (na <= 0)
			break;
		off += na;
	}
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return rc;
}

/* Compares one entry; *dir tells whether to go into it. */
static int dt_cmp_entry(struct dt_run *run, const char *rel, bool contents, bool times, bool *dir)
{
	char pa[PATH_MAX], pb[PATH_MAX];
	struct stat a, b;
	int ea = 0, eb = 0;
	bool special;

	*dir = false;
	dt_full(&run->a, rel, pa);
	dt_full(&run->b, rel, pb);
	if (lstat(pa, &a) < 0)
		ea = errno;
	if (lstat(pb, &b) < 0)
		eb = errno;
	if (ea || eb) {
		if (ea == eb)
			return 0;
		return dt_differ(run, "%s: lstat %s here, %s native", rel, ea ? dt_errname(ea) : "OK",
				 eb ? dt_errname(eb) : "OK");
	}
	if ((a.st_mode & S_IFMT) != (b.st_mode & S_IFMT))
		return dt_differ(run, "%s: type 0%o here, 0%o native", rel, a.st_mode & S_IFMT, b.st_mode & S_IFMT);
	special = !S_ISREG(b.st_mode) && !S_ISDIR(b.st_mode) && !S_ISLNK(b.st_mode);
	if (!(special && (dt_mask & DT_MASK_SPECLINK))) {
		if (a.st_mode != b.st_mode)
			return dt_differ(run, "%s: mode 0%o here, 0%o native", rel, a.st_mode, b.st_mode);
		if (dt_idmap.on && b.st_uid == dt_idmap.from_uid && b.st_gid == dt_idmap.from_gid) {
			b.st_uid = dt_idmap.to_uid;
			b.st_gid = dt_idmap.to_gid;
		}
		if ((a.st_uid != b.st_uid || a.st_gid != b.st_gid) && !(dt_compare_only && (dt_mask & DT_MASK_OWNER)))
			return dt_differ(run, "%s: owner %u:%u here, %u:%u native", rel, a.st_uid, a.st_gid, b.st_uid,
					 b.st_gid);
		if (a.st_nlink != b.st_nlink && !(S_ISDIR(b.st_mode) && (dt_mask & DT_MASK_DIRNLINK)) &&
		    !(!S_ISDIR(b.st_mode) && (dt_mask & DT_MASK_COMMITLINKS)))
			return dt_differ(run, "%s: link count %ju here, %ju native", rel, (uintmax_t)a.st_nlink,
					 (uintmax_t)b.st_nlink);
	}
	if ((S_ISREG(b.st_mode) || S_ISLNK(b.st_mode)) && a.st_size != b.st_size)
		return dt_differ(run, "%s: size %jd here, %jd native", rel, (intmax_t)a.st_size, (intmax_t)b.st_size);
	if (S_ISCHR(b.st_mode) && a.st_rdev != b.st_rdev)
		return dt_differ(run, "%s: device number differs", rel);
	if (times && dt_is_explicit(run, b.st_ino) &&
	    (a.st_mtim.tv_sec != b.st_mtim.tv_sec || a.st_mtim.tv_nsec != b.st_mtim.tv_nsec))
		return dt_differ(run, "%s: mtime %lld.%09ld here, %lld.%09ld native (set by utimensat)", rel,
				 (long long)a.st_mtim.tv_sec, a.st_mtim.tv_nsec, (long long)b.st_mtim.tv_sec,
				 b.st_mtim.tv_nsec);
	if (S_ISLNK(b.st_mode)) {
		char ta[PATH_MAX], tb[PATH_MAX];
		ssize_t na = readlink(pa, ta, sizeof(ta)), nb = readlink(pb, tb, sizeof(tb));

		if (na != nb || (na > 0 && memcmp(ta, tb, (size_t)na) != 0))
			return dt_differ(run, "%s: symlink targets differ (%.*s here, %.*s native)", rel,
					 (int)(na > 0 ? na : 0), ta, (int)(nb > 0 ? nb : 0), tb);
	}
	if (S_ISREG(b.st_mode) && contents)
		return dt_cmp_content(run, rel, pa, pb);
	*dir = S_ISDIR(b.st_mode);
	return 0;
}

static int dt_cmp_tree(struct dt_run *run, const char *rel, unsigned depth, bool contents, bool times)
{
	char pa[PATH_MAX], pb[PATH_MAX], sub[PATH_MAX];
	char **na = NULL, **nb = NULL;
	size_t ca = 0, cb = 0;
	int ra, rb, rc = 0;

	if (depth > DT_MAX_DEPTH)
		return 0;
	dt_full(&run->a, rel, pa);
	dt_full(&run->b, rel, pb);
	ra = dt_list(pa, &na, &ca);
	rb = dt_list(pb, &nb, &cb);
	if (ra || rb) {
		rc = ra == rb ? 0 : dt_differ(run, "%s: readdir %s here, %s native", rel, dt_errname(-ra), dt_errname(-rb));
		goto out;
	}
	for (size_t i = 0; i < ca || i < cb; i++) {
		if (i >= ca || i >= cb || strcmp(na[i], nb[i]) != 0) {
			rc = dt_differ(run, "%s: folder lists %s here, %s native", *rel ? rel : ".",
				       i < ca ? na[i] : "(end)", i < cb ? nb[i] : "(end)");
			goto out;
		}
	}
	for (size_t i = 0; i < ca && !rc; i++) {
		bool dir;

		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", na[i]);
		rc = dt_cmp_entry(run, sub, contents, times, &dir);
		if (!rc && dir)
			rc = dt_cmp_tree(run, sub, depth + 1, contents, times);
	}
out:
	if (na)
		dt_free_list(na, ca);
	if (nb)
		dt_free_list(nb, cb);
	return rc;
}

/* -- running and shrinking ------------------------------------------------ */

static int dt_rm_rf(const char *path)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", path);
	return system(cmd);
}

static int dt_side_init(struct dt_side *side, const char *root, const char *name)
{
	snprintf(side->root, sizeof(side->root), "%s/%s", root, name);
	for (int i = 0; i < DT_SLOTS; i++)
		side->slot[i] = -1;
	if (dt_keep)
		return 0;
	dt_rm_rf(side->root);
	if (mkdir(side->root, 0755) < 0) {
		fprintf(stderr, "difftest: cannot make %s: %s\n", side->root, strerror(errno));
		return -1;
	}
	return 0;
}

static void dt_side_close(struct dt_side *side)
{
	for (int i = 0; i < DT_SLOTS; i++)
		if (side->slot[i] >= 0)
			close(side->slot[i]);
}

static void dt_run_free(struct dt_run *run)
{
	for (size_t i = 0; i < run->n_start_paths; i++)
		free(run->start_paths[i]);
	free(run->start_paths);
	run->start_paths = NULL;
	run->n_start_paths = 0;
}

/* With -k: the starting tree's paths.  rlsfs does not rename in place a
 * folder that sits where the source has an entry, even one made again in
 * the mount over a removed file or folder (it is opaque). */
static void dt_note_start_path(struct dt_run *run, const char *rel)
{
	char **v;

	if (run->n_start_paths >= DT_MAX_ENTRIES)
		return;
	v = realloc(run->start_paths, (run->n_start_paths + 1) * sizeof(*v));
	if (v) {
		v[run->n_start_paths++] = strdup(rel);
		run->start_paths = v;
	}
}

static void dt_note_start_paths(struct dt_run *run, const char *rel, unsigned depth)
{
	char p[PATH_MAX];
	DIR *d;
	struct dirent *e;

	dt_full(&run->b, rel, p);
	d = opendir(p);
	if (!d)
		return;
	dt_note_start_path(run, rel);
	while ((e = readdir(d)) && depth < DT_MAX_DEPTH) {
		char sub[PATH_MAX];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", e->d_name);
		if (e->d_type == DT_DIR)
			dt_note_start_paths(run, sub, depth + 1);
		else
			dt_note_start_path(run, sub);
	}
	closedir(d);
}

static bool dt_is_start_dir(const struct dt_run *run, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	dt_full(&run->b, rel, p);
	if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode))
		return false;
	for (size_t i = 0; i < run->n_start_paths; i++)
		if (run->start_paths[i] && !strcmp(run->start_paths[i], rel))
			return true;
	return false;
}

static bool dt_is_special(const struct dt_run *run, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	dt_full(&run->b, rel, p);
	return stat(p, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

/* One operation on both sides; 1 when they differ (run->why says how). */
static int dt_step(struct dt_run *run, const struct dt_op *op, bool contents)
{
	struct dt_out oa = {.n = 0}, ob = {.n = 0};

	if (op->kind == OP_RENAME && (dt_mask & DT_MASK_SRCDIRS) &&
	    (dt_is_start_dir(run, op->p1) || dt_is_start_dir(run, op->p2)))
		return 0;
	if (op->kind == OP_LINK && (dt_mask & DT_MASK_SPECLINK) && dt_is_special(run, op->p1))
		return 0;

	/* The operations that may change an mtime drop it from the
	 * compared set, on the native side, before they run. */
	switch (op->kind) {
	case OP_UTIMENS:
	case OP_CHMOD:
	case OP_CHOWN:
	case OP_FSYNC:
	case OP_READ:
	case OP_SLOT_READ:
	case OP_SLOT_CLOSE:
		break;
	case OP_SLOT_WRITE:
		if (run->b.slot[op->slot] >= 0) {
			struct stat st;
			if (fstat(run->b.slot[op->slot], &st) == 0)
				dt_forget_ino(run, st.st_ino);
		}
		break;
	default:
		dt_forget(run, op->p1, true);
		dt_forget(run, op->p2, true);
		break;
	}
	dt_apply(&run->a, op, &oa);
	dt_apply(&run->b, op, &ob);
	if (dt_verbose) {
		char buf[512];
		dt_fmt(op, buf, sizeof(buf));
		fprintf(stderr, "%s => %s\n", buf, ob.s);
	}
	if (strcmp(oa.s, ob.s) != 0)
		return dt_differ(run, "outcome: %shere, %snative", oa.s, ob.s);
	if (op->kind == OP_UTIMENS && strcmp(ob.s, "OK") == 0 && op->ts[1].tv_nsec != UTIME_OMIT) {
		char p[PATH_MAX];
		struct stat st;

		dt_full(&run->b, op->p1, p);
		if ((op->flags ? lstat(p, &st) : stat(p, &st)) == 0 && run->n_explicit < DT_EXPLICIT &&
		    !dt_is_explicit(run, st.st_ino)) {
			run->explicit_dir[run->n_explicit] = S_ISDIR(st.st_mode);
			run->explicit_ino[run->n_explicit++] = st.st_ino;
		}
	}
	if (dt_cmp_tree(run, "", 0, contents, true))
		return 1;
	/* The contents of what the operation named, each time. */
	if (!contents) {
		for (int k = 0; k < 2; k++) {
			const char *rel = k ? op->p2 : op->p1;
			char pa[PATH_MAX], pb[PATH_MAX];
			struct stat st;

			dt_full(&run->a, rel, pa);
			dt_full(&run->b, rel, pb);
			if (stat(pb, &st) == 0 && S_ISREG(st.st_mode) && dt_cmp_content(run, rel, pa, pb))
				return 1;
		}
	}
	return 0;
}

static double dt_now(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Replays the operations LIST[0..n) (indices into the seed's sequence) in
 * fresh folders; returns the position of the first difference, or n.
 * EVERY: compare all contents every EVERY operations (1: each time). */
static size_t dt_replay(uint64_t seed, const uint64_t *list, size_t n, unsigned every, const char *ra,
			const char *rb, const char *name, struct dt_run *run, double deadline)
{
	size_t i;

	dt_run_free(run);
	memset(run, 0, sizeof(*run));
	if (dt_side_init(&run->a, ra, name) < 0 || dt_side_init(&run->b, rb, name) < 0)
		exit(2);
	if (dt_keep && (dt_mask & DT_MASK_SRCDIRS))
		dt_note_start_paths(run, "", 0);
	for (i = 0; i < n; i++) {
		struct dt_op op;
		bool full = every <= 1 || (i + 1) % every == 0 || i + 1 == n;

		if (deadline > 0 && i % 64 == 0 && dt_now() > deadline)
			break;
		dt_gen(seed, list[i], &op);
		if (dt_step(run, &op, full))
			break;
	}
	dt_side_close(&run->a);
	dt_side_close(&run->b);
	return i;
}

/* Shrinks LIST (ending in the operation that showed a difference) to a
 * shorter list that still shows a difference at its last operation:
 * drops chunks of halving size, then single operations. */
static size_t dt_shrink(uint64_t seed, uint64_t *list, size_t n, unsigned every, const char *ra, const char *rb,
			struct dt_run *run, double seconds)
{
	uint64_t *trial = malloc(n * sizeof(*trial));
	double deadline = dt_now() + seconds;

	if (!trial)
		return n;
	for (size_t chunk = n / 2 ? n / 2 : 1; chunk >= 1 && dt_now() < deadline; chunk /= 2) {
		for (size_t start = 0; start + 1 < n && dt_now() < deadline;) {
			size_t len = start + chunk < n ? chunk : n - 1 - start, m = 0;

			if (len == 0)
				break;
			for (size_t i = 0; i < n; i++)
				if (i < start || i >= start + len)
					trial[m++] = list[i];
			size_t r = dt_replay(seed, trial, m, every, ra, rb, "dt-shrink", run, 0);

			if (r < m) {
				/* Still differs, perhaps earlier: keep up to there. */
				memcpy(list, trial, (r + 1) * sizeof(*list));
				n = r + 1;
			} else {
				start += len;
			}
		}
		if (chunk == 1)
			break;
	}
	free(trial);
	return n;
}

static void dt_print_trace(uint64_t seed, const uint64_t *list, size_t n)
{
	size_t from = n > 40 ? n - 40 : 0;

	if (from)
		printf("#   (%zu operations before these)\n", from);
	for (size_t i = from; i < n; i++) {
		struct dt_op op;
		char buf[512];

		dt_gen(seed, list[i], &op);
		dt_fmt(&op, buf, sizeof(buf));
		printf("#   op %" PRIu64 ": %s\n", list[i], buf);
	}
}

static int dt_usage(void)
{
	fputs("usage: difftest [-s SEED] [-n OPS] [-t SECONDS] [-c EVERY] [-x MASK]... [-d NAME] [-k] [-q] [-v]\n"
	      "                TESTED NATIVE\n"
	      "       difftest -C [-x MASK]... [-u UID:GID=UID:GID] TESTED NATIVE\n"
	      "masks: dirnlink speclink owner setid nodev gonespecial srcdirs commitlinks perms\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t seed = 1, ops = 2000;
	unsigned every = 50;
	double seconds = 0, deadline = 0;
	bool compare_only = false;
	const char *name = NULL;
	char dflt[64];
	struct dt_run *run;
	uint64_t *list = NULL;
	size_t done;
	int rc;
	int c;

	while ((c = getopt(argc, argv, "s:n:t:c:x:d:u:kqvC")) != -1) {
		switch (c) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'n': ops = strtoull(optarg, NULL, 0); break;
		case 't': seconds = strtod(optarg, NULL); break;
		case 'c': every = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'q': dt_quiet = true; break;
		case 'v': dt_verbose = true; break;
		case 'k': dt_keep = true; break;
		case 'd': name = optarg; break;
		case 'C': compare_only = dt_compare_only = true; break;
		case 'u':
			if (sscanf(optarg, "%u:%u=%u:%u", &dt_idmap.from_uid, &dt_idmap.from_gid, &dt_idmap.to_uid,
				   &dt_idmap.to_gid) != 4)
				return dt_usage();
			dt_idmap.on = true;
			break;
		case 'x': {
			size_t k;
			for (k = 0; k < sizeof(dt_masks) / sizeof(dt_masks[0]); k++)
				if (!strcmp(optarg, dt_masks[k].name))
					break;
			if (k == sizeof(dt_masks) / sizeof(dt_masks[0])) {
				fprintf(stderr, "difftest: no mask named %s\n", optarg);
				return dt_usage();
			}
			dt_mask |= dt_masks[k].bit;
			break;
		}
		default: return dt_usage();
		}
	}
	if (argc - optind != 2 || ops == 0)
		return dt_usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	run = calloc(1, sizeof(*run));
	if (!run)
		return 2;

	if (compare_only) {
		snprintf(run->a.root, sizeof(run->a.root), "%s", argv[optind]);
		snprintf(run->b.root, sizeof(run->b.root), "%s", argv[optind + 1]);
		if (dt_cmp_tree(run, "", 0, true, false)) {
			printf("difference: %s\n", run->why);
			rc = 1;
			goto out;
		}
		printf("ok: the trees are equal\n");
		rc = 0;
		goto out;
	}

	if (seconds > 0)
		deadline = dt_now() + seconds;
	list = malloc((size_t)(seconds > 0 ? DT_MAX_TIMED : ops) * sizeof(*list));
	if (!list) {
		rc = 2;
		goto out;
	}
	if (seconds > 0)
		ops = DT_MAX_TIMED;
	for (uint64_t i = 0; i < ops; i++)
		list[i] = i;
	if (!name) {
		snprintf(dflt, sizeof(dflt), "dt-%" PRIu64, seed);
		name = dflt;
	}
	done = dt_replay(seed, list, (size_t)ops, every, argv[optind], argv[optind + 1], name, run, deadline);
	if (done == ops || (seconds > 0 && run->why[0] == '\0')) {
		printf("ok seed %" PRIu64 ": %zu operations, no difference\n", seed, done);
		rc = 0;
		goto out;
	}
	printf("not ok seed %" PRIu64 ": first difference after op %zu of %" PRIu64 "\n", seed, done,
	       seconds > 0 ? (uint64_t)done + 1 : ops);
	printf("#   %s\n", run->why);
	if (dt_keep) {
		/* The starting trees cannot be made again: the last operations. */
		size_t from = done > 30 ? done - 30 : 0;
		printf("#   the operations before it:\n");
		dt_print_trace(seed, list + from, done + 1 - from);
		rc = 1;
		goto out;
	}
	/* The difference showed at op DONE (perhaps later than it arose,
	 * when contents are compared every EVERY ops): replay with a full
	 * comparison at every op to find the first, then shrink. */
	done = dt_replay(seed, list, done + 1, 1, argv[optind], argv[optind + 1], "dt-shrink", run, 0);
	if (run->why[0] == '\0') {
		printf("#   the difference does not come back when replayed\n");
		rc = 1;
		goto out;
	}
	printf("#   first differing op %zu: %s\n", done, run->why);
	{
		size_t n = dt_shrink(seed, list, done + 1, every, argv[optind], argv[optind + 1], run, dt_quiet ? 20 : 120);

		dt_replay(seed, list, n, 1, argv[optind], argv[optind + 1], "dt-shrink", run, 0);
		printf("#   minimal trace (%zu ops; replay: difftest -s %" PRIu64 " -n %zu ...):\n", n, seed, done + 1);
		dt_print_trace(seed, list, n);
		printf("#   then: %s\n", run->why);
	}
	rc = 1;
out:
	dt_run_free(run);
	free(run);
	free(list);
	return rc;
}
