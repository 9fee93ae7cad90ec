#!/usr/bin/env bash
# Build the test fixtures every chapter uses, from real Debian packages.
#
#   busybox-rootfs/   a minimal root filesystem: /bin/busybox and one link per applet,
#                     /etc/{passwd,group,hostname}, empty /proc /sys /dev /tmp
#   images/           real images of it, made by real tools:
#     busybox-oci/    OCI layout (umoci), one layer, named busybox:latest
#     layered-oci/    OCI layout (umoci), four layers: busybox, + /data, then a whiteout of
#                     /etc/hostname and an opaque /data/replaced; named layered:latest
#     multi-oci/      OCI layout whose multi:latest is an image index (written here): linux/amd64
#                     (the busybox image), linux/arm64/v8 (the same layer, a config that says
#                     arm64) and a BuildKit-style attestation (platform unknown/unknown)
#     busybox.tar     `docker save` archive of busybox:latest (skopeo)
#
# Idempotent: a fixture is built in a temporary directory and renamed into place only when
# complete, and it is rebuilt only when this script or the busybox package changes.
# Tests find the fixtures at $BERTH_FIXTURES (default /var/cache/berth/fixtures).
set -euo pipefail

FIXTURES=${BERTH_FIXTURES:-/var/cache/berth/fixtures}
BUSYBOX=/bin/busybox

if [[ ! -x $BUSYBOX ]]; then
    echo "fixtures: $BUSYBOX is missing; run scripts/install-deps.sh first" >&2
    exit 1
fi

# The stamp names what the fixtures were built from: this script and the busybox binary.
stamp=$( (cat "$0"; sha256sum "$BUSYBOX") | sha256sum | cut -c1-16)
rootfs=$FIXTURES/busybox-rootfs
images=$FIXTURES/images
if [[ -d $rootfs && -f $rootfs.stamp && $(cat "$rootfs.stamp") == "$stamp" &&
      -d $images && -f $images.stamp && $(cat "$images.stamp") == "$stamp" ]]; then
    exit 0
fi

mkdir -p "$FIXTURES"
for tool in umoci skopeo; do
    command -v "$tool" >/dev/null || { echo "fixtures: $tool is missing; run scripts/install-deps.sh first" >&2; exit 1; }
done
tmp=$(mktemp -d "$FIXTURES/.busybox-rootfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,home}
chmod 1777 "$tmp/tmp"
chmod 0700 "$tmp/root"
cp "$BUSYBOX" "$tmp/bin/busybox"
# One symlink per applet, where busybox itself says it belongs (bin, sbin, usr/bin...).
"$tmp/bin/busybox" --list-full | while read -r applet; do
    [[ $applet == bin/busybox || $applet == linuxrc ]] && continue  # linuxrc: for initrds only
    target=$tmp/$applet
    [[ -e $target ]] || ln -s /bin/busybox "$target"
done

cat > "$tmp/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
cat > "$tmp/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
tty:x:5:
nogroup:x:65534:
EOF
echo berth > "$tmp/etc/hostname"
chmod 0755 "$tmp"

# Swap the finished tree into place; the old one (if any) is removed afterwards.
if [[ -e $rootfs ]]; then
    mv "$rootfs" "$tmp.old"
fi
mv "$tmp" "$rootfs"
rm -rf "$tmp.old"
trap - EXIT
echo "$stamp" > "$rootfs.stamp"
echo "fixtures: built $rootfs"

# ---- images, with umoci and skopeo --------------------------------------------------------
tmp=$(mktemp -d "$FIXTURES/.images.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
work=$tmp/work
mkdir -p "$work" "$tmp/out"
layout=$work/layout
created=2024-01-01T00:00:00Z
umoci init --layout "$layout"
umoci new --image "$layout:base"
# `umoci insert` writes layer tars without the end-of-archive blocks: a real-world
# imperfection that Docker accepts and so must we.
umoci insert --image "$layout:base" --tag busybox "$rootfs" /
umoci config --image "$layout:busybox" --created "$created" \
    --architecture amd64 --os linux \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.cmd sh

# The layered image: add /data, then delete /etc/hostname (a whiteout) and replace the
# contents of /data/replaced (an opaque directory).
mkdir -p "$work/data/keep" "$work/data/replaced" "$work/newdir"
echo kept > "$work/data/keep/file"
echo old > "$work/data/replaced/old"
echo new > "$work/newdir/new"
umoci insert --image "$layout:busybox" --tag layered "$work/data" /data
umoci insert --image "$layout:layered" --whiteout /etc/hostname
umoci insert --image "$layout:layered" --opaque "$work/newdir" /data/replaced
umoci config --image "$layout:layered" --created "$created" --config.workingdir /data

# Copy them out under full names (skopeo keeps umoci's blobs as they are).
skopeo copy -q "oci:$layout:busybox" "oci:$tmp/out/busybox-oci:busybox:latest"
skopeo copy -q "oci:$layout:layered" "oci:$tmp/out/layered-oci:layered:latest"
skopeo copy -q "oci:$layout:busybox" "docker-archive:$tmp/out/busybox.tar:busybox:latest"

# The multi-platform image. No tool here writes an index from parts, so we do: every blob
# (manifest, config, layer, index) is stored under the sha256 of its exact bytes, and each
# descriptor names that digest and the byte size. The arm64 image shares the busybox layer;
# only its config differs. The third entry is shaped like the attestation BuildKit attaches
# to each image (an in-toto statement as its one layer): clients must skip it, not run it.
umoci config --image "$layout:busybox" --tag busybox-arm64 --architecture arm64 --no-history
multi=$work/multi
skopeo copy -q "oci:$layout:busybox" "oci:$multi:amd64"
skopeo copy -q "oci:$layout:busybox-arm64" "oci:$multi:arm64"
# put_blob FILE: move FILE into the multi layout's blobs under its digest; print "DIGEST SIZE".
put_blob() {
    local digest size
    digest=sha256:$(sha256sum "$1" | cut -d' ' -f1)
    size=$(stat -c %s "$1")
    mv "$1" "$multi/blobs/sha256/${digest#sha256:}"
    echo "$digest $size"
}
# descriptor MEDIATYPE DIGEST SIZE [MORE JSON MEMBERS]: one OCI descriptor as JSON.
descriptor() {
    printf '{"mediaType":"%s","digest":"%s","size":%s%s}' "$1" "$2" "$3" "${4:+,$4}"
}
oci_manifest=application/vnd.oci.image.manifest.v1+json
oci_index=application/vnd.oci.image.index.v1+json
skopeo inspect --raw "oci:$multi:amd64" > "$work/amd64.json"
read -r amd64_digest amd64_size < <(put_blob "$work/amd64.json")
skopeo inspect --raw "oci:$multi:arm64" > "$work/arm64.json"
read -r arm64_digest arm64_size < <(put_blob "$work/arm64.json")
printf '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document",%s}' \
    "$(printf '"subject":[{"name":"pkg:docker/multi@latest?platform=linux%%2Famd64","digest":{"sha256":"%s"}}],"predicate":{"spdxVersion":"SPDX-2.3","name":"berth fixture","packages":[]}' "${amd64_digest#sha256:}")" \
    > "$work/statement.json"
read -r statement_digest statement_size < <(put_blob "$work/statement.json")
printf '{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
    "$statement_digest" > "$work/attestation-config.json"
read -r att_config_digest att_config_size < <(put_blob "$work/attestation-config.json")
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$oci_manifest" \
    "$(descriptor application/vnd.oci.image.config.v1+json "$att_config_digest" "$att_config_size")" \
    "$(descriptor application/vnd.in-toto+json "$statement_digest" "$statement_size" \
        '"annotations":{"in-toto.io/predicate-type":"https://spdx.dev/Document"}')" \
    > "$work/attestation.json"
read -r att_digest att_size < <(put_blob "$work/attestation.json")
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s,%s,%s]}' "$oci_index" \
    "$(descriptor "$oci_manifest" "$amd64_digest" "$amd64_size" \
        '"platform":{"architecture":"amd64","os":"linux"}')" \
    "$(descriptor "$oci_manifest" "$arm64_digest" "$arm64_size" \
        '"platform":{"architecture":"arm64","os":"linux","variant":"v8"}')" \
    "$(descriptor "$oci_manifest" "$att_digest" "$att_size" \
        "\"annotations\":{\"vnd.docker.reference.digest\":\"$amd64_digest\",\"vnd.docker.reference.type\":\"attestation-manifest\"},\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}")" \
    > "$work/index.json"
read -r index_digest index_size < <(put_blob "$work/index.json")
# The layout's own index.json names only the image index: the single-platform manifests are
# reachable through it alone. skopeo then copies it out (and so proves it can read it) with
# every byte, and so every digest, unchanged.
printf '{"schemaVersion":2,"manifests":[%s]}' \
    "$(descriptor "$oci_index" "$index_digest" "$index_size" \
        '"annotations":{"org.opencontainers.image.ref.name":"multi"}')" > "$multi/index.json"
skopeo copy -q --all "oci:$multi:multi" "oci:$tmp/out/multi-oci:multi:latest"

if [[ -e $images ]]; then
    mv "$images" "$tmp/old"
fi
mv "$tmp/out" "$images"
rm -rf "$tmp"
trap - EXIT
echo "$stamp" > "$images.stamp"
echo "fixtures: built $images"
