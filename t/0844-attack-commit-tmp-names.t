#!/bin/bash
# Commit writes each copied file, fifo and symlink under a temporary name
# in its target folder, then renames it into place.  Those names were the
# commit's nonce (time and pid) and the op's index, and files were opened
# with O_CREAT|O_TRUNC, without O_EXCL: whoever could write in the folder
# and guess the name could plant a hard link there to a file elsewhere, and
# the commit, running as root, truncated and wrote that file, gave it the
# new file's mode and owner, and renamed it into the tree.
#
# The names a commit will use are in its journal.  The commit is stopped
# right after writing the journal; the journal is read (as root can), a
# hard link to a victim file (then a symlink to it) is planted at every
# temporary name, and the commit is finished.  The victim must be
# untouched and the commit complete.
. "$(dirname "$0")/lib.sh"
need_fuse
need_root
command -v mdb_dump >/dev/null || skip_all "needs mdb_dump (lmdb-utils)"

S=$T/src M=$T/mnt D=$T/delta V=$T/victim

# The temporary names the journal of delta $1 gives, one "DIR NAME" a line.
cat > "$T/tmp-names.py" <<'PY'
import struct, sys

# mdb_dump without -p: each key and value a line of hex
data = [bytes.fromhex(l.strip()) for l in sys.stdin.read().split("\n") if l.startswith(" ")]
kv = dict(zip(data[0::2], data[1::2]))
nonce, n_ops = struct.unpack_from("<QI", kv[b"journal"], 8)
for i in range(n_ops):
    op = kv[b"journal/%08x" % i]
    p = 54                          # kind flags id mode uid gid rdev atime mtime size
    (n,) = struct.unpack_from("<H", op, p)
    path = op[p + 2:p + 2 + n].decode()
    p += 2 + n
    (n,) = struct.unpack_from("<H", op, p)
    rest = op[p + 2 + n:]           # data_dev data_ino [tmp]
    if op[0] not in (3, 4, 5, 6):   # file, link, symlink, node
        continue
    if len(rest) >= 24:
        name = ".rls-commit.%016x" % struct.unpack_from("<Q", rest, 16)[0]
    else:
        name = ".rls-commit.%016x.%x" % (nonce, i)
    print(path.rsplit("/", 1)[0] or "/", name)
PY
tmp_names() { mdb_dump -s meta "$1/index" | python3 "$T/tmp-names.py"; }

for plant in hardlink symlink; do
	rm -rf "$S" "$D" "$V"
	mkdir -p "$S/d"
	echo a > "$S/d/a"
	printf 'victim\n' > "$V" && chmod 600 "$V"
	mount_rlsfs "$S" "$M" -p full-access || { echo "Bail out! mount failed"; exit 1; }
	# a file with a second name (copied, then linked), a fifo, a symlink
	echo new > "$M/d/f" && chmod 755 "$M/d/f" && ln "$M/d/f" "$M/d/g"
	mkfifo "$M/d/p" && ln -s a "$M/d/l"
	umount_rlsfs "$M"

	RLS_COMMIT_CRASH_AFTER=1 "$RLS" commit "$D" >/dev/null 2>&1
	names=$(tmp_names "$D")
	is "$(echo "$names" | wc -l)" 4 "$plant: the journal names a temporary file for each of the four entries"
	echo "$names" | while read -r dir name; do
		if [ $plant = hardlink ]; then ln "$V" "$S$dir/$name"; else ln -s "$V" "$S$dir/$name"; fi
	done
	ok "$plant: the interrupted commit is finished" "$RLS" commit "$D"
	is "$(cat "$V")" victim "$plant: the file planted at its temporary names is not written"
	is "$(stat -c '%a %h' "$V")" "600 1" "$plant: nor given another mode, nor left linked into the tree"
	is "$(cat "$S/d/f")" new "$plant: the new file is in place"
	is "$(stat -c '%a %i' "$S/d/g")" "755 $(stat -c %i "$S/d/f")" "$plant: with its second name and its mode"
	test -p "$S/d/p" && [ "$(readlink "$S/d/l")" = a ]; is $? 0 "$plant: the fifo and the symlink too"
	is "$(ls -A "$S/d" | grep -c rls-commit)" 0 "$plant: no temporary name is left"
done
done_testing
