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

traced sh -c "for i in \$(seq 1 20); do echo \$i > '$M/plain-'\$i; done; mkdir '$M/d'; mv '$M/plain-1' '$M/d/'"
like "$(cat "$T/trace")" 'write[v64]*\([0-9]+</.*/delta/index/data\.mdb>' "writes, creations and renames write the index"
is "$(grep -E 'sync[a-z_]*\(' "$T/trace" | grep -c 'index/data.mdb')" 0 "without syncing it"

traced "$FSOP" fsync "$M/kept" durable >/dev/null
like "$(cat "$T/trace")" 'fdatasync\([0-9]+</.*/delta/index/data\.mdb>\)' "fsync on a file syncs the index"
like "$(cat "$T/trace")" 'fsync\([0-9]+</.*/delta/data>\)' "and the data folder's names"
traced python3 -c "import os; fd = os.open('$M/d', os.O_RDONLY); os.fsync(fd)"
like "$(cat "$T/trace")" 'fdatasync\([0-9]+</.*/delta/index/data\.mdb>\)' "so does fsync on a folder"

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
