#!/bin/bash
# The attack: a sandbox under `development` writes what the host's git
# executes or follows -- a repository's config (core.fsmonitor), hooks,
# commondir, a submodule's config in .git/modules, a gitdir link, a new
# repository in a writable folder -- so that the host's next `git status`
# runs the sandbox's command.  Every write is refused through a real rlsfs
# mount, and after the delta is committed the host's git runs nothing.
# Then the same files are attacked by removing, renaming and replacing.
. "$(dirname "$0")/lib.sh"
need_fuse
command -v git >/dev/null || skip_all "git is not installed"

S=$T/src M=$T/mnt MARK=$T/ran
export GIT_CONFIG_NOSYSTEM=1 HOME=$T/home
mkdir -p "$HOME"
git config --global user.name rls-test
git config --global user.email rls-test@example.invalid
git config --global protocol.file.allow always
git config --global init.defaultBranch main

# A repository with a submodule (its repository in .git/modules/x, a gitdir
# link in x/.git), a nested repository, and one deep in a folder.
git init -q "$T/subsrc" && echo s > "$T/subsrc/s" && git -C "$T/subsrc" add s &&
	git -C "$T/subsrc" commit -qm s
git init -q "$S" && echo a > "$S/a" && git -C "$S" add a && git -C "$S" commit -qm a
git -C "$S" submodule add -q "$T/subsrc" x >/dev/null 2>&1 && git -C "$S" commit -qm x
git init -q "$S/nested" && echo n > "$S/nested/n" && git -C "$S/nested" add n && git -C "$S/nested" commit -qm n
mkdir -p "$S/deep/er" "$S/work"
git init -q "$S/deep/er/repo"
rm -rf "$S/.git/objects/info"	# an absent folder is a place to plant a symlink
test -f "$S/x/.git" && test -d "$S/.git/modules/x" || { echo "Bail out! no submodule"; exit 1; }

evil="touch $MARK; false"
cfg() { printf '[core]\n\tfsmonitor = %s\n' "$evil"; }
host_git_runs_nothing() {
	rm -f "$MARK"
	for r in "$S" "$S/nested" "$S/deep/er/repo" "$S/x" "$S/work/planted" "$S/work"; do
		git -C "$r" status >/dev/null 2>&1
	done
	test ! -e "$MARK"
}
# refused SENTENCE CMD...: the command fails
refused() {
	local desc=$1; shift
	if "$@" >/dev/null 2>&1; then _tap_result 1 "$desc"; else _tap_result 0 "$desc"; fi
}
ok "before the sandbox, the host's git status runs nothing" host_git_runs_nothing

# ---- planting what git runs
mount_rlsfs "$S" "$M" -p development || { echo "Bail out! mount failed"; exit 1; }
# plant FILE TEXT: write FILE as a shell would; prints OK or the errno
plant() { errno_of sh -c 'printf "%s\n" "$2" > "$1"' plant "$1" "$2"; }
# a repository to lead the host's git to: a writable folder may hold one
mkdir -p "$M/work/evil/objects" "$M/work/evil/refs" && echo 'ref: refs/heads/main' > "$M/work/evil/HEAD"
cfg > "$M/work/evil/config"
for repo in "" nested/ deep/er/repo/; do
	g="$M/${repo}.git"
	where=${repo:-the top repository}
	where=${where%/}
	refused "$where: git config cannot set core.fsmonitor" git -C "$M/$repo" config core.fsmonitor "$evil"
	is "$($FSOP append "$g/config" "$(cfg)")" EACCES "$where: .git/config cannot be appended to"
	is "$(plant "$g/config.worktree" "$(cfg)")" EACCES "$where: config.worktree cannot be made"
	is "$(plant "$g/hooks/pre-commit" "$evil")" EACCES "$where: a hook cannot be made"
	is "$($FSOP mkdir "$g/worktrees")" EACCES "$where: a worktrees folder cannot be made"
	is "$(plant "$g/commondir" "$S/work/evil")" EACCES "$where: commondir cannot lead it to another config"
done
hook=$(cd "$S/.git/hooks" && ls | head -1)
is "$($FSOP append "$M/.git/hooks/$hook" "$evil")" EACCES "an existing hook ($hook) cannot be changed"

# the submodule: its repository under .git/modules, and the gitdir link
refused "git config in the submodule cannot set core.fsmonitor" git -C "$M/x" config core.fsmonitor "$evil"
is "$($FSOP append "$M/.git/modules/x/config" "$(cfg)")" EACCES "a submodule's config cannot be changed"
is "$(plant "$M/.git/modules/x/hooks/post-checkout" "$evil")" EACCES "nor a hook of it made"
is "$(plant "$M/.git/modules/x/commondir" "$S/work/evil")" EACCES "nor its commondir made"
is "$($FSOP mkdir "$M/.git/modules/y")" EACCES "nor a new submodule repository made"
is "$($FSOP symlink ../../work/evil "$M/.git/modules/z")" EACCES "nor a symlink planted where one would be looked for"
is "$(plant "$M/x/.git" "gitdir: $S/work/evil")" EACCES \
	"the gitdir link cannot be pointed at a repository planted in a writable folder"

# what git follows to other object stores
is "$(plant "$M/nested/.git/objects/info/alternates" "$S/work/evil/objects")" EACCES \
	"objects/info/alternates cannot be made"
is "$($FSOP mkdir "$M/.git/objects/info")" EACCES "objects/info cannot be made where it is missing"
is "$($FSOP symlink ../../work/evil/objects "$M/.git/objects/info")" EACCES "nor planted as a symlink"

# new repositories and gitdir links, even in a writable folder
refused "git init cannot make a repository in the tree" git init -q "$M/work/planted"
is "$($FSOP mkdir "$M/work/planted/.git")" EACCES "a .git folder cannot be made"
is "$($FSOP open "$M/work/.git" wc)" EACCES "a .git file (gitdir link) cannot be made"
is "$($FSOP symlink evil "$M/work/.git")" EACCES "nor a .git symlink"
is "$(plant "$M/work/planted/.git" "gitdir: $S/work/evil")" EACCES "nor a gitdir link in a new folder"

# what the sandbox may still do with git under development
echo changed > "$M/a"
ok "git add works in the sandbox" git -C "$M" add a
ok "git commit works in the sandbox" git -C "$M" commit -qm "from the sandbox"
is "$(git -C "$M" log -1 --format=%s)" "from the sandbox" "and the commit is there"

# A bare-repository layout in a writable folder is not refused: a risk
# rls-policy(5) documents, with its remedy (checked below).
mkdir -p "$M/work/bare/objects" "$M/work/bare/refs"
echo 'ref: refs/heads/main' > "$M/work/bare/HEAD"
printf '[core]\n\tbare = true\n\tpager = touch %s; cat\n' "$MARK" > "$M/work/bare/config"

umount_rlsfs "$M"
out=$("$RLS" commit "$T/delta" 2>&1); rc=$?
is "$rc" 0 "the delta commits"
is "$(git -C "$S" log -1 --format=%s)" "from the sandbox" "the sandbox's git commit reached the source"
ok "afterwards the host's git status, in every repository, runs nothing" host_git_runs_nothing
is "$(git -C "$S/nested" config core.fsmonitor)" "" "and no repository's config carries the sandbox's setting"

# `git branch` on a terminal runs the pager the repository's config names
if command -v script >/dev/null; then
	rm -f "$MARK"
	(cd "$S/work/bare" && script -qec "git -c safe.bareRepository=explicit branch" /dev/null </dev/null >/dev/null 2>&1)
	ok "with safe.bareRepository=explicit, a planted bare repository runs nothing" test ! -e "$MARK"
	(cd "$S/work/bare" && script -qec "git branch" /dev/null </dev/null >/dev/null 2>&1)
	ok "without it, a planted bare repository runs nothing # TODO known risk, see rls-policy(5)" test ! -e "$MARK"
fi

# ---- removing, renaming, replacing
mount_rlsfs "$S" "$M" -p development --delta "$T/delta2" || { echo "Bail out! mount failed"; exit 1; }
for repo in "" nested/; do
	g="$M/${repo}.git"
	where=${repo:-the top repository}
	where=${where%/}
	is "$($FSOP open "$g/config" wt)" EACCES "$where: .git/config cannot be truncated"
	is "$($FSOP rename "$M/a" "$g/config")" EACCES "$where: nor replaced by a rename"
	is "$($FSOP unlink "$g/config")" EACCES "$where: nor removed"
	is "$($FSOP rename "$g/hooks" "$g/hooks.old")" EACCES "$where: the hooks folder cannot be moved away"
	is "$($FSOP rename "$g/objects" "$M/${repo}objects.old")" EACCES "$where: objects cannot be moved away"
	is "$($FSOP rename "$g" "$M/${repo}moved-git")" EACCES "$where: .git cannot be renamed"
	is "$($FSOP rename "$M/work" "$g" exchange)" EACCES "$where: nor exchanged with a folder"
done
is "$($FSOP rename "$M/.git/modules/x" "$M/.git/modules/x.old")" EACCES "a submodule's repository cannot be moved away"
is "$($FSOP open "$M/x/.git" wt)" EACCES "the gitdir link cannot be truncated"
is "$($FSOP unlink "$M/x/.git")" EACCES "nor removed"
is "$($FSOP rename "$M/a" "$M/x/.git")" EACCES "nor replaced"
refused "rm -rf cannot take a nested repository's .git" rm -rf "$M/nested/.git"
ok "which is still there" test -f "$M/nested/.git/config"
umount_rlsfs "$M"
"$RLS" discard "$T/delta2" >/dev/null 2>&1
ok "and the host's git still runs nothing" host_git_runs_nothing

done_testing
