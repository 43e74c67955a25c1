#!/bin/bash
# What fsync(2) on a file of the mount promises: its data (in DELTA/data)
# and its index entry are durable.  The daemon writes its index without
# syncs, so the promise is the sync fsync makes it do: seen here by
# tracing the daemon's syncs, both ways (an fsync syncs the index, writes
# without one do not), and by killing it with SIGKILL right after an fsync
# and finding the file in the delta again.
. "$(dirname "$0")/lib.sh"
need_fuse
need_root
command -v strace >/dev/null || skip_all "no strace"

S=$T/src M=$T/mnt
mkdir -p "$S"
mount_rlsfs "$S" "$M" -p full-access || { echo "Bail out! mount failed"; exit 1; }
pid=$(pgrep -f "rlsfs mount.* $M\$" | head -1)
ok "the daemon is found" test -n "$pid"

# index_txn: the last transaction of the index, as LMDB numbers them
index_txn() { mdb_stat -e "$T/delta/index" | sed -n 's/.*Last transaction ID: //p'; }
# index_synced: did the traced daemon sync its index?  With fdatasync when
# it writes the index with pwrite, with msync of the index's map when it
# writes through the map (rls-delta(7), THE INDEX'S ROOM).
index_synced() {
	grep -qE 'fdatasync\([0-9]+</.*/delta/index/data\.mdb>\)' "$T/trace" && return 0
	local a
	for a in $(grep -oE 'msync\(0x[0-9a-f]+' "$T/trace" | cut -c9-); do
		grep -q "^$a-.*/delta/index/data\.mdb\$" "/proc/$pid/maps" && return 0
	done
	return 1
}

# trace PID's sync calls while running a command; the log is $T/trace
traced() {
	strace -f -y -qq -e trace=fsync,fdatasync,msync,syncfs,sync_file_range,pwrite64,pwritev,write -p "$pid" -o "$T/trace" &
	local st=$! i=0
	# strace has attached once the daemon's threads are stopped and let go
	while [ $i -lt 100 ] && ! grep -q TracerPid:.*[1-9] "/proc/$pid/status"; do sleep 0.05; i=$((i + 1)); done
	"$@"
	sleep 0.3
	kill "$st"; wait "$st" 2>/dev/null
}

before=$(index_txn)
traced sh -c "for i in \$(seq 1 20); do echo \$i > '$M/plain-'\$i; done; mkdir '$M/d'; mv '$M/plain-1' '$M/d/'"
ok "writes, creations and renames write the index: transaction $before, then $(index_txn)" \
	test "$(index_txn)" -gt "$((before + 20))"
index_synced; is $? 1 "without syncing it"

traced "$FSOP" fsync "$M/kept" durable >/dev/null
index_synced; is $? 0 "fsync on a file syncs the index"
like "$(cat "$T/trace")" 'fsync\([0-9]+</.*/delta/data>\)' "and the data folder's names"
traced python3 -c "import os; fd = os.open('$M/d', os.O_RDONLY); os.fsync(fd)"
index_synced; is $? 0 "so does fsync on a folder"

# SIGKILL right after the fsync: nothing is closed, nothing synced after
"$FSOP" fsync "$M/last" "written then synced" >/dev/null
kill -9 "$pid"
umount -l "$M" 2>/dev/null
sleep 0.2
mount_rlsfs "$S" "$M" -p full-access; is $? 0 "after SIGKILL the delta mounts again"
is "$(cat "$M/last" 2>&1)" "written then synced" "with the file fsynced before the kill"
is "$(cat "$M/kept" 2>&1)" durable "and the one before it"
test -e "$S/last"; is $? 1 "the source is untouched"
done_testing
