#!/bin/bash
# A listing's files go out bare (names and types, as readdir gives them)
# until files are looked up in folders so listed; from then on listings
# carry each entry's attributes (rls_readdirplus, rlsfs(1) CACHING), the
# bare ones the kernel kept included.  Its
# folders carry theirs from the start: a walk goes into each.  Either way
# the listing is the same: the right types, hidden names never in it.
# The requests are counted in the daemon's debug trace.
. "$(dirname "$0")/lib.sh"
need_fuse

S=$T/src M=$T/mnt L=$T/trace
for i in $(seq 30); do mkdir -p "$S/tree/d$i/e"; echo "$i" > "$S/tree/d$i/f"; done
mkdir -p "$S/big" && (cd "$S/big" && touch $(seq -f 'f%g' 1000))
for d in a b c; do
	mkdir -p "$S/$d/sub"
	for i in $(seq 40); do echo "$i" > "$S/$d/f$i"; done
	ln -s f1 "$S/$d/link"
	echo s > "$S/$d/.env"
done
cat > "$T/policy.yml" <<'YAML'
rules:
  - { pattern: "**", permission: read }
  - { pattern: "**/.env*", permission: none }
YAML
mount_rlsfs_traced "$L" "$S" "$M" --delta "$T/delta" -p "$T/policy.yml" || { echo "Bail out! mount failed"; exit 1; }

# lookups RUN: how many LOOKUP requests running RUN cost the daemon
lookups() { trace_count "$L" LOOKUP "$@"; }
# kinds DIR: the listing as find sees it, type by type
kinds() { (cd "$1" && find . -mindepth 1 -printf '%y %p\n' | sort | tr '\n' ' '); }
want=$({ echo "d ./sub"; echo "l ./link"; for i in $(seq 40); do echo "f ./f$i"; done; } | sort | tr '\n' ' ')

n=$(lookups find "$M/tree")
ok "find over a fresh tree of 60 folders looks up none of them: $n lookups" test "$n" -le 2
is "$(find "$M/tree" -type d | wc -l) $(find "$M/tree" -type f | wc -l)" "61 30" "and finds every folder and file"
n=$(lookups find "$M/a" -type f)
ok "find over a fresh folder looks up no file (bare listing): $n lookups" test "$n" -le 2
is "$(kinds "$M/a")" "$want" "a bare listing gives every visible entry with its type"
n=$(lookups stat "$M"/a/f*)
ok "stat of the 40 files then looks each up: $n lookups" test "$n" -ge 40
n=$(lookups ls -l "$M/b")
ok "after that, a listing carries attributes: ls -l of a fresh folder, $n lookups" test "$n" -le 2
# The 30 folders the first find listed bare are listed again with
# attributes: the kernel let go of the bare listings it kept.
n=$(lookups ls -l "$M"/tree/d*)
ok "and ls -l of the folders listed bare before: $n lookups (not one a file)" test "$n" -le 2
# Every chunk of a long listing carries them, not its first alone (find
# and du read a whole folder before they stat its entries).
n=$(lookups find "$M/big" -printf '%s\n')
ok "find -printf %s over a fresh folder of 1,000 files: $n lookups" test "$n" -le 2
is "$(kinds "$M/c")" "$want" "a listing with attributes gives the same entries and types"
ok "the hidden name is in neither" sh -c "! ls -A '$M/a' '$M/c' | grep -q env"
done_testing
