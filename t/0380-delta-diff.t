#!/bin/bash
# rls diff: added, modified and deleted paths of a delta, with -p unified
# diffs of text files.
. "$(dirname "$0")/lib.sh"
FX=$RLS_BUILD/t/delta-fixture
[ -x "$FX" ] || skip_all "no $FX (make unit)"

S=$T/src
mkdir -p "$S/dir/sub" "$S/old"
printf 'one\ntwo\nthree\n' > "$S/text"
echo same > "$S/same"
echo bye > "$S/old/file"
echo mode > "$S/dir/mode"

printf '%s\n' 'write /text one\nTWO\nthree\n' 'touch /same' 'new /added hello\n' 'bin /blob 64' \
	'rm /old/file' 'rmdir /old' 'mkdir /dir/newdir 755' 'chmod /dir/mode 600' 'symlink /link text' |
	"$FX" "$T/delta" "$S" || { echo "Bail out! fixture"; exit 1; }

out=$("$RLS" diff "$T/delta"); rc=$?
is "$rc" 0 "rls diff exits 0"
is "$out" "A added
A blob
M dir/mode
A dir/newdir
A link
D old
D old/file
M text" "it lists A, M and D lines in path order, without the unchanged copy-up"

out=$("$RLS" diff -p "$T/delta")
like "$out" $'--- a/text\n\\+\\+\\+ b/text' "-p labels a modified file a/PATH and b/PATH"
like "$out" $'\n-two\n\\+TWO' "-p shows the changed lines"
like "$out" $'--- /dev/null\n\\+\\+\\+ b/added\n@@ -0,0 \\+1 @@\n\\+hello' "an added file diffs against /dev/null"
like "$out" $'--- a/old/file\n\\+\\+\\+ /dev/null' "a deleted file diffs to /dev/null"
like "$out" "Binary files /dev/null and b/blob differ" "a binary file says Binary files ... differ"
unlike "$out" "same" "an unchanged file is not shown"

"$FX" "$T/empty" "$S" </dev/null
out=$("$RLS" diff "$T/empty"); rc=$?
is "$rc:$out" "0:" "an empty delta gives empty output"

out=$("$RLS" diff "$S" 2>&1); rc=$?
is "$rc" 1 "a path that is not a delta exits 1"
is "$(printf '%s\n' "$out" | wc -l)" 1 "with a one-line error"
like "$out" "not a delta" "saying it is not a delta"
fails "a missing path fails" "$RLS" diff "$T/nope"
is "$("$RLS" diff 2>&1 >/dev/null; echo $?)" "usage: rls diff [-p] DELTA
2" "no argument is a usage error (exit 2)"
done_testing
