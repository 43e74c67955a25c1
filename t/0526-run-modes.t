#!/bin/bash
# Inside rls run, file modes bind the command as ext4 binds its user: the
# kernel checks them for the sandbox's identity (rlsfs reaches the files
# as rls's caller, root or not), and the policy still refuses what it
# refuses whatever the modes say.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
need_run_source

chmod 666 src/main.py
run_rls -p agent-safe -- sh -c '
	try() { n=$1; shift; if "$@" >/dev/null 2>&1; then echo "$n allowed"; else echo "$n denied"; fi; }
	cd output
	echo secret > f; chmod 000 f
	try read cat f; try write sh -c "echo x >> f"
	chmod 600 f; try read cat f
	mkdir ro; chmod 555 ro; try create touch ro/new
	mkdir nox; echo in > nox/in; chmod 600 nox; try search cat nox/in
	chmod 700 nox ro; try search cat nox/in
	cd ..; try policy sh -c "echo x >> src/main.py"; try hidden cat .env'
out=$(printf '%s' "$out" | tr '\n' ' ')
like "$out" "^read denied write denied " "the owner of a mode 000 file can neither read nor write it"
like "$out" " denied read allowed " "until it gives itself the right"
like "$out" " create denied " "no file is made in a folder without write permission"
like "$out" " search denied search allowed " "nor reached through one without search permission, until it has it"
like "$out" " policy denied " "a file the policy makes read-only stays so, whatever its mode"
like "$out" " hidden denied$" "and a hidden one hidden"
is "$rc" 0 "the run ends and commits" || diag "$err"
is "$(stat -c %a "$S/output/f" "$S/output/ro" "$S/output/nox" | tr '\n' ' ')" "600 700 700 " \
	"with the modes the command set"
done_testing
