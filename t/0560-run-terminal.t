#!/bin/bash
# rls run on a terminal: a shell inside has job control; TIOCSTI is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
need_fuse
need_bwrap
command -v script >/dev/null || skip_all "script(1) is not installed (util-linux)"

S=$T/src
mk_src "$S"
cd "$S" || exit 1
on_tty() { timeout 30 script -qec "$1" /dev/null 2>&1 | tr -d '\r'; }

out=$(on_tty "'$RLS' run -- bash --norc -i -c 'sleep 0.2 & jobs; wait; echo done-waiting'")
like "$out" "Running +sleep 0.2" "an interactive shell inside manages jobs"
unlike "$out" "no job control|cannot set terminal process group" "with no complaint about job control"
like "$out" "done-waiting" "and runs to the end"
out=$(on_tty "'$RLS' run -- python3 -c 'import fcntl, termios, os
print(os.isatty(0))
try:
    fcntl.ioctl(0, termios.TIOCSTI, b\"x\")
    print(\"injected\")
except OSError as e:
    print(\"errno\", e.errno)'")
like "$out" "True" "the command gets the terminal"
like "$out" "errno 1" "but TIOCSTI on it is refused with EPERM"
out=$(on_tty "'$RLS' run -- sh -c 'echo inside'; tty -s && echo still-has-tty")
like "$out" "still-has-tty" "the caller's shell has its terminal back afterwards"
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
