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

/* How one brace alternative is matched.  Basename globs of the common
 * shapes skip the regex engine altogether (hash lookups on the last name);
 * the rest are regexes, grouped by a literal segment every matching path
 * must contain (so a path only meets the regexes that could match it). */
enum policy_alt_kind {
	POLICY_ALT_REGEX,
	POLICY_ALT_NAME,	/* basename == lit */
	POLICY_ALT_SUFFIX,	/* "*lit": basename ends with lit */
	POLICY_ALT_PREFIX,	/* "lit*": basename starts with lit */
};

struct policy_alt {
	enum policy_alt_kind kind;
	char *lit;	/* the literal for NAME/SUFFIX/PREFIX */
	char *key;	/* REGEX: a literal segment it needs, or NULL */
	char *re;	/* REGEX: the anchored regex of this alternative */
};

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
	struct policy_alt *alts;
	size_t n_alts;
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

struct policy_entry {
	char *key;	/* NULL: empty slot */
	size_t len;
	int kind;	/* enum policy_alt_kind; POLICY_ALT_REGEX: a group */
	long value;	/* rule index, or group index */
};

struct policy_fragment {
	size_t rule;
	const char *re;
};

struct policy_group {
	pcre2_code **codes;
	size_t n_codes;
	long max_rule;
	/* while building */
	struct policy_fragment *frags;
	size_t n_frags;
};

struct policy {
	struct policy_rule *rules;
	size_t n_rules, cap_rules;
	char **files;
	size_t n_files;
	/* Deciding: basename literals in `table` (the highest rule index per
	 * literal), and regex groups keyed by a literal segment (group 0 has
	 * no key and is always tried).  In each group the combined regexes
	 * are in evaluation order: the first that matches names (through its
	 * MARK) the last rule of that group that matches. */
	struct policy_entry *table;
	size_t table_cap, table_n;
	size_t *suffix_lens, n_suffix_lens;
	size_t *prefix_lens, n_prefix_lens;
	struct policy_group *groups;
	size_t n_groups;
	/* Traversal: one set of combined regexes, same convention. */
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
