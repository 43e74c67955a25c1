#!/bin/bash
# A program in the sandbox opens a big folder again and again, changes it
# each time (so that the kernel cannot answer from the listing it keeps),
# reads from every handle and keeps them all: each holds a copy of the
# listing in rlsfs, outside any memory limit of the sandbox's.  The
# listings of all handles together are bounded (--max-dir-memory, 64 MiB by
# default): past it reading the folder fails with ENOMEM and rlsfs stops
# growing.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt
mkdir -p "$S/big"
# 2,000 names of 250 bytes: about 0.6 MiB a listing
python3 -c '
import sys
for i in range(2000):
    open("%s/big/%s%05d" % (sys.argv[1], "n" * 245, i), "w").close()' "$S"
mount_rlsfs "$S" "$M" -p full-access || { echo "Bail out! mount failed"; exit 1; }
pid=$(pgrep -nf "rlsfs mount.* $M\$")
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
ls "$M/big" > /dev/null
base=$(rss)

# hold N: change the folder, open it and read one entry, N times, keeping
# every handle; "READ ERRNO LISTED RSS-KB"
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
# every handle that was read lists the whole folder
listed = min(1 + sum(1 for _ in it) for it in its[-3:]) if its else 0
rss = [l.split()[1] for l in open("/proc/%s/status" % sys.argv[3]) if l.startswith("VmRSS")][0]
print(len(its), err, listed, rss)
PY
}

read -r opened err listed held <<< "$(hold 400)"
is "$err" ENOMEM "400 handles read on a folder of 2,000 long names: reading fails with ENOMEM"
ok "after about 64 MiB of listings ($opened handles)" test "$opened" -ge 50 -a "$opened" -le 120
is "$listed" 2000 "the folder still lists whole"
# the bound counts what glibc's malloc takes; AddressSanitizer's redzones
# take as much again
slack=96
ldd "$RLSFS" 2>/dev/null | grep -q libasan && slack=160
ok "rlsfs stays under 64 MiB + $((slack - 64)) MiB more than it took before ($((held / 1024)) MiB, was $((base / 1024)) MiB)" \
	test "$held" -le $((base + (slack << 10)))
read -r opened err listed held <<< "$(hold 10)"
is "$opened $err $listed" "10 none 2000" "closing the handles gives the memory back"

umount_rlsfs "$M"
mount_rlsfs "$S" "$M" -p full-access --delta "$T/delta2" --max-dir-memory 4M || { echo "Bail out! mount failed"; exit 1; }
pid=$(pgrep -nf "rlsfs mount.* $M\$")
read -r opened err listed held <<< "$(hold 400)"
ok "--max-dir-memory 4M lets fewer through ($opened, then $err)" test "$opened" -le 8 -a "$err" = ENOMEM
umount_rlsfs "$M"
mount_rlsfs "$S" "$M" -p read-only --delta "$T/delta3" --max-dir-memory 256K || { echo "Bail out! mount failed"; exit 1; }
ls "$M/big" > /dev/null 2> "$T/err"; is "$?:$(grep -c 'Cannot allocate memory' "$T/err")" 2:1 \
	"a folder whose listing alone is past the bound cannot be read (ENOMEM)"
is "$(ls "$M" 2>&1)" big "smaller ones can"
done_testing
