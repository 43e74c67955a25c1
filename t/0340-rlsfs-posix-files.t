#!/bin/bash
# At write, rlsfs behaves like native ext4 for what programs rely on on
# files: each case runs the same calls in a plain directory and in the
# mount over a copy of the same tree, and the outcomes must be equal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-posix.sh"
need_fuse

mkdir -p "$S0/dir" "$S0/empty"
printf 'alpha\n' > "$S0/a.txt"
printf 'bravo\n' > "$S0/b.txt"
printf 'charlie\n' > "$S0/c.txt"
printf 'delta\n' > "$S0/d.txt"
printf 'echo\n' > "$S0/e.txt"
printf 'x = 1\n' > "$S0/dir/x.py"
printf '#!/bin/sh\necho hi\n' > "$S0/run.sh"
chmod 755 "$S0/run.sh"
printf 'ro\n' > "$S0/ro.txt"
printf 'kept\n' > "$S0/keep.txt"
chmod 444 "$S0/ro.txt"
ln -s a.txt "$S0/lnk"
touch -d '2001-02-03 04:05:06.123456789' "$S0/a.txt" "$S0/c.txt" "$S0/keep.txt"
posix_setup || { echo "Bail out! mount failed"; exit 1; }

# rename
same "rename of a source file over another source file replaces it" \
	'$FSOP rename a.txt b.txt; cat b.txt; $FSOP stat a.txt; stat -c "%s %a %.9Y" b.txt'
same "rename of a new file over a source file replaces it" \
	'printf new > n1; $FSOP rename n1 c.txt; cat c.txt; echo; $FSOP stat n1'
same "rename over an existing file keeps the replaced file readable through an open descriptor" \
	'printf one > r1; printf two > r2; exec 3<r2; $FSOP rename r1 r2; cat r2; echo; cat <&3; exec 3<&-'
same "rename of a file to itself changes nothing" \
	'$FSOP rename d.txt d.txt; cat d.txt'

# unlink of an open file
same "an unlinked source file stays readable and writable through its descriptor" \
	'$FSOP open-unlink-rw e.txt EDITED; $FSOP stat e.txt; ls'
same "an unlinked open file answers fstat and ftruncate" \
	'printf data > u3; $FSOP open-unlink-trunc u3 100'
same "an unlinked new file stays readable and writable through its descriptor" \
	'printf fresh > u1; $FSOP open-unlink-rw u1 again; $FSOP stat u1'
same "an unlinked file is still readable through a descriptor opened for reading" \
	'printf gone > u2; $FSOP open-unlink-read u2'

# O_APPEND, O_TRUNC, O_EXCL
same "O_APPEND writes at the end, even a positioned write" \
	'$FSOP append dir/x.py "y = 2"; $FSOP append dir/x.py "!"; cat dir/x.py; stat -c %s dir/x.py'
same "shell >> appends to a new file" \
	'echo 1 >> ap; echo 2 >> ap; cat ap'
same "O_TRUNC empties a source file" \
	'$FSOP open b.txt wt; stat -c %s b.txt; cat b.txt'
same "O_TRUNC on a read-only open of a writable file empties it too" \
	'printf abc > t1; $FSOP open t1 rt; stat -c %s t1'
same "O_EXCL on an existing source file is EEXIST, on a new name creates it" \
	'$FSOP open dir/x.py wcx; $FSOP open excl wcx; $FSOP open excl wcx; stat -c "%s %a" excl'
same "O_CREAT without O_EXCL opens an existing file and keeps its data" \
	'$FSOP open ro.txt rc; cat ro.txt'

# truncate and sparse files over 4 GiB
same "truncate grows with zeros and shrinks" \
	'printf 12345 > tr; $FSOP truncate tr 8; od -An -c tr; $FSOP truncate tr 2; cat tr; echo; stat -c %s tr'
same "a write at 5 GiB makes a sparse file over 4 GiB" \
	'$FSOP pwrite sparse 5368709120 END; stat -c %s sparse; $FSOP pread sparse 5368709120 3;
	 $FSOP pread sparse 4294967296 4; [ $(stat -c %b sparse) -lt 1024 ] && echo sparse; rm sparse'
same "truncate to 5 GiB and back keeps the data and the holes" \
	'printf head > big; $FSOP truncate big 5368709120; stat -c %s big; $FSOP pwrite big 4294967295 X;
	 $FSOP pread big 4294967294 3; $FSOP truncate big 4; cat big; echo; stat -c %s big'
same "du sees a 5 GiB sparse file as small" \
	'$FSOP truncate holes 5368709120; du -k holes | cut -f1; rm holes'

# mmap, fsync
same "a shared mmap write is visible to read after msync and munmap" \
	'$FSOP mmap-write d.txt "mapped text"; cat d.txt; echo; stat -c %s d.txt'
same "a shared mmap write on a new file is visible to read" \
	'printf "" > mm; $FSOP mmap-write mm "0123456789"; cat mm'
same "fsync and fdatasync succeed on a source file and a new file" \
	'$FSOP fsync a.txt more; $FSOP fsync fs1 data; cat fs1'

# times and modes
same "utimensat sets atime and mtime to the nanosecond on a source file" \
	'$FSOP utimens c.txt 1234567890 123456789; stat -c "%.9X %.9Y" c.txt'
same "utimensat sets times to the nanosecond on a new file, a directory and a symlink" \
	'printf z > ut; mkdir utd; ln -s nowhere utl;
	 for f in ut utd utl; do $FSOP utimens $f 987654321 1; stat -c "%n %.9X %.9Y" $f; done'
same "a copy-up keeps the source's times" \
	'$FSOP chmod keep.txt 600; stat -c "%a %.9Y" keep.txt'
same "a write changes the mtime" \
	'old=$(stat -c %.9Y c.txt); sleep 0.01; printf more >> c.txt; [ "$(stat -c %.9Y c.txt)" != "$old" ] && echo changed'
same "chmod changes the mode of a source file, a new file and a directory" \
	'$FSOP chmod run.sh 700; printf q > cm; $FSOP chmod cm 1751; mkdir cmd; $FSOP chmod cmd 1777;
	 stat -c "%n %a" run.sh cm cmd'
same "the execute bit runs a script" \
	'./run.sh; printf "#!/bin/sh\necho made\n" > made.sh; chmod +x made.sh; ./made.sh'

# hard links
same "a hard link to a new file shares content and counts links" \
	'printf shared > h1; $FSOP link h1 h2; stat -c %h h1; printf " more" >> h2; cat h1; echo; $FSOP unlink h1; stat -c %h h2; cat h2'
same "a hard link to a source file shares content and counts links" \
	'$FSOP link dir/x.py xlink; stat -c %h dir/x.py xlink; echo changed > xlink; cat dir/x.py'
same "a hard link to a directory is EPERM, to a missing file ENOENT, onto an existing name EEXIST" \
	'$FSOP link dir dl; $FSOP link nothing nl; $FSOP link a.txt c.txt'
same "rename between two names of one file does nothing" \
	'printf one > l1; ln l1 l2; $FSOP rename l1 l2; ls l1 l2; stat -c %h l1'

# symlinks, FIFOs
same "symlinks: readlink, follow, dangling, lstat size" \
	'$FSOP readlink lnk; cat lnk; ln -s does/not/exist dang; $FSOP stat dang; $FSOP lstat dang; $FSOP readlink dang'
same "a symlink is replaced by rename and removed by unlink" \
	'ln -s c.txt l2; $FSOP rename l2 lnk; $FSOP readlink lnk; $FSOP unlink lnk; $FSOP lstat lnk'
same "a FIFO is made, reported as such, and carries data" \
	'$FSOP mknod-fifo ff; stat -c "%F %a" ff; (echo through > ff &) ; timeout 5 cat ff; $FSOP mknod-fifo ff'

# copy_file_range, fallocate
same "copy_file_range copies a source file into a new file" \
	'$FSOP copy-range dir/x.py cfr 100; cat cfr'
same "copy_file_range from a new file into a source file" \
	'printf "0123456789" > cfs; $FSOP copy-range cfs e.txt 4; cat e.txt; echo; stat -c %s e.txt'
same "fallocate extends a file, KEEP_SIZE does not, a punched hole reads zeros" \
	'printf abcdefgh > fa; $FSOP fallocate fa 0 65536; stat -c %s fa; $FSOP fallocate fa 0 1048576 keep; stat -c %s fa;
	 $FSOP fallocate fa 2 3 punch; $FSOP pread fa 0 8'

# xattrs
same "user xattrs are set, read, listed and removed on a source file" \
	'$FSOP setxattr ro.txt user.a one; $FSOP getxattr ro.txt user.a; $FSOP listxattr ro.txt;
	 $FSOP removexattr ro.txt user.a; $FSOP getxattr ro.txt user.a; cat ro.txt'
same "user xattrs on a new file; a missing one is ENODATA" \
	'printf x > xf; $FSOP getxattr xf user.none; $FSOP setxattr xf user.b two; $FSOP setxattr xf user.c three;
	 $FSOP listxattr xf; $FSOP removexattr xf user.none'

same_text "$(source_sum)" "$SOURCE_BEFORE" "the source tree is not modified while mounted"
same_text "$(tree_listing "$M")" "$(tree_listing "$N")" "the mount and the native directory end as the same tree"
same_text "$(tree_content "$M")" "$(tree_content "$N")" "the mount and the native directory end with the same contents"
done_testing
