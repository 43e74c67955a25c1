/* common.c - files, folders, the state dir, mounts and the parsers of
 * durations and sizes. */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>


int rls_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int rls_read_file(int dir_fd, const char *path, size_t max, char **out, size_t *len, rls_error *err)
{
	_cleanup_close_ int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
	rls_buf b = { 0 };

	if (fd < 0)
		return rls_error_set(err, errno, "%s", path);
	for (;;) {
		char chunk[65536];
		ssize_t r = read(fd, chunk, sizeof chunk);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			rls_buf_free(&b);
			return rls_error_set(err, errno, "%s", path);
		}
		if (r == 0)
			break;
		if (b.len + (size_t)r > max) {
			rls_buf_free(&b);
			return rls_error_set(err, EFBIG, "%s", path);
		}
		rls_buf_add(&b, chunk, (size_t)r);
	}
	if (!b.data)
		rls_buf_add(&b, "", 0);
	if (len)
		*len = b.len;
	*out = b.data;
	return 0;
}

int rls_mkdir_p(const char *path, mode_t mode, rls_error *err)
{
	_cleanup_free_ char *copy = rls_xstrdup(path);

	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return rls_error_set(err, errno, "mkdir %s", copy);
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return rls_error_set(err, errno, "mkdir %s", copy);
	return 0;
}

/* Is `path` `dir` or beneath it?  Both absolute, without trailing slash. */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (!strcmp(dir, "/"))
		return true;
	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

/* /var/tmp/rls-UID: made 0700 if missing, and refused unless it is a real
 * directory of ours that nobody else can write (/var/tmp is shared). */
static char *fallback_state_root(rls_error *err)
{
	char *dir = rls_xasprintf("/var/tmp/rls-%u", (unsigned)geteuid());
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rls_error_set(err, errno, "%s", dir);
		free(dir);
		return NULL;
	}
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		rls_error_set(err, 0, "%s is not a private directory of this user: remove it, or set "
			      "XDG_STATE_HOME", dir);
		free(dir);
		return NULL;
	}
	return dir;
}

char *rls_state_dir(const char *sub, const char *outside, rls_error *err)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	_cleanup_free_ char *root = NULL;
	char *dir;

	if (state && state[0] == '/')
		root = rls_xasprintf("%s/rls", state);
	else if (home && home[0] == '/')
		root = rls_xasprintf("%s/.local/state/rls", home);
	/* A state dir inside the tree would be shown to the sandbox and
	 * committed with it; a home that does not exist (a service account)
	 * cannot hold one.  Both fall back to /var/tmp. */
	if (root && outside) {
		char *real = realpath(root, NULL);

		if (path_within(real ? real : root, outside)) {
			free(root);
			root = NULL;
		}
		free(real);
	}
	if (root) {
		dir = rls_xasprintf("%s/%s", root, sub);
		if (rls_mkdir_p(dir, 0700, NULL) == 0)
			return dir;
		free(dir);
		free(root);
	}
	root = fallback_state_root(err);
	if (!root)
		return NULL;
	dir = rls_xasprintf("%s/%s", root, sub);
	if (rls_mkdir_p(dir, 0700, err) < 0) {
		free(dir);
		return NULL;
	}
	return dir;
}

char *rls_delta_prefix(const char *source, rls_error *err)
{
	_cleanup_free_ char *dir = rls_state_dir("deltas", source, err);
	const char *name = strrchr(source, '/');
	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;

	if (!dir)
		return NULL;
	localtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
	name = name && name[1] ? name + 1 : "root";
	return rls_xasprintf("%s/%s-%s", dir, name, stamp);
}

/* mountinfo writes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	for (char *r = s, *w = s;; r++, w++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
		    r[3] <= '7') {
			*w = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else if (!(*w = *r)) {
			break;
		}
	}
}

int rls_fuse_unmount(const char *mnt, bool lazy)
{
	pid_t child;
	int status;

	if (geteuid() == 0)
		return umount2(mnt, lazy ? MNT_DETACH : 0);
	child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		if (lazy)
			execlp("fusermount3", "fusermount3", "-u", "-z", "--", mnt, (char *)NULL);
		else
			execlp("fusermount3", "fusermount3", "-u", "--", mnt, (char *)NULL);
		fprintf(stderr, "%s: fusermount3: %s\n", rls_progname, strerror(errno));
		_exit(127);
	}
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		errno = EBUSY;
		return -1;
	}
	return 0;
}

int rls_mountinfo_each(rls_mount_fn fn, void *opaque)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int r = 0;

	if (!f)
		return -1;
	while (r == 0 && getline(&line, &cap, f) > 0) {
		char point[4096], fstype[256], source[4096], opts[4096];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
		    sscanf(sep + 3, "%255s %4095s %4095s", fstype, source, opts) != 3)
			continue;
		unescape_octal(point);
		unescape_octal(source);
		r = fn(point, fstype, source, opts, opaque);
	}
	free(line);
	return r;
}

int rls_rm_rf_at(int dir_fd, const char *name, rls_error *err)
{
	_cleanup_close_ int fd = -1;
	DIR *dir;
	struct dirent *de;

	if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return rls_error_set(err, errno, "unlink %s", name);
	fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return rls_error_set(err, errno, "open %s", name);
	dir = fdopendir(fd);
	if (!dir)
		return rls_error_set(err, errno, "opendir %s", name);
	fd = -1;	/* owned by dir now */
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (rls_rm_rf_at(dirfd(dir), de->d_name, err) < 0) {
			closedir(dir);
			return -1;
		}
	}
	closedir(dir);
	if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return rls_error_set(err, errno, "rmdir %s", name);
	return 0;
}

int rls_parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || !isfinite(v) || v < 0)
		return -1;
	switch (*end) {
	case 's': end++; break;
	case 'm': v *= 60; end++; break;
	case 'h': v *= 3600; end++; break;
	case 'd': v *= 86400; end++; break;
	}
	if (*end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int rls_parse_size(const char *s, uint64_t *out)
{
	long double v;
	char *end;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtold(s, &end);
	if (errno || !isfinite(v) || v < 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end == 'i' && shift)
		end++;
	if ((*end == 'b' || *end == 'B') && shift)
		end++;
	if (*end)
		return -1;
	v = ldexpl(v, shift);
	/* A fraction of a byte is not a size: 1.5G is, 1.5 is not. */
	if (v >= 18446744073709551616.0L || v != floorl(v))
		return -1;
	*out = (uint64_t)v;
	return 0;
}
