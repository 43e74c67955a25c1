#!/bin/bash
# rlsfs serves a tree with more files than it may hold descriptors: nodes
# are not open files, so a walk of every file works under a low
# RLIMIT_NOFILE (MACHINE-NOTES: 20,000 here, trees of 46,000 files exist).
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt
LIMIT=${LIMIT:-256}
for d in $(seq 1 30); do
	mkdir -p "$S/pkg$d/lib/sub"
	for f in $(seq 1 50); do
		printf 'def f%s():\n    return %s\n' "$f" "$d" > "$S/pkg$d/lib/m$f.py"
		printf 'x%s\n' "$f" > "$S/pkg$d/lib/sub/n$f.txt"
	done
done
files=$(find "$S" -type f | wc -l)
entries=$(find "$S" | wc -l)
ok "the tree has more files ($files) than the daemon may open ($LIMIT)" test "$files" -gt $((LIMIT * 10))

mkdir -p "$M"
( ulimit -n $LIMIT && exec "$RLSFS" mount -p full-access --delta "$T/delta" "$S" "$M" ) ||
	{ echo "Bail out! mount failed"; exit 1; }
at_exit "umount_rlsfs '$M'"
pid=$(pgrep -nf "rlsfs mount.* $M\$")
like "$(grep 'open files' /proc/$pid/limits)" "Max open files +$LIMIT +$LIMIT" "the daemon runs under ulimit -n $LIMIT"

is "$(find "$M" 2>&1 | wc -l)" "$entries" "find lists every entry"
is "$(find "$M" -type f -print0 2>&1 | xargs -0 stat -c %s 2>&1 | grep -vc '^[0-9]')" 0 "every file can be stat'ed"
is "$(du -s --apparent-size -B1 "$M" 2>&1 | grep -c 'Too many')" 0 "du walks the tree without EMFILE"
is "$(find "$M" -name '*.py' -print0 | xargs -0 cat 2>&1 | grep -c '^def ')" $((files / 2)) "every file can be read"
is "$(grep -rl 'return 7$' "$M" 2>&1 | wc -l)" 50 "grep -r finds what it should"
is "$(for d in "$M"/pkg*/lib/sub; do echo changed >> "$d/n1.txt" || echo FAIL; done 2>&1 | grep -c .)" 0 \
	"files in every directory can be copied up and written"
is "$(find "$M" 2>&1 | wc -l)" "$entries" "a second walk after the writes lists every entry"
ok "the daemon is still running" kill -0 "$pid"
is "$(ls /proc/$pid/fd | wc -l | awk -v l=$LIMIT '{ print ($1 < l) }')" 1 "the daemon holds fewer descriptors than its limit"
done_testing
