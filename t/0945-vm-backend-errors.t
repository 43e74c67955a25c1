#!/bin/bash
# rls run --backend vm when the VM cannot do its part: no image, no qemu,
# a guest that never answers, one that crashes before or under the
# command, rls killed while the guest boots.  One clear line each, the
# source untouched, and no qemu, virtiofsd, mount or temporary file left.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vm.sh"
. "$(dirname "$0")/lib-run.sh"
need_vm
need_fuse
# Which accelerator is t/0970's business: these boot under TCG at once.
export RLS_VM_ACCEL=tcg

S=$T/src
mk_src "$S"
cd "$S" || exit 1
snapshot() { (cd "$S" && find . -printf '%p %s %m %T@\n' | sort && cat .env src/main.py) | md5sum; }
before=$(snapshot)
vm_rls() { run_rls --backend vm "$@"; }
# The first line of stderr that is rls's own word on the failure.
first_error() { printf '%s\n' "$err" | grep -m1 '^rls: run: '; }

RLS_IMAGE_DIR=$T/nowhere vm_rls -- true
is "$rc" 125 "no image: the run fails"
is "$err" "rls: run: backend vm: no guest image in $T/nowhere (kernel, initramfs.img, arch): build it with \`make image\`" \
	"on one line that says to run make image"
ok "nothing is left behind" no_leftovers

err=$(env PATH=/nonexistent "$RLS" run --backend vm -- true 2>&1); rc=$?
is "$rc:$err" "125:rls: run: backend vm: qemu-system-x86_64 is not installed (Debian: qemu-system-x86; \`make deps\`)" \
	"no qemu: one line naming the package"

[ -x "$EVIL" ] || { diag "no $EVIL (make check builds it)"; done_testing; }
for m in silent crash-running; do evil_image $m; done

RLS_IMAGE_DIR=$T/evil-silent RLS_VM_BOOT_TIMEOUT=4 vm_rls -- true
is "$rc" 125 "a guest that never answers fails the run"
like "$(first_error)" "^rls: run: vm: the guest did not answer within 4 s; the guest's console ended with: " \
	"at the boot timeout, with the tail of its console"
is "$(printf '%s\n' "$err" | grep -c '^rls: run: ')" 1 "said once"
is "$(snapshot)" "$before" "the source is untouched"
ok "nothing is left behind" no_leftovers

RLS_IMAGE_DIR=$T/evil-crash-running vm_rls -p full-access --memory 256M --cpus 1 --json -- true
is "$out" hi "a guest that crashes under the command: what the command wrote still comes out"
like "$(first_error)" "^rls: run: vm: the guest stopped while the command ran \(Kernel panic" \
	"the crash is said on one line"
is "$rc" 137 "the run ends as killed (128 + SIGKILL)"
like "$err" "nothing committed" "nothing is committed"
is "$(snapshot)" "$before" "and the source is untouched"
check() { printf '%s' "$json" | python3 -c 'import json, sys; d = json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"; }
ok "--json: the limits are the VM's size, no cgroup's" check 'd["limits"] == {"memory": "vm", "cpus": "vm", "pids": None}'
ok "and the run is not taken for a success" check 'd["exit_status"] == 137 and d["commit"] != "done"'
rm -rf "$T/state/rls/deltas"
ok "nothing is left behind" no_leftovers

# rls killed outright while the guest boots: qemu and virtiofsd go with
# it, the guard unmounts and removes the temp dirs.
"$RLS" run --backend vm -- sleep 100.0945 > /dev/null 2> "$T/err" &
pid=$!
up=1
for i in $(seq 600); do pgrep -f "^[^ ]*qemu-system.*$T" > /dev/null && { up=0; break; }; sleep 0.05; done
is "$up" 0 "qemu starts"
kill -KILL $pid
wait $pid 2>/dev/null
ok "after SIGKILL of rls during the boot: no qemu, virtiofsd, mount or temp dir is left" no_leftovers
is "$(snapshot)" "$before" "and the source is untouched"
cd "$T" || exit 1
done_testing
