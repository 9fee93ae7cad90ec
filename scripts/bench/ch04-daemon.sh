#!/usr/bin/env bash
# Benchmark: what the daemon adds to a container's run, side by side in one run:
#
#   ch03 run --rm busybox /bin/true     no daemon: the CLI runs the container itself
#   ch04 run --rm busybox /bin/true     through the daemon: create, start (a monitor process),
#                                       follow logs, wait, remove: five HTTP requests
#   podman run --rm busybox /bin/true   Debian's podman 4.3, with and without a network
#
# and the daemon's resident memory when idle, before and after the runs (dockerd and
# containerd idle at about 110 MB here). Targets (issue 5): the daemon adds under 5 ms to a
# run; idle RSS under 10 MB. Usage: scripts/bench/ch04-daemon.sh [--runs N] (default 100).
# Never fails on a timing; removes its store, socket, daemon and podman state on exit.
set -euo pipefail
RUNS=${BENCH_RUNS:-100}
[[ ${1:-} == --runs ]] && RUNS=$2
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 2 ]] || { echo "bench: --runs needs a number >= 2" >&2; exit 2; }
((EUID == 0)) || { echo "bench: must run as root" >&2; exit 1; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
source scripts/env.sh
scripts/install-deps.sh
bash scripts/fixtures.sh
cargo build --release --quiet --locked -p berth-registry -p berth-daemon
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
FIXTURES=${BERTH_FIXTURES:-/var/cache/berth/fixtures}

tmp=$(mktemp -d /tmp/berth-bench-daemon.XXXXXX)
daemon_pid=
cleanup() {
    set +e  # Undo everything, whatever fails: a failing step must not skip the rest.
    [[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
"$BIN/ch03" --root "$tmp/ch03" load -i "$FIXTURES/images/busybox-oci" >/dev/null
"$BIN/ch03" --root "$tmp/ch04" load -i "$FIXTURES/images/busybox-oci" >/dev/null
"$BIN/ch04" daemon --root "$tmp/ch04" --socket "$tmp/ch04.sock" 2>/dev/null &
daemon_pid=$!
for _ in $(seq 100); do [[ -S $tmp/ch04.sock ]] && break; sleep 0.05; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$daemon_pid/status"; }
idle_before=$(rss)

podman_ok=
if command -v podman >/dev/null; then
    cat > "$tmp/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
EOF
    export CONTAINERS_CONF=$tmp/containers.conf
    P=(podman --root "$tmp/podman" --runroot "$tmp/podman-run" --storage-driver overlay)
    if "${P[@]}" load -q -i "$FIXTURES/images/busybox.tar" >/dev/null 2>&1 &&
       "${P[@]}" run --rm --network none busybox /bin/true >/dev/null 2>&1; then
        podman_ok=1
    fi
fi

python3 - "$RUNS" "$BIN" "$tmp" "${podman_ok:-}" <<'EOF'
import os, statistics, subprocess, sys, time
runs, bin_dir, tmp, podman_ok = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
commands = {
    "ch03 run --rm (no daemon)": [f"{bin_dir}/ch03", "--root", f"{tmp}/ch03", "run", "--rm", "busybox", "/bin/true"],
    "ch04 run --rm (daemon)": [f"{bin_dir}/ch04", "-H", f"unix://{tmp}/ch04.sock", "run", "--rm", "busybox", "/bin/true"],
}
if podman_ok:
    p = ["podman", "--root", f"{tmp}/podman", "--runroot", f"{tmp}/podman-run", "--storage-driver", "overlay", "run", "--rm"]
    commands["podman run --rm --network none"] = p + ["--network", "none", "busybox", "/bin/true"]
    commands["podman run --rm"] = p + ["busybox", "/bin/true"]
times = {name: [] for name in commands}
for round in range(runs + 3):
    for name, argv in commands.items():
        if name.startswith("podman") and round % 5:
            continue  # podman is slow: a fifth as many runs
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if round >= 3:
            times[name].append((time.perf_counter() - start) * 1000)
print(f"\n{'command':<34}{'median ms':>10}{'runs':>6}")
med = {}
for name, ts in times.items():
    med[name] = statistics.median(ts)
    print(f"{name:<34}{med[name]:>10.2f}{len(ts):>6}")
added = med["ch04 run --rm (daemon)"] - med["ch03 run --rm (no daemon)"]
print(f"\nthe daemon adds {added:.2f} ms to a run; target under 5 ms: {'PASS' if added < 5 else 'FAIL'}")
for name in commands:
    if name.startswith("podman"):
        print(f"{name}: ch04 is {med[name] / med['ch04 run --rm (daemon)']:.1f}x faster")
EOF
idle_after=$(rss)
echo "daemon idle RSS: ${idle_before} kB at start, ${idle_after} kB after the runs; target under 10 MB (10240 kB): $([[ $idle_after -lt 10240 ]] && echo PASS || echo FAIL)"
