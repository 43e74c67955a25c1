#!/bin/bash
# rls run: exit statuses, bad input, where the command starts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
need_run_source

skip_on vm -- "t/check-backends ran \`true\` under it, status 0, before this file; each run boots a VM" || {
	run_rls -- true
	is "$rc" 0 "a command that succeeds gives status 0"
}
run_rls -- sh -c 'exit 7'
is "$rc" 7 "the command's exit status is rls's"
run_rls -- sh -c 'kill -SEGV $$'
is "$rc" 139 "a command killed by a signal gives 128 + the signal"
run_rls -- no-such-command-xyz
is "$rc" 127 "a command not found gives 127"
like "$err" "no-such-command-xyz: command not found" "and says so"

run_rls --timeout abc -- true
is "$rc" 2 "a bad --timeout is a usage error (2)"
is "$(printf '%s\n' "$err" | wc -l)" 1 "reported on one line"
run_rls --memory lots -- true
is "$rc" 2 "a bad --memory is a usage error"
run_rls --pids 0 -- true
is "$rc" 2 "--pids 0 is a usage error"
run_rls --cpus -1 -- true
is "$rc" 2 "a bad --cpus is a usage error"
run_rls --timeout
is "$rc:$err" "2:rls: run: --timeout needs a value (see rls run --help)" "a missing value is named as such"
run_rls --bogus -- true
is "$rc:$err" "2:rls: run: unknown option '--bogus' (see rls run --help)" "an unknown option is named as such"
if ! skip_on vm -- "option parsing is the launcher's; each run boots a VM"; then
	run_rls --timeout 2s --memory 1.5G -- true
	is "$rc" 0 "--timeout takes a unit (2s) and --memory a fraction (1.5G)"
	run_rls --timeout 0 -- sh -c 'sleep 0.2'
	is "$rc" 0 "--timeout 0 means no timeout"
fi
run_rls --cpus 1000 -- true
like "$rc:$err" "^2:.*more than the [0-9]+ CPUs of this machine" "--cpus beyond the machine's CPUs is refused, saying how many there are"
run_rls --source "$S/src/main.py" -- true
like "$rc:$err" "^2:.*main.py: not a directory" "a --source that is a file is said to be no directory"
run_rls --commit sometimes -- true
is "$rc" 2 "a bad --commit is a usage error"
run_rls --net internet -- true
is "$rc" 2 "a bad --net is a usage error"
run_rls --mount-at usr -- true
is "$rc" 2 "a relative --mount-at is a usage error"
run_rls --mount-at /usr/x -- true
is "$rc" 2 "a --mount-at inside a system directory is a usage error"
run_rls --env 'BAD-NAME=1' -- true
is "$rc" 2 "a bad --env name is a usage error"
run_rls
is "$rc" 2 "no command is a usage error"
out=$("$RLS" run --backend vm --bind /etc -- true 2>&1); rc=$?
is "$rc:$out" "2:rls: run: --bind and --bind-rw are for the bwrap and oci backends: the vm backend shows the guest only the tree and the host's system folders" \
	"--bind with --backend vm is a usage error, saying why"
out=$("$RLS" run --backend bwrap --vm-share 9p -- true 2>&1); rc=$?
is "$rc:$out" "2:rls: run: --vm-share is for --backend vm" "--vm-share without --backend vm is a usage error"
out=$("$RLS" run --backend vm --vm-share nfs -- true 2>&1); rc=$?
is "$rc:$out" "2:rls: run: --vm-share must be virtiofs or 9p, not 'nfs'" "a bad --vm-share is a usage error"
out=$("$RLS" run --backend bwrap --runtime runc -- true 2>&1); rc=$?
is "$rc" 2 "--runtime without --backend oci is a usage error"
like "$out" "is for --backend oci" "and says so"
out=$("$RLS" run --backend oci --rootfs / --image x -- true 2>&1); rc=$?
is "$rc" 2 "--rootfs and --image together are a usage error"
printf 'rules:\n  - { pattern: "[x", permission: read }\n' > "$T/bad.yml"
run_rls -p "$T/bad.yml" -- true
ok "a bad policy fails" test "$rc" -ne 0
like "$err" "bad.yml:2:[0-9]+" "with its file, line and column"
ok "nothing is mounted or left behind after bad input" no_leftovers
is "$(kept_deltas)" 0 "and no delta is made"

if ! skip_on vm -- "the starting directory is the launcher's choice (--mount-at below takes it into the guest); each run boots a VM"; then
	run_rls -- pwd
	is "$out" /workspace "started from the source root, the command starts in /workspace"
	cd "$S/src/pkg" || exit 1
	run_rls --source "$S" -- pwd
	is "$out" /workspace/src/pkg "started in a subdirectory of --source, it starts in the same place inside"
fi
cd "$S/src/pkg" || exit 1
run_rls --source "$S" --mount-at /work/project -- sh -c 'pwd; ls /work/project'
like "$out" "^/work/project/src/pkg" "--mount-at moves the mount and the starting directory"
like "$out" "main.py|pkg" "and the tree is there"
if ! skip_on vm -- "the starting directory is the launcher's choice, the same for every backend; each run boots a VM"; then
	run_rls -- sh -c 'cd /workspace && echo *'
	is "$out" mod.py "without --source, the current directory is the source"
	cd "$T" || exit 1
	run_rls --source "$S" -- pwd
	is "$out" /workspace "started outside the source, it starts at the mount's root"
	mkdir -p "$S/secrets/inner"
	cd "$S/secrets/inner" || exit 1
	run_rls --source "$S" -- pwd
	is "$out" /workspace "a starting directory the policy hides falls back to the root"
fi
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
