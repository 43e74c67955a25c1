#!/bin/bash
# Inside rls run, no file is given away and no set-id file is made, even
# when rls runs as root: the sandbox holds no capability, and the mount
# serving it honours none (rlsfs --ignore-caller-caps), so a capability
# held in the sandbox's own user namespace buys nothing either.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
need_run_source

# (modes read with Python: coreutils' stat fails under runsc, rls(1))
run_rls -- sh -c 'echo prog > output/p; chmod 4755 output/p; echo "chmod $?"; chmod 2755 output/p; echo "chmod $?"
	chown 12345 output/p; echo "chown $?"; chgrp 12345 output/p; echo "chgrp $?"
	python3 -c "import os; os.close(os.open(\"output/q\", os.O_CREAT | os.O_WRONLY, 0o6755))
print(*(oct(os.stat(f).st_mode & 0o7777)[2:] for f in (\"output/p\", \"output/q\")))"'
out=$(printf '%s' "$out" | tr '\n' ' ')
like "$out" "chown 1 chgrp 1" "in the sandbox chown and chgrp to another owner fail"
if ! skip_on oci-runsc -- "gVisor's kernel answers chmod itself (its gofer's chmod on the host fails, as the committed modes show)"; then
	like "$out" "chmod 1 chmod 1" "so do chmod u+s and g+s"
	like "$out" "644 755$" "and a new file loses its set-id bits"
fi
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
