# t/lib-run.sh - helpers for the `rls run` tests (t/05*, t/07*, t/08*), after
# lib.sh.  Every run test runs against one backend, chosen by the
# environment, so that the same suite holds every backend to the same
# contract (make check-backends runs it once per backend):
#
#   RLS_TEST_BACKEND      bwrap (the default), oci or vm
#   RLS_TEST_RUNTIME      with oci: runc, crun, runsc or a path (default:
#                         the first that works here)
#
#   mk_src DIR            a small source tree: .env (secret), src/, output/
#   run_rls ARGS...       rls run with deltas kept under $T/state; sets
#                         $out (stdout), $err (stderr), $rc
#   "${RUN_BACKEND[@]}"   the backend's options: "$RLS" run "${RUN_BACKEND[@]}" ...
#   $RLS_RUN              "$RLS" run and those, as shell words for a `sh -c` string
#   need_backend          skip_all with the reason when the backend cannot
#                         run here
#   skip_on BACKEND... -- "why"   skip one case (counted, with the reason)
#                         when the backend is one of those named; returns 0
#                         when it skipped
#   skip_all_on BACKEND... -- "why"   skip the whole file on those backends
#   wait_for FILE PATTERN wait (at most 60 s: a VM boots slowly under TCG)
#                         until FILE holds PATTERN
#   no_leftovers          0 when no rlsfs mount, rlsfs process, rls temp dir,
#                         rls cgroup, OCI container, qemu or virtiofsd is
#                         left from this test
#
# The vm backend boots a guest for every run (seconds under TCG): its pass
# holds it to the contract's core (exit status, timeout, signals,
# environment, commit, denial summary, --json, clean-up), and the cases
# beyond that say why they skip.  t/09*-vm-*.t test the rest of it.

: "${RLS_TEST_BACKEND:=bwrap}"
: "${RLS_TEST_RUNTIME:=}"
RUN_BACKEND=(--backend "$RLS_TEST_BACKEND")
[ "$RLS_TEST_BACKEND" = oci ] && [ -n "$RLS_TEST_RUNTIME" ] && RUN_BACKEND+=(--runtime "$RLS_TEST_RUNTIME")
RLS_RUN="'$RLS' run ${RUN_BACKEND[*]}"
# The options as words, for scripts in single quotes ("$RLS" run $RUN_BACKEND_WORDS).
RUN_BACKEND_WORDS="${RUN_BACKEND[*]}"
export RUN_BACKEND_WORDS
# The backend as one word for skip_on: bwrap, oci-runc, oci-runsc, ...
case $RLS_TEST_BACKEND in
oci) BACKEND_NAME=oci-${RLS_TEST_RUNTIME:-default} ;;
*) BACKEND_NAME=$RLS_TEST_BACKEND ;;
esac
export RLS_TEST_BACKEND RLS_TEST_RUNTIME

# 0 when the backend is one of those named before --.
_backend_named() {
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		case $BACKEND_NAME in $1|$1-*) return 0 ;; esac
		shift
	done
	return 1
}

skip_on() {
	_backend_named "$@" || return 1
	while [ "$1" != -- ]; do shift; done
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n # skip on $BACKEND_NAME: $2"
	return 0
}

skip_all_on() {
	_backend_named "$@" || return 0
	while [ "$1" != -- ]; do shift; done
	skip_all "on $BACKEND_NAME: $2"
}

wait_for() {
	local i
	for i in $(seq 1200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	return 1
}

need_bwrap() {
	command -v bwrap >/dev/null || skip_all "bwrap is not installed"
	bwrap --ro-bind / / --unshare-all true 2>/dev/null || skip_all "bwrap cannot make namespaces here"
}

# The backend runs a command here, or the whole test is skipped, saying why.
need_backend() {
	# t/check-backends has just run one command with it.
	[ "${RLS_TEST_BACKEND_WORKS:-}" = "$BACKEND_NAME" ] && return 0
	case $RLS_TEST_BACKEND in
	bwrap) need_bwrap ;;
	*)
		local d=$T/.probe why
		mkdir -p "$d/src"
		why=$(cd "$d/src" && XDG_STATE_HOME=$d/state TMPDIR=$d "$RLS" run "${RUN_BACKEND[@]}" --quiet -- true 2>&1) ||
			skip_all "backend $BACKEND_NAME does not run here: $(printf '%s' "$why" | head -1)"
		rm -rf "$d"
		;;
	esac
}

# The start of most run tests: FUSE and the backend usable, a source tree
# made by mk_src at $S, and the test working inside it.
need_run_source() {
	need_fuse
	need_backend
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
	out=$("$RLS" run "${RUN_BACKEND[@]}" "${args[@]}" 2>"$ef"); rc=$?
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
		kill -0 "$pid" 2>/dev/null && continue
		# Left before this test began: not this test's.
		case " $ORPHANS_BEFORE " in *" $d "*) continue ;; esac
		echo "$d"
	done
}
ORPHANS_BEFORE=
ORPHANS_BEFORE=$(orphan_cgroups | tr '\n' ' ')

no_leftovers() {
	local i
	for i in $(seq 150); do
		if ! grep -q " fuse.rlsfs " /proc/self/mountinfo 2>/dev/null || \
		   ! grep " fuse.rlsfs " /proc/self/mountinfo | grep -q "$T"; then
			if ! pgrep -f "rlsfs mount .*$T" >/dev/null &&
			   [ -z "$(ls "$TMPDIR" 2>/dev/null)" ] &&
			   [ -z "$(orphan_cgroups | head -1)" ] &&
			   ! pgrep -f "^runsc.*$T" >/dev/null &&
			   ! pgrep -f "^[^ ]*(qemu-system|virtiofsd).*$T" >/dev/null; then
				return 0
			fi
		fi
		sleep 0.1
	done
	grep " fuse.rlsfs " /proc/self/mountinfo | grep "$T" | sed 's/^/# mount: /'
	pgrep -af "rlsfs mount .*$T" | sed 's/^/# process: /'
	ls "$TMPDIR" | sed 's/^/# temp: /'
	orphan_cgroups | sed 's/^/# cgroup: /'
	pgrep -af "^runsc.*$T" | sed 's/^/# runsc: /'
	pgrep -af "^[^ ]*(qemu-system|virtiofsd).*$T" | sed 's/^/# vm: /'
	return 1
}
