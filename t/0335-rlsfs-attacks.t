#!/bin/bash
# An agent inside the mount trying to get around the policy: folder
# renames that carry files to where they could not be made, exchanges,
# descriptors that outlive their name, the policy's own files, traversable
# hidden folders, hard links, races.  Each attack that fails is a test that
# it keeps failing.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt
mkdir -p "$S/w/keep" "$S/w/secret" "$S/w/plain" "$S/r" "$S/v" "$S/n/deep" "$S/conf"
echo s > "$S/.env"
echo k > "$S/w/keep/.env"
echo vis > "$S/w/keep/vis"
echo x > "$S/w/secret/x"
echo read > "$S/r/f"
echo view > "$S/v/f"
echo hidden > "$S/n/secret"
echo ok > "$S/n/deep/ok.txt"
echo one > "$S/w/one"
echo two > "$S/w/two"
echo times > "$S/w/times"
echo mode > "$S/w/mode"
ln "$S/w/keep/.env" "$S/w/alias"
cat > "$S/conf/base.yml" <<'YAML'
rules:
  - { pattern: "**", permission: write }
  - { pattern: "/r/**", permission: read }
  - { pattern: "/v/**", permission: view }
  - { pattern: "**/.env*", permission: none }
  - { pattern: "secret/", permission: none }
  - { pattern: "/n/**", permission: none }
  - { pattern: "/n/deep/ok.txt", permission: read }
YAML
cat > "$S/agent.yml" <<'YAML'
extends: conf/base.yml
rules:
  - { pattern: "/w/s/*.key", permission: none }
  - { pattern: "/w/ro/**", permission: read }
  - { pattern: "/w/ro", permission: write }
YAML
src_state() { (cd "$S" && find . -printf '%p %s %T@ %m\n' | sort | md5sum); }
before=$(src_state)
# The policy named as `rlsfs mount -p agent.yml` run from inside the tree.
cd "$S" && mount_rlsfs "$S" "$M" -p agent.yml || { echo "Bail out! mount failed"; exit 1; }
cd "$T" || exit 1

# --- the policy's own files
is "$($FSOP open "$M/agent.yml" w)" EACCES "a policy file named relative to the current folder is not writable"
is "$($FSOP open "$M/conf/base.yml" w)" EACCES "nor is a policy file it extends"
is "$($FSOP rename "$M/w/one" "$M/agent.yml")" EACCES "nor can a file be renamed over it"
is "$($FSOP mkdir "$M/.rls")" EACCES "a .rls folder cannot be made where there is none"
mkdir "$M/w/fakerls"
is "$($FSOP rename "$M/w/fakerls" "$M/.rls")" EACCES "nor can a folder made elsewhere be renamed to .rls"

# --- folder renames carry their content under the policy of the new place
mkdir "$M/w/d" && echo planted > "$M/w/d/a.key"
is "$($FSOP rename "$M/w/d" "$M/w/s")" EXDEV "a new folder cannot be renamed to where a file in it would be hidden"
is "$($FSOP stat "$M/w/s/a.key")" ENOENT "and the file did not land at the hidden name"
mkdir "$M/w/d2" && echo planted > "$M/w/d2/f"
is "$($FSOP rename "$M/w/d2" "$M/w/ro")" EXDEV "nor to where a file in it could not be written"
mkdir "$M/w/s" "$M/w/ro"
is "$($FSOP rename "$M/w/d" "$M/w/s" exchange)" EXDEV "nor exchanged with a folder there"
is "$($FSOP rename "$M/w/ro" "$M/w/d2" exchange)" EXDEV "whichever of the two is named first"
is "$($FSOP stat "$M/w/s/a.key")" ENOENT "the exchange left no file at the hidden name"
is "$($FSOP open "$M/w/s/a.key" wc)" EACCES "which cannot be created directly either"
mkdir "$M/w/empty1" "$M/w/empty2" && echo y > "$M/w/empty2/y"
is "$($FSOP rename "$M/w/empty1" "$M/w/empty2" exchange)" OK "folders whose content stays writable still exchange"
is "$(cat "$M/w/empty1/y")" y "and their content follows them"
xname=$(printf '\001rls-exchange')
mkdir "$M/$xname" && echo planted > "$M/$xname/evil"
mkdir "$M/w/e3"
isnt "$($FSOP rename "$M/w/e3" "$M/w/ro" exchange)" OK \
	"an exchange refuses to run while its scratch name holds the sandbox's files"
is "$($FSOP stat "$M/w/ro/evil")" ENOENT "so they are not swept into a read-only folder"
is "$($FSOP open "$M/w/ro/new" wc)" EACCES "into which nothing can be created directly"

# --- exchanges of files
is "$($FSOP rename "$M/r/f" "$M/w/one" exchange)" EACCES "a read-only file cannot be exchanged with a writable one"
is "$($FSOP rename "$M/w/one" "$M/r/f" exchange)" EACCES "in either order"
is "$($FSOP rename "$M/w/keep/.env" "$M/w/one" exchange)" ENOENT "a hidden file cannot be exchanged into view"
is "$($FSOP rename "$M/w/one" "$M/w/keep/.env" exchange)" ENOENT "nor a visible one exchanged with a hidden name"
is "$($FSOP rename "$M/w/one" "$M/w/.env-absent" exchange)" ENOENT "the same answer when the hidden name does not exist"
is "$($FSOP rename "$M/v/f" "$M/w/two" exchange)" EACCES "a view-only file cannot be exchanged into a readable place"

# --- descriptors
is "$($FSOP fd-truncate "$M/r/f" 0)" EINVAL "a read-only file cannot be truncated through a descriptor opened for reading"
is "$($FSOP fd-chmod "$M/r/f" 777)" EACCES "nor its mode changed through one"
is "$($FSOP mmap-write "$M/r/f" XXXX)" EACCES "nor can it be mapped shared and writable"
is "$($FSOP copy-range "$M/.env" "$M/w/copy" 10)" ENOENT "copy_file_range cannot take a hidden file as input"
is "$($FSOP copy-range "$M/v/f" "$M/w/copy" 10)" EACCES "nor a view-only one"
is "$($FSOP copy-range "$M/w/two" "$M/r/f" 10)" EACCES "nor write into a read-only one"
is "$(cat "$M/r/f")" read "the read-only file is intact after all of it"
mtime=$(stat -c %Y "$S/w/times")
$FSOP unlinked-utime "$M/w/times" 1000 >/dev/null
is "$(stat -c %Y "$S/w/times")" "$mtime" \
	"times set through a descriptor that outlived its name do not reach the source file"
$FSOP unlinked-chmod "$M/w/mode" 4777 >/dev/null
is "$(stat -c %a "$S/w/mode")" 644 "nor does a mode set that way"

# --- xattrs
is "$($FSOP getxattr "$M/w/keep/.env" user.x)" ENOENT "getxattr of a hidden file is ENOENT"
is "$($FSOP listxattr "$M/.env")" ENOENT "and so is listxattr"
is "$($FSOP setxattr "$M/v/f" user.x 1)" EACCES "setxattr of a view-only file is EACCES"
is "$($FSOP removexattr "$M/r/f" user.x)" EACCES "removexattr of a read-only file is EACCES"

# --- a hidden folder that is traversable
is "$($FSOP rmdir "$M/n/deep")" EACCES "a folder on the way to a readable file cannot be removed"
is "$($FSOP rename "$M/n" "$M/w/n")" EACCES "nor the hidden folder above it renamed"
is "$($FSOP open "$M/n/new" wc)" EACCES "nothing can be created in the hidden folder"
is "$($FSOP mkdir "$M/n/deep/sub")" EACCES "nor beside the readable file"
is "$(errno_of cat "$M/n/deep/../secret")" ENOENT "'..' out of the readable folder does not reach a hidden sibling"
is "$($FSOP link "$M/n/deep/ok.txt" "$M/w/ok.txt")" EACCES "the readable file cannot be hard-linked into a writable place"
unlike "$(ls -a "$M/n")" secret "the hidden folder lists only the way through"

# --- hidden content behind a writable name
is "$($FSOP stat "$M/w/alias" | cut -d' ' -f3)" nlink=1 "a file hard-linked to a hidden one shows one link"
echo rewritten > "$M/w/alias"
is "$(cat "$S/w/keep/.env")" k "writing it does not write the hidden file while mounted"
is "$($FSOP unlink "$M/w/alias")" OK "it can be deleted"
is "$($FSOP rmdir "$M/w/keep")" ENOTEMPTY "a folder with visible and hidden entries is not empty"
rm -f "$M/w/keep/vis"
is "$($FSOP rmdir "$M/w/keep")" ENOTEMPTY "and once only hidden ones are left it still cannot go, with the same answer"

# --- hidden names and the answers beside them: a folder hidden by a
# directory-only rule ("secret/") must not be betrayed by a create of a file
# or symlink of that name answering otherwise than where none exists.
mkdir "$M/w/plain/c1" "$M/w/plain/c2" "$M/w/plain/c3" && echo 3 > "$M/w/three"
got=$($FSOP open "$M/w/secret" wc) want=$($FSOP open "$M/w/plain/c1/secret" wc)
is "$got" "$want" "creating a file named like a hidden folder answers as where there is none"
got=$($FSOP symlink x "$M/w/secret") want=$($FSOP symlink x "$M/w/plain/c2/secret")
is "$got" "$want" "so does a symlink of that name"
got=$($FSOP rename "$M/w/two" "$M/w/secret") want=$($FSOP rename "$M/w/three" "$M/w/plain/c3/secret")
is "$got" "$want" "and a rename onto it"
is "$got" EACCES "and that answer is EACCES"
is "$($FSOP mkdir "$M/w/secret")" EACCES "mkdir of the hidden folder's name is EACCES"
is "$($FSOP stat "$M/w/secret")" ENOENT "and stat of it ENOENT"

# --- what is committed may be committed by root: no giving files away,
# no set-id programs, and no files given away, by a caller without
# CAP_FSETID and CAP_CHOWN (as every sandboxed process is; a caller with
# them may, as on ext4: t/0343)
NOCAPS=(setpriv --bounding-set=-all --inh-caps=-all --)
echo prog > "$M/w/prog"
is "$("${NOCAPS[@]}" $FSOP chmod "$M/w/prog" 4755)" EPERM "a file cannot be made set-user-id"
is "$("${NOCAPS[@]}" $FSOP chmod "$M/w/prog" 2755)" EPERM "nor set-group-id"
is "$("${NOCAPS[@]}" $FSOP chmod "$M/w/prog" 1755)" OK "the sticky bit is allowed"
if [ "$(id -u)" = 0 ]; then
	is "$("${NOCAPS[@]}" $FSOP chown "$M/w/prog" 12345 -1)" EPERM "a file cannot be given to another user"
	is "$("${NOCAPS[@]}" $FSOP chown "$M/w/prog" -1 12345)" EPERM "nor to a group the caller is not in"
	is "$("${NOCAPS[@]}" $FSOP chown "$M/w/prog" 0 0)" OK "owner and group may be set to the caller's own"
fi
is "$(stat -c %a "$M/w/prog")" 1755 "and the mode is what was allowed"

# --- races
echo a > "$M/w/ra" && echo b > "$M/w/rb"
(for i in $(seq 1 200); do $FSOP rename "$M/w/ra" "$M/w/rb" exchange >/dev/null; done) &
leak=0
for i in $(seq 1 200); do
	[ "$($FSOP open "$M/w/keep/.env" r)" = OK ] && leak=1
	[ "$($FSOP open "$M/w/.env-race" wc)" = OK ] && leak=1
done
wait
is "$leak" 0 "no hidden name opens or is created while exchanges race beside it"
mkdir "$M/w/mv1" && echo x > "$M/w/mv1/x.key"
(for i in $(seq 1 100); do $FSOP rename "$M/w/mv1" "$M/w/mv2" >/dev/null; $FSOP rename "$M/w/mv2" "$M/w/mv1" >/dev/null; done) &
for i in $(seq 1 100); do
	$FSOP rename "$M/w/mv1" "$M/w/s" >/dev/null
	$FSOP rename "$M/w/mv2" "$M/w/s" >/dev/null
done
wait
is "$($FSOP stat "$M/w/s/x.key")" ENOENT "a folder renamed in a loop never lands where its file would be hidden"

umount_rlsfs "$M"
is "$(src_state)" "$before" "the source tree is unchanged after all of it"
"$RLS" commit "$T/delta" >/dev/null 2>&1
test -e "$S/w/s/a.key" || test -e "$S/w/s/x.key"; is $? 1 "commit writes no file at a hidden name"
is "$(cat "$S/w/keep/.env")" k "the hidden file is intact after the commit"
is "$(head -1 "$S/agent.yml")" "extends: conf/base.yml" "the policy file is intact after the commit"
done_testing
