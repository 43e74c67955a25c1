#!/bin/bash
# Every denial tried from around the side: symlinks, hard links, renames,
# "..", the policy file, and a source changed under a live mount.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt
mkdir -p "$S/w" "$S/r" "$S/.rls" "$S/w/sub"
echo secret > "$S/.env"
echo secret > "$S/w/.env"
echo code > "$S/r/code.py"
echo inner > "$S/w/sub/inner"
ln -s ../.env "$S/w/to-secret"
ln -s /etc/hostname "$S/r/abs-link"
cat > "$S/.rls/policy.yml" <<'YAML'
rules:
  - { pattern: "**", permission: write }
  - { pattern: "/r/**", permission: read }
  - { pattern: "**/.env*", permission: none }
YAML
mount_rlsfs "$S" "$M" || { echo "Bail out! mount failed"; exit 1; }

is "$(errno_of cat "$M/w/to-secret")" ENOENT "a symlink in the source to a hidden file does not open it"
ln -s ../.env "$M/w/my-link"
is "$(errno_of cat "$M/w/my-link")" ENOENT "nor does a symlink made in the sandbox"
ln -s "$M/.env" "$M/w/abs-link"
is "$(errno_of cat "$M/w/abs-link")" ENOENT "nor an absolute one"
is "$(errno_of cat "$M/w/../.env")" ENOENT "'..' does not reach a hidden file"
is "$(errno_of cat "$M/r/../w/../.env")" ENOENT "nor does a longer detour"
is "$($FSOP link "$M/.env" "$M/w/hard")" ENOENT "a hard link to a hidden file cannot be made"
is "$($FSOP link "$M/r/code.py" "$M/w/hard")" EACCES "nor one that would make a read-only file writable"
is "$($FSOP rename "$M/r/code.py" "$M/w/code.py")" EACCES "a read-only file cannot be renamed into a writable place"
is "$($FSOP rename "$M/w/.env" "$M/w/visible")" ENOENT "a hidden file cannot be renamed into view"
is "$($FSOP open "$M/.rls/policy.yml" w)" EACCES "the policy file is not writable"
is "$($FSOP open "$M/.rls/new" wc)" EACCES "nothing can be added to .rls/"
is "$($FSOP unlink "$M/.rls/policy.yml")" EACCES "the policy file cannot be deleted"
is "$($FSOP rename "$M/.rls" "$M/w/rls")" EACCES "the .rls folder cannot be renamed away"
is "$($FSOP rename "$M/w/sub" "$M/w/sub2")" EXDEV "a source folder is not renamed in place (mv copies it)"
mv "$M/w/sub" "$M/w/sub2"
is "$(cat "$M/w/sub2/inner" 2>&1)" inner "mv(1) moves a source folder by copying"
is "$($FSOP stat "$M/w/sub")" ENOENT "and the old name is gone"

# The source changes under the mount: a folder becomes a symlink to /etc.
# rlsfs never follows it: openat2 with RESOLVE_NO_SYMLINKS.
mkdir -p "$S/w/swap"
ls "$M/w/swap" >/dev/null
rmdir "$S/w/swap" && ln -s /etc "$S/w/swap"
is "$(errno_of cat "$M/w/swap/hostname")" ENOENT "a source folder swapped for a symlink does not lead outside the tree"

# Races: renaming a hidden file while another process opens names around it.
(for i in $(seq 1 200); do mv "$M/w/x" "$M/w/y" 2>/dev/null; mv "$M/w/y" "$M/w/x" 2>/dev/null; done) &
echo data > "$M/w/x"
leak=0
for i in $(seq 1 200); do
	cat "$M/w/.env" >/dev/null 2>&1 && leak=1
	cat "$M/.env" >/dev/null 2>&1 && leak=1
done
wait
is "$leak" 0 "no hidden file opens while renames race beside it"

umount_rlsfs "$M"
is "$(cat "$S/.rls/policy.yml" | head -1)" "rules:" "the policy file is untouched"
is "$(cat "$S/.env")" secret "the hidden file is untouched"
done_testing
