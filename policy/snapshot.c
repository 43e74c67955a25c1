/* snapshot.c - a policy as it was read, handed to another process.
 *
 * `rls run` checks the policy before it mounts anything, and rlsfs, a
 * program of its own, enforces it.  Were rlsfs to read the files again,
 * whoever can write them could swap in another policy between the two
 * reads: the run would enforce rules nobody checked, and say it applies
 * the ones that were.  So rls hands rlsfs the texts it read instead, in a
 * memfd sealed against writes, growth and shrinking: what rlsfs loads is
 * byte for byte what rls loaded.
 *
 * The layout, all of it checked on the way in (rlsfs(1) takes such a
 * descriptor from anyone who can run it):
 *
 *   "rls-policy-snapshot 1\n" ROOT NUL
 *   then per file read:  NAME NUL REAL NUL LENGTH NUL TEXT
 *
 * ROOT is the spec loaded (a preset's name or a file's name), NAME the
 * name a file was read by, REAL its real path then, LENGTH the decimal
 * byte count of TEXT.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define SNAPSHOT_MAGIC "rls-policy-snapshot 1\n"
/* A load reads at most one file a level of extends. */
#define SNAPSHOT_MAX_FILES 32
#define SNAPSHOT_MAX_BYTES ((size_t)SNAPSHOT_MAX_FILES * (POLICY_MAX_FILE_BYTES + 2 * PATH_MAX + 32))
#define SNAPSHOT_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

int policy_snapshot_for_source(const char *spec, const char *source_root, rls_error *err)
{
	policy *pol = NULL;
	int fd;

	/* rlsfs, which loads the snapshot, parses and compiles a preset,
	 * once. */
	if (policy_take_for_source(spec, source_root, &pol, err) < 0)
		return -1;
	fd = policy_snapshot_fd(pol, err);
	policy_free(pol);
	return fd;
}

int policy_snapshot_fd(const policy *pol, rls_error *err)
{
	_cleanup_buf_ rls_buf b = { 0 };
	_cleanup_close_ int fd = -1;

	if (!pol->root)
		return rls_error_set(err, EINVAL, "a policy loaded from text has no snapshot");
	rls_buf_adds(&b, SNAPSHOT_MAGIC);
	rls_buf_add(&b, pol->root, strlen(pol->root) + 1);
	for (size_t i = 0; i < pol->n_texts; i++) {
		const struct policy_text *t = &pol->texts[i];

		rls_buf_add(&b, t->name, strlen(t->name) + 1);
		rls_buf_add(&b, t->real, strlen(t->real) + 1);
		rls_buf_printf(&b, "%zu", t->len);
		rls_buf_addc(&b, '\0');
		rls_buf_add(&b, t->text, t->len);
	}
	fd = memfd_create("rls-policy", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return rls_error_set(err, errno, "memfd_create");
	if (rls_write_all(fd, b.data, b.len) < 0)
		return rls_error_set(err, errno, "policy snapshot");
	if (fcntl(fd, F_ADD_SEALS, SNAPSHOT_SEALS) < 0)
		return rls_error_set(err, errno, "sealing the policy snapshot");
	if (lseek(fd, 0, SEEK_SET) < 0)
		return rls_error_set(err, errno, "policy snapshot");
	return steal_fd(&fd);
}

/* The NUL-terminated string at *p, not past end; NULL when none. */
static const char *take_string(const char **p, const char *end)
{
	const char *s = *p;
	const char *nul = memchr(s, '\0', (size_t)(end - s));

	if (!nul || nul == s)
		return NULL;
	*p = nul + 1;
	return s;
}

static int decode(const char *data, size_t size, const char **root, struct policy_text **texts, size_t *n,
		  rls_error *err)
{
	const char *p = data, *end = data + size;

	if (size < sizeof SNAPSHOT_MAGIC - 1 || memcmp(p, SNAPSHOT_MAGIC, sizeof SNAPSHOT_MAGIC - 1))
		return rls_error_set(err, EINVAL, "not a policy snapshot");
	p += sizeof SNAPSHOT_MAGIC - 1;
	if (!(*root = take_string(&p, end)))
		return rls_error_set(err, EINVAL, "the policy snapshot names no policy");
	while (p < end) {
		const char *name, *real, *num;
		char *num_end;
		unsigned long long len;
		struct policy_text *t;

		if (*n == SNAPSHOT_MAX_FILES)
			return rls_error_set(err, EINVAL, "the policy snapshot holds too many files");
		if (!(name = take_string(&p, end)) || !(real = take_string(&p, end)) ||
		    !(num = take_string(&p, end)))
			return rls_error_set(err, EINVAL, "the policy snapshot is cut short");
		errno = 0;
		len = strtoull(num, &num_end, 10);
		if (*num < '0' || *num > '9' || *num_end || errno || len > POLICY_MAX_FILE_BYTES ||
		    len > (unsigned long long)(end - p))
			return rls_error_set(err, EINVAL, "the policy snapshot gives a bad length for %s", name);
		*texts = rls_xrealloc(*texts, (*n + 1) * sizeof **texts);
		t = &(*texts)[(*n)++];
		t->name = rls_xstrdup(name);
		t->real = rls_xstrdup(real);
		t->len = (size_t)len;
		t->text = rls_xmalloc(t->len + 1);
		memcpy(t->text, p, t->len);
		t->text[t->len] = '\0';
		p += t->len;
	}
	return 0;
}

int policy_load_snapshot(int fd, policy **out, rls_error *err)
{
	struct stat st;
	_cleanup_free_ char *data = NULL;
	struct policy_text *texts = NULL;
	size_t n = 0, got = 0;
	const char *root = NULL;
	int seals = fcntl(fd, F_GET_SEALS), r;

	/* Sealed: nobody, the process that made it included, can change
	 * it any more. */
	if (seals < 0 || (seals & SNAPSHOT_SEALS) != SNAPSHOT_SEALS)
		return rls_error_set(err, EINVAL, "descriptor %d is not a sealed policy snapshot", fd);
	if (fstat(fd, &st) < 0)
		return rls_error_set(err, errno, "policy snapshot");
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > SNAPSHOT_MAX_BYTES)
		return rls_error_set(err, EINVAL, "descriptor %d is not a policy snapshot", fd);
	data = rls_xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t k = pread(fd, data + got, (size_t)st.st_size - got, (off_t)got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return rls_error_set(err, k < 0 ? errno : EIO, "policy snapshot");
		got += (size_t)k;
	}
	r = decode(data, got, &root, &texts, &n, err);
	if (r == 0)
		r = policy_load_from(root, texts, n, out, err);
	policy_texts_free(texts, n);
	return r;
}
