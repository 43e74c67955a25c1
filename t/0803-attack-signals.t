#!/bin/bash
# Attack: signal the caller.  kill(0, sig) reaches every process of the
# sender's process group, whatever pid namespace it is in; the command has
# a process group of its own, with or without a terminal, so it reaches
# only the sandbox.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "kill(0, sig) in the guest reaches the guest's processes only; it has no terminal"
need_run_source
command -v script >/dev/null || skip_all "script(1) is not installed (util-linux)"

on_tty() { timeout 30 script -qec "$1" /dev/null 2>&1 | tr -d '\r'; }

out=$(on_tty "sh -c 'trap \"echo caller-got-USR1\" USR1; $RLS_RUN -- sh -c \"kill -USR1 0; kill -TERM 0\"; echo rls-status=\$?; echo caller-alive'")
like "$out" "caller-alive" "on a terminal, kill(0) inside does not reach the caller's shell"
unlike "$out" "caller-got-USR1" "which receives no signal at all"
like "$out" "rls-status=138" "rls itself survives and reports the command's death by SIGUSR1"
out=$(sh -c "trap 'echo caller-got-USR1' USR1; $RLS_RUN -- sh -c 'kill -USR1 0; kill -TERM 0' </dev/null; echo rls-status=\$?; echo caller-alive" 2>&1)
like "$out" "caller-alive" "without a terminal, the same holds"
unlike "$out" "caller-got-USR1" "no signal reaches the caller"
like "$out" "rls-status=138" "and rls reports the command's status"

# The groups, seen from the host.
"$RLS" run "${RUN_BACKEND[@]}" -- sh -c 'echo ready; exec sleep 31.0803' > "$T/out" 2>&1 &
rls_pid=$!
for i in $(seq 100); do grep -q ready "$T/out" && break; sleep 0.05; done
# Under gVisor the command is no host process: its sandbox's are.
pattern='^sleep 31.0803$'
[ "$BACKEND_NAME" = oci-runsc ] && pattern="^runsc-sandbox .*$T"
sleeper=$(pgrep -f "$pattern" | head -1)
ok "the command runs" test -n "$sleeper"
isnt "$(ps -o pgid= -p "${sleeper:-0}" | tr -d ' ')" "$(ps -o pgid= -p $rls_pid | tr -d ' ')" \
	"the command's process group is not rls's"
guard=$(pgrep -P $rls_pid -f "rls run" | head -1)
isnt "$(ps -o pgid= -p "$guard" 2>/dev/null | tr -d ' ')" "$(ps -o pgid= -p $rls_pid | tr -d ' ')" \
	"nor is the guard's"
kill -TERM $rls_pid; wait $rls_pid 2>/dev/null

out=$(on_tty "$RLS_RUN -- sh -c 'echo inside'; tty -s && ps -o stat= -p \$\$")
like "$out" "\\+" "the caller's shell is in the terminal's foreground again afterwards"
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
