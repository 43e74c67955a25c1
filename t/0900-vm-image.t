#!/bin/bash
# vm backend: the guest image (image/mkimage): the same inputs give the
# same bytes, its tree is what rls-guest expects, and a release names
# every file with its checksum.
. "$(dirname "$0")/lib.sh"

arch=$(dpkg --print-architecture 2>/dev/null)
ls /boot/vmlinuz-*-"$arch" >/dev/null 2>&1 || skip_all "no Debian $arch kernel package (make deps)"
command -v cpio >/dev/null || skip_all "no cpio (make deps)"
GUEST=$RLS_BUILD/guest/$arch/rls-guest
[ -x "$GUEST" ] || skip_all "no $GUEST (make image)"

# The epoch make image uses (GNUmakefile, IMAGE_EPOCH): an image built
# here again must equal make image's, byte for byte.
epoch=$(git -C "$RLS_SRC" log -1 --format=%ct -- guest image 2>/dev/null)
export SOURCE_DATE_EPOCH=${epoch:-0}
ok "mkimage builds an image" sh "$RLS_SRC/image/mkimage" "$arch" / "$GUEST" "$T/a"
if [ -f "$RLS_BUILD/image/SHA256SUMS" ]; then
	ok "make image's image matches its SHA256SUMS" sh -c "cd '$RLS_BUILD/image' && sha256sum -c --quiet SHA256SUMS"
	is "$(cat "$T/a/SHA256SUMS")" "$(cat "$RLS_BUILD/image/SHA256SUMS")" \
		"built again elsewhere from the same inputs, it has the same checksums"
else
	ok "mkimage builds it again elsewhere" sh "$RLS_SRC/image/mkimage" "$arch" / "$GUEST" "$T/b"
	is "$(cat "$T/b/SHA256SUMS")" "$(cat "$T/a/SHA256SUMS")" "the same inputs give the same checksums"
fi
ok "which the files match" sh -c "cd '$T/a' && sha256sum -c --quiet SHA256SUMS"
is "$(cat "$T/a/arch")" "$arch" "the image says its architecture"

list=$(cpio -itv --quiet < "$T/a/initramfs.img")
is "$(cpio -it --quiet < "$T/a/initramfs.img")" "$(cpio -it --quiet < "$T/a/initramfs.img" | LC_ALL=C sort)" \
	"the initramfs lists its names sorted"
like "$(printf '%s\n' "$list" | grep ' init$')" '^-rwxr-xr-x +1 root +root ' "/init is rls-guest, root's, 0755"
mkdir -p "$T/root"
(cd "$T/root" && cpio -idm --quiet < "$T/a/initramfs.img")
# newc headers: "070701", then 13 fields of 8 hex digits (ino, mode, uid,
# gid, nlink, mtime, ...), the name, padding, the data, padding.
newc_fields() {
	python3 - "$1" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
o = 0
while o < len(d):
    assert d[o:o+6] == b'070701', 'bad magic at %d' % o
    f = [int(d[o+6+8*i:o+14+8*i], 16) for i in range(13)]
    namesize, filesize = f[11], f[6]
    name = d[o+110:o+110+namesize-1].decode()
    if name == 'TRAILER!!!':
        break
    print(name, f[2], f[3], f[5], f[0], f[7] + f[8] + f[9] + f[10])
    o = (o + 110 + namesize + 3) & ~3
    o = (o + filesize + 3) & ~3
PY
}
fields=$(newc_fields "$T/a/initramfs.img")
is "$(printf '%s\n' "$fields" | awk -v e="$SOURCE_DATE_EPOCH" '$4 != e' | wc -l)" 0 "every mtime is SOURCE_DATE_EPOCH"
is "$(printf '%s\n' "$fields" | awk '$2 != 0 || $3 != 0' | wc -l)" 0 "every owner is 0:0"
is "$(printf '%s\n' "$fields" | awk '$5 != NR - 1 || $6 != 0' | wc -l)" 0 \
	"no inode or device number comes from the build host"
ok "/init is the rls-guest that was built" cmp -s "$T/root/init" "$GUEST"
is "$(tr '\n' ' ' < "$T/root/rls/base.load")" "virtio_ring.ko virtio.ko virtio_mmio.ko virtio_console.ko " \
	"the base modules load dependencies first"
like "$(tr '\n' ' ' < "$T/root/rls/virtiofs.load")" "fuse.ko virtiofs.ko" "virtiofs loads fuse first, and nothing of the base"
ok "every module listed is there" sh -c "cd '$T/root/rls' && for m in \$(cat *.load); do [ -f modules/\$m ] || exit 1; done"
is "$(grep -l 'Module signature appended' "$T"/root/rls/modules/*.ko | wc -l)" 0 "no module carries its signature"

ok "a release is published" sh "$RLS_SRC/image/publish" v0.1.0 "$T/a"
ok "with arch-named files and their checksums" sh -c "cd '$T/a/publish/v0.1.0' && sha256sum -c --quiet SHA256SUMS &&
	[ -f rls-guest-v0.1.0-$arch-kernel ] && [ -f rls-guest-v0.1.0-$arch-initramfs.img ]"
fails "a version that is not vX.Y.Z is refused" sh "$RLS_SRC/image/publish" '../x' "$T/a"
fails "publishing nothing is refused" sh "$RLS_SRC/image/publish" v0.1.0 "$T/empty"
done_testing
