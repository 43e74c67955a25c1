#!/bin/bash
# Bad input for diff / commit / discard: one-line error, non-zero exit,
# nothing lost in the source or the delta.
. "$(dirname "$0")/lib.sh"
FX=$RLS_BUILD/t/delta-fixture
[ -x "$FX" ] || skip_all "no $FX (make unit)"

one_line_error() {	# DESC CMD...: fails with exactly one line on stderr, nothing on stdout
	local desc=$1; shift
	"$@" >"$T/o" 2>"$T/e"; local rc=$?
	if [ $rc -ne 0 ] && [ "$(wc -l < "$T/e")" -eq 1 ] && [ ! -s "$T/o" ]; then _tap_result 0 "$desc"
	else _tap_result 1 "$desc"; diag "rc=$rc"; sed 's/^/#   /' "$T/e" "$T/o" | head -5; fi
}

S=$T/src; mkdir -p "$S"; echo keep > "$S/a"
for c in diff commit discard; do
	one_line_error "rls $c of a directory that is not a delta" "$RLS" $c "$S"
	one_line_error "rls $c of a missing path" "$RLS" $c "$T/missing"
done
is "$(cat "$S/a")" keep "the source is untouched"

# a corrupted index
printf 'write /a new\\n\n' | "$FX" "$T/bad" "$S"
head -c 65536 /dev/urandom > "$T/bad/index/data.mdb"
for c in diff commit discard; do
	one_line_error "rls $c of a delta with a garbage index" "$RLS" $c "$T/bad"
done
like "$(cat "$T/e")" "damaged|not an LMDB|Invalid" "the error says the index is damaged: $(cat "$T/e")"
is "$(cat "$S/a")" keep "nothing reached the source"
ok "the data file is still there" test "$(ls "$T/bad/data" | wc -l)" = 1

# the source disappeared
mkdir -p "$T/s2"; echo x > "$T/s2/x"
printf 'write /x y\\n\n' | "$FX" "$T/d2" "$T/s2"
mv "$T/s2" "$T/s2.moved"
one_line_error "rls commit when the source is gone" "$RLS" commit "$T/d2"
like "$(cat "$T/e")" "s2" "the error names the source"
mv "$T/s2.moved" "$T/s2"
is "$("$RLS" diff "$T/d2")" "M x" "the delta is intact"

# a stray folder in DELTA/data: discard stops at it and names it (the
# name is read before the listing is closed)
printf 'write /x y\\n\n' | "$FX" "$T/d5" "$T/s2"
mkdir "$T/d5/data/stray"
one_line_error "rls discard with a stray folder in the delta's data" "$RLS" discard "$T/d5"
like "$(cat "$T/e")" "d5/data/stray" "the error names the stray folder"
rmdir "$T/d5/data/stray"
ok "once it is gone, discard works" "$RLS" discard "$T/d5"

# no space in the source: refused before anything is written
if [ "$(id -u)" = 0 ] && mkdir -p "$T/small" && mount -t tmpfs -o size=4m tmpfs "$T/small" 2>/dev/null; then
	at_exit "umount -l '$T/small'"
	mkdir "$T/small/src"; echo small > "$T/small/src/a"
	{ echo 'write /a changed\n'; echo 'bin /huge 6000000'; echo 'new /other o\n'; } | "$FX" "$T/d3" "$T/small/src"
	one_line_error "rls commit into a full filesystem fails" "$RLS" commit "$T/d3"
	like "$(cat "$T/e")" "space" "saying there is not enough space"
	is "$(ls -A "$T/small/src")" "a" "the source has nothing new, no temporary file"
	is "$(cat "$T/small/src/a")" small "and its files are untouched"
	is "$("$RLS" diff "$T/d3")" "M a
A huge
A other" "the delta is intact"
	# space that runs out after the plan was made: the journal keeps the
	# commit, which fails with one line until there is room, then finishes
	{ echo 'bin /mid 1200000'; echo 'bin /mid2 1200000'; } | "$FX" "$T/d4" "$T/small/src"
	RLS_COMMIT_CRASH_AFTER=1 "$RLS" commit "$T/d4" >/dev/null 2>&1
	head -c 2000000 /dev/zero > "$T/small/fill"
	one_line_error "finishing a commit on a full filesystem fails" "$RLS" diff "$T/d4"
	like "$(cat "$T/e")" "interrupted commit.*No space" "saying the interrupted commit cannot finish: no space"
	is "$(ls -A "$T/small/src" | grep -c rls-commit)" 0 "no temporary file is left behind"
	ok "the delta's data is kept" test "$(ls "$T/d4/data" | wc -l)" = 2
	rm -f "$T/small/fill"
	is "$("$RLS" diff "$T/d4" 2>&1)" "" "once there is room the next rls finishes the commit"
	is "$(stat -c %s "$T/small/src/mid" "$T/small/src/mid2" | tr '\n' ' ')" "1200000 1200000 " "and every file is whole"
else
	diag "skipping ENOSPC cases: cannot mount a tmpfs"
fi

one_line_error "an unknown --on-conflict mode is refused" "$RLS" commit --on-conflict maybe "$T/d2"
is "$("$RLS" diff "$T/d2")" "M x" "and the delta is untouched"
msg() { "$@" 2>&1 >/dev/null | head -1; }
is "$(msg "$RLS" diff --bogus "$T/d2")" "rls: diff: unknown option '--bogus'" "rls diff names an unknown option in its own words"
is "$(msg "$RLS" discard --bogus)" "rls: discard: unknown option '--bogus'" "so does rls discard"
like "$(msg "$RLS" discard)" "^rls: discard: which delta\\? none given" "rls discard without a delta says so"
is "$(msg "$RLS" commit --on-conflict)" "rls: commit: --on-conflict needs a value (ours, theirs or fail)" "a missing value is named"
"$RLS" commit "$T/d2" --on-conflict theirs >/dev/null 2>&1
is "$?" 0 "options may follow the delta: rls commit DELTA --on-conflict theirs"
done_testing
