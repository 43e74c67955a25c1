#!/bin/bash
# rls run: where deltas are kept.  Never inside the source (a home
# directory used as the source, a state dir set inside it), and a user
# without a home directory can still run.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "where deltas are kept is the launcher's, the same for every backend: checked under bwrap"
need_run_source

fallback=/var/tmp/rls-$(id -u)/deltas
before=$(find "$S" | sort)
HOME=$S XDG_STATE_HOME= run_rls --commit never -- sh -c 'echo x > output/kept.txt'
is "$rc" 0 "a run whose home directory is the source works"
is "$(find "$S" | sort)" "$before" "and leaves nothing inside the source"
kept=$(printf '%s\n' "$err" | sed -n 's/^rls: delta kept: //p')
like "$kept" "^$fallback/" "the delta is kept under /var/tmp/rls-UID instead"
ok "and it holds the change" sh -c "'$RLS' diff '$kept' | grep -q kept.txt"
rm -rf "$kept"

XDG_STATE_HOME=$S/.state run_rls --commit never -- sh -c 'echo y > output/kept.txt'
is "$rc" 0 "an XDG_STATE_HOME inside the source is not used"
ok "nothing is made there" test ! -e "$S/.state"
kept=$(printf '%s\n' "$err" | sed -n 's/^rls: delta kept: //p')
like "$kept" "^$fallback/" "the fallback is used"
rm -rf "$kept"

HOME=/nonexistent/home XDG_STATE_HOME= run_rls -- true
is "$rc" 0 "a user whose home directory does not exist can run"
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
