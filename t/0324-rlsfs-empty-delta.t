#!/bin/bash
# While the delta holds nothing (a mount only read so far), rlsfs asks its
# index nothing to look a name up or open a file; the first change through
# the mount ends that at once.  Each case asks the daemon itself
# (stat --cached=never sends GETATTR past the kernel's cache), after a
# change made through the mount, in a mount that was read first.
. "$(dirname "$0")/lib.sh"
need_fuse
stat --cached=never / >/dev/null 2>&1 || skip_all "stat has no --cached=never"

S=$T/src M=$T/mnt
mkdir -p "$S/a/d"
for i in 1 2 3; do echo "$i" > "$S/a/f$i"; done
chmod 644 "$S"/a/f*
mount_rlsfs "$S" "$M" -p full-access || { echo "Bail out! mount failed"; exit 1; }

# mode FILE: the mode the daemon reports now
mode() { stat --cached=never -c %a "$1" 2>&1; }

is "$(mode "$M/a/f1")" 644 "a fresh mount shows the source's mode"
cat "$M/a/f2" > /dev/null
chmod 600 "$M/a/f1"
is "$(mode "$M/a/f1")" 600 "a change of mode through the mount shows at the daemon's next answer"
echo more >> "$M/a/f2"
is "$(stat --cached=never -c %s "$M/a/f2")" 7 "so does a write"
is "$(cat "$M/a/f2")" "2
more" "and the file opens on its new content"
touch "$M/a/d/new"
is "$(ls -l "$M/a/d" | grep -c ' new$')" 1 "a file made through the mount is listed with its attributes"
rm "$M/a/f3"
ok "a file removed through the mount is gone" test ! -e "$M/a/f3"
umount_rlsfs "$M"
mount_rlsfs "$S" "$M" -p full-access --delta "$T/delta2" || { echo "Bail out! mount failed"; exit 1; }
is "$(mode "$M/a/f1")" 644 "the source is as it was"
done_testing
