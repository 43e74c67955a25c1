#!/bin/bash
# rls run: the denial summary, --quiet, --audit and the --json object.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
need_run_source

agent="cat .env; echo new > src/new.py; echo r > output/report.txt"
run_rls -- sh -c "$agent"
like "$err" "2 accesses denied by the policy: /.env, /src/new.py" "the denied accesses are summed up on stderr"
run_rls --quiet -- sh -c "exec 2>/dev/null; $agent"
is "$err" "" "--quiet prints no summary"
run_rls --audit "$T/audit.jsonl" -- sh -c "$agent"
ok "--audit keeps the log of denials" assert_file_has_content "$T/audit.jsonl" '"path":"/\.env"'
is "$(wc -l < "$T/audit.jsonl")" 2 "one JSON line per denial"

run_rls --json -- sh -c "$agent; exit 4"
json=$out
check() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' "$json" "$1"; }
ok "--json prints one JSON object on stdout" check 'isinstance(d, dict)'
ok "with the exit status" check 'd["exit_status"] == 4'
ok "whether it timed out" check 'd["timed_out"] is False'
ok "its duration" check 'isinstance(d["duration_s"], float) and d["duration_s"] > 0'
ok "what was committed" check 'd["committed"] == {"added": 0, "modified": 1, "deleted": 0}'
ok "the conflicts" check 'd["conflicts"] == []'
ok "the denials" check 'd["denials"]["count"] == 2 and d["denials"]["paths"] == ["/.env", "/src/new.py"]'
ok "the limits" check 'set(d["limits"]) == {"memory", "cpus", "pids"}'
ok "and no kept delta" check 'd["delta"] is None and d["commit"] == "done"'
run_rls --json --commit never -- sh -c 'echo x > output/y'
json=$out
ok "a kept delta's path is in the object" check 'd["delta"].startswith("'"$T"'/state/") and d["commit"] == "kept"'
rm -rf "$T/state/rls/deltas"
run_rls --json --timeout 0.3 -- sleep 10
json=$out
ok "a timeout shows as timed_out and status 124" check 'd["timed_out"] is True and d["exit_status"] == 124'
cd "$T" || exit 1
rm -rf "$T/state/rls/deltas"
ok "nothing is left behind" no_leftovers
done_testing
