#!/bin/bash
# Every libFuzzer target (the policy parser, the delta's index and journal
# records) runs for a few seconds: what a damaged or hostile input makes a
# decoder do is found here before a long `make fuzz` finds it.
. "$(dirname "$0")/lib.sh"
F=${RLS_FUZZ:-$RLS_SRC/build/fuzz}
SECONDS_EACH=${FUZZ_CHECK_SECONDS:-3}
ls "$F"/fuzz-* >/dev/null 2>&1 || skip_all "no fuzzers in $F (make needs clang)"

for fz in "$F"/fuzz-*; do
	[ -x "$fz" ] || continue
	name=${fz##*/}
	mkdir -p "$T/$name"
	seeds=
	case $name in fuzz-policy|fuzz-policy-snapshot) seeds=$RLS_SRC/t/fuzz/corpus ;; esac
	"$fz" -max_total_time="$SECONDS_EACH" -max_len=8192 -artifact_prefix="$T/$name/" \
		"$T/$name" $seeds >"$T/$name.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^#\([0-9]*\).*DONE.*/\1/p' "$T/$name.log" | tail -1)
	is "$rc" 0 "$name runs ${SECONDS_EACH} s (${runs:-?} inputs) without a crash"
	[ "$rc" = 0 ] || { tail -20 "$T/$name.log" | sed 's/^/# /'; ls "$T/$name"/crash-* 2>/dev/null | sed 's/^/# /'; }
	like "$runs" '^[0-9]+$' "and reports the inputs it ran"
done
done_testing
