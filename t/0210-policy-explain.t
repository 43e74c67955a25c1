#!/bin/bash
# rls policy explain: one tab-separated line per path: level, path, reason.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
tab=$(printf '\t')

explain() { "$RLS" policy explain "$@" 2>&1; }

is "$(explain agent-safe src/main.c)" "read$tab/src/main.c${tab}preset:agent-safe:6: **" \
	"a relative path is rooted and explained by its rule"
is "$(explain agent-safe /src/.env)" "none$tab/src/.env${tab}hide: preset:agent-safe:10: **/.env*" \
	"a secret names the hide entry that hides it"
is "$(explain agent-safe /src/.ssh/keys/a)" "none$tab/src/.ssh/keys/a${tab}hide: preset:agent-safe:22: **/.ssh/" \
	"so does a path beneath a hidden folder"
is "$(explain development /x/.git/hooks/pre-push)" \
	"read$tab/x/.git/hooks/pre-push${tab}protect: preset:development:33: **/.git/hooks/**" \
	"a clamped path names the protect entry that keeps it read-only"
is "$(explain development /x/.git/index)" "write$tab/x/.git/index${tab}preset:development:5: **" \
	"a path no list touches names its rule"
is "$(explain agent-safe /output/a/b.txt)" "write$tab/output/a/b.txt${tab}preset:agent-safe:7: /output/**" \
	"a writable path names its rule"
is "$(explain agent-safe //src/./x/../main.c)" "read$tab/src/main.c${tab}preset:agent-safe:6: **" \
	"paths are normalised"
is "$(explain agent-safe /.rls/policy.yml)" "read$tab/.rls/policy.yml${tab}preset:agent-safe:6: **" \
	"the .rls folder is read under agent-safe"
is "$(explain full-access /.rls/policy.yml)" "read$tab/.rls/policy.yml${tab}protected" \
	"the .rls folder is protected even when the rules would let it be written"
is "$(explain full-access /src | cut -f1)" "write" "full-access writes elsewhere"

printf 'rules:\n  - { pattern: "**/*.py", permission: read }\n' > py.yml
is "$(explain py.yml src/pkg/)" "view$tab/src/pkg/${tab}implicit traversal" \
	"a trailing slash asks about a directory, which traversal makes view"
is "$(explain py.yml --dir src/pkg)" "view$tab/src/pkg/${tab}implicit traversal" "--dir asks about directories"
is "$(explain py.yml src/pkg)" "none$tab/src/pkg${tab}default" "without it the path is a file, and default none"
is "$(explain py.yml src/a.py)" "read$tab/src/a.py${tab}py.yml:2: **/*.py" "a file rule names the file and line"
is "$(explain py.yml /)" "view$tab/${tab}implicit traversal" "the root is a directory"

out=$(explain agent-safe a b/ c.key)
is "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 3 "one line per path"
is "$(printf '%s\n' "$out" | cut -f2 | tr '\n' ' ')" "/a /b/ /c.key " "in the order given"

out=$("$RLS" policy explain agent-safe ../etc/passwd 2>&1); rc=$?
is "$rc" 1 "a path climbing above the root is an error"
like "$out" "'\\.\\.' climbs above the root" "and says why"
is "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 1 "in one line"

"$RLS" policy explain agent-safe >/dev/null 2>err; rc=$?
is "$rc" 2 "explain without a PATH is a usage error"
like "$(tail -1 err)" "rls policy --help" "with a usage hint"
"$RLS" policy explain --bogus agent-safe x >/dev/null 2>&1; rc=$?
is "$rc" 2 "an unknown flag is a usage error"

printf 'rules: [\n' > bad.yml
out=$("$RLS" policy explain bad.yml x 2>&1); rc=$?
is "$rc" 1 "a bad policy fails explain"
like "$out" "^bad.yml:2:1: " "with the policy's error"

done_testing
