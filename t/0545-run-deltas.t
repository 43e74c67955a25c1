#!/bin/bash
# rls deltas: the kept deltas, with their source, age, size, changes and
# whether they are mounted; removing old ones, never a mounted one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "rls deltas is the launcher's, the same for every backend: checked under bwrap"
need_run_source

out=$("$RLS" deltas)
unlike "$out" " -> $S" "before any run, no delta of this source is listed"
run_rls --commit never -- sh -c 'echo a > output/a.txt; echo b > output/b.txt'
run_rls --commit never -- sh -c 'echo x > output/.keep'
out=$("$RLS" deltas)
is "$(printf '%s\n' "$out" | grep -c " -> $S$")" 2 "two kept deltas are listed"
like "$out" "\\+2 ~0 -0 .* -> $S" "each with its changes and its source"
json=$("$RLS" deltas --source "$S" --json)
is "$(printf '%s' "$json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sorted((x["changes"]["added"], x["changes"]["modified"], x["mounted"]) for x in d))')" \
	"[(0, 1, False), (2, 0, False)]" "--json gives the same as objects"
first=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["path"])')
mkdir -p "$T/m"
mount_rlsfs "$S" "$T/m" --delta "$first"
out=$("$RLS" deltas --source "$S" --remove-older-than 0s --dry-run)
is "$(printf '%s\n' "$out" | grep -c "^would remove $T/")" 1 "--dry-run names what would go, not the mounted one"
is "$(ls "$T/state/rls/deltas" | wc -l)" 2 "and removes nothing"
out=$("$RLS" deltas --source "$T" --remove-older-than 0s)
is "$(ls "$T/state/rls/deltas" | wc -l)" 2 "--source keeps to the deltas of that source"
out=$("$RLS" deltas --source "$S" --remove-older-than 0s)
is "$(ls "$T/state/rls/deltas" | wc -l)" 1 "--remove-older-than removes the unmounted delta"
ok "and keeps the mounted one" test -d "$first"
umount_rlsfs "$T/m"
out=$("$RLS" deltas --source "$S" --remove-older-than 1d)
ok "a delta younger than the age is kept" test -d "$first"
"$RLS" deltas --remove-older-than soon >/dev/null 2>"$T/e"; rc=$?
is "$rc" 2 "a bad age is a usage error"
like "$(cat "$T/e")" "wants an age \\(like 7d" "saying what an age looks like"
run_rls --commit never -- sh -c 'echo c > output/c.txt'
kept=$(printf '%s\n' "$err" | sed -n 's/^rls: delta kept: //p')
"$RLS" commit "$kept" >/dev/null
ok "a kept delta that rls commit empties is removed, folder and all" test ! -e "$kept"
run_rls --commit never -- sh -c 'echo d > output/d.txt'
kept=$(printf '%s\n' "$err" | sed -n 's/^rls: delta kept: //p')
"$RLS" discard "$kept"
ok "so is one rls discard empties" test ! -e "$kept"
mkdir -p "$T/mine"
run_rls --delta "$T/mine/d" --commit never -- sh -c 'echo e > output/e.txt'
"$RLS" discard "$T/mine/d"
ok "a delta folder the caller named stays" test -d "$T/mine/d"
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
