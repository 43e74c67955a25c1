# t/lib.sh - TAP helpers for the shell tests, sourced by every t/*.t.
#
#   plan N | done_testing      ok "sentence" CMD...      not_ok_cmd "sentence" CMD...
#   is GOT WANT "sentence"     like GOT REGEX "sentence" skip_all "why"
#   assert_file_has_content FILE REGEX
#
# Each test gets a scratch directory $T (removed at exit) and the programs
# under test as $RLS and $RLSFS.

set -u
: "${RLS_BUILD:=$(cd "$(dirname "$0")/.." && pwd)/build}"
: "${RLS_SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
RLS=$RLS_BUILD/rls
RLSFS=$RLS_BUILD/rlsfs
export RLS RLSFS RLS_BUILD RLS_SRC

_tap_n=0
_tap_failed=0
_tap_cleanups=()

T=$(mktemp -d "${TMPDIR:-/tmp}/rls-test.XXXXXX")
chmod 755 "$T"

# With RLS_FAILURE_LOG set (as .ci/run sets it), what a failing test
# printed (its failed cases and the comments under them) is added to that
# file at its exit, so that a summary at the end of a long run can say why.
_tap_copy=
if [ -n "${RLS_FAILURE_LOG:-}" ]; then
	_tap_copy=$(mktemp "${TMPDIR:-/tmp}/rls-tap.XXXXXX")
	# A fifo and a disowned tee, not a process substitution: a test's
	# bare `wait` would wait for that too, and it never ends.
	rm -f "$_tap_copy.fifo" && mkfifo -m 600 "$_tap_copy.fifo"
	tee "$_tap_copy" < "$_tap_copy.fifo" &
	_tap_tee=$!
	disown "$_tap_tee"
	exec > "$_tap_copy.fifo"	# only tee keeps the old stdout: tests count descriptors
	rm -f "$_tap_copy.fifo"
fi

_tap_log_failure() {
	local i
	exec >&-
	# The copy is whole once tee has read to the end, which a process
	# the test left running with our stdout open can delay: wait 2 s.
	for i in $(seq 20); do kill -0 "$_tap_tee" 2>/dev/null || break; sleep 0.1; done
	{
		printf '=== %s%s (exit %d)\n' "${0#"$RLS_SRC/"}" \
			"${RLS_TEST_BACKEND:+, backend $RLS_TEST_BACKEND${RLS_TEST_RUNTIME:+:$RLS_TEST_RUNTIME}}" "$1"
		awk '/^not ok/ { show = 1; print; next } /^ok / { show = 0 } show && /^#/' "$_tap_copy" | head -n 60
	} | flock "$RLS_FAILURE_LOG" tee -a "$RLS_FAILURE_LOG" >/dev/null
}

_tap_exit() {
	local rc=$?
	local c
	for c in "${_tap_cleanups[@]}"; do eval "$c" >/dev/null 2>&1 || :; done
	rm -rf "$T" 2>/dev/null || :
	if [ -n "$_tap_copy" ]; then
		[ "$rc" -eq 0 ] || _tap_log_failure "$rc"
		rm -f "$_tap_copy"
	fi
	exit $rc
}
trap _tap_exit EXIT
at_exit() { _tap_cleanups=("$1" "${_tap_cleanups[@]}"); }

plan() { echo "1..$1"; }
done_testing() { echo "1..$_tap_n"; [ "$_tap_failed" -eq 0 ]; exit $?; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
diag() { printf '# %s\n' "$*"; }

_tap_result() {
	_tap_n=$((_tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_tap_n - $2"
	else
		echo "not ok $_tap_n - $2"
		# a "# TODO" case is a known weakness: reported, not a failure
		case "$2" in *"# TODO"*) ;; *) _tap_failed=$((_tap_failed + 1)) ;; esac
	fi
}

# ok "sentence" CMD...: passes when CMD exits 0.
ok() {
	local desc=$1; shift
	local out
	out=$("$@" 2>&1); local rc=$?
	_tap_result $rc "$desc"
	[ $rc -eq 0 ] || printf '%s\n' "$out" | sed 's/^/#   /' | head -20
	return $rc
}

# fails "sentence" CMD...: passes when CMD exits non-zero.
fails() {
	local desc=$1; shift
	local out
	out=$("$@" 2>&1); local rc=$?
	if [ $rc -ne 0 ]; then _tap_result 0 "$desc"; else _tap_result 1 "$desc"; diag "succeeded unexpectedly"; printf '%s\n' "$out" | sed 's/^/#   /' | head -10; fi
	[ $rc -ne 0 ]
}

is() {
	if [ "$1" = "$2" ]; then _tap_result 0 "$3"; return 0; fi
	_tap_result 1 "$3"
	printf '#   got:  %s\n#   want: %s\n' "$1" "$2"
	return 1
}

isnt() {
	if [ "$1" != "$2" ]; then _tap_result 0 "$3"; return 0; fi
	_tap_result 1 "$3"
	printf '#   got:  %s\n#   expected anything else\n' "$1"
	return 1
}

like() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then _tap_result 0 "$3"; return 0; fi
	_tap_result 1 "$3"
	printf '#   got:  %s\n#   want: /%s/\n' "$1" "$2"
	return 1
}

unlike() {
	if ! printf '%s' "$1" | grep -Eq -- "$2"; then _tap_result 0 "$3"; return 0; fi
	_tap_result 1 "$3"
	printf '#   got:  %s\n#   should not match: /%s/\n' "$1" "$2"
	return 1
}

assert_file_has_content() {
	grep -Eq -- "$2" "$1" || { echo "# $1 lacks /$2/:"; sed 's/^/#   /' "$1" | head -20; return 1; }
}

# The errno text a command printed, for checks like
#   is "$(errno_of cat "$M/.env")" ENOENT "..."
errno_of() {
	local out
	out=$(LC_ALL=C "$@" 2>&1 >/dev/null) && { echo OK; return; }
	case "$out" in
	*"No such file or directory"*) echo ENOENT ;;
	*"Permission denied"*) echo EACCES ;;
	*"Operation not permitted"*) echo EPERM ;;
	*"Invalid cross-device link"*) echo EXDEV ;;
	*"File exists"*) echo EEXIST ;;
	*"Directory not empty"*) echo ENOTEMPTY ;;
	*"Read-only file system"*) echo EROFS ;;
	*) echo "OTHER: $out" ;;
	esac
}

need_root() { [ "$(id -u)" = 0 ] || skip_all "needs root"; }
need_fuse() { [ -c /dev/fuse ] || skip_all "no /dev/fuse"; }

# fsop: one file system call, its errno name printed (t/helpers/fsop.c).
FSOP=$RLS_BUILD/t/helpers/fsop

# mount_rlsfs SOURCE MOUNTPOINT [rlsfs mount options...]: mount, and
# unmount when the test ends.  The delta is $T/delta unless --delta is given.
mount_rlsfs() {
	local src=$1 mnt=$2; shift 2
	local has_delta=
	case " $* " in *" --delta "*) has_delta=1 ;; esac
	mkdir -p "$mnt"
	if [ -n "$has_delta" ]; then
		"$RLSFS" mount "$@" "$src" "$mnt" || return 1
	else
		"$RLSFS" mount --delta "$T/delta" "$@" "$src" "$mnt" || return 1
	fi
	at_exit "umount_rlsfs '$mnt'"
}

# mount_rlsfs_traced LOG SOURCE MOUNTPOINT [rlsfs mount options...]: mount
# with the daemon's debug trace (-d: every request it gets) going to LOG,
# unmounted when the test ends; fails when the mount did not come.
mount_rlsfs_traced() {
	local log=$1 src=$2 mnt=$3 i; shift 3
	mkdir -p "$mnt"
	"$RLSFS" mount -d "$@" "$src" "$mnt" 2> "$log" &
	at_exit "umount_rlsfs '$mnt'"
	for i in $(seq 200); do mountpoint -q "$mnt" && break; sleep 0.05; done
	mountpoint -q "$mnt"
}

# trace_requests LOG CMD...: the requests a traced daemon got while CMD
# ran (its output dropped), as "OPCODE COUNT" lines
trace_requests() {
	local log=$1 before; shift
	before=$(wc -l < "$log")
	"$@" > /dev/null
	sleep 0.3	# the trace is written after the reply
	tail -n +$((before + 1)) "$log" | grep -ao 'opcode: [A-Z_]*' | cut -d' ' -f2 | sort | uniq -c |
		awk '{ print $2, $1 }'
}

# trace_count LOG OPCODE CMD...: how many of those were OPCODE
trace_count() {
	local log=$1 op=$2; shift 2
	trace_requests "$log" "$@" | awk -v op="$op" '$1 == op { n = $2 } END { print n + 0 }'
}

# umount_rlsfs MOUNTPOINT: unmount and wait (up to 15 s: a loaded machine,
# a sanitizer build) for the daemon to let go.
umount_rlsfs() {
	mountpoint -q "$1" || return 0
	"$RLSFS" umount "$1" 2>/dev/null || umount -l "$1" 2>/dev/null || fusermount3 -u -z "$1" 2>/dev/null
	local i=0
	while [ $i -lt 300 ] && pgrep -f "rlsfs mount.* $1\$" >/dev/null; do sleep 0.05; i=$((i + 1)); done
}

# eventually WANT CMD...: CMD's output, once it is WANT, polled up to 5 s
# (what another process makes true within moments; never a timed check)
eventually() {
	local want=$1 got i=0; shift
	while got=$("$@"); [ "$got" != "$want" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	echo "$got"
}

# strace_daemon PID CALLS OUT CMD...: run CMD with the system calls CALLS
# of process PID, all its threads, traced into OUT (strace -y: descriptors
# shown with their paths).
strace_daemon() {
	local pid=$1 calls=$2 out=$3 st i=0; shift 3
	strace -f -y -qq -e trace="$calls" -p "$pid" -o "$out" &
	st=$!
	# strace has attached once the daemon's threads are stopped and let go
	while [ $i -lt 100 ] && ! grep -q 'TracerPid:.*[1-9]' "/proc/$pid/status"; do sleep 0.05; i=$((i + 1)); done
	"$@" > /dev/null
	sleep 0.3
	kill "$st"; wait "$st" 2>/dev/null
}
