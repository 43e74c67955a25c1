/* rls.c - `rls` subcommand dispatch. */
#include "launcher.h"
#include "commands.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "run", cmd_run },
	{ "diff", cmd_diff },
	{ "commit", cmd_commit },
	{ "discard", cmd_discard },
	{ "deltas", cmd_deltas },
	{ "policy", cmd_policy },
	{ "doctor", cmd_doctor },
};

static void usage(FILE *out)
{
	fputs("usage: rls run [OPTIONS] -- COMMAND [ARG...]\n"
	      "       rls diff [-p] DELTA\n"
	      "       rls commit [--on-conflict ours|theirs|fail] [--allow-symlinks-out] DELTA\n"
	      "       rls discard DELTA\n"
	      "       rls deltas [--json] | --remove-older-than AGE [--dry-run]\n"
	      "       rls policy check FILE | explain POLICY PATH... | show NAME\n"
	      "       rls doctor\n"
	      "       rls serve [--socket PATH | --listen ADDR:PORT --token-file FILE]  (see rls-serve(1))\n"
	      "See rls(1).\n", out);
}

int launcher_main(int argc, char **argv)
{
	rls_progname = "rls";
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		puts("rls " RLS_VERSION);
		return 0;
	}
	for (size_t i = 0; i < RLS_ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "rls: unknown command '%s' (try rls --help)\n", argv[1]);
	return 2;
}
