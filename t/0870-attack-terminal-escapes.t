#!/bin/bash
# A sandbox names files to attack the terminal of whoever reads rls's
# output: ESC sequences (clear the screen, retitle the window), a C1 CSI,
# bytes that are not UTF-8, bidirectional overrides and isolates.  Made by
# the command of `rls run`, written to and denied, they reach the denial
# summary, `rls diff`, `rls diff -p` and the audit log; each shows them
# quoted as git does, and nothing raw reaches the terminal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "names are quoted by the launcher, the same for every backend: checked under bwrap"
. "$(dirname "$0")/lib-names.sh"
need_run_source

agent='for n in "$@"; do echo x > "output/$n"; echo y > "src/$n"; done 2>/dev/null; true'
run_rls --commit never --audit "$T/audit.jsonl" -- sh -c "$agent" sh "${NAMES[@]}"
is "$rc" 0 "the command makes its files and is denied the others"

summary=$(printf '%s\n' "$err" | grep 'denied by the policy')
want=""
for n in "${NAMES[@]}"; do want="$want${want:+, }$(quoted "/src/$n")"; done
is "$summary" "rls: 5 accesses denied by the policy: $want" "the denial summary names each path quoted"
ok "rls run's messages hold no raw control, no bytes that are not UTF-8, no bidi control" safe_text <<<"$err"

d=$(printf '%s\n' "$err" | sed -n 's/^rls: delta kept: //p')
out=$("$RLS" diff "$d"); rc=$?
want=$(for n in "${NAMES[@]}"; do printf 'A %s\n' "$(quoted "output/$n")"; done | LC_ALL=C sort)
is "$(printf '%s\n' "$out" | LC_ALL=C sort)" "$want" "rls diff lists every added file quoted"
ok "rls diff's output is safe to print" safe_text <<<"$out"

out=$("$RLS" diff -p "$d")
ok "rls diff -p's output is safe to print" safe_text <<<"$out"
n=${NAMES[0]}
like "$out" "$(printf '%s\n' "+++ $(quoted "b/output/$n")" | sed 's/[][\\.*^$+?(){}|]/\\&/g')" \
	"the +++ header carries the quoted b/ name, as git writes it"

out=$("$RLS" policy explain agent-safe "src/$n" 2>&1)
ok "rls policy explain quotes the path it was given too" safe_text <<<"$out"
like "$out" '"/src/\\033\[2J' "with C escapes"

ok "the audit log is safe to print" safe_text <"$T/audit.jsonl"
ok "and is JSON that gives back every name's bytes" \
	json_has_names "$T/audit.jsonl" 'sorted(b(x["path"]) for x in docs) == sorted(b"/src/" + n for n in names)' "${NAMES[@]}"

run_rls --json --source "$S" --delta "$d" --commit never -- sh -c "$agent" sh "${NAMES[@]}"
printf '%s\n' "$json" > "$T/run.json"
ok "rls run --json is safe to print" safe_text <"$T/run.json"
ok "and its denial paths give back every name's bytes" \
	json_has_names "$T/run.json" 'sorted(b(x) for x in docs[0]["denials"]["paths"]) == sorted(b"/src/" + n for n in names)' "${NAMES[@]}"

# The delta loses its data: the error names each file quoted.
find "$d/data" -type f -delete
out=$("$RLS" diff -p "$d" 2>&1 >/dev/null)
ok "rls diff -p's errors are safe to print" safe_text <<<"$out"
like "$out" '^rls: diff: /output/\\033\[2J' "and name the file with its controls escaped"

"$RLS" discard "$d" >/dev/null 2>&1
cd "$T" || exit 1
rm -rf "$T/state/rls/deltas"
ok "nothing is left behind" no_leftovers
done_testing
