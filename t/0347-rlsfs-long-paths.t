#!/bin/bash
# Paths of any length a filesystem allows: the index keys an entry by its
# parent folder and name, so a file 4,000 bytes deep is written, listed,
# renamed (with its folder), diffed and committed like any other, and the
# delta keeps it across a remount; an entry at such a path that a policy
# hides leaves its folder's listing as if it were not there.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt
n197=$(printf 'n%.0s' $(seq 1 197))
deep=
for i in $(seq 1 19); do deep=$deep/$(printf %02d "$i")$n197; done	# 19 names of 199 bytes
deep=${deep#/}
mkdir -p "$S/keep"
mount_rlsfs "$S" "$M" -p full-access || { echo "Bail out! mount failed"; exit 1; }

mkdir -p "$M/top/$deep"
p=/top/$deep/$(printf 'f%.0s' $(seq 1 195))
is "${#p}" 4000 "the path is 4,000 bytes (plus the mount point's)"
echo content > "$M$p"; is $? 0 "a file is written at it"
is "$(cat "$M$p")" content "and read back"
is "$(ls "$(dirname "$M$p")")" "$(basename "$p")" "and listed in its folder"
mv "$M/top" "$M/moved"; is $? 0 "its top folder is renamed"
q=/moved/${p#/top/}
is "$(cat "$M$q" 2>&1)" content "and the file is found at its new path"
test -e "$M$p"; is $? 1 "and not at its old one"
umount_rlsfs "$M"
mount_rlsfs "$S" "$M" -p full-access || { echo "Bail out! remount failed"; exit 1; }
is "$(cat "$M$q" 2>&1)" content "after a remount too"
umount_rlsfs "$M"

out=$("$RLS" diff "$T/delta" 2>&1); rc=$?
is "$rc" 0 "rls diff runs"
like "$out" "A ${q#/}" "and lists the file by its whole path"
"$RLS" commit "$T/delta" > /dev/null 2>&1; is $? 0 "rls commit applies it"
is "$(cat "$S$q" 2>&1)" content "the source has the file at its 4,002-byte path"
test -d "$S/top"; is $? 1 "and not the old folder"

# an entry of the delta at a long path that a later policy hides: its
# folder lists as if it were not there
mount_rlsfs "$S" "$M" -p full-access || { echo "Bail out! mount failed"; exit 1; }
dir=$(dirname "$q")
hidden=.env-$(printf 's%.0s' $(seq 1 100))
echo secret > "$M$dir/$hidden"; is $? 0 "a file is written beside it at a ${#dir}-byte path"
umount_rlsfs "$M"
cat > "$T/hide.yml" <<'YAML'
rules:
  - { pattern: "**", permission: write }
  - { pattern: "**/.env*", permission: none }
YAML
mount_rlsfs "$S" "$M" -p "$T/hide.yml" || { echo "Bail out! mount failed"; exit 1; }
is "$(ls -A "$M$dir" 2>&1)" "$(basename "$q")" "under a policy hiding it, its folder lists the rest"
is "$($FSOP stat "$M$dir/$hidden")" ENOENT "and the hidden name is not there"
umount_rlsfs "$M"

done_testing
