#!/bin/bash
# rls run: --commit auto / on-success / never, --on-conflict, --timeout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
need_fuse
need_backend

S=$T/src
mk_src "$S"

run_rls --source "$S" -- sh -c 'echo one > output/a.txt; exit 3'
is "$rc" 3 "auto: the command's failure is still its status"
is "$(cat "$S/output/a.txt" 2>/dev/null)" one "auto: changes are committed whatever the status"
like "$err" "committed to .*1 added" "and a summary is printed"
is "$(kept_deltas)" 0 "a committed fresh delta is removed"

if ! skip_on vm -- "the commit mode is the launcher's choice (--commit never below keeps a VM's delta); each run boots a VM"; then
	run_rls --source "$S" --commit on-success -- sh -c 'echo two > output/b.txt; exit 1'
	ok "on-success: a failing command commits nothing" test ! -e "$S/output/b.txt"
	like "$err" "delta kept: $T/state/rls/deltas/" "and the kept delta's path is printed"
	is "$(kept_deltas)" 1 "the delta stays"
	d=$(printf '%s\n' "$err" | sed -n 's/^rls: delta kept: //p')
	ok "rls diff shows what the kept delta holds" sh -c "'$RLS' diff '$d' | grep -q output/b.txt"
	"$RLS" discard "$d" >/dev/null 2>&1; rm -rf "$d"
fi

if ! skip_on vm -- "commits are the host's, the same for every backend: checked under bwrap; each run boots a VM"; then
	run_rls --source "$S" --commit on-success -- sh -c 'echo three > output/c.txt'
	is "$(cat "$S/output/c.txt" 2>/dev/null)" three "on-success: a successful command commits"
fi

run_rls --source "$S" --commit never -- sh -c 'echo four > output/d.txt'
ok "never: nothing is committed" test ! -e "$S/output/d.txt"
like "$err" "delta kept: " "never: the delta's path is printed"
d=$(printf '%s\n' "$err" | sed -n 's/^rls: delta kept: //p')
ok "and rls commit applies it later" "$RLS" commit "$d"
is "$(cat "$S/output/d.txt" 2>/dev/null)" four "with the command's change"
rm -rf "$d"

if ! skip_on vm -- "commits are the host's, the same for every backend: checked under bwrap; each run boots a VM"; then
run_rls --source "$S" --commit never -- true
is "$(kept_deltas)" 0 "a run that changed nothing keeps no delta"

run_rls --source "$S" --delta "$T/mydelta" --commit never -- sh -c 'echo five > output/e.txt'
ok "--delta puts the delta where asked" test -d "$T/mydelta"
run_rls --source "$S" --delta "$T/mydelta" -- sh -c 'cat output/e.txt; echo six > output/f.txt'
is "$out" five "a second run over the same delta sees its earlier changes"
ok "and commits both" sh -c "test -e '$S/output/e.txt' && test -e '$S/output/f.txt'"
ok "a --delta given by the user is not removed" test -d "$T/mydelta"

# Conflicts: the source changes under a copied-up file.
echo base > "$S/output/conf.txt"
run_rls --source "$S" --commit never -- sh -c 'echo sandbox > output/conf.txt'
d=$(printf '%s\n' "$err" | sed -n 's/^rls: delta kept: //p')
echo theirs > "$S/output/conf.txt"
run_rls --source "$S" --delta "$d" --on-conflict fail -- true
is "$(cat "$S/output/conf.txt")" theirs "--on-conflict fail commits nothing on a conflict"
like "$err" "conflict.*output/conf.txt" "and names the conflicting path"
is "$rc" 125 "a command that succeeded but whose changes did not land gives 125"
run_rls --source "$S" --delta "$d" --on-conflict ours -- true
is "$(cat "$S/output/conf.txt")" sandbox "--on-conflict ours: the sandbox's version wins"
like "$err" "1 conflict" "and the conflict is reported"
rm -rf "$d"
fi

# A VM's boot (seconds under TCG, more on a busy host) comes before the
# command and its timeout, and its shell is slow to write the file: its
# timeout, sleep and bound are longer.  gVisor's boot (runsc) counts
# towards the timeout, which runs from the sandbox's start, and takes
# seconds on a busy host: its timeout leaves room for it, so that the
# command starts.
tmo=0.5 long=30 bound=20
[ "$RLS_TEST_BACKEND" = vm ] && tmo=5 long=300 bound=120
[ "$BACKEND_NAME" = oci-runsc ] && tmo=5 bound=60
start=$(date +%s%N)
run_rls --source "$S" --timeout $tmo -- sh -c "echo late > output/late.txt; sleep $long"
end=$(date +%s%N)
is "$rc" 124 "a timeout gives 124"
ok "the command was stopped long before its $long s sleep ended" test $(( (end - start) / 1000000 )) -lt $((bound * 1000))
ok "nothing is committed after a timeout" test ! -e "$S/output/late.txt"
like "$err" "delta kept: " "the delta is kept and its path printed"
if ! skip_on vm -- "the grace period and the tree kill are the guest's (t/0930-vm-limits-signals.t); each run boots a VM"; then
run_rls --source "$S" --timeout $tmo -- sh -c 'trap "" TERM; sleep 30'
is "$rc" 124 "a command that ignores SIGTERM is killed after the grace period"
run_rls --source "$S" --timeout $tmo -- sh -c '(sleep 30.0510 &); setsid sleep 30.0510 & sleep 30.0510'
is "$rc" 124 "a timeout ends the whole process tree"
ok "no process of it is left" sh -c 'for i in $(seq 50); do pgrep -f "^sleep 30.0510$" >/dev/null || exit 0; sleep 0.1; done; exit 1'
fi
rm -rf "$T/state/rls/deltas"

# A sandbox builder that takes longer than the whole timeout to start the
# command (a busy host): the deadline still holds, and it is a timeout.
if ! skip_on vm -- "the timeout runs from the command's start, after the boot (t/0930-vm-limits-signals.t)"; then
mkdir -p "$T/slowbin"
case $RLS_TEST_BACKEND in
bwrap) slow=$(command -v bwrap) fake=() ;;
*) slow=$(command -v "${RLS_TEST_RUNTIME:-runc}") fake=(--runtime "$T/slowbin/${slow##*/}") ;;
esac
# It stalls before the real one starts the sandbox (a runtime's run, but
# not rls's probe of it, a bundle named rls-probe-PID).
cat > "$T/slowbin/${slow##*/}" <<PY
#!/usr/bin/python3
import os, sys, time
if "$RLS_TEST_BACKEND" == "bwrap" or ("run" in sys.argv and not any(a.startswith("rls-probe-") for a in sys.argv)):
    time.sleep(300)
os.execv("$slow", ["$slow"] + sys.argv[1:])
PY
chmod +x "$T/slowbin/${slow##*/}"
out=$(PATH="$T/slowbin:$PATH" "$RLS" run "${RUN_BACKEND[@]}" "${fake[@]}" --source "$S" --timeout 0.5 -- \
	sh -c 'echo never > output/never.txt' 2>"$T/err"); rc=$?
is "$rc" 124 "a sandbox still being set up when the timeout ends is a timeout: 124"
like "$(cat "$T/err")" "timed out after 0.5s; the sandbox was still being set up" "and rls says so"
ok "nothing is committed" test ! -e "$S/output/never.txt"
fi
rm -rf "$T/state/rls/deltas"

if ! skip_on vm -- "commits are the host's, the same for every backend: checked under bwrap; each run boots a VM"; then
# Two sandboxes append to one file: the second commit meets a conflict,
# and it is never silent.
echo base > "$S/output/log.txt"
run_rls --source "$S" --commit never -- sh -c 'echo from-a >> output/log.txt'
da=$(printf '%s\n' "$err" | sed -n 's/^rls: delta kept: //p')
run_rls --source "$S" --commit never -- sh -c 'echo from-b >> output/log.txt'
db=$(printf '%s\n' "$err" | sed -n 's/^rls: delta kept: //p')
"$RLS" commit "$da" >/dev/null
like "$("$RLS" diff "$db")" "conflict: output/log.txt \\(the source changed" "rls diff marks the conflict before the commit"
run_rls --source "$S" --delta "$db" -- true
is "$rc" 123 "a run whose commit replaced a newer source version exits 123"
like "$err" "conflict.*the sandbox's version was kept.*output/log.txt" "saying which version won"
fi
rm -rf "$T/state/rls/deltas"
ok "nothing is left behind" no_leftovers
done_testing
