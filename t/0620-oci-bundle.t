#!/bin/bash
# rls run --backend oci: choosing the runtime, what a bundle can and cannot
# carry, and nothing of it left behind.
. "$(dirname "$0")/lib.sh"
RLS_TEST_BACKEND=oci
. "$(dirname "$0")/lib-run.sh"
need_run_source

run_rls --runtime nosuch -- true
like "$rc:$err" "^125:.*--runtime must be runc, crun, runsc or a path, not 'nosuch'" "an unknown runtime is named"
run_rls --runtime "$T/nothing-here" -- true
like "$err" "--runtime $T/nothing-here: No such file or directory" "a missing runtime path says so"
cat > "$T/broken-runtime" <<'SH'
#!/bin/sh
echo "this runtime is broken" >&2; exit 1
SH
chmod +x "$T/broken-runtime"
run_rls --runtime "$T/broken-runtime" -- true
like "$rc:$err" "^125:.*does not work here: this runtime is broken" "a runtime that cannot run a bundle says why, on one line"

# A probe that runs out of time (a busy host) is not kept as the runtime's
# verdict: the next run probes again.
real=$(command -v "${RLS_TEST_RUNTIME:-runc}")
stalled=$T/stalled/${real##*/}	# named as the real one, which tells its kind
mkdir -p "$T/stalled"
cat > "$stalled" <<SH
#!/bin/sh
[ -e "$T/stall" ] && case " \$* " in *" run "*) exec sleep 300 ;; esac
exec "$real" "\$@"
SH
chmod +x "$stalled"
touch "$T/stall"
run_rls --runtime "$stalled" -- true
like "$rc:$err" "^125:.*did not end within [0-9]+ s \\(a busy host\\? try again\\)" "a probe that runs out of time says so"
rm "$T/stall"
run_rls --runtime "$stalled" -- echo ran
is "$rc:$out" "0:ran" "and is not kept: the next run probes again, and runs"

if [ -z "$RLS_TEST_RUNTIME" ]; then
	run_rls -- true
	is "$rc" 0 "without --runtime, the first runtime that works here runs it"
	ok "and the probe's answer is kept for the next run" sh -c "ls '$T/state/rls/oci/' | grep -q '^probe-'"
fi

# Arguments travel beside the bundle, not in it: JSON strings are UTF-8.
run_rls -- sh -c 'printf "%s" "$1" | od -An -tx1 | tr -d " "' sh "$(printf 'a\377b')"
is "$out" "61ff62" "an argument that is not UTF-8 reaches the command byte for byte"
run_rls --env "X=$(printf 'a\377b')" -- true
like "$rc:$err" '^125:.*cannot carry "X=a\\377b" \(not UTF-8\); use --backend bwrap' \
	"a variable that is not UTF-8 is refused, quoted, pointing at bwrap"

run_rls -- sh -c 'hostname; cd /run/rls && echo *'
like "$out" "^rls$" "the hostname is rls"
want="argv init"
[ "$BACKEND_NAME" = oci-runsc ] && want="argv init seccomp verdict"
like "$out" "^$want\$" "of the bundle the sandbox sees only what rls-init reads"
ok "no bundle, runtime state or mount is left" no_leftovers
cd "$T" || exit 1
rm -rf "$T/state/rls/deltas"
ok "nothing is left behind" no_leftovers
done_testing
