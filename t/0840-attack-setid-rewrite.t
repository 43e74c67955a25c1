#!/bin/bash
# A set-user-id program in a writable folder, rewritten from inside the
# sandbox: through a shared writable mapping the kernel asks nobody to
# remove the bit (and for a caller with CAP_FSETID, not through write(2)
# either), so the delta kept 4755 with the sandbox's content, and commit,
# run as root, left a root-owned set-user-id program of the sandbox's
# making in the tree.  Every write, truncation or copy-up for writing drops
# the bits, as file_remove_privs does; commit drops them from any file
# whose data is not what was copied up, and says so.
. "$(dirname "$0")/lib.sh"
need_fuse
need_root
command -v python3 >/dev/null || skip_all "needs python3"
FX=$RLS_BUILD/t/delta-fixture

S=$T/src M=$T/mnt
mkdir -p "$S/w"
for f in mmap write trunc otrunc copy falloc gexec keep moved; do
	printf 'original-program\n' > "$S/w/$f"
	chmod 4755 "$S/w/$f"
done
chmod 2755 "$S/w/gexec"
printf 'source\n' > "$S/w/input"
printf 'locking\n' > "$S/w/gnoexec" && chmod 2745 "$S/w/gnoexec"
# Mounted as rls run mounts for its sandbox: no caller's capability counts
# (the test runs as root, with CAP_FSETID).
mount_rlsfs "$S" "$M" -p full-access --ignore-caller-caps || { echo "Bail out! mount failed"; exit 1; }

python3 - "$M/w/mmap" <<'PY'
import mmap, sys
with open(sys.argv[1], "r+b") as f:
    m = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    m[:16] = b"mapped-rewrite!\n"
    m.flush()
    m.close()
PY
is "$($FSOP pwrite "$M/w/write" 0 'written-program!')" OK "a set-user-id file is rewritten with write(2)"
is "$($FSOP truncate "$M/w/trunc" 3)" OK "another truncated"
printf 'replaced\n' > "$M/w/otrunc"
is "$($FSOP copy-range "$M/w/input" "$M/w/copy" 7)" "OK 7" "another written by copy_file_range"
is "$($FSOP fallocate "$M/w/falloc" 0 4096)" OK "another extended by fallocate"
printf 'new\n' >> "$M/w/gexec"
printf 'new\n' >> "$M/w/gnoexec"
touch "$M/w/keep" && mv "$M/w/moved" "$M/w/renamed"

for f in mmap write trunc otrunc copy falloc gexec; do
	is "$(stat -c %a "$M/w/$f")" 755 "inside the mount, $f has lost its set-id bit"
done
is "$(stat -c %a "$M/w/gnoexec")" 2745 "a set-group-id bit without group execute (a locking mark) stays"
is "$(stat -c %a "$M/w/keep")" 4755 "a file only touched keeps its bit"
is "$(stat -c %a "$M/w/renamed")" 4755 "and so does one only renamed"
is "$(head -c 16 "$M/w/mmap")" "mapped-rewrite!" "the mapped write went through"
umount_rlsfs "$M"

# The delta, as the next mount shows it.
mount_rlsfs "$S" "$M" -p read-only || { echo "Bail out! mount failed"; exit 1; }
is "$(stat -c %a "$M/w/mmap" "$M/w/write" "$M/w/otrunc" | sort -u)" 755 "the delta holds the files without the bit"
umount_rlsfs "$M"

out=$("$RLS" commit "$T/delta" 2>&1); rc=$?
is "$rc" 0 "the delta commits"
for f in mmap write trunc otrunc copy falloc gexec; do
	is "$(stat -c '%a %U' "$S/w/$f")" "755 root" "the committed $f has no set-id bit"
done
is "$(head -c 16 "$S/w/mmap")" "mapped-rewrite!" "and the sandbox's content"
is "$(cat "$S/w/write")" "written-program!" "every one of them"
is "$(stat -c %a "$S/w/keep" "$S/w/renamed" | sort -u)" 4755 "the untouched program keeps its bit, moved or not"
is "$(cat "$S/w/renamed")" original-program "with its own content"
unlike "$out" "set-id bits dropped" "nothing was left for commit to drop"

# A delta that holds a set-user-id file with other content than its base
# (rlsfs never writes one now; an older rlsfs did): commit drops the bit.
rm -rf "$T/delta"
printf 'prog\n' > "$S/w/old" && chmod 4755 "$S/w/old"
printf 'prog\n' > "$S/w/same" && chmod 755 "$S/w/same"
printf 'write /w/old evil\nchmod /w/old 4755\nnew /w/made evil\nchmod /w/made 6755\ntouch /w/same\nchmod /w/same 4755\n' |
	"$FX" "$T/delta" "$S" || { echo "Bail out! fixture failed"; exit 1; }
out=$("$RLS" commit "$T/delta" 2>&1); rc=$?
is "$rc" 0 "a delta with a rewritten set-user-id file commits"
is "$(stat -c %a "$S/w/old") $(cat "$S/w/old")" "755 evil" "without the bit on the new content"
is "$(stat -c %a "$S/w/made")" 755 "nor on a new file"
is "$(stat -c %a "$S/w/same")" 4755 "a bit on the content copied up is kept"
like "$out" "set-id bits dropped: w/made \(its content changed since the copy-up\)" "commit names the new file"
like "$out" "set-id bits dropped: w/old \(its content changed since the copy-up\)" "and the rewritten one"

# rlsfs, not the kernel, takes the bits off at a change of owner and at a
# write through a handle opened before the file had them (it tells the
# kernel it does: FUSE_HANDLE_KILLPRIV).  A mount where root's
# capabilities count: root may give the bit, and a writer without
# CAP_FSETID must still lose it.
rm -rf "$T/delta"
mkdir -p "$S/k"
printf 'prog\n' > "$S/k/owned" && chmod 4755 "$S/k/owned"
printf 'prog\n' > "$S/k/late" && chmod 755 "$S/k/late"
mount_rlsfs "$S" "$M" -p full-access || { echo "Bail out! mount failed"; exit 1; }
chown 0:0 "$M/k/owned"
is "$(stat -c %a "$M/k/owned")" 755 "a change of owner takes the set-user-id bit off, even root's"
python3 -c 'import os, sys; os.mkfifo(sys.argv[1]); os.chmod(sys.argv[1], 0o6777); os.chown(sys.argv[1], 1, 1)' "$M/k/fifo"
is "$(stat -c %a "$M/k/fifo")" 777 "and both bits off a fifo, as from any file that is not a folder"
# (root's own writer, without CAP_FSETID: the mount serves no other user)
python3 - "$M/k/late" <<'PY'
import os, subprocess, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.chmod(sys.argv[1], 0o4755)
subprocess.run(["setpriv", "--bounding-set", "-fsetid", "--", "sh", "-c", "echo unprivileged >&%d" % fd],
               pass_fds=[fd], check=True)
PY
is "$(stat -c %a "$M/k/late")" 755 "a write through a handle opened before the bit was given takes it off"
is "$(tail -n 1 "$M/k/late")" unprivileged "and the write went through"
umount_rlsfs "$M"
done_testing
