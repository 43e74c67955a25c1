#!/bin/bash
# Rules ending in "/" apply to folders (and what is below them), not to
# files of the same name.  RENAME_EXCHANGE judged each name by what was
# there, not by what would arrive: a file swapped with a folder landed at a
# name where only a folder may be written, and commit then put it in the
# tree.  Each name is now judged as the type that arrives there, as mkdir
# and create judge it.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt
mkdir -p "$S/out/d" "$S/w"
echo f > "$S/w/f"
echo keep > "$S/out/d/keep"
cat > "$T/policy.yml" <<'YAML'
rules:
  - { pattern: "**", permission: write }
  - { pattern: "/out/**", permission: read }
  - { pattern: "/out/d/", permission: write }
  - { pattern: "/w/ro/", permission: read }
YAML
mount_rlsfs "$S" "$M" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }

is "$($FSOP open "$M/out/d/new" wc)" OK "the folder /out/d is writable (the rule's own case)"
is "$($FSOP open "$M/out/e" wc)" EACCES "a file cannot be made beside it"
is "$($FSOP rename "$M/w/f" "$M/out/d" exchange)" EACCES \
	"a file cannot be exchanged with the folder, where only a folder may be"
is "$($FSOP rename "$M/out/d" "$M/w/f" exchange)" EACCES "whichever of the two is named first"
test -d "$M/out/d" && test -f "$M/w/f"; is $? 0 "both are still what they were"

is "$($FSOP mkdir "$M/w/ro")" EACCES "a folder cannot be made where folders are read-only"
mkdir "$M/w/empty"
is "$($FSOP rename "$M/w/empty" "$M/w/ro")" EACCES "nor renamed there"
echo g > "$M/w/g"
is "$($FSOP rename "$M/w/g" "$M/w/ro")" OK "while a file may take that name"
is "$($FSOP rename "$M/w/empty" "$M/w/ro" exchange)" EACCES "and then not be exchanged with the folder"
test -f "$M/w/ro" && test -d "$M/w/empty"; is $? 0 "which leaves both in place"
umount_rlsfs "$M"

ok "the delta commits" "$RLS" commit "$T/delta"
test -d "$S/out/d" && test -f "$S/out/d/new"; is $? 0 "no file took the folder's name in the tree"
test -f "$S/w/ro"; is $? 0 "and no folder the file's"
done_testing
