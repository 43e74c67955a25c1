#!/bin/bash
# Inside rls run, no file is given away and no set-id file is made, even
# when rls runs as root: the sandbox holds no capability, and the mount
# serving it honours none (rlsfs --ignore-caller-caps), so a capability
# held in the sandbox's own user namespace buys nothing either.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
need_run_source

run_rls -- sh -c 'echo prog > output/p; chmod 4755 output/p; echo "chmod $?"; chmod 2755 output/p; echo "chmod $?"
	chown 12345 output/p; echo "chown $?"; chgrp 12345 output/p; echo "chgrp $?"
	python3 -c "import os; os.close(os.open(\"output/q\", os.O_CREAT | os.O_WRONLY, 0o6755))"; stat -c "%a" output/p output/q'
is "$(printf '%s\n' "$out" | tr '\n' ' ')" "chmod 1 chmod 1 chown 1 chgrp 1 644 755 " \
	"in the sandbox chmod u+s, g+s, chown and chgrp fail, and a new file loses its set-id bits"
is "$rc" 0 "the run ends and commits"
is "$(stat -c '%a %u' "$S/output/p" "$S/output/q" | tr '\n' ' ')" "644 $(id -u) 755 $(id -u) " \
	"what it committed carries no set-id bit and no other owner"

"$RLS" run "${RUN_BACKEND[@]}" -- sh -c 'echo ready; exec sleep 300.0847' >"$T/out" 2>"$T/err" &
pid=$!
for i in $(seq 100); do grep -q ready "$T/out" 2>/dev/null && break; sleep 0.05; done
args=$(pgrep -a -f "rlsfs mount .*$S" | grep -v pgrep)
like "$args" " --ignore-caller-caps " "the mount serving the sandbox honours no caller's capabilities"
kill -TERM $pid
wait $pid 2>/dev/null
rm -rf "$T/state/rls/deltas"
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
