/* delta-data.c - data files: copy-up, hashing, creation. */
#include "../../delta/delta.h"
#include "tap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <xxhash.h>

int main(void)
{
	char tmp[256], src[300], dir[300], file[320], path[400], name[17];
	delta *d = NULL;
	rls_error err;
	delta_base base, base2;
	struct stat st, dst;
	char buf[64];
	int sfd, fd;
	static char big[3 << 20];

	snprintf(tmp, sizeof tmp, "%s/rls-delta-data.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return 1;
	snprintf(src, sizeof src, "%s/src", tmp);
	snprintf(dir, sizeof dir, "%s/delta", tmp);
	TAP_MUST(mkdir(src, 0755));
	if (delta_open(dir, src, DELTA_CREATE, &d, &err) < 0) {
		tap_diag("%s", err.msg);
		return 1;
	}

	snprintf(file, sizeof file, "%s/hello.txt", src);
	fd = TAP_MUST(open(file, O_WRONLY | O_CREAT | O_TRUNC, 0640));
	TAP_MUST(write(fd, "hello, world\n", 13));
	close(fd);
	struct timespec old[2] = { { 1000000000, 5 }, { 1100000000, 123456789 } };
	TAP_MUST(utimensat(AT_FDCWD, file, old, 0));
	TAP_MUST(stat(file, &st));

	sfd = TAP_MUST(open(file, O_RDONLY));
	fd = delta_copy_up(d, 7, sfd, &base, &err);
	if (!tap_ok(fd >= 0, "a file is copied up"))
		tap_diag("%s", err.msg);
	tap_ok(base.dev == st.st_dev && base.ino == st.st_ino && base.size == 13 &&
	       base.mtime_ns == 1100000000123456789LL && base.ctime_ns == st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec,
	       "the base holds the source's identity, size and times");
	tap_ok(base.has_hash && base.xxh3 == XXH3_64bits("hello, world\n", 13), "and the xxh3 of its content");
	memset(buf, 0, sizeof buf);
	tap_ok(pread(fd, buf, sizeof buf, 0) == 13 && !strcmp(buf, "hello, world\n"), "the copy has the same bytes");
	fstat(fd, &dst);
	tap_ok(dst.st_mtim.tv_sec == 1100000000 && dst.st_mtim.tv_nsec == 123456789,
	       "the copy carries the source's mtime");
	tap_ok(pwrite(fd, "J", 1, 0) == 1, "the returned fd is writable");
	close(fd);
	delta_data_name(7, name);
	snprintf(path, sizeof path, "%s/data/%s", dir, name);
	tap_ok(stat(path, &dst) == 0 && dst.st_size == 13, "the data file is named by the id");
	memset(buf, 0, sizeof buf);
	fd = TAP_MUST(open(file, O_RDONLY));
	tap_ok(read(fd, buf, sizeof buf) == 13 && buf[0] == 'h', "the source is untouched");
	close(fd);

	tap_ok(delta_hash_fd(sfd, &base2, &err) == 0 && base2.xxh3 == base.xxh3 && base2.ino == base.ino,
	       "delta_hash_fd agrees with copy-up");
	close(sfd);

	/* copying up again over a leftover replaces it */
	sfd = TAP_MUST(open(file, O_RDONLY));
	fd = delta_copy_up(d, 7, sfd, &base, &err);
	tap_ok(fd >= 0, "copy-up over a leftover data file works");
	memset(buf, 0, sizeof buf);
	tap_ok(fd >= 0 && pread(fd, buf, sizeof buf, 0) == 13 && buf[0] == 'h', "and replaces its content");
	close(fd);
	close(sfd);

	/* a bigger file, several chunks */
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i * 2654435761u >> 13);
	snprintf(file, sizeof file, "%s/big.bin", src);
	fd = TAP_MUST(open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644));
	TAP_MUST(write(fd, big, sizeof big));
	close(fd);
	sfd = TAP_MUST(open(file, O_RDONLY));
	fd = delta_copy_up(d, 8, sfd, &base, &err);
	tap_ok(fd >= 0 && base.xxh3 == XXH3_64bits(big, sizeof big) && base.size == sizeof big,
	       "a multi-megabyte file hashes right");
	fstat(fd, &dst);
	tap_is_int(dst.st_size, sizeof big, "and is copied whole");
	close(fd);
	close(sfd);

	tap_ok(delta_copy_up(d, 9, delta_data_fd(d), &base, &err) < 0, "copy-up of a non-regular file fails");

	fd = delta_data_create(d, 10, &err);
	fstat(fd, &dst);
	tap_ok(fd >= 0 && dst.st_size == 0, "an empty data file is created");
	close(fd);
	fd = delta_data_open(d, 10, O_RDONLY, &err);
	tap_ok(fd >= 0, "and opened again");
	close(fd);
	tap_ok(delta_data_open(d, 11, O_RDONLY, &err) < 0 && err.code == ENOENT, "a missing data file gives ENOENT");

	delta_close(d);
	snprintf(path, sizeof path, "rm -rf '%s'", tmp);
	(void)!system(path);
	return tap_done();
}
