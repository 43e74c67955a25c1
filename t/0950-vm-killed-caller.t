#!/bin/bash
# vm backend: the caller killed outright (SIGKILL, to it alone or to its
# whole process group) while the command runs: qemu and virtiofsd die
# with it, and the janitor removes the private folder.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vm.sh"
need_vm

for kind in virtiofs 9p; do
	rm -f "$T/out"
	setsid "$VMRUN" --image "$IMAGE" --share "$W" --uid $VM_UID --gid $VM_GID --kind $kind --no-stdin \
		-- sh -c 'echo ready; sleep 1000' > "$T/out" 2>/dev/null &
	pid=$!
	ok "$kind: the command starts" wait_for "$T/out" '^ready$'
	if [ $kind = virtiofs ]; then
		how="the caller"
		kill -KILL $pid
	else
		how="the caller's process group"
		kill -KILL -- -$pid
	fi
	wait $pid 2>/dev/null
	ok "$kind: SIGKILL to $how leaves no qemu, virtiofsd or folder behind" no_vm_leftovers
done
done_testing
