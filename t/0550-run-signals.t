#!/bin/bash
# rls run: signals to rls reach the command; SIGKILL of rls leaves nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
need_run_source

for sig in TERM INT HUP; do
	[ $sig = HUP ] && skip_on vm -- "SIGHUP takes the path of SIGTERM and SIGINT; each run boots a VM" && continue
	# The handler writes with os.write: a signal that lands while print()
	# is still flushing "ready" (the vm's console can hold that write up)
	# would make a print() in it a reentrant call, which Python refuses.
	"$RLS" run "${RUN_BACKEND[@]}" -- python3 -c "
import os, signal, sys, time
signal.signal(signal.SIG$sig, lambda *a: (os.write(1, b'got $sig\\n'), open('output/x', 'w').write('x'), sys.exit(5)))
print('ready', flush=True)
time.sleep(30)" > "$T/out" 2> "$T/err" &
	pid=$!
	wait_for "$T/out" ready
	kill -$sig $pid
	wait $pid; rc=$?
	is "$(tail -1 "$T/out")" "got $sig" "SIG$sig sent to rls reaches the command"
	is "$rc" 5 "and rls exits with the command's status"
	ok "an interrupted run commits nothing" test ! -e "$S/output/x"
	ok "and keeps the delta" assert_file_has_content "$T/err" "delta kept"
done
rm -rf "$T/state/rls/deltas"

"$RLS" run "${RUN_BACKEND[@]}" --pids 100 -- sh -c 'echo ready; exec sleep 300.0550' > "$T/out" 2> "$T/err" &
pid=$!
wait_for "$T/out" ready
ok "while it runs, the rlsfs mount exists" grep -q "fuse.rlsfs" /proc/self/mountinfo
# pgrep exits 0 on a match, 1 on none, and 2 or 3 on an error, which is
# no answer at all
sandbox_state() {
	pgrep -f '^sleep 300\.0550$' >/dev/null
	case $? in 0) echo running ;; 1) echo gone ;; *) echo "pgrep failed" ;; esac
}
wait_gone() { local i; for i in $(seq 50); do [ "$(sandbox_state)" = running ] || break; sleep 0.1; done; sandbox_state; }
# gVisor and the VM run the command in a kernel of their own: no host
# process to look for (no_leftovers looks for the container or qemu).
no_host_process="the command runs in a kernel of its own, not as a host process"
skip_on oci-runsc vm -- "$no_host_process" || is "$(sandbox_state)" running "and the sandbox's command is seen running"
kill -KILL $pid
wait $pid 2>/dev/null
ok "after SIGKILL of rls: no mount, rlsfs process, temp dir or cgroup is left" no_leftovers
skip_on oci-runsc vm -- "$no_host_process" || is "$(wait_gone)" gone "and the sandbox is gone"
ok "the guard says where the delta is" sh -c "for i in \$(seq 100); do grep -q 'delta is kept' '$T/err' && exit 0; sleep 0.05; done; exit 1"
cd "$T" || exit 1
done_testing
