/* oci-image.c - `--image LAYOUT[:TAG]`: an OCI image layout on disk
 * (what `skopeo copy ... oci:DIR:TAG`, `podman save --format oci-dir` or
 * umoci write), unpacked once into a cache and shared read-only by every
 * run.
 *
 * An image is untrusted input, read in one place:
 *  - every blob is named by a digest that must be "sha256:" and 64 hex
 *    digits (never a path), has the size its descriptor says, and is
 *    hashed while it is read: a layer whose hash is wrong is never
 *    renamed into the cache, whatever was unpacked from it;
 *  - JSON is read with jansson, with a size limit;
 *  - a layer entry that would leave the root is refused, and with it the
 *    image: an absolute path, a ".." component, a hard link to outside,
 *    a symbolic link whose target climbs above the root, a device node
 *    unless rls runs as root.  Parents are opened with openat2
 *    (RESOLVE_IN_ROOT), so that a symbolic link an earlier entry made
 *    resolves inside the root, as it will in the container, and never
 *    on the host;
 *  - set-id bits are dropped, owners are not kept (everything belongs to
 *    whoever runs rls), and the root is bound nosuid and nodev anyway.
 * Whiteouts (".wh.NAME") remove NAME of the layers below; an opaque
 * marker (".wh..wh..opq") empties its folder of what the layers below
 * put there.
 *
 * The cache: STATE/images/HEX, HEX the manifest's digest, holding rootfs/
 * and an "unpacked" marker.  A run unpacks into a fresh
 * STATE/images/.tmp-HEX-PID and renames it into place; when two race,
 * the second finds the first's and removes its own.
 */
#include "launcher.h"
#include "run.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <zlib.h>

#define JSON_MAX (4u << 20)
#define CHUNK (128u << 10)

#if defined(__x86_64__)
#define IMAGE_ARCH "amd64"
#elif defined(__aarch64__)
#define IMAGE_ARCH "arm64"
#elif defined(__i386__)
#define IMAGE_ARCH "386"
#elif defined(__riscv)
#define IMAGE_ARCH "riscv64"
#elif defined(__powerpc64__)
#define IMAGE_ARCH "ppc64le"
#elif defined(__s390x__)
#define IMAGE_ARCH "s390x"
#else
#define IMAGE_ARCH ""
#endif

/* ---- blobs ---- */

/* "sha256:HEX" -> HEX, or NULL when the digest is not one. */
static const char *digest_hex(const char *digest)
{
	if (!digest || strncmp(digest, "sha256:", 7))
		return NULL;
	for (int i = 0; i < 64; i++) {
		char c = digest[7 + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return NULL;
	}
	return digest[7 + 64] ? NULL : digest + 7;
}

typedef struct blob {
	int fd;
	sha256_ctx sha;
	uint64_t want_size, got;
	const char *hex;
} blob;

static int blob_open(const char *layout, const char *digest, json_int_t size, blob *b, rls_error *err)
{
	_cleanup_free_ char *path = NULL;

	memset(b, 0, sizeof *b);
	b->fd = -1;
	b->hex = digest_hex(digest);
	if (!b->hex)
		return rls_error_set(err, 0, "a descriptor's digest is not sha256:HEX: '%.80s'",
				     digest ? digest : "(none)");
	if (size < 0)
		return rls_error_set(err, 0, "blob %.19s: no size", digest);
	path = rls_xasprintf("%s/blobs/sha256/%s", layout, b->hex);
	b->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (b->fd < 0)
		return rls_error_set(err, errno, "blob %.19s", digest);
	b->want_size = (uint64_t)size;
	sha256_init(&b->sha);
	return 0;
}

/* Up to `len` bytes; 0 at the end, which must be the descriptor's size. */
static ssize_t blob_read(blob *b, void *buf, size_t len, rls_error *err)
{
	ssize_t n = RLS_TEMP_FAILURE_RETRY(read(b->fd, buf, len));

	if (n < 0)
		return rls_error_set(err, errno, "blob sha256:%.12s", b->hex);
	b->got += (uint64_t)n;
	if (b->got > b->want_size)
		return rls_error_set(err, 0, "blob sha256:%.12s is larger than its descriptor says", b->hex);
	sha256_update(&b->sha, buf, (size_t)n);
	return n;
}

/* At the end: the size and the hash must be the descriptor's. */
static int blob_check(blob *b, rls_error *err)
{
	char hex[65];

	if (b->got != b->want_size)
		return rls_error_set(err, 0, "blob sha256:%.12s is %llu bytes, its descriptor says %llu", b->hex,
				     (unsigned long long)b->got, (unsigned long long)b->want_size);
	sha256_final_hex(&b->sha, hex);
	if (strcmp(hex, b->hex))
		return rls_error_set(err, 0, "blob sha256:%.12s is damaged: its content hashes to sha256:%.12s",
				     b->hex, hex);
	return 0;
}

static void blob_close(blob *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

/* A JSON blob, checked, parsed. */
static json_t *blob_json(const char *layout, json_t *desc, rls_error *err)
{
	const char *digest = json_string_value(json_object_get(desc, "digest"));
	json_t *size = json_object_get(desc, "size");
	_cleanup_buf_ rls_buf text = { 0 };
	json_error_t je;
	json_t *j;
	blob b;
	char buf[8192];
	ssize_t n;

	if (!json_is_integer(size) || json_integer_value(size) > (json_int_t)JSON_MAX) {
		rls_error_set(err, 0, "a JSON descriptor without a size, or larger than %u bytes", JSON_MAX);
		return NULL;
	}
	if (blob_open(layout, digest, json_integer_value(size), &b, err) < 0)
		return NULL;
	while ((n = blob_read(&b, buf, sizeof buf, err)) > 0)
		rls_buf_add(&text, buf, (size_t)n);
	if (n < 0 || blob_check(&b, err) < 0) {
		blob_close(&b);
		return NULL;
	}
	blob_close(&b);
	j = json_loadb(text.data ? text.data : "", text.len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		rls_error_set(err, 0, "blob %.19s: not JSON: %s", digest, je.text);
	return j;
}

/* ---- choosing the manifest ---- */

static const char *ref_name(json_t *desc)
{
	return json_string_value(json_object_get(json_object_get(desc, "annotations"),
						 "org.opencontainers.image.ref.name"));
}

static bool is_index_type(const char *mt)
{
	return mt && (!strcmp(mt, "application/vnd.oci.image.index.v1+json") ||
		      !strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json"));
}

/* In an index: the descriptor for `tag`, or when tag is NULL the only
 * one (or "latest"). */
static json_t *pick_tag(json_t *index, const char *tag, rls_error *err)
{
	json_t *m = json_object_get(index, "manifests"), *d, *latest = NULL;
	size_t i;
	_cleanup_buf_ rls_buf tags = { 0 };

	if (!json_is_array(m) || !json_array_size(m)) {
		rls_error_set(err, 0, "index.json lists no image");
		return NULL;
	}
	json_array_foreach(m, i, d) {
		const char *name = ref_name(d);

		if (tag && name && !strcmp(name, tag))
			return d;
		if (name && !strcmp(name, "latest"))
			latest = d;
		if (name)
			rls_buf_printf(&tags, "%s%s", tags.len ? ", " : "", name);
	}
	if (!tag && json_array_size(m) == 1)
		return json_array_get(m, 0);
	if (!tag && latest)
		return latest;
	rls_error_set(err, 0, "%s%s%s; it has: %s", tag ? "no image tagged '" : "several images and no tag given",
		      tag ? tag : "", tag ? "'" : "", tags.len ? tags.data : "(no tags)");
	return NULL;
}

/* In a nested index: this machine's image. */
static json_t *pick_platform(json_t *index, rls_error *err)
{
	json_t *m = json_object_get(index, "manifests"), *d;
	size_t i;

	json_array_foreach(m, i, d) {
		json_t *p = json_object_get(d, "platform");
		const char *os = json_string_value(json_object_get(p, "os"));
		const char *arch = json_string_value(json_object_get(p, "architecture"));

		if ((!os || !strcmp(os, "linux")) && (!arch || !strcmp(arch, IMAGE_ARCH)))
			return d;
	}
	rls_error_set(err, 0, "no image for linux/%s in the index", IMAGE_ARCH);
	return NULL;
}

/* ---- unpacking: paths ---- */

/* A layer entry's name made relative and checked: NULL (and *err) when
 * it leaves the root; "" for the root itself. */
static char *clean_name(const char *name, rls_error *err)
{
	_cleanup_free_ char *copy = rls_xstrdup(name);
	rls_buf out = { 0 };

	if (name[0] == '/') {
		rls_error_set(err, 0, "a layer entry has an absolute path: '%.200s'", name);
		return NULL;
	}
	for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			rls_buf_free(&out);
			rls_error_set(err, 0, "a layer entry climbs out of the root: '%.200s'", name);
			return NULL;
		}
		rls_buf_printf(&out, "%s%s", out.len ? "/" : "", c);
	}
	return out.data ? out.data : rls_xstrdup("");
}

/* A symbolic link's target, seen from the folder `name` is in, must not
 * climb above the root.  Absolute targets are read in the container's own
 * root. */
static bool link_stays_inside(const char *name, const char *target)
{
	int depth = 0;
	_cleanup_free_ char *copy = rls_xstrdup(target);

	if (target[0] == '/')
		return true;
	for (const char *p = name; (p = strchr(p, '/')); p++)
		depth++;
	for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, ".."))
			depth--;
		else if (strcmp(c, "."))
			depth++;
		if (depth < 0)
			return false;
	}
	return true;
}

/* The folder `dir` (relative, "" for the root) under root_fd, made when
 * missing; symbolic links on the way resolve inside the root. */
static int open_dir_in_root(int root_fd, const char *dir, rls_error *err)
{
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	_cleanup_free_ char *copy = NULL;
	rls_buf prefix = { 0 };
	int fd;

	fd = (int)syscall(SYS_openat2, root_fd, *dir ? dir : ".", &how, sizeof how);
	if (fd >= 0 || errno != ENOENT) {
		if (fd < 0)
			rls_error_set(err, errno, "layer folder '%.200s'", dir);
		return fd;
	}
	copy = rls_xstrdup(dir);
	fd = -1;
	for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		int parent = (int)syscall(SYS_openat2, root_fd, prefix.len ? prefix.data : ".", &how, sizeof how);

		if (parent < 0) {
			rls_error_set(err, errno, "layer folder '%.200s'", dir);
			break;
		}
		if (mkdirat(parent, c, 0755) < 0 && errno != EEXIST) {
			rls_error_set(err, errno, "layer folder '%.200s'", dir);
			close(parent);
			break;
		}
		close(parent);
		rls_buf_printf(&prefix, "%s%s", prefix.len ? "/" : "", c);
		if (!save || !*save) {
			fd = (int)syscall(SYS_openat2, root_fd, prefix.data, &how, sizeof how);
			if (fd < 0)
				rls_error_set(err, errno, "layer folder '%.200s'", dir);
		}
	}
	rls_buf_free(&prefix);
	return fd;
}

/* Remove whatever `name` is in dir_fd (a whole folder included). */
static void remove_entry(int dir_fd, const char *name)
{
	if (unlinkat(dir_fd, name, 0) < 0 && (errno == EISDIR || errno == EPERM))
		(void)rls_rm_rf_at(dir_fd, name, NULL);
}

/* ---- unpacking: one layer ---- */

/* Names this layer made, for opaque markers (which spare them). */
typedef struct name_set {
	char **v;
	size_t n, cap;
} name_set;

static void names_add(name_set *s, const char *name)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->v = rls_xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = rls_xstrdup(name);
}

static bool names_has(const name_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], name))
			return true;
	return false;
}

static void names_free(name_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof *s);
}

typedef struct tar_state {
	int root_fd;
	const char *layer;	/* for messages */
	unsigned char hdr[512];
	size_t hdr_len;
	uint64_t data_left;	/* of the current entry */
	uint64_t pad_left;
	int out_fd;		/* the regular file being written, or -1 */
	enum { T_NONE, T_FILE, T_LONGNAME, T_LONGLINK, T_PAX } data_kind;
	rls_buf meta;		/* GNU long name/link or pax records being read */
	char *long_name, *long_link, *pax_path, *pax_link;
	bool pax_size_set;
	uint64_t pax_size;
	int zero_blocks;
	bool ended;
	name_set made;
} tar_state;

static uint64_t tar_number(const unsigned char *f, size_t n, bool *ok)
{
	uint64_t v = 0;

	if (f[0] & 0x80) {
		/* GNU base-256: big-endian, the top bit a flag. */
		for (size_t i = 1; i < n; i++) {
			if (v >> 56) {
				*ok = false;
				return 0;
			}
			v = v << 8 | f[i];
		}
		return v;
	}
	for (size_t i = 0; i < n && f[i] && f[i] != ' '; i++) {
		if (f[i] < '0' || f[i] > '7' || v >> 60) {
			*ok = false;
			return 0;
		}
		v = v * 8 + (uint64_t)(f[i] - '0');
	}
	return v;
}

static char *tar_string(const unsigned char *f, size_t n)
{
	return rls_xstrndup((const char *)f, strnlen((const char *)f, n));
}

/* "LEN key=value\n" records. */
static int parse_pax(tar_state *t, rls_error *err)
{
	const char *p = t->meta.data, *end = p + t->meta.len;

	while (p < end) {
		char *sp;
		unsigned long len = strtoul(p, &sp, 10);
		const char *rec = p, *kv, *eq;

		if (sp == p || *sp != ' ' || len <= (unsigned long)(sp - p) || len > (unsigned long)(end - p) ||
		    rec[len - 1] != '\n')
			return rls_error_set(err, 0, "layer %.12s: a damaged pax header", t->layer);
		kv = sp + 1;
		eq = memchr(kv, '=', (size_t)(rec + len - 1 - kv));
		if (eq) {
			size_t klen = (size_t)(eq - kv), vlen = (size_t)(rec + len - 1 - eq - 1);

			if (klen == 4 && !memcmp(kv, "path", 4)) {
				free(t->pax_path);
				t->pax_path = rls_xstrndup(eq + 1, vlen);
			} else if (klen == 8 && !memcmp(kv, "linkpath", 8)) {
				free(t->pax_link);
				t->pax_link = rls_xstrndup(eq + 1, vlen);
			} else if (klen == 4 && !memcmp(kv, "size", 4)) {
				_cleanup_free_ char *v = rls_xstrndup(eq + 1, vlen);
				char *e;

				t->pax_size = strtoull(v, &e, 10);
				if (*e || !*v)
					return rls_error_set(err, 0, "layer %.12s: a bad pax size", t->layer);
				t->pax_size_set = true;
			}
		}
		p = rec + len;
	}
	return 0;
}

static void clear_meta(tar_state *t)
{
	free(t->long_name);
	free(t->long_link);
	free(t->pax_path);
	free(t->pax_link);
	t->long_name = t->long_link = t->pax_path = t->pax_link = NULL;
	t->pax_size_set = false;
}

/* One entry's header, with its long name or pax records applied. */
static int tar_entry(tar_state *t, rls_error *err)
{
	const unsigned char *h = t->hdr;
	char type = (char)h[156];
	bool ok = true;
	uint64_t size = tar_number(h + 124, 12, &ok);
	mode_t mode = (mode_t)tar_number(h + 100, 8, &ok) & 07777;
	_cleanup_free_ char *raw = NULL, *link = NULL, *name = NULL, *dir = NULL;
	_cleanup_close_ int dfd = -1;
	const char *base;
	char *slash;

	if (!ok)
		return rls_error_set(err, 0, "layer %.12s: a damaged tar header", t->layer);
	if (t->pax_size_set)
		size = t->pax_size;
	t->data_left = size;
	t->pad_left = (512 - size % 512) % 512;
	t->data_kind = T_NONE;
	if (type == 'x' || type == 'L' || type == 'K') {
		if (size > (1u << 20))
			return rls_error_set(err, 0, "layer %.12s: a metadata record of %llu bytes", t->layer,
					     (unsigned long long)size);
		rls_buf_reset(&t->meta);
		t->data_kind = type == 'x' ? T_PAX : type == 'L' ? T_LONGNAME : T_LONGLINK;
		return 0;
	}
	if (type == 'g')
		return 0;	/* global pax records: nothing rls uses */

	if (t->pax_path)
		raw = rls_xstrdup(t->pax_path);
	else if (t->long_name)
		raw = rls_xstrdup(t->long_name);
	else {
		_cleanup_free_ char *n = tar_string(h, 100), *prefix = NULL;

		prefix = !memcmp(h + 257, "ustar", 5) ? tar_string(h + 345, 155) : rls_xstrdup("");
		raw = *prefix ? rls_xasprintf("%s/%s", prefix, n) : rls_xstrdup(n);
	}
	link = t->pax_link ? rls_xstrdup(t->pax_link) : t->long_link ? rls_xstrdup(t->long_link) :
								    tar_string(h + 157, 100);
	clear_meta(t);

	name = clean_name(raw, err);
	if (!name)
		return -1;
	if (!*name)
		return 0;	/* the root itself */
	dir = rls_xstrdup(name);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		base = name + (slash - dir) + 1;
	} else {
		dir[0] = '\0';
		base = name;
	}
	dfd = open_dir_in_root(t->root_fd, dir, err);
	if (dfd < 0)
		return -1;
	/* An O_PATH fd cannot be written through; reopen the folder. */
	{
		char self[64];
		int w;

		snprintf(self, sizeof self, "/proc/self/fd/%d", dfd);
		w = open(self, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (w < 0)
			return rls_error_set(err, errno, "layer folder '%.200s'", dir);
		close(dfd);
		dfd = w;
	}

	if (!strncmp(base, ".wh.", 4)) {
		if (!strcmp(base, ".wh..wh..opq")) {
			DIR *d;
			struct dirent *de;
			int dup_fd = dup(dfd);

			d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
			if (!d)
				return rls_error_set(err, errno, "opaque folder '%.200s'", dir);
			while ((de = readdir(d))) {
				_cleanup_free_ char *full = NULL;

				if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
					continue;
				full = *dir ? rls_xasprintf("%s/%s", dir, de->d_name) : rls_xstrdup(de->d_name);
				if (!names_has(&t->made, full))
					remove_entry(dfd, de->d_name);
			}
			closedir(d);
		} else if (base[4]) {
			remove_entry(dfd, base + 4);
		}
		return 0;
	}

	{
		struct stat st;
		bool exists = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;

		/* Whatever was there goes, except a folder that stays one. */
		if (exists && !(type == '5' && S_ISDIR(st.st_mode)))
			remove_entry(dfd, base);
	}
	names_add(&t->made, name);
	mode &= ~(mode_t)(S_ISUID | S_ISGID);
	switch (type) {
	case '0':
	case '\0':
	case '7': {
		int fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd < 0)
			return rls_error_set(err, errno, "layer file '%.200s'", name);
		if (fchmod(fd, mode & 0777) < 0) {
			close(fd);
			return rls_error_set(err, errno, "layer file '%.200s'", name);
		}
		t->out_fd = fd;
		t->data_kind = T_FILE;
		return 0;
	}
	case '5':
		if (mkdirat(dfd, base, 0700) < 0 && errno != EEXIST)
			return rls_error_set(err, errno, "layer folder '%.200s'", name);
		/* Writable by its owner while later layers fill it. */
		if (fchmodat(dfd, base, (mode & 01777) | 0700, 0) < 0)
			return rls_error_set(err, errno, "layer folder '%.200s'", name);
		return 0;
	case '2':
		if (!link_stays_inside(name, link))
			return rls_error_set(err, 0, "a layer's symbolic link points out of the root: "
					     "'%.200s' -> '%.200s'", name, link);
		if (symlinkat(link, dfd, base) < 0)
			return rls_error_set(err, errno, "layer link '%.200s'", name);
		return 0;
	case '1': {
		_cleanup_free_ char *target = clean_name(link, err);
		struct open_how how = { .flags = O_PATH | O_CLOEXEC | O_NOFOLLOW,
					.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
		_cleanup_close_ int tfd = -1;
		char self[64];
		struct stat st;

		if (!target || !*target)
			return rls_error_set(err, 0, "a layer's hard link points out of the root: "
					     "'%.200s' -> '%.200s'", name, link);
		tfd = (int)syscall(SYS_openat2, t->root_fd, target, &how, sizeof how);
		if (tfd < 0)
			return rls_error_set(err, errno, "layer hard link '%.200s' -> '%.200s'", name, link);
		if (fstat(tfd, &st) < 0 || S_ISDIR(st.st_mode))
			return rls_error_set(err, EPERM, "layer hard link '%.200s' -> '%.200s'", name, link);
		snprintf(self, sizeof self, "/proc/self/fd/%d", tfd);
		if (linkat(AT_FDCWD, self, dfd, base, AT_SYMLINK_FOLLOW) < 0)
			return rls_error_set(err, errno, "layer hard link '%.200s'", name);
		return 0;
	}
	case '3':
	case '4':
		if (geteuid() != 0)
			return rls_error_set(err, 0, "a layer holds a device node, '%.200s': only root unpacks "
					     "those (they stay inert: the root is bound nodev)", name);
		{
			dev_t dev = makedev((unsigned)tar_number(h + 329, 8, &ok), (unsigned)tar_number(h + 337, 8, &ok));

			if (mknodat(dfd, base, (type == '3' ? S_IFCHR : S_IFBLK) | (mode & 0777), dev) < 0)
				return rls_error_set(err, errno, "layer device '%.200s'", name);
		}
		return 0;
	case '6':
		if (mkfifoat(dfd, base, mode & 0777) < 0)
			return rls_error_set(err, errno, "layer fifo '%.200s'", name);
		return 0;
	default:
		return 0;	/* an unknown kind: its data is skipped */
	}
}

static int tar_data(tar_state *t, const unsigned char *p, size_t n, rls_error *err)
{
	switch (t->data_kind) {
	case T_FILE:
		if (rls_write_all(t->out_fd, p, n) < 0)
			return rls_error_set(err, errno, "writing a layer file");
		break;
	case T_LONGNAME:
	case T_LONGLINK:
	case T_PAX:
		rls_buf_add(&t->meta, p, n);
		break;
	case T_NONE:
		break;
	}
	return 0;
}

/* The current entry's data is complete. */
static int tar_data_done(tar_state *t, rls_error *err)
{
	switch (t->data_kind) {
	case T_FILE:
		close(t->out_fd);
		t->out_fd = -1;
		break;
	case T_LONGNAME:
		free(t->long_name);
		t->long_name = rls_xstrndup(t->meta.data ? t->meta.data : "", t->meta.len);
		break;
	case T_LONGLINK:
		free(t->long_link);
		t->long_link = rls_xstrndup(t->meta.data ? t->meta.data : "", t->meta.len);
		break;
	case T_PAX:
		if (parse_pax(t, err) < 0)
			return -1;
		break;
	case T_NONE:
		break;
	}
	t->data_kind = T_NONE;
	return 0;
}

static bool header_is_zero(const unsigned char *h)
{
	for (int i = 0; i < 512; i++)
		if (h[i])
			return false;
	return true;
}

static int header_checksum_ok(const unsigned char *h)
{
	bool ok = true;
	uint64_t want = tar_number(h + 148, 8, &ok);
	uint64_t sum = 0;

	for (int i = 0; i < 512; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	return ok && sum == want;
}

static int tar_feed(tar_state *t, const unsigned char *p, size_t n, rls_error *err)
{
	while (n && !t->ended) {
		if (t->data_left) {
			size_t take = t->data_left < n ? (size_t)t->data_left : n;

			if (tar_data(t, p, take, err) < 0)
				return -1;
			t->data_left -= take, p += take, n -= take;
			if (!t->data_left && tar_data_done(t, err) < 0)
				return -1;
			continue;
		}
		if (t->pad_left) {
			size_t take = t->pad_left < n ? (size_t)t->pad_left : n;

			t->pad_left -= take, p += take, n -= take;
			continue;
		}
		{
			size_t take = 512 - t->hdr_len < n ? 512 - t->hdr_len : n;

			memcpy(t->hdr + t->hdr_len, p, take);
			t->hdr_len += take, p += take, n -= take;
		}
		if (t->hdr_len < 512)
			continue;
		t->hdr_len = 0;
		if (header_is_zero(t->hdr)) {
			if (++t->zero_blocks == 2)
				t->ended = true;
			continue;
		}
		t->zero_blocks = 0;
		if (!header_checksum_ok(t->hdr))
			return rls_error_set(err, 0, "layer %.12s: not a tar archive (a header's checksum is wrong)",
					     t->layer);
		if (tar_entry(t, err) < 0)
			return -1;
		if (!t->data_left && tar_data_done(t, err) < 0)
			return -1;
	}
	return 0;
}

static int unpack_layer(const char *layout, json_t *desc, int root_fd, rls_error *err)
{
	const char *mt = json_string_value(json_object_get(desc, "mediaType"));
	const char *digest = json_string_value(json_object_get(desc, "digest"));
	bool gz;
	blob b;
	tar_state t = { .root_fd = root_fd, .out_fd = -1 };
	z_stream z = { 0 };
	bool z_open = false;
	_cleanup_free_ unsigned char *in = rls_xmalloc(CHUNK), *out = rls_xmalloc(CHUNK);
	ssize_t n;
	int r = -1;

	if (!mt)
		mt = "application/vnd.oci.image.layer.v1.tar";
	if (strstr(mt, "zstd"))
		return rls_error_set(err, 0, "layer %.19s is zstd-compressed, which rls does not read "
				     "(convert the image with gzip layers)", digest ? digest : "?");
	gz = strstr(mt, "gzip") != NULL;
	if (!gz && strcmp(mt, "application/vnd.oci.image.layer.v1.tar") &&
	    strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar"))
		return rls_error_set(err, 0, "layer %.19s has media type '%.80s', which rls does not read",
				     digest ? digest : "?", mt);
	if (blob_open(layout, digest, json_integer_value(json_object_get(desc, "size")), &b, err) < 0)
		return -1;
	t.layer = b.hex;
	if (gz) {
		if (inflateInit2(&z, 15 + 32) != Z_OK) {
			rls_error_set(err, 0, "zlib: %s", z.msg ? z.msg : "cannot start");
			goto out;
		}
		z_open = true;
	}
	while ((n = blob_read(&b, in, CHUNK, err)) > 0) {
		if (!gz) {
			if (tar_feed(&t, in, (size_t)n, err) < 0)
				goto out;
			continue;
		}
		z.next_in = in;
		z.avail_in = (uInt)n;
		while (z.avail_in) {
			int zr;

			z.next_out = out;
			z.avail_out = CHUNK;
			zr = inflate(&z, Z_NO_FLUSH);
			if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
				rls_error_set(err, 0, "layer %.12s: damaged gzip data (%s)", b.hex,
					      z.msg ? z.msg : "inflate");
				goto out;
			}
			if (tar_feed(&t, out, CHUNK - z.avail_out, err) < 0)
				goto out;
			/* gzip members may follow one another. */
			if (zr == Z_STREAM_END && z.avail_in)
				inflateReset(&z);
			if (zr == Z_BUF_ERROR && z.avail_out == CHUNK)
				break;
		}
	}
	if (n < 0 || blob_check(&b, err) < 0)
		goto out;
	if (t.data_left || t.hdr_len) {
		rls_error_set(err, 0, "layer %.12s: the archive ends in the middle of an entry", b.hex);
		goto out;
	}
	r = 0;
out:
	if (z_open)
		inflateEnd(&z);
	if (t.out_fd >= 0)
		close(t.out_fd);
	clear_meta(&t);
	rls_buf_free(&t.meta);
	names_free(&t.made);
	blob_close(&b);
	return r;
}

/* ---- the whole image ---- */

static int unpack(const char *layout, json_t *manifest, const char *tmp, rls_error *err)
{
	_cleanup_free_ char *root = rls_xasprintf("%s/rootfs", tmp);
	_cleanup_close_ int root_fd = -1;
	json_t *layers = json_object_get(manifest, "layers"), *config, *l;
	size_t i;

	config = blob_json(layout, json_object_get(manifest, "config"), err);
	if (!config)
		return rls_error_prefix(err, "the image's config");
	json_decref(config);
	if (!json_is_array(layers))
		return rls_error_set(err, 0, "the manifest lists no layers");
	if (mkdir(tmp, 0700) < 0 || mkdir(root, 0755) < 0)
		return rls_error_set(err, errno, "%s", tmp);
	root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return rls_error_set(err, errno, "%s", root);
	json_array_foreach(layers, i, l)
		if (unpack_layer(layout, l, root_fd, err) < 0)
			return -1;
	return 0;
}

/* LAYOUT[:TAG] -> the layout folder and the tag (NULL: none given). */
static void split_ref(const char *ref, char **layout, char **tag)
{
	const char *colon = strrchr(ref, ':');
	struct stat st;

	*tag = NULL;
	if (!colon || strchr(colon, '/') || stat(ref, &st) == 0) {
		*layout = rls_xstrdup(ref);
		return;
	}
	*layout = rls_xstrndup(ref, (size_t)(colon - ref));
	*tag = rls_xstrdup(colon + 1);
}

/* The manifest to unpack: its descriptor's digest and its JSON. */
static json_t *find_manifest(const char *layout, const char *tag, char **hex, rls_error *err)
{
	_cleanup_free_ char *marker = rls_xasprintf("%s/oci-layout", layout);
	_cleanup_free_ char *index_path = rls_xasprintf("%s/index.json", layout);
	_cleanup_free_ char *text = NULL;
	json_error_t je;
	json_t *index, *desc, *manifest = NULL, *inner = NULL;
	const char *mt;
	size_t len;

	if (rls_read_file(AT_FDCWD, marker, 4096, &text, &len, NULL) < 0) {
		rls_error_set(err, 0, "%s is not an OCI image layout (no oci-layout file)", layout);
		return NULL;
	}
	free(text);
	text = NULL;
	if (rls_read_file(AT_FDCWD, index_path, JSON_MAX, &text, &len, err) < 0)
		return NULL;
	index = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!index) {
		rls_error_set(err, 0, "%s: not JSON: %s", index_path, je.text);
		return NULL;
	}
	desc = pick_tag(index, tag, err);
	for (int depth = 0; desc && depth < 4; depth++) {
		json_decref(manifest);
		manifest = blob_json(layout, desc, err);
		if (!manifest)
			break;
		mt = json_string_value(json_object_get(desc, "mediaType"));
		if (!mt)
			mt = json_string_value(json_object_get(manifest, "mediaType"));
		if (!is_index_type(mt)) {
			*hex = rls_xstrdup(digest_hex(json_string_value(json_object_get(desc, "digest"))));
			json_decref(inner);
			json_decref(index);
			return manifest;
		}
		json_decref(inner);
		inner = manifest;
		manifest = NULL;
		desc = pick_platform(inner, err);
	}
	if (desc && !manifest && !err->msg[0])
		rls_error_set(err, 0, "indexes nested too deep");
	json_decref(manifest);
	json_decref(inner);
	json_decref(index);
	return NULL;
}

int oci_image_root(const char *ref, const char *source, char **root, rls_error *err)
{
	_cleanup_free_ char *layout = NULL, *tag = NULL, *hex = NULL, *cache = NULL;
	_cleanup_free_ char *dir = NULL, *done = NULL, *tmp = NULL;
	json_t *manifest;
	int r;

	err->msg[0] = '\0';
	split_ref(ref, &layout, &tag);
	manifest = find_manifest(layout, tag, &hex, err);
	if (!manifest)
		return rls_error_prefix(err, "--image %s", ref);
	cache = rls_state_dir("images", source, err);
	if (!cache) {
		json_decref(manifest);
		return -1;
	}
	dir = rls_xasprintf("%s/%s", cache, hex);
	done = rls_xasprintf("%s/unpacked", dir);
	if (access(done, F_OK) == 0) {
		json_decref(manifest);
		*root = rls_xasprintf("%s/rootfs", dir);
		return 0;
	}
	tmp = rls_xasprintf("%s/.tmp-%s-%d", cache, hex, (int)getpid());
	(void)rls_rm_rf_at(AT_FDCWD, tmp, NULL);
	r = unpack(layout, manifest, tmp, err);
	json_decref(manifest);
	if (r == 0) {
		_cleanup_free_ char *marker = rls_xasprintf("%s/unpacked", tmp);
		int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		if (fd < 0)
			r = rls_error_set(err, errno, "%s", marker);
		else
			close(fd);
	}
	if (r == 0 && rename(tmp, dir) < 0) {
		/* Another run won the race, or left a damaged one. */
		if (access(done, F_OK) != 0)
			r = rls_error_set(err, errno, "%s", dir);
	}
	(void)rls_rm_rf_at(AT_FDCWD, tmp, NULL);
	if (r < 0)
		return rls_error_prefix(err, "--image %s", ref);
	*root = rls_xasprintf("%s/rootfs", dir);
	return 0;
}
