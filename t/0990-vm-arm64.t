#!/bin/bash
# vm backend: the arm64 guest (make image ARCH=arm64) boots under
# qemu-system-aarch64 with TCG on another architecture and runs one
# command from the shared folder, without the host's system folders
# (their programs would not run there).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vm.sh"
need_vm

[ "$(dpkg --print-architecture)" != arm64 ] || skip_all "the host is arm64: the other tests boot this guest"
A64=$RLS_BUILD/image/arm64
[ -f "$A64/kernel" ] || skip_all "no arm64 image: make deps-arm64 (as root), then make image ARCH=arm64"
command -v qemu-system-aarch64 >/dev/null || skip_all "no qemu-system-aarch64 (make deps: qemu-system-arm)"
command -v aarch64-linux-gnu-gcc >/dev/null || skip_all "no aarch64-linux-gnu-gcc (make deps)"

cat > "$T/hello.c" <<'C'
#include <stdio.h>
#include <sys/utsname.h>
int main(int argc, char **argv)
{
	struct utsname u;

	uname(&u);
	printf("machine=%s arg=%s\n", u.machine, argc > 1 ? argv[1] : "");
	fprintf(stderr, "on stderr\n");
	return 5;
}
C
aarch64-linux-gnu-gcc -static -O2 -o "$W/hello" "$T/hello.c" || skip_all "cannot cross-compile"
chown $VM_UID:$VM_GID "$W/hello"

vm_run --image "$A64" --no-stdin -- /workspace/hello "an arg"
is "$rc" 5 "the arm64 guest runs the command and returns its status"
is "$out" "machine=aarch64 arg=an arg" "which ran on aarch64, with its argument"
is "$err" "on stderr" "its stderr apart"
is "$(res_field kvm)" 0 "under TCG"
vm_run --image "$A64" --no-stdin -- /bin/true
is "$rc" 127 "the host's programs are not in an arm64 guest on an $(dpkg --print-architecture) host"
ok "nothing is left behind" no_vm_leftovers
done_testing
