#!/bin/bash
# Every name of one inode is one inode for the kernel too: a write through
# one name and a mapping of another share the page cache, two names of a
# fifo are one pipe, and what is open keeps answering when its last name
# goes.  Each case runs the same calls in a plain directory and in the
# mount, side by side.  Then: a name becomes part of the inode the kernel
# knows only at that inode's policy level, and a hidden name never.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-posix.sh"
need_fuse
need_root

mkdir -p "$S0"
posix_setup --delta "$T/delta" || { echo "Bail out! mount failed"; exit 1; }

page() { head -c 4096 /dev/zero | tr '\0' a > "$1"; }
export -f page

# 1. one page cache, one pipe
same "a page dirtied through a mapping of one name keeps what another name wrote meanwhile" \
	'page A; ln A B; $FSOP mmap-linked A B 100 WWWW'
same "so does a page of a name linked again after the first name went" \
	'page C; ln C D; rm C; ln D E; $FSOP mmap-linked E D 3000 XYZ; $FSOP mmap-linked D E 10 Q'
same "a fifo linked twice is one pipe: written through one name, read through the other" \
	'mkfifo p; ln p q; $FSOP fifo-linked p q hello; $FSOP fifo-linked q p again'
same "two names give one file handle, one inode for the kernel" \
	': > h1; ln h1 h2; [ "$($FSOP handle h1)" = "$($FSOP handle h2)" ] && echo one handle'
same "the names agree on links while names come and go" \
	': > l1; ln l1 l2; ln l2 l3; rm l1; echo x >> l3; stat -c "%n %h %s" l2 l3; mv l2 l4; rm l3; stat -c "%n %h %s" l4'

# 2. open, with no name left
same "an open fifo whose last name is gone answers fstat, with no links" \
	'mkfifo g1; $FSOP open-unlink-fstat g1'
same "so does an open socket" \
	'python3 -c "import socket; socket.socket(socket.AF_UNIX).bind(\"g2\")"; $FSOP open-unlink-fstat g2'
same "an open fifo one of whose names is gone answers with the other's links" \
	'mkfifo g3; ln g3 g4; $FSOP open-unlink-fstat g3; stat -c "%n %h" g4'

# 3. names kept in the delta, met again by lookups after a new mount
(cd "$M" && page R1 && ln R1 R2 && mkfifo R3 && ln R3 R4)
(cd "$N" && page R1 && ln R1 R2 && mkfifo R3 && ln R3 R4)
umount_rlsfs "$M"
mount_rlsfs "$S" "$M" -p full-access --delta "$T/delta" || { echo "Bail out! mount failed"; exit 1; }
same "after a new mount, names of the delta met by lookups share the page cache" \
	'cat R2 > /dev/null; $FSOP mmap-linked R1 R2 200 kept'
same "and the pipe" '$FSOP fifo-linked R4 R3 piped'

# 4. policy: files with names at write, at read and hidden, made under
#    full-access, then mounted under a policy that tells them apart
mkdir -p "$M/w" "$M/r" "$M/n"
echo data > "$M/w/f"
ln "$M/w/f" "$M/r/f" && ln "$M/w/f" "$M/n/f"
echo other > "$M/w/e"
ln "$M/w/e" "$M/r/e" && ln "$M/w/e" "$M/r/e3"
umount_rlsfs "$M"
cat > "$T/policy.yml" <<'YAML'
rules:
  - { pattern: "**", permission: write }
  - { pattern: "/r/**", permission: read }
  - { pattern: "/n/**", permission: none }
YAML
mount_rlsfs "$S" "$M" -p "$T/policy.yml" --delta "$T/delta" || { echo "Bail out! mount failed"; exit 1; }
cat "$M/w/f" > /dev/null
is "$($FSOP open "$M/r/f" w)" EACCES "a name at read stays read when another name of the inode is writable"
is "$($FSOP stat "$M/n/f")" ENOENT "a hidden name of the inode stays hidden"
ln "$M/w/f" "$M/w/g"
echo more >> "$M/w/g"
is "$(cat "$M/r/f")" "data
more" "a name linked at write shows its writes through the name at read"
is "$(stat -c %h "$M/r/f" "$M/w/g")" "4
4" "and they agree on links"
rm "$M/w/f" "$M/w/g"
is "$(cat "$M/r/f")" "data
more" "with the writable names gone the read name still reads"
is "$($FSOP open "$M/r/f" w)" EACCES "and is still not writable"
is "$($FSOP stat "$M/n/f")" ENOENT "nor does the hidden name come back"
# the name at read met first
cat "$M/r/e" > /dev/null
is "$($FSOP open "$M/w/e" w)" OK "a name at write stays writable when another name of the inode is at read"
ln "$M/w/e" "$M/w/e2"
echo more >> "$M/w/e2"
is "$(cat "$M/r/e")" "other
more" "a name linked to it shows its writes through the name at read"
is "$(stat -c %h "$M/r/e" "$M/w/e2")" "4
4" "and they agree on links"
is "$($FSOP handle "$M/r/e3")" "$($FSOP handle "$M/r/e")" "two names at read are still one inode for the kernel"
done_testing
