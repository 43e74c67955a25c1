#!/bin/bash
# Eight deltas over one source, touching overlapping files, committed at
# once: commits take turns, every file ends as one writer's complete
# version, every overlap is reported as a conflict by someone, and fail
# mode commits nothing.
. "$(dirname "$0")/lib.sh"
FX=$RLS_BUILD/t/delta-fixture
[ -x "$FX" ] || skip_all "no $FX (make unit)"

S=$T/src
mkdir -p "$S"
for f in $(seq 1 10); do echo "source $f" > "$S/f$f"; done
big() { head -c 300000 /dev/zero | tr '\0' "$1"; }

# writer w changes f1..f4 (shared by all), f(4+w) (its own), a 300 kB file
# `big` (shared) whose content is all one letter, and adds own/w.
letters=(x a b c d e f g h)
for w in $(seq 1 8); do
	{
		for f in 1 2 3 4; do echo "write /f$f writer $w\\n"; done
		echo "write /f$((4 + w)) only $w\\n"
		echo "new /big $(big "${letters[$w]}")"
		echo "new /own$w mine $w\\n"
	} | "$FX" "$T/d$w" "$S" || { echo "Bail out! fixture $w"; exit 1; }
done

for w in $(seq 1 8); do
	"$RLS" commit "$T/d$w" > "$T/out$w" 2>&1 &
done
fails=0 conflicted=0
for w in $(seq 1 8); do
	wait %$w 2>/dev/null
	case $? in 0) ;; 3) conflicted=$((conflicted + 1)) ;; *) fails=$((fails + 1)) ;; esac
done
wait
is "$fails:$conflicted" "0:7" "eight concurrent commits all succeed, seven of them saying (status 3) they met a conflict"

whole=1
for f in 1 2 3 4; do grep -qx "writer [1-8]" "$S/f$f" || whole=0; done
ok "each shared file is one writer's complete version" test $whole = 1
n=$(tr -d '\n' < "$S/big" | fold -w1 | sort -u | wc -l)
is "$n:$(stat -c %s "$S/big")" "1:300000" "the shared big file is one writer's whole content"
own=0
for w in $(seq 1 8); do [ "$(cat "$S/own$w")" = "mine $w" ] && [ "$(cat "$S/f$((4 + w))" 2>/dev/null)" = "only $w" ] && own=$((own + 1)); done
is "$own" 8 "every writer's own files are in"
confl=$(cat "$T"/out* | grep -c '^conflict: f1 ')
is "$confl" 7 "the overlap on f1 is reported as a conflict by all but the first committer"
is "$(cat "$T"/out* | grep -c '^conflict: big ')" 7 "so is the overlap on a file both sides added"
unlike "$(cat "$T"/out*)" "conflict: (own|f[5-9]|f1[0-2])" "files only one writer touched never conflict"
is "$(find "$S" -name '.rls-commit.*' | wc -l)" 0 "no temporary files remain"

# fail mode: after one commit, the others all conflict and write nothing
rm -rf "$S" "$T"/d* "$T"/out*; mkdir -p "$S"
for f in $(seq 1 4); do echo "source $f" > "$S/f$f"; done
for w in $(seq 1 8); do
	printf 'write /f1 w%s\\n\nnew /only%s x\\n\n' $w $w | "$FX" "$T/d$w" "$S"
done
for w in $(seq 1 8); do "$RLS" commit --on-conflict fail "$T/d$w" > "$T/out$w" 2>&1 & done
wait
ok1=$(grep -l '^committed:' "$T"/out* | wc -l)
refused=$(grep -l '^commit refused: 1 conflict' "$T"/out* | wc -l)
is "$ok1:$refused" "1:7" "in fail mode one commit goes in and seven are refused"
is "$(ls "$S" | grep -c only)" 1 "the refused ones wrote nothing"
done_testing
