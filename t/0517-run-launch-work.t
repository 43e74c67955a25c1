#!/bin/bash
# What `rls run` leaves out of every run's start, counted rather than timed
# (t/perf/bench-run times it).
# - rls reads and checks a policy file before anything is mounted; a
#   preset, the binary's own text, it hands rlsfs by name and does not
#   parse or compile: rlsfs, which enforces it, does that once.  Counted:
#   the regexes rls itself compiles (a breakpoint on pcre2_compile in rls,
#   not in its children).
# - bubblewrap reads the whole mount table after each of its binds.  As
#   root, rls starts it in a mount namespace without the host's mounts
#   the sandbox never reaches: a mount of the test's own, outside all
#   that the sandbox binds, is in none of bwrap's readings of the table,
#   and the sandbox's own table is what it was.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on oci vm -- "rls's start is the same for every backend: counted under bwrap"
command -v gdb >/dev/null 2>&1 || skip_all "gdb is not installed (make deps)"
need_run_source

cat > "$T/count.gdb" <<'EOF'
set breakpoint pending on
set pagination off
break pcre2_compile_8
commands
silent
printf "pcre2-compile\n"
continue
end
run
EOF
# compiles ARGS...: the patterns rls run ARGS compiles in its own process
compiles() {
	gdb -q -batch -nx -x "$T/count.gdb" --args "$RLS" run "${RUN_BACKEND[@]}" --quiet "$@" 2>/dev/null |
		grep -c '^pcre2-compile'
}

is "$(compiles -- true)" 0 "the default preset: rls compiles none of its patterns"
is "$(compiles -p read-only -- true)" 0 "nor those of a preset named with -p"
mkdir -p "$T/pol"
printf 'extends: agent-safe\nrules:\n  - { pattern: "/src/*.py", permission: write }\n' > "$T/pol/p.yml"
n=$(compiles -p "$T/pol/p.yml" -- true)
ok "a policy file's patterns are compiled by rls, before anything is mounted ($n)" test "$n" -gt 0

run_rls -- sh -c 'echo y > output/o.txt; echo x > src/new.py'
like "$err" "1 access denied by the policy: /src/new.py" \
	"under the default preset, rlsfs still refuses a write the preset does not grant"
ok "and nothing reached the source" test ! -e "$S/src/new.py"
is "$(cat "$S/output/o.txt" 2>/dev/null)" y "while a write it grants is committed"
run_rls -p "$T/pol/p.yml" -- sh -c 'echo x > src/new.py'
is "$(cat "$S/src/new.py" 2>/dev/null)" x "and a policy file's rules hold as checked"
printf 'rules:\n  - { pattern: "/src/[", permission: write }\n' > "$T/pol/bad.yml"
run_rls -p "$T/pol/bad.yml" -- true
is "$rc" 2 "a policy file that does not compile fails the run as bad input"
is "$(kept_deltas)" 0 "before any delta was made"

if [ "$(id -u)" = 0 ] && command -v strace >/dev/null 2>&1; then
	mkdir -p "$T/decoy"
	mount -t tmpfs rls-test-decoy "$T/decoy"
	at_exit "umount -l '$T/decoy' 2>/dev/null"
	strace -f -qq -y -s 65536 -e trace=execve,clone,clone3,vfork,read -o "$T/bwrap.trace" \
		"$RLS" run "${RUN_BACKEND[@]}" --quiet -- cat /proc/self/mountinfo > "$T/inside"
	# bwrap's readings of the mount table: its own and its children's
	# (two passes: strace -f may log a child before its parent's clone returns)
	awk '
		NR == FNR && /execve\("[^"]*bwrap"/ { bw[$1] = 1 }
		NR == FNR && /clone|vfork/ && / = [0-9]+$/ { parent[$NF] = $1 }
		NR == FNR { next }
		FNR == 1 { do { grew = 0; for (c in parent) if (!(c in bw) && (parent[c] in bw)) { bw[c] = 2; grew = 1 } } while (grew) }
		# the process that execs bwrap is rls'"'"'s own child before that
		bw[$1] == 1 && /execve\("[^"]*bwrap"/ { bw[$1] = 2 }
		bw[$1] == 2 && /read\([0-9]+<[^>]*mountinfo>/ { n++; if (index($0, "rls-test-decoy")) d++ }
		END { print n + 0, d + 0 }' "$T/bwrap.trace" "$T/bwrap.trace" > "$T/counts"
	read -r reads decoys < "$T/counts"
	ok "bwrap reads the mount table ($reads reads)" test "$reads" -gt 0
	is "$decoys" 0 "and never sees a host mount the sandbox does not use"
	unlike "$(cat "$T/inside")" "rls-test-decoy" "nor does the sandbox"
	is "$(awk '$5 ~ /^\/(usr|etc|etc\/shadow|proc\/sys|workspace|run\/rls\/init)$/ { print $5 }' "$T/inside" |
		sort | tr '\n' ' ')" "/etc /etc/shadow /proc/sys /run/rls/init /usr /workspace " \
		"whose own mounts are all there"
else
	ok "# skip needs root and strace" true
	ok "# skip needs root and strace" true
	ok "# skip needs root and strace" true
	ok "# skip needs root and strace" true
fi
ok "no rls leaves anything behind" no_leftovers
done_testing
