#!/bin/bash
# A program in the sandbox tries to fill the disk the delta lives on: big
# writes, fallocate, sparse files, copy-ups of big source files, a file
# kept open after its unlink (t/0864 has sparse files at commit).  The delta's size quota (--max-delta-size,
# and by default half the room on the delta's disk) stops each with EDQUOT
# and leaves a delta that still diffs and commits.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt D=$T/delta
QUOTA=$((8 << 20))
mkdir -p "$S"
head -c 3M /dev/urandom > "$S/three"
mount_rlsfs "$S" "$M" -p full-access --max-delta-size 8M || { echo "Bail out! mount failed"; exit 1; }

# what the quota counts as used, as df on the mount shows it
used() { df -B1 --output=used "$M" | tail -1 | tr -d ' '; }

is "$(df -B1 --output=size "$M" | tail -1 | tr -d ' ')" $QUOTA "df on the mount shows the quota as its size"

: > "$M/sparse"
out=$(LC_ALL=C dd if=/dev/zero of="$M/fill" bs=1M count=64 2>&1)
like "$out" "Disk quota exceeded" "a write beyond the quota fails with EDQUOT"
size=$(stat -c %s "$M/fill")
ok "having written no more than the quota ($size bytes)" test "$size" -le $QUOTA
held=$(du -sB1 "$D" | cut -f1)
ok "and the delta takes no more than the quota on disk ($held bytes)" test "$held" -le $((QUOTA + (256 << 10)))

is "$($FSOP fallocate "$M/fa" 0 4194304)" EDQUOT "fallocate beyond the quota fails too"
is "$($FSOP truncate "$M/fill" 1099511627776)" EFBIG "no file may be larger than the quota, holes or not"
is "$($FSOP open "$M/new" wc)" EDQUOT "with the quota full not even an empty file can be made"
is "$($FSOP truncate "$M/sparse" 4194304)" OK "a truncate up that allocates nothing is allowed with the quota full"
is "$($FSOP pwrite "$M/sparse" 1048576 data)" EDQUOT "but writing into its hole is not"
is "$($FSOP pwrite "$M/fill" 4096 over)" OK "overwriting allocated data in place needs no room"
is "$($FSOP append "$M/three" more)" EDQUOT "copying a source file up needs room for all of it"
is "$(cmp "$S/three" "$M/three" && echo same)" same "and the refused copy-up leaves the file as it was"

rm "$M/fill" "$M/sparse"
ok "removing files gives their room back" test "$(used)" -lt $((1 << 20))

# A file kept open after its unlink still holds its blocks: writing to it
# must still count, until the last descriptor goes.
out=$(python3 - "$M" <<'PY'
import os, sys
m = sys.argv[1]
def used():
    st = os.statvfs(m)
    return (st.f_blocks - st.f_bfree) * st.f_frsize
fd = os.open(m + "/ghost", os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, b"x" * (5 << 20))
os.unlink(m + "/ghost")
print("kept" if used() >= 5 << 20 else "lost %d" % used())
try:
    n = os.pwrite(fd, b"y" * (8 << 20), 5 << 20)
    print("short" if n < 8 << 20 else "wrote all")
except OSError as e:
    print("refused" if e.errno == 122 else "error %d" % e.errno)
os.close(fd)
# The kernel sends the release after close(2) returns: give it time.
import time
for _ in range(100):
    if used() < 1 << 20:
        break
    time.sleep(0.1)
print("freed" if used() < 1 << 20 else "still %d" % used())
PY
)
like "$out" "^kept" "an unlinked file still open counts against the quota"
like "$out" "(short|refused)" "writing to it cannot go beyond the quota"
like "$out" "freed$" "its room comes back when it is closed"

echo small > "$M/small"
is "$(cat "$M/small")" small "after all that, writes that fit still work"
before=$(used)
umount_rlsfs "$M"
ok "the delta stopped by its quota diffs" "$RLS" diff "$D"
mount_rlsfs "$S" "$M" -p full-access --delta "$D" --max-delta-size 8M ||
	{ echo "Bail out! second mount failed"; exit 1; }
is "$(used)" "$before" "mounted again, the delta's usage is counted as it was"
out=$(LC_ALL=C dd if=/dev/zero of="$M/fill2" bs=1M count=64 2>&1)
like "$out" "Disk quota exceeded" "and the quota still holds"
ok "across the remount" test "$(stat -c %s "$M/fill2")" -le $QUOTA
rm "$M/fill2"
umount_rlsfs "$M"
ok "the delta commits" "$RLS" commit "$D"
is "$(cat "$S/small")" small "with what fit in it"

# A delta mounted again with a smaller quota than it holds can shrink.
mount_rlsfs "$S" "$M" -p full-access --delta "$T/delta2" --max-delta-size 8M ||
	{ echo "Bail out! mount failed"; exit 1; }
head -c 6M /dev/zero > "$M/six"
umount_rlsfs "$M"
mount_rlsfs "$S" "$M" -p full-access --delta "$T/delta2" --max-delta-size 1M ||
	{ echo "Bail out! mount failed"; exit 1; }
is "$($FSOP pwrite "$M/six" 0 x)" OK "above a smaller quota, a file larger than it is still written in place"
is "$($FSOP truncate "$M/six" 7340032)" EFBIG "but does not grow"
is "$($FSOP truncate "$M/six" 2097152)" OK "and shrinks, even to a size still above the quota"
umount_rlsfs "$M"

# The default, on a small disk of its own: the delta may take half of what
# was free at mount, so the disk is never filled.
if [ "$(id -u)" = 0 ] && mkdir -p "$T/disk" && mount -t tmpfs -o size=64m tmpfs "$T/disk"; then
	at_exit "umount -l '$T/disk'"
	mount_rlsfs "$S" "$T/mnt2" -p full-access --delta "$T/disk/delta" ||
		{ echo "Bail out! mount on the small disk failed"; exit 1; }
	out=$(LC_ALL=C dd if=/dev/zero of="$T/mnt2/fill" bs=1M count=128 2>&1)
	# (the room left, or the size no one file may pass: which comes
	# first depends on where the last 1 MiB block falls)
	like "$out" "Disk quota exceeded|File too large" "without --max-delta-size a quota stops the write"
	free=$(df -B1 --output=avail "$T/disk" | tail -1 | tr -d ' ')
	ok "with half the room of the delta's disk left ($free bytes free of 64 MiB)" test "$free" -ge $((30 << 20))
	umount_rlsfs "$T/mnt2"
else
	ok "# SKIP the default quota needs root to mount a small disk" true
	ok "# SKIP" true
fi
done_testing
