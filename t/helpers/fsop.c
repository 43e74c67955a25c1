/* fsop.c - run one file system call and print its outcome, for the tests.
 *
 *   fsop OP ARGS...   prints "OK" (and a result, if any) or the errno name
 *                     and exits 0; a usage error exits 2.
 *
 * The shell cannot say "rename with RENAME_NOREPLACE" or "open O_EXCL" and
 * report the exact errno; this can.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case ENOENT: return "ENOENT";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case EEXIST: return "EEXIST";
	case EXDEV: return "EXDEV";
	case ENOTEMPTY: return "ENOTEMPTY";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ELOOP: return "ELOOP";
	case EROFS: return "EROFS";
	case EBADF: return "EBADF";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ENODATA: return "ENODATA";
	case ENOTSUP: return "ENOTSUP";
	case EBUSY: return "EBUSY";
	case ENOSPC: return "ENOSPC";
	case EMFILE: return "EMFILE";
	case EFBIG: return "EFBIG";
	case EDQUOT: return "EDQUOT";
	case ENOMEM: return "ENOMEM";
	}
	return strerror(e);
}

static int report(int r)
{
	if (r < 0)
		puts(errname(errno));
	else
		puts("OK");
	return 0;
}

static int usage(void)
{
	fputs("usage: fsop rename OLD NEW [noreplace|exchange] | open PATH FLAGS | link OLD NEW |\n"
	      "            symlink TARGET PATH | mkdir PATH | rmdir PATH | unlink PATH | mknod-fifo PATH |\n"
	      "            chmod PATH MODE | chown PATH UID GID | truncate PATH SIZE | utime PATH SEC | setxattr PATH NAME VALUE |\n"
	      "            getxattr PATH NAME | readlink PATH | stat PATH | lstat PATH | access PATH r|w|x|f |\n"
	      "            mmap-write PATH TEXT | pwrite PATH OFFSET TEXT | append PATH TEXT | open-unlink-read PATH |\n"
	      "            open-unlink-rw PATH TEXT | open-unlink-trunc PATH SIZE |\n"
	      "            utimens PATH SEC NSEC | fsync PATH TEXT |\n"
	      "            copy-range IN OUT LEN | fallocate PATH OFF LEN [keep|punch] | listxattr PATH |\n"
	      "            removexattr PATH NAME | pread PATH OFFSET LEN | readdir-unlink DIR |\n"
	      "            fd-truncate PATH SIZE | fd-chmod PATH MODE | unlinked-utime PATH SEC |\n"
	      "            unlinked-chmod PATH MODE | handle PATH | mmap-linked A B OFFSET TEXT |\n"
	      "            fifo-linked A B TEXT | open-unlink-fstat PATH\n",
	      stderr);
	return 2;
}

static int open_flags(const char *s)
{
	int f = 0;

	if (strchr(s, 'r') && strchr(s, 'w'))
		f |= O_RDWR;
	else if (strchr(s, 'w'))
		f |= O_WRONLY;
	if (strchr(s, 'c'))
		f |= O_CREAT;
	if (strchr(s, 'x'))
		f |= O_EXCL;
	if (strchr(s, 't'))
		f |= O_TRUNC;
	if (strchr(s, 'a'))
		f |= O_APPEND;
	if (strchr(s, 'd'))
		f |= O_DIRECTORY;
	if (strchr(s, 'n'))
		f |= O_NOFOLLOW;
	return f;
}

int main(int argc, char **argv)
{
	const char *op = argc > 1 ? argv[1] : "";

	if (!strcmp(op, "rename") && (argc == 4 || argc == 5)) {
		unsigned flags = 0;

		if (argc == 5)
			flags = !strcmp(argv[4], "noreplace") ? RENAME_NOREPLACE :
				!strcmp(argv[4], "exchange") ? RENAME_EXCHANGE : 0;
		return report(renameat2(AT_FDCWD, argv[2], AT_FDCWD, argv[3], flags));
	}
	if (!strcmp(op, "open") && argc == 4) {
		int fd = open(argv[2], open_flags(argv[3]), 0644);

		if (fd >= 0)
			close(fd);
		return report(fd);
	}
	if (!strcmp(op, "link") && argc == 4)
		return report(link(argv[2], argv[3]));
	if (!strcmp(op, "symlink") && argc == 4)
		return report(symlink(argv[2], argv[3]));
	if (!strcmp(op, "mkdir") && argc == 3)
		return report(mkdir(argv[2], 0755));
	if (!strcmp(op, "rmdir") && argc == 3)
		return report(rmdir(argv[2]));
	if (!strcmp(op, "unlink") && argc == 3)
		return report(unlink(argv[2]));
	if (!strcmp(op, "mknod-fifo") && argc == 3)
		return report(mkfifo(argv[2], 0644));
	if (!strcmp(op, "chmod") && argc == 4)
		return report(chmod(argv[2], (mode_t)strtol(argv[3], NULL, 8)));
	if (!strcmp(op, "chown") && argc == 5)
		return report(lchown(argv[2], (uid_t)atol(argv[3]), (gid_t)atol(argv[4])));
	if (!strcmp(op, "truncate") && argc == 4)
		return report(truncate(argv[2], atoll(argv[3])));
	if (!strcmp(op, "utime") && argc == 4) {
		struct timespec ts[2] = { { atoll(argv[3]), 0 }, { atoll(argv[3]), 0 } };

		return report(utimensat(AT_FDCWD, argv[2], ts, AT_SYMLINK_NOFOLLOW));
	}
	if (!strcmp(op, "setxattr") && argc == 5)
		return report(setxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0));
	if (!strcmp(op, "getxattr") && argc == 4) {
		char buf[256];
		ssize_t n = getxattr(argv[2], argv[3], buf, sizeof buf - 1);

		if (n < 0)
			return report(-1);
		buf[n] = '\0';
		printf("OK %s\n", buf);
		return 0;
	}
	if (!strcmp(op, "readlink") && argc == 3) {
		char buf[4096];
		ssize_t n = readlink(argv[2], buf, sizeof buf - 1);

		if (n < 0)
			return report(-1);
		buf[n] = '\0';
		printf("OK %s\n", buf);
		return 0;
	}
	if ((!strcmp(op, "stat") || !strcmp(op, "lstat")) && argc == 3) {
		struct stat st;

		if ((op[0] == 's' ? stat(argv[2], &st) : lstat(argv[2], &st)) < 0)
			return report(-1);
		printf("OK mode=%o nlink=%lu size=%lld\n", st.st_mode, (unsigned long)st.st_nlink,
		       (long long)st.st_size);
		return 0;
	}
	if (!strcmp(op, "access") && argc == 4) {
		int m = argv[3][0] == 'r' ? R_OK : argv[3][0] == 'w' ? W_OK : argv[3][0] == 'x' ? X_OK : F_OK;

		return report(access(argv[2], m));
	}
	if (!strcmp(op, "mmap-write") && argc == 4) {
		int fd = open(argv[2], O_RDWR);
		size_t len = strlen(argv[3]);
		char *p;

		if (fd < 0)
			return report(-1);
		if (ftruncate(fd, (off_t)len) < 0)
			return report(-1);
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			return report(-1);
		memcpy(p, argv[3], len);
		if (msync(p, len, MS_SYNC) < 0)
			return report(-1);
		munmap(p, len);
		return report(close(fd));
	}
	if (!strcmp(op, "pwrite") && argc == 5) {
		int fd = open(argv[2], O_WRONLY | O_CREAT, 0644);

		if (fd < 0)
			return report(-1);
		if (pwrite(fd, argv[4], strlen(argv[4]), atoll(argv[3])) < 0)
			return report(-1);
		return report(close(fd));
	}
	if (!strcmp(op, "append") && argc == 4) {
		int fd = open(argv[2], O_WRONLY | O_APPEND);

		if (fd < 0)
			return report(-1);
		/* a positioned write on an O_APPEND descriptor still appends */
		if (pwrite(fd, argv[3], strlen(argv[3]), 0) < 0)
			return report(-1);
		return report(close(fd));
	}
	if (!strcmp(op, "open-unlink-read") && argc == 3) {
		char buf[256];
		int fd = open(argv[2], O_RDONLY);
		ssize_t n;

		if (fd < 0)
			return report(-1);
		if (unlink(argv[2]) < 0)
			return report(-1);
		n = read(fd, buf, sizeof buf - 1);
		if (n < 0)
			return report(-1);
		buf[n] = '\0';
		printf("OK %s\n", buf);
		return 0;
	}
	if (!strcmp(op, "open-unlink-rw") && argc == 4) {
		/* the data stays reachable through the descriptor after the
		 * last name is gone: write, read back, and say how many links */
		char buf[256];
		size_t len = strlen(argv[3]);
		int fd = open(argv[2], O_RDWR);
		struct stat st;
		ssize_t n;

		if (fd < 0 || unlink(argv[2]) < 0)
			return report(-1);
		if (pwrite(fd, argv[3], len, 0) < 0 || fsync(fd) < 0 || fstat(fd, &st) < 0)
			return report(-1);
		n = pread(fd, buf, sizeof buf - 1, 0);
		if (n < 0)
			return report(-1);
		buf[n] = '\0';
		printf("OK nlink=%lu size=%lld %s\n", (unsigned long)st.st_nlink, (long long)st.st_size, buf);
		return 0;
	}
	if (!strcmp(op, "open-unlink-trunc") && argc == 4) {
		int fd = open(argv[2], O_RDWR);
		struct stat st;

		if (fd < 0 || unlink(argv[2]) < 0)
			return report(-1);
		if (ftruncate(fd, atoll(argv[3])) < 0 || fstat(fd, &st) < 0)
			return report(-1);
		printf("OK nlink=%lu size=%lld\n", (unsigned long)st.st_nlink, (long long)st.st_size);
		return 0;
	}
	if (!strcmp(op, "utimens") && argc == 5) {
		struct timespec ts[2] = { { atoll(argv[3]), atol(argv[4]) }, { atoll(argv[3]), atol(argv[4]) } };

		return report(utimensat(AT_FDCWD, argv[2], ts, AT_SYMLINK_NOFOLLOW));
	}
	if (!strcmp(op, "fsync") && argc == 4) {
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd < 0)
			return report(-1);
		if (write(fd, argv[3], strlen(argv[3])) < 0 || fsync(fd) < 0 || fdatasync(fd) < 0)
			return report(-1);
		return report(close(fd));
	}
	if (!strcmp(op, "copy-range") && argc == 5) {
		int in = open(argv[2], O_RDONLY);
		int out = open(argv[3], O_WRONLY | O_CREAT, 0644);
		size_t left = (size_t)atoll(argv[4]), total = 0;

		if (in < 0 || out < 0)
			return report(-1);
		while (left) {
			ssize_t n = copy_file_range(in, NULL, out, NULL, left, 0);

			if (n < 0)
				return report(-1);
			if (n == 0)
				break;
			left -= (size_t)n;
			total += (size_t)n;
		}
		printf("OK %zu\n", total);
		return 0;
	}
	if (!strcmp(op, "fallocate") && (argc == 5 || argc == 6)) {
		int fd = open(argv[2], O_RDWR | O_CREAT, 0644);
		int mode = 0;

		if (argc == 6)
			mode = !strcmp(argv[5], "keep") ? FALLOC_FL_KEEP_SIZE :
			       !strcmp(argv[5], "punch") ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : 0;
		if (fd < 0)
			return report(-1);
		return report(fallocate(fd, mode, atoll(argv[3]), atoll(argv[4])));
	}
	if (!strcmp(op, "listxattr") && argc == 3) {
		char buf[4096];
		ssize_t n = listxattr(argv[2], buf, sizeof buf);

		if (n < 0)
			return report(-1);
		fputs("OK", stdout);
		for (char *p = buf; p < buf + n; p += strlen(p) + 1)
			if (!strncmp(p, "user.", 5))
				printf(" %s", p);
		putchar('\n');
		return 0;
	}
	if (!strcmp(op, "removexattr") && argc == 4)
		return report(removexattr(argv[2], argv[3]));
	if (!strcmp(op, "pread") && argc == 5) {
		char buf[4096];
		size_t len = (size_t)atoll(argv[4]);
		int fd = open(argv[2], O_RDONLY);
		ssize_t n;

		if (fd < 0)
			return report(-1);
		n = pread(fd, buf, len < sizeof buf ? len : sizeof buf, atoll(argv[3]));
		if (n < 0)
			return report(-1);
		fputs("OK ", stdout);
		for (ssize_t i = 0; i < n; i++)
			putchar(buf[i] ? buf[i] : '0');
		putchar('\n');
		return 0;
	}
	if ((!strcmp(op, "fd-truncate") || !strcmp(op, "fd-chmod")) && argc == 4) {
		/* through a descriptor opened for reading only */
		int fd = open(argv[2], O_RDONLY);

		if (fd < 0)
			return report(-1);
		if (op[3] == 't')
			return report(ftruncate(fd, atoll(argv[3])));
		return report(fchmod(fd, (mode_t)strtol(argv[3], NULL, 8)));
	}
	if ((!strcmp(op, "unlinked-utime") || !strcmp(op, "unlinked-chmod")) && argc == 4) {
		/* open for reading, unlink, then change the file through the
		 * descriptor that still has it */
		struct timespec ts[2] = { { atoll(argv[3]), 0 }, { atoll(argv[3]), 0 } };
		int fd = open(argv[2], O_RDONLY);

		if (fd < 0 || unlink(argv[2]) < 0)
			return report(-1);
		if (op[9] == 'u')
			return report(futimens(fd, ts));
		return report(fchmod(fd, (mode_t)strtol(argv[3], NULL, 8)));
	}
	if (!strcmp(op, "readdir-unlink") && argc == 3) {
		/* rm -r's pattern: delete each entry as the listing yields it;
		 * every entry must come once, and none may be left */
		DIR *dir = opendir(argv[2]);
		struct dirent *de;
		unsigned long seen = 0, dups = 0, cap = 0;
		char **names = NULL;

		if (!dir)
			return report(-1);
		errno = 0;
		while ((de = readdir(dir))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			for (unsigned long i = 0; i < seen; i++)
				if (!strcmp(names[i], de->d_name))
					dups++;
			if (seen == cap) {
				cap = cap ? cap * 2 : 64;
				names = realloc(names, cap * sizeof *names);
			}
			names[seen++] = strdup(de->d_name);
			if (unlinkat(dirfd(dir), de->d_name, 0) < 0)
				return report(-1);
			errno = 0;
		}
		if (errno)
			return report(-1);
		closedir(dir);
		for (unsigned long i = 0; i < seen; i++)
			free(names[i]);
		free(names);
		printf("OK seen=%lu dups=%lu\n", seen, dups);
		return 0;
	}
	if (!strcmp(op, "handle") && argc == 3) {
		/* the bytes of the file handle the kernel gives out for PATH,
		 * in hex: what a process learns from name_to_handle_at(2) */
		union {
			struct file_handle fh;
			char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
		} h;
		int mount_id;

		h.fh.handle_bytes = MAX_HANDLE_SZ;
		if (name_to_handle_at(AT_FDCWD, argv[2], &h.fh, &mount_id, 0) < 0)
			return report(-1);
		fputs("OK ", stdout);
		for (unsigned i = 0; i < h.fh.handle_bytes; i++)
			printf("%02x", (unsigned char)h.fh.f_handle[i]);
		putchar('\n');
		return 0;
	}
	if (!strcmp(op, "mmap-linked") && argc == 6) {
		/* two names of one file: a page dirtied through a mapping of
		 * A, TEXT written at OFFSET (within that page) through B, the
		 * mapping synced; then the first page as read through B */
		char buf[4097];
		size_t len = strlen(argv[5]);
		off_t off = atoll(argv[4]);
		int a = open(argv[2], O_RDWR), b = open(argv[3], O_RDWR);
		char *p;
		ssize_t n;

		if (a < 0 || b < 0 || ftruncate(a, 4096) < 0)
			return report(-1);
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
		if (p == MAP_FAILED)
			return report(-1);
		p[0] = 'M';
		if (pwrite(b, argv[5], len, off) < 0 || msync(p, 4096, MS_SYNC) < 0 || munmap(p, 4096) < 0)
			return report(-1);
		n = pread(b, buf, 4096, 0);
		if (n < 0)
			return report(-1);
		fputs("OK ", stdout);
		for (ssize_t i = 0; i < n; i++)
			if (buf[i])
				putchar(buf[i]);
		putchar('\n');
		return 0;
	}
	if (!strcmp(op, "fifo-linked") && argc == 5) {
		/* a fifo with two names: TEXT written through A, read
		 * through B (both ends open first, so neither blocks) */
		char buf[256];
		int r = open(argv[3], O_RDONLY | O_NONBLOCK), w;
		ssize_t n;

		if (r < 0)
			return report(-1);
		w = open(argv[2], O_WRONLY | O_NONBLOCK);
		if (w < 0 || write(w, argv[4], strlen(argv[4])) < 0)
			return report(-1);
		n = read(r, buf, sizeof buf - 1);
		if (n < 0)
			return report(-1);
		buf[n] = '\0';
		printf("OK %s\n", buf);
		return 0;
	}
	if (!strcmp(op, "open-unlink-fstat") && argc == 3) {
		/* a fifo, socket or file held open while its last name goes
		 * (a socket opens only as O_PATH) */
		struct stat st;
		int fd = open(argv[2], O_RDWR | O_NONBLOCK);

		if (fd < 0 && errno == ENXIO)
			fd = open(argv[2], O_PATH);

		if (fd < 0 || unlink(argv[2]) < 0 || fstat(fd, &st) < 0)
			return report(-1);
		printf("OK nlink=%lu mode=%o\n", (unsigned long)st.st_nlink, (unsigned)st.st_mode);
		return 0;
	}
	return usage();
}
