#!/bin/bash
# rls run --backend oci --image and --rootfs: an image layout is untrusted
# input, unpacked once into a digest-keyed cache; whiteouts are honoured,
# damage is found, and no layer entry gets out of the root.
. "$(dirname "$0")/lib.sh"
RLS_TEST_BACKEND=oci
. "$(dirname "$0")/lib-run.sh"
need_run_source
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || skip_all "needs a static /bin/busybox (busybox-static)"
command -v python3 >/dev/null || skip_all "needs python3 to write image layouts"
MK=$RLS_SRC/t/helpers/mk-oci-image.py

# A busybox root, then a layer that removes a file, empties a folder and
# adds one.
R1=$T/l1; R2=$T/l2
mkdir -p "$R1/bin" "$R1/etc" "$R1/opt" "$R1/data" "$R2/opt" "$R2/data" "$R2/etc"
cp /bin/busybox "$R1/bin/busybox"
for a in sh ls cat echo id env test grep stat wc head touch mkdir pwd true readlink; do
	ln -s busybox "$R1/bin/$a"
done
echo 'root:x:0:0::/:/bin/sh' > "$R1/etc/passwd"
echo base > "$R1/etc/motd"
echo gone > "$R1/opt/gone.txt"
echo kept > "$R1/opt/kept.txt"
echo a > "$R1/data/a"
echo b > "$R1/data/b"
echo layer2 > "$R2/etc/motd"
: > "$R2/opt/.wh.gone.txt"
: > "$R2/data/.wh..wh..opq"
echo c > "$R2/data/c"
L=$T/layout
digest=$(python3 "$MK" "$L" v1 "$R1" "$R2")
hex=${digest#sha256:}

run_rls --image "$L:v1" -- sh -c 'cat /etc/motd; ls /opt; ls /data; cat /workspace/src/main.py; test -e /usr/bin/python3 || echo no-host-usr'
is "$rc" 0 "a command runs in an image's root"
like "$out" "^layer2" "a later layer's file replaces an earlier one's"
like "$out" "kept.txt" "files of earlier layers are there"
unlike "$out" "gone.txt" "a whiteout removes a file of the layers below"
unlike "$out" "^a$|^b$" "an opaque marker empties its folder of what the layers below put there"
like "$out" "^c$" "and keeps what its own layer puts there"
like "$out" 'print\("hello"\)' "the tree is at /workspace"
like "$out" "no-host-usr" "the host's system folders are not there"
ok "the image is unpacked into the cache, keyed by its manifest's digest" \
	test -e "$T/state/rls/images/$hex/unpacked"
run_rls --image "$L:v1" -- sh -c 'touch /etc/x 2>&1; touch /opt/kept.txt 2>&1'
# gVisor checks the owner before the mount (EACCES first).
ro="Read-only file system"
[ "$BACKEND_NAME" = oci-runsc ] && ro="Read-only file system|Permission denied"
like "$out" "$ro" "the image's root is read-only"

# A cache hit reads the index and the manifest, never the layers.
for f in "$L"/blobs/sha256/*; do
	[ "$f" = "$L/blobs/sha256/$hex" ] || python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$f" 2>/dev/null || mv "$f" "$f.moved"
done
run_rls --image "$L:v1" -- cat /etc/motd
is "$out" layer2 "a second run uses the cache"
for f in "$L"/blobs/sha256/*.moved; do mv "$f" "${f%.moved}"; done

run_rls --image "$L:nosuch" -- true
is "$rc" 125 "an unknown tag fails"
like "$err" "no image tagged 'nosuch'; it has: v1" "naming the tags there are"
run_rls --image "$T/not-a-layout" -- true
like "$err" "is not an OCI image layout" "a folder that is not a layout says so"
is "$(printf '%s\n' "$err" | grep -c '^rls: run: --image')" 1 "on one line"

# A damaged layer: the hash is checked while it is read, and nothing of it
# reaches the cache.
D=$T/damaged
digest=$(python3 "$MK" "$D" v1 "$R1")
layer=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/blobs/sha256/"+sys.argv[2])); print(m["layers"][0]["digest"][7:])' "$D" "${digest#sha256:}")
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2] ^= 1; open(p,"wb").write(b)' "$D/blobs/sha256/$layer"
run_rls --image "$D:v1" -- true
is "$rc" 125 "a layer whose content does not match its digest fails the run"
like "$err" "damaged|gzip" "saying it is damaged"
ok "and nothing is cached for it" test ! -e "$T/state/rls/images/${digest#sha256:}"
ok "nor left half-unpacked" sh -c "! ls -a '$T/state/rls/images' | grep -q '^\\.tmp-'"
# The same size, still JSON, another hash: only the digest can tell.
C=$T/config-changed
digest=$(python3 "$MK" "$C" v1 "$R1")
config=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/blobs/sha256/"+sys.argv[2])); print(m["config"]["digest"][7:])' "$C" "${digest#sha256:}")
sed -i 's/amd64/amd65/' "$C/blobs/sha256/$config"
run_rls --image "$C:v1" -- true
is "$rc" 125 "a blob changed in place (same size) fails the run"
like "$err" "sha256:${config:0:12} is damaged: its content hashes to" "saying which blob is damaged"

# Layers crafted to get out of the root.
craft() {	# craft NAME PYTHON: a layer made by PYTHON with tarfile (t is open)
	python3 - "$T/$1.tar" <<PY
import io, sys, tarfile
t = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
def add(name, data=b"x", **kw):
    i = tarfile.TarInfo(name)
    for k, v in kw.items(): setattr(i, k, v)
    reg = i.type in (tarfile.REGTYPE, tarfile.AREGTYPE)
    i.size = len(data) if reg else 0
    t.addfile(i, io.BytesIO(data) if reg else None)
$2
t.close()
PY
	python3 "$MK" "$T/img-$1" v1 "$R1" "tar:$T/$1.tar" > /dev/null
}
craft abs 'add("/tmp/rls-escape-abs-'$$'")'
craft dotdot 'add("../../../../tmp/rls-escape-dotdot-'$$'")'
craft symout 'add("up", type=tarfile.SYMTYPE, linkname="../../../../../tmp")'
craft hardout 'add("pw", type=tarfile.LNKTYPE, linkname="../../../../etc/passwd")'
craft symthrough 'add("root", type=tarfile.SYMTYPE, linkname="/")
add("root/opt/rls-escape-through-'$$'")'
for case in "abs:absolute path" "dotdot:climbs out of the root" "symout:symbolic link points out" \
	    "hardout:hard link points out"; do
	name=${case%%:*} why=${case#*:}
	run_rls --image "$T/img-$name:v1" -- true
	is "$rc:$(printf '%s' "$err" | grep -c "$why")" "125:1" "a layer entry that $why is refused"
done
ok "no file was made outside the root" sh -c "! ls /tmp/rls-escape-*-$$ 2>/dev/null | grep -q ."
run_rls --image "$T/img-symthrough:v1" -- sh -c "cat /opt/rls-escape-through-$$"
ok "a path through a symbolic link to / stays in the image's root" test ! -e "/opt/rls-escape-through-$$"
like "$out" "^x$" "landing inside it"
craft special 'add("suid", data=b"#!/bin/sh\necho ran-as-$(id -u)\n", mode=0o4755)
add("null2", type=tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)'
run_rls --image "$T/img-special:v1" -- sh -c 'stat -c %A /suid; echo x > /null2 2>&1 || echo no-dev; cat /null2 2>&1 || echo no-dev'
like "$out" "^-rwxr-xr-x" "set-id bits of an image are dropped"
like "$out" "no-dev" "a device node of an image is inert (the root is nodev)"

# An image with a zstd layer, which rls does not read: one clear line.
Z=$T/zstd
digest=$(python3 "$MK" "$Z" v1 "$R1")
python3 - "$Z" "${digest#sha256:}" <<'PY'
import hashlib, json, os, sys
L, hexd = sys.argv[1], sys.argv[2]
p = os.path.join(L, "blobs/sha256", hexd)
m = json.load(open(p))
m["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+zstd"
data = json.dumps(m).encode()
h = hashlib.sha256(data).hexdigest()
open(os.path.join(L, "blobs/sha256", h), "wb").write(data)
i = json.load(open(os.path.join(L, "index.json")))
i["manifests"][0]["digest"] = "sha256:" + h; i["manifests"][0]["size"] = len(data)
json.dump(i, open(os.path.join(L, "index.json"), "w"))
PY
run_rls --image "$Z" -- true
like "$err" "zstd-compressed" "a zstd layer is refused, saying so"

# --rootfs: a folder as the root, read-only, nothing made in it.
touch "$T/marker"; sleep 0.01
run_rls --rootfs "$R1" -- sh -c 'cat /etc/motd; ls /workspace/src; touch /etc/y 2>&1'
like "$out" "^base" "--rootfs DIR is the root"
like "$out" "main.py" "with the tree at /workspace"
like "$out" "$ro" "read-only"
is "$(find "$R1" -newer "$T/marker" | wc -l)" 0 "and nothing is made in DIR (mount points included)"
cd "$T" || exit 1
rm -rf "$T/state/rls/deltas"
ok "nothing is left behind" no_leftovers
done_testing
