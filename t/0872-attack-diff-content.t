#!/bin/bash
# A sandbox writes a file whose content carries terminal sequences that
# erase and rewrite the lines above them, to hide its change from whoever
# reviews `rls diff -p` on a terminal.  There the content's controls are
# shown escaped; into a pipe the patch stays byte-exact and applies.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-names.sh"
need_fuse
command -v script >/dev/null || skip_all "script(1) is not installed (util-linux)"
on_tty() { timeout 30 script -qec "stty -onlcr; $1" /dev/null 2>&1; }

S=$T/src M=$T/mnt
mkdir -p "$S"
printf 'safe\n' > "$S/config"
# "+pwned" is followed by: cursor up, erase the line, and a fake one.
evil=$'pwned\e[1A\e[2K\r+safe\ttab\xc2\x9b\xe2\x80\xae'
mount_rlsfs "$S" "$M" -p full-access --delta "$T/d" || { echo "Bail out! mount"; exit 1; }
printf '%s\n' "$evil" > "$M/config"
umount_rlsfs "$M"

out=$(on_tty "'$RLS' diff -p '$T/d'")
ok "on a terminal, rls diff -p's output is safe to print" safe_text <<<"$out"
like "$out" '^\+pwned\\033\[1A\\033\[2K\\r\+safe	tab\\302\\233\\342\\200\\256$' \
	"the content's controls are shown as escapes, its tab kept"
like "$out" '^-safe$' "the other lines are as diff wrote them"

"$RLS" diff -p "$T/d" > "$T/patch"
ok "into a pipe the patch keeps the content's bytes" grep -qF -- "+$evil" "$T/patch"
cp -r "$S" "$T/copy"
ok "and applies" sh -c "cd '$T/copy' && git apply '$T/patch'"
is "$(cat "$T/copy/config")" "$evil" "giving the sandbox's content"
done_testing
