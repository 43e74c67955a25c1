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

n=0 bad=0 leftovers=0 crashed=0
while :; do
	n=$((n + 1))
	rm -rf "$T/d"; mksrc "$T/s"
	"$FX" "$T/d" "$T/s" < "$SPEC" || { echo "Bail out! fixture"; exit 1; }
	RLS_COMMIT_CRASH_AFTER=$n RLS_COMMIT_BATCH=4 "$RLS" commit "$T/d" >/dev/null 2>&1; rc=$?
	if [ $rc -eq 0 ]; then break; fi
	if [ $rc -ne 137 ]; then diag "step $n: commit exited $rc"; bad=$((bad + 1)); break; fi
	crashed=$((crashed + 1))
	# the next rls to touch the delta finishes the commit
	out=$("$RLS" diff "$T/d" 2>&1) || { diag "step $n: recovery failed: $out"; bad=$((bad + 1)); continue; }
	[ -z "$out" ] || { diag "step $n: delta not empty after recovery: $out"; bad=$((bad + 1)); }
	snapshot "$T/s" > "$T/got"
	if ! cmp -s "$T/got" "$T/want"; then
		diag "step $n: tree differs"; diff "$T/want" "$T/got" | head -5 | sed 's/^/#   /'; bad=$((bad + 1))
	fi
	if find "$T/s" -name '.rls-commit.*' | grep -q .; then leftovers=$((leftovers + 1)); fi
	[ $n -lt 1000 ] || break
done
diag "crashed at $crashed steps, completed at step $n"
ok "the commit was interrupted at many steps ($crashed)" test "$crashed" -ge 20
is "$bad" 0 "after every crash, recovery leaves exactly the expected tree and an empty delta"
is "$leftovers" 0 "and no .rls-commit.* temporary files"

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
