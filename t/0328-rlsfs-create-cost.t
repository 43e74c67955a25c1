#!/bin/bash
# What making a file costs, as tar makes it (create, write, utimensat,
# fchown to the owner it has, fchmod, close): the requests the kernel
# sends (no GETATTR before the chown: rlsfs takes set-id bits off itself
# and tells the kernel so, see channel.c) and the index commits the daemon
# makes (none for the chown, which leaves the record as it was: the data
# file takes its ctime), the stats it makes of the data file, and the
# security.capability the kernel asks
# about answered from what rlsfs knows.  Requests are counted in the daemon's debug trace,
# commits as LMDB numbers its transactions (mdb_stat), and the index's
# writes in an strace of the daemon: none, where the index is written
# through its map (rls-delta(7), THE INDEX'S ROOM).
. "$(dirname "$0")/lib.sh"
need_fuse
need_root
command -v strace >/dev/null || skip_all "no strace"
command -v tar >/dev/null || skip_all "no tar"

DIRS=4 PER=50 N=$((4 * 50))
mkdir -p "$T/tree"
for d in $(seq $DIRS); do
	mkdir "$T/tree/d$d"
	for f in $(seq $PER); do echo "$d $f" > "$T/tree/d$d/f$f"; done
done
tar -C "$T/tree" -cf "$T/files.tar" .

# The delta on a tmpfs, where its index is written through its map.
S=$T/src M=$T/mnt L=$T/log D=$T/tmpfs/delta
mkdir -p "$S" "$M" "$T/tmpfs"
mount -t tmpfs -o size=64m tmpfs "$T/tmpfs" || { echo "Bail out! cannot mount a tmpfs"; exit 1; }
at_exit "umount '$T/tmpfs'"
mount_rlsfs_traced "$L" "$S" "$M" --delta "$D" -p full-access || { echo "Bail out! mount failed"; exit 1; }
pid=$(pgrep -f "rlsfs mount.* $M\$" | head -1)

mkdir "$M/u"
counts=$(trace_requests "$L" tar -xf "$T/files.tar" -C "$M/u")
total=$(echo "$counts" | awk '{ n += $2 } END { print n }')
is "$(find "$M/u" -type f | wc -l)" "$N" "tar made its $N files"
getattrs=$(echo "$counts" | awk '$1 == "GETATTR" { print $2 }')
ok "no GETATTR a file (a chown costs none): ${getattrs:-0} in all" test "${getattrs:-0}" -le 1
# a folder: LOOKUP, MKDIR and three SETATTRs, and three for the top one
ok "at most 9 requests a file, folders aside: $total for $N files" test "$total" -le $((9 * N + 5 * DIRS + 5))
is "$(echo "$counts" | awk '$1 == "CREATE" || $1 == "WRITE" { printf "%s %s ", $1, $2 }')" \
	"CREATE $N WRITE $N " "one CREATE and one WRITE each"
setattrs=$(echo "$counts" | awk '$1 == "SETATTR" { print $2 }')
ok "and three SETATTRs: $setattrs" test "$setattrs" -le $((3 * (N + DIRS + 1)))

# index_txn: the last transaction of the index, as LMDB numbers them
index_txn() { mdb_stat -e "$D/index" | sed -n 's/.*Last transaction ID: //p'; }
mkdir "$M/v"
before=$(index_txn)
strace_daemon "$pid" pwrite64,pwritev,write,newfstatat,fstat,statx "$T/trace" tar -xf "$T/files.tar" -C "$M/v"
n=$(( $(index_txn) - before ))
ok "at most 2 index commits a file (create, chmod), folders aside: $n for $N files" test "$n" -le $((2 * N + 5 * DIRS + 8))
ok "and one at least" test "$n" -ge "$N"
is "$(grep -c 'index/data\.mdb>' "$T/trace")" 0 "no write(2) to the index: it is written through its map"
# A file's stats: one at its creation (for the reply and the quota's
# hold, both), one after its write (the quota's count), one for the reply
# to each SETATTR; none at its close, and none of its name at the create.
stats=$(grep -cE '^[0-9]+ +(newfstatat|fstat|statx)\(' "$T/trace")
ok "at most 5 stats a file, folders aside: $stats for $N files" test "$stats" -le $((5 * N + 6 * DIRS + 8))

# The chown to the owner a file has changes nothing but its ctime, as on ext4.
f=$M/v/d1/f1
before=$(python3 -c "import os; print(os.stat('$f').st_ctime_ns)")
sleep 0.02
chown "$(stat -c %u:%g "$f")" "$f"
after=$(python3 -c "import os; print(os.stat('$f').st_ctime_ns)")
ok "a chown to the owner it has moves the file's ctime" test "$after" -gt "$before"
is "$(stat -c '%a %u %g %s' "$f")" "644 0 0 4" "and leaves mode, owner and size"

# The kernel asks for security.capability before each write and chown;
# for a file made in this mount rlsfs answers without asking the data
# file, until an attribute is set through it: then a write still takes a
# capability off (the kernel removes what it is told is there).
g=$M/v/d1/f2
caps() { python3 -c "import os, sys
try: print(os.getxattr(sys.argv[1], 'security.capability').hex())
except OSError as e: print(e.strerror)" "$1"; }
is "$(caps "$g")" "No data available" "a file made here has no capability"
python3 -c "import os, struct, sys; os.setxattr(sys.argv[1], 'security.capability', struct.pack('<5I', 0x02000001, 1 << 13, 0, 0, 0))" "$g"
is "$(caps "$g")" 0100000200200000000000000000000000000000 "one set on it is there"
echo more >> "$g"
is "$(caps "$g")" "No data available" "and a write takes it off"
umount_rlsfs "$M"
mount_rlsfs "$S" "$M" --delta "$D" -p read-only || { echo "Bail out! mount failed"; exit 1; }
is "$(python3 -c "import os; print(os.stat('$f').st_ctime_ns)")" "$after" "the ctime is the same after a remount"
done_testing
