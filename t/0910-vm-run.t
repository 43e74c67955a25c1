#!/bin/bash
# vm backend: the command as it runs in the guest: its streams kept apart,
# stdin, arguments and environment as bytes, where it starts, who it is
# (never root, no capabilities), what it cannot touch, its exit status.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vm.sh"
need_vm

mkdir -p "$W/sub"
chown $VM_UID:$VM_GID "$W/sub"
cat > "$W/probe.sh" <<'PROBE'
echo to-stdout
echo to-stderr >&2
printf 'arg1=%s\n' "$1"
printf 'arg2=%s\n' "$(printf %s "$2" | od -An -tx1 | tr -d ' ')"
printf 'bytes=%s\n' "$(printf %s "$BYTES" | od -An -tx1 | tr -d ' ')"
echo "spaced=$SPACED"
echo "caller=${CALLER_SECRET:-unset}"
echo "env_names=$(env | cut -d= -f1 | grep -v '^PWD$' | sort | tr '\n' ' ')"
echo "id=$(id -u):$(id -g):$(id -G)"
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status | tr -d '\t'
set -- $(cat /proc/$$/stat)
[ "$5" = $$ ] && echo own_group=yes || echo own_group=no
[ "$6" = $$ ] && echo own_session=yes || echo own_session=no
echo "pwd=$(pwd)"
echo "stdin=$(sha256sum | cut -d' ' -f1)"
touch /new 2>/dev/null && echo root_writable=yes || echo root_writable=no
awk '$5 == "/proc/sys" { split($6, o, ","); print "proc_sys=" o[1] }' /proc/self/mountinfo
touch /usr/rls-test 2>/dev/null && echo usr_writable=yes || echo usr_writable=no
touch /etc/rls-test 2>/dev/null && echo etc_writable=yes || echo etc_writable=no
echo "shadow=$(cat /etc/shadow 2>/dev/null | wc -c)"
ls -d /dev/vport* /dev/virtio-ports/* 2>/dev/null | grep -q . && echo port=visible || echo port=hidden
echo "home=$HOME:$(stat -c %u:%a "$HOME")"
echo "tmp=$(stat -c %a /tmp)"
echo "net=$(ls /sys/class/net | tr '\n' ' ')"
python3 - <<'PY'
import glob, os, signal
kids = []
for i in range(40):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        signal.pause()
        os._exit(0)
    kids.append(pid)
mine = 0
for f in glob.glob('/proc/[0-9]*/status'):
    try:
        mine += any(l.split()[1] == str(os.getuid()) for l in open(f) if l.startswith('Uid:'))
    except OSError:
        pass
print('procs=%d' % mine)
for pid in kids:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
PY
head -c 1300000 /dev/zero | tr '\0' a
touch /workspace/done
exit 7
PROBE
head -c 600000 /dev/urandom > "$T/stdin"
wait_for_file() { for i in $(seq 600); do [ -e "$1" ] && return 0; sleep 0.1; done; }
want_stdin=$(sha256sum < "$T/stdin" | cut -d' ' -f1)

# Its stdout goes to a reader that starts reading only seconds after the
# command has ended: the output waits for it, and so does the exit status.
CALLER_SECRET=leaked "$VMRUN" --image "$IMAGE" --share "$W" --uid $VM_UID --gid $VM_GID \
	--chdir /workspace/sub --pids 20 --result "$T/res" \
	--env PATH=/usr/bin:/bin --env HOME=/home/sandbox --env "SPACED=a b=c" --env "$(printf 'BYTES=\xff\xfe')" \
	-- sh /workspace/probe.sh "a b" "$(printf '\xff')" < "$T/stdin" 2> "$T/err" |
	{ wait_for_file "$W/done"; sleep 11; cat > "$T/out"; }
rc=${PIPESTATUS[0]}
res=$(cat "$T/res")
field() { grep -a "^$1=" "$T/out" | head -n 1 | cut -d= -f2-; }

is "$rc" 7 "the command's exit status comes back"
is "$(res_field started)" 1 "and vm_run says it started"
is "$(head -n 1 "$T/out")" to-stdout "stdout reaches stdout"
is "$(cat "$T/err")" to-stderr "stderr reaches stderr, and nothing else does"
is "$(tr -d '\n' < "$T/out" | grep -o 'a*$' | wc -c)" 1300001 "1.3 MB of output (more than the host holds for a reader) arrive whole, to a slow reader"
is "$(field stdin)" "$want_stdin" "600 KB of stdin (more than the window) arrive whole"
is "$(field arg1)" "a b" "an argument keeps its spaces"
is "$(field arg2)" ff "an argument that is not UTF-8 keeps its bytes"
is "$(field bytes)" fffe "so does an environment value"
is "$(field spaced)" "a b=c" "a value keeps its spaces and '='"
is "$(field caller)" unset "nothing of the caller's environment reaches the command"
is "$(field env_names)" "BYTES HOME PATH SPACED " "the environment is exactly what was given"
is "$(field id)" "$VM_UID:$VM_GID:$VM_GID" "the command runs as the uid and gid given, with no other group"
for cap in CapInh CapPrm CapEff CapBnd CapAmb; do
	is "$(grep -a "^$cap:" "$T/out" | cut -d: -f2)" 0000000000000000 "$cap is empty"
done
is "$(grep -a '^NoNewPrivs:' "$T/out" | cut -d: -f2)" 1 "no_new_privs is set"
is "$(field own_group)" yes "the command leads its own process group"
is "$(field own_session)" yes "and its own session"
is "$(field pwd)" /workspace/sub "it starts in the directory asked for"
is "$(field root_writable)" no "it cannot add names to the guest's /"
is "$(field proc_sys)" ro "/proc/sys is mounted read-only"
is "$(field usr_writable)" no "the host's /usr is read-only"
is "$(field etc_writable)" no "the host's /etc is read-only"
is "$(field shadow)" 0 "/etc/shadow shows nothing"
is "$(field port)" hidden "the host's channel has no device node the command could open"
is "$(field home)" "/home/sandbox:$VM_UID:700" "HOME is a private folder of its own"
is "$(field tmp)" 1777 "/tmp is the usual shared tmp"
is "$(field net)" "lo " "without the network, the guest has loopback alone"
is "$(field procs)" 20 "the command cannot hold more processes than it was allowed (40 tried, 20 allowed)"
ok "nothing is left behind" no_vm_leftovers

# A command killed by a signal (128 + it): the shared run suite (t/0500)
# under --backend vm.
vm_run --no-stdin -- no-such-command-xyz
is "$rc" 127 "a command not found gives 127"
like "$err" "no-such-command-xyz: command not found" "and says so on stderr"
ok "nothing is left behind" no_vm_leftovers
done_testing
