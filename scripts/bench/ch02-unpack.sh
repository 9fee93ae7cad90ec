#!/usr/bin/env bash
# Benchmark: loading a large multi-layer image, side by side with GNU tar and dockerd, on a disk
# and on tmpfs.
#
#   ch02 load       ch02 --root STORE load -i LAYOUT: for each layer, in parallel, one pass
#                   that hashes the blob, decompresses, hashes the tar and unpacks it; then the
#                   store's bookkeeping (records, names, syncfs)
#   ch02 load (archive)   the same image as a `docker save` archive (layers uncompressed)
#   dockerd: docker load  that archive, loaded by Debian's dockerd 20.10 (overlay2) through the
#                   docker CLI, then `docker rmi -f` (untimed); berthd does not serve
#                   `docker load` yet
#   tar -xzf        for each layer in turn: mkdir DIR; tar -xzf LAYER -C DIR
#
# The image (made once per run with GNU tar and gzip) has 5 gzip layers, about 300 MB
# unpacked, 20,000 files: many small text files and some large binary ones, read from a tmpfs.
# Both sides write to a fresh directory under DATA_ROOT (default /var/tmp; the disk users keep
# their stores on) and to a tmpfs this script mounts (the extra column), taking turns; each
# removal is followed by a sync, untimed. dockerd runs in a network namespace of this run's own
# (lib/netns.sh). Prints medians and the ratios; target: ch02 load no slower than tar -xzf run
# layer after layer, on both, and no slower than dockerd's docker load of the same archive.
#
# Usage: scripts/bench/ch02-unpack.sh [--runs N] [--data-root DIR]   (default 5 runs). Never
# fails on a timing; removes everything it made on exit.
set -euo pipefail
ARGS=("$@")
RUNS=${BENCH_RUNS:-5}
DATA_ROOT=/var/tmp
while (($#)); do
    case $1 in
        --runs) RUNS=${2:-}; shift 2 ;;
        --data-root) DATA_ROOT=${2:-}; shift 2 ;;
        *) echo "bench: unknown argument $1 (usage: $0 [--runs N] [--data-root DIR])" >&2; exit 2 ;;
    esac
done
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 ]] || { echo "bench: --runs needs a number" >&2; exit 2; }
[[ -d $DATA_ROOT ]] || { echo "bench: --data-root $DATA_ROOT is not a directory" >&2; exit 2; }
((EUID == 0)) || { echo "bench: must run as root (tmpfs, a store)" >&2; exit 1; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
source scripts/env.sh
scripts/install-deps.sh
cargo build --release --quiet --locked -p berth-images
CH02=${CARGO_TARGET_DIR:-$REPO/target}/release/ch02
DOCKER=/usr/local/bin/docker
[[ -x $DOCKER ]] || DOCKER=$(command -v docker)
source scripts/bench/lib/netns.sh
in_private_netns "$REPO/scripts/bench/ch02-unpack.sh" "${ARGS[@]}"

tmp=$(mktemp -d /tmp/berth-bench-unpack.XXXXXX)
disk=$(mktemp -d "$DATA_ROOT/berth-bench-unpack.XXXXXX")
daemon_pids=()
cleanup() {
    set +e  # Undo everything, whatever fails: a failing step must not skip the rest.
    for pid in "${daemon_pids[@]}"; do stop_pid "$pid"; done
    for dir in "$tmp" "$disk"; do unmount_under "$dir"; done
    rm -rf "$tmp" "$disk"
}
trap cleanup EXIT
mkdir "$tmp/fs"
mount -t tmpfs -o size=4g berth-bench "$tmp/fs"

layout=$tmp/fs/image
source scripts/bench/lib/big-image.sh
make_big_image "$layout" "$tmp/fs/work"
mapfile -t layers < <(big_image_layers "$layout")
du -sh "$layout" | sed 's/^/compressed image: /'
archive=$tmp/fs/image.tar
skopeo copy -q "oci:$layout:big:latest" "docker-archive:$archive:bench/big:latest"

# One dockerd per filesystem (lib/daemons.sh).
BIN=
source scripts/bench/lib/daemons.sh
start_dockerd dockerd-disk "$disk/dockerd"; daemon_pids+=("$daemon_pid")
start_dockerd dockerd-tmpfs "$tmp/fs/dockerd"; daemon_pids+=("$daemon_pid")

disk_fs=$(findmnt -n -o FSTYPE -T "$disk")
python3 - "$RUNS" "$CH02" "$disk" "$tmp/fs" "$disk_fs" "$layout" "$archive" "$DOCKER" "$tmp" "${layers[@]}" <<'EOF'
import os, shutil, statistics, subprocess, sys, time
runs, ch02, disk, tmpfs, disk_fs, layout, archive, docker, tmp = sys.argv[1:10]
runs, layers = int(runs), sys.argv[10:]
roots = {f"disk ({disk_fs})": disk, "tmpfs": tmpfs}
sockets = {disk: "dockerd-disk", tmpfs: "dockerd-tmpfs"}

def removed(path):
    shutil.rmtree(path)
    subprocess.run(["sync", "-f", os.path.dirname(path)])

def ch02_load(fs, source=layout):
    store = f"{fs}/store"
    start = time.perf_counter()
    subprocess.run([ch02, "--root", store, "load", "-i", source], check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    removed(store)
    return elapsed

def dockerd_load(fs):
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp}/{sockets[fs]}.sock",
               DOCKER_CONFIG=f"{tmp}/docker-config", DOCKER_CLI_HINTS="false")
    start = time.perf_counter()
    subprocess.run([docker, "load", "-q", "-i", archive], check=True, env=env, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    subprocess.run([docker, "rmi", "-f", "bench/big:latest"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["sync", "-f", fs])
    return elapsed

def tar_each(fs):
    out = f"{fs}/tar"
    start = time.perf_counter()
    for i, layer in enumerate(layers):
        os.makedirs(f"{out}/{i}")
        subprocess.run(["tar", "-xzf", layer, "-C", f"{out}/{i}"], check=True)
    elapsed = time.perf_counter() - start
    removed(out)
    return elapsed

contenders = {"ch02 load": ch02_load,
              "ch02 load (archive)": lambda fs: ch02_load(fs, archive),
              "dockerd: docker load": dockerd_load,
              "tar -xzf, layer after layer": tar_each}
results = {(name, fs): [] for name in contenders for fs in roots}
for _ in range(runs):
    for fs, root in roots.items():
        for name, load in contenders.items():
            results[(name, fs)].append(load(root))
print(f"\nloading a 5-layer, 20,000-file image, {runs} interleaved runs each, {os.cpu_count()} CPUs")
for (name, fs), ts in results.items():
    print(f"  {name:<30}{fs:<14}{statistics.median(ts) * 1000:>8.0f} ms median  (min {min(ts) * 1000:.0f})")
print()
for fs in roots:
    ratio = (statistics.median(results[("ch02 load", fs)])
             / statistics.median(results[("tar -xzf, layer after layer", fs)]))
    print(f"ratio ch02 / tar on {fs}: {ratio:.2f}; target: no slower than tar -xzf layer after "
          f"layer: {'PASS' if ratio <= 1.0 else 'FAIL'}")
    ratio = (statistics.median(results[("ch02 load (archive)", fs)])
             / statistics.median(results[("dockerd: docker load", fs)]))
    print(f"ratio ch02 / dockerd (the same archive) on {fs}: {ratio:.2f}; target: no slower than "
          f"dockerd: {'PASS' if ratio <= 1.0 else 'FAIL'}")
EOF
