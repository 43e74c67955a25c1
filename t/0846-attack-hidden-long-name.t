#!/bin/bash
# An existence oracle: the delta's index once held paths of at most 511
# bytes, and rlsfs asks it about every name of a source folder it lists,
# hidden ones included.  A hidden entry whose path was longer made its
# parent's listing fail (ENAMETOOLONG), telling the sandbox that it was
# there.  No
# listing, stat or lookup may fail or differ because of a hidden entry; and
# a folder holding only hidden entries answers rmdir as a folder with
# visible ones does.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt
d250=$(printf 'd%.0s' $(seq 1 250))
long=$(printf 'e%.0s' $(seq 1 200)) twin=$(printf 'f%.0s' $(seq 1 200))
hidden=.env-$(printf 'x%.0s' $(seq 1 200))
A=w/$d250/$long B=w/$d250/$twin
mkdir -p "$S/$A" "$S/$B" "$S/w/only" "$S/w/full"
echo v > "$S/$A/v" && echo v > "$S/$B/v"
echo secret > "$S/$A/$hidden"
echo secret > "$S/w/only/$hidden"
echo v > "$S/w/full/v"
touch -d @1000000000 "$S/$A" "$S/$B"
cat > "$T/policy.yml" <<'YAML'
rules:
  - { pattern: "**", permission: write }
  - { pattern: "**/.env*", permission: none }
YAML
mount_rlsfs "$S" "$M" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }

is "$(ls -A "$M/$A" 2>&1)" v "a folder with a hidden entry too long for the index lists its visible entries"
is "$(ls -A "$M/$A")" "$(ls -A "$M/$B")" "exactly as its twin without the hidden entry"
is "$(stat -c '%h %s %Y %a' "$M/$A")" "$(stat -c '%h %s %Y %a' "$M/$B")" "and stats the same"
is "$($FSOP stat "$M/$A/$hidden")" ENOENT "the hidden name is not there"
is "$($FSOP stat "$M/$B/$hidden")" ENOENT "as where it does not exist"
is "$($FSOP open "$M/$A/$hidden" wc)" "$($FSOP open "$M/$B/$hidden" wc)" "creating it answers alike"
is "$(find "$M/w" -name '.env*' 2>&1 | wc -l)" 0 "find over the tree runs through and shows none of it"
echo new > "$M/$A/new"
is "$(cat "$M/$A/new")" new "a file is made beside it"
is "$(ls -A "$M/$A" | tr '\n' ' ')" "new v " "and listed with the rest"

is "$(ls -A "$M/w/only")" "" "a folder whose only entry is hidden lists empty"
is "$($FSOP rmdir "$M/w/only")" "$($FSOP rmdir "$M/w/full")" "and answers rmdir as a folder with a visible entry"
rm -rf "$M/w/only" 2>/dev/null
test -d "$M/w/only"; is $? 0 "rm -rf leaves it"
umount_rlsfs "$M"
is "$(cat "$S/w/only/$hidden")" secret "the hidden file is untouched in the source"
is "$(cat "$S/$A/$hidden")" secret "and so is the long one"
done_testing
