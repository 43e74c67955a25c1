#!/bin/bash
# A folder 250 levels deep, made in the sandbox and renamed: rename checks
# every entry below the folder, and did so with one recursion per level,
# each level costing tens of KiB of rlsfs's stack.  The depth is the
# sandbox's choice; the stack is not.  rlsfs runs here with a 1 MiB stack
# limit (hosts differ; the work per level must not depend on it), and the
# deep tree is then committed and discarded.
#
# A 400-level tree of the source is walked and read through the mount
# too.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt D=$T/delta
mkdir -p "$S/w"
deep400=$(printf 'z/%.0s' $(seq 1 400))
mkdir -p "$S/deep/$deep400" && echo bottom > "$S/deep/${deep400}f"

stack=$(ulimit -S -s)
ulimit -S -s 1024
mount_rlsfs "$S" "$M" -p full-access || { echo "Bail out! mount failed"; exit 1; }
ulimit -S -s "$stack"

deep=$(printf 'a/%.0s' $(seq 1 250))
ok "a folder 250 levels deep can be made" mkdir -p "$M/w/$deep"
echo at-the-bottom > "$M/w/${deep}f"
is "$($FSOP rename "$M/w/a" "$M/w/b")" OK "and renamed"
is "$(cat "$M/w/b/${deep#a/}f" 2>&1)" at-the-bottom "its deepest file is under the new name"
test -e "$M/w/a"; is $? 1 "and not under the old one"
# An exchange moves both trees through a scratch name.
deep240=$(printf 'a/%.0s' $(seq 1 240))
mkdir -p "$M/w/x/$deep240" "$M/w/y" && echo exchanged > "$M/w/x/${deep240}f"
is "$($FSOP rename "$M/w/x" "$M/w/y" exchange)" OK "a folder 240 levels deep is exchanged with another"
is "$(cat "$M/w/y/${deep240}f" 2>&1)" exchanged "which now holds the deep file"
mountpoint -q "$M"; is $? 0 "rlsfs is still serving"

is "$(find "$M/deep" -name f | wc -l)" 1 "a 400-level source tree is walked to the bottom"
is "$(cat "$M/deep/${deep400}f" 2>&1)" bottom "and its deepest file read"
umount_rlsfs "$M"

ok "the deep trees are committed" "$RLS" commit "$D"
is "$(cat "$S/w/b/${deep#a/}f" 2>&1)" at-the-bottom "the renamed one lands in the source"
is "$(cat "$S/w/y/${deep240}f" 2>&1)" exchanged "so does the exchanged one"
test -d "$S/w/x" && ! test -e "$S/w/x/a"; is $? 0 "and the empty folder exchanged with it"

ulimit -S -s 1024
mount_rlsfs "$S" "$M" -p full-access || { echo "Bail out! mount failed"; exit 1; }
ulimit -S -s "$stack"
mkdir -p "$M/w/n/$deep" && mv "$M/w/n" "$M/w/m"
rm -rf "$M/w/b"
test -e "$M/w/b"; is $? 1 "a deep source tree is removed through the mount"
umount_rlsfs "$M"
ok "a delta holding a deep tree, renamed, is discarded" "$RLS" discard "$D"
test -e "$S/w/m"; is $? 1 "and nothing of it reaches the source"
is "$(cat "$S/w/b/${deep#a/}f" 2>&1)" at-the-bottom "the deep tree it removed is still there"
done_testing
