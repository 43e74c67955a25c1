#!/bin/bash
# rls run: runs side by side on one tree.  A run that starts while another
# run's mount is up must not keep that mount alive: the first to end
# unmounts, its rlsfs ends and its work is committed then, not once the
# later run has ended too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "the guest's mounts are its own: a host mount namespace is the bwrap and oci backends'"
need_run_source

sync=$T/sync
mkdir -p "$sync" && chmod 777 "$sync"
ef_first=$T/.first.err ef_later=$T/.later.err

# The first run waits until the later one is up, writes, and ends.
"$RLS" run "${RUN_BACKEND[@]}" --bind-rw "$sync:/sync" -- \
	sh -c 'while [ ! -e /sync/later-up ]; do sleep 0.05; done; echo first > output/first.txt' \
	2>"$ef_first" &
first=$!
# The later run comes up while the first's mount is there, and stays until
# released.
"$RLS" run "${RUN_BACKEND[@]}" --bind-rw "$sync:/sync" -- \
	sh -c 'touch /sync/later-up; while [ ! -e /sync/release ]; do sleep 0.05; done' 2>"$ef_later" &
later=$!
wait "$first"; rc=$?
is "$rc" 0 "the first run ends well while the later one still runs"
ok "the later run is still running then" kill -0 "$later"
is "$(cat "$S/output/first.txt" 2>/dev/null)" first "and the first run's work is committed"
unlike "$(cat "$ef_first")" "still holds|not ended|delta kept" "its rlsfs ended at its unmount"

# A delta the later run's rlsfs holds is refused to a third: its command
# never runs, and nothing of its sandbox stays waiting on its mount.
third_delta=$(ls -d "$T/state/rls/deltas"/* 2>/dev/null | head -1)
"$RLS" run "${RUN_BACKEND[@]}" --delta "$third_delta" --bind-rw "$sync:/sync" -- touch /sync/third-ran \
	2>"$T/.third.err"; rc=$?
isnt "$rc" 0 "a run on a delta another run holds fails"
like "$(cat "$T/.third.err")" "mounted by another rlsfs" "saying so"
ok "its command never ran" test ! -e "$sync/third-ran"
touch "$sync/release"
wait "$later"; rc=$?
is "$rc" 0 "the later run ends well too"
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
# A process left in a mount namespace of a run's would hold its mounts.
held() { grep -l "$T" /proc/[0-9]*/mountinfo 2>/dev/null | grep -v "^/proc/$$/"; }
for i in $(seq 100); do [ -z "$(held)" ] && break; sleep 0.05; done
is "$(held)" "" "no process holds a mount of these runs"
done_testing
