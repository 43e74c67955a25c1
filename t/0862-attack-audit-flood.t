#!/bin/bash
# A program in the sandbox gets itself denied in a tight loop to grow the
# audit log without end (a line per denial, 100,000 lines in seconds).  The
# log is rate-limited and capped in size, counts what it drops in lines of
# its own, and rls run's summary still tells the whole number.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "the audit log's limits are rlsfs's, the same for every backend: checked under bwrap"
need_fuse

S=$T/src M=$T/mnt
mkdir -p "$S"
echo secret > "$S/.env"
echo text > "$S/readme"

# deny N: N opens for writing of a read-only file, each one denied
deny() {
	python3 - "$M/readme" "$1" <<'PY'
import os, sys
for i in range(int(sys.argv[2])):
    try:
        os.close(os.open(sys.argv[1], os.O_WRONLY))
    except OSError:
        pass
PY
}

# unmount and wait for the daemon to be gone: it writes the last line as
# it exits
umount_wait() {
	local pid
	pid=$(pgrep -nf "rlsfs mount.* $M\$")
	umount_rlsfs "$M"
	while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

# audit_sum FILE: "DENIAL-LINES DROPPED BAD-LINES" read from the log
audit_sum() {
	python3 - "$1" <<'PY'
import json, sys
lines = dropped = bad = 0
for l in open(sys.argv[1]):
    try:
        o = json.loads(l)
    except ValueError:
        bad += 1
        continue
    if set(o) == {"time", "dropped"}:
        dropped += o["dropped"]
    elif set(o) == {"time", "op", "path", "level", "errno", "pid"}:
        lines += 1
    else:
        bad += 1
print(lines, dropped, bad)
PY
}

t0=$EPOCHREALTIME
mount_rlsfs "$S" "$M" -p read-only --audit "$T/audit.jsonl" || { echo "Bail out! mount failed"; exit 1; }
deny 20000
umount_wait
t1=$EPOCHREALTIME
read -r lines dropped bad <<< "$(audit_sum "$T/audit.jsonl")"
# the default: a burst of 1,000 lines, then 100 a second
most=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", 1000 + 100 * (b - a) + 1 }')
ok "20,000 denials leave at most the burst and the rate's worth of lines ($lines of at most $most)" \
	test "$lines" -le "$most"
ok "at least the burst" test "$lines" -ge 1000
is "$((lines + dropped))" 20000 "the dropped lines count every denial left out"
is "$bad" 0 "every line is a denial, as before, or a count"
like "$(head -1 "$T/audit.jsonl")" '^\{"time":"[^"]*","op":"open","path":"/readme","level":"read","errno":"EACCES","pid":[0-9]+\}$' \
	"denial lines keep their format"
like "$(tail -1 "$T/audit.jsonl")" '^\{"time":"[^"]*","dropped":[0-9]+\}$' "the count of the last ones dropped is written at unmount"

# the size cap, the rate unlimited
mount_rlsfs "$S" "$M" -p read-only --delta "$T/delta2" --audit "$T/capped.jsonl" --audit-max-size 64K \
	--audit-rate unlimited || { echo "Bail out! mount failed"; exit 1; }
deny 5000
umount_wait
size=$(stat -c %s "$T/capped.jsonl")
ok "--audit-max-size caps the file ($size bytes)" test "$size" -le 65536
read -r lines dropped bad <<< "$(audit_sum "$T/capped.jsonl")"
is "$((lines + dropped)) $bad" "5000 0" "and what it left out is counted"

mount_rlsfs "$S" "$M" -p read-only --delta "$T/delta3" --audit "$T/slow.jsonl" --audit-rate 1:10 ||
	{ echo "Bail out! mount failed"; exit 1; }
t0=$EPOCHREALTIME
deny 300
t1=$EPOCHREALTIME
umount_wait
read -r lines dropped bad <<< "$(audit_sum "$T/slow.jsonl")"
most=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", 10 + (b - a) + 2 }')
ok "--audit-rate 1:10 lets 10 through, then one a second ($lines)" test "$lines" -le "$most" -a "$lines" -ge 10
is "$((lines + dropped))" 300 "counting the rest"

is "$("$RLSFS" mount --audit-rate fast "$S" "$M" 2>&1)" \
	"rlsfs: --audit-rate wants lines a second and a burst (like 100 or 100:1000), 0 or unlimited, not 'fast'" \
	"a bad --audit-rate is refused with the form it wants"

# rls run reads the log: its summary counts the denials not recorded too
if command -v bwrap >/dev/null && bwrap --ro-bind / / --unshare-all true 2>/dev/null; then
	mk_src "$T/run"
	cd "$T/run" || exit 1
	run_rls -- python3 -c '
import os
for i in range(3000):
    try:
        os.close(os.open("src/main.py", os.O_WRONLY))
    except OSError:
        pass'
	cd "$T" || exit 1
	like "$err" "^rls: 3000 accesses denied by the policy: /src/main.py(, \.\.\.)? \([0-9]+ more denials not recorded\)$" \
		"rls run's summary counts the dropped denials in"
else
	ok "# SKIP rls run needs bwrap" true
fi
done_testing
