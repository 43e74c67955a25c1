#!/bin/bash
# A commit killed (-9) after any journal step is finished by the next rls
# that opens the delta: the source ends as exactly the expected tree and no
# temporary file is left.  RLS_COMMIT_CRASH_AFTER=N is the test hook that
# stops the commit with _exit(137) after N steps.
. "$(dirname "$0")/lib.sh"
FX=$RLS_BUILD/t/delta-fixture
[ -x "$FX" ] || skip_all "no $FX (make unit)"

mksrc() {
	rm -rf "$1"; mkdir -p "$1/dir/sub" "$1/olddir/deep" "$1/flip" "$1/keep"
	for i in $(seq 1 12); do echo "source $i" > "$1/f$i"; done
	echo x > "$1/olddir/deep/x"; echo y > "$1/olddir/y"; echo z > "$1/flip/z"
	echo file > "$1/todir"; echo k > "$1/keep/k"; ln -s f1 "$1/oldlink"
}
SPEC=$T/spec
{
	for i in $(seq 1 6); do echo "write /f$i changed $i\\n"; done
	for i in $(seq 7 9); do echo "rm /f$i"; done
	for i in $(seq 1 10); do echo "new /dir/n$i new $i\\n"; done
	echo 'mkdir /newdir 700'; echo 'mkdir /newdir/inner 755'
	for i in $(seq 1 5); do echo "new /newdir/inner/m$i m $i\\n"; done
	echo 'rm /olddir/deep/x'; echo 'rmdir /olddir/deep'; echo 'rm /olddir/y'; echo 'rmdir /olddir'
	echo 'rm /flip/z'; echo 'rmdir /flip'; echo 'new /flip now a file\n'
	echo 'rm /todir'; echo 'mkdir /todir 755'; echo 'new /todir/t inside\n'
	echo 'rm /oldlink'; echo 'symlink /oldlink f2'; echo 'symlink /newlink dir/n1'
	echo 'chmod /f10 600'; echo 'link /dir/hard /dir/n2'
} > "$SPEC"

snapshot() {
	(cd "$1" && find . -printf '%p %y %m %s %l\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum)
}

# The expected tree: the same delta committed without a crash.
mksrc "$T/ref"
"$FX" "$T/refdelta" "$T/ref" < "$SPEC" || { echo "Bail out! fixture"; exit 1; }
"$RLS" commit "$T/refdelta" >/dev/null || { echo "Bail out! reference commit"; exit 1; }
snapshot "$T/ref" > "$T/want"

# crash_loop DELTA: commit a fresh delta at DELTA, crashing after step 1,
# 2, ... until a commit completes; after each crash, recover and compare.
# Counts the crashes right after a data file was moved into the source: the
# rename is a step, and its batch is recorded in the journal only later.
crash_loop() {
	local d=$1 n=0 prev=0 moved
	bad=0 leftovers=0 crashed=0 after_move=0 max_moved=0 first_move=0
	while :; do
		n=$((n + 1))
		rm -rf "$d"; mksrc "$T/s"
		"$FX" "$d" "$T/s" < "$SPEC" || { echo "Bail out! fixture"; exit 1; }
		(cd "$d/data" && stat -c '%d %i' *) | LC_ALL=C sort > "$T/data-before"
		RLS_COMMIT_CRASH_AFTER=$n RLS_COMMIT_BATCH=4 "$RLS" commit "$d" >/dev/null 2>&1; rc=$?
		if [ $rc -eq 0 ]; then break; fi
		if [ $rc -ne 137 ]; then diag "step $n: commit exited $rc"; bad=$((bad + 1)); break; fi
		crashed=$((crashed + 1))
		# data files (dev, inode) that now have a name in the source: moved
		moved=$(find "$T/s" -printf '%D %i\n' | LC_ALL=C sort | comm -12 "$T/data-before" - | wc -l)
		if [ "$moved" -gt "$prev" ]; then
			after_move=$((after_move + 1))
			[ "$first_move" -gt 0 ] || first_move=$n
		fi
		[ "$moved" -gt "$max_moved" ] && max_moved=$moved
		prev=$moved
		# the next rls to touch the delta finishes the commit
		out=$("$RLS" diff "$d" 2>&1) || { diag "step $n: recovery failed: $out"; bad=$((bad + 1)); continue; }
		[ -z "$out" ] || { diag "step $n: delta not empty after recovery: $out"; bad=$((bad + 1)); }
		[ -z "$(ls -A "$d/data")" ] || { diag "step $n: data files left: $(ls "$d/data")"; bad=$((bad + 1)); }
		snapshot "$T/s" > "$T/got"
		if ! cmp -s "$T/got" "$T/want"; then
			diag "step $n: tree differs"; diff "$T/want" "$T/got" | head -5 | sed 's/^/#   /'; bad=$((bad + 1))
		fi
		if find "$T/s" -name '.rls-commit.*' | grep -q .; then leftovers=$((leftovers + 1)); fi
		[ $n -lt 1000 ] || break
	done
	diag "crashed at $crashed steps ($after_move right after a move), completed at step $n"
}

crash_loop "$T/d"
ok "the commit was interrupted at many steps ($crashed)" test "$crashed" -ge 20
is "$bad" 0 "after every crash, recovery leaves exactly the expected tree and an empty delta"
is "$leftovers" 0 "and no .rls-commit.* temporary files"
ok "crashes landed between a move and the journal recording it ($after_move)" test "$after_move" -ge 5

# the same with the delta on another filesystem: every file is copied
SHM=$(mktemp -d /dev/shm/rls-test.XXXXXX 2>/dev/null) && at_exit "rm -rf '$SHM'"
if [ -n "$SHM" ] && [ "$(stat -c %d "$SHM")" != "$(stat -c %d "$T")" ]; then
	crash_loop "$SHM/d"
	is "$bad:$leftovers" "0:0" "a delta on another filesystem (copies) recovers from a crash at every step ($crashed)"
	is "$max_moved" 0 "moving nothing"
else
	_tap_result 0 "# SKIP no second filesystem at /dev/shm"
	_tap_result 0 "# SKIP no second filesystem at /dev/shm"
fi

# a file moved before the crash and replaced by someone before the recovery:
# recovery recognises the move by the data file's identity, and when the
# name no longer has it, leaves the newer version alone
rm -rf "$T/d"; mksrc "$T/s"
"$FX" "$T/d" "$T/s" < "$SPEC"
(cd "$T/d/data" && stat -c '%i' *) | sort > "$T/data-before"
RLS_COMMIT_CRASH_AFTER=$first_move RLS_COMMIT_BATCH=4 "$RLS" commit "$T/d" >/dev/null 2>&1
victim=$(cd "$T/s" && find . -type f -printf '%i %p\n' | sort | join "$T/data-before" - | awk '{ print $2; exit }')
ok "a crash right after a move leaves the moved file in the source" test -n "$victim"
if [ -n "$victim" ]; then rm "$T/s/$victim"; echo someone else > "$T/s/$victim"; fi
ok "recovery finishes" "$RLS" diff "$T/d"
is "$(cat "$T/s/$victim" 2>&1)" "someone else" "without touching the version written after the move"

# a crash inside recovery is recovered too
rm -rf "$T/d"; mksrc "$T/s"
"$FX" "$T/d" "$T/s" < "$SPEC"
RLS_COMMIT_CRASH_AFTER=10 RLS_COMMIT_BATCH=4 "$RLS" commit "$T/d" >/dev/null 2>&1
RLS_COMMIT_CRASH_AFTER=3 RLS_COMMIT_BATCH=4 "$RLS" diff "$T/d" >/dev/null 2>&1; rc=$?
is "$rc" 137 "recovery itself can be interrupted"
ok "and the next rls finishes it" "$RLS" diff "$T/d"
snapshot "$T/s" > "$T/got"
ok "to the expected tree" cmp "$T/got" "$T/want"

# discard refuses to throw away a half-applied commit
rm -rf "$T/d"; mksrc "$T/s"
"$FX" "$T/d" "$T/s" < "$SPEC"
RLS_COMMIT_CRASH_AFTER=10 "$RLS" commit "$T/d" >/dev/null 2>&1
ok "discard after a crash first finishes the commit" "$RLS" discard "$T/d"
snapshot "$T/s" > "$T/got"
ok "so the source is the expected tree" cmp "$T/got" "$T/want"
done_testing
