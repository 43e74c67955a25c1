#!/bin/bash
# t/perf/soak.sh [SECONDS] - a soak of rls run: 8 sandboxes (SOAK_SANDBOXES)
# on one source for SECONDS (default 600) of mixed work, then commits.
#
# Each sandbox runs the differential tester (t/helpers/difftest.c) in its
# own folder of /workspace against a native folder bound in, while a second
# process appends to a shared folder; every 5 s the script samples each
# rlsfs's VmRSS and open descriptors.  Then the deltas are committed one by
# one and each committed folder is compared with its native twin.
#
# Passes when no tester saw a difference, no commit failed, every committed
# folder equals its native tree and every shared write is in the source.
# Prints the figures: operations, RSS and descriptors at start and end
# per rlsfs, commits and conflicts.  Not part of make check.
set -u
SECS=${1:-600}
N=${SOAK_SANDBOXES:-8}
: "${RLS_BUILD:=$(cd "$(dirname "$0")/../.." && pwd)/build}"
RLS=$RLS_BUILD/rls
DT=$RLS_BUILD/t/helpers/difftest
MASKS=(-x dirnlink -x owner -x setid -x nodev -x perms)
[ -x "$DT" ] || { echo "soak: build the tests first (make unit)" >&2; exit 2; }

W=$(mktemp -d "${TMPDIR:-/tmp}/rls-soak.XXXXXX")
chmod 755 "$W"
S=$W/src
mkdir -p "$S/shared"
cp "$DT" "$S/.difftest"
printf 'base\n' > "$S/shared/common"
echo "soak: $N sandboxes, $SECS s, in $W"

pids=()
for i in $(seq 1 "$N"); do
	mkdir -p "$W/nat-$i"
	chmod 777 "$W/nat-$i"
	(cd "$S" && exec "$RLS" run -p full-access --delta "$W/delta-$i" --commit never \
		--bind-rw "$W/nat-$i:/tmp/nat" -- sh -c '
			i=$1; shift
			( n=0; while [ ! -e /tmp/nat/done ]; do
				n=$((n + 1)); echo "$i $n" >> /workspace/shared/log-$i; sleep 0.5
			  done; echo "$n" > /tmp/nat/shared-count ) &
			/workspace/.difftest "$@" /workspace /tmp/nat; rc=$?
			: > /tmp/nat/done; wait
			echo "sandbox $i" > /workspace/shared/common
			exit $rc' sh "$i" -q "${MASKS[@]}" -s $((7000 + i)) -t "$SECS" -d "own-$i") \
		> "$W/log-$i" 2>&1 &
	pids+=($!)
done

# samples: "T I RSS_KB FDS" per rlsfs
sample() {
	local i p rss fds
	for i in $(seq 1 "$N"); do
		p=$(pgrep -f -- "rlsfs mount .*--delta $W/delta-$i " | head -1)
		[ -n "$p" ] || continue
		rss=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null)
		fds=$(ls "/proc/$p/fd" 2>/dev/null | wc -l)
		[ -n "$rss" ] && echo "$SECONDS $i $rss $fds"
	done >> "$W/samples"
}
sleep 3
while :; do
	sample
	alive=0
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
	[ $alive = 1 ] || break
	sleep 5
done
fail=0
for i in $(seq 1 "$N"); do
	wait "${pids[$((i - 1))]}" || { echo "soak: sandbox $i failed:"; sed 's/^/  /' "$W/log-$i" | head -30; fail=1; }
done

ops=0
for i in $(seq 1 "$N"); do
	n=$(sed -n 's/^ok seed [0-9]*: \([0-9]*\) operations.*/\1/p' "$W/log-$i")
	ops=$((ops + ${n:-0}))
done

commits=0 conflicts=0
for i in $(seq 1 "$N"); do
	out=$(cd "$S" && "$RLS" commit --allow-symlinks-out "$W/delta-$i" 2>&1)
	rc=$?
	c=$(printf '%s\n' "$out" | grep -c '^conflict:')
	conflicts=$((conflicts + c))
	# conflicts are expected (shared/common); anything else is an error
	if [ $rc -ne 0 ] && [ "$c" -eq 0 ]; then echo "soak: commit $i failed: $out"; fail=1; else commits=$((commits + 1)); fi
done

for i in $(seq 1 "$N"); do
	out=$("$DT" -C "${MASKS[@]}" -x commitlinks "$S/own-$i" "$W/nat-$i/own-$i" 2>&1) ||
		{ echo "soak: sandbox $i's committed folder differs: $out"; fail=1; }
	want=$(cat "$W/nat-$i/shared-count" 2>/dev/null || echo 0)
	got=$(wc -l < "$S/shared/log-$i" 2>/dev/null || echo 0)
	[ "$got" -eq "$want" ] || { echo "soak: sandbox $i wrote $want shared lines, the source has $got"; fail=1; }
done
grep -q '^sandbox [0-9]*$' "$S/shared/common" || { echo "soak: shared/common lost"; fail=1; }

echo "soak: $ops tester operations without a difference in $N sandboxes, $SECS s"
echo "soak: commits $commits/$N, conflicts $conflicts"
# RSS at the first sample, after a minute (warm), at the end, and its
# highest; descriptors at the first sample and the end
awk -v n="$N" '
	{ if (!($2 in r0)) { r0[$2] = $3; f0[$2] = $4 } if ($1 >= 60 && !($2 in rw)) rw[$2] = $3
	  r1[$2] = $3; f1[$2] = $4; if ($3 > rm[$2]) rm[$2] = $3 }
	END { for (i = 1; i <= n; i++) if (i in r0)
		printf "soak: rlsfs %d: RSS %d, %d at 60 s, %d at the end (max %d) kB; fds %d -> %d\n",
			i, r0[i], rw[i], r1[i], rm[i], f0[i], f1[i] }' "$W/samples"
if [ $fail = 0 ]; then
	echo "soak: ok"
	rm -rf "$W"
else
	echo "soak: FAILED (kept $W)"
fi
exit $fail
