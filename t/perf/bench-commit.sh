#!/bin/sh
# bench-commit.sh - rls commit against cp -a + sync of the same data:
# 5,000 small files, and (RLS_BENCH_BIG=1) one 1 GiB file.  Rounds are
# interleaved; the medians and their ratio are printed (each round's times
# too with RLS_BENCH_VERBOSE=1).  The delta sits beside the source, so
# commit moves its files; RLS_BENCH_DELTA_DIR=/dev/shm (another filesystem)
# measures the copying commit.  `sync` is system-wide: other writers on the
# machine show up in both columns.  Not a test.
set -e
: "${RLS_BUILD:=$(cd "$(dirname "$0")/../.." && pwd)/build}"
RLS=$RLS_BUILD/rls
FX=$RLS_BUILD/t/delta-fixture
ROUNDS=${RLS_BENCH_ROUNDS:-5}
[ -x "$FX" ] || { echo "bench-commit: no $FX (make unit)"; exit 0; }
W=$(mktemp -d "${TMPDIR:-/var/tmp}/rls-bench-commit.XXXXXX")
D=$W
[ -z "${RLS_BENCH_DELTA_DIR:-}" ] || D=$(mktemp -d "$RLS_BENCH_DELTA_DIR/rls-bench-delta.XXXXXX")
trap 'rm -rf "$W" "$D"' EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# $1 name, $2 spec file
bench() {
	: > "$W/t.rls"; : > "$W/t.cp"
	i=0
	while [ $i -lt "$ROUNDS" ]; do
		i=$((i + 1))
		rm -rf "$W/src" "$D/delta" "$W/cp-src" "$W/cp-dst"
		mkdir -p "$W/src"
		"$FX" "$D/delta" "$W/src" < "$2"
		# the same files as plain files, for cp -a
		mkdir -p "$W/cp-src"; cp -a "$D/delta/data/." "$W/cp-src/"
		sync
		t0=$(now); "$RLS" commit "$D/delta" > /dev/null; t1=$(now)
		tr=$(echo "$t1 - $t0" | bc); echo "$tr" >> "$W/t.rls"
		sync
		t0=$(now); cp -a "$W/cp-src" "$W/cp-dst" && sync; t1=$(now)
		tc=$(echo "$t1 - $t0" | bc); echo "$tc" >> "$W/t.cp"
		[ "${RLS_BENCH_VERBOSE:-0}" = 0 ] || echo "  round $i: rls commit $tr s, cp -a + sync $tc s"
	done
	r=$(median < "$W/t.rls"); c=$(median < "$W/t.cp")
	printf 'commit %-22s rls commit %8.3f s   cp -a + sync %8.3f s   ratio %5.2f\n' "$1" "$r" "$c" "$(echo "$r / $c" | bc -l)"
}

awk 'BEGIN { for (i = 0; i < 5000; i++) printf "new /d%02d/f%04d small file %d with some text\\n\n", i % 50, i, i }' > "$W/spec-small"
# the fixture does not make parents: give the 50 directories as new dirs first
{ awk 'BEGIN { for (d = 0; d < 50; d++) printf "mkdir /d%02d 755\n", d }'; cat "$W/spec-small"; } > "$W/spec-small2"
bench "5000 small files" "$W/spec-small2"

if [ "${RLS_BENCH_BIG:-0}" = 1 ]; then
	echo "bin /big 1073741824" > "$W/spec-big"
	ROUNDS=${RLS_BENCH_BIG_ROUNDS:-3}
	bench "one 1 GiB file" "$W/spec-big"
fi
