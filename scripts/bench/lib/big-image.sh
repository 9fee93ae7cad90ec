# Shared by the benchmarks: a large, realistic image as an OCI layout.
#
#   make_big_image LAYOUT WORKDIR    5 gzip layers, about 300 MB unpacked, 125 MB compressed:
#                                    4000 small text files and 4 large half-random files each
#   big_image_layers LAYOUT          prints the layer blobs' paths, bottom first
#
# The files are made by python, the layers by GNU tar and gzip (umoci would do, but its layers
# lack tar's end blocks, which GNU tar then refuses), the layout by a few lines of python.

make_big_image() {
    local layout=$1 work=$2
    echo "making the image (5 layers, ~300 MB)..." >&2
    mkdir -p "$work"
    python3 - "$work/content" <<'EOF'
import os, random, sys
root = sys.argv[1]
rng = random.Random(42)
words = b"container layer image overlay digest manifest config root mount namespace".split()
for layer in range(5):
    base = os.path.join(root, f"layer{layer}", f"l{layer}")
    for d in range(40):
        os.makedirs(os.path.join(base, f"dir{d}"), exist_ok=True)
        for f in range(100):  # 4000 small text files per layer, 1-16 KB
            n = rng.randint(100, 1600)
            text = b" ".join(rng.choice(words) for _ in range(n))
            with open(os.path.join(base, f"dir{d}", f"file{f}.txt"), "wb") as out:
                out.write(text)
    for b in range(4):  # a few large files: 12 MB each, half random (incompressible)
        with open(os.path.join(base, f"blob{b}.bin"), "wb") as out:
            out.write(os.urandom(6 << 20))
            out.write(bytes(6 << 20))
EOF
    local layer
    for layer in 0 1 2 3 4; do
    tar -C "$work/content/layer$layer" -czf "$work/layer$layer.tar.gz" .
    done
    rm -rf "$work/content"
    # An OCI image layout around the layers: blobs by digest, config, manifest, index.
    python3 - "$layout" "$work"/layer*.tar.gz >/dev/null <<'EOF'
import gzip, hashlib, json, os, sys
layout, layers = sys.argv[1], sys.argv[2:]
blobs = f"{layout}/blobs/sha256"
os.makedirs(blobs)
def put(data):
    digest = hashlib.sha256(data).hexdigest()
    open(f"{blobs}/{digest}", "wb").write(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}
descriptors, diff_ids = [], []
for path in layers:
    data = open(path, "rb").read()
    diff_ids.append("sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest())
    descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **put(data)})
    os.remove(path)
    print(f"{blobs}/{descriptors[-1]['digest'][7:]}")
config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
          "rootfs": {"type": "layers", "diff_ids": diff_ids}}
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       **put(json.dumps(config).encode())},
            "layers": descriptors}
index = {"schemaVersion": 2,
         "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        **put(json.dumps(manifest).encode()),
                        "annotations": {"org.opencontainers.image.ref.name": "big:latest"}}]}
json.dump(index, open(f"{layout}/index.json", "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(f"{layout}/oci-layout", "w"))
EOF
}

big_image_layers() {
    python3 - "$1" <<'EOF'
import json, sys
layout = sys.argv[1]
index = json.load(open(f"{layout}/index.json"))
blob = lambda d: f"{layout}/blobs/sha256/{d.split(':')[1]}"
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
for layer in manifest["layers"]:
    print(blob(layer["digest"]))
EOF
}
