#!/bin/bash
# Attack: reach the host's root through the sandbox's uid.  The kernel lets
# the host's uid 0 write the 0644 sysctls without any capability, so a
# command that is uid 0 on the host could set a core pattern and have the
# kernel run a program as root.  The command never holds uid 0 or gid 0 on
# the host, /proc's knobs are read-only or masked, and rls-init checks that
# from inside before the command runs (no check, no run).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
need_root
need_run_source
# Under gVisor (runsc) the command is uid 0 of gVisor's kernel, holding no
# capability, and its processes are not host processes: every host process
# of the sandbox (runsc's sandbox and gofer) runs as its identity.
GVISOR=; [ "$BACKEND_NAME" = oci-runsc ] && GVISOR=1
inside() { if [ -n "$GVISOR" ]; then echo 0; else echo "$1"; fi; }
uid_of() { echo "python3 -c 'import os, sys; print(os.stat(sys.argv[1]).st_uid)' $1"; }

if ! skip_on vm -- "the guest's /proc/sys is its own kernel's (t/0910-vm-run.t: read-only there too); each run boots a VM"; then
core=$(cat /proc/sys/kernel/core_pattern)
at_exit "printf '%s\n' '$core' > /proc/sys/kernel/core_pattern"
run_rls -- sh -c "echo '|/bin/sh -c id>$T/PWNED' > /proc/sys/kernel/core_pattern; sh -c 'kill -SEGV \$\$'; true"
is "$(cat /proc/sys/kernel/core_pattern)" "$core" "the core pattern cannot be set from inside"
ok "and no program ran as the host's root" test ! -e "$T/PWNED"
# gVisor's /proc/sys is its own, and refuses by permission first.
like "$err" "Read-only file system${GVISOR:+|Permission denied}" "the write is refused as a read-only file system"
fi

if ! skip_on vm -- "the guest's /proc is its own kernel's, and the command no host process (qemu runs as its identity under virtiofs: t/0925-vm-nonroot.t); each run boots a VM"; then
# Each knob is written its own value: harmless should the write go through.
run_rls -- sh -c 'for f in /proc/sys/vm/swappiness /proc/sys/kernel/hostname /proc/sys/fs/file-max; do
	v=$(cat $f); echo "$v" 2>/dev/null > $f && echo "wrote $f"; done; echo done'
is "$out" done "no sysctl under /proc/sys is writable"
run_rls -- sh -c 'grep -E " /proc/(sys|irq|bus|fs) " /proc/self/mountinfo | grep -vc " ro,"'
is "$out" 0 "/proc/sys, /proc/irq, /proc/bus and /proc/fs are read-only mounts"
run_rls -- sh -c 'for f in /proc/timer_list /proc/keys /proc/kcore /proc/sched_debug; do
	[ -e $f ] || continue; n=$(cat $f 2>/dev/null | wc -c); echo "$f $n"; done'
unlike "$out" " [1-9]" "/proc/timer_list, /proc/keys and the other kernel state are masked"

# Who the command is, seen from the host.
"$RLS" run "${RUN_BACKEND[@]}" -- sh -c 'echo ready; exec sleep 30.0800' > "$T/out" 2>&1 &
rls_pid=$!
for i in $(seq 100); do grep -q ready "$T/out" && break; sleep 0.05; done
if [ -n "$GVISOR" ]; then
	sleeper=$(pgrep -f "^runsc-(sandbox|gofer) .*$T" | tr '\n' ' ')
else
	sleeper=$(pgrep -f '^sleep 30.0800$' | head -1)
fi
ok "the command is running" test -n "$sleeper"
ids=$(for p in $sleeper; do
	echo "$(awk '/^Uid:/ {print $2":"$3":"$4":"$5}' /proc/$p/status):$(awk '/^Gid:/ {print $2}' /proc/$p/status)"
done | sort -u)
is "$ids" "65534:65534:65534:65534:65534" \
	"a root caller's command runs as nobody on the host (the source is root's)"
is "$(for p in $sleeper; do awk '/^Groups:/ {print $2}' /proc/$p/status; done | sort -u)" "" \
	"with no supplementary group"
kill -TERM $rls_pid; wait $rls_pid 2>/dev/null
fi

run_rls -- sh -c "id -u; $(uid_of /workspace/src/main.py); echo x > output/new.txt; $(uid_of output/new.txt)"
me=$(inside 65534)
# The status too: a run that printed all but failed at its end commits
# nothing, and its error says why.
is "$rc:$out" "0:$me
$me
$me" "inside, the tree's owner's files show as the command's own" || printf '%s\n' "$err" | sed 's/^/#   /'
is "$(stat -c %u:%g "$S/output/new.txt")" "0:0" "and what it makes is committed as the owner's"

U=rlstest
id "$U" >/dev/null 2>&1 || useradd -M -d /nonexistent -s /bin/sh "$U" 2>/dev/null
uid=$(id -u "$U") gid=$(id -g "$U")
run_rls --user "$U" -- sh -c 'id -u; echo y > output/by-user.txt'
is "$rc:$out" "0:$(inside "$uid")" "--user USER runs the command as that user" || printf '%s\n' "$err" | sed 's/^/#   /'
is "$(stat -c %u "$S/output/by-user.txt")" 0 "and still commits as the tree's owner"
if ! skip_on vm -- "who owns the tree is the launcher's choice, the same for every backend: checked under bwrap; each run boots a VM"; then
	chown -R "$uid:$gid" "$S"
	run_rls -- sh -c 'id -u; echo z > output/mine.txt'
	is "$out" "$(inside "$uid")" "a tree owned by a user: the command runs as that user"
	is "$(stat -c %u:%g "$S/output/mine.txt")" "$uid:$gid" "and its files are that user's"
	chown -R 0:0 "$S"
fi
for spec in root 0 0:0 "$U:0" "$U:root"; do
	run_rls --user "$spec" -- true
	is "$rc" 2 "--user $spec is refused"
done
like "$err" "never runs as root" "saying that the command never runs as root"
run_rls --user no-such-user-here -- true
like "$err" "no user 'no-such-user-here'" "an unknown user is named"

# rls-init refuses a sandbox where the knobs are writable: the host itself.
"$RLS_BUILD/rls-init" --verdict-fd 3 -- sh -c 'echo ran' > "$T/init.out" 2>&1 3> "$T/verdict"
is "$?" 125 "rls-init refuses to run a command where /proc/sys is writable"
is "$(cat "$T/verdict")" "" "and gives no verdict"
unlike "$(cat "$T/init.out")" "ran" "and does not run it"

# A sandbox builder that leaves /proc/sys writable (or, for gVisor, runs
# the command without its seccomp filter): rls-init stops the run.
if ! skip_on vm -- "no rls-init in the guest: rls-guest mounts its kernel's /proc/sys read-only (t/0910-vm-run.t)"; then
mkdir -p "$T/fakebin"
case $BACKEND_NAME in
bwrap)
	cat > "$T/fakebin/bwrap" <<'PY'
#!/usr/bin/python3
# Drops "--ro-bind /proc/sys /proc/sys" from the options rls passes.
import os, sys
argv = sys.argv[1:]
i = argv.index("--args"); fd = int(argv[i + 1])
opts = os.read(fd, 1 << 20).split(b"\0")[:-1]
out = []
j = 0
while j < len(opts):
    if opts[j:j + 3] == [b"--ro-bind", b"/proc/sys", b"/proc/sys"]:
        j += 3; continue
    out.append(opts[j]); j += 1
r, w = os.pipe()
os.set_inheritable(r, True)
os.write(w, b"\0".join(out) + b"\0"); os.close(w)
argv[i + 1] = str(r)
os.execv("/usr/bin/bwrap", ["bwrap"] + argv)
PY
	chmod +x "$T/fakebin/bwrap"
	fake=(); want="/proc/sys is writable"
	;;
oci-runsc)
	# Runs runsc without --oci-seccomp: the command would meet no filter.
	cat > "$T/fakebin/runsc" <<'PY'
#!/usr/bin/python3
import os, sys
os.execv("/usr/bin/runsc", ["runsc"] + [a for a in sys.argv[1:] if a != "--oci-seccomp"])
PY
	chmod +x "$T/fakebin/runsc"
	fake=(--runtime "$T/fakebin/runsc"); want="no seccomp filter is in force"
	;;
oci*)
	# A runtime that forgets /proc/sys among the bundle's readonlyPaths.
	real=$(command -v "${RLS_TEST_RUNTIME:-runc}")
	cat > "$T/fakebin/runc" <<PY
#!/usr/bin/python3
import json, os, sys
argv = sys.argv[1:]
if "run" in argv and "--bundle" in argv:
    cfg = os.path.join(argv[argv.index("--bundle") + 1], "config.json")
    c = json.load(open(cfg))
    if "/proc/sys" in c["linux"].get("readonlyPaths", []):
        c["linux"]["readonlyPaths"].remove("/proc/sys")
    json.dump(c, open(cfg, "w"))
os.execv("$real", ["$real"] + argv)
PY
	chmod +x "$T/fakebin/runc"
	fake=(--runtime "$T/fakebin/runc"); want="/proc/sys is writable"
	;;
esac
out=$(PATH="$T/fakebin:$PATH" "$RLS" run "${RUN_BACKEND[@]}" "${fake[@]}" -- sh -c 'echo the-command-ran' 2>"$T/err"); rc=$?
is "$rc" 125 "a sandbox that fails rls-init's check does not run the command"
unlike "$out" "the-command-ran" "the command never started"
like "$(cat "$T/err")" "$want" "and rls says which check failed"
fi
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
