#!/usr/bin/env bash
# Benchmark: what an image costs at container start. Times, side by side in one run,
#
#   ch01            ch01 run --rootfs DIR -- /bin/true      a plain directory, chapter 1
#   ch02 --rm       ch02 run --rm busybox /bin/true         create the container (record,
#                                                           upper and work dirs), mount the
#                                                           overlay, run, remove it all
#
# and prints the medians and the difference: the cost of a container's overlay (create, mount,
# remove). Target: under 5 ms. Usage: scripts/bench/ch02-overlay.sh [--runs N]   (default 200)
# Never fails on a timing; cleans up its store and copies on exit.
set -euo pipefail
RUNS=${BENCH_RUNS:-200}
[[ ${1:-} == --runs ]] && RUNS=$2
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 2 ]] || { echo "bench: --runs needs a number >= 2" >&2; exit 2; }
((EUID == 0)) || { echo "bench: must run as root" >&2; exit 1; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
source scripts/env.sh
bash scripts/fixtures.sh
cargo build --release --quiet --locked -p berth-namespaces -p berth-images
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
FIXTURES=${BERTH_FIXTURES:-/var/cache/berth/fixtures}

tmp=$(mktemp -d /tmp/berth-bench-ch02.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$BIN/ch02" --root "$tmp/store" load -i "$FIXTURES/images/busybox-oci" >/dev/null
cp -a "$FIXTURES/busybox-rootfs" "$tmp/rootfs"

python3 - "$RUNS" "$BIN" "$tmp" <<'EOF'
import statistics, subprocess, sys, time
runs, bin_dir, tmp = int(sys.argv[1]), sys.argv[2], sys.argv[3]
commands = {
    "ch01 (plain dir)": [f"{bin_dir}/ch01", "run", "--rootfs", f"{tmp}/rootfs", "--", "/bin/true"],
    "ch02 run --rm": [f"{bin_dir}/ch02", "--root", f"{tmp}/store", "run", "--rm", "busybox", "/bin/true"],
}
times = {name: [] for name in commands}
for round in range(runs + 5):
    for name, argv in commands.items():
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        if round >= 5:
            times[name].append((time.perf_counter() - start) * 1000)
print(f"container start of /bin/true, {runs} runs each, interleaved")
print(f"{'command':<20}{'median ms':>10}{'p10':>8}{'p90':>8}")
medians = {}
for name, ts in times.items():
    q = statistics.quantiles(ts, n=10)
    medians[name] = statistics.median(ts)
    print(f"{name:<20}{medians[name]:>10.2f}{q[0]:>8.2f}{q[8]:>8.2f}")
overhead = medians["ch02 run --rm"] - medians["ch01 (plain dir)"]
ratio = medians["ch02 run --rm"] / medians["ch01 (plain dir)"]
print(f"\noverlay create + mount + remove: {overhead:.2f} ms (ratio {ratio:.2f}x); "
      f"target under 5 ms: {'PASS' if overhead < 5 else 'FAIL'}")
EOF
