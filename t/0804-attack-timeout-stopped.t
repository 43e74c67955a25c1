#!/bin/bash
# Attack: outlive --timeout by having rls stopped.  The guard, in a
# process group of its own, holds the deadline whatever happens to rls.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
need_run_source

"$RLS" run "${RUN_BACKEND[@]}" --timeout 1 -- sh -c 'echo ready; exec sleep 32.0804' > "$T/out" 2> "$T/err" &
rls_pid=$!
wait_for "$T/out" ready
# Under gVisor or in a VM the command is no host process; its sandbox's are.
pattern='^sleep 32.0804$'
[ "$BACKEND_NAME" = oci-runsc ] && pattern="^runsc-sandbox .*$T"
[ "$BACKEND_NAME" = vm ] && pattern="^[^ ]*qemu-system.*$T"
ok "the command runs" pgrep -f "$pattern"
kill -STOP $rls_pid
gone=1
for i in $(seq 400); do pgrep -f "$pattern" >/dev/null || { gone=0; break; }; sleep 0.05; done
is "$gone" 0 "while rls is stopped, the command is killed at its deadline"
kill -CONT $rls_pid
wait $rls_pid; rc=$?
is "$rc" 124 "rls, continued, reports the timeout"
like "$(cat "$T/err")" "timed out" "and says so"
rm -rf "$T/state/rls/deltas"
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
