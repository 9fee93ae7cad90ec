#!/usr/bin/env bash
# Build the test fixtures every chapter uses, from real Debian packages.
#
#   busybox-rootfs/   a minimal root filesystem: /bin/busybox and one link per applet,
#                     /etc/{passwd,group,hostname}, empty /proc /sys /dev /tmp
#   images/           real images of it, made by real tools:
#     busybox-oci/    OCI layout (umoci), one layer, named busybox:latest
#     layered-oci/    OCI layout (umoci), four layers: busybox, + /data, then a whiteout of
#                     /etc/hostname and an opaque /data/replaced; named layered:latest
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

if [[ -e $images ]]; then
    mv "$images" "$tmp/old"
fi
mv "$tmp/out" "$images"
rm -rf "$tmp"
trap - EXIT
echo "$stamp" > "$images.stamp"
echo "fixtures: built $images"
