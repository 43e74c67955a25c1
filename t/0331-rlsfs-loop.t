#!/bin/bash
# rlsfs's request loop (rlsfs(1), CACHING, on threads): a serial load is
# served by one thread, not handed from worker to worker; a request that
# waits in the daemon does not hold up the others; the pool falls back to
# one reader after.
. "$(dirname "$0")/lib.sh"
need_fuse
need_root

S=$T/src M=$T/mnt D=$T/delta
mkdir -p "$S/d" "$S/w"
RLSFS_PID_XATTR=user.rlsfs.pid
(cd "$S/d" && touch $(seq -f 'f%g' 3000))
echo data > "$S/file"
mount_rlsfs "$S" "$M" -p full-access --delta "$D" || { echo "Bail out! mount failed"; exit 1; }
pid=$(pgrep -f "rlsfs mount.* $M\$" | head -1)
ok "the daemon is found" test -n "$pid"

# reads: "thread reads" for each of the daemon's threads (read(2) calls
# so far: a request is one on /dev/fuse, and a lookup reads nothing else)
reads() { for t in /proc/"$pid"/task/*; do echo "${t##*/} $(awk '/^syscr/ { print $2 }' "$t/io")"; done; }
# share BEFORE AFTER: the busiest thread's part of the reads between the
# two, in percent, and the reads in all
share() {
	awk 'NR == FNR { b[$1] = $2; next } { d = $2 - b[$1]; t += d; if (d > m) m = d }
	     END { printf "%d %d\n", t ? 100 * m / t : 0, t }' <(echo "$1") <(echo "$2")
}

# 1,500 names looked up one after the other (named, not globbed: a
# listing would bring their attributes with it)
before=$(reads)
stat "$M"/d/f{1..1500} > /dev/null
read -r pct total < <(share "$before" "$(reads)")
ok "1,500 lookups are 1,500 requests at least: $total" test "$total" -ge 1500
# libfuse's pool hands them round its workers: 50% each for two, at most
ok "one thread served $pct% of them" test "$pct" -ge 75

# A write waits in the daemon for the delta's index while another process
# holds its writer lock (as one on a slow disk would, the namespace lock
# held); meanwhile the requests that need neither are served.
exec 3< "$M/file"
coproc HOLD { "$RLS_BUILD/t/helpers/index-writer" "$D"; }
read -r held <&"${HOLD[0]}"
is "$held" held "the index's writer lock is held"
mkdir "$M/w/a" 2>/dev/null & w1=$!
sleep 0.3
ok "a write waits for it" kill -0 "$w1"
is "$(timeout -s KILL 10 cat <&3)" data "a read of an open file is served meanwhile"
pids=$(timeout -s KILL 10 sh -c "for i in \$(seq 100); do '$FSOP' getxattr '$M' $RLSFS_PID_XATTR; done" 2>&1 | grep -c "$pid")
is "$pids" 100 "and 100 more requests after it"
ok "the write still waits" kill -0 "$w1"
exec {HOLD[1]}>&- 3<&-
wait "$w1"
is "$?" 0 "and is done once the lock is let go"
ok "what it made is there" test -d "$M/w/a"

# The threads made for the wait stay, parked: the next serial load is
# again served by one of them.
before=$(reads)
stat "$M"/d/f{1501..3000} > /dev/null
read -r pct total < <(share "$before" "$(reads)")
ok "after the wait, one thread again serves $pct% of a serial load" test "$pct" -ge 75
ok "threads: $(ls /proc/"$pid"/task | wc -l), within the bound" \
	test "$(ls /proc/"$pid"/task | wc -l)" -le 18
done_testing
