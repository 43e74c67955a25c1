#!/bin/bash
# A program in the sandbox makes names by the million (empty files,
# folders, links, whiteouts of source files): each costs the delta an index
# entry and rlsfs a node.  The entry quota (--max-delta-files) refuses the
# one beyond it with EDQUOT, whatever makes it, and the delta stays whole.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt D=$T/delta
mkdir -p "$S/old"
for i in 1 2 3; do echo "$i" > "$S/old/f$i"; done
mount_rlsfs "$S" "$M" -p full-access --max-delta-files 100 || { echo "Bail out! mount failed"; exit 1; }

made=$(python3 - "$M" <<'PY'
import os, sys
m = sys.argv[1]
for i in range(100000):
    try:
        os.close(os.open("%s/f%d" % (m, i), os.O_CREAT | os.O_WRONLY, 0o644))
    except OSError as e:
        print(i, "EDQUOT" if e.errno == 122 else e.strerror)
        break
PY
)
n=${made% *}
is "${made#* }" EDQUOT "a flood of empty files stops with EDQUOT"
ok "at the quota ($n files, with the root folder's entry: 100)" test "$n" -eq 99
is "$(df --output=itotal "$M" | tail -1 | tr -d ' ')" 100 "df -i on the mount shows the quota"
is "$(df --output=iavail "$M" | tail -1 | tr -d ' ')" 0 "and no room left"
is "$($FSOP mkdir "$M/d")" EDQUOT "mkdir beyond the quota fails"
is "$($FSOP symlink f1 "$M/l")" EDQUOT "so does symlink"
is "$($FSOP link "$M/f1" "$M/h")" EDQUOT "and link"
is "$($FSOP mknod-fifo "$M/p")" EDQUOT "and mknod"
is "$($FSOP rename "$M/old/f1" "$M/old/g1")" EDQUOT "and renaming a source file, which needs a whiteout"
is "$($FSOP unlink "$M/old/f2")" EDQUOT "and deleting a source file, which adds a whiteout"
is "$(cat "$M/old/f2")" 2 "which is still there"
is "$($FSOP open "$M/old/f3" w)" EDQUOT "and copying a source file up"
is "$($FSOP stat "$M/d")$($FSOP stat "$M/old/g1")$(cat "$M/old/f1")" ENOENTENOENT1 "the refused operations left nothing behind"
is "$($FSOP unlink "$M/f0")" OK "removing what the delta made works at the quota"
is "$($FSOP mkdir "$M/d")" OK "and makes room for one more"
is "$($FSOP mkdir "$M/d2")" EDQUOT "and one only"

umount_rlsfs "$M"
ok "the delta at its quota diffs" "$RLS" diff "$D"
mount_rlsfs "$S" "$M" -p full-access --delta "$D" --max-delta-files 100 ||
	{ echo "Bail out! second mount failed"; exit 1; }
is "$($FSOP mkdir "$M/d2")" EDQUOT "mounted again, the entries already there count"
umount_rlsfs "$M"
mount_rlsfs "$S" "$M" -p full-access --delta "$D" --max-delta-files 50 ||
	{ echo "Bail out! third mount failed"; exit 1; }
is "$($FSOP unlink "$M/f1")" OK "above a smaller quota, the delta can still shrink"
is "$($FSOP mknod-fifo "$M/p")" EDQUOT "but not grow"
umount_rlsfs "$M"
ok "and it commits" "$RLS" commit "$D"
is "$(ls "$S" | grep -c '^f[0-9]')" 97 "with every file that was made and kept"
is "$(ls -d "$S/d")" "$S/d" "and the folder"
done_testing
