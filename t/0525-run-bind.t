#!/bin/bash
# rls run --bind, --bind-rw: host paths shown inside as they are (not
# through the policy), read-only unless asked; never the tree or the delta.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "the vm backend refuses --bind (t/0500)"
need_run_source

H=$T/host
mkdir -p "$H/dir"
echo 'print("agent ran")' > "$H/agent.py"
chmod -R a+rX "$H"
chmod 0777 "$H/dir"
run_rls -- python3 "$H/agent.py"
isnt "$rc" 0 "without --bind a script outside the tree cannot be run"
run_rls --bind "$H/agent.py" -- python3 "$H/agent.py"
is "$out" "agent ran" "--bind HOST shows it at its own path"
run_rls --bind "$H/agent.py:/opt2/agent.py" -- python3 /opt2/agent.py
is "$out" "agent ran" "--bind HOST:INSIDE shows it elsewhere"
run_rls --bind "$H/dir:/data" -- sh -c "echo x > /data/f"
like "$err" "Read-only file system" "--bind is read-only"
ok "nothing reaches the host" test ! -e "$H/dir/f"
run_rls --bind-rw "$H/dir:/data" -- sh -c 'echo x > /data/f'
is "$(cat "$H/dir/f" 2>/dev/null)" x "--bind-rw writes through to the host at once"
run_rls --bind "$S/src" -- true
like "$rc:$err" "^2:.*only through the policy" "a path inside the tree is refused: the policy shows the tree"
run_rls --bind "$T" -- true
is "$rc" 2 "so is a folder that holds the tree"
run_rls --bind "$T/state" -- true
like "$rc:$err" "^2:.*would show the delta" "and one that holds the delta"
run_rls --bind "$H/nothing" -- true
like "$rc:$err" "^2:.*No such file or directory" "a missing host path is named"
for inside in /workspace/x /proc/x /dev/x relative /; do
	run_rls --bind "$H/agent.py:$inside" -- true
	is "$rc" 2 "--bind to '$inside' is refused"
done
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
