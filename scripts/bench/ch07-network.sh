#!/usr/bin/env bash
# Benchmark: what chapter 7's network set-up and teardown add to a container's life.
#
#   docker run --rm busybox true                    berthd's default bridge network: a veth
#                                                   pair, an address, a route, /etc files
#   docker run --rm --network none busybox true     only lo (the /etc files are still written)
#   docker run --rm -p 80 busybox true              the bridge, plus a published port: a host
#                                                   port chosen, DNAT rules in and out of the
#                                                   firewall, the proxy in the monitor
#
# interleaved in one run (so all see the same machine load), medians printed with their
# difference; the target (issue 16) is at most 5 ms. berthd runs in a network namespace the
# script makes (`ip netns add berth-bench-net-<pid>`), so the host's network is never changed;
# everything is removed on exit, also on failure.
#
# Usage: scripts/bench/ch07-network.sh [--runs N]   (default 30 runs of each)
# BIN (default target/release, else target/debug) is where berthd and ch07 are.
set -euo pipefail
RUNS=${BENCH_RUNS:-30}
while (($#)); do
    case $1 in
        --runs) RUNS=${2:-}; shift 2 ;;
        *) echo "bench: unknown argument $1 (usage: $0 [--runs N])" >&2; exit 2 ;;
    esac
done
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 2 ]] || { echo "bench: --runs needs a number >= 2" >&2; exit 2; }
((EUID == 0)) || { echo "bench: must run as root" >&2; exit 1; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
BIN=${BIN:-}
if [[ -z $BIN ]]; then
    BIN=target/release
    [[ -x $BIN/berthd && -x $BIN/ch07 ]] || BIN=target/debug
fi
[[ -x $BIN/berthd && -x $BIN/ch07 ]] || { echo "bench: build berthd and ch07 first (cargo build -p berth -p berth-network)" >&2; exit 1; }
DOCKER=${DOCKER:-/usr/local/bin/docker}
FIXTURES=${BERTH_FIXTURES:-/var/cache/berth/fixtures}

tmp=$(mktemp -d /tmp/berth-bench-net.XXXXXX)
netns=berth-bench-net-$$
daemon_pid=
cleanup() {
    if [[ -n $daemon_pid ]]; then
        DOCKER_HOST=unix://$tmp/berthd.sock "$DOCKER" rm -f $(DOCKER_HOST=unix://$tmp/berthd.sock "$DOCKER" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
        kill -TERM "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    ip netns delete "$netns" 2>/dev/null || true
    rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

ip netns add "$netns"
# nsenter --net, not `ip netns exec`: the latter mounts a new /sys and hides the cgroups.
in_ns() { nsenter --net="/run/netns/$netns" -- "$@"; }
in_ns ip link set lo up
"$BIN/ch07" --root "$tmp/root" load -i "$FIXTURES/images/busybox-oci" >/dev/null
in_ns "$BIN/berthd" --data-root "$tmp/root" -H "unix://$tmp/berthd.sock" --bip 10.199.0.1/24 \
    >"$tmp/berthd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 300); do
    curl -sf --unix-socket "$tmp/berthd.sock" http://d/_ping >/dev/null 2>&1 && break
    sleep 0.05
done
export DOCKER_HOST=unix://$tmp/berthd.sock DOCKER_CONFIG=$tmp/docker-config DOCKER_CLI_HINTS=false

# One warm-up of each, then interleaved timed runs.
"$DOCKER" run --rm busybox true
"$DOCKER" run --rm --network none busybox true
"$DOCKER" run --rm -p 80 busybox true
# The load is part of the figure: on a shared machine the difference between the two lines
# is mostly the kernel's work on other CPUs' time (a veth's namespace is torn down by a
# kernel worker) waiting for a core, so print it with the medians.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$tmp/bridge.ms"
: >"$tmp/none.ms"
: >"$tmp/publish.ms"
ms() { local a b; a=$(date +%s%N); "$@" >/dev/null; b=$(date +%s%N); echo $(((b - a) / 1000)); }
for _ in $(seq "$RUNS"); do
    ms "$DOCKER" run --rm busybox true >>"$tmp/bridge.ms"
    ms "$DOCKER" run --rm --network none busybox true >>"$tmp/none.ms"
    ms "$DOCKER" run --rm -p 80 busybox true >>"$tmp/publish.ms"
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f", m / 1000 }'; }
bridge=$(median "$tmp/bridge.ms")
none=$(median "$tmp/none.ms")
publish=$(median "$tmp/publish.ms")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
echo "berthd ($BIN), $RUNS interleaved runs each, medians (load average $load_before before, $load_after after, $(nproc) cores):"
echo "  docker run --rm busybox true                   $bridge ms"
echo "  docker run --rm --network none busybox true    $none ms"
echo "  docker run --rm -p 80 busybox true             $publish ms"
awk -v b="$bridge" -v n="$none" 'BEGIN { printf "  network set-up and teardown add                %.1f ms (target: at most 5 ms)\n", b - n }'
awk -v p="$publish" -v b="$bridge" 'BEGIN { printf "  a published port adds                          %.1f ms more\n", p - b }'
rules=$(in_ns nft list table ip berth 2>/dev/null | grep -c 'dnat to' || true)
echo "  DNAT rules left: $rules"
# The kernel deletes a namespace's devices after its last process is gone, on a worker of its
# own: the last container's pair may take a moment to go.
for _ in $(seq 50); do
    left=$(in_ns ip -o link | grep -c ': veth' || true)
    ((left == 0)) && break
    sleep 0.1
done
echo "  veths left in the namespace: $left"
