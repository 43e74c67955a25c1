# t/lib-vm.sh - helpers for the vm backend's tests (t/09xx-vm-*), after lib.sh.
#
#   need_vm               skip unless the image, qemu and root are here
#   vm_run ARGS...        t/helpers/vm-run with the image; sets $out, $err,
#                         $rc, and $res (its vm_result line, NAME=VALUE ...)
#   res_field NAME        one field of $res
#   vm_leftovers          what a run left behind: processes of this test's
#                         qemu or virtiofsd, folders in $TMPDIR (empty: none)
#   evil_image MODE       $T/evil-MODE: the image with t/vm/evil-guest as
#                         its /init, misbehaving as MODE says
#   wait_for FILE REGEX   poll (up to 300 s: TCG boots are slow) until FILE
#                         holds REGEX
#
# Each test shares $W (owned by $VM_UID:$VM_GID, the command's identity)
# and runs vm-run with TMPDIR=$T/tmp, so that what is left is easy to see.

VMRUN=$RLS_BUILD/t/helpers/vm-run
IMAGE=$RLS_BUILD/image
VM_UID=4242
VM_GID=4343
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"

need_vm() {
	[ "$(id -u)" = 0 ] || skip_all "the vm tests run as root (virtiofsd)"
	[ -x "$VMRUN" ] || skip_all "no $VMRUN (make unit)"
	[ -f "$IMAGE/kernel" ] && [ -f "$IMAGE/initramfs.img" ] ||
		skip_all "no guest image in $IMAGE: make deps (the kernel package), then make image"
	command -v qemu-system-x86_64 >/dev/null || command -v qemu-system-aarch64 >/dev/null ||
		skip_all "qemu is not installed (make deps)"
	W=$T/w
	mkdir -p "$W"
	chown "$VM_UID:$VM_GID" "$W"
}

vm_run() {
	local ef=$T/.stderr rf=$T/.result
	rm -f "$rf"
	out=$("$VMRUN" --image "$IMAGE" --share "$W" --uid $VM_UID --gid $VM_GID --result "$rf" "$@" 2>"$ef")
	rc=$?
	err=$(cat "$ef")
	res=$(cat "$rf" 2>/dev/null)
}

res_field() { printf '%s\n' "$res" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# qemu and virtiofsd processes whose command line names this test's
# folder (qemu's -name holds its private folder, virtiofsd's source is in
# it or is $W), and anything in TMPDIR.
vm_leftovers() {
	pgrep -af "qemu-system|virtiofsd" | grep -F "$T" | sed 's/^/process: /'
	ls -A "$TMPDIR" | sed 's/^/file: /'
}

# No leftovers, polling a moment for processes that are on their way out.
no_vm_leftovers() {
	local i left
	for i in $(seq 100); do
		left=$(vm_leftovers)
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	printf '%s\n' "$left"
	return 1
}

wait_for() {
	local i
	for i in $(seq 3000); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

EVIL=$RLS_BUILD/t/vm/evil-guest
evil_image() {
	local dir=$T/evil-$1
	if [ ! -d "$T/root" ]; then
		mkdir -p "$T/root"
		(cd "$T/root" && cpio -idm --quiet < "$IMAGE/initramfs.img")
	fi
	mkdir -p "$dir"
	cp "$EVIL" "$T/root/init"
	echo "$1" > "$T/root/evil-mode"
	(cd "$T/root" && find . -mindepth 1 | sort | cpio --quiet -o -H newc -R 0:0) > "$dir/initramfs.img"
	ln -sf "$IMAGE/kernel" "$dir/kernel"
	cp "$IMAGE/arch" "$dir/arch"
}
