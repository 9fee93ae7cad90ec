#!/usr/bin/env bash
# Measurement, not a race: where `ch03 pull` and `ch03 rmi` of the benchmark image spend their
# time in system calls, with the store on a disk. For chapter 2's "What the disk costs".
#
#   strace -f -c -w   time in each system call, wall clock, summed over all threads
#   strace -f -T      each openat(O_CREAT), syncfs, fsync and rename with its duration:
#                     medians and totals
#
# The image is scripts/bench/lib/big-image.sh's (5 layers, 20,000 files), served by the reference
# registry from a tmpfs; the store goes in a fresh directory under DATA_ROOT (default /var/tmp).
# One pull and removal first, untimed, so that the measured pull follows a removal, as in
# ch03-pull.sh. Everything runs in a network namespace of its own (lib/netns.sh).
#
# Usage: scripts/bench/ch03-strace.sh [--data-root DIR]. Removes everything it made on exit.
set -euo pipefail
ARGS=("$@")
DATA_ROOT=/var/tmp
while (($#)); do
    case $1 in
        --data-root) DATA_ROOT=${2:-}; shift 2 ;;
        *) echo "bench: unknown argument $1 (usage: $0 [--data-root DIR])" >&2; exit 2 ;;
    esac
done
((EUID == 0)) || { echo "bench: must run as root" >&2; exit 1; }
[[ -d $DATA_ROOT ]] || { echo "bench: --data-root $DATA_ROOT is not a directory" >&2; exit 2; }
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
source scripts/env.sh
scripts/install-deps.sh
cargo build --release --quiet --locked -p berth-registry
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
source scripts/bench/lib/netns.sh
in_private_netns "$REPO/scripts/bench/ch03-strace.sh" "${ARGS[@]}"

tmp=$(mktemp -d /tmp/berth-bench-strace.XXXXXX)
disk=$(mktemp -d "$DATA_ROOT/berth-bench-strace.XXXXXX")
registry_pid=
cleanup() {
    set +e  # Undo everything, whatever fails: a failing step must not skip the rest.
    [[ -n $registry_pid ]] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
    for dir in "$tmp" "$disk"; do unmount_under "$dir"; done
    rm -rf "$tmp" "$disk"
}
trap cleanup EXIT
source scripts/bench/lib/daemons.sh
mkdir "$tmp/registry-fs"
mount -t tmpfs -o size=1g berth-bench-registry "$tmp/registry-fs"
start_registry "$tmp/registry-fs/registry"
source scripts/bench/lib/big-image.sh
make_big_image "$tmp/registry-fs/image" "$tmp/registry-fs/work"
skopeo copy -q --dest-tls-verify=false "oci:$tmp/registry-fs/image:big:latest" "docker://127.0.0.1:$port/bench/big:latest"
rm -rf "$tmp/registry-fs/image" "$tmp/registry-fs/work"
REF=127.0.0.1:$port/bench/big:latest
ch03=("$BIN/ch03" --root "$disk/store")
echo "store: $disk on $(findmnt -n -o FSTYPE,OPTIONS -T "$disk")"

"${ch03[@]}" pull "$REF" >/dev/null && "${ch03[@]}" rmi "$REF" >/dev/null && sync -f "$disk"
echo "== ch03 pull, strace -f -c -w ($(uptime))"
strace -f -c -w -o "$tmp/pull.c" "${ch03[@]}" pull "$REF" >/dev/null
head -20 "$tmp/pull.c"
"${ch03[@]}" rmi "$REF" >/dev/null && sync -f "$disk"
echo "== ch03 pull, strace -f -T"
strace -f -T -e trace=openat,syncfs,fsync,rename,renameat,renameat2 -o "$tmp/pull.T" "${ch03[@]}" pull "$REF" >/dev/null
python3 - "$tmp/pull.T" <<'EOF'
import re, statistics, sys
calls = {}
for line in open(sys.argv[1]):
    duration = re.search(r"<([0-9.]+)>$", line.strip())
    name = re.search(r"(?:^\d+\s+|<\.\.\. )([a-z0-9]+)[( ]", line)
    if not duration or not name:
        continue
    key = name.group(1)
    if key == "openat":
        # A call interrupted by another thread's shows its flags and its duration on two
        # lines: such creates are left out (a minority; the median does not move).
        if "O_CREAT" not in line:
            continue
        key = "openat(O_CREAT)"
    calls.setdefault(key, []).append(float(duration.group(1)))
for key, ts in sorted(calls.items()):
    ts.sort()
    print(f"  {key:<16}{len(ts):>7} calls  median {statistics.median(ts) * 1000:7.3f} ms"
          f"  p90 {ts[int(len(ts) * 0.9)] * 1000:7.3f} ms  total {sum(ts):7.3f} s")
EOF
echo "== ch03 rmi, strace -f -c -w"
strace -f -c -w -o "$tmp/rmi.c" "${ch03[@]}" rmi "$REF" >/dev/null
head -10 "$tmp/rmi.c"
echo "load: $(uptime)"
