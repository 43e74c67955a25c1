#!/bin/bash
# The attack: the policy is reached through a symlink or a folder of the
# tree (`.rls -> cfg`, `-p sub/link/pol.yml`), so that the sandbox, unable
# to change the policy file itself, swaps the symlink or renames the
# folder, and the next run reads the sandbox's policy.  Every name on the
# way is protected as it was given: through a real rlsfs mount, none can be
# renamed, removed or replaced, and nothing reaches the source.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt
mkdir -p "$S/cfg" "$S/cfg2" "$S/sub" "$S/shared" "$S/work/evil" "$S/work/dir"
printf 'rules:\n  - { pattern: "**", permission: write }\n' > "$S/shared/base.yml"
printf 'extends: ../shared/base.yml\n' > "$S/cfg/policy.yml"
printf 'extends: ../shared/base.yml\n' > "$S/cfg2/pol.yml"
echo other > "$S/cfg/notes"
ln -s cfg "$S/.rls"
ln -s ../cfg2 "$S/sub/link"
printf 'rules:\n  - { pattern: "**", permission: write }\n' > "$S/work/evil/policy.yml"
cp "$S/work/evil/policy.yml" "$S/work/evil/pol.yml"
ln -s evil "$S/work/evil-link"
src_state() { (cd "$S" && find . -path ./work -prune -o -printf '%p %s %m %l\n' | sort) | md5sum; }
before=$(src_state)

# attack NAME: every way to make the path NAME lead elsewhere, each refused
attack() {
	local p=$M/$1 what=$2
	is "$($FSOP unlink "$p")" EACCES "$what cannot be removed"
	is "$($FSOP rename "$p" "$M/work/moved")" EACCES "$what cannot be renamed away"
	is "$($FSOP rename "$M/work/evil-link" "$p")" EACCES "$what cannot be replaced by a symlink renamed over it"
	is "$($FSOP rename "$M/work/evil" "$p" exchange)" EACCES "$what cannot be exchanged with a folder"
	is "$($FSOP rename "$M/work/evil-link" "$p" exchange)" EACCES "$what cannot be exchanged with a symlink"
}
attack_dir() {
	local p=$M/$1 what=$2
	is "$($FSOP rmdir "$p")" EACCES "$what cannot be removed"
	is "$($FSOP rename "$p" "$M/work/moved")" EACCES "$what cannot be renamed away"
	is "$($FSOP rename "$M/work/dir" "$p")" EACCES "$what cannot be replaced by a folder renamed over it"
	is "$($FSOP rename "$M/work/evil" "$p" exchange)" EACCES "$what cannot be exchanged with a folder"
	is "$($FSOP rename "$M/work/evil-link" "$p" exchange)" EACCES "$what cannot be exchanged with a symlink"
}

# .rls -> cfg, the policy found without -p
mount_rlsfs "$S" "$M" || { echo "Bail out! mount failed"; exit 1; }
attack .rls "the .rls symlink"
refused_ln() { ln -sfn work/evil "$M/.rls" 2>/dev/null; [ "$(readlink "$M/.rls")" = cfg ]; }
ok "ln -sfn cannot repoint .rls" refused_ln
attack_dir cfg "the folder .rls leads to"
is "$($FSOP open "$M/cfg/policy.yml" wt)" EACCES "the policy file cannot be truncated"
is "$($FSOP rename "$M/work/evil/policy.yml" "$M/cfg/policy.yml")" EACCES "nor replaced"
is "$($FSOP open "$M/cfg/new.yml" wc)" EACCES "the folder .rls leads to takes no new file, as .rls/ itself"
is "$($FSOP append "$M/cfg/notes" x)" EACCES "nor a change to what it holds"
attack shared/base.yml "a file the policy extends"
attack_dir shared "the folder of a file the policy extends"
is "$($FSOP open "$M/shared/other" wc)" OK "what else that folder holds keeps its level"
umount_rlsfs "$M"

# -p sub/link/pol.yml, named from the source root
cd "$S" || exit 1
mount_rlsfs "$S" "$M" -p sub/link/pol.yml --delta "$T/delta2" || { echo "Bail out! mount failed"; exit 1; }
cd "$T" || exit 1
attack sub/link "the symlink named on the way to the policy"
refused_ln2() { ln -sfn ../work/evil "$M/sub/link" 2>/dev/null; [ "$(readlink "$M/sub/link")" = ../cfg2 ]; }
ok "ln -sfn cannot repoint it" refused_ln2
attack_dir sub "the folder holding that symlink"
attack_dir cfg2 "the folder the symlink leads to"
is "$($FSOP rename "$M/work/evil/pol.yml" "$M/cfg2/pol.yml")" EACCES "the policy file cannot be replaced"
is "$($FSOP open "$M/sub/other" wc)" OK "a new file beside the symlink is still allowed"
is "$($FSOP open "$M/cfg2/other" wc)" OK "and beside the policy file"
refused_rm() { rm -rf "$M/sub" "$M/cfg2" 2>/dev/null; test -L "$M/sub/link" && test -f "$M/cfg2/pol.yml"; }
ok "rm -rf leaves the way to the policy in place" refused_rm
umount_rlsfs "$M"

for d in delta delta2; do "$RLS" commit "$T/$d" >/dev/null 2>&1; done
rm -f "$S/shared/other" "$S/sub/other" "$S/cfg2/other"
is "$(src_state)" "$before" "after the commits, every name still leads where it did"
is "$(cd "$S" && cat .rls/policy.yml sub/link/pol.yml)" "$(printf 'extends: ../shared/base.yml\nextends: ../shared/base.yml')" \
	"and the next run reads the same policies"

# The same through rls run -p with a relative path: the names as given
# are protected, not only the path they resolve to.
if command -v bwrap >/dev/null && bwrap --ro-bind / / --unshare-all true 2>/dev/null; then
	export XDG_STATE_HOME=$T/state TMPDIR=$T/tmp
	mkdir -p "$TMPDIR"
	out=$(cd "$S" && "$RLS" run -p sub/link/pol.yml -- sh -c \
		'ln -sfn ../work/evil sub/link 2>&1 || echo refused; mv sub sub.old 2>&1 || echo refused' 2>/dev/null)
	is "$(printf '%s\n' "$out" | grep -c refused)" 2 "rls run -p through a symlink: the symlink and its folder cannot be swapped"
	is "$(readlink "$S/sub/link")" ../cfg2 "and after the run it leads where it did"
fi
done_testing
