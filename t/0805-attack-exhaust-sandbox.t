#!/bin/bash
# Attack: exhaust the host from the sandbox's own file systems, or reach
# the kernel's riskier interfaces.  /tmp, HOME and /dev/shm are bounded
# tmpfs, /dev is read-only, and seccomp refuses io_uring and userfaultfd;
# no user namespace can be made inside.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "the guest's /tmp, HOME and /dev are its own kernel's, within --memory (t/0930-vm-limits-signals.t)"
need_run_source

run_rls -- sh -c 'df -k /tmp /dev/shm "$HOME" | tail -n +2 | awk "{print \$2}"'
mem_k=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
max_k=$(( mem_k / 8 < 1048576 ? mem_k / 8 : 1048576 ))
bad=0
for k in $out; do [ "$k" -le "$max_k" ] || bad=1; done
is "$bad:$(printf '%s\n' "$out" | wc -l)" "0:3" "by default /tmp, /dev/shm and HOME each hold at most 1 GiB (or an eighth of memory)"
for d in /tmp /dev/shm '$HOME'; do
	run_rls --tmp-size 4M -- sh -c "head -c 16M /dev/zero > $d/fill 2>/dev/null; echo \$?; du -k $d/fill | cut -f1"
	like "$(printf '%s' "$out" | head -1)" "^[1-9]" "--tmp-size 4M: filling $d fails"
	ok "having written at most 4M there" test "$(printf '%s' "$out" | tail -1)" -le 4096
done
if ! skip_on oci-runsc -- "gVisor ignores readonlyPaths: its /dev is its own, in the sandbox's memory (bounded by --memory)"; then
	run_rls -- sh -c 'touch /dev/fill 2>&1; mkdir /dev/d 2>&1'
	like "$out" "Read-only file system" "/dev cannot be written"
fi
run_rls --tmp-size 1k -- true
is "$rc" 2 "--tmp-size below 1M is refused"

[ "$(uname -m)" = x86_64 ] || { done_testing; }
run_rls -- python3 -c '
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for name, nr in (("io_uring_setup", 425), ("userfaultfd", 323)):
    r = libc.syscall(nr, 8, 0)
    print(name, r if r >= 0 else -ctypes.get_errno())'
like "$out" "io_uring_setup -38" "io_uring is refused (ENOSYS)"
like "$out" "userfaultfd -38" "userfaultfd is refused (ENOSYS)"
# an x32 system call: getpid with the x32 bit
run_rls -- python3 -c '
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
r = libc.syscall(0x40000000 | 39)
print("x32", r if r >= 0 else -ctypes.get_errno(), flush=True)'
case $BACKEND_NAME in
oci-runsc|bwrap) like "$out" "x32 -38" "x32 system calls are refused (ENOSYS)" ;;
*) is "$rc:$out" "159:" "x32 system calls are refused: the OCI profile lists no x32, and the caller dies of SIGSYS" ;;
esac
run_rls -- sh -c 'unshare -U true 2>/dev/null; echo $?; unshare -Ur true 2>/dev/null; echo $?'
unlike "$out" "^0" "no user namespace can be made inside"
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
