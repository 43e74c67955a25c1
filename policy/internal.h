/* internal.h - what the policy module's files share; not part of policy.h. */
#ifndef RLS_POLICY_INTERNAL_H
#define RLS_POLICY_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "policy.h"

/* Brace expansion is exponential in the number of groups; past this many
 * alternatives a pattern is refused rather than compiled into a regex that
 * would slow every lookup. */
#define POLICY_MAX_ALTERNATIVES 256
#define POLICY_MAX_PATTERN 4096

/* One glob, translated.  Every regex is written for PCRE2_ANCHORED matching
 * against a subject that is the path, with "/" appended for directories
 * (the root is "/" either way). */
struct policy_glob {
	/* The path itself matches (any alternative). */
	char *full;
	/* Some path strictly beneath the directory subject could match. */
	char *prefix;
	/* The alternatives that, once they match a directory, match everything
	 * beneath it too (ending in ** or /); NULL when there are none. */
	char *cover;
	/* A short path each alternative matches, for lint; dirs end in "/". */
	char **samples;
	size_t n_samples;
};

/* Translate `pattern`.  On error, *offset is the byte of the pattern the
 * message is about. */
int policy_glob_compile(const char *pattern, size_t len, struct policy_glob *out, size_t *offset,
			rls_error *err);
void policy_glob_free(struct policy_glob *g);

struct policy_rule {
	char *pattern;
	policy_level level;
	const char *file;	/* interned in policy->files */
	unsigned line, column;
	struct policy_glob glob;
};

struct policy {
	struct policy_rule *rules;
	size_t n_rules, cap_rules;
	char **files;
	size_t n_files;
	/* Combined regexes in evaluation order: the first that matches names
	 * (through its MARK) the last rule that matches. */
	pcre2_code **decide_re;
	size_t n_decide;
	pcre2_code **traverse_re;
	size_t n_traverse;
	char **protect;
	size_t n_protect;
};

/* parse.c: append the rules of YAML text / a file to pol. */
int policy_parse_text(policy *pol, const char *text, size_t len, const char *file, rls_error *err);
int policy_parse_file(policy *pol, const char *path, rls_error *err);
const char *policy_intern_file(policy *pol, const char *name);

/* policy.c: build the combined matchers once every rule is in. */
int policy_compile(policy *pol, rls_error *err);
/* The index of the last rule matching the subject, -1 for none, -2 when
 * the matcher failed (fail closed). */
long policy_match_rule(const policy *pol, const char *subject, size_t len);

#endif
