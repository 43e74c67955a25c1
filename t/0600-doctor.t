#!/bin/bash
# rls doctor: one line per requirement and backend, ok or why not.
. "$(dirname "$0")/lib.sh"

out=$("$RLS" doctor 2>&1); rc=$?
for what in fuse fusermount3 userns bwrap capabilities cgroups runc crun runsc \
	"backend bwrap" "backend oci" "backend vm"; do
	like "$out" "^$what +(ok|no)" "doctor reports on $what"
done
for what in qemu guest; do
	like "$out" "^$what +(ok|no)" "doctor reports on $what"
done
# The vm backend's line agrees with what vm_run finds.
if [ -f "$RLS_BUILD/image/kernel" ] && command -v qemu-system-x86_64 >/dev/null; then
	like "$out" "^guest +ok \(amd64 guest \($RLS_BUILD/image\) under (KVM|TCG)" "doctor names the guest image and how it runs"
	like "$out" "^backend vm +ok" "and that the vm backend works"
fi
vout=$(RLS_IMAGE_DIR=$T/no-image "$RLS" doctor 2>&1)
like "$vout" "^guest +no: no guest image in $T/no-image \(kernel, initramfs.img, arch\): build it with \`make image\`" \
	"without an image, doctor says how to build one"
like "$vout" "^backend vm +no: " "and that the vm backend does not work"
unlike "$out" "^[a-z0-9 ]+ +no$" "every 'no' says why"
if bwrap --ro-bind / / --unshare-all true 2>/dev/null && [ -r /dev/fuse ] && [ -w /dev/fuse ]; then
	is "$rc" 0 "doctor exits 0 when the default backend works"
	like "$out" "backend bwrap +ok" "and says bwrap works"
	like "$out" "bwrap +ok .*no capabilities and no_new_privs" "having tried a real sandbox"
else
	ok "doctor exits non-zero when the default backend cannot work" test "$rc" -ne 0
fi
if [ "$(id -u)" = 0 ] && id rlstest >/dev/null 2>&1 && [ "$(stat -c %a /dev/fuse)" = 600 ]; then
	uout=$(runuser -u rlstest -- "$RLS" doctor 2>&1); urc=$?
	like "$uout" "fuse +no: /dev/fuse is mode 600" "for a user who cannot open /dev/fuse it says so"
	ok "and exits non-zero" test "$urc" -ne 0
fi
# Each OCI runtime's line agrees with what a run finds.  The two are
# separate tries of the runtime: on a busy host either may run out of
# time, which doctor says as such (not as a verdict on the runtime).
late="no: a minimal bundle did not end within [0-9]+ s \\(a busy host\\? try again\\)"
for rt in runc crun runsc; do
	command -v $rt >/dev/null || continue
	mkdir -p "$T/$rt/src"
	if (cd "$T/$rt/src" && XDG_STATE_HOME=$T/$rt TMPDIR=$T/$rt "$RLS" run --backend oci --runtime $rt --quiet -- true) >/dev/null 2>&1; then
		like "$out" "^$rt +(ok|$late)" "doctor says $rt works, and a run with it works"
		like "$out" "^backend oci +ok" "and that the oci backend works"
	else
		like "$out" "^$rt +no: .+" "doctor says why $rt does not work, and a run with it fails"
	fi
done
out=$("$RLS" doctor extra 2>&1); rc=$?
is "$rc" 2 "doctor takes no arguments"
done_testing
