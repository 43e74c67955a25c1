#!/bin/bash
# The policy's snapshot: rls run checks the policy and hands rlsfs what it
# read (rlsfs --policy-fd), so that the policy rlsfs enforces is the one
# checked, even when the file is swapped between the two.  A snapshot
# that is not sealed, or is malformed, is refused.
. "$(dirname "$0")/lib.sh"
need_fuse
SNAP=$RLS_BUILD/t/helpers/policy-snapshot

S=$T/src M=$T/mnt
mkdir -p "$S/out" "$S/docs" "$M"
echo open > "$S/docs/readme"
echo secret > "$S/docs/secret.txt"
mkdir -p "$T/p"
# The policy checked: docs readable but secret.txt hidden, out writable;
# it extends a base of its own, which is swapped too.
printf 'rules:\n  - { pattern: "**", permission: read }\n' > "$T/p/base.yml"
printf 'extends: base.yml\nrules:\n  - { pattern: "/out/**", permission: write }\nhide: ["**/secret.txt"]\n' \
	> "$T/p/policy.yml"
# What an attacker swaps in: everything writable, nothing hidden.
printf 'rules:\n  - { pattern: "**", permission: write }\n' > "$T/evil.yml"

cp "$T/evil.yml" "$T/evil2.yml"
"$SNAP" --swap "$T/p/policy.yml" "$T/evil.yml" "$T/p/policy.yml" "$S" -- \
	"$RLSFS" mount --policy-fd 3 -p "$T/p/policy.yml" --delta "$T/delta" "$S" "$M"
is "$?" 0 "rlsfs mounts with a snapshot of the policy"
at_exit "umount_rlsfs '$M'"
like "$(cat "$T/p/policy.yml")" '"\*\*", permission: write' "the file was swapped after the snapshot"
ok "the mount hides what the snapshot hides" test ! -e "$M/docs/secret.txt"
ok "and shows what it shows" test -e "$M/docs/readme"
ok "and lets write what it lets write" sh -c "echo x > '$M/out/new'"
fails "and nothing else: the swapped-in policy is not read" sh -c "echo x > '$M/docs/new' 2>/dev/null"
umount_rlsfs "$M"

# The base swapped: an extended file comes from the snapshot too.
printf 'rules:\n  - { pattern: "**", permission: read }\n' > "$T/p/base.yml"
printf 'extends: base.yml\nrules:\n  - { pattern: "/out/**", permission: write }\nhide: ["**/secret.txt"]\n' \
	> "$T/p/policy.yml"
"$SNAP" --swap "$T/p/base.yml" "$T/evil2.yml" "$T/p/policy.yml" "$S" -- \
	"$RLSFS" mount --policy-fd 3 -p "$T/p/policy.yml" --delta "$T/delta2" "$S" "$M"
fails "a file it extends, swapped, is not read either" sh -c "echo x > '$M/docs/new2' 2>/dev/null"
umount_rlsfs "$M"

printf 'rules:\n  - { pattern: "**", permission: read }\n' > "$T/p/base.yml"
out=$("$SNAP" --unsealed "$T/p/policy.yml" "$S" -- \
	"$RLSFS" mount --policy-fd 3 -p "$T/p/policy.yml" --delta "$T/delta3" "$S" "$M" 2>&1)
rc=$?
is "$rc" 2 "a snapshot left unsealed is refused as bad input"
like "$out" "not a sealed policy snapshot" "and says so"
ok "and nothing is mounted" sh -c "! mountpoint -q '$M'"

out=$("$RLSFS" mount --policy-fd 3 -p "$T/p/policy.yml" --delta "$T/delta3" "$S" "$M" 2>&1 3<"$T/p/policy.yml")
is "$?" 2 "a policy file given as a snapshot is refused"
is "$(printf '%s\n' "$out" | wc -l)" 1 "in one line"

out=$("$SNAP" agent-safe "$S" -- "$RLSFS" mount --policy-fd 3 --delta "$T/delta3" "$S" "$M" 2>&1)
is "$?" 2 "a snapshot without -p naming it is refused"
like "$out" "wants -p" "and says what is missing"

# Cut short anywhere, a snapshot is refused, in one line, never read past.
size=$("$SNAP" "$T/p/policy.yml" "$S" -- sh -c 'stat -L -c %s /proc/self/fd/3')
bad=0
for n in 0 5 21 22 23 40 $((size / 2)) $((size - 30)) $((size - 1)); do
	out=$("$SNAP" --cut $n "$T/p/policy.yml" "$S" -- \
		"$RLSFS" mount --policy-fd 3 -p "$T/p/policy.yml" --delta "$T/delta4" "$S" "$M" 2>&1)
	rc=$?
	if [ $rc -ne 2 ] || [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ] || mountpoint -q "$M" ||
		! printf '%s\n' "$out" | grep -q "snapshot"; then
		bad=$((bad + 1)); diag "cut at $n of $size: $rc: $out"
		umount_rlsfs "$M"
	fi
done
is "$bad" 0 "a snapshot cut short anywhere is refused in one line, as a bad snapshot"
"$SNAP" "$T/p/policy.yml" "$S" -- \
	"$RLSFS" mount --policy-fd 3 -p "$T/p/policy.yml" --delta "$T/delta4" "$S" "$M"
is "$?" 0 "whole, the same snapshot mounts"
umount_rlsfs "$M"

# rls run hands its rlsfs the snapshot.
mkdir -p "$T/state"
( cd "$S" && XDG_STATE_HOME=$T/state "$RLS" run -p "$T/p/policy.yml" -- sleep 30.0217 >/dev/null 2>&1 ) &
rls=$!
pid=
for i in $(seq 200); do pid=$(pgrep -f "rlsfs mount .* $S /" | head -1); [ -n "$pid" ] && break; sleep 0.05; done
like "$(tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null)" "--policy-fd [0-9]+ " \
	"rls run hands its rlsfs the snapshot of the policy it checked"
pkill -f '^sleep 30.0217$'
wait $rls
done_testing
