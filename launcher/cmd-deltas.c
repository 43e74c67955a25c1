/* cmd-deltas.c - `rls deltas`: the deltas kept in the state directories,
 * and removing old ones.
 *
 *   rls deltas [--source DIR] [--json]
 *   rls deltas [--source DIR] --remove-older-than AGE [--dry-run]
 *
 * Deltas live where rls run and rlsfs mount put them: the state
 * directory ($XDG_STATE_HOME/rls/deltas or ~/.local/state/rls/deltas) and
 * the fallback /var/tmp/rls-UID/deltas.  A mounted delta is never removed.
 */
#include "launcher.h"
#include "commands.h"

#include "../delta/delta.h"

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <sys/stat.h>
#include <time.h>

typedef struct delta_row {
	char *path;
	char *source;
	time_t mtime;
	uint64_t bytes;
	unsigned added, modified, deleted;
	bool mounted;
	bool readable;		/* opened as a delta */
} delta_row;

typedef struct counts {
	unsigned added, modified, deleted;
} counts;

static int count(delta_change_kind kind, const char *path, void *opaque)
{
	counts *c = opaque;

	if (kind == DELTA_ADDED)
		c->added++;
	else if (kind == DELTA_MODIFIED)
		c->modified++;
	else
		c->deleted++;
	return 0;
}

/* Allocated bytes below dir_fd, not following symlinks; iterative. */
static uint64_t disk_usage(int dir_fd)
{
	int stack[64];
	size_t depth = 0;
	uint64_t total = 0;

	stack[depth++] = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
	while (depth) {
		int fd = stack[--depth];
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;

		if (!d) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		while ((de = readdir(d))) {
			struct stat st;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			total += (uint64_t)st.st_blocks * 512;
			if (S_ISDIR(st.st_mode) && depth < RLS_ARRAY_SIZE(stack))
				stack[depth++] = openat(dirfd(d), de->d_name,
							O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		closedir(d);
	}
	return total;
}

static void read_row(const char *path, delta_row *r)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	delta *d = NULL;
	rls_error err;
	counts c = { 0 };

	memset(r, 0, sizeof *r);
	r->path = rls_xstrdup(path);
	if (fd < 0 || fstat(fd, &st) < 0)
		return;
	r->mtime = st.st_mtime;
	r->bytes = disk_usage(fd);
	if (delta_open(path, NULL, 0, &d, &err) < 0)
		return;
	r->readable = true;
	r->source = rls_xstrdup(delta_source(d));
	r->mounted = delta_is_mounted(d);
	if (delta_changes(d, count, &c, &err) == 0) {
		r->added = c.added;
		r->modified = c.modified;
		r->deleted = c.deleted;
	}
	delta_close(d);
}

/* Every delta folder under the state directories (of `source` only, a
 * real path, when given), oldest first. */
static size_t collect(const char *source, delta_row **out)
{
	rls_error err;
	char *dirs[2] = { rls_state_dir("deltas", NULL, &err), NULL };
	_cleanup_free_ char *fallback = rls_xasprintf("/var/tmp/rls-%u/deltas", (unsigned)geteuid());
	delta_row *rows = NULL;
	size_t n = 0;

	if (!dirs[0] || strcmp(dirs[0], fallback))
		dirs[1] = rls_xstrdup(fallback);
	for (size_t i = 0; i < RLS_ARRAY_SIZE(dirs); i++) {
		DIR *d = dirs[i] ? opendir(dirs[i]) : NULL;
		struct dirent *de;

		while (d && (de = readdir(d))) {
			_cleanup_free_ char *p = NULL;

			if (de->d_name[0] == '.' || de->d_type != DT_DIR)
				continue;
			p = rls_xasprintf("%s/%s", dirs[i], de->d_name);
			rows = rls_xrealloc(rows, (n + 1) * sizeof *rows);
			read_row(p, &rows[n]);
			if (source && (!rows[n].source || strcmp(rows[n].source, source))) {
				free(rows[n].path);
				free(rows[n].source);
				continue;
			}
			n++;
		}
		if (d)
			closedir(d);
		free(dirs[i]);
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && rows[j].mtime < rows[j - 1].mtime; j--) {
			delta_row t = rows[j];

			rows[j] = rows[j - 1];
			rows[j - 1] = t;
		}
	*out = rows;
	return n;
}

static void human_size(uint64_t b, char *buf, size_t n)
{
	static const char units[] = "BKMGT";
	double v = (double)b;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof units - 1) {
		v /= 1024;
		u++;
	}
	snprintf(buf, n, u ? "%.1f%c" : "%.0f%c", v, units[u]);
}

static void human_age(time_t then, char *buf, size_t n)
{
	long s = (long)difftime(time(NULL), then);

	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, n, "%lds", s);
	else if (s < 7200)
		snprintf(buf, n, "%ldm", s / 60);
	else if (s < 172800)
		snprintf(buf, n, "%ldh", s / 3600);
	else
		snprintf(buf, n, "%ldd", s / 86400);
}

static void print_rows(const delta_row *rows, size_t n)
{
	if (!n) {
		puts("no deltas kept");
		return;
	}
	printf("%-6s %-7s %-18s %-7s %s\n", "AGE", "SIZE", "CHANGES", "MOUNTED", "DELTA -> SOURCE");
	for (size_t i = 0; i < n; i++) {
		const delta_row *r = &rows[i];
		char age[16], size[16], changes[48];

		human_age(r->mtime, age, sizeof age);
		human_size(r->bytes, size, sizeof size);
		if (r->readable)
			snprintf(changes, sizeof changes, "+%u ~%u -%u", r->added, r->modified, r->deleted);
		else
			snprintf(changes, sizeof changes, "(not a delta)");
		printf("%-6s %-7s %-18s %-7s %s -> %s\n", age, size, changes, r->mounted ? "yes" : "no", r->path,
		       r->source ? r->source : "?");
	}
}

static void print_json(const delta_row *rows, size_t n)
{
	json_t *a = json_array();
	char *text;

	for (size_t i = 0; i < n; i++) {
		const delta_row *r = &rows[i];

		json_array_append_new(a, json_pack("{s:s, s:s?, s:I, s:I, s:b, s:b, s:{s:I, s:I, s:I}}",
						   "path", r->path, "source", r->source,
						   "mtime", (json_int_t)r->mtime, "bytes", (json_int_t)r->bytes,
						   "mounted", r->mounted, "delta", r->readable,
						   "changes", "added", (json_int_t)r->added,
						   "modified", (json_int_t)r->modified,
						   "deleted", (json_int_t)r->deleted));
	}
	text = json_dumps(a, JSON_INDENT(2));
	if (text)
		puts(text);
	free(text);
	json_decref(a);
}

static void usage(FILE *out)
{
	fputs("usage: rls deltas [--source DIR] [--json]\n"
	      "       rls deltas [--source DIR] --remove-older-than AGE [--dry-run]\n"
	      "See rls(1).\n", out);
}

int cmd_deltas(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "remove-older-than", required_argument, NULL, 'r' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "source", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = false, dry = false;
	_cleanup_free_ char *source = NULL;
	double older = -1;
	delta_row *rows = NULL;
	size_t n;
	int c, status = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'n': dry = true; break;
		case 's':
			free(source);
			source = realpath(optarg, NULL);
			if (!source) {
				fprintf(stderr, "rls: deltas: source %s: %s\n", optarg, strerror(errno));
				return 2;
			}
			break;
		case 'r':
			if (rls_parse_seconds(optarg, &older) < 0) {
				fprintf(stderr, "rls: deltas: --remove-older-than wants an age (like 7d, 12h or "
					"30m), not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		case ':':
			fprintf(stderr, "rls: deltas: %s needs a value\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "rls: deltas: unknown option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "rls: deltas: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	n = collect(source, &rows);
	if (older < 0) {
		if (json)
			print_json(rows, n);
		else
			print_rows(rows, n);
	} else {
		time_t now = time(NULL);

		for (size_t i = 0; i < n; i++) {
			rls_error err;

			if (difftime(now, rows[i].mtime) < older || rows[i].mounted || !rows[i].readable)
				continue;
			printf("%s %s\n", dry ? "would remove" : "removed", rows[i].path);
			if (!dry && rls_rm_rf_at(AT_FDCWD, rows[i].path, &err) < 0) {
				fprintf(stderr, "rls: deltas: %s\n", err.msg);
				status = 1;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(rows[i].path);
		free(rows[i].source);
	}
	free(rows);
	return status;
}
