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
	a=$("$RLS" policy explain "$p" /src/a.c /x/.env /output/o /.git/hooks/h /k.pem /d/ | cut -f1)
	b=$("$RLS" policy explain "./$p.yml" /src/a.c /x/.env /output/o /.git/hooks/h /k.pem /d/ | cut -f1)
	is "$b" "$a" "the printed $p decides like the built-in one"
done

like "$("$RLS" policy show agent-safe)" 'pattern: "\*\*/\.env\*", *permission: none' \
	"agent-safe hides .env files"

out=$("$RLS" policy show no-such 2>&1); rc=$?
is "$rc" 1 "an unknown preset fails"
like "$out" "^rls policy: show: no preset named 'no-such'" "and is named"
is "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 1 "in one line"

"$RLS" policy show >/dev/null 2>&1; rc=$?
is "$rc" 2 "show without a NAME is a usage error"

done_testing
