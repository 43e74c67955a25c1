#!/bin/bash
# rls policy check: valid files pass, every kind of error is one line
# FILE:LINE:COLUMN: message with exit 1, warnings do not fail.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

# check_err NAME YAML WANT_PREFIX SENTENCE: `check` fails with exit 1 and a
# single line starting with WANT_PREFIX.
check_err() {
	printf '%s' "$2" > "$1"
	local out rc
	out=$("$RLS" policy check "$1" 2>&1 >/dev/null); rc=$?
	is "$rc" 1 "$4: exit status 1"
	like "$out" "^$3" "$4: $3"
	is "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 1 "$4: one line"
}

printf 'extends: read-only\nrules:\n  - { pattern: "/out/**", permission: write }\n' > good.yml
out=$("$RLS" policy check good.yml 2>&1); rc=$?
is "$rc" 0 "a valid policy passes"
like "$out" "good.yml: ok" "and says so"

check_err syntax.yml 'rules:
  - { pattern: "**", permission: read
' 'syntax.yml:3:1: ' "a YAML syntax error"
check_err level.yml 'rules:
  - { pattern: "**", permission: sometimes }
' "level.yml:2:34: unknown permission 'sometimes'" "an unknown level"
check_err key.yml 'rules:
  - pattern: "**"
    permission: read
    mode: 0644
' "key.yml:4:5: unknown key 'mode'" "an unknown key in a rule"
check_err top.yml 'rulez: []
' "top.yml:1:1: unknown key 'rulez'" "an unknown top-level key"
check_err class.yml 'rules:
  - { pattern: "src/[ab", permission: read }
' "class.yml:2:21: bad pattern 'src/\\[ab': unterminated '\\['" "an unterminated class, at its bracket"
check_err brace.yml 'rules:
  - pattern: src/{a,b
    permission: read
' "brace.yml:2:18: bad pattern 'src/\\{a,b': unterminated '\\{'" "an unterminated brace, at its brace"
check_err dotdot.yml 'rules:
  - { pattern: "a/../etc/**", permission: read }
' "dotdot.yml:2:17: bad pattern 'a/../etc/\\*\\*': '..' segments are not allowed" "a .. segment"
check_err missing.yml 'rules:
  - { pattern: "**" }
' "missing.yml:2:5: rule has no permission" "a rule without a permission"
check_err ext.yml 'extends: ./nowhere.yml
' "ext.yml:1:10: extends './nowhere.yml': No such file or directory" "extending a missing file"

mkdir -p cyc
printf 'extends: b.yml\nrules: []\n' > cyc/a.yml
printf '# b\nextends: a.yml\n' > cyc/b.yml
out=$("$RLS" policy check cyc/a.yml 2>&1); rc=$?
is "$rc" 1 "an extends cycle fails"
like "$out" "^cyc/b.yml:2:10: extends cycle: cyc/a.yml -> cyc/b.yml -> cyc/a.yml$" \
	"an extends cycle names the loop at the extends that closes it"

out=$("$RLS" policy check nowhere.yml 2>&1); rc=$?
is "$rc" 1 "a missing file fails"
like "$out" "^nowhere.yml: No such file or directory$" "a missing file is named in one line"

printf 'rules:\n  - { pattern: "**/.env*", permission: none }\n  - { pattern: "**", permission: write }\n' > warn.yml
"$RLS" policy check warn.yml >out 2>err; rc=$?
is "$rc" 0 "warnings alone do not fail the check"
like "$(cat err)" "^warn.yml:3:16: warning: rule '\\*\\*' \\(write\\) overrides the earlier none rule '\\*\\*/.env\\*'" \
	"a broad rule after a secret rule is warned about at its own position"

printf 'rules:\n  - { pattern: "**", permission: read }\n  - { pattern: "**/.env*", permission: none }\n  - { pattern: "**/*.key", permission: none }\n  - { pattern: "/out/**", permission: write }\n' > group.yml
"$RLS" policy check group.yml >out 2>err; rc=$?
is "$(wc -l < err | tr -d ' ')" 1 "a rule overriding several none rules is one warning"
like "$(cat err)" "^group.yml:5:16: warning: rule '/out/\\*\\*' \\(write\\) overrides 2 earlier none rules: '\\*\\*/.env\\*' at group.yml:3, '\\*\\*/\\*.key' at group.yml:4" \
	"naming each rule it overrides"

printf 'extends: development\nunhide:\n  - "**/.env*"\n  - "**/.vscode"\nunprotect: ["**/.git/hooks/**"]\n' > drop.yml
"$RLS" policy check drop.yml >out 2>err; rc=$?
is "$rc" 0 "dropping inherited entries is allowed"
like "$(cat out)" "drop.yml: ok \\(with warnings\\)" "with warnings"
like "$(sed -n 1p err)" "^drop.yml:3:5: warning: unhide '\\*\\*/.env\\*' drops the hide pattern inherited from preset:development:7: " \
	"an unhide is named with the pattern and the file and line it came from"
like "$(sed -n 2p err)" "^drop.yml:4:5: warning: unhide '\\*\\*/.vscode' drops nothing: no inherited hide pattern is written exactly so" \
	"an unhide naming nothing inherited says so"
like "$(sed -n 3p err)" "^drop.yml:5:13: warning: unprotect '\\*\\*/.git/hooks/\\*\\*' drops the protect pattern inherited from preset:development:33: " \
	"an unprotect is named the same way"
is "$(wc -l < err | tr -d ' ')" 3 "one line each"

check_err hide.yml 'hide: "**/.env*"
' "hide.yml:1:7: 'hide' must be a list of patterns, not a scalar" "a hide list that is not a list"
check_err prot.yml 'protect:
  - "src/[ab"
' "prot.yml:2:10: bad pattern 'src/\\[ab': unterminated '\\['" "a bad protect pattern, at its bracket"

"$RLS" policy check >/dev/null 2>err; rc=$?
is "$rc" 2 "check without a FILE is a usage error"
like "$(head -1 err)" "^rls policy: check: expected one FILE" "and says what is missing"
like "$(tail -1 err)" "rls policy --help" "with a usage hint"
"$RLS" policy check --frobnicate good.yml >/dev/null 2>err; rc=$?
is "$rc" 2 "an unknown flag is a usage error"
"$RLS" policy frob >/dev/null 2>err; rc=$?
is "$rc" 2 "an unknown subcommand is a usage error"
like "$(head -1 err)" "unknown subcommand 'frob'" "and names it"

printf 'extends: agnet-safe\n' > typo.yml
out=$("$RLS" policy check typo.yml 2>&1)
like "$out" "typo.yml:1:10: extends 'agnet-safe': no such preset \\(the presets: agent-safe, read-only" "a mistyped preset in extends lists the presets"
out=$(cd "$T" && "$RLS" run -p agnet-safe -- true 2>&1)
like "$out" "no preset 'agnet-safe' \\(the presets: agent-safe" "so does a mistyped -p"
printf 'rules:\n  - { pattern: *.key, permission: none }\n' > alias.yml
like "$("$RLS" policy check alias.yml 2>&1)" "quote globs that begin with \\* or &" "an unquoted *.key gets a hint to quote globs"
printf 'rules: []\n' > empty.yml
like "$("$RLS" policy check empty.yml 2>&1)" "warning: no rules: every path is hidden" "an empty policy is warned about"

done_testing
