#!/bin/bash
# The kernel keeps a folder's listing between opens (rlsfs(1), CONSISTENCY):
# every change made through the mount shows in the next listing at once,
# a change made to the source by someone else shows within moments (the
# source folder is watched), and a hidden name never enters a listing, kept or not.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt
mkdir -p "$S/w/d" "$S/w/gone" "$S/ro"
echo 1 > "$S/w/d/a"
echo s > "$S/w/d/.env"
echo 1 > "$S/w/gone/f"
echo 1 > "$S/ro/f"
cat > "$T/policy.yml" <<'YAML'
rules:
  - { pattern: "**", permission: read }
  - { pattern: "/w/**", permission: write }
  - { pattern: "**/.env*", permission: none }
YAML
mount_rlsfs "$S" "$M" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }

# list DIR: its names on one line, twice (the second from a kept listing)
list() { ls -A "$1" > /dev/null; ls -A "$1" | tr '\n' ' '; }

is "$(list "$M/w/d")" "a " "a listing read twice shows the visible entry alone"
echo 2 > "$M/w/d/b"
is "$(list "$M/w/d")" "a b " "a file created through the mount is listed at once"
mkdir "$M/w/d/sub"
is "$(list "$M/w/d")" "a b sub " "so is a folder"
ln -s a "$M/w/d/sym"; ln "$M/w/d/b" "$M/w/d/hard"; mkfifo "$M/w/d/fifo"
is "$(list "$M/w/d")" "a b fifo hard sub sym " "and a symlink, a hard link and a fifo"
mv "$M/w/d/b" "$M/w/d/c"
is "$(list "$M/w/d")" "a c fifo hard sub sym " "a rename within the folder shows at once"
mv "$M/w/d/c" "$M/w/c"
is "$(list "$M/w/d") / $(list "$M/w")" "a fifo hard sub sym  / c d gone " "a rename out of it shows in both folders"
rm "$M/w/d/a" "$M/w/d/hard" "$M/w/d/fifo" "$M/w/d/sym"; rmdir "$M/w/d/sub"
is "$(list "$M/w/d")" "" "removals show at once: a source file (whiteout) and the delta's entries"
rm -r "$M/w/gone"; mkdir "$M/w/gone"
is "$(list "$M/w/gone")" "" "a folder made where a source folder was removed lists empty (opaque)"

# a folder held open sees the change when read again from the start
python3 - "$M/w/d" > "$T/held" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
before = sorted(os.listdir(fd))
open(sys.argv[1] + "/late", "w").close()
os.lseek(fd, 0, os.SEEK_SET)
print(before, sorted(os.listdir(fd)))
PY
is "$(cat "$T/held")" "[] ['late']" "a folder held open lists a new entry after rewinddir"

# someone else changes the source
is "$(list "$M/ro")" "f " "a read-only folder lists its source file"
sleep 0.01; echo 2 > "$S/ro/g"
is "$(eventually "f g " list "$M/ro")" "f g " "a file added to the source shows in the listings"
rm "$S/ro/f"
is "$(eventually "g " list "$M/ro")" "g " "a file removed from the source goes from them"
touch "$M/w/d/x"; echo 3 > "$S/w/d/y"
is "$(eventually "late x y " list "$M/w/d")" "late x y " "also in a folder the mount changed before"

# hidden names, however the folder changed
echo s > "$S/ro/.env2"; echo h > "$S/ro/h"
is "$(eventually "g h " list "$M/ro")" "g h " "a hidden name added to the source is never listed"
for i in 1 2 3; do touch "$M/w/d/t$i"; rm "$M/w/d/t$i"; ls -A "$M/w/d" > "$T/ls.$i"; done
is "$(cat "$T/ls".* | grep -c env)" 0 "nor after changes through the mount"
is "$($FSOP open "$M/w/d/.env" r)" ENOENT "and the hidden file still cannot be opened"

umount_rlsfs "$M"
done_testing
