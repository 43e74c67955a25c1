#!/bin/bash
# A file capability (security.capability) comes off a file whose data
# changes through the mount, whoever changes it and however, as Linux takes
# it off (rlsfs(1), OWNERS AND SET-ID BITS): else a sandbox could write its
# own code into a file that grants capabilities, and the commit would carry
# both into the source.  rlsfs does it itself, so the kernel no longer asks
# for the attribute before each write(2).
. "$(dirname "$0")/lib.sh"
need_fuse
need_root
command -v setcap >/dev/null || skip_all "no setcap"
command -v strace >/dev/null || skip_all "no strace"

S=$T/src M=$T/mnt D=$T/delta
mkdir -p "$S"
ways="write trunc otrunc falloc cfr mmap chown"
for w in $ways kept many; do
	printf 'original %s\n' "$w" > "$S/$w"
	setcap cap_net_raw+ep "$S/$w" || skip_all "the source's filesystem keeps no capabilities"
done
echo other > "$S/other"
mount_rlsfs "$S" "$M" -p full-access --delta "$D" || { echo "Bail out! mount failed"; exit 1; }
pid=$(pgrep -f "rlsfs mount.* $M\$" | head -1)

caps() { getcap "$1" | grep -c cap_net_raw; }
is "$(caps "$M/kept")" 1 "a capability in the source shows through the mount"

echo more >> "$M/write"
"$FSOP" truncate "$M/trunc" 3 > /dev/null
: > "$M/otrunc"
"$FSOP" fallocate "$M/falloc" 0 8192 > /dev/null
"$FSOP" copy-range "$M/other" "$M/cfr" 6 > /dev/null
# a shared mapping's pages, written back with no write(2) the kernel sees
python3 -c "
import mmap, os
fd = os.open('$M/mmap', os.O_RDWR)
m = mmap.mmap(fd, 0)
m[0:8] = b'ORIGINAL'
m.flush()
m.close()
os.close(fd)"
chown 0:0 "$M/chown"
for w in $ways; do
	is "$(caps "$M/$w")" 0 "a change by $w takes the capability off"
done
is "$(cat "$M/write")" "original write
more" "and the write is there"
is "$(cat "$M/mmap")" "ORIGINAL mmap" "and the mapping's"
# reading, a chmod, new times change no data: the capability stays
cat "$M/kept" > /dev/null
chmod 755 "$M/kept"
touch "$M/kept"
is "$(caps "$M/kept")" 1 "a read, a chmod and new times leave it"

# given in the mount while a handle is open for writing: the handle's next
# write takes it off too
echo new > "$M/new"
exec 3>> "$M/new"
setcap cap_net_raw+ep "$M/new"
is "$(caps "$M/new")" 1 "a capability can be given in the mount"
echo written >&3
exec 3>&-
is "$(caps "$M/new")" 0 "a write through a handle opened before takes it off"

# The kernel asked whether a file had a capability before every write(2):
# rlsfs asks the data file once a handle.
cat "$M/many" > /dev/null
traced() { strace_daemon "$pid" getxattr,lgetxattr,fgetxattr "$T/trace" "$@"; }
traced python3 -c "
import os
fd = os.open('$M/many', os.O_WRONLY | os.O_APPEND)
for i in range(100):
    os.write(fd, b'x')
os.close(fd)"
n=$(grep -c 'lgetxattr(.*security.capability' "$T/trace")
ok "100 writes to a file from the source ask about its capability $n times" test "$n" -le 2
is "$(caps "$M/many")" 0 "and take it off"

umount_rlsfs "$M"
"$RLS" commit --yes "$D" > /dev/null 2>&1 || "$RLS" commit "$D" > /dev/null 2>&1
# (a change of owner alone commits no data, and the source's file keeps
# what it had: its content is still the source's own)
for w in ${ways% chown}; do
	is "$(caps "$S/$w")" 0 "committed, the source's $w carries no capability"
done
is "$(caps "$S/kept")" 1 "and one no change reached keeps it"
done_testing
