#!/bin/bash
# rls run: --pids, --memory and --cpus are enforced, and say how.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "cgroups hold host processes; the vm backend sizes the VM instead (t/0930-vm-limits-signals.t)"
need_run_source

forks='import os, signal
pids = []
try:
    for i in range(150):
        p = os.fork()
        if p == 0:
            signal.pause()
            os._exit(0)
        pids.append(p)
except OSError:
    pass
print(len(pids))
for p in pids:
    os.kill(p, 9)'
run_rls -- python3 -c "$forks"
is "$out" 150 "without --pids a command can make many processes"
if ! skip_on oci-runsc -- "the pids cgroup counts gVisor's own threads, not the command's processes (rls(1), Backends)"; then
	run_rls --pids 20 --json -- python3 -c "$forks"
	n=$(printf '%s\n' "$out" | head -1)
	ok "with --pids 20 a fork bomb is bounded (made $n)" test "$n" -lt 20
	like "$json" '"pids":"(cgroup-v[12]|rlimit)"' "--json says how --pids was enforced"
fi

hog='b = b"x" * (400 * 1024 * 1024); print("allocated")'
run_rls -- python3 -c "$hog"
is "$out" allocated "without --memory 400 MiB can be allocated"
run_rls --memory 64M --json -- python3 -c "$hog"
unlike "$out" "^allocated" "with --memory 64M it cannot"
ok "and the command fails" test "$rc" -ne 0
like "$json" '"memory":"(cgroup-v[12]|rlimit)"' "--json says how --memory was enforced"
if printf '%s' "$json" | grep -q '"memory":"cgroup-v'; then
	run_rls --memory 64M -- python3 -c "open('output/partial.txt', 'w').write('x'); $hog"
	is "$rc" 137 "a command killed for its memory limit exits 137"
	like "$err" "killed: memory limit 64M reached" "and rls says the memory limit killed it"
	ok "its partial work is not committed" test ! -e "$S/output/partial.txt"
	like "$err" "delta kept" "the delta is kept"
	rm -rf "$T/state/rls/deltas"
fi

if skip_on oci-runsc -- "gVisor's own CPU clock also runs while its Sentry is throttled"; then
	:
elif [ "$(id -u)" = 0 ] && [ -d /sys/fs/cgroup/cpu ] || [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	spin='import time
t = time.time()
while time.time() - t < 1.0:
    pass
print(round(time.process_time(), 2))'
	run_rls --cpus 0.2 --json -- python3 -c "$spin"
	cpu=$(printf '%s\n' "$out" | head -1)
	ok "with --cpus 0.2 a second of spinning gets about 0.2 s of CPU ($cpu)" \
		python3 -c "import sys; sys.exit(0 if float('$cpu') < 0.5 else 1)"
	like "$json" '"cpus":"cgroup-v[12]"' "--json says --cpus went through a cgroup"
else
	_tap_result 0 "# skip --cpus needs a cgroup (not root)"
fi
run_rls --delta-quota 1M -- sh -c 'head -c 4M /dev/zero > output/big 2>/dev/null; echo $?'
is "$out" 1 "--delta-quota bounds what the command may write into the delta"
ok "and what did fit is at most the quota" test "$(stat -c %s "$S/output/big" 2>/dev/null || echo 0)" -le 1048576
rm -f "$S/output/big"
run_rls --delta-quota lots -- true
is "$rc" 2 "a bad --delta-quota is a usage error"
run_rls --json -- true
like "$json" '"limits":\{"memory":null,"cpus":null,"pids":null\}' "without limits, --json says null for each"
ok "the cgroup is removed afterwards" no_leftovers
done_testing
