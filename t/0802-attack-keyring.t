#!/bin/bash
# Attack: read or rewrite the caller's keys.  Keyrings are not namespaced;
# the command gets a fresh session keyring and the key calls are refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "the guest's keyrings are its own kernel's: none of the caller's keys is in reach"
command -v keyctl >/dev/null || skip_all "keyctl is not installed (keyutils)"
need_run_source

cat > "$T/keys.py" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_keyctl, SYS_add_key = 250, 248
KEYCTL_GET_KEYRING_ID, KEYCTL_READ, KEYCTL_UPDATE = 0, 11, 2
def call(*a):
    r = libc.syscall(*a)
    return r if r >= 0 else -ctypes.get_errno()
key = int(os.environ["KEY"])
buf = ctypes.create_string_buffer(256)
print("read", call(SYS_keyctl, KEYCTL_READ, key, buf, 256), buf.value.decode(errors="replace"))
print("update", call(SYS_keyctl, KEYCTL_UPDATE, key, b"forged", 6))
print("session", call(SYS_keyctl, KEYCTL_GET_KEYRING_ID, -3, 0))
print("add", call(SYS_add_key, b"user", b"planted", b"x", 1, -3))
PY
cp "$T/keys.py" "$S/output/keys.py"
# A session of its own for the test, holding one secret key.
out=$(keyctl session rls-test sh -c '
	key=$(keyctl add user rls-test-key s3cret-key-value @s)
	"$RLS" run $RUN_BACKEND_WORDS --env KEY="$key" -- python3 output/keys.py 2>&1
	echo "after: $(keyctl print "$key")"' 2>&1)
[ "$(uname -m)" = x86_64 ] || skip_all "the raw key call numbers in this test are x86-64's"
unlike "$out" "^read .*s3cret" "the caller's session key cannot be read from inside"
like "$out" "read -38 " "keyctl is refused with ENOSYS"
like "$out" "update -38" "a key cannot be rewritten"
like "$out" "add -38" "nor a key planted"
like "$out" "after: s3cret-key-value" "the caller's key is unchanged"
run_rls -- sh -c 'cat /proc/keys 2>/dev/null | wc -c'
is "$out" 0 "/proc/keys shows nothing"
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
