#!/bin/bash
# The index of a mounted delta, written through its map (rls-delta(7), THE
# INDEX'S ROOM): every page of the map allocated, the map small and grown
# as the index grows while other processes read it, a full filesystem
# answered with ENOSPC (never a daemon killed by SIGBUS), and the index
# written with pwrite where its blocks cannot be reserved.
. "$(dirname "$0")/lib.sh"
need_fuse
need_root
command -v strace >/dev/null || skip_all "no strace"
command -v mdb_stat >/dev/null || skip_all "no mdb_stat"

# map_info DELTA: "MAPSIZE PAGES_USED" of its index
map_info() {
	mdb_stat -e "$1/index" | awk '/Map size:/ { m = $3 } /pages used:/ { p = $5 } END { print m, p }'
}
# holes FILE: bytes of FILE's size with no block behind them
holes() { stat -c '%s %b %B' "$1" | awk '{ h = $1 - $2 * $3; print (h > 0 ? h : 0) }'; }
daemon_of() { pgrep -f "rlsfs mount.* $1\$" | head -1; }

# ---- growth, with readers in other processes -------------------------
# The index is written through its map on a tmpfs.
F=$T/tmpfs
mkdir -p "$F"
mount -t tmpfs -o size=512m tmpfs "$F" || { echo "Bail out! cannot mount a tmpfs"; exit 1; }
at_exit "umount '$F'"
S=$T/src M=$T/mnt D=$F/delta
mkdir -p "$S/old"
echo kept > "$S/old/f"
mount_rlsfs "$S" "$M" --delta "$D" -p full-access || { echo "Bail out! mount failed"; exit 1; }
pid=$(daemon_of "$M")
read -r map0 _ <<< "$(map_info "$D")"
is "$map0" 1048576 "a fresh index is mapped at 1 MiB"
is "$(stat -c %s "$D/index/data.mdb")" "$map0" "its file is as large as the map"
is "$(holes "$D/index/data.mdb")" 0 "and has a block behind every page"

# Readers: rls diff in a loop, in other processes, while the index grows
# to many times its first map.
(
	fails=0 runs=0
	while [ ! -e "$T/stop" ]; do
		"$RLS" diff "$D" > /dev/null 2> "$T/diff.err" || fails=$((fails + 1))
		runs=$((runs + 1))
		sleep 0.05
	done
	echo "$runs $fails" > "$T/readers"
) &
reader=$!
long=$(printf 'n%.0s' $(seq 180))
python3 - "$M/new" "$long" <<'EOF'
import os, sys
top, long = sys.argv[1], sys.argv[2]
for d in range(30):
    os.makedirs(f"{top}/d{d}")
    for f in range(200):
        with open(f"{top}/d{d}/{long}{f}", "w") as fh:
            fh.write(str(f))
EOF
touch "$T/stop"; wait "$reader"
read -r runs fails < "$T/readers"
ok "rls diff read the delta $runs times as it grew" test "$runs" -ge 1
is "$fails" 0 "and never failed $(cat "$T/diff.err")"
is "$(find "$M/new" -type f | wc -l)" 6000 "the mount holds the 6000 files made"
kill -0 "$pid"; is $? 0 "the daemon is alive"
read -r map1 pages1 <<< "$(map_info "$D")"
ok "the map grew past its first MiB: $map1 bytes for $pages1 pages" test "$map1" -gt 1048576
ok "keeping room, but not many times what the index uses" \
	test "$map1" -le $((pages1 * 4096 * 3 + 2097152))
is "$(stat -c %s "$D/index/data.mdb")" "$map1" "the file is as large as the map"
is "$(holes "$D/index/data.mdb")" 0 "with a block behind every page"
ok "its apparent size is modest: $(stat -c %s "$D/index/data.mdb") bytes" \
	test "$(stat -c %s "$D/index/data.mdb")" -lt $((1 << 30))
umount_rlsfs "$M"
is "$("$RLS" diff "$D" | grep -c '^A new/d[0-9]*/n')" 6000 "all of them are in the delta after the unmount"
mount_rlsfs "$S" "$M" --delta "$D" -p full-access || { echo "Bail out! mount failed"; exit 1; }
is "$(find "$M/new" -type f | wc -l)" 6000 "and in the mount again"
is "$(cat "$M/old/f")" kept "beside the source's"

# Another process writes the index past the daemon's map (mdb_load puts a
# table larger than the map into it): the daemon maps it again, goes on.
read -r map2 _ <<< "$(map_info "$D")"
python3 -c "
print('VERSION=3\nformat=bytevalue\ntype=btree\nmapsize=$((4 * map2))\nHEADER=END')
for i in range($map2 // 1000 + 500):
    print(' ' + (b'k%08d' % i).hex() + '\n ' + (b'v' * 1000).hex())
print('DATA=END')" > "$T/dump"
mdb_load -f "$T/dump" -s other "$D/index"
ok "another process grew the index past the map of $map2 bytes: $(map_info "$D")" \
	test "$(map_info "$D" | cut -d' ' -f2)" -gt $((map2 / 4096))
is "$(find "$M/new" -type f | wc -l)" 6000 "the mount reads the index as before"
echo after > "$M/after"; is $? 0 "and writes to it"
is "$(cat "$M/after")" after "what it wrote is there"
ok "its file is as large as its map again: $(stat -c %s "$D/index/data.mdb") bytes" \
	test "$(stat -c %s "$D/index/data.mdb")" -gt $(($(map_info "$D" | cut -d' ' -f2) * 4096))
is "$(holes "$D/index/data.mdb")" 0 "with a block behind every page"
umount_rlsfs "$M"
rm -rf "${F:?}"/*

# On any other filesystem the index is written with pwrite.
if [ "$(stat -f -c %T "$T")" != tmpfs ]; then
	mount_rlsfs "$S" "$M" --delta "$T/delta" -p full-access || { echo "Bail out! mount failed"; exit 1; }
	strace_daemon "$(daemon_of "$M")" pwrite64,pwritev "$T/trace" touch "$M/x"
	ok "on $(stat -f -c %T "$T") the index is written with pwrite" grep -q 'index/data\.mdb>' "$T/trace"
	ok "its file is as small as the index" test "$(stat -c %s "$T/delta/index/data.mdb")" -lt 1048576
	umount_rlsfs "$M"
fi

# ---- a full filesystem -----------------------------------------------
mount -o remount,size=6m "$F" || { echo "Bail out! cannot shrink the tmpfs"; exit 1; }
M2=$T/mnt2
mount_rlsfs "$S" "$M2" --delta "$F/delta" --max-delta-size 0 -p full-access ||
	{ echo "Bail out! mount failed"; exit 1; }
pid=$(daemon_of "$M2")
python3 - "$M2" > "$T/fill" <<'EOF'
import os, sys
m = sys.argv[1]
n = 0
try:
    while True:
        with open(f"{m}/big{n}", "wb") as f:
            f.write(b"x" * 65536)
        n += 1
except OSError as e:
    print("data", e.strerror)
k = 0
try:
    while k < 100000:
        os.close(os.open(f"{m}/e{k:06d}-" + "y" * 200, os.O_CREAT | os.O_WRONLY))
        k += 1
except OSError as e:
    print("names", e.strerror, k)
EOF
is "$(sed -n 1p "$T/fill")" "data No space left on device" "writes on a full filesystem fail with ENOSPC"
like "$(sed -n 2p "$T/fill")" '^names No space left on device [0-9]+$' "new names too, once the index has no room left"
kill -0 "$pid"; is $? 0 "the daemon is alive"
is "$(holes "$F/delta/index/data.mdb")" 0 "its index has a block behind every page"
ok "the mount answers" test "$(ls "$M2" | wc -l)" -gt 1
rm -f "$M2"/big1 "$M2"/e00000*; is $? 0 "removals are recorded on the full filesystem"
ok "and gone" test ! -e "$M2/big1"
kill -0 "$pid"; is $? 0 "the daemon is still alive"
umount_rlsfs "$M2"
mount_rlsfs "$S" "$M2" --delta "$F/delta" --max-delta-size 0 -p full-access
is $? 0 "the delta on the full filesystem mounts again"
ok "with what was recorded" test -e "$M2/big2" -a ! -e "$M2/big1"
umount_rlsfs "$M2"
rm -rf "${F:?}"/*

# ---- where the blocks cannot be reserved -----------------------------
# A small index (as one written with pwrite is) on a filesystem with less
# room than the map would take: the index is written with pwrite.
mount_rlsfs "$S" "$M2" --delta "$F/delta" --max-delta-size 0 -p full-access ||
	{ echo "Bail out! mount failed"; exit 1; }
echo one > "$M2/one"
umount_rlsfs "$M2"
mkdir "$T/compact" && mdb_copy -c "$F/delta/index" "$T/compact" && cp "$T/compact/data.mdb" "$F/delta/index/data.mdb"
avail=$(df -B1 --output=avail "$F" | tail -1)
fallocate -l $((avail - 600 * 1024)) "$F/filler"
ok "the index is small: $(stat -c %s "$F/delta/index/data.mdb") bytes, $(df -h --output=avail "$F" | tail -1) free" \
	test "$(stat -c %s "$F/delta/index/data.mdb")" -lt 1048576
mount_rlsfs "$S" "$M2" --delta "$F/delta" --max-delta-size 0 -p full-access ||
	{ echo "Bail out! mount failed"; exit 1; }
pid=$(daemon_of "$M2")
strace_daemon "$pid" pwrite64,pwritev "$T/trace" sh -c "for i in \$(seq 20); do echo \$i > '$M2/f'\$i; done"
is "$(cat "$M2/f20" "$M2/one")" "20
one" "files are made and read"
ok "the index is written with pwrite: $(grep -c 'index/data\.mdb>' "$T/trace") writes" \
	grep -q 'index/data\.mdb>' "$T/trace"
ok "and stays small: $(stat -c %s "$F/delta/index/data.mdb") bytes" \
	test "$(stat -c %s "$F/delta/index/data.mdb")" -lt 1048576
umount_rlsfs "$M2"
done_testing
