#!/usr/bin/env bash
# Benchmark: two builds of berthd side by side, to tell whether a change made the engine slower
# or bigger (the one-engine issue asked for "within 5% of today's time, idle memory at or under
# today's, measured before and after in one interleaved run"):
#
#   idle memory   each berthd started afresh ROUNDS times, A and B alternately: the PSS of
#                 berthd + its monitor zygote half a second after it answers _ping (RSS too)
#   docker run    `docker run --rm busybox /bin/true` through A and B, interleaved A B B A ...
#                 after a warm-up each; medians and the ratio B / A
#
# Build the two binaries first, e.g. the current tree and a commit in a worktree of its own:
#   git worktree add /tmp/before <commit> && (cd /tmp/before && cargo build --release -p berth)
#   cargo build --release -p berth
#   sudo scripts/bench/engine-ab.sh /tmp/before/target/release/berthd target/release/berthd
#
# Usage: scripts/bench/engine-ab.sh [--runs N] [--rounds N] BERTHD_A BERTHD_B (default 40 runs,
# 10 rounds). Never fails on a timing; stops both daemons and removes everything on exit.
set -euo pipefail
RUNS=40 ROUNDS=10
while [[ ${1:-} == --* ]]; do
    case $1 in
        --runs) RUNS=${2:-}; shift 2 ;;
        --rounds) ROUNDS=${2:-}; shift 2 ;;
        *) echo "bench: unknown argument $1" >&2; exit 2 ;;
    esac
done
(($# == 2)) || { echo "usage: $0 [--runs N] [--rounds N] BERTHD_A BERTHD_B" >&2; exit 2; }
[[ $RUNS =~ ^[0-9]+$ && $ROUNDS =~ ^[0-9]+$ ]] || { echo "bench: --runs/--rounds need numbers" >&2; exit 2; }
((EUID == 0)) || { echo "bench: must run as root" >&2; exit 1; }
A=$(realpath "$1") B=$(realpath "$2")
for bin in "$A" "$B"; do [[ -x $bin ]] || { echo "bench: $bin is not an executable" >&2; exit 2; }; done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$REPO/scripts/bench/lib/daemons.sh"
DOCKER=/usr/local/bin/docker; [[ -x $DOCKER ]] || DOCKER=$(command -v docker)
FIXTURES=${BERTH_FIXTURES:-/var/cache/berth/fixtures}
# On the data root's real disk, not /tmp (which may be tmpfs).
tmp=$(mktemp -d /var/tmp/berth-bench-ab.XXXXXX)
registry_pid= pid_a= pid_b=
cleanup() {
    set +e
    stop_pid "$pid_a"; stop_pid "$pid_b"; stop_pid "$registry_pid"
    unmount_under "$tmp"
    rm -rf "$tmp"
}
trap cleanup EXIT
# start_berthd runs $BIN/berthd: give each build a directory of its own with that name.
mkdir -p "$tmp/bin-a" "$tmp/bin-b"
ln -s "$A" "$tmp/bin-a/berthd"
ln -s "$B" "$tmp/bin-b/berthd"

echo "A: $A"
echo "B: $B"
echo "== idle memory: berthd + zygote, $ROUNDS fresh starts each, alternately"
declare -A pss rss
for round in $(seq "$ROUNDS"); do
    for n in a b; do
        BIN=$tmp/bin-$n
        start_berthd "idle-$n$round" "$tmp/idle-$n$round"
        sleep 0.5
        procs="$daemon_pid $(children_named "$daemon_pid" berthd || true)"
        pss[$n]+=" $(pss_kb $procs)"; rss[$n]+=" $(rss_kb $procs)"
        stop_pid "$daemon_pid" || true  # (its last kill fails when it is already gone)
    done
done
for n in a b; do
    python3 -c 'import statistics, sys; p = [int(x) for x in sys.argv[2].split()]; r = [int(x) for x in sys.argv[3].split()]
print(f"{sys.argv[1].upper()}: PSS mean {statistics.mean(p):.0f} kB, median {statistics.median(p):.0f} kB; RSS mean {statistics.mean(r):.0f} kB")' \
        "$n" "${pss[$n]}" "${rss[$n]}"
done

echo "== docker run --rm busybox /bin/true, $RUNS runs each, interleaved"
start_registry "$tmp/registry"
REF=127.0.0.1:$port/library/busybox:latest
skopeo --insecure-policy copy -q --dest-tls-verify=false \
    "oci:$FIXTURES/images/busybox-oci:busybox:latest" "docker://$REF"
BIN=$tmp/bin-a; start_berthd run-a "$tmp/run-a"; pid_a=$daemon_pid
BIN=$tmp/bin-b; start_berthd run-b "$tmp/run-b"; pid_b=$daemon_pid
for n in a b; do
    DOCKER_HOST=unix://$tmp/run-$n.sock DOCKER_CONFIG=$tmp/dc "$DOCKER" pull -q "$REF" >/dev/null
done
python3 - "$RUNS" "$DOCKER" "$tmp" "$REF" <<'PY'
import os, statistics, subprocess, sys, time
runs, docker, tmp, ref = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def env(n):
    return dict(os.environ, DOCKER_HOST=f"unix://{tmp}/run-{n}.sock", DOCKER_CONFIG=f"{tmp}/dc")
def run(n):
    subprocess.run([docker, "run", "--rm", ref, "/bin/true"], env=env(n), check=True,
                   stdout=subprocess.DEVNULL)
times = {"a": [], "b": []}
for n in "ab":
    run(n)  # warm-up
for i in range(runs):
    for n in ("ab" if i % 2 == 0 else "ba"):
        start = time.perf_counter()
        run(n)
        times[n].append((time.perf_counter() - start) * 1000)
for n in "ab":
    print(f"{n.upper()}: median {statistics.median(times[n]):.1f} ms, "
          f"mean {statistics.mean(times[n]):.1f} ms, min {min(times[n]):.1f} ms")
print(f"B / A (median): {statistics.median(times['b']) / statistics.median(times['a']):.3f}")
PY
