#!/bin/bash
# What serving a request costs the daemon in system calls, where rlsfs(1)
# CACHING says it saves them: a listing with attributes
# looks up no name the kernel holds already, small reads are copied rather
# than spliced, and the workers are kept, not started and ended as
# requests come and go.  Counted with strace on the running daemon.
. "$(dirname "$0")/lib.sh"
need_fuse
need_root
command -v strace >/dev/null || skip_all "no strace"

S=$T/src M=$T/mnt
mkdir -p "$S/a" "$S/b" "$S/c"
for i in $(seq 40); do for d in a b c; do echo "$i" > "$S/$d/f$i"; done; done
# files of 20 KB: libfuse itself copies reads of less than 2 pages
mkdir -p "$S/m"
for i in $(seq 20); do head -c 20000 /dev/urandom > "$S/m/f$i"; done
head -c 1048576 /dev/urandom > "$S/big"
mount_rlsfs "$S" "$M" -p full-access || { echo "Bail out! mount failed"; exit 1; }
pid=$(pgrep -f "rlsfs mount.* $M\$" | head -1)
ok "the daemon is found" test -n "$pid"

# traced CALLS CMD...: run CMD with the daemon's CALLS traced into $T/trace
traced() { local calls=$1; shift; strace_daemon "$pid" "$calls" "$T/trace" "$@"; }
# stats_in DIR: how many of the source's entries in DIR the daemon stat()ed
stats_in() { grep -c "newfstatat([0-9]*</.*/src/$1>, \"[^\"]" "$T/trace"; }

# Files looked up in a folder listed bare turn attributes on (0326).
stat "$M"/a/f* > /dev/null
traced newfstatat find "$M/b"
ok "a listing with attributes stats the source's files: $(stats_in b) in b" test "$(stats_in b)" -ge 40
# as git status does: every file by name, then the folder's listing
stat "$M"/c/f{1..40} > /dev/null
traced newfstatat find "$M/c"
is "$(stats_in c)" 0 "a listing of files the kernel has looked up stats none of them again"
is "$(find "$M/c" -type f | wc -l)" 40 "and lists them all"

traced splice,vmsplice,pread64 cat "$M"/m/f*
is "$(grep -c 'splice(' "$T/trace")" 0 "files of 20 KB are read without splicing"
ok "but copied through a buffer" grep -q 'pread64(' "$T/trace"
traced splice,vmsplice,pread64 cat "$M/big"
ok "a large file is spliced" grep -q '^[0-9]* *splice(' "$T/trace"
is "$(cat "$M"/m/f* "$M/big" | md5sum)" "$(cat "$S"/m/f* "$S/big" | md5sum)" "and reads the same either way"

# The workers a burst of requests needs are kept once started.  A burst
# may find more requests waiting at once than the one before it (a busy
# host decides), and so start a worker or two more, up to rlsfs's 16; but
# no worker ends between bursts, as libfuse's own pool would have them.
for i in 1 2 3; do cat "$M"/b/f* "$M/big" > /dev/null & done; wait
traced clone,clone3,exit sh -c "for b in 1 2 3; do for i in 1 2 3; do cat '$M'/b/f* '$M/big' & done; wait; done"
is "$(grep -c '^[0-9]* *exit(' "$T/trace")" 0 "between bursts of requests no worker ends"
ok "and few start: $(grep -c 'clone' "$T/trace")" test "$(grep -c 'clone' "$T/trace")" -le 16
done_testing
