#!/bin/bash
# rlsfs enforces rls-policy(5)'s table, level by level, operation by
# operation.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt
mkdir -p "$S/v" "$S/w/sub" "$S/n/deep" "$S/r"
echo read > "$S/r/file"
echo view > "$S/v/file"
echo write > "$S/w/file"
echo x > "$S/w/attrs"
setfattr -n user.keep -v 1 "$S/w/attrs" 2>/dev/null || $FSOP setxattr "$S/w/attrs" user.keep 1 >/dev/null
echo secret > "$S/.env"
echo wsecret > "$S/w/.env"
echo hidden > "$S/n/secret"
echo ok > "$S/n/deep/ok.txt"
ln -s file "$S/r/link"
ln -s file "$S/v/link"
cat > "$T/policy.yml" <<'YAML'
rules:
  - { pattern: "**", permission: read }
  - { pattern: "/v/**", permission: view }
  - { pattern: "/w/**", permission: write }
  - { pattern: "**/.env*", permission: none }
  - { pattern: "/n/**", permission: none }
  - { pattern: "/n/deep/ok.txt", permission: read }
YAML
before=$(cd "$S" && find . -printf '%p %s %T@ %m\n' | sort | md5sum)
mount_rlsfs "$S" "$M" -p "$T/policy.yml" --audit "$T/audit.log" || { echo "Bail out! mount failed"; exit 1; }

# none
is "$($FSOP stat "$M/.env")" ENOENT "none: stat of a hidden file is ENOENT"
is "$($FSOP stat "$M/n/secret")" ENOENT "none: stat of a file in a hidden tree is ENOENT"
is "$($FSOP open "$M/.env" r)" ENOENT "none: open for reading is ENOENT"
is "$($FSOP open "$M/.env" w)" ENOENT "none: open for writing is ENOENT"
is "$($FSOP open "$M/w/.env" rw)" ENOENT "none: open for writing, even in a writable folder, is ENOENT"
is "$($FSOP open "$M/w/.env" wc)" EACCES "none: create over an existing hidden file is EACCES"
is "$($FSOP open "$M/w/.env.new" wc)" EACCES "none: create of a hidden name that does not exist is EACCES too"
is "$($FSOP mkdir "$M/w/.envdir")" EACCES "none: mkdir of a hidden name is EACCES"
is "$($FSOP symlink x "$M/w/.envlink")" EACCES "none: symlink at a hidden name is EACCES"
is "$($FSOP unlink "$M/w/.env")" ENOENT "none: unlink is ENOENT"
is "$($FSOP readlink "$M/.env")" ENOENT "none: readlink is ENOENT"
is "$($FSOP chmod "$M/.env" 777)" ENOENT "none: chmod is ENOENT"
is "$($FSOP rename "$M/w/.env" "$M/w/stolen")" ENOENT "none: rename from a hidden path is ENOENT"
is "$($FSOP rename "$M/w/file" "$M/w/.env")" EACCES "none: rename onto a hidden path is EACCES"
unlike "$(ls -a "$M")" '\.env' "none: a hidden file is not listed"
unlike "$(ls -a "$M/n")" 'secret' "none: hidden files in a traversable folder are not listed"
is "$(cat "$M/n/deep/ok.txt")" ok "none: a folder is traversable on the way to a readable file"
is "$(ls "$M/n")" deep "none: a traversable folder lists only what the policy shows"

# view
is "$($FSOP stat "$M/v/file" | cut -d' ' -f1)" OK "view: stat works"
like "$(ls "$M/v")" 'file' "view: the file is listed"
is "$($FSOP open "$M/v/file" r)" EACCES "view: open for reading is EACCES"
is "$($FSOP open "$M/v/file" w)" EACCES "view: open for writing is EACCES"
is "$($FSOP readlink "$M/v/link")" "OK file" "view: readlink works"
is "$($FSOP open "$M/v/new" wc)" EACCES "view: create is EACCES"
is "$($FSOP unlink "$M/v/file")" EACCES "view: unlink is EACCES"
is "$($FSOP chmod "$M/v/file" 600)" EACCES "view: chmod is EACCES"
is "$($FSOP access "$M/v/file" r)" EACCES "view: access(R_OK) is EACCES"
is "$($FSOP access "$M/v/file" f)" OK "view: access(F_OK) works"

# read
is "$(cat "$M/r/file")" read "read: a file can be read"
is "$($FSOP open "$M/r/file" w)" EACCES "read: open for writing is EACCES"
is "$($FSOP open "$M/r/file" rw)" EACCES "read: open for reading and writing is EACCES"
is "$($FSOP open "$M/r/file" rt)" EACCES "read: open with O_TRUNC is EACCES"
is "$($FSOP truncate "$M/r/file" 0)" EACCES "read: truncate is EACCES"
is "$($FSOP chmod "$M/r/file" 600)" EACCES "read: chmod is EACCES"
is "$($FSOP utime "$M/r/file" 0)" EACCES "read: utimensat is EACCES"
is "$($FSOP setxattr "$M/r/file" user.x 1)" EACCES "read: setxattr is EACCES"
is "$($FSOP open "$M/r/new" wc)" EACCES "read: create is EACCES"
is "$($FSOP mkdir "$M/r/newdir")" EACCES "read: mkdir is EACCES"
is "$($FSOP mknod-fifo "$M/r/fifo")" EACCES "read: mknod is EACCES"
is "$($FSOP link "$M/r/file" "$M/r/file2")" EACCES "read: link is EACCES"
is "$($FSOP unlink "$M/r/file")" EACCES "read: unlink is EACCES"
is "$($FSOP rename "$M/r/file" "$M/r/moved")" EACCES "read: rename is EACCES"
is "$($FSOP rmdir "$M/r")" EACCES "read: rmdir is EACCES"
is "$($FSOP access "$M/r/file" w)" EACCES "read: access(W_OK) is EACCES"
is "$($FSOP access "$M/r/file" r)" OK "read: access(R_OK) works"

# write
echo changed > "$M/w/file"
is "$(cat "$M/w/file")" changed "write: a file can be rewritten"
is "$(cat "$S/w/file")" write "write: the source keeps its version while mounted"
echo new > "$M/w/new"
is "$(cat "$M/w/new")" new "write: a file can be created"
ok "write: mkdir, symlink, fifo work" sh -c "mkdir '$M/w/d' && ln -s new '$M/w/l' && mkfifo '$M/w/f'"
is "$($FSOP chmod "$M/w/new" 600)" OK "write: chmod works"
is "$(stat -c %a "$M/w/new")" 600 "write: and the mode shows"
is "$($FSOP rename "$M/w/new" "$M/w/renamed")" OK "write: rename works"
is "$($FSOP unlink "$M/w/renamed")" OK "write: unlink works"
is "$($FSOP unlink "$M/w/file")" OK "write: unlink of a source file works"
is "$($FSOP stat "$M/w/file")" ENOENT "write: and the file is gone from the mount"
test -f "$S/w/file"; is $? 0 "write: but not from the source"
is "$($FSOP rmdir "$M/w/sub")" OK "write: rmdir of an empty source folder works"
ino_before=$(stat -c %i "$M/w")
echo x > "$M/w/touch-dir"
is "$(stat -c %i "$M/w")" "$ino_before" "write: a folder keeps its inode number when its times change"
is "$($FSOP setxattr "$M/w/attrs" user.new 2)" OK "write: setxattr works"
is "$($FSOP getxattr "$M/w/attrs" user.new)" "OK 2" "write: and the attribute reads back"
is "$($FSOP getxattr "$M/w/attrs" user.keep)" "OK 1" "write: the source's attributes survive the copy-up"

assert_file_has_content "$T/audit.log" '"op":"open","path":"/r/file","level":"read","errno":"EACCES"'
_tap_result $? "denials are in the audit log with op, path, level and errno"
assert_file_has_content "$T/audit.log" '"path":"/w/.env.new","level":"none"'
_tap_result $? "a denied create of a hidden name is audited"

umount_rlsfs "$M"
after=$(cd "$S" && find . -printf '%p %s %T@ %m\n' | sort | md5sum)
is "$after" "$before" "the source tree is unchanged after all of it"
done_testing
