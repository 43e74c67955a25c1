#!/bin/bash
# Hidden entries leave no trace: not in listings, link counts or sizes, and
# no denial answers differently because a hidden entry exists.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt
mkdir -p "$S/plain" "$S/withsecrets/secrets/deeper" "$S/w/keep" "$S/w/empty"
for i in 1 2 3; do echo "$i" > "$S/plain/f$i"; echo "$i" > "$S/withsecrets/f$i"; done
for i in $(seq 1 200); do echo "k$i" > "$S/withsecrets/secrets/key$i"; done
echo s > "$S/withsecrets/.env"
echo s > "$S/w/keep/.env"
echo visible > "$S/w/keep/visible"
ln "$S/w/keep/.env" "$S/w/alias"
cat > "$T/policy.yml" <<'YAML'
rules:
  - { pattern: "**", permission: read }
  - { pattern: "/w/**", permission: write }
  - { pattern: "**/.env*", permission: none }
  - { pattern: "**/secrets/**", permission: none }
YAML
mount_rlsfs "$S" "$M" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }

is "$(ls -A "$M/withsecrets" | tr '\n' ' ')" "f1 f2 f3 " "a listing shows only the visible entries"
is "$(stat -c '%h %s %b' "$M/withsecrets")" "$(stat -c '%h %s %b' "$M/plain")" \
	"a folder holding hidden entries has the link count, size and blocks of one that holds none"
is "$(find "$M/withsecrets" | wc -l)" 4 "find sees no hidden entry"
is "$(du -s --apparent-size "$M/withsecrets" | cut -f1)" "$(du -s --apparent-size "$M/plain" | cut -f1)" \
	"du does not count hidden content"
is "$(stat -c %h "$M/w/alias")" 1 "a file hard-linked to a hidden one reports one link"
is "$($FSOP stat "$M/withsecrets/secrets")" ENOENT "a hidden folder cannot be stat'ed"
is "$($FSOP stat "$M/withsecrets/secrets/key1")" ENOENT "nor anything in it"
is "$($FSOP open "$M/w/keep/.env" wc)" EACCES "creating an existing hidden name is EACCES"
is "$($FSOP open "$M/w/.env" wc)" EACCES "creating a hidden name that does not exist is EACCES too"
is "$($FSOP mkdir "$M/w/keep/.env")" EACCES "mkdir over an existing hidden name is EACCES"
is "$($FSOP mkdir "$M/w/.env")" EACCES "mkdir of an absent hidden name is EACCES too"
is "$($FSOP unlink "$M/w/keep/.env")" ENOENT "unlink of an existing hidden name is ENOENT"
is "$($FSOP unlink "$M/w/.envx")" ENOENT "unlink of an absent hidden name is ENOENT too"
is "$($FSOP rename "$M/w/keep/visible" "$M/w/keep/.env")" EACCES "renaming onto an existing hidden name is EACCES"
is "$($FSOP rename "$M/w/keep/visible" "$M/w/.env")" EACCES "renaming onto an absent hidden name is EACCES too"

# A folder whose only entries are hidden looks empty but cannot be removed:
# removing it would destroy what the sandbox cannot see.  It answers as a
# folder with visible entries would.
rm -f "$M/w/keep/visible"
is "$(ls -A "$M/w/keep")" "" "a folder with only hidden entries lists empty"
is "$($FSOP rmdir "$M/w/keep")" ENOTEMPTY "and cannot be removed: it is not empty, as a visible folder would say"
rm -rf "$M/w/keep" 2>/dev/null
test -d "$M/w/keep"; is $? 0 "rm -rf leaves it in place"
is "$($FSOP rename "$M/w/keep" "$M/w/moved")" EXDEV "it cannot be renamed from under its rule"
mv "$M/w/keep" "$M/w/moved" 2>/dev/null
test -d "$M/w/keep"; is $? 0 "mv(1), falling back to copying, cannot move it either"
is "$($FSOP stat "$M/w/moved/.env")" ENOENT "and the hidden file did not become visible at the copy"
is "$($FSOP rmdir "$M/w/empty")" OK "a folder that is really empty can be removed"

umount_rlsfs "$M"
test -f "$S/w/keep/.env"; is $? 0 "the hidden file is still in the source"
done_testing
