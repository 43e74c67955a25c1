#!/bin/bash
# The kernel keeps a file's pages and attributes between opens (rlsfs(1),
# CACHING): what is changed through the mount is read at once through
# every name that shows it, and every open still asks rlsfs.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt
mkdir -p "$S/w" "$S/ro"
echo one > "$S/w/src"
echo one > "$S/ro/f"
cat > "$T/policy.yml" <<'YAML'
rules:
  - { pattern: "**", permission: read }
  - { pattern: "/w/**", permission: write }
YAML
mount_rlsfs "$S" "$M" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }

# twice: the second read is the one the kernel may answer from its cache
twice() { cat "$1" > /dev/null; cat "$1"; }

is "$(twice "$M/w/src")" one "a source file reads the same from the kept pages"
echo two > "$M/w/src"
is "$(twice "$M/w/src")" two "a rewrite through the mount is read at the next open"

echo one > "$M/w/a"
ln "$M/w/a" "$M/w/b"
twice "$M/w/b" > /dev/null
stat -c %s "$M/w/b" > /dev/null
echo "longer now" > "$M/w/a"
is "$(cat "$M/w/b")" "longer now" "a write through one name of a linked file is read through the other"
is "$(stat -c %s "$M/w/b")" 11 "with its new size"
truncate -s 3 "$M/w/b"
is "$(cat "$M/w/a")" lon "a truncation through the other name shows through the first"
printf 'XY' | dd of="$M/w/a" bs=1 seek=1 conv=notrunc status=none
is "$(cat "$M/w/b")" lXY "so does a write in place"

is "$($FSOP open "$M/ro/f" w)" EACCES "a file read before still cannot be opened for writing where the policy says read"

umount_rlsfs "$M"
done_testing
