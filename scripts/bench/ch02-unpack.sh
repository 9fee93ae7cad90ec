#!/usr/bin/env bash
# Benchmark: loading a large multi-layer image, side by side with GNU tar.
#
#   ch02 load       ch02 --root STORE load -i LAYOUT: for each layer, in parallel, one pass
#                   that hashes the blob, decompresses, hashes the tar and unpacks it; then the
#                   store's bookkeeping (records, names, syncfs)
#   tar -xzf        for each layer in turn: mkdir DIR; tar -xzf LAYER -C DIR
#
# The image (made once per run with GNU tar and gzip) has 5 gzip layers, about 300 MB
# unpacked: thousands of small text files and some large binary ones. Both sides write to the
# same tmpfs, mounted by this script, so the disk's writeback does not decide the result (on
# ext4 here, unpack times swing from 0.7 s to 10 s with other load). Prints medians and the
# ratio; target: ch02 load no slower than tar -xzf run layer after layer.
#
# Usage: scripts/bench/ch02-unpack.sh [--runs N]   (default 5). Never fails on a timing.
set -euo pipefail
RUNS=${BENCH_RUNS:-5}
[[ ${1:-} == --runs ]] && RUNS=$2
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 ]] || { echo "bench: --runs needs a number" >&2; exit 2; }
((EUID == 0)) || { echo "bench: must run as root (tmpfs, a store)" >&2; exit 1; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
source scripts/env.sh
scripts/install-deps.sh
cargo build --release --quiet --locked -p berth-images
CH02=${CARGO_TARGET_DIR:-$REPO/target}/release/ch02

tmp=$(mktemp -d /tmp/berth-bench-unpack.XXXXXX)
cleanup() {
    set +e  # Undo everything, whatever fails: a failing step must not skip the rest.
    mountpoint -q "$tmp/fs" && umount "$tmp/fs"
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/fs"
mount -t tmpfs -o size=4g berth-bench "$tmp/fs"

layout=$tmp/fs/image
source scripts/bench/lib/big-image.sh
make_big_image "$layout" "$tmp/fs/work"
mapfile -t layers < <(big_image_layers "$layout")
du -sh "$layout" | sed 's/^/compressed image: /'

python3 - "$RUNS" "$CH02" "$tmp/fs" "$layout" "${layers[@]}" <<'EOF'
import os, shutil, statistics, subprocess, sys, time
runs, ch02, fs, layout, layers = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]

def ch02_load():
    store = f"{fs}/store"
    start = time.perf_counter()
    subprocess.run([ch02, "--root", store, "load", "-i", layout], check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    shutil.rmtree(store)
    return elapsed

def tar_each():
    out = f"{fs}/tar"
    start = time.perf_counter()
    for i, layer in enumerate(layers):
        os.makedirs(f"{out}/{i}")
        subprocess.run(["tar", "-xzf", layer, "-C", f"{out}/{i}"], check=True)
    elapsed = time.perf_counter() - start
    shutil.rmtree(out)
    return elapsed

results = {"ch02 load": [], "tar -xzf, layer after layer": []}
for _ in range(runs):
    results["ch02 load"].append(ch02_load())
    results["tar -xzf, layer after layer"].append(tar_each())
print(f"\nloading a 5-layer image, {runs} runs each, on tmpfs, {os.cpu_count()} CPUs")
for name, ts in results.items():
    print(f"  {name:<30}{statistics.median(ts) * 1000:>8.0f} ms median  (min {min(ts) * 1000:.0f})")
ratio = statistics.median(results["ch02 load"]) / statistics.median(results["tar -xzf, layer after layer"])
print(f"\nratio ch02 / tar: {ratio:.2f}; target: no slower than tar -xzf layer after layer: "
      f"{'PASS' if ratio <= 1.0 else 'FAIL'}")
EOF
