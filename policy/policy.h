/* policy.h - the whole public face of the policy engine.
 *
 * A policy is an ordered list of glob rules, each giving a level, and two
 * lists of patterns applied after every rule: `protect` clamps what it
 * matches to at most read, `hide` makes it (and all beneath it) none.  The
 * last rule that matches a path decides before those; a path no rule
 * matches is POLICY_NONE.  Paths handed to the engine are relative to the
 * root of the tree, written with a leading slash ("/src/main.py"); the root
 * itself is "/".  They are normalised: no "//", no "." or ".." segments, no
 * trailing slash.
 */
#ifndef RLS_POLICY_H
#define RLS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "../common/common.h"

typedef enum policy_level {
	POLICY_NONE = 0,
	POLICY_VIEW = 1,
	POLICY_READ = 2,
	POLICY_WRITE = 3,
} policy_level;

/* "none", "view", "read", "write". */
const char *policy_level_name(policy_level level);
/* 0 and *out set, or -1 if `name` is not a level. */
int policy_level_parse(const char *name, policy_level *out);

typedef struct policy policy;

/* Where a decision came from. */
typedef enum policy_origin {
	POLICY_FROM_DEFAULT = 0,	/* no rule matched */
	POLICY_FROM_RULE,		/* the last matching rule */
	POLICY_FROM_TRAVERSAL,		/* a hidden directory on the way to something visible */
	POLICY_FROM_PROTECTED,		/* clamped: the policy's files, .rls/ (policy_protect*) */
	POLICY_FROM_PROTECT_LIST,	/* clamped to read by a `protect` pattern */
	POLICY_FROM_HIDE_LIST,		/* hidden by a `hide` pattern (on it or a folder above) */
} policy_origin;

typedef struct policy_decision {
	policy_level level;
	policy_origin origin;
	/* For POLICY_FROM_RULE: the deciding rule; for POLICY_FROM_PROTECTED,
	 * the rule whose level was clamped, if any; for the two lists, their
	 * entry (NULL only if the matcher failed, which clamps or hides).
	 * Pointers stay valid for the life of the policy. */
	const char *file;	/* file the rule was read from, or "preset:NAME" */
	unsigned line;
	unsigned column;
	const char *pattern;
} policy_decision;

/* Load a policy: `spec` is a preset name ("agent-safe") or a file path.
 * A name that is a preset wins over a file of the same name in the current
 * directory unless it contains a '/' (write ./agent-safe for the file).
 * Errors are one line, "FILE:LINE:COLUMN: message" where a position is
 * known. */
int policy_load(const char *spec, policy **out, rls_error *err);
/* Parse YAML text as if read from `file` (used for presets and tests). */
int policy_load_text(const char *text, size_t len, const char *file, policy **out, rls_error *err);
void policy_free(policy *pol);

/* The policy `rls run` uses for a source tree: `spec` when given, else
 * SOURCE/.rls/policy.yml when it exists, else the agent-safe preset. */
int policy_load_for_source(const char *spec, const char *source_root, policy **out, rls_error *err);

/* As policy_load_for_source, for a policy that is checked and handed on
 * (policy_snapshot_fd) rather than asked much: its patterns are compiled,
 * and every error found, but not optimised.  Its decisions are the same,
 * slower. */
int policy_check_for_source(const char *spec, const char *source_root, policy **out, rls_error *err);

/* The policy as it was read, in a memfd sealed against any change (its
 * offset 0, close-on-exec): the spec loaded and every file read, by the
 * name it was read by, with its text.  Loaded again by policy_load_snapshot
 * in another process, it gives the very policy checked here, whatever
 * happens to the files meanwhile: nothing is read twice. */
int policy_snapshot_fd(const policy *pol, rls_error *err);
/* policy_snapshot_fd of policy_check_for_source, for `rls run`: the
 * policy a run over source_root applies, its files checked and their
 * texts taken.  A preset, which reads no file, is taken by name and not
 * parsed here: the rlsfs that loads the snapshot parses it. */
int policy_snapshot_for_source(const char *spec, const char *source_root, rls_error *err);
/* Load the policy a snapshot holds, reading no file: names are resolved as
 * the process that took it resolved them (call it from the same folder).
 * -1 and why when `fd` is not a sealed memfd holding a well-formed
 * snapshot, or the policy in it does not load. */
int policy_load_snapshot(int fd, policy **out, rls_error *err);

/* Clamp `path` and everything beneath it to at most POLICY_READ, whatever
 * the rules say (the tree's .rls/ folder, which the sandbox must never
 * write).  `path` as for policy_decide. */
void policy_protect(policy *pol, const char *path);
/* Protect, in the tree at `source` (a real absolute path), what the next
 * run reads its policy from: .rls/ with everything beneath it, and each
 * file the policy was read from (the file given and those it extends).
 * Each is protected as it was named, not only where it really is: every
 * folder and symlink inside the tree that resolving the name goes through
 * is clamped too (that path alone, not what lies beneath), so none can be
 * renamed, removed or replaced to make the same name lead elsewhere.  Call
 * it from the folder the policy was loaded from: names are resolved from
 * there, and a file given by its real path loses the symlinks it was
 * named through. */
void policy_protect_source(policy *pol, const char *source);

/* Decide the level of `path`; `is_dir` says whether it is (or would be
 * created as) a directory.  Includes implicit traversal: a directory whose
 * own level is none but beneath which some path could be visible is
 * POLICY_VIEW.  Thread-safe; cheap enough to call on every lookup. */
policy_level policy_decide(const policy *pol, const char *path, bool is_dir, policy_decision *why);

/* The same, for a path given as a directory and a name within it. */
policy_level policy_decide_at(const policy *pol, const char *dir, const char *name, bool is_dir,
			      policy_decision *why);

/* Diagnostics of `rls policy check`: "FILE:LINE:COLUMN: warning: ..."
 * lines written to `out`, one per finding, a finding's repeats grouped on
 * its line: an `unhide` or `unprotect` that drops an inherited pattern or
 * names none, a later rule above none that overrides earlier none rules,
 * a rule that a hide or protect pattern leaves without effect.  Returns
 * the number of lines. */
unsigned policy_lint(const policy *pol, FILE *out);

/* Presets built in: NULL-terminated list of names, and the YAML text of one
 * (NULL if unknown). */
const char *const *policy_preset_names(void);
/* The policy a run over `source` (a real absolute path) applies, as a
 * spec that reads the same from any folder: a preset's name, or a file's
 * absolute path with the symlinks the caller named kept (every one of
 * them is protected); with no `spec`, SOURCE/.rls/policy.yml if present,
 * else "agent-safe".  As policy_load_for_source picks. */
char *policy_resolve_spec(const char *spec, const char *source);
/* The preset names, comma-separated, appended to b (for messages). */
void policy_preset_list(rls_buf *b);
const char *policy_preset_text(const char *name);

/* A stable fingerprint of the rules (for the delta to record which policy
 * it was made under). */
unsigned long long policy_fingerprint(const policy *pol);

#endif
