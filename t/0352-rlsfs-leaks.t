#!/bin/bash
# rlsfs frees what it allocates: under the sanitizer build (make check
# SANITIZE=1), a foreground mount serves a seeded mix of file operations
# (the differential tester), a walk and stat of every file, and folders
# held open, and LeakSanitizer finds nothing left when it unmounts.  A
# daemon that lives as long as a sandbox must not grow with what passes
# through it.  Skipped in the plain build.
. "$(dirname "$0")/lib.sh"
need_fuse
need_root
grep -qa __lsan "$RLSFS" || skip_all "rlsfs is not built with LeakSanitizer (make check SANITIZE=1)"

DT=$RLS_BUILD/t/helpers/difftest
MASKS=(-x dirnlink -x owner -x setid -x nodev -x gonespecial -x speclink -x perms)
S=$T/src M=$T/mnt
mkdir -p "$S/lower/sub" "$M" "$T/native"
for i in $(seq 1 200); do echo "$i" > "$S/lower/f$i"; done
echo deep > "$S/lower/sub/g"

ASAN_OPTIONS=detect_leaks=1:exitcode=23 "$RLSFS" mount -f -p full-access --delta "$T/delta" "$S" "$M" \
	2> "$T/rlsfs.err" &
pid=$!
at_exit "umount_rlsfs '$M'"
i=0
while [ $i -lt 300 ] && ! mountpoint -q "$M"; do sleep 0.05; i=$((i + 1)); done
ok "the mount is up" mountpoint -q "$M"

ok "a seeded mix of operations" "$DT" -q "${MASKS[@]}" -s 7001 -n 1500 -d work "$M" "$T/native"
is "$(find "$M" -type f -printf '%s\n' 2>&1 | grep -vc '^[0-9]')" 0 "a walk stats every file"
ok "copy-up and unlink of source files" sh -c "echo x >> '$M/lower/f1' && rm '$M/lower/f2' && mv '$M/lower/f3' '$M/lower/sub/'"
exec 7< "$M/lower" 8< "$M/lower/sub"
ok "listings read through held folders" sh -c "ls '$M/lower' '$M/lower/sub' >/dev/null"
exec 7<&- 8<&-

"$RLSFS" umount "$M"
wait $pid
rc=$?
is "$rc" 0 "rlsfs exits 0 at unmount, LeakSanitizer finding nothing"
is "$(grep -c 'LeakSanitizer\|AddressSanitizer' "$T/rlsfs.err")" 0 "no sanitizer report" ||
	sed 's/^/# /' "$T/rlsfs.err" | head -40
done_testing
