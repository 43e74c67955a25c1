#!/bin/bash
# rls policy show: prints each preset; what it prints passes `check` and
# decides like the preset itself.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

for p in agent-safe read-only view-only full-access development; do
	"$RLS" policy show "$p" > "$p.yml" 2>err; rc=$?
	is "$rc" 0 "show $p succeeds"
	"$RLS" policy check "$p.yml" >/dev/null 2>err; rc=$?
	is "$rc" 0 "show $p output passes check"
	is "$(cat err)" "" "show $p output has no warnings"
	cmp -s "$p.yml" "$RLS_SRC/policy/presets/$p.yml"
	is $? 0 "show $p prints policy/presets/$p.yml exactly"
	paths="/src/a.c /x/.env /output/o /.git/hooks/h /k.pem /d/ /d/.ssh/x /s/.git/config /.vscode/tasks.json"
	a=$("$RLS" policy explain "$p" $paths | cut -f1)
	b=$("$RLS" policy explain "./$p.yml" $paths | cut -f1)
	is "$b" "$a" "the printed $p decides like the built-in one"
done

# The lists the presets hold, exactly (rls-policy(5), GIT AND HOST TOOLS).
list_of() { "$RLS" policy show "$1" | sed -n "/^$2:/,/^[a-z]*:/p" | sed -n 's/^  - "\(.*\)"$/\1/p' | tr '\n' ' '; }
is "$(list_of agent-safe hide)" '**/.env* **/secrets/** **/*.key **/*.pem **/credentials* **/id_rsa* **/id_ed25519* **/id_ecdsa* **/.git-credentials **/.netrc **/.npmrc **/.pypirc **/.ssh/ **/.aws/ **/.gnupg/ **/.kube/config **/.docker/config.json **/*.p12 **/*.pfx ' \
	"agent-safe hides exactly the secrets of the specification"
is "$(list_of agent-safe protect)" '**/.git **/.git/config **/.git/config.worktree **/.git/commondir **/.git/hooks/** **/.git/modules/** **/.git/worktrees/** **/.git/objects **/.git/objects/info **/.git/objects/info/alternates **/.claude/** **/.mcp.json **/.codex/** **/.gemini/** **/.vscode/** **/.envrc ' \
	"agent-safe protects git's and the host tools' files"
is "$(list_of development hide)" "$(list_of agent-safe hide)" "development hides the same"
is "$(list_of development protect)" "$(list_of agent-safe protect)" "development protects the same"
for p in read-only view-only full-access; do
	is "$(list_of "$p" hide)$(list_of "$p" protect)" "" "$p has no lists"
done

out=$("$RLS" policy show no-such 2>&1); rc=$?
is "$rc" 1 "an unknown preset fails"
like "$out" "^rls policy: show: no preset named 'no-such'" "and is named"
is "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 1 "in one line"

"$RLS" policy show >/dev/null 2>&1; rc=$?
is "$rc" 2 "show without a NAME is a usage error"

done_testing
