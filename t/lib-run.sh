# t/lib-run.sh - helpers for the `rls run` tests (t/05*, t/07*), after lib.sh.
#
#   mk_src DIR            a small source tree: .env (secret), src/, output/
#   run_rls ARGS...       rls run with deltas kept under $T/state; sets
#                         $out (stdout), $err (stderr), $rc, and with a bare
#                         --json, $json (the object)
#   no_leftovers          0 when no rlsfs mount, rlsfs process, rls temp dir
#                         or rls cgroup is left from this test

need_bwrap() {
	command -v bwrap >/dev/null || skip_all "bwrap is not installed"
	bwrap --ro-bind / / --unshare-all true 2>/dev/null || skip_all "bwrap cannot make namespaces here"
}

# The start of most run tests: FUSE and bwrap usable, a source tree made by
# mk_src at $S, and the test working inside it.
need_run_source() {
	need_fuse
	need_bwrap
	S=$T/src
	mk_src "$S"
	cd "$S" || exit 1
}

export XDG_STATE_HOME=$T/state
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"

mk_src() {
	mkdir -p "$1/src/pkg" "$1/output"
	echo 'API_KEY=fake-secret' > "$1/.env"
	echo 'print("hello")' > "$1/src/main.py"
	echo 'x = 1' > "$1/src/pkg/mod.py"
	echo 'keep' > "$1/output/.keep"
}

# A bare --json among the arguments asks for the object: it is written to
# a file of its own and put in $json.
run_rls() {
	local ef=$T/.stderr jf=$T/.json a args=()
	for a in "$@"; do
		if [ "$a" = --json ]; then args+=(--json "$jf"); else args+=("$a"); fi
	done
	rm -f "$jf"
	out=$("$RLS" run "${args[@]}" 2>"$ef"); rc=$?
	err=$(cat "$ef")
	json=$(cat "$jf" 2>/dev/null)
}

# Deltas left in the state dir (kept ones).
kept_deltas() { ls "$T/state/rls/deltas" 2>/dev/null | wc -l; }

# rls names its cgroups rls-run-PID: one whose rls is gone was left
# behind (runs of other test suites on the machine are still alive).
orphan_cgroups() {
	local d pid
	for d in $(find /sys/fs/cgroup -maxdepth 6 -name 'rls-run-*' 2>/dev/null); do
		pid=${d##*/rls-run-}
		case "$pid" in *[!0-9]*) continue ;; esac
		kill -0 "$pid" 2>/dev/null || echo "$d"
	done
}

no_leftovers() {
	local i
	for i in $(seq 50); do
		if ! grep -q " fuse.rlsfs " /proc/self/mountinfo 2>/dev/null || \
		   ! grep " fuse.rlsfs " /proc/self/mountinfo | grep -q "$T"; then
			if ! pgrep -f "rlsfs mount .*$T" >/dev/null &&
			   [ -z "$(ls "$TMPDIR" 2>/dev/null)" ] &&
			   [ -z "$(orphan_cgroups | head -1)" ]; then
				return 0
			fi
		fi
		sleep 0.1
	done
	grep " fuse.rlsfs " /proc/self/mountinfo | grep "$T" | sed 's/^/# mount: /'
	pgrep -af "rlsfs mount .*$T" | sed 's/^/# process: /'
	ls "$TMPDIR" | sed 's/^/# temp: /'
	orphan_cgroups | sed 's/^/# cgroup: /'
	return 1
}
