#!/bin/bash
# rls run as an ordinary user: fusermount3, unprivileged user namespaces,
# rlimits where no cgroup can be made.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "an ordinary user's VM (9p, no virtiofsd) is tested by t/0925-vm-nonroot.t"
need_fuse
need_root
U=rlstest
id "$U" >/dev/null 2>&1 || useradd -M -d /nonexistent -s /bin/sh "$U" 2>/dev/null ||
	skip_all "cannot create the test user $U"
as_user() { runuser -u "$U" -- "$@"; }
# Debian's udev makes /dev/fuse 0666; a host without udev may leave it 0600.
# Give it Debian's mode for the length of the test.
if ! as_user test -r /dev/fuse -a -w /dev/fuse; then
	old_mode=$(stat -c %a /dev/fuse)
	chmod 0666 /dev/fuse && at_exit "chmod $old_mode /dev/fuse"
fi
as_user test -r /dev/fuse -a -w /dev/fuse ||
	skip_all "ordinary users cannot open /dev/fuse on this host ($(stat -c %A /dev/fuse)): FUSE needs it, even through fusermount3"
command -v fusermount3 >/dev/null || skip_all "fusermount3 is not installed"
as_user bwrap --ro-bind / / --unshare-all true 2>/dev/null ||
	skip_all "unprivileged user namespaces are not available to ordinary users here"
[ -x "$RLS" ] && as_user test -x "$RLS" || skip_all "$RLS is not executable by $U"

S=$T/u/src
mkdir -p "$T/u" "$T/u/tmp" "$T/u/state"
mk_src "$S"
chown -R "$U": "$T/u"
cd "$S" || exit 1
urun() {
	local ef=$T/u/tmp/.stderr
	out=$(as_user env TMPDIR="$T/u/tmp" XDG_STATE_HOME="$T/u/state" "$RLS" run "${RUN_BACKEND[@]}" "$@" 2>"$ef"); rc=$?
	err=$(cat "$ef"); rm -f "$ef"
}

urun --quiet -- true
[ "$rc" = 0 ] || skip_all "backend $BACKEND_NAME does not run as an ordinary user here: $(printf '%s' "$err" | head -1)"
urun -- sh -c 'id -u; exit 6'
is "$rc" 6 "as a user, the command's status is rls's"
if [ "$RLS_TEST_BACKEND" = oci ]; then
	# runc --rootless maps only the caller's uid, which runc wants as the
	# container's root: the command is uid 0 inside, the user outside.
	is "$(printf '%s\n' "$out" | head -1)" 0 "under runc --rootless the command is the container's root"
	urun -- cat /proc/self/uid_map
	is "$(echo $out)" "0 $(id -u "$U") 1" "which is that user on the host, and nothing else"
else
	is "$(printf '%s\n' "$out" | head -1)" "$(id -u "$U")" "the command runs as that user"
fi
urun -- sh -c 'cat .env; echo r > output/u.txt; echo x > src/main.py'
is "$(cat "$S/output/u.txt" 2>/dev/null)" r "allowed changes are committed"
is "$(stat -c %U "$S/output/u.txt" 2>/dev/null)" "$U" "owned by the user"
is "$(cat "$S/src/main.py")" 'print("hello")' "denied writes change nothing"
like "$err" "accesses denied by the policy: /.env, /src/main.py" "denials are summed up"
urun -- sh -c 'echo s > output/m; chmod 000 output/m; cat output/m 2>/dev/null || echo denied'
is "$out" denied "a mode 000 file is not its owner's to read, as on ext4"
urun -- sh -c 'grep -E "^(CapEff|NoNewPrivs)" /proc/self/status | tr -s "\t " " "'
is "$out" "CapEff: 0000000000000000
NoNewPrivs: 1" "no capabilities and no_new_privs"
urun -- env
is "$(printf '%s\n' "$out" | cut -d= -f1 | sort | tr '\n' ' ')" "HOME LANG PATH PWD TERM " "a clean environment"
urun -- sh -c "ls '$T/u' 2>&1; cat /proc/[0-9]*/comm"
unlike "$out" "state|src|rlsfs" "the source, the state dir and rlsfs are out of reach"
urun --pids 40 --json "$T/u/tmp/run.json" -- python3 -c 'import os
n = 0
try:
    for i in range(100):
        if os.fork() == 0:
            import time; time.sleep(2); os._exit(0)
        n += 1
except OSError:
    pass
print(n)'
ok "--pids bounds the processes without a cgroup ($(printf '%s\n' "$out" | head -1))" test "$(printf '%s\n' "$out" | head -1)" -lt 40
like "$(cat "$T/u/tmp/run.json")" '"pids":"(rlimit|cgroup-v[12])"' "--json says how"
rm -f "$T/u/tmp/run.json"
like "$err" "rlimit|^$" "and stderr says when rlimits stand in for a cgroup"
urun --timeout 0.3 -- sleep 10
is "$rc" 124 "a timeout gives 124"
rm -rf "$T/u/state/rls/deltas"
ok "nothing is left behind" no_leftovers
done_testing
