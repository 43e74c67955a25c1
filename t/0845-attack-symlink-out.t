#!/bin/bash
# Symlinks made in the sandbox are harmless inside it (rlsfs judges every
# lookup through them), but once committed everyone else follows them: the
# host's tools, editors, later sandboxes under other policies.  A symlink
# whose target is absolute, leads out of the tree, or resolves to content
# the policy hides was committed like any other.  Commit now holds such
# links back (they stay in the delta), says so, and exits 4, unless told
# --allow-symlinks-out.  Targets are resolved from the link's folder as the
# kernel would in the tree the commit leaves: through other symlinks, the
# delta's and the source's, and ".." through symlinked folders.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt D=$T/delta
mkdir -p "$S/w/sub/deeper" "$S/private"
echo s > "$S/.env"
echo k > "$S/private/key"
echo r > "$S/w/real"
ln -s /etc "$S/w/outlink"
ln -s ../private "$S/w/tohidden"
cat > "$T/policy.yml" <<'YAML'
rules:
  - { pattern: "**", permission: write }
  - { pattern: "**/.env*", permission: none }
  - { pattern: "/private/**", permission: none }
YAML
mount_rlsfs "$S" "$M" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }
mkdir -p "$M/w/venv/bin"
ln -s /usr/bin/python3 "$M/w/venv/bin/python"		# absolute
ln -s ../.. "$M/w/up"					# out of the tree
ln -s ../.env "$M/w/env"				# hidden
ln -s ../private/key "$M/w/priv"			# hidden folder's content
ln -s b "$M/w/a" && ln -s ../../outside "$M/w/b"	# a chain out
ln -s d "$M/w/c" && ln -s ../.env-x "$M/w/d"		# a chain to a hidden name
ln -s ../.. "$M/w/sub/up"				# the root: fine
ln -s up/../x "$M/w/sub/f"		# ".." through a symlinked folder: out
ln -s up/private/key "$M/w/sub/h"	# through it to hidden content
ln -s outlink/passwd "$M/w/viasrc"	# through a source symlink, out
ln -s tohidden/key "$M/w/viahidden"	# through a source symlink, hidden
ln -s real "$M/w/ok" && ln -s sub "$M/w/okdir" && ln -s nothing-yet "$M/w/dangling"
ln -s sub/deeper/../../real "$M/w/okdots"
umount_rlsfs "$M"

cout=$("$RLS" commit "$D" 2>&1); rc=$?
is "$rc" 4 "commit exits 4 when it holds symlinks back"
held() { printf '%s\n' "$cout" | grep -Fx "held back: $1"; }
ok "an absolute target is held back" held "w/venv/bin/python -> /usr/bin/python3 (absolute target)"
ok "a target out of the tree is" held "w/up -> ../.. (leaves the tree)"
ok "a target the policy hides is" held "w/env -> ../.env (reaches hidden content)"
ok "so is one inside a hidden folder" held "w/priv -> ../private/key (reaches hidden content)"
ok "a chain that ends out of the tree holds back its first link" held "w/a -> b (leaves the tree)"
ok "and its last" held "w/b -> ../../outside (leaves the tree)"
ok "a chain that ends at a hidden name is held back" held "w/c -> d (reaches hidden content)"
ok "'..' after a symlinked folder goes up from where that folder leads" held "w/sub/f -> up/../x (leaves the tree)"
ok "as does a name after it" held "w/sub/h -> up/private/key (reaches hidden content)"
ok "a chain through a symlink of the source that leaves the tree is held back" \
	held "w/viasrc -> outlink/passwd (leaves the tree)"
ok "as is one through a source symlink to a hidden folder" held "w/viahidden -> tohidden/key (reaches hidden content)"
like "$cout" "rls commit --allow-symlinks-out $D" "the message says how to commit them after all"
is "$(printf '%s\n' "$cout" | grep -c '^held back:')" 12 "nothing else is held back"
for l in ok okdir dangling okdots sub/up; do
	test -L "$S/w/$l"; is $? 0 "a link that stays inside and shows nothing hidden is committed: w/$l"
done
test -d "$S/w/venv/bin" && ! test -e "$S/w/venv/bin/python" && ! test -L "$S/w/venv/bin/python"
is $? 0 "the rest is committed around the held links"
test -L "$S/w/up" || test -L "$S/w/env" || test -L "$S/w/viasrc"; is $? 1 "which are not in the tree"
like "$("$RLS" diff "$D")" "A w/venv/bin/python" "they stay in the delta"
is "$("$RLS" diff "$D" | grep -vc '^would hold back: ')" 12 "they alone"
is "$("$RLS" diff "$D" | grep -c '^would hold back: ')" 12 "and rls diff says each would be held back again"

out=$("$RLS" commit --allow-symlinks-out "$D" 2>&1); rc=$?
is "$rc" 0 "--allow-symlinks-out commits them"
is "$(readlink "$S/w/venv/bin/python")" /usr/bin/python3 "as they were made"
is "$("$RLS" diff "$D")" "" "and the delta is empty"

# A commit interrupted after its journal is written keeps the held link
# through the recovery.
mount_rlsfs "$S" "$M" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }
ln -s /etc/passwd "$M/w/abs2" && echo n > "$M/w/new2"
umount_rlsfs "$M"
RLS_COMMIT_CRASH_AFTER=2 "$RLS" commit "$D" >/dev/null 2>&1
is "$?" 137 "a commit is interrupted"
is "$("$RLS" diff "$D")" "A w/abs2
would hold back: w/abs2 -> /etc/passwd (absolute target)" "the recovery finishes it and keeps the held link in the delta"
is "$(cat "$S/w/new2")" n "and applies the rest"
"$RLS" discard "$D" >/dev/null

# The policy is recorded when the delta is mounted, and read again at
# commit: a policy that can no longer be read holds back every link.
cp "$T/policy.yml" "$T/gone.yml"
mount_rlsfs "$S" "$M" -p "$T/gone.yml" || { echo "Bail out! mount failed"; exit 1; }
ln -s real "$M/w/ok2"
umount_rlsfs "$M"
rm "$T/gone.yml"
cout=$("$RLS" commit "$D" 2>&1); rc=$?
is "$rc" 4 "a delta whose policy is gone holds back even a harmless link"
like "$cout" "held back: w/ok2 -> real \(its policy cannot be loaded\)" "and says why"
done_testing
