#!/bin/bash
# vm backend: bad requests, a missing image or qemu, and guests that never
# answer, crash, or break the protocol: one clear line each, nothing
# left behind, and nothing the guest wrote reaches the terminal raw.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vm.sh"
need_vm

one_line() { [ "$(printf '%s\n' "$err" | wc -l)" = 1 ]; }

vm_run --image "$T/nowhere" -- true
is "$rc" 125 "no image: the run fails"
like "$err" "no guest image in $T/nowhere .*make image" "and says to run make image"
ok "on one line" one_line

err=$(env PATH=/nonexistent "$VMRUN" --image "$IMAGE" --share "$W" --uid $VM_UID --gid $VM_GID -- true 2>&1)
like "$err" "qemu-system-x86_64 is not installed \(Debian: qemu-system-x86" "no qemu: says which package to install"
ok "on one line" one_line

vm_run --uid 0 -- true
like "$err" "never runs as uid or gid 0" "uid 0 is refused"
vm_run --gid 0 -- true
like "$err" "never runs as uid or gid 0" "so is gid 0"
vm_run --mount-at workspace -- true
like "$err" "normal absolute path" "a relative mount point is refused"
vm_run --mount-at /workspace/../etc -- true
like "$err" "normal absolute path" "so is one with '..'"
vm_run --mount-at /proc/x -- true
like "$err" "cannot be under /proc" "so is one under /proc"
vm_run --kind nfs -- true
like "$err" "virtiofs or 9p" "an unknown share is refused"
vm_run --env NOEQUALS -- true
like "$err" "NAME=VALUE" "an environment entry without '=' is refused"
ok "nothing is left behind" no_vm_leftovers


# Guests that misbehave: the real kernel, an initramfs whose /init is
# t/vm/evil-guest in one of its modes.
[ -x "$EVIL" ] || { diag "no $EVIL"; done_testing; }
for m in silent crash garbage huge badfd write-sys; do evil_image $m; done

vm_run --image "$T/evil-silent" --boot-timeout 5 --no-stdin -- true
is "$rc" 125 "a guest that never answers fails the run"
like "$err" "did not answer within 5 s; the guest's console ended with: " \
	"at the boot timeout, with the console's last lines"
ok "on one line" one_line
ok "nothing is left behind" no_vm_leftovers

vm_run --image "$T/evil-crash" --no-stdin -- true
is "$rc" 125 "a guest whose pid 1 dies fails the run"
like "$err" "stopped before it answered \(Kernel panic - not syncing: Attempted to kill init" \
	"saying the guest stopped, and why"
ok "nothing is left behind" no_vm_leftovers

vm_run --image "$T/evil-garbage" --no-stdin -- true
is "$rc" 125 "a line that is not JSON fails the run"
like "$err" "broke the protocol" "as a broken protocol"
unlike "$err" $'\033' "the escapes the guest wrote to its console are not printed raw"
like "$err" '\?\]0;owned' "but shown made harmless"
ok "nothing is left behind" no_vm_leftovers

vm_run --image "$T/evil-huge" --no-stdin -- true
is "$rc" 125 "a line longer than the limit fails the run"
like "$err" "longer than 65536 bytes" "and says so"
ok "nothing is left behind" no_vm_leftovers

# (a timeout, so that a host that took the line would end, not hang)
vm_run --image "$T/evil-badfd" --no-stdin --timeout 30 -- true
is "$rc" 125 "output for a stream that does not exist fails the run"
like "$err" "\"fd\" is out of range" "and says which field"
is "$out" "" "and nothing of it reaches stdout"
ok "nothing is left behind" no_vm_leftovers

# The system share is read-only on the host's side, whatever the guest's
# kernel makes of its mount options.
at_exit "rm -f /usr/rls-evil-guest /etc/rls-evil-guest"
vm_run --image "$T/evil-write-sys" --kind virtiofs --no-stdin -- true
like "$err" "sys: /usr/rls-evil-guest=Read-only file system /etc/rls-evil-guest=Read-only file system /rls-evil-guest=Read-only file system" \
	"a guest that mounts the system share read-write still cannot write to /usr, /etc or its top"
is "$(ls /usr/rls-evil-guest /etc/rls-evil-guest 2>/dev/null)" "" "and nothing was written on the host"
ok "nothing is left behind" no_vm_leftovers
done_testing
