#!/usr/bin/env bash
# Build the test fixtures every chapter uses, from real Debian packages.
#
#   busybox-rootfs/   a minimal root filesystem: /bin/busybox and one link per applet,
#                     /etc/{passwd,group,hostname}, empty /proc /sys /dev /tmp
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

# The stamp names what the fixture was built from: this script and the busybox binary.
stamp=$( (cat "$0"; sha256sum "$BUSYBOX") | sha256sum | cut -c1-16)
rootfs=$FIXTURES/busybox-rootfs
if [[ -d $rootfs && -f $rootfs.stamp && $(cat "$rootfs.stamp") == "$stamp" ]]; then
    exit 0
fi

mkdir -p "$FIXTURES"
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
