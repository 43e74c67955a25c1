#!/bin/bash
# rls run: what the command inside can and cannot see or do.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
need_run_source

run_rls -- env
want="HOME LANG PATH PWD TERM "
[ "$RLS_TEST_BACKEND" = vm ] && want="HOME LANG PATH TERM "	# rls-guest sets no PWD
is "$(printf '%s\n' "$out" | cut -d= -f1 | sort | tr '\n' ' ')" "$want" \
	"the environment is exactly PATH, HOME, TERM, LANG (and PWD, set by bwrap)"
export RLS_TEST_VAR=from-host
run_rls --env RLS_TEST_VAR --env OTHER=given --env RLS_UNSET_VAR -- env
like "$out" "^RLS_TEST_VAR=from-host$" "--env NAME passes the caller's value"
like "$out" "OTHER=given" "--env NAME=VALUE sets a value"
unlike "$out" "RLS_UNSET_VAR" "--env NAME of an unset variable passes nothing"
skip_on vm -- "the environment is the launcher's (above, the guest keeps it as given); each run boots a VM" || {
	run_rls --env PATH=/bin -- sh -c 'echo $PATH'
	is "$out" /bin "--env may replace one of the four"
}

if ! skip_on vm -- "the guest is a kernel of its own: its isolation is tested by t/0910-vm-run.t and t/0920-vm-shares.t; each run boots a VM"; then
run_rls -- sh -c 'grep -E "^(CapEff|CapPrm|CapBnd|CapAmb)" /proc/self/status | awk "{print \$2}" | sort -u'
is "$out" 0000000000000000 "the command has no capabilities at all"
run_rls -- python3 -c 'import ctypes; print(ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))'
is "$out" 1 "no_new_privs is set (PR_GET_NO_NEW_PRIVS)"
run_rls -- readlink /proc/self/ns/user /proc/self/ns/pid /proc/self/ns/ipc /proc/self/ns/uts /proc/self/ns/mnt /proc/self/ns/net
host=$(readlink /proc/self/ns/user /proc/self/ns/pid /proc/self/ns/ipc /proc/self/ns/uts /proc/self/ns/mnt /proc/self/ns/net)
same=$(comm -12 <(printf '%s\n' "$out" | sort) <(printf '%s\n' "$host" | sort))
is "$same" "" "user, pid, ipc, uts, mount and net namespaces are all new"

run_rls -- sh -c 'ls /proc | grep -c "^[0-9]"'
ok "the command sees only its own few processes" test "$out" -lt 10
run_rls -- sh -c 'cat /proc/[0-9]*/comm'
unlike "$out" "rlsfs" "the rlsfs process is not visible"
sleep 300 & victim=$!
run_rls -- sh -c "kill -TERM $victim 2>&1; echo rc=\$?"
ok "a host process cannot be signalled by its pid" kill -0 "$victim"
kill "$victim"

run_rls -- sh -c 'cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " " | sort | tr "\n" " "'
is "$out" "lo " "--net none (the default): only a loopback interface"
nhost=$(tail -n +3 /proc/net/dev | wc -l)
run_rls --net host -- sh -c 'tail -n +3 /proc/net/dev | wc -l'
if [ "$BACKEND_NAME" = oci-runsc ]; then
	like "$rc:$err" "^125:.*--net host does not work with runsc" "--net host is refused under runsc, saying so"
else
	is "$out" "$nhost" "--net host: the host's interfaces"
fi

echo host-marker > "$TMPDIR/../host-tmp-marker"
run_rls -- sh -c "ls /tmp; echo x > /tmp/inside && cat /tmp/inside"
is "$out" x "/tmp is private and writable"
ok "nothing written in the sandbox's /tmp reaches the host" test ! -e /tmp/inside
run_rls -- sh -c 'echo x > $HOME/f && cat $HOME/f && echo $HOME'
is "$out" "x
/home/sandbox" "HOME is a private writable directory"
run_rls -- sh -c 'touch /usr/rls-x 2>&1; touch /etc/rls-x 2>&1; touch /rls-x 2>&1'
# gVisor checks the owner before the mount: the command (its uid 0, not
# the files' owner there) gets EACCES first.
like "$out" "Read-only file system|${BACKEND_NAME/oci-runsc/Permission denied}" "system directories are read-only"
ok "no file appears on the host" sh -c 'test ! -e /usr/rls-x && test ! -e /etc/rls-x'
run_rls -- sh -c 'cat /etc/shadow | wc -c'
is "$out" 0 "/etc/shadow is masked"

run_rls -- sh -c "ls '$S' 2>&1; ls '$T' 2>&1; ls '$T/state' 2>&1; ls /root 2>&1; ls /work 2>&1; ls /home"
unlike "$out" "main.py|\\.env|deltas|\\.local" "the source, the state dir and home directories are unreachable by path"
run_rls -- sh -c 'grep -c rlsfs /proc/self/mountinfo; grep rls-run /proc/self/mountinfo'
unlike "$out" "rls-run" "the host path of the rlsfs mount does not appear in the mount table"
run_rls -- sh -c 'cat /workspace/.env 2>/dev/null; ls -a /workspace'
unlike "$out" "fake-secret|^\\.env" "the policy still hides .env"

run_rls -- python3 -c 'import fcntl, termios, sys
try:
    fcntl.ioctl(0, termios.TIOCSTI, b"x")
except OSError as e:
    print(e.errno)'
is "$out" 1 "TIOCSTI is refused with EPERM (terminal injection)"
# A source tree inside a system directory the sandbox binds (/opt here)
# must not be in view there, nor a delta or audit file kept there.
if [ "$(id -u)" = 0 ] && [ -d /opt ]; then
	O=$(mktemp -d /opt/rls-test.XXXXXX)
	at_exit "rm -rf '$O'"
	mk_src "$O/src"
	run_rls --source "$O/src" --delta "$O/delta" --audit "$O/audit.jsonl" -- \
		sh -c "cat '$O/src/.env' '$O/audit.jsonl' 2>&1; ls -A '$O/src' '$O/delta' 2>&1; ls -a /workspace"
	unlike "$out" "fake-secret|index|data|lookup" "a source, delta and audit file under /opt are hidden inside"
	like "$out" "main.py|src" "while the mount still shows the tree"
fi
fi
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
