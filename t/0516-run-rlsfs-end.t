#!/bin/bash
# rls run and its rlsfs's last word: rlsfs says, as it ends, whether the
# delta records anything (rlsfs(1), --ready-fd), and rls takes "empty" for
# nothing to commit.  Killed before it says it, rlsfs says nothing, and
# rls looks in the delta itself: what the command wrote is still
# committed, and counted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "rlsfs's last word is the launcher's, the same for every backend: checked under bwrap"
need_run_source

# rlsfs alone, its word written to a file: the NUL of the ready word, then
# the last word and its NUL once unmounted.
# word DELTA [SCRIPT]: the words of a mount over $T/DELTA; SCRIPT runs
# with the mount point as $1.
word() {
	local m=$T/mnt w=$T/word d=$T/$1 i
	mkdir -p "$m"
	rm -f "$w"
	"$RLSFS" mount --ready-fd 3 -p agent-safe --delta "$d" "$S" "$m" 3>"$w" 2>/dev/null &
	for i in $(seq 300); do [ -s "$w" ] && break; sleep 0.05; done
	[ -n "$2" ] && sh -c "$2" _ "$m"
	"$RLSFS" umount "$m" 2>/dev/null
	wait
	od -An -c "$w" | tr -s ' ' | sed 's/^ //; s/ $//'
}
is "$(word delta-a '')" '\0 e m p t y \0' "rlsfs says empty when nothing was written"
is "$(word delta-b 'echo x > "$1/output/w.txt"')" '\0 k e p t \0' "and kept when something was"
is "$(word delta-b '')" '\0 k e p t \0' "kept for a delta that holds changes from before"
ok "neither touched the source" test ! -e "$S/output/w.txt"

# rlsfs killed once the command has written: the mount fails under the
# command, which stops when it notices.  (gVisor's gofer keeps serving
# the command what it holds: there the command never notices.)
if ! skip_on oci-runsc -- "the command does not see the mount fail under gVisor; what rls does then is the same for every backend"; then
probe='i=0; until ls output/probe$i 2>&1 | grep -q "not connected"; do
	i=$((i + 1)); [ $i -gt 1200 ] && exit 9; sleep 0.05; done'
"$RLS" run "${RUN_BACKEND[@]}" --timeout 120 --source "$S" -- \
	sh -c "echo one > output/killed.txt; echo written; $probe" >"$T/out" 2>"$T/err" &
rls=$!
wait_for "$T/out" written
pid=$(pgrep -f "rlsfs mount .* $S /")
ok "rlsfs runs while the command does" test -n "$pid"
kill -KILL $pid
wait $rls
rc=$?
err=$(cat "$T/err")
is "$rc" 0 "with rlsfs killed, the command sees the mount fail and ends"
is "$(cat "$S/output/killed.txt" 2>/dev/null)" one "what it wrote before is committed"
like "$err" "committed to .*: 1 added, 0 modified, 0 deleted" "and counted"
is "$(kept_deltas)" 0 "the committed delta is removed"
fi

run_rls --source "$S" -- true
is "$(kept_deltas)" 0 "a run that changed nothing leaves no delta"
unlike "$err" "committed" "and commits nothing"

# Every run waits on rlsfs between the unmount and its last word: there it
# opens no file.  (libfuse's loop ends its workers with pthread_cancel, for
# which glibc loads libgcc_s at the first cancel; rlsfs has it from its
# start.)
if command -v strace >/dev/null; then
	m=$T/mnt w=$T/word
	rm -f "$w"
	strace -f -qq -e trace=openat,read,write -o "$T/end.trace" \
		"$RLSFS" mount --ready-fd 3 -p agent-safe --delta "$T/delta-e" "$S" "$m" 3>"$w" 2>/dev/null &
	for i in $(seq 300); do [ -s "$w" ] && break; sleep 0.05; done
	"$RLSFS" umount "$m" 2>/dev/null
	wait
	# the openat calls from the first read that found the mount gone to
	# the last word
	opens=$(awk '/ENODEV/ && !gone { gone = 1 } gone && /openat\(/ { n++ } /write\(.*"empty/ { print n + 0; exit }' \
		"$T/end.trace")
	is "$opens" 0 "from the unmount to its last word rlsfs opens no file"
fi

cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
