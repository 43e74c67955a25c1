/* cmd-delta.c - `rls diff`, `rls commit`, `rls discard`: a delta's changes
 * shown, applied to its source, or thrown away (see rls-delta(7)). */
#include "launcher.h"
#include "commands.h"
#include "run.h"
#include "../delta/delta.h"

#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

struct diff_ctx {
	delta *d;
	bool patch;
	bool terminal;		/* standard output is a terminal */
	int failed;
	rls_error *err;
};

/* diff's output on its way to a terminal.  Its content lines are the
 * sandbox's file data: prefixed, they forge no line of the patch, but an
 * ESC sequence in them could still move the cursor and rewrite the lines a
 * reviewer reads.  So controls and format characters are shown escaped
 * (tabs kept).  Into a pipe or a file the patch stays byte-exact. */
static void copy_for_terminal(int fd)
{
	_cleanup_fclose_ FILE *in = fdopen(fd, "r");
	_cleanup_buf_ rls_buf b = { 0 };
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!in) {
		close(fd);
		return;
	}
	while ((n = getline(&line, &cap, in)) > 0) {
		bool nl = line[n - 1] == '\n';
		size_t end = (size_t)n - nl;

		rls_buf_reset(&b);
		for (size_t i = 0; i < end;) {
			size_t j = i;

			while (j < end && line[j] != '\t' && line[j] != '\0')
				j++;
			if (j > i) {
				_cleanup_free_ char *piece = rls_xstrndup(line + i, j - i);

				rls_buf_add_text(&b, piece);
			}
			if (j < end)
				rls_buf_adds(&b, line[j] == '\t' ? "\t" : "\\000");
			i = j + 1;
		}
		if (nl)
			rls_buf_addc(&b, '\n');
		if (b.len)
			fwrite(b.data, 1, b.len, stdout);
	}
	free(line);
}

/* Open `path` (NULL: /dev/null) for diff as its descriptor `to`, named
 * to it by /dev/fd/N: diff's own messages then name no path the sandbox
 * chose. */
static int diff_input(posix_spawn_file_actions_t *fa, const char *path, int to, char name[static 16])
{
	int fd = open(path ? path : "/dev/null", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -1;
	posix_spawn_file_actions_adddup2(fa, fd, to);
	snprintf(name, 16, "/dev/fd/%d", to);
	return fd;
}

static int run_diff(const char *old, const char *new, const char *la, const char *lb, bool terminal)
{
	char a[16], b[16];
	char *argv[] = { "diff", "-u", "--label", (char *)la, "--label", (char *)lb, a, b, NULL };
	posix_spawn_file_actions_t fa;
	_cleanup_close_ int fd_a = -1, fd_b = -1;
	int out[2] = { -1, -1 };
	pid_t pid;
	int status, r;

	fflush(stdout);
	posix_spawn_file_actions_init(&fa);
	fd_a = diff_input(&fa, old, 3, a);
	fd_b = diff_input(&fa, new, 4, b);
	if (fd_a < 0 || fd_b < 0 || (terminal && pipe2(out, O_CLOEXEC) < 0)) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	if (terminal)
		posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	r = posix_spawnp(&pid, "diff", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (terminal) {
		close(out[1]);
		if (r == 0)
			copy_for_terminal(out[0]);
		else
			close(out[0]);
		fflush(stdout);
	}
	if (r != 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) < 2 ? 0 : -1;
}

/* The data file of the regular file the delta has at `path`, or NULL. */
static char *delta_file(delta *d, const char *path)
{
	delta_txn *txn;
	delta_node *node = rls_xmalloc(sizeof *node);
	rls_error err;
	char *out = NULL;

	if (delta_begin(d, false, &txn, &err) == 0) {
		if (delta_get(txn, path, node, &err) == 0 && node->kind == DELTA_FILE) {
			char name[17];

			delta_data_name(node->id, name);
			out = rls_xasprintf("%s/data/%s", delta_path(d), name);
		}
		delta_abort(txn);
	}
	free(node);
	return out;
}

static char *label(const char *side, const char *path)
{
	_cleanup_free_ char *name = rls_xasprintf("%s%s", side, path);

	return rls_quote_name(name, 0);
}

static int print_change(delta_change_kind kind, const char *path, void *opaque)
{
	struct diff_ctx *c = opaque;
	_cleanup_free_ char *src = NULL, *ours = NULL, *la = NULL, *lb = NULL, *shown = NULL;
	struct stat st;
	bool src_file;

	/* The sandbox chose the name: quoted, it cannot forge a line. */
	shown = rls_quote_name(path + 1, 0);
	printf("%c %s\n", (char)kind, shown);
	if (!c->patch)
		return 0;
	src = rls_xasprintf("%s%s", delta_source(c->d), path);
	src_file = lstat(src, &st) == 0 && S_ISREG(st.st_mode);
	ours = kind == DELTA_DELETED ? NULL : delta_file(c->d, path);
	if (!src_file && !ours)
		return 0;
	/* diff(1) prints its labels as they are in the ---/+++ headers and
	 * the "Binary files" line: quote them as git does ("a/x\ny"). */
	la = src_file ? label("a", path) : rls_xstrdup("/dev/null");
	lb = ours ? label("b", path) : rls_xstrdup("/dev/null");
	if (run_diff(src_file ? src : NULL, ours, la, lb, c->terminal) < 0) {
		fprintf(stderr, "rls: diff: cannot compare %s\n", shown);
		c->failed = 1;
	}
	return 0;
}

static int open_delta(const char *dir, delta **d)
{
	rls_error err;

	if (delta_open(dir, NULL, 0, d, &err) < 0) {
		fprintf(stderr, "rls: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* rls diff's marks: "conflict: PATH (the source changed since ...)" and
 * "would hold back: PATH -> TARGET (why)". */
static void print_plan(const delta_commit_stats *plan)
{
	for (char *const *p = plan->conflict_paths; p && *p; p++) {
		_cleanup_free_ char *shown = rls_quote_name((*p)[0] && (*p)[1] ? *p + 1 : "/", 0);

		printf("conflict: %s (the source changed since it was copied up)\n", shown);
	}
	for (size_t i = 0; i < plan->n_held; i++) {
		_cleanup_free_ char *path = rls_quote_name(plan->held[i].path + 1, 0);
		_cleanup_free_ char *target = rls_quote_name(plan->held[i].target, 0);

		printf("would hold back: %s -> %s (%s)\n", path, target, plan->held[i].why);
	}
}

static int count_one(delta_change_kind kind, const char *path, void *opaque)
{
	(*(unsigned *)opaque)++;
	return 0;
}

/* A delta of rls's state directory left empty by a commit or a discard
 * is removed, folder and all, unless something mounted it meanwhile:
 * nothing is left to pile up. */
static void remove_if_empty(const char *dir)
{
	_cleanup_free_ char *real = realpath(dir, NULL), *state = rls_state_dir("deltas", NULL, NULL);
	_cleanup_free_ char *fallback = rls_xasprintf("/var/tmp/rls-%u/deltas/", (unsigned)geteuid());
	_cleanup_free_ char *prefix = state ? rls_xasprintf("%s/", state) : NULL;
	delta *d;
	rls_error err;
	unsigned changes = 0;

	/* Only the deltas rls keeps itself: a folder the caller named stays. */
	if (!real || !((prefix && !strncmp(real, prefix, strlen(prefix))) ||
		       !strncmp(real, fallback, strlen(fallback))))
		return;
	if (delta_open(dir, NULL, DELTA_MOUNT, &d, &err) < 0)
		return;
	if (delta_changes(d, count_one, &changes, &err) < 0)
		changes = 1;
	delta_close(d);
	if (!changes)
		(void)rls_rm_rf_at(AT_FDCWD, dir, NULL);
}

/* One line for a bad option of `rls CMD`, in rls's own words (not
 * getopt's), then the usage; returns the usage status. */
static int bad_option(const char *cmd, char **argv, const char *usage)
{
	const char *arg = argv[optind - 1];

	if (optopt && optopt < 256 && arg[0] == '-' && arg[1] != '-')
		fprintf(stderr, "rls: %s: unknown option '-%c'\n", cmd, optopt);
	else
		fprintf(stderr, "rls: %s: unknown option '%s'\n", cmd, arg);
	fputs(usage, stderr);
	return 2;
}

int cmd_diff(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "patch", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct diff_ctx c = { 0 };
	rls_error err;
	int opt, r;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":ph", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p': c.patch = true; break;
		case 'h': puts("usage: rls diff [-p] DELTA"); return 0;
		case ':':
			fprintf(stderr, "rls: diff: %s needs a value\n", argv[optind - 1]);
			return 2;
		default: return bad_option("diff", argv, "usage: rls diff [-p] DELTA\n");
		}
	}
	if (argc - optind != 1) {
		fputs("usage: rls diff [-p] DELTA\n", stderr);
		return 2;
	}
	if (open_delta(argv[optind], &c.d) < 0)
		return 1;
	c.err = &err;
	c.terminal = isatty(STDOUT_FILENO);
	r = delta_changes(c.d, print_change, &c, &err);
	if (r == 0) {
		/* What a commit now would find: conflicts and the symlinks it
		 * would hold back, marked before anything is written. */
		delta_commit_stats plan = { 0 };

		if (delta_commit(c.d, DELTA_CONFLICT_OURS, DELTA_COMMIT_DRY_RUN, &plan, &err) < 0) {
			fprintf(stderr, "rls: diff: %s\n", err.msg);
			c.failed = 1;
		} else {
			print_plan(&plan);
		}
		delta_commit_stats_free(&plan);
	}
	fflush(stdout);
	delta_close(c.d);
	if (r < 0) {
		fprintf(stderr, "rls: diff: %s\n", err.msg);
		return 1;
	}
	return c.failed;
}


int cmd_commit(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "on-conflict", required_argument, NULL, 'c' },
		{ "allow-symlinks-out", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: rls commit [--on-conflict ours|theirs|fail] [--allow-symlinks-out] DELTA\n";
	delta_conflict_mode mode = DELTA_CONFLICT_OURS;
	unsigned flags = 0;
	int status;
	delta_commit_stats stats;
	delta *d;
	rls_error err;
	int opt, r;

	optind = 1;
	opterr = 0;
	/* Options may come after DELTA too: rls commit D --on-conflict theirs. */
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (!strcmp(optarg, "ours"))
				mode = DELTA_CONFLICT_OURS;
			else if (!strcmp(optarg, "theirs"))
				mode = DELTA_CONFLICT_THEIRS;
			else if (!strcmp(optarg, "fail"))
				mode = DELTA_CONFLICT_FAIL;
			else {
				fprintf(stderr, "rls: commit: --on-conflict must be ours, theirs or fail, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'L': flags |= DELTA_COMMIT_ALLOW_SYMLINKS_OUT; break;
		case 'h': fputs(usage, stdout); return 0;
		case ':':
			fprintf(stderr, "rls: commit: %s needs a value (ours, theirs or fail)\n", argv[optind - 1]);
			return 2;
		default: return bad_option("commit", argv, usage);
		}
	}
	if (argc - optind != 1) {
		fputs(usage, stderr);
		return 2;
	}
	if (open_delta(argv[optind], &d) < 0)
		return 1;
	r = delta_commit(d, mode, flags, &stats, &err);
	delta_close(d);
	if (r < 0) {
		fprintf(stderr, "rls: %s\n", err.msg);
		return 1;
	}
	if (r == 0)
		remove_if_empty(argv[optind]);
	if (r == 1) {
		printf("commit refused: %u conflict%s, nothing written\n", stats.conflicts,
		       stats.conflicts == 1 ? "" : "s");
	} else {
		printf("committed: %u added, %u modified, %u deleted; %u conflict%s\n", stats.added,
		       stats.modified, stats.deleted, stats.conflicts, stats.conflicts == 1 ? "" : "s");
	}
	report_commit_notes(&stats, mode, argv[optind], "", stdout);
	/* A conflict is never silent, not even in the status. */
	status = r == 1 ? 1 : stats.conflicts ? COMMIT_EXIT_CONFLICT : r == 2 ? COMMIT_EXIT_HELD : 0;
	delta_commit_stats_free(&stats);
	return status;
}

int cmd_discard(int argc, char **argv)
{
	delta *d;
	rls_error err;
	int r;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		puts("usage: rls discard DELTA");
		return 0;
	}
	if (argc == 2 && argv[1][0] == '-') {
		optind = 2;
		optopt = 0;
		return bad_option("discard", argv, "usage: rls discard DELTA\n");
	}
	if (argc != 2) {
		fprintf(stderr, "rls: discard: %s (usage: rls discard DELTA)\n",
			argc < 2 ? "which delta? none given" : "one delta at a time");
		return 2;
	}
	if (open_delta(argv[1], &d) < 0)
		return 1;
	r = delta_discard(d, &err);
	delta_close(d);
	if (r < 0) {
		fprintf(stderr, "rls: %s\n", err.msg);
		return 1;
	}
	remove_if_empty(argv[1]);
	return 0;
}
