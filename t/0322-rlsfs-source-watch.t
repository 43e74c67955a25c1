#!/bin/bash
# Folders are opened without asking rlsfs (rlsfs(1), CACHING): the kernel
# sends one OPENDIR, answered ENOSYS, and no RELEASEDIR, and keeps each
# listing.  What it keeps stays true: a change another sandbox's commit (or
# the host) makes to the source shows in the next listings within moments,
# through a watch of the source folder; hidden names are never listed.  Where the user's watches
# ran out, or no watch can be made at all, listings are taken afresh at
# each reading (checked in a private user namespace whose limits are
# lowered).  Requests are counted in the daemon's debug trace.
. "$(dirname "$0")/lib.sh"
need_fuse
need_root

S=$T/src M=$T/mnt L=$T/log
mkdir -p "$S/ro" "$S/w/d" "$M"
for i in 1 2 3 4 5; do mkdir "$S/ro/d$i"; echo "$i" > "$S/ro/d$i/f"; done
echo 1 > "$S/ro/f"
echo s > "$S/ro/.env"
cat > "$T/policy.yml" <<'YAML'
rules:
  - { pattern: "**", permission: read }
  - { pattern: "/w/**", permission: write }
  - { pattern: "**/.env*", permission: none }
  - { pattern: "/w/vault/*/**", permission: none }
YAML
mount_rlsfs_traced "$L" "$S" "$M" --delta "$T/delta" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }

# list DIR: its names on one line
list() { ls -A "$1" 2>&1 | tr '\n' ' '; }
walk() { for _ in 1 2 3 4; do find "$M/ro"; ls -R "$M/ro"; done; }

ls "$M/ro" > /dev/null
is "$(trace_count "$L" OPENDIR walk)" 0 "folders are opened without an OPENDIR once the first was answered"
is "$(trace_count "$L" RELEASEDIR walk)" 0 "and closed without a RELEASEDIR"
is "$(trace_count "$L" READDIRPLUS walk)" 0 "a walk of unchanged folders reads every listing from the kernel's"
is "$(grep -c 'opcode: OPENDIR' "$L")" 1 "one OPENDIR in all, the mount's first"

# another sandbox's commit, or the host, changes the source
is "$(list "$M/ro")" "d1 d2 d3 d4 d5 f " "a source folder lists its visible entries"
echo 2 > "$S/ro/new"
is "$(eventually "d1 d2 d3 d4 d5 f new " list "$M/ro")" "d1 d2 d3 d4 d5 f new " \
	"a file created in the source shows in the listing"
rm "$S/ro/f"
is "$(eventually "d1 d2 d3 d4 d5 new " list "$M/ro")" "d1 d2 d3 d4 d5 new " "a file removed goes from it"
mv "$S/ro/new" "$S/ro/renamed"
is "$(eventually "d1 d2 d3 d4 d5 renamed " list "$M/ro")" "d1 d2 d3 d4 d5 renamed " \
	"a file renamed in the source shows under its new name alone"
echo x > "$S/ro/d3/g"
is "$(eventually "f g " list "$M/ro/d3")" "f g " "so does a change in a folder below"
is "$(cat "$M/ro/renamed")" 2 "a source file reads as it is"
echo longer > "$S/ro/renamed.tmp" && mv "$S/ro/renamed.tmp" "$S/ro/renamed"
is "$(eventually longer cat "$M/ro/renamed")" longer "a file replaced in the source, as a commit does, reads anew"
is "$(eventually 7 stat -c %s "$M/ro/renamed")" 7 "with its new size"
echo "in place" > "$S/ro/renamed"
is "$(eventually 9 stat -c %s "$M/ro/renamed")" 9 "a file rewritten in place shows its new size"
is "$(eventually "in place" cat "$M/ro/renamed")" "in place" "and content"
echo s > "$S/ro/.env2"; echo v > "$S/ro/visible"
is "$(eventually "d1 d2 d3 d4 d5 renamed visible " list "$M/ro")" "d1 d2 d3 d4 d5 renamed visible " \
	"a hidden name added to the source is never listed"
is "$($FSOP stat "$M/ro/.env2")" ENOENT "nor found"

# a folder made in the mount, moved: under a path the policy hides it
# cannot go (its entries would change level), elsewhere it lists at once
mkdir -p "$M/w/a/b"; touch "$M/w/a/b/mine"
is "$(list "$M/w/a/b")" "mine " "a folder made in the mount lists its file"
is "$($FSOP rename "$M/w/a" "$M/w/vault")" EXDEV "it cannot move where its entries would be hidden"
is "$(list "$M/w/a/b") / $(list "$M/w/vault")" "mine  / ls: cannot access '$M/w/vault': No such file or directory " \
	"so it lists where it was, and nothing where it would have gone"
python3 - "$M/w" > "$T/held" <<'PY'
import os, sys
fd = os.open(sys.argv[1] + "/a/b", os.O_RDONLY | os.O_DIRECTORY)
before = os.listdir(fd)
os.rename(sys.argv[1] + "/a", sys.argv[1] + "/c")
open(sys.argv[1] + "/c/b/late", "w").close()
os.lseek(fd, 0, os.SEEK_SET)
print(before, sorted(os.listdir(fd)))
PY
is "$(cat "$T/held")" "['mine'] ['late', 'mine']" "moved elsewhere, a folder held open lists its new entry at once"
umount_rlsfs "$M"

# in_userns LIMIT VALUE: run the checks of a mount in a user namespace of
# its own whose inotify LIMIT is VALUE; prints the OPENDIRs and listings
in_userns() {
	rm -rf "$T/u"; mkdir -p "$T/u/s/d" "$T/u/m"; echo 1 > "$T/u/s/d/a"
	unshare -U -r -m bash -c '
		echo "$2" > /proc/sys/user/$1 || exit 1
		"$3" mount -d --delta "$4/delta" -p full-access "$4/s" "$4/m" 2> "$4/log" &
		for i in $(seq 200); do mountpoint -q "$4/m" && break; sleep 0.05; done
		ls "$4/m/d" > /dev/null; ls "$4/m/d" > /dev/null
		echo 2 > "$4/s/d/b"; echo -n "$(ls "$4/m/d" | tr "\n" " ")/"
		rm "$4/s/d/a"; echo -n "$(ls "$4/m/d" | tr "\n" " ")/"
		"$3" umount "$4/m"; wait
		grep -c "opcode: OPENDIR" "$4/log"' _ "$1" "$2" "$RLSFS" "$T/u"
}
if unshare -U -r true 2>/dev/null; then
	is "$(in_userns max_inotify_watches 0)" "a b /b /1" \
		"no watch left: a change to the source shows in the very next listing"
	is "$(in_userns max_inotify_instances 0)" "a b /b /4" \
		"no inotify at all: folders are opened with OPENDIR, and changes show at once"
else
	skip "no user namespaces" 2
fi

done_testing
