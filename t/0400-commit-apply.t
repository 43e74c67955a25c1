#!/bin/bash
# rls commit: the delta applied to its source, attributes carried, unknown
# source content kept, conflicts by mode; rls discard.
. "$(dirname "$0")/lib.sh"
FX=$RLS_BUILD/t/delta-fixture
[ -x "$FX" ] || skip_all "no $FX (make unit)"
skip() { _tap_result 0 "# SKIP $1"; }

mksrc() {
	rm -rf "$S"; mkdir -p "$S/d/sub" "$S/gone" "$S/keep"
	echo one > "$S/a"; echo two > "$S/b"; echo three > "$S/d/c"
	echo x > "$S/gone/x"; echo k > "$S/keep/known"
}
S=$T/src
mksrc
printf '%s\n' 'write /a ONE\n' 'new /new hello\n' 'rm /b' 'mkdir /nd 750' 'new /nd/f inside\n' \
	'symlink /ln a' 'rm /gone/x' 'rmdir /gone' 'rm /keep/known' 'rmdir /keep' 'chmod /d/c 600' \
	'link /nd/hard /new' 'fifo /ff' 'new /.wh.plain wh\n' | "$FX" "$T/delta" "$S"
# something the delta does not know appears in a directory it deletes
echo surprise > "$S/keep/unknown"
touch -d '2001-02-03 04:05:06' "$T/ref"

out=$("$RLS" commit "$T/delta"); rc=$?
is "$rc" 3 "rls commit exits 3: it committed, over a conflict (the folder with unknown content)"
like "$out" "^committed: 7 added, 2 modified, 4 deleted; 1 conflict" "it prints a summary"
like "$out" "conflict: keep" "the directory with unknown content is reported as a conflict"
is "$(cat "$S/a")" "ONE" "a modified file has the delta's content"
is "$(cat "$S/new")" "hello" "an added file is there"
ok "a deleted file is gone" test ! -e "$S/b"
ok "a deleted directory is gone with its deleted content" test ! -e "$S/gone"
is "$(cat "$S/keep/unknown")" "surprise" "unknown content in a deleted directory is kept"
ok "the directory holding it is kept" test -d "$S/keep"
ok "while the delta's deletion in it happened" test ! -e "$S/keep/known"
is "$(stat -c %a "$S/nd")" 750 "a new directory has its mode"
is "$(cat "$S/nd/f")" inside "files in a new directory are there"
is "$(readlink "$S/ln")" a "a symlink is created with its target"
is "$(stat -c %a "$S/d/c")" 600 "a chmod is carried"
is "$(stat -c %i "$S/nd/hard")" "$(stat -c %i "$S/new")" "hard links stay one inode"
ok "a fifo is created" test -p "$S/ff"
is "$(cat "$S/.wh.plain")" wh "a file named .wh.* is an ordinary file"
is "$(ls -A "$S" | grep -c rls-commit)" 0 "no temporary files are left"
is "$("$RLS" diff "$T/delta")" "" "after commit the delta is empty"
is "$(ls "$T/delta/data" | wc -l)" 0 "and its data directory too"

# moves: on the source's filesystem a data file becomes the committed file
mksrc; rm -rf "$T/dmv"
printf 'new /moved m\\n\nwrite /d/c changed\\n\nchmod /b 640\n' | "$FX" "$T/dmv" "$S"
want=$(stat -c %i "$T/dmv/data/"* | sort -n | tr '\n' ' ')
touch -d '2001-02-03 04:05:06' "$T/dmv/data/"*
"$RLS" commit "$T/dmv" >/dev/null
is "$(stat -c %i "$S/moved" "$S/d/c" "$S/b" | sort -n | tr '\n' ' ')" "$want" \
	"files are moved from the delta into place, not copied, when it shares the source's filesystem"
is "$(cat "$S/moved"; cat "$S/d/c"; cat "$S/b")" "m
changed
two" "with their content"
is "$(stat -c '%a %Y' "$S/moved" "$S/b" | tr '\n' ' ')" "644 $(stat -c %Y "$T/ref") 640 $(stat -c %Y "$T/ref") " \
	"their modes and mtimes"
is "$(ls -A "$T/dmv/data" | wc -l):$(ls -A "$S" "$S/d" | grep -c rls-commit)" "0:0" \
	"leaving neither data files nor temporary files"

# a delta on another filesystem is copied from
SHM=$(mktemp -d /dev/shm/rls-test.XXXXXX 2>/dev/null) && at_exit "rm -rf '$SHM'"
if [ -n "$SHM" ] && [ "$(stat -c %d "$SHM")" != "$(stat -c %d "$T")" ]; then
	mksrc
	printf 'new /x cross\\n\nwrite /a other fs\\n\nlink /y /x\n' | "$FX" "$SHM/d" "$S"
	ok "a delta on another filesystem commits" "$RLS" commit "$SHM/d"
	is "$(cat "$S/x" "$S/y" "$S/a")" "cross
cross
other fs" "copying its files"
	is "$(stat -c %i "$S/y")" "$(stat -c %i "$S/x")" "hard links stay one inode there too"
	is "$(ls -A "$SHM/d/data" | wc -l)" 0 "and its data directory is emptied"
else
	for i in 1 2 3 4; do skip "no second filesystem at /dev/shm"; done
fi

# one filesystem, another mount of it: rename says EXDEV, commit copies
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	rm -rf "$T/real" "$T/bm" "$T/bd"; mkdir -p "$T/real" "$T/bm"; echo old > "$T/real/f"
	out=$(unshare -m --propagation private sh -c '
		mount --bind "$1/real" "$1/bm" || exit 3
		printf "write /f new\\n\nnew /g fresh\\n\n" | "$2" "$1/bd" "$1/bm" || exit 4
		"$3" commit "$1/bd" >/dev/null || exit 5
		ls -A "$1/bd/data" | wc -l' sh "$T" "$FX" "$RLS" 2>&1); rc=$?
	is "$rc:$out" "0:0" "a move refused across mounts of one filesystem falls back to a copy"
	is "$(cat "$T/real/f"):$(cat "$T/real/g")" "new:fresh" "with the delta's content"
else
	for i in 1 2; do skip "needs root and unshare -m"; done
fi

# mtimes: a delta file's mtime is carried to the source
mksrc
printf 'new /m x\n' | "$FX" "$T/dm" "$S"
touch -d '2001-02-03 04:05:06' "$T/dm/data/"*
"$RLS" commit "$T/dm" >/dev/null
is "$(stat -c %Y "$S/m")" "$(stat -c %Y "$T/ref")" "a file's mtime is carried"

# conflicts: the source changed after copy-up
conflict_setup() {
	mksrc
	rm -rf "$T/dc"
	printf 'write /a ours\\n\nnew /fresh f\\n\n' | "$FX" "$T/dc" "$S"
	sleep 0.01
	echo theirs > "$S/a"
}
conflict_setup
out=$("$RLS" commit --on-conflict fail "$T/dc"); rc=$?
is "$rc" 1 "--on-conflict fail exits 1 on a conflict"
like "$out" "conflict: a" "and lists it"
is "$(cat "$S/a")" theirs "fail writes nothing: the conflicting file"
ok "fail writes nothing: not even the other files" test ! -e "$S/fresh"
is "$("$RLS" diff "$T/dc")" "M a
A fresh
conflict: a (the source changed since it was copied up)" "the delta is kept whole after a refused commit, and rls diff marks the conflict"

out=$("$RLS" commit --on-conflict=theirs "$T/dc"); rc=$?
is "$rc" 3 "--on-conflict=theirs commits, exiting 3 for the conflict"
like "$out" "1 conflict" "reporting the conflict"
is "$(cat "$S/a")" theirs "theirs keeps the source's version"
is "$(cat "$S/fresh")" f "and applies the rest"

conflict_setup
out=$("$RLS" commit "$T/dc"); rc=$?
is "$rc:$(cat "$S/a")" "3:ours" "ours (the default) lets the delta win, exiting 3"
like "$out" "conflict: a" "and reports the conflict"

# a touched but identical source file is no conflict (hash compare)
mksrc; rm -rf "$T/dt"
printf 'write /a mine\\n\n' | "$FX" "$T/dt" "$S"
touch -d '2010-01-01' "$S/a"
out=$("$RLS" commit --on-conflict fail "$T/dt"); rc=$?
is "$rc:$(cat "$S/a")" "0:mine" "a source whose times changed but not its content is no conflict"

# discard
mksrc; rm -rf "$T/dd"
printf 'write /a gone\\n\nrm /b\n' | "$FX" "$T/dd" "$S"
ok "rls discard succeeds" "$RLS" discard "$T/dd"
is "$("$RLS" diff "$T/dd")" "" "the delta is empty after discard"
is "$(cat "$S/a"; cat "$S/b")" "one
two" "and the source untouched"

# a mounted delta is refused
mksrc; rm -rf "$T/dl"
printf 'write /a x\n' | "$FX" "$T/dl" "$S"
exec 9>"$T/dl/mount.lock"; flock -n 9
out=$("$RLS" commit "$T/dl" 2>&1); rc=$?
is "$rc" 1 "commit of a mounted delta exits 1"
like "$out" "mounted" "saying it is mounted"
fails "discard of a mounted delta fails" "$RLS" discard "$T/dl"
exec 9>&-
is "$(cat "$S/a")" one "nothing was written"
ok "after unmount it commits" "$RLS" commit "$T/dl"

# a source file given a second name in the mount, its content unchanged:
# the commit links the new name to the file in place, as the mount showed
if [ -c /dev/fuse ] && [ "$(id -u)" = 0 ]; then
	mksrc; rm -rf "$T/dh"
	mount_rlsfs "$S" "$T/mh" -p full-access --delta "$T/dh" || { echo "Bail out! mount failed"; exit 1; }
	ln "$T/mh/a" "$T/mh/a2"
	umount_rlsfs "$T/mh"
	ok "a delta holding a link to an unchanged source file commits" "$RLS" commit "$T/dh"
	is "$(stat -c %i "$S/a2")" "$(stat -c %i "$S/a")" "and the two names are one inode in the source"
	is "$(stat -c %h "$S/a")" 2 "with two links"
	# so are a symlink's and a fifo's names, in place or made in the mount
	rm -rf "$T/dh"; ln -s a "$S/sl"; mkfifo "$S/fi"
	mount_rlsfs "$S" "$T/mh" -p full-access --delta "$T/dh" || { echo "Bail out! mount failed"; exit 1; }
	ln "$T/mh/sl" "$T/mh/d/sl2"; ln -s d/c "$T/mh/ns"; ln "$T/mh/ns" "$T/mh/ns2"
	ln "$T/mh/fi" "$T/mh/d/fi2"; mkfifo "$T/mh/nf"; ln "$T/mh/nf" "$T/mh/d/nf2"
	want=$(cd "$T/mh" && stat -c '%n %h' sl d/sl2 ns ns2 fi d/fi2 nf d/nf2)
	umount_rlsfs "$T/mh"
	ok "a delta holding hard links of symlinks and fifos commits" "$RLS" commit "$T/dh"
	is "$(cd "$S" && stat -c '%n %h' sl d/sl2 ns ns2 fi d/fi2 nf d/nf2)" "$want" "with their links, as the mount showed"
	is "$(stat -c %i "$S/d/sl2") $(readlink "$S/d/sl2")" "$(stat -c %i "$S/sl") a" "one inode, the symlink in place"
else
	skip "linking in place needs root and /dev/fuse"
fi
done_testing
