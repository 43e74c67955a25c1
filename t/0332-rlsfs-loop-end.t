#!/bin/bash
# rlsfs's request loop at its end (rlsfs(1)): a signal or the death of the
# --watch-pid owner ends the daemon while a request waits in it and its
# other threads are parked or reading, and while the mount is quiet (the
# watch asleep); what was written before stays in the delta.  Once its
# loop has ended, the owner's death no longer acts: a daemon still
# syncing its delta leaves alone what is mounted at its mount point now.
. "$(dirname "$0")/lib.sh"
need_fuse
need_root

S=$T/src M=$T/mnt D=$T/delta
mkdir -p "$S/w"
echo data > "$S/file"

# gone PID: the process has ended within 15 s (a loaded machine, a
# sanitizer build)
gone() {
	local i=0
	while [ $i -lt 300 ] && kill -0 "$1" 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
	! kill -0 "$1" 2>/dev/null
}
daemon() { pgrep -f "rlsfs mount.* $M\$" | head -1; }

# A quiet mount: the watch sleeps until the next request; a signal ends it.
for sig in TERM HUP; do
	mount_rlsfs "$S" "$M" -p full-access --delta "$D" || { echo "Bail out! mount failed"; exit 1; }
	pid=$(daemon)
	echo "$sig" > "$M/quiet-$sig"
	sleep 0.2
	kill -"$sig" "$pid"
	ok "SIG$sig ends a quiet mount" gone "$pid"
	umount_rlsfs "$M"
done

# SIG BLURB [--watch-pid]: a write waits in the daemon for the index's
# writer lock, held by another process; a read is served meanwhile; then
# the daemon is told to end (SIG to it, or its owner killed), and ends
# once the lock is let go.
end_while_waiting() {
	local sig=$1 what=$2 owner= pid w1 held
	if [ "$sig" = owner ]; then
		sleep 1000 & owner=$!
		mount_rlsfs "$S" "$M" -p full-access --delta "$D" --watch-pid "$owner" || return 1
	else
		mount_rlsfs "$S" "$M" -p full-access --delta "$D" || return 1
	fi
	pid=$(daemon)
	echo before > "$M/before-$sig" && sync "$M/before-$sig"
	exec 3< "$M/file"
	coproc HOLD { "$RLS_BUILD/t/helpers/index-writer" "$D"; }
	read -r held <&"${HOLD[0]}"
	mkdir "$M/w/$sig" 2>/dev/null & w1=$!
	sleep 0.3
	is "$(timeout -s KILL 10 cat <&3)" data "$what: a read is served while a write waits"
	if [ -n "$owner" ]; then kill -KILL "$owner"; wait "$owner" 2>/dev/null; else kill -"$sig" "$pid"; fi
	sleep 0.3
	ok "$what: the daemon waits for the write in flight" kill -0 "$pid"
	exec {HOLD[1]}>&- 3<&-
	ok "$what: and ends once the lock is let go" gone "$pid"
	wait "$w1"
	umount_rlsfs "$M"
}
end_while_waiting TERM "SIGTERM"
end_while_waiting HUP "SIGHUP"
end_while_waiting owner "the owner killed"

# The owner dies after the loop's end, while the daemon syncs its delta:
# the delta lies in a bindfs mount whose daemon is stopped, so the sync
# waits; meanwhile another filesystem is mounted where rlsfs was.
B=$T/slow
if command -v bindfs >/dev/null; then
	mkdir -p "$T/slow-src" "$B"
	bindfs "$T/slow-src" "$B" && at_exit "umount -l '$B'"
	sleep 1000 & owner=$!
	mount_rlsfs "$S" "$M" -p full-access --delta "$B/delta" --watch-pid "$owner" ||
		{ echo "Bail out! mount failed"; exit 1; }
	pid=$(daemon)
	bpid=$(pgrep -f "bindfs $T/slow-src" | head -1)
	echo late > "$M/late"
	kill -STOP "$bpid" && at_exit "kill -CONT $bpid"
	"$RLSFS" umount -l "$M"
	sleep 0.5
	ok "the unmounted daemon waits to sync its delta" kill -0 "$pid"
	mount -t tmpfs -o size=1M other "$M"
	kill -KILL "$owner"; wait "$owner" 2>/dev/null
	sleep 0.5
	is "$(findmnt -n -o FSTYPE "$M")" tmpfs "the owner's death then leaves the new mount alone"
	kill -CONT "$bpid"
	ok "the daemon ends once its delta is synced" gone "$pid"
	umount "$M" 2>/dev/null
	mount_rlsfs "$S" "$M" -p full-access --delta "$B/delta" || { echo "Bail out! mount failed"; exit 1; }
	is "$(cat "$M/late")" late "what it wrote is in that delta"
	umount_rlsfs "$M"
else
	skip "bindfs is not installed (make deps)" 4
fi

# What was written before each end is in the delta.
mount_rlsfs "$S" "$M" -p full-access --delta "$D" || { echo "Bail out! mount failed"; exit 1; }
is "$(cat "$M/quiet-TERM" "$M/quiet-HUP" "$M/before-TERM" "$M/before-HUP" "$M/before-owner" | tr '\n' ' ')" \
	"TERM HUP before before before " "what was written before each end is kept"
umount_rlsfs "$M"
done_testing
