/* cmd-policy.c - `rls policy check | explain | show`. */
#include "launcher.h"
#include "commands.h"

#include <getopt.h>

#include "../policy/policy.h"

static const char usage_text[] =
	"usage: rls policy check FILE\n"
	"       rls policy explain [--dir] POLICY PATH...\n"
	"       rls policy show NAME\n"
	"See rls-policy(5).\n";

static int usage_error(const char *fmt, ...) RLS_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("rls policy: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'rls policy --help'.\n", stderr);
	return 2;
}

/* Parse the options of a subcommand: the index of the first operand, or
 * FLAGS_DONE with *status set when there is nothing more to do (--help
 * printed, or a bad flag reported). */
#define FLAGS_DONE (-1)

static int parse_flags(int argc, char **argv, bool *dir_flag, int *status)
{
	static const struct option longopts[] = {
		{ "dir", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (!dir_flag) {
				*status = usage_error("%s: unknown option '--dir'", argv[0]);
				return FLAGS_DONE;
			}
			*dir_flag = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			*status = 0;
			return FLAGS_DONE;
		default:
			if (optopt)
				*status = usage_error("%s: unknown option '-%c'", argv[0], optopt);
			else
				*status = usage_error("%s: unknown option '%s'", argv[0], argv[optind - 1]);
			return FLAGS_DONE;
		}
	}
	return optind;
}

static int load_or_report(const char *spec, policy **pol)
{
	rls_error err = { 0 };

	if (policy_load(spec, pol, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

static int policy_check(int argc, char **argv)
{
	policy *pol = NULL;
	int status = 0;
	int first = parse_flags(argc, argv, NULL, &status);
	unsigned warnings;

	if (first == FLAGS_DONE)
		return status;
	if (argc - first != 1)
		return usage_error("check: expected one FILE");
	if (load_or_report(argv[first], &pol) < 0)
		return 1;
	warnings = policy_lint(pol, stderr);
	policy_free(pol);
	printf("%s: ok%s\n", argv[first], warnings ? " (with warnings)" : "");
	return 0;
}

/* "a/./b/../c" -> "/a/c"; false when ".." climbs above the root. */
static bool normalise(const char *in, rls_buf *out)
{
	const char *p = in;

	rls_buf_reset(out);
	rls_buf_addc(out, '/');
	while (*p) {
		const char *end;
		size_t n;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		end = strchrnul(p, '/');
		n = (size_t)(end - p);
		if (n == 1 && p[0] == '.') {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (out->len == 1)
				return false;
			while (out->len > 1 && out->data[out->len - 1] != '/')
				out->len--;
			if (out->len > 1)
				out->len--;
			out->data[out->len] = '\0';
		} else {
			if (out->len > 1)
				rls_buf_addc(out, '/');
			rls_buf_add(out, p, n);
		}
		p = end;
	}
	return true;
}

static int policy_explain(int argc, char **argv)
{
	policy *pol = NULL;
	bool dir_flag = false;
	int status = 0;
	int first = parse_flags(argc, argv, &dir_flag, &status);
	_cleanup_buf_ rls_buf path = { 0 };

	if (first == FLAGS_DONE)
		return status;
	if (argc - first < 2)
		return usage_error("explain: expected POLICY and at least one PATH");
	for (int i = first + 1; i < argc; i++)
		if (!*argv[i] || !normalise(argv[i], &path)) {
			_cleanup_free_ char *shown = rls_quote_name(argv[i], 0);

			fprintf(stderr, "rls policy: explain: '%s': %s\n", shown,
				*argv[i] ? "'..' climbs above the root of the tree" : "empty path");
			return 1;
		}
	if (load_or_report(argv[first], &pol) < 0)
		return 1;
	/* The filesystem always protects the tree's own .rls/ folder; explain
	 * answers what the mounted tree would do. */
	policy_protect(pol, "/.rls");
	for (int i = first + 1; i < argc; i++) {
		size_t n = strlen(argv[i]);
		bool is_dir = dir_flag || (n && argv[i][n - 1] == '/') || !strcmp(argv[i], ".");
		policy_decision why;
		policy_level level;
		_cleanup_free_ char *shown = NULL;

		normalise(argv[i], &path);
		if (!strcmp(path.data, "/"))
			is_dir = true;
		level = policy_decide(pol, path.data, is_dir, &why);
		/* Quoted like every path rls prints, so a tab or newline in it
		 * cannot shift the columns. */
		if (is_dir && path.len > 1)
			rls_buf_addc(&path, '/');
		shown = rls_quote_name(path.data, 0);
		printf("%s\t%s\t", policy_level_name(level), shown);
		switch (why.origin) {
		case POLICY_FROM_RULE:
			printf("%s:%u: %s\n", why.file, why.line, why.pattern);
			break;
		case POLICY_FROM_TRAVERSAL:
			puts("implicit traversal");
			break;
		case POLICY_FROM_PROTECTED:
			puts("protected");
			break;
		case POLICY_FROM_PROTECT_LIST:
		case POLICY_FROM_HIDE_LIST:
			printf("%s: ", why.origin == POLICY_FROM_HIDE_LIST ? "hide" : "protect");
			if (why.pattern)
				printf("%s:%u: %s\n", why.file, why.line, why.pattern);
			else
				puts("(the matcher failed: fail closed)");
			break;
		default:
			puts("default");
			break;
		}
	}
	policy_free(pol);
	return 0;
}

static int policy_show(int argc, char **argv)
{
	int status = 0;
	int first = parse_flags(argc, argv, NULL, &status);
	const char *text;

	if (first == FLAGS_DONE)
		return status;
	if (argc - first != 1)
		return usage_error("show: expected one preset NAME");
	text = policy_preset_text(argv[first]);
	if (!text) {
		_cleanup_buf_ rls_buf names = { 0 };

		for (const char *const *n = policy_preset_names(); *n; n++)
			rls_buf_printf(&names, "%s%s", names.len ? ", " : "", *n);
		fprintf(stderr, "rls policy: show: no preset named '%s' (presets: %s)\n", argv[first],
			names.data);
		return 1;
	}
	fputs(text, stdout);
	return ferror(stdout) ? 1 : 0;
}

int cmd_policy(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub)
		return usage_error("expected a subcommand: check, explain or show");
	if (!strcmp(sub, "-h") || !strcmp(sub, "--help") || !strcmp(sub, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(sub, "check"))
		return policy_check(argc - 1, argv + 1);
	if (!strcmp(sub, "explain"))
		return policy_explain(argc - 1, argv + 1);
	if (!strcmp(sub, "show"))
		return policy_show(argc - 1, argv + 1);
	return usage_error("unknown subcommand '%s'", sub);
}
