#!/usr/bin/python3
# mk-oci-image.py LAYOUT TAG LAYER... - write an OCI image layout offline,
# as `skopeo copy ... oci:LAYOUT:TAG` would (no registry is needed).
#
# Each LAYER is DIR (its content, tarred and gzipped; entries keep their
# names, so a file called .wh.NAME is a whiteout) or tar:FILE (that tar
# as it is, gzipped: for layers crafted by hand).  Several runs with the
# same LAYOUT add tags to its index.  Prints the manifest's digest.
import gzip, hashlib, io, json, os, sys, tarfile


def blob(layout, data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    d = os.path.join(layout, "blobs", "sha256")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, digest), "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


def tar_dir(path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name in sorted(os.listdir(path)):
            t.add(os.path.join(path, name), arcname=name)
    return buf.getvalue()


def main():
    layout, tag, layers = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(layout, exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    descs, diff_ids = [], []
    for layer in layers:
        if layer.startswith("tar:"):
            raw = open(layer[4:], "rb").read()
        else:
            raw = tar_dir(layer)
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        descs.append(blob(layout, gzip.compress(raw, mtime=0),
                          "application/vnd.oci.image.layer.v1.tar+gzip"))
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cdesc = blob(layout, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cdesc, "layers": descs}
    mdesc = blob(layout, json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    mdesc["annotations"] = {"org.opencontainers.image.ref.name": tag}
    index_path = os.path.join(layout, "index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        index = json.load(open(index_path))
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
    index["manifests"].append(mdesc)
    with open(index_path, "w") as f:
        json.dump(index, f)
    print(mdesc["digest"])


main()
