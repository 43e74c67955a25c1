#!/bin/bash
# At write, rlsfs behaves like native ext4 for names and directories: long
# names, deep trees, listings that change under readdir, renames of files
# and directories (with RENAME_NOREPLACE and RENAME_EXCHANGE), mv(1) of a
# source directory (rlsfs answers EXDEV and mv copies).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-posix.sh"
need_fuse

mkdir -p "$S0/src/sub/deeper" "$S0/other" "$S0/empty" "$S0/full" "$S0/many"
printf 'one\n' > "$S0/src/one.c"
printf 'two\n' > "$S0/src/sub/two.c"
printf 'three\n' > "$S0/src/sub/deeper/three.c"
ln -s one.c "$S0/src/link"
chmod 750 "$S0/src/sub"
printf 'f\n' > "$S0/full/f"
printf 'a\n' > "$S0/fa"
printf 'b\n' > "$S0/fb"
for i in $(seq 1 300); do printf '%s\n' "$i" > "$S0/many/file$i"; done
posix_setup || { echo "Bail out! mount failed"; exit 1; }

n255=$(printf 'n%.0s' $(seq 1 255))
n256=$(printf 'n%.0s' $(seq 1 256))
export n255 n256

# names
same "a 255-byte name can be created, listed, renamed and removed" \
	'$FSOP open $n255 wc; ls | grep -c "^n*$"; $FSOP rename $n255 short; $FSOP rename short $n255; $FSOP unlink $n255'
same "a 256-byte name is ENAMETOOLONG for create, mkdir, stat, symlink and rename" \
	'$FSOP open $n256 wc; $FSOP mkdir $n256; $FSOP stat $n256; $FSOP symlink x $n256; $FSOP rename fa $n256'
same "a directory with a 255-byte name holds files" \
	'mkdir $n255 && echo in > $n255/f && cat $n255/f && rm -r $n255 && echo removed'

# deep trees
same "a tree 100 levels deep is made, written at the bottom, walked and removed" \
	'p=deep; for i in $(seq 2 100); do p=$p/d$i; done; mkdir -p $p && echo bottom > $p/f && cat $p/f;
	 find deep | wc -l; find deep -type f; rm -r deep && echo removed; $FSOP stat deep'

# readdir while the directory changes
same "deleting each entry as readdir yields it sees every source entry once and leaves none" \
	'$FSOP readdir-unlink many; ls -A many | wc -l; $FSOP rmdir many'
same "deleting each entry as readdir yields it, for entries made in the mount" \
	'mkdir made; for i in $(seq 1 200); do : > made/e$i; done; $FSOP readdir-unlink made; $FSOP rmdir made'
same "rm -r of a source tree removes it" \
	'rm -r src/sub && echo ok; ls src; $FSOP stat src/sub'
same "a directory listed while files are added lists each old entry once" \
	'mkdir grow; for i in $(seq 1 50); do : > grow/g$i; done;
	 python3 -c "
import os
seen = []
for i, e in enumerate(os.scandir(\"grow\")):
    seen.append(e.name)
    if i < 10:
        open(\"grow/new%d\" % i, \"w\").close()
old = [n for n in seen if n.startswith(\"g\")]
print(len(old), len(set(old)))
"; ls grow | wc -l'

# renames of files
same "rename of a file into another directory" \
	'$FSOP rename fa other/fa; cat other/fa; $FSOP stat fa; ls other'
same "RENAME_NOREPLACE onto an existing name is EEXIST and changes nothing" \
	'$FSOP rename fb other/fa noreplace; cat fb other/fa'
same "RENAME_NOREPLACE onto a free name renames" \
	'$FSOP rename fb fb2 noreplace; cat fb2; $FSOP stat fb'
same "RENAME_EXCHANGE swaps two files" \
	'$FSOP rename fb2 other/fa exchange; cat fb2 other/fa'
same "RENAME_EXCHANGE of a missing name is ENOENT" \
	'$FSOP rename fb2 missing exchange; cat fb2'
same "RENAME_EXCHANGE swaps a file and a directory made in the mount" \
	'mkdir xd; echo inside > xd/f; echo file > xf; $FSOP rename xd xf exchange; cat xd; cat xf/f; ls -d xf/'
same "rename of a file over a directory is EISDIR, of a directory over a file ENOTDIR" \
	'mkdir rd; echo x > rf; $FSOP rename rf rd; $FSOP rename rd rf; $FSOP rename rf empty'
same "rename of a directory into its own subdirectory is EINVAL" \
	'mkdir -p loop/in; $FSOP rename loop loop/in/loop'

# renames of directories
same "a directory made in the mount renames directly, with its contents" \
	'mkdir -p nd/x/y && echo deep > nd/x/y/f && ln -s f nd/x/y/l; $FSOP rename nd nd2; cat nd2/x/y/f; $FSOP readlink nd2/x/y/l; $FSOP stat nd'
same "a directory made in the mount replaces an empty directory, not a full one" \
	'mkdir nd3; echo a > nd3/a; $FSOP rename nd3 empty; cat empty/a; mkdir nd4; $FSOP rename nd4 full; ls full'
same "mv of a source directory to a new name works (by copy after EXDEV)" \
	'mv src moved && echo ok; $FSOP stat src; find moved | LC_ALL=C sort; cat moved/sub/deeper/three.c 2>&1; $FSOP readlink moved/link; stat -c "%n %a" moved/sub 2>&1'
same "mv of a source directory into another directory works" \
	'mv moved other/ && echo ok; find other | LC_ALL=C sort'
same "a directory moved by mv can be renamed again directly" \
	'$FSOP rename other/moved again; find again | LC_ALL=C sort'
same "rmdir of a non-empty directory is ENOTEMPTY, of an empty one works" \
	'$FSOP rmdir full; rm full/*; $FSOP rmdir full; $FSOP rmdir full; $FSOP mkdir other; $FSOP mkdir full; ls -d full'
same "rmdir of a file is ENOTDIR, unlink of a directory EISDIR" \
	'echo x > notdir; $FSOP rmdir notdir; $FSOP unlink other'

same_text "$(source_sum)" "$SOURCE_BEFORE" "the source tree is not modified while mounted"
same_text "$(tree_listing "$M")" "$(tree_listing "$N")" "the mount and the native directory end as the same tree"
same_text "$(tree_content "$M")" "$(tree_content "$N")" "the mount and the native directory end with the same contents"
done_testing
