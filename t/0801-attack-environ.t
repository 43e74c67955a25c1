#!/bin/bash
# Attack: read the caller's environment from inside.  bwrap's own process
# is pid 1 of the sandbox; it must carry the sandbox's environment only,
# and nothing anywhere inside may show the caller's variables.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
need_run_source

export RLS_CALLER_SECRET=caller-token-5d41402a
run_rls -- sh -c 'for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do tr "\0" "\n" < $f; done 2>/dev/null; env'
unlike "$out" "caller-token-5d41402a" "no process inside holds the caller's variable, in its environment or command line"
# bubblewrap's own init is pid 1 there; under an OCI runtime it is rls-init,
# which has the command's environment (PWD included).
# Under vm pid 1 is rls-guest, started by the kernel with no variable
# of the host's.
want="HOME LANG PATH TERM "
[ "$RLS_TEST_BACKEND" = oci ] && want="HOME LANG PATH PWD TERM "
if ! skip_on vm -- "pid 1 is rls-guest, started by the guest's kernel: the first case reads its environment and command line; each run boots a VM"; then
	run_rls -- sh -c 'tr "\0" "\n" < /proc/1/environ | cut -d= -f1 | sort | tr "\n" " "'
	is "$out" "$want" "pid 1's environment is the sandbox's own variables"
	run_rls -- sh -c 'tr "\0" " " < /proc/1/cmdline'
	unlike "$out" "$T|rls-run|/tmp" "pid 1's command line names no host path"
fi
skip_on vm -- "--env is the launcher's (t/0520 passes it into the guest); each run boots a VM" || {
	run_rls --env RLS_CALLER_SECRET -- sh -c 'echo "$RLS_CALLER_SECRET"'
	is "$out" "caller-token-5d41402a" "--env NAME still passes a variable on purpose"
}
# The descriptor that answers for the sandbox's file system is rlsfs's
# (rls makes the mount with one as root): one inside could answer in its
# place, for anyone who reads the tree through the mount.
run_rls -- sh -c 'for f in /proc/[0-9]*/fd/*; do readlink "$f"; done 2>/dev/null | grep -c "^/dev/fuse" || :'
is "$out" 0 "no process inside holds a descriptor of /dev/fuse"
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
