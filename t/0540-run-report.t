#!/bin/bash
# rls run: the denial summary, --quiet, --audit and the --json object.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
need_run_source

agent="cat .env; echo new > src/new.py; echo r > output/report.txt"
skip_on vm -- "the summary is checked on the --json run below; each run boots a VM" || {
	run_rls -- sh -c "$agent"
	like "$err" "2 accesses denied by the policy: /.env, /src/new.py" "the denied accesses are summed up on stderr"
}
if ! skip_on vm -- "the launcher's reporting, the same for every backend: checked under bwrap; each run boots a VM"; then
	run_rls --quiet -- sh -c "exec 2>/dev/null; $agent"
	is "$err" "" "--quiet prints no summary"
	run_rls --audit "$T/audit.jsonl" -- sh -c "$agent"
	ok "--audit keeps the log of denials" assert_file_has_content "$T/audit.jsonl" '"path":"/\.env"'
	is "$(wc -l < "$T/audit.jsonl")" 2 "one JSON line per denial"
fi

# (the report the agent rewrites: there already, whichever runs came before)
[ -e "$S/output/report.txt" ] || echo old > "$S/output/report.txt"
run_rls --json -- sh -c "$agent; exit 4"
check() { printf '%s' "$json" | python3 -c 'import json, sys; d = json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"; }
ok "--json FILE writes one JSON object there" check 'isinstance(d, dict)'
unlike "$out" "exit_status" "and nothing of it on stdout"
ok "with the exit status" check 'd["exit_status"] == 4'
ok "whether it timed out" check 'd["timed_out"] is False'
ok "its duration" check 'isinstance(d["duration_s"], float) and d["duration_s"] > 0'
ok "what was committed" check 'd["committed"] == {"added": 0, "modified": 1, "deleted": 0}'
ok "the conflicts" check 'd["conflicts"] == []'
ok "the denials" check 'd["denials"]["count"] == 2 and d["denials"]["paths"] == ["/.env", "/src/new.py"]'
ok "the limits" check 'set(d["limits"]) == {"memory", "cpus", "pids"}'
ok "and no kept delta" check 'd["delta"] is None and d["commit"] == "done"'
like "$err" "2 accesses denied by the policy: /.env, /src/new.py" "with --json too, the denials are summed up on stderr"
if ! skip_on vm -- "the launcher's reporting, the same for every backend: checked under bwrap; each run boots a VM"; then
	run_rls --json --commit never -- sh -c 'echo x > output/y'
	ok "a kept delta's path is in the object" check 'd["delta"].startswith("'"$T"'/state/") and d["commit"] == "kept"'
fi
rm -rf "$T/state/rls/deltas"
if ! skip_on vm -- "the object is the launcher's; the vm backend's timeout is checked by t/0510; each run boots a VM"; then
	run_rls --json --timeout 0.3 -- sleep 10
	ok "a timeout shows as timed_out and status 124" check 'd["timed_out"] is True and d["exit_status"] == 124'
	ok "and says what killed it" check 'd["killed_by"] == "timeout"'
fi
if ! skip_on vm -- "the launcher's reporting, the same for every backend: checked under bwrap; each run boots a VM"; then
	run_rls --json -- echo hello
	is "$out" hello "the command's output stays apart from the object (python3 -m json.tool reads it)"
	ok "the object names the policy" check 'd["policy"].startswith("preset agent-safe")'
fi
run_rls --json -- no-such-command-here
is "$rc" 127 "a command not found still exits 127"
ok "and the object is written all the same" check 'd["exit_status"] == 127 and "not found" in d["error"]'
run_rls --json --capture -- sh -c 'echo to-out; echo to-err >&2; printf "\377\n"'
ok "--capture puts stdout in the object" check 'd["stdout"] == "to-out\n\ufffd\n"'
ok "and stderr apart" check 'd["stderr"] == "to-err\n"'
unlike "$out" "to-out" "instead of the terminal"
if ! skip_on vm -- "the launcher's reporting, the same for every backend: checked under bwrap; each run boots a VM"; then
	run_rls --json --capture -- sh -c 'head -c 20000000 /dev/zero | tr "\000" x'
	ok "output beyond 16 MiB is counted, not kept" check 'len(d["stdout"]) == 16 << 20 and d["output_dropped"]["stdout"] == 20000000 - (16 << 20)'
	exec 3>"$T/fd.json"
	"$RLS" run "${RUN_BACKEND[@]}" --json-fd 3 -- true 2>/dev/null
	exec 3>&-
	json=$(cat "$T/fd.json")
	ok "--json-fd N writes the object to a descriptor" check 'd["exit_status"] == 0'
fi
run_rls --capture -- true
like "$rc:$err" "^2:.*--capture puts the output in the --json object" "--capture alone is refused"
"$RLS" run --json -- true >/dev/null 2>"$T/e"
like "$(cat "$T/e")" "--json wants a FILE" "--json without a file is refused, not taken as --"
cd "$T" || exit 1
rm -rf "$T/state/rls/deltas"
ok "nothing is left behind" no_leftovers
done_testing
