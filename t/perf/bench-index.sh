#!/bin/sh
# bench-index.sh - what the delta's index costs on an rlsfs mount: creating
# 5,000 files in one folder, and renaming a folder with 10,000 entries below
# it against renaming one with 10 (the index keys entries by parent folder
# and name, so a folder moves by one record whatever lies below it: the
# ratio should be near 1).  Medians of the rounds are printed: wall time,
# and the daemon's own CPU time (steadier on a loaded machine).
# RLSFS=... measures another build.  Root (FUSE mounts).  Not a test.
set -e
: "${RLS_BUILD:=$(cd "$(dirname "$0")/../.." && pwd)/build}"
: "${RLSFS:=$RLS_BUILD/rlsfs}"
ROUNDS=${RLS_BENCH_ROUNDS:-3}
[ "$(id -u)" = 0 ] || { echo "bench-index: needs root"; exit 0; }
W=$(mktemp -d "${TMPDIR:-/var/tmp}/rls-bench-index.XXXXXX")
trap 'umount "$W/mnt" 2>/dev/null; rm -rf "$W"' EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
elapsed() { echo "$2 - $1" | bc; }
# CPU seconds (user + system) the daemon has used
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f\n", ($14 + $15) / hz }' "/proc/$pid/stat"; }

: > "$W/t.create"; : > "$W/t.big"; : > "$W/t.small"; : > "$W/c.create"; : > "$W/c.big"
i=0
while [ $i -lt "$ROUNDS" ]; do
	i=$((i + 1))
	rm -rf "$W/src" "$W/delta"
	mkdir -p "$W/src" "$W/mnt"
	"$RLSFS" mount -p full-access --delta "$W/delta" "$W/src" "$W/mnt"
	M=$W/mnt
	pid=$(pgrep -f "rlsfs mount.* $M\$" | head -1)
	mkdir "$M/c"
	c0=$(cpu); t0=$(now); (cd "$M/c" && seq 1 5000 | xargs touch); t1=$(now); c1=$(cpu)
	elapsed "$t0" "$t1" >> "$W/t.create"; elapsed "$c0" "$c1" >> "$W/c.create"
	# 100 folders of 99 files: 10,000 entries below big/
	mkdir -p "$M/big" "$M/small"
	for d in $(seq 1 100); do mkdir "$M/big/$d"; done
	(cd "$M/big" && for d in $(seq 1 100); do seq -f "$d/f%g" 1 99; done | xargs touch)
	(cd "$M/small" && seq 1 10 | xargs touch)
	c0=$(cpu); t0=$(now); mv "$M/big" "$M/big2"; t1=$(now); c1=$(cpu)
	elapsed "$t0" "$t1" >> "$W/t.big"; elapsed "$c0" "$c1" >> "$W/c.big"
	t0=$(now); mv "$M/small" "$M/small2"; t1=$(now)
	elapsed "$t0" "$t1" >> "$W/t.small"
	[ "$(ls "$M/big2/57" | wc -l)" = 99 ] || echo "bench-index: the moved folder lost entries"
	"$RLSFS" umount "$M"
done
c=$(median < "$W/t.create") b=$(median < "$W/t.big") s=$(median < "$W/t.small")
cc=$(median < "$W/c.create") cb=$(median < "$W/c.big")
printf 'index: create 5,000 files %.3f s (daemon CPU %.2f s); rename a folder with 10,000 entries %.4f s (daemon CPU %.2f s), with 10 %.4f s (ratio %.1f)\n' \
	"$c" "$cc" "$b" "$cb" "$s" "$(echo "$b / $s" | bc -l)"
