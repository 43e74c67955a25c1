#!/bin/bash
# rls run on a terminal: a shell inside has job control; TIOCSTI is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "the guest has no terminal: the command's streams are pipes carried over virtio-serial"
need_fuse
need_backend
command -v script >/dev/null || skip_all "script(1) is not installed (util-linux)"

S=$T/src
mk_src "$S"
cd "$S" || exit 1
on_tty() { timeout 30 script -qec "$1" /dev/null 2>&1 | tr -d '\r'; }

# runc and crun relay the command's standard streams through pipes unless
# they make a terminal of their own: the command never holds the caller's.
no_tty="the OCI runtime relays the streams through pipes: no terminal inside"
# The job lasts until the shell ends it: a busy host cannot finish it
# before `jobs` looks.
out=$(on_tty "$RLS_RUN -- bash --norc -i -c 'sleep 30.0560 & jobs; kill %1; wait; echo done-waiting'")
if ! skip_on oci -- "$no_tty, so no job control"; then
	like "$out" "Running +sleep 30.0560" "an interactive shell inside manages jobs"
fi
skip_on oci -- "$no_tty" ||
	unlike "$out" "no job control|cannot set terminal process group" "with no complaint about job control"
like "$out" "done-waiting" "and runs to the end"
out=$(on_tty "$RLS_RUN -- python3 -c 'import fcntl, termios, os
print(os.isatty(0))
try:
    fcntl.ioctl(0, termios.TIOCSTI, b\"x\")
    print(\"injected\")
except OSError as e:
    print(\"errno\", e.errno)'")
if [ "$RLS_TEST_BACKEND" = oci ]; then
	like "$out" "False" "the command's input is not the caller's terminal"
else
	like "$out" "True" "the command gets the terminal"
fi
like "$out" "errno 1($|[^0-9])" "TIOCSTI on its input is refused with EPERM"
# The terminal is given back when its foreground process group is the
# caller's again (tty -s would only say that stdin is a terminal).
fg_is_caller="python3 -c 'import os; print(\"foreground:\", os.tcgetpgrp(0) == os.getpgrp())'"
out=$(on_tty "$fg_is_caller; $RLS_RUN -- sh -c 'echo inside'; $fg_is_caller")
is "$(printf '%s\n' "$out" | grep -c '^foreground: True$')" 2 "the caller's shell has its terminal back afterwards"
# Ctrl-Z stops the sandbox and rls with it; fg continues both.
if skip_on oci -- "$no_tty: Ctrl-Z reaches the runtime, which passes it on"; then
	:
elif command -v tmux >/dev/null; then
	sock=$T/tmux.sock
	at_exit "tmux -S '$sock' kill-server"
	tmux -S "$sock" new-session -d -x 150 -y 40 "bash --norc"
	screen() { tmux -S "$sock" capture-pane -p; }
	wait_screen() { local i; for i in $(seq 600); do screen | grep -Eq "$1" && return 0; sleep 0.1; done; return 1; }
	# It ends once it reads a line, and says when it is continued: it is
	# stopped before its end whenever the Ctrl-Z arrives, and given its
	# line only once it runs again.
	cat > "$S/ctrl-z.py" <<'PY'
import signal
signal.signal(signal.SIGCONT, lambda *a: print("contin" "ued", flush=True))
print("st" "art", flush=True)
input()
print("the " "end")
PY
	tmux -S "$sock" send-keys "cd '$S'; $RLS_RUN -- python3 ctrl-z.py" Enter
	wait_screen "^start"
	tmux -S "$sock" send-keys C-z
	ok "Ctrl-Z stops rls as a job of the caller's shell" wait_screen "Stopped"
	unlike "$(screen)" "the end" "and the command with it"
	tmux -S "$sock" send-keys "fg; echo rc=\$?" Enter
	wait_screen "^continued"
	tmux -S "$sock" send-keys Enter
	ok "fg continues the command to its end" wait_screen "^the end"
	ok "and rls ends with its status" wait_screen "^rc=0"
fi
# Ctrl-C at the terminal: the command gets SIGINT, and the run counts as
# interrupted (nothing committed), whoever relays the terminal.
if command -v tmux >/dev/null; then
	sock=$T/tmux-c.sock
	at_exit "tmux -S '$sock' kill-server"
	tmux -S "$sock" new-session -d -x 150 -y 40 "bash --norc"
	screen() { tmux -S "$sock" capture-pane -p; }
	wait_screen() { local i; for i in $(seq 600); do screen | grep -Eq "$1" && return 0; sleep 0.1; done; return 1; }
	tmux -S "$sock" send-keys "cd '$S'; $RLS_RUN -- python3 -c 'import time; open(\"output/ctrl-c.txt\", \"w\").write(\"x\"); print(\"st\" \"arted\", flush=True); time.sleep(30)'; echo rc=\$?" Enter
	wait_screen "^started"
	tmux -S "$sock" send-keys C-c
	ok "Ctrl-C ends the command" wait_screen "^rc=130"
	like "$(screen)" "interrupted \(Interrupt\); nothing committed" "the run counts as interrupted"
	ok "and nothing is committed" test ! -e "$S/output/ctrl-c.txt"
	rm -rf "$T/state/rls/deltas"
fi
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
