#!/bin/bash
# vm protocol: both readers (the host's of the guest's lines, rls-guest's
# of the host's) under their libFuzzer targets for a fixed number of
# inputs from the seed corpus: no crash, no leak, no overflow.  make fuzz
# runs them for longer.
. "$(dirname "$0")/lib.sh"

F=${RLS_FUZZ_BUILD:-$RLS_SRC/build/fuzz}
for target in vm-proto guest-proto; do
	bin=$F/fuzz-$target
	if [ ! -x "$bin" ]; then
		diag "no $bin (clang with libFuzzer builds it)"
		continue
	fi
	mkdir -p "$T/corpus-$target"
	ok "the $target reader survives 20000 fuzzed inputs" \
		"$bin" -seed=1 -runs=20000 -max_len=70000 -artifact_prefix="$T/" "$T/corpus-$target" \
		"$RLS_SRC/t/fuzz/corpus-$target"
done
done_testing
