#!/bin/bash
# rlsfs mount and umount: errors are one line and mount nothing; a delta
# outlives its mount; one mount per delta; --watch-pid.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt
mkdir -p "$S/d" "$M"
echo one > "$S/d/file"

# err_line DESC CMD...: fails, with exactly one line on stderr, nothing mounted
err_line() {
	local desc=$1; shift
	local out rc
	out=$("$@" 2>&1 >/dev/null); rc=$?
	[ $rc -ne 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && { [ -n "${KEEP_MOUNT:-}" ] || ! mountpoint -q "$M"; }
	_tap_result $? "$desc"
	[ $rc -ne 0 ] || diag "exit status 0"
	diag "$out"
}

err_line "a missing source is one error line" "$RLSFS" mount --delta "$T/d0" "$T/nope" "$M"
err_line "a missing mountpoint is one error line" "$RLSFS" mount --delta "$T/d0" "$S" "$T/nope"
printf 'rules:\n  - { pattern: "[x", permission: read }\n' > "$T/bad.yml"
out=$("$RLSFS" mount -p "$T/bad.yml" --delta "$T/d0" "$S" "$M" 2>&1)
like "$out" "bad.yml:2:" "a bad policy file is reported with its line and column"
err_line "and mounts nothing" "$RLSFS" mount -p "$T/bad.yml" --delta "$T/d0" "$S" "$M"
"$RLSFS" mount -p "$T/bad.yml" --delta "$T/d0" "$S" "$M" 2>/dev/null
is "$?" 2 "a bad policy exits 2, as rls run does"
( cd "$S" && "$RLS" run -p "$T/bad.yml" -- true 2>/dev/null )
is "$?" 2 "(rls run: 2)"
"$RLSFS" mount --delta "$S/delta" "$S" "$M" 2>/dev/null
is "$?" 2 "a delta inside the source exits 2"
err_line "an unknown preset is one error line" "$RLSFS" mount -p no-such-preset --delta "$T/d0" "$S" "$M"
err_line "a mountpoint inside the source is refused" "$RLSFS" mount --delta "$T/d0" "$S" "$S/d"
err_line "a delta inside the source is refused" "$RLSFS" mount --delta "$S/delta" "$S" "$M"
err_line "an unknown flag is refused" "$RLSFS" mount --frobnicate "$S" "$M"
# a delta that exists but has no path (the working folder was removed):
# the message is the delta's, not whatever the stack held
mkdir "$T/gone"
out=$(cd "$T/gone" && rmdir "$T/gone" && "$RLSFS" mount --delta . "$S" "$M" 2>&1)
is "$out" "rlsfs: delta .: No such file or directory" "a delta whose path cannot be resolved is named in one line"
if command -v valgrind >/dev/null && ! nm -u "$RLSFS" 2>/dev/null | grep -q __asan; then
	out=$(cd "$T" && mkdir gone && cd gone && rmdir "$T/gone" &&
		valgrind -q --error-exitcode=99 "$RLSFS" mount --delta . "$S" "$M" 2>&1)
	is "$?" 1 "and no uninitialised memory is read on the way (valgrind)"
	diag "$out"
fi
if command -v unshare >/dev/null && [ "$(id -u)" = 0 ]; then
	out=$(unshare -m sh -c "mount -t tmpfs none /dev && '$RLSFS' mount --delta '$T/d0' '$S' '$M'" 2>&1)
	like "$out" "/dev/fuse" "without /dev/fuse the error names it"
else
	_tap_result 0 "# skip without /dev/fuse (needs root and unshare)"
fi

ok "a good mount succeeds" "$RLSFS" mount -p full-access --delta "$T/delta" "$S" "$M"
at_exit "umount_rlsfs '$M'"
mountpoint -q "$M"; is $? 0 "and the mountpoint is mounted"
mkdir -p "$T/m2"
out=$("$RLSFS" mount -p full-access --delta "$T/delta" "$S" "$T/m2" 2>&1); rc=$?
like "$out" "mounted by another rlsfs" "a second mount of the same delta is refused"
mountpoint -q "$T/m2"; isnt $? 0 "and leaves nothing mounted"
KEEP_MOUNT=1 err_line "mounting over a live mount is refused" "$RLSFS" mount --delta "$T/d3" "$S" "$M"

mkdir -p "$T/tarball" && echo t > "$T/tarball/t.txt" && tar cf "$T/t.tar" -C "$T/tarball" .
ok "tar extracts into the root of the mount, restoring its times" tar xf "$T/t.tar" -C "$M"
echo two > "$M/d/file"
echo new > "$M/.wh.new"
rm "$M/d/file"
echo again > "$M/d/file"
rm "$M/d/file"
is "$(cat "$M/.wh.new")" new "a file named like an overlayfs whiteout is just a file"
is "$(find "$T/delta/data" -name '.wh.*' | wc -l)" 0 "whiteouts are index entries, not names in the data"
echo kept > "$M/kept"
umount_rlsfs "$M"
mountpoint -q "$M"; isnt $? 0 "rlsfs umount unmounts"
is "$(cat "$S/d/file")" one "the source was not written"
ok "the same delta mounts again" "$RLSFS" mount -p full-access --delta "$T/delta" "$S" "$M"
is "$(cat "$M/kept" 2>&1)" kept "a delta survives unmount and remount"
is "$($FSOP stat "$M/d/file")" ENOENT "and so do its whiteouts"
umount_rlsfs "$M"
err_line "umount of something that is not an rlsfs mount is refused" "$RLSFS" umount "$T"

out=$(XDG_STATE_HOME=$T/state "$RLSFS" mount -p read-only "$S" "$M"); rc=$?
is "$rc" 0 "without --delta a fresh delta is made"
like "$out" "^$T/state/rls/deltas/" "and its path printed, under XDG_STATE_HOME"
test -d "$out/index"; is $? 0 "and it is a delta"
umount_rlsfs "$M"

sleep 30 &
owner=$!
ok "--watch-pid mounts" "$RLSFS" mount -p read-only --delta "$T/d4" --watch-pid "$owner" "$S" "$M"
kill -9 "$owner"; wait "$owner" 2>/dev/null
i=0; while mountpoint -q "$M" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
mountpoint -q "$M"; isnt $? 0 "the mount goes when the watched process dies"

ok "a mount for SIGTERM" "$RLSFS" mount -p read-only --delta "$T/d5" "$S" "$M"
pkill -TERM -f "rlsfs mount.*$T/d5" 
i=0; while mountpoint -q "$M" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
mountpoint -q "$M"; isnt $? 0 "SIGTERM to the daemon unmounts"
# A delta rlsfs made itself (no --delta) and nothing was written to is
# removed at unmount; one with changes is kept, named like rls run's.
mkdir -p "$T/fresh-m"
d=$(XDG_STATE_HOME=$T/fresh-state "$RLSFS" mount -p full-access "$S" "$T/fresh-m")
ls "$T/fresh-m" >/dev/null
"$RLSFS" umount "$T/fresh-m"
ok "an untouched fresh delta is removed at unmount" test ! -e "$d"
d=$(XDG_STATE_HOME=$T/fresh-state "$RLSFS" mount -p full-access "$S" "$T/fresh-m")
echo x > "$T/fresh-m/written"
"$RLSFS" umount "$T/fresh-m"
ok "one with a change is kept" test -d "$d"
like "$d" "/$(basename "$S")-[0-9]{8}-[0-9]{6}-" "named after the tree and the time, as rls run names them"

# rlsfs umount returns only once the daemon has let go of the delta:
# commit, discard or a new mount right after never find it busy.
mkdir -p "$T/race-src/out" "$T/race-m"
true
fails_n=0
for i in $(seq 20); do
	"$RLSFS" mount -p full-access --delta "$T/race-d" "$T/race-src" "$T/race-m" || break
	echo "$i" > "$T/race-m/out/f$i"
	"$RLSFS" umount "$T/race-m"
	"$RLS" commit "$T/race-d" >/dev/null 2>&1 || fails_n=$((fails_n + 1))
done
is "$fails_n" 0 "rlsfs umount then rls commit at once: never busy (20 tries)"
is "$(ls "$T/race-src/out" | wc -l)" 20 "and every commit landed"
"$RLSFS" mount -p full-access --delta "$T/race-d" "$T/race-src" "$T/race-m"
: > "$T/race-m/out/g"
"$RLSFS" umount "$T/race-m"
ok "rls discard right after rlsfs umount" "$RLS" discard "$T/race-d"
"$RLSFS" mount -p full-access --delta "$T/race-d" "$T/race-src" "$T/race-m"
"$RLSFS" umount "$T/race-m"
ok "and a new mount of the same delta right after" "$RLSFS" mount -p full-access --delta "$T/race-d" "$T/race-src" "$T/race-m"
umount_rlsfs "$T/race-m"
done_testing
