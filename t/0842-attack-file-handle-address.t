#!/bin/bash
# The sandbox asks the kernel for file handles of what it sees in the mount
# (name_to_handle_at(2)).  A FUSE file handle carries the nodeid rlsfs gave
# the kernel; were that a pointer, the handles would map rlsfs's heap, a
# process that runs as root.  No 8-byte word of any handle may fall inside
# a mapping of the rlsfs process.
. "$(dirname "$0")/lib.sh"
need_fuse
need_root

S=$T/src M=$T/mnt
mkdir -p "$S/d/e" "$S/w"
for i in 1 2 3 4 5 6 7 8; do echo "$i" > "$S/w/f$i"; done
echo x > "$S/d/e/deep"
mount_rlsfs "$S" "$M" -p full-access || { echo "Bail out! mount failed"; exit 1; }
pid=$(pgrep -f "rlsfs mount.* $M\$" | head -1)
[ -n "$pid" ] || { echo "Bail out! no rlsfs process for $M"; exit 1; }

# Nodes of every kind of origin: source files and folders, files and
# folders made in the sandbox, a renamed one, one whose slot was reused.
mkdir "$M/new" && echo n > "$M/new/file" && echo m > "$M/w/made"
mv "$M/w/f8" "$M/w/moved"
rm "$M/w/f7" && echo again > "$M/w/f7"
paths="$M/w/f1 $M/w/f2 $M/d $M/d/e $M/d/e/deep $M/new $M/new/file $M/w/made $M/w/moved $M/w/f7 $M/w"
handles=
for p in $paths; do
	h=$($FSOP handle "$p")
	case $h in OK\ *) handles="$handles ${h#OK }" ;; *) diag "$p: $h" ;; esac
done
is "$(echo $handles | wc -w)" "$(echo $paths | wc -w)" "the kernel gives out a file handle for every path"

# Each handle read as 64-bit words at every 4-byte offset, both as the
# kernel packs a nodeid (two 32-bit halves, high first) and as raw
# little-endian bytes.
leaks=$(python3 - "/proc/$pid/maps" $handles <<'PY'
import struct, sys
ranges = []
for line in open(sys.argv[1]):
    span, perms = line.split()[:2]
    # reserved address space holds nothing (ASan's shadow gap is terabytes of it)
    if perms.startswith("---"):
        continue
    lo, hi = span.split("-")
    ranges.append((int(lo, 16), int(hi, 16)))
hits = []
for h in sys.argv[2:]:
    b = bytes.fromhex(h)
    for i in range(0, len(b) - 7, 4):
        w = struct.unpack_from("=II", b, i)
        for v in ((w[0] << 32) | w[1], struct.unpack_from("<Q", b, i)[0]):
            if any(lo <= v < hi for lo, hi in ranges):
                hits.append("%s@%d=%#x" % (h, i, v))
print(" ".join(hits))
PY
)
is "$leaks" "" "no word of any file handle is an address inside rlsfs"

# The handles still name the files: the same path gives the same handle.
set -- $handles
is "$($FSOP handle "$M/w/f1")" "OK $1" "a path keeps its handle while it is known"
done_testing
