#!/usr/bin/env bash
# A stand-in for `ch01 run` built from `unshare` and `chroot` alone: what many "container in
# ten lines" posts show. It takes ch01's arguments and does the plausible minimum: the same
# namespaces, the hostname, chroot into the rootfs. Chapter 1's tests run against it too and
# must fail: chroot is not pivot_root, and nothing mounts /proc, /sys or /dev.
set -euo pipefail
[[ ${1:-} == run ]] && shift
rootfs= hostname=
while [[ $# -gt 0 && $1 != -- ]]; do
    case $1 in
        --rootfs) rootfs=$2; shift 2 ;;
        --hostname) hostname=$2; shift 2 ;;
        --env|-e|--workdir|-w) shift 2 ;;
        --rootless) shift ;;
        *) echo "stand-in: unknown option $1" >&2; exit 125 ;;
    esac
done
shift
exec unshare --fork --pid --mount --uts --ipc --net \
    sh -c '[ -n "$1" ] && hostname "$1"; shift; exec chroot "$@"' sh "$hostname" "$rootfs" "$@"
