#!/bin/bash
# vm backend as an ordinary user: no virtiofsd (it needs root), so 9p,
# with qemu as that user and the system view staged in a user namespace
# of its own; the command is that user in the guest too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vm.sh"
need_vm

id nobody >/dev/null 2>&1 || skip_all "no user nobody"
command -v setpriv >/dev/null || skip_all "no setpriv (util-linux)"
setpriv --reuid nobody --regid nogroup --clear-groups unshare -rm true 2>/dev/null ||
	skip_all "an ordinary user cannot make user namespaces here"
uid=$(id -u nobody) gid=$(id -g nobody)
chown "$uid:$gid" "$W" "$TMPDIR"
echo from-host > "$W/in"
chown "$uid:$gid" "$W/in"

as_nobody() {
	setpriv --reuid nobody --regid nogroup --clear-groups env TMPDIR="$TMPDIR" HOME="$TMPDIR" \
		"$VMRUN" --image "$IMAGE" --share "$W" --uid $uid --gid $gid --no-stdin "$@"
}
out=$(as_nobody -- sh -c 'cat /workspace/in; echo from-guest > /workspace/out; id -u; cat /etc/shadow | wc -c' 2>"$T/err")
rc=$?
is "$rc" 0 "an ordinary user runs a command in a VM (9p)"
[ "$rc" = 0 ] || diag "$(cat "$T/err")"
is "$out" "$(printf 'from-host\n%s\n0' "$uid")" "it reads the shared folder, as that user, and /etc/shadow shows nothing"
is "$(cat "$W/out" 2>&1)" from-guest "what it writes is on the host"
is "$(stat -c %u "$W/out" 2>&1)" "$uid" "owned by that user"
out=$(as_nobody --kind virtiofs -- true 2>&1)
like "$out" "virtiofs needs root" "virtiofs is refused, with the way out"
ok "nothing is left behind" no_vm_leftovers
done_testing
