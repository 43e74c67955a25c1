#!/bin/bash
# Attack: keep the mount answering for the tree from somewhere else.  The
# end of /dev/fuse that serves the sandbox's file system is rlsfs's
# alone: a copy held by any other process of the run (one rls forks and
# never execs, as root) would keep the connection up should rlsfs die,
# so what reads the tree would wait instead of failing.  Looked at from
# the host while the command runs, with and without --capture (whose
# reader is such a fork, made while rls still has the descriptor).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "the vm backend's runner closes every descriptor it inherits (t/09*)"
need_run_source

sync=$T/sync
mkdir -p "$sync" && chmod 777 "$sync"

# The processes below pid $1 (itself included) holding /dev/fuse, by name.
fuse_holders() {
	local root=$1 p pid up
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		ls -l "$p/fd" 2>/dev/null | grep -q ' /dev/fuse$' || continue
		up=$pid
		while [ -n "$up" ] && [ "$up" != 0 ] && [ "$up" != "$root" ]; do
			up=$(awk '{ print $4 }' "/proc/$up/stat" 2>/dev/null)
		done
		[ "$up" = "$root" ] && cat "$p/comm"
	done | sort | tr '\n' ' '
}

for capture in "" --capture; do
	rm -f "$sync/up" "$sync/go"
	"$RLS" run "${RUN_BACKEND[@]}" ${capture:+$capture --json "$T/capture.json"} --bind-rw "$sync:/sync" -- \
		sh -c 'touch /sync/up; while [ ! -e /sync/go ]; do sleep 0.05; done' 2>"$T/.err" &
	run=$!
	for i in $(seq 1200); do [ -e "$sync/up" ] && break; sleep 0.05; done
	is "$(fuse_holders "$run")" "rlsfs " "while the command runs${capture:+ with $capture}, rlsfs alone of the run holds /dev/fuse"
	touch "$sync/go"
	wait "$run"
	is "$?" 0 "and the run ends well"
done
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
