#!/bin/bash
# A program in the sandbox makes rlsfs hold listings, outside any memory
# limit of the sandbox's: it opens a big folder again and again, changes it
# each time (so that the kernel cannot answer from the listing it keeps),
# reads one entry from every handle and keeps them all; or it reads one
# entry of many big folders.  rlsfs keeps one listing a folder, the newest,
# while the kernel reads it on, and the listings kept together are bounded
# (--max-dir-memory, 64 MiB by default): past the bound, those nothing is
# reading go, to be taken again if read on; only a folder whose listing
# alone is past it cannot be read (ENOMEM).
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt
# DIR N: N names of 250 bytes in DIR (about 0.3 MiB a listing a 1,000)
names() {
	mkdir -p "$1"
	python3 -c '
import sys
for i in range(int(sys.argv[2])):
    open("%s/%s%05d" % (sys.argv[1], "n" * 245, i), "w").close()' "$1" "$2"
}
names "$S/big" 2000
for i in 1 2 3 4 5 6; do names "$S/many/d$i" 1000; done
# AddressSanitizer keeps what is freed (256 MiB of it) before reusing it
ldd "$RLSFS" 2>/dev/null | grep -q libasan && export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
mount_rlsfs "$S" "$M" -p full-access || { echo "Bail out! mount failed"; exit 1; }
pid=$(pgrep -nf "rlsfs mount.* $M\$")
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
ls "$M/big" > /dev/null
base=$(rss)

# hold N: change the folder, open it and read one entry, N times, keeping
# every handle; "HELD ERRNO LISTED RSS-KB" (LISTED: the fewest entries a
# handle of the last three reads to its end)
hold() {
	python3 - "$M/big" "$1" "$pid" <<'PY'
import errno, os, sys
its, err = [], "none"
for i in range(int(sys.argv[2])):
    os.close(os.open(sys.argv[1] + "/change", os.O_CREAT | os.O_WRONLY))
    os.unlink(sys.argv[1] + "/change")
    try:
        it = os.scandir(os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY))
        next(it)
        its.append(it)
    except OSError as e:
        err = errno.errorcode.get(e.errno, str(e.errno))
        break
rss = [l.split()[1] for l in open("/proc/%s/status" % sys.argv[3]) if l.startswith("VmRSS")][0]
listed = min(1 + sum(1 for _ in it) for it in its[-3:]) if its else 0
print(len(its), err, listed, rss)
PY
}
# spread DIR...: read one entry of each folder, keeping them open, then
# each to its end; "ERRNO COUNTS"
spread() {
	python3 - "$@" <<'PY'
import errno, os, sys
try:
    its = [os.scandir(d) for d in sys.argv[1:]]
    for it in its:
        next(it)
    print("none", *[1 + sum(1 for _ in it) for it in its])
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PY
}

read -r opened err listed held <<< "$(hold 400)"
is "$opened $err" "400 none" "400 handles read on a changing folder of 2,000 long names: none fails"
is "$listed" 2000 "each reads the whole folder"
# the bound counts what glibc's malloc takes; AddressSanitizer's redzones
# take as much again
slack=16
ldd "$RLSFS" 2>/dev/null | grep -q libasan && slack=48
ok "rlsfs holds one listing, not one a handle ($((held / 1024)) MiB, was $((base / 1024)) MiB)" \
	test "$held" -le $((base + (slack << 10)))

umount_rlsfs "$M"
mount_rlsfs "$S" "$M" -p full-access --delta "$T/delta2" --max-dir-memory 1M || { echo "Bail out! mount failed"; exit 1; }
is "$(spread "$M"/many/d*)" "none 1000 1000 1000 1000 1000 1000" \
	"--max-dir-memory 1M: six folders of 0.3 MiB read at once, each whole"
umount_rlsfs "$M"
mount_rlsfs "$S" "$M" -p read-only --delta "$T/delta3" --max-dir-memory 256K || { echo "Bail out! mount failed"; exit 1; }
ls "$M/big" > /dev/null 2> "$T/err"; is "$?:$(grep -c 'Cannot allocate memory' "$T/err")" 2:1 \
	"a folder whose listing alone is past the bound cannot be read (ENOMEM)"
is "$(ls "$M" 2>&1 | tr '\n' ' ')" "big many " "smaller ones can"
done_testing
