#!/bin/bash
# vm backend: a command that outgrows the VM's memory, one that outlives
# its timeout, one that ignores the polite signal, signals the caller
# receives going on to the command, and a Ctrl-C while the guest still
# boots.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vm.sh"
need_vm

# 384 MiB: more than a VM of 256 MiB holds, less than the default 512.
vm_run --no-stdin --memory 268435456 -- python3 -c '
a = [b"x" * (16 << 20) for i in range(24)]'
is "$rc" 137 "a command that outgrows the VM's memory (--memory) is killed (128 + SIGKILL)"
is "$(res_field signal):$(res_field started)" "9:1" "by the guest's OOM killer, which spares rls-guest: the status still comes back"

# The timeout runs from the command's start: 3 s leave a TCG guest on a
# busy host the time to reach the trap, which 1 s did not always.
vm_run --no-stdin --timeout 3 --grace 1 -- sh -c "trap '' TERM; echo stubborn; sleep 1000"
is "$rc" 124 "a command that ignores SIGTERM still ends at the timeout"
is "$(res_field timed_out):$(res_field signal)" "1:9" "the VM ends after the grace: killed"
is "$out" stubborn "what it wrote before still arrives"
ok "nothing is left behind" no_vm_leftovers

# A plain timeout (SIGTERM, 124) and signals to the caller reaching the
# command: the shared run suite (t/0510, t/0550) under --backend vm.

# A Ctrl-C while the guest boots ends the run: nothing to forward it to.
"$VMRUN" --image "$IMAGE" --share "$W" --uid $VM_UID --gid $VM_GID --no-stdin --signals --result "$T/res" \
	-- true > "$T/out" 2> "$T/err" &
pid=$!
ok "qemu starts" sh -c "for i in \$(seq 300); do pgrep -P $pid -f qemu-system >/dev/null && exit 0; sleep 0.1; done; exit 1"
kill -INT $pid
wait $pid
rc=$?
is "$rc" 125 "SIGINT before the command starts ends the run"
like "$(cat "$T/err")" "interrupted by Interrupt before the command started" "and says so"
is "$(sed 's/.*interrupted=\([0-9]*\).*/\1/' "$T/res")" 2 "vm_run says which signal"
ok "nothing is left behind" no_vm_leftovers
done_testing
