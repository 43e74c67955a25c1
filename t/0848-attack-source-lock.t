#!/bin/bash
# A sandbox that can open another tree's folder (one under /opt, /etc or
# /usr, which every sandbox sees read-only, or one bound in) took flock(2)
# on it, the lock that serialised commits over that tree: every commit of
# it, by another run or by `rls commit`, then waited for as long as the
# sandbox lived.  Commits take turns on a lock file in /run/lock, which no
# sandbox sees.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "the vm backend refuses --bind (t/0500)"
need_run_source
command -v python3 >/dev/null || skip_all "needs python3"

O=$T/other
mk_src "$O"
chmod -R a+rX "$O"
# The sandbox locks the other tree's folder, says so, and holds the lock
# until that tree's commit shows through the bind (at most until its
# timeout: the other run's commit waited for it).
"$RLS" run "${RUN_BACKEND[@]}" --timeout 60 --bind "$O:/other" -- python3 -c '
import fcntl, os, sys, time
fd = os.open("/other", os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("locked", flush=True)
while not os.path.exists("/other/output/landed"):
    time.sleep(0.05)
print("seen", flush=True)' >"$T/a.out" 2>"$T/a.err" &
a=$!
ok "the sandbox holds a lock on the other tree's folder" wait_for "$T/a.out" locked
(cd "$O" && "$RLS" run "${RUN_BACKEND[@]}" -- sh -c 'echo landed > output/landed') >"$T/b.out" 2>"$T/b.err"
is "$?" 0 "a run over that tree ends and commits"
is "$(cat "$O/output/landed" 2>/dev/null)" landed "its change reached the tree"
wait "$a"
is "$?" 0 "while the sandbox still held its lock (it saw the commit land)"
like "$(cat "$T/a.out")" seen "and said so"
lock=/run/lock/rls-source-$(printf '%x-%x' "$(stat -c %d "$O")" "$(stat -c %i "$O")").lock
ok "the commit's lock file is removed once it is done" test ! -e "$lock"

cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
