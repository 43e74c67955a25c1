/* data.c - the delta's data files: names, creation, copy-up, hashing. */
#include "delta-int.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <xxhash.h>

#define COPY_CHUNK (1u << 20)
#define SMALL_FILE (256 << 10)

static int write_all_at(int fd, const char *p, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

void delta_data_name(uint64_t id, char buf[static 17])
{
	snprintf(buf, 17, "%016llx", (unsigned long long)id);
}

int delta_data_open(delta *d, uint64_t id, int flags, rls_error *err)
{
	char name[17];
	int fd;

	delta_data_name(id, name);
	fd = openat(d->data_fd, name, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return rls_error_set(err, errno, "delta data %s", name);
	return fd;
}

int delta_data_create(delta *d, uint64_t id, rls_error *err)
{
	char name[17];
	int fd = delta_data_open(d, id, O_RDWR | O_CREAT | O_EXCL, err);

	if (fd >= 0 || err->code != EEXIST)
		return fd;
	/* A file by this name can only be left over from a crash that lost the
	 * index entry (the live index skips syncs), or from an operation that
	 * failed after making it: it is garbage, and its blocks go. */
	delta_data_name(id, name);
	delta_quota_unlink(d, name);
	return delta_data_open(d, id, O_RDWR | O_CREAT | O_TRUNC, err);
}

int delta_hash_content(int fd, uint64_t *out, rls_error *err)
{
	XXH3_state_t *st = XXH3_createState();
	_cleanup_free_ char *buf = rls_xmalloc(COPY_CHUNK);
	off_t off = 0;

	if (!st)
		rls_die_oom();
	XXH3_64bits_reset(st);
	for (;;) {
		ssize_t r = pread(fd, buf, COPY_CHUNK, off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			XXH3_freeState(st);
			return rls_error_set(err, errno, "read");
		}
		if (r == 0)
			break;
		XXH3_64bits_update(st, buf, (size_t)r);
		off += r;
	}
	*out = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return 0;
}

static void base_from_stat(const struct stat *st, delta_base *base)
{
	memset(base, 0, sizeof *base);
	base->dev = st->st_dev;
	base->ino = st->st_ino;
	base->size = (uint64_t)st->st_size;
	base->mtime_ns = delta_ts_ns(&st->st_mtim);
	base->ctime_ns = delta_ts_ns(&st->st_ctim);
}

int delta_hash_fd(int fd, delta_base *base, rls_error *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return rls_error_set(err, errno, "stat");
	if (!S_ISREG(st.st_mode))
		return rls_error_set(err, EINVAL, "hash: not a regular file");
	base_from_stat(&st, base);
	if (delta_hash_content(fd, &base->xxh3, err) < 0)
		return -1;
	base->has_hash = 1;
	return 0;
}

/* Feed n zero bytes (a hole) to the hash. */
static void hash_zeros(XXH3_state_t *st, uint64_t n)
{
	static const char zeros[1 << 16];

	for (; st && n; n -= n < sizeof zeros ? n : sizeof zeros)
		XXH3_64bits_update(st, zeros, n < sizeof zeros ? n : sizeof zeros);
}

/* Copy all of src into the empty dst (both at offset 0): reflink, then
 * in-kernel copy, then plain read/write from wherever the in-kernel copy
 * gave up (it may refuse a pair of filesystems only part way).  *hashed
 * says whether *hash was computed on the way (only a read/write copy from
 * offset 0 sees every byte).
 *
 * A sparse file stays sparse: its holes are skipped, never written as
 * zeros.  A terabyte file of one byte, made in the sandbox for the price of
 * a block, must not cost the source's disk a terabyte at commit (an
 * in-kernel copy fills holes, so it is not used for those). */
static int copy_data(int src, int dst, uint64_t *hash, bool *hashed, rls_error *err)
{
	loff_t in = 0, out = 0;
	XXH3_state_t *st = NULL;
	_cleanup_free_ char *buf = NULL;
	bool sparse = false;
	int ret = -1;

	struct stat sst;

	*hashed = false;
	if (fstat(src, &sst) == 0) {
		sparse = (uint64_t)sst.st_blocks * 512 < (uint64_t)sst.st_size;
		/* For small files the setup of a reflink or an in-kernel copy
		 * costs more than the copy (measured: copy_file_range is 2x
		 * read/write on a few-byte ext4 file). */
		if (sst.st_size <= SMALL_FILE)
			goto plain;
	}
	if (ioctl(dst, FICLONE, src) == 0)
		return 0;
	if (sparse)
		goto plain;
	for (;;) {
		ssize_t n = copy_file_range(src, &in, dst, &out, COPY_CHUNK * 16, 0);

		if (n > 0)
			continue;
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
		    errno == EBADF)
			break;
		return rls_error_set(err, errno, "copy");
	}
	if (in != out)
		return rls_error_set(err, EIO, "copy: offsets diverged");
plain:
	buf = rls_xmalloc(COPY_CHUNK);
	if (in == 0) {
		st = XXH3_createState();
		if (!st)
			rls_die_oom();
		XXH3_64bits_reset(st);
	}
	for (off_t off = in;;) {
		size_t want = COPY_CHUNK;
		ssize_t r;

		if (sparse) {
			off_t data = lseek(src, off, SEEK_DATA), hole;

			if (data < 0 && errno == ENXIO) {
				/* a hole to the end */
				off_t end = lseek(src, 0, SEEK_END);

				if (end < 0 || (end > off && ftruncate(dst, end) < 0)) {
					rls_error_set(err, errno, "copy: size");
					goto out;
				}
				hash_zeros(st, end > off ? (uint64_t)(end - off) : 0);
				break;
			}
			if (data < 0) {
				sparse = false;	/* no hole to be found: plain */
			} else {
				hash_zeros(st, (uint64_t)(data - off));
				off = data;
				hole = lseek(src, off, SEEK_HOLE);
				if (hole > off && (uint64_t)(hole - off) < want)
					want = (size_t)(hole - off);
			}
		}
		r = pread(src, buf, want, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rls_error_set(err, errno, "copy: read");
			goto out;
		}
		if (r == 0)
			break;
		if (write_all_at(dst, buf, (size_t)r, off) < 0) {
			rls_error_set(err, errno, "copy: write");
			goto out;
		}
		if (st)
			XXH3_64bits_update(st, buf, (size_t)r);
		off += r;
	}
	if (st) {
		*hash = XXH3_64bits_digest(st);
		*hashed = true;
	}
	ret = 0;
out:
	if (st)
		XXH3_freeState(st);
	return ret;
}

int delta_copy_data(int src, int dst, rls_error *err)
{
	uint64_t h;
	bool hashed;

	return copy_data(src, dst, &h, &hashed, err);
}

/* Give an anonymous (O_TMPFILE) file the name `name` in DELTA/data,
 * replacing a leftover of the same name. */
static int link_tmpfile(delta *d, int fd, const char *name, rls_error *err)
{
	char proc[64];

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	for (int tries = 0; tries < 2; tries++) {
		if (linkat(AT_FDCWD, proc, d->data_fd, name, AT_SYMLINK_FOLLOW) == 0)
			return 0;
		if (errno == ENOENT && linkat(fd, "", d->data_fd, name, AT_EMPTY_PATH) == 0)
			return 0;
		if (errno != EEXIST)
			break;
		delta_quota_unlink(d, name);
	}
	return rls_error_set(err, errno, "delta data %s", name);
}

int delta_copy_up(delta *d, uint64_t id, int srcfd, delta_base *base, rls_error *err)
{
	_cleanup_close_ int fd = -1;
	char name[17], tmp[64] = "";
	struct stat st, got;
	uint64_t hash = 0, want;
	bool hashed;

	delta_data_name(id, name);
	if (fstat(srcfd, &st) < 0)
		return rls_error_set(err, errno, "copy-up: stat");
	if (!S_ISREG(st.st_mode))
		return rls_error_set(err, EINVAL, "copy-up: not a regular file");
	/* Room for what the copy will take, settled once it is made: a
	 * sparse file's blocks (its holes are kept), else the whole size (an
	 * in-kernel copy may allocate what the source shares or defers). */
	want = ((uint64_t)st.st_size + 4095) / 4096 * 4096;
	if ((uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size || (uint64_t)st.st_blocks * 512 > want)
		want = (uint64_t)st.st_blocks * 512;
	if (delta_quota_reserve(d, want, err) < 0)
		return -1;

	/* Build the copy where no one can see it, so a crash never leaves a
	 * half file under the id. */
	fd = openat(d->data_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
			rls_error_set(err, errno, "copy-up: temporary file");
			goto fail;
		}
		snprintf(tmp, sizeof tmp, ".tmp-%s-%ld", name, (long)gettid());
		/* a leftover of a crash is unlinked, never opened */
		fd = openat(d->data_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 && errno == EEXIST && unlinkat(d->data_fd, tmp, 0) == 0)
			fd = openat(d->data_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			rls_error_set(err, errno, "copy-up: temporary file");
			tmp[0] = '\0';
			goto fail;
		}
	}
	if (copy_data(srcfd, fd, &hash, &hashed, err) < 0)
		goto fail;
	if (!hashed && delta_hash_content(srcfd, &hash, err) < 0)
		goto fail;
	/* A copy-up changes nothing a reader of the file can see: keep times. */
	struct timespec times[2] = { st.st_atim, st.st_mtim };
	futimens(fd, times);
	if (tmp[0]) {
		if (renameat(d->data_fd, tmp, d->data_fd, name) < 0) {
			rls_error_set(err, errno, "copy-up: rename");
			goto fail;
		}
	} else if (link_tmpfile(d, fd, name, err) < 0) {
		goto fail;
	}
	base_from_stat(&st, base);
	base->xxh3 = hash;
	base->has_hash = 1;
	delta_quota_charge(d, (fstat(fd, &got) == 0 ? (int64_t)got.st_blocks * 512 : (int64_t)want) - (int64_t)want);
	return steal_fd(&fd);
fail:
	delta_quota_charge(d, -(int64_t)want);
	rls_error_prefix(err, "copy-up of inode %s", name);
	if (tmp[0])
		unlinkat(d->data_fd, tmp, 0);
	return -1;
}

int delta_clear_data(delta *d, rls_error *err)
{
	_cleanup_close_ int fd = openat(d->data_sync_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;
	struct dirent *de;

	if (fd < 0)
		return rls_error_set(err, errno, "%s/data", d->path);
	dir = fdopendir(fd);
	if (!dir)
		return rls_error_set(err, errno, "%s/data", d->path);
	fd = -1;
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dirfd(dir), de->d_name, 0) < 0 && errno != ENOENT) {
			/* The message is made before closedir, which frees de. */
			rls_error_set(err, errno, "%s/data/%s", d->path, de->d_name);
			closedir(dir);
			return -1;
		}
	}
	closedir(dir);
	return 0;
}
