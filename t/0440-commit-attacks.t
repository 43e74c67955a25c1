#!/bin/bash
# What a delta made inside the sandbox, or a source changed under it, can
# make `rls commit` do: it never writes outside the tree, never follows a
# symlink it did not make, never removes content the sandbox could not see.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt O=$T/outside
cat > "$T/policy.yml" <<'YAML'
rules:
  - { pattern: "**", permission: write }
  - { pattern: "**/.env*", permission: none }
YAML
fresh() {
	rm -rf "$S" "$O" "$T/delta"
	mkdir -p "$S" "$O/b"
	echo out > "$O/file"
	chmod 600 "$O/file"
	chmod 755 "$O"
}
outside_state() { (cd "$O" && find . -printf '%p %s %m\n' | sort | md5sum); }

# 1. A source folder swapped for a symlink after the sandbox wrote into it.
fresh
mkdir -p "$S/a/b"
mount_rlsfs "$S" "$M" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }
echo f > "$M/a/b/file"
umount_rlsfs "$M"
before=$(outside_state)
rm -rf "$S/a" && ln -s "$O" "$S/a"
fails "commit refuses a source folder that became a symlink" "$RLS" commit "$T/delta"
is "$(outside_state)" "$before" "and writes nothing where the symlink leads"
test -e "$O/b/file"; is $? 1 "the file is not created outside the tree"
"$RLS" discard "$T/delta" >/dev/null 2>&1 || rm -rf "$T/delta"

# 2. A source symlink to a folder outside, replaced in the sandbox by a
#    folder of the same name with a file in it.
fresh
ln -s "$O" "$S/link"
mount_rlsfs "$S" "$M" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }
rm "$M/link" && mkdir "$M/link" && echo g > "$M/link/file"
umount_rlsfs "$M"
before=$(outside_state)
ok "commit applies a symlink replaced by a folder" "$RLS" commit "$T/delta"
test -d "$S/link" && ! test -L "$S/link"; is $? 0 "the folder is a real folder in the tree"
is "$(cat "$S/link/file" 2>&1)" g "with the file in it"
is "$(outside_state)" "$before" "and nothing changed where the symlink led"

# 3. A folder's attributes changed in the sandbox; before the commit the
#    folder becomes a symlink to a file and to a folder outside.
for mode in ours theirs; do
	fresh
	mkdir -p "$S/d" "$S/e"
	mount_rlsfs "$S" "$M" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }
	chmod 777 "$M/d" && chmod 700 "$M/e" && echo x > "$M/e/new"
	umount_rlsfs "$M"
	rmdir "$S/d" && ln -s "$O/file" "$S/d"
	rm -rf "$S/e" && ln -s "$O/b" "$S/e"
	before=$(outside_state)
	"$RLS" commit --on-conflict=$mode "$T/delta" >"$T/out" 2>&1
	is "$?" 3 "--on-conflict=$mode: the commit finishes and reports its conflicts (exit 3)"
	is "$(grep -c '^conflict: [de] ' "$T/out")" 2 "--on-conflict=$mode: both folders are named as conflicts"
	is "$(outside_state)" "$before" "--on-conflict=$mode: a folder's mode is not set through a symlink that replaced it"
	is "$(stat -c %a "$O/file")" 600 "--on-conflict=$mode: the file outside keeps its mode"
	if [ $mode = ours ]; then
		is "$(stat -c '%F %a' "$S/d" "$S/e" | tr '\n' ' ')" "directory 777 directory 700 " \
			"--on-conflict=ours: the sandbox's folders, with their modes, replace the symlinks"
		is "$(cat "$S/e/new")" x "--on-conflict=ours: with the file written into one"
	else
		is "$(readlink "$S/d") $(readlink "$S/e")" "$O/file $O/b" "--on-conflict=theirs: the source's symlinks stay"
	fi
	"$RLS" discard "$T/delta" >/dev/null 2>&1 || rm -rf "$T/delta"
done

# 4. A folder removed in the sandbox gains a hidden file in the source
#    before the commit; and one removed and made again.
fresh
mkdir -p "$S/gone" "$S/again"
echo v > "$S/gone/v" && echo v > "$S/again/v"
mount_rlsfs "$S" "$M" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }
rm -r "$M/gone" "$M/again" && mkdir "$M/again" && echo n > "$M/again/new"
umount_rlsfs "$M"
echo late > "$S/gone/.env" && echo late > "$S/again/.env"
"$RLS" commit "$T/delta" >/dev/null 2>&1
is "$(cat "$S/gone/.env" 2>&1)" late "a hidden file that appeared in a deleted folder survives the commit"
is "$(cat "$S/again/.env" 2>&1)" late "and one in a folder deleted and made again"
is "$(cat "$S/again/new" 2>&1)" n "beside the new folder's content"
test -e "$S/gone/v" || test -e "$S/again/v"; is $? 1 "while the visible files the sandbox deleted are gone"

# 5. A file hard-linked to a hidden one, rewritten and deleted.
fresh
mkdir -p "$S/w"
echo secret > "$S/w/.env"
ln "$S/w/.env" "$S/w/alias"
ln "$S/w/.env" "$S/w/alias2"
mount_rlsfs "$S" "$M" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }
echo rewritten > "$M/w/alias"
rm "$M/w/alias2"
umount_rlsfs "$M"
ok "commit of the rewritten and deleted names" "$RLS" commit "$T/delta"
is "$(cat "$S/w/.env")" secret "the hidden file hard-linked to them keeps its content"
is "$(cat "$S/w/alias")" rewritten "while the visible name has the new one"

# 6. A folder swapped for a symlink while a commit that changes its mode is
#    interrupted: the recovery must not change what the symlink leads to.
leaked=0 crashed=0
for n in 0 1 2 3 4 5 6; do
	fresh
	mkdir -p "$S/d"
	chmod 755 "$S/d" "$O"
	mount_rlsfs "$S" "$M" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }
	chmod 700 "$M/d"
	echo x > "$M/new"
	umount_rlsfs "$M"
	RLS_COMMIT_CRASH_AFTER=$n "$RLS" commit "$T/delta" >/dev/null 2>&1 && continue
	crashed=$((crashed + 1))
	[ -d "$S/d" ] && [ ! -L "$S/d" ] || continue
	mv "$S/d" "$T/d.moved" && ln -s "$O" "$S/d"
	"$RLS" diff "$T/delta" >/dev/null 2>&1
	[ "$(stat -c %a "$O")" = 755 ] || leaked=1
	rm -f "$S/d"
done
isnt "$crashed" 0 "commits were interrupted before their folder modes were set"
is "$leaked" 0 "recovery never sets a folder's mode through a symlink put in its place"

done_testing
