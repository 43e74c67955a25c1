#!/bin/bash
# A program in the sandbox writes one byte at a far offset: a file of
# gigabytes that costs the delta one block.  Committed to a source on
# another file system (where the data file is copied, not moved), or
# copied up from a sparse source file, it must stay sparse and not cost
# the disk its whole size in zeros.
. "$(dirname "$0")/lib.sh"
need_fuse
need_root

S=$T/src M=$T/mnt
mkdir -p "$S" "$T/disk"
truncate -s 2G "$S/image" && printf 'head' | dd of="$S/image" conv=notrunc status=none
mount -t tmpfs -o size=64m tmpfs "$T/disk" || skip_all "cannot mount a tmpfs"
at_exit "umount -l '$T/disk'"

# no quota: a file larger than the quota is refused (EFBIG), which is
# t/0860's business, not this test's
mount_rlsfs "$S" "$M" -p full-access --delta "$T/disk/delta" --max-delta-size unlimited ||
	{ echo "Bail out! mount failed"; exit 1; }
is "$($FSOP pwrite "$M/holes" 1000000000 end)" OK "a file of 1 GB with one block of data is written"
is "$($FSOP pwrite "$M/image" 1073741824 mid)" OK "a sparse source file of 2 GiB is written to"
kb=$(du -sk "$T/disk/delta" | cut -f1)
ok "copying it up kept its holes (the delta takes $kb KiB)" test "$kb" -lt 4096
is "$(head -c 4 "$M/image")" head "and its data"
umount_rlsfs "$M"
ok "the delta commits to a source on another file system" "$RLS" commit "$T/disk/delta"
is "$(stat -c %s "$S/holes")" 1000000003 "the sparse file arrives with its size"
blocks=$(stat -c %b "$S/holes")
ok "and its holes ($blocks blocks of 512 bytes)" test "$blocks" -lt 2048
is "$(tail -c 3 "$S/holes")" end "and its data"
blocks=$(stat -c %b "$S/image")
ok "so does the sparse file copied up ($blocks blocks)" test "$blocks" -lt 2048
is "$(dd if="$S/image" bs=1 skip=1073741824 count=3 status=none)" mid "with the change"
done_testing
