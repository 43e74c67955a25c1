#!/bin/bash
# A sandbox puts newlines in names to forge lines of rls's output: an
# `rls diff` line that seems to delete /important, a unified diff header
# that seems to patch it, an extra `conflict:` line, an extra entry in the
# conflict list of `rls run` and of its --json object.  Every name stays
# one quoted item on its line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
skip_all_on vm -- "names are quoted by the launcher, the same for every backend: checked under bwrap"
. "$(dirname "$0")/lib-names.sh"
need_fuse
need_bwrap

S=$T/src M=$T/mnt
mkdir -p "$S"
echo safe > "$S/important"
# A name holds no slash, but a path does: three names make the header.
del=$'x\nD important'
hdr=$'evil\n--- a/important\n+++ b/important'
mount_rlsfs "$S" "$M" -p full-access --delta "$T/d" || { echo "Bail out! mount"; exit 1; }
echo x > "$M/$del"
mkdir -p "$M/${hdr%/*}"
printf 'pwned\n' > "$M/$hdr"
umount_rlsfs "$M"

out=$("$RLS" diff "$T/d")
is "$(printf '%s\n' "$out" | wc -l)" 4 "rls diff prints one line per change, whatever the names hold"
is "$out" "A $(quoted "${hdr%%/*}")
A $(quoted "${hdr%/*}")
A $(quoted "$hdr")
A $(quoted "$del")" "each name quoted on its A line"
unlike "$out" '^D ' "so no line claims that something is deleted"

out=$("$RLS" diff -p "$T/d")
unlike "$out" '^(--- a/important|\+\+\+ b/important)$' "rls diff -p forges no header for /important"
is "$(printf '%s\n' "$out" | grep -c '^+++ ')" 2 "it has one +++ header per file"
like "$out" "$(printf '%s' "+++ $(quoted "b/$hdr")" | sed 's/[][\\.*^$+?(){}|]/\\&/g')" \
	"with the b/ name quoted, as git writes it"

# A conflict on a name that holds a newline: the source changes under it.
conf=$'n\nconflict: important'
echo base > "$S/$conf"
mount_rlsfs "$S" "$M" -p full-access --delta "$T/dc" || { echo "Bail out! mount"; exit 1; }
echo sandbox > "$M/$conf"
umount_rlsfs "$M"
echo theirs > "$S/$conf"
out=$("$RLS" commit --on-conflict fail "$T/dc")
is "$out" "commit refused: 1 conflict, nothing written
conflict: $(quoted "$conf") (nothing was committed)" "rls commit names the conflict quoted, on one line"

# The same through rls run, whose conflict list and --json object name it.
mkdir -p "$S/output"
echo base > "$S/output/$conf"
run_rls --source "$S" --commit never -- sh -c 'echo sandbox > "output/$1"' sh "$conf"
d=$(printf '%s\n' "$err" | sed -n 's/^rls: delta kept: //p')
echo theirs > "$S/output/$conf"
run_rls --source "$S" --delta "$d" --on-conflict fail --json -- true
is "$(printf '%s\n' "$err" | grep -vc '^rls: policy: ')" 2 "rls run's conflict message is one line (and the kept delta another)"
like "$err" "^rls: nothing committed: 1 conflict with --on-conflict=fail: \"/output/n\\\\nconflict: important\"" \
	"naming the path quoted"
printf '%s\n' "$json" > "$T/run.json"
ok "the --json object lists the conflict as one path" \
	json_has_names "$T/run.json" 'docs[0]["conflicts"] == ["/output/n\nconflict: important"]'
run_rls --source "$S" --delta "$d" --on-conflict ours -- true
is "$(printf '%s\n' "$err" | grep -v '^rls: committed to \|^rls: policy: ')" \
	"rls: 1 conflict (the sandbox's version was kept): \"/output/n\\nconflict: important\"" \
	"a commit that overrode it says so on one line"
cd "$T" || exit 1
ok "nothing is left behind" no_leftovers
done_testing
