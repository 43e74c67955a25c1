#!/bin/bash
# What is written through rlsfs lives in the delta: after unmount and a
# new mount over the same delta, the tree is what native ext4 shows after
# the same calls; the source is untouched throughout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-posix.sh"
need_fuse

mkdir -p "$S0/dir/sub" "$S0/gone" "$S0/keep"
printf 'one\n' > "$S0/dir/one"
printf 'two\n' > "$S0/dir/sub/two"
printf 'mapped?\n' > "$S0/map"
printf 'bye\n' > "$S0/gone/f"
printf 'stay\n' > "$S0/keep/f"
printf 'old\n' > "$S0/old"
posix_setup --delta "$T/delta" || { echo "Bail out! mount failed"; exit 1; }

changes='
$FSOP mmap-write map "written through mmap"
$FSOP mmap-write mnew "a new mapped file"
printf "appended\n" >> dir/one
printf "fresh\n" > new
mkdir -p made/deeper && printf "deep\n" > made/deeper/f
$FSOP rename made made2
mv dir moved
rm -r gone
$FSOP rename old keep/f
$FSOP chmod new 751
$FSOP utimens new 1111111111 222222222
ln -s moved/one sl
$FSOP link new hard
$FSOP mknod-fifo fifo
$FSOP setxattr moved/sub/two user.tag yes
$FSOP pwrite sparse 5368709120 Z
$FSOP truncate moved/sub/two 2
'
same "a mixed set of changes gives the same outcomes" "$changes"
same_text "$(source_sum)" "$SOURCE_BEFORE" "the source tree is not modified while mounted"

umount_rlsfs "$M"
same_text "$(source_sum)" "$SOURCE_BEFORE" "the source tree is not modified by the unmount"
mount_rlsfs "$S" "$M" -p full-access --delta "$T/delta" || { echo "Bail out! remount failed"; exit 1; }

check='
cat map; echo; cat mnew; echo; cat moved/one new made2/deeper/f keep/f
$FSOP stat dir; $FSOP stat gone; $FSOP stat old; $FSOP stat made
stat -c "%n %a %.9Y" new; stat -c "%h" new hard
$FSOP readlink sl; cat sl; stat -c %F fifo
$FSOP getxattr moved/sub/two user.tag; cat moved/sub/two; echo
stat -c %s sparse; $FSOP pread sparse 5368709120 1
'
same "after unmount and remount the changes are all still there" "$check"
same_text "$(tree_listing "$M")" "$(tree_listing "$N")" "after remount the tree is the native one"
rm -f "$M/sparse" "$N/sparse"
same_text "$(tree_content "$M")" "$(tree_content "$N")" "after remount the contents are the native ones"
same_text "$(source_sum)" "$SOURCE_BEFORE" "the source tree is still not modified after the remount"
done_testing
