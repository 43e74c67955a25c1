#!/bin/bash
# vm backend: KVM or TCG.  The probe boots the image under KVM and gives
# up after a few seconds (nested KVM hangs a guest here), keeps its answer
# for this host boot, and ignores an answer from another boot.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vm.sh"
need_vm

export XDG_STATE_HOME=$T/state RLS_IMAGE_DIR=$IMAGE
unset RLS_VM_ACCEL
cache=$T/state/rls/vm/kvm
boot=$(cat /proc/sys/kernel/random/boot_id)

out=$(timeout 120 "$VMRUN" --probe 2>&1); rc=$?
is "$rc" 0 "the probe ends (it cannot hang)"
like "$out" "guest \($IMAGE\) under (KVM|TCG, slow) \(" "and says how a VM runs here"
like "$(cat "$cache" 2>&1)" "^$boot [01] " "its answer is kept for this boot"

sed -i "s/^\($boot [01]\) .*/\1 cached-marker/" "$cache"
out=$(timeout 120 "$VMRUN" --probe 2>&1)
like "$out" "cached-marker" "the next run takes the kept answer"

echo "another-boot 1 fake" > "$cache"
out=$(timeout 120 "$VMRUN" --probe 2>&1)
unlike "$out" "fake" "an answer from another boot is not believed"
like "$(cat "$cache" 2>&1)" "^$boot [01] " "and is replaced"

out=$(RLS_VM_ACCEL=tcg "$VMRUN" --probe 2>&1)
like "$out" "under TCG, slow \(RLS_VM_ACCEL=tcg\)" "RLS_VM_ACCEL=tcg decides without probing"
ok "nothing is left behind" no_vm_leftovers
done_testing
