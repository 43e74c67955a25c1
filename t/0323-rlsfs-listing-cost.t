#!/bin/bash
# What opening and listing a folder costs the daemon (rlsfs(1), CACHING):
# a folder opened again and again while nothing it depends on changed is
# listed once; a file renamed elsewhere in the mount leaves the listing
# kept, while a folder moved makes it be taken afresh, since the policy's
# verdict on the names beneath it follows their paths.  Counted with strace on the
# running daemon: each listing taken reads the source folder (getdents64).
. "$(dirname "$0")/lib.sh"
need_fuse
need_root
command -v strace >/dev/null || skip_all "no strace"

S=$T/src M=$T/mnt
mkdir -p "$S/w/list" "$S/w/other"
for i in $(seq 30); do echo "$i" > "$S/w/list/f$i"; done
echo s > "$S/w/list/secret"
cat > "$T/policy.yml" <<'YAML'
rules:
  - { pattern: "**", permission: write }
  - { pattern: "**/secret*", permission: none }
YAML
mount_rlsfs "$S" "$M" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }
pid=$(pgrep -f "rlsfs mount.* $M\$" | head -1)
ok "the daemon is found" test -n "$pid"

# traced CMD...: run CMD with the daemon's reads of folders and stats traced
traced() { strace_daemon "$pid" getdents64,newfstatat "$T/trace" "$@"; }
# listings DIR: how many times the daemon read the source folder DIR to
# its end (a read that returns nothing)
listings() { grep -c "^[0-9]* *getdents64([0-9]*</.*/src/$1>, .*) = 0$" "$T/trace"; }
# open_list DIR N: open and list DIR N times, as glob and os.scandir do
open_list() {
	python3 - "$1" "$2" <<'PY'
import os, sys
for _ in range(int(sys.argv[2])):
    with os.scandir(sys.argv[1]) as it:
        for _ in it:
            pass
PY
}
# renames_between N: rename a file in w/other back and forth N times,
# listing w/list after each
renames_between() {
	python3 - "$M/w" "$1" <<'PY'
import os, sys
w = sys.argv[1]
open(w + "/other/a", "w").close()
for i in range(int(sys.argv[2])):
    os.rename(w + "/other/" + "ab"[i % 2], w + "/other/" + "ba"[i % 2])
    with os.scandir(w + "/list") as it:
        for _ in it:
            pass
PY
}

open_list "$M/w/list" 1
traced open_list "$M/w/list" 200
is "$(listings w/list)" 0 "200 opens of an unchanged folder list it from the kept listing"
# (one more: the first open after the tracer attached asks for the
# folder's attributes)
ok "and stat its source folder once an open: $(grep -c newfstatat "$T/trace")" \
	test "$(grep -c newfstatat "$T/trace")" -le 201

traced renames_between 50
is "$(listings w/list)" 0 "50 files renamed in another folder: the listing stays kept"
is "$(ls "$M/w/other")" a "and the folder renamed in lists its file"

mv "$M/w/other/a" "$M/w/list/moved"
traced open_list "$M/w/list" 3
is "$(listings w/list)" 1 "a file renamed into the folder: its listing is taken afresh once"
is "$(ls "$M/w/list" | grep -c moved)" 1 "and shows the file"

# a folder moved: every listing kept is taken afresh at its next open
mkdir -p "$M/w/made/in"
touch "$M/w/made/in/a"
is "$(ls "$M/w/made/in" | tr '\n' ' ')" "a " "a folder made in the mount lists its file"
ls "$M/w/list" > /dev/null
# (the kernel is told to drop its listings by rlsfs's source watch thread,
# moments after the move: the folder is listed again and again meanwhile)
traced sh -c "mv '$M/w/made' '$M/w/moved' && for i in \$(seq 30); do ls '$M/w/list'; sleep 0.05; done &&
	ls '$M/w/moved/in'"
is "$(listings w/list)" 1 "after a folder was moved, a source folder's listing is taken afresh"
is "$(ls "$M/w/moved/in" | tr '\n' ' ')" "a " "and the moved folder lists its file under its new path"
ok "and no hidden name is listed" sh -c "! ls -a '$M/w/list' | grep -q secret"

umount_rlsfs "$M"
done_testing
