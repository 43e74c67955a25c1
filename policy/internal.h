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

/* How one brace alternative is matched.  "**" and basename globs of the
 * common shapes skip the regex engine altogether (nothing to match, or
 * hash lookups on the last name);
 * the rest are regexes, grouped by a literal segment every matching path
 * must contain (so a path only meets the regexes that could match it). */
enum policy_alt_kind {
	POLICY_ALT_REGEX,
	POLICY_ALT_NAME,	/* basename == lit */
	POLICY_ALT_SUFFIX,	/* "*lit": basename ends with lit */
	POLICY_ALT_PREFIX,	/* "lit*": basename starts with lit */
	POLICY_ALT_ALL,		/* "**": every path */
};

struct policy_alt {
	enum policy_alt_kind kind;
	char *lit;	/* the literal for NAME/SUFFIX/PREFIX */
	char *key;	/* REGEX: a literal segment it needs, or NULL */
	char *re;	/* REGEX: the anchored regex of this alternative */
	char *tree;	/* REGEX: the same, also matching what lies beneath a match */
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

/* A rule, or an entry of a hide or protect list (whose level is unused). */
struct policy_rule {
	char *pattern;
	policy_level level;
	const char *file;	/* interned in policy->files */
	unsigned line, column;
	struct policy_glob glob;
};

struct policy_rules {
	struct policy_rule *v;
	size_t n, cap;
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

/* Bits of the quick filters in front of the literal table: a name whose
 * first two bytes (or a suffix whose last two) no literal has skips the
 * hash lookups. */
#define POLICY_FILTER_BITS 4096

/* Which of a list of globs is the last to match a path.  Basename literals
 * are in `table` (the highest index per literal); the regexes are grouped
 * by a literal segment (group 0 has no key and is always tried), each
 * group's combined regexes in evaluation order: the first that matches
 * names (through its MARK) the last entry of that group that matches.
 * A `tree` matcher also answers for every path beneath a match: its
 * basename literals are tried on every name of the path, not only the
 * last, and its regexes are the alternatives' `tree` forms. */
struct policy_matcher {
	const struct policy_rules *list;
	bool tree;
	struct policy_entry *table;
	size_t table_cap, table_n;
	size_t *suffix_lens, n_suffix_lens;
	size_t *prefix_lens, n_prefix_lens;
	struct policy_group *groups;
	size_t n_groups;
	/* the filters: NAME and PREFIX literals by their head, SUFFIX ones
	 * by their tail, REGEX keys by their head; a 1-byte PREFIX or
	 * SUFFIX literal turns its filter off */
	unsigned char head[POLICY_FILTER_BITS / 8], tail[POLICY_FILTER_BITS / 8], keys[POLICY_FILTER_BITS / 8];
	bool head_off, tail_off;
	long all;	/* the last entry matching every path ("**"), or -1 */
};

/* A path clamped to read by policy_protect and its kin: the path alone,
 * or (`tree`) everything beneath it too. */
struct policy_protected {
	char *path;
	size_t len;
	bool tree;
};

/* What `unhide` and `unprotect` did, for `rls policy check`. */
struct policy_note {
	const char *list;	/* "hide" or "protect" */
	char *pattern;
	const char *file;	/* the unhide / unprotect entry */
	unsigned line, column;
	const char *from_file;	/* the inherited entry it dropped; NULL: none */
	unsigned from_line;
};

/* A policy file's text as a load read it (snapshot.c). */
struct policy_text {
	char *name;	/* the name it was read by */
	char *real;	/* its real path then: what extends cycles compare */
	char *text;
	size_t len;
};

/* The most a policy file may hold. */
#define POLICY_MAX_FILE_BYTES (4u << 20)

struct policy {
	struct policy_rules rules, hide, protect;
	char **files;
	size_t n_files;
	/* What was loaded: the spec (a preset's name or a file's path), and
	 * every file read, in the order read. */
	char *root;
	struct policy_text *texts;
	size_t n_texts;
	/* While loading from a snapshot: the texts read instead of files. */
	const struct policy_text *from;
	size_t n_from;
	bool interpret;		/* matchers left to the interpreter (no JIT) */
	struct policy_matcher match, hide_match, protect_match;
	/* Traversal: one set of combined regexes over the rules, same
	 * convention as a matcher's groups. */
	pcre2_code **traverse_re;
	size_t n_traverse;
	struct policy_protected *protected;
	size_t n_protected;
	struct policy_note *notes;
	size_t n_notes;
};

/* parse.c: append the rules of YAML text / a file to pol. */
int policy_parse_text(policy *pol, const char *text, size_t len, const char *file, rls_error *err);
int policy_parse_file(policy *pol, const char *path, rls_error *err);
const char *policy_intern_file(policy *pol, const char *name);
void policy_rules_clear(struct policy_rules *rules);

/* A path as the matchers take it: the subject (the path, "/" appended for
 * a directory; `path_len` leaves that slash out) cut into its names once,
 * each with its filter bits, for all the matchers of a decision. */
struct policy_name {
	uint32_t at, len;
	uint16_t head, tail;
};

struct policy_subject {
	const char *s;
	size_t len, path_len;
	struct policy_name *names;
	size_t n_names;
	struct policy_name some[64];	/* names lives here for a path this shallow */
};

/* match.c: cut `s` into names (policy_subject_done frees what that took). */
void policy_subject_init(struct policy_subject *sub, const char *s, size_t len, size_t path_len);
void policy_subject_done(struct policy_subject *sub);
/* Compile a list into a matcher; the index of the last entry matching the
 * subject, -1 for none, -2 when the matcher failed (callers fail
 * closed). */
int policy_matcher_build(struct policy_matcher *m, const struct policy_rules *list, bool tree, bool jit,
			 rls_error *err);
void policy_matcher_free(struct policy_matcher *m);
long policy_matcher_match(const struct policy_matcher *m, const struct policy_subject *sub);
/* The combined regexes of `f`, chunked to fit pcre2, appended to *codes;
 * JIT-compiled when `jit`. */
int policy_compile_regexes(const struct policy_fragment *f, size_t n, pcre2_code ***codes, size_t *n_codes,
			   const struct policy_rules *list, bool jit, rls_error *err);
/* The first of `codes` that matches names the entry (its MARK); -1, -2 as
 * above. */
long policy_match_first(pcre2_code *const *codes, size_t n, const char *s, size_t len);
/* One standalone regex matched against s (lint). */
bool policy_regex_matches(const pcre2_code *code, const char *s);

/* policy.c */
int policy_compile(policy *pol, rls_error *err);
/* parse.c: the text a snapshot holds for `name`, or NULL. */
const struct policy_text *policy_text_find(const struct policy_text *v, size_t n, const char *name);
void policy_texts_free(struct policy_text *v, size_t n);
/* policy.c: load `root` (a preset's name, or a file's name) reading only
 * `texts`, never a file. */
int policy_load_from(const char *root, const struct policy_text *texts, size_t n, policy **out, rls_error *err);
/* policy.c: what a snapshot of the policy a run over source_root applies
 * is taken from: as policy_check_for_source, but a preset only named,
 * neither parsed nor compiled (its policy can give no decision). */
int policy_take_for_source(const char *spec, const char *source_root, policy **out, rls_error *err);
/* The decision, and the index of the deciding rule (-1 for none). */
policy_level policy_decide_rule(const policy *pol, const char *path, bool is_dir, policy_decision *why,
				long *rule);

#endif
