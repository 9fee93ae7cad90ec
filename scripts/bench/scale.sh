#!/usr/bin/env bash
# Benchmark: 200 running containers, under berthd and under dockerd, in one run.
#
#   at 0 running, then at N running (default 200, `busybox sleep` each):
#     docker ps                          the docker CLI 28, listing, against each daemon
#     docker run --rm busybox true       against each daemon (dockerd: --network none, started
#                                        with --iptables=false --bridge=none so the host's
#                                        network is left alone)
#   and the memory each engine needs for them, as PSS (a page shared by k processes counts
#   1/k): berthd with its monitor zygote and one monitor per container (every process running
#   berthd's binary); dockerd with containerd and one containerd-shim per container.
#
# The two daemons take turns for every latency figure (A B A B ...); the containers of both are
# running during the second half. Images come from one local registry (docker-registry on a
# loopback port, seeded with skopeo from the busybox fixture). Prints medians and the targets
# (issue 13): at N running, `docker run --rm` within 10% of its latency at 0; at most 0.5 MB PSS
# per running container; `docker run --rm` through berthd at most 1.5x the CLI's floor
# (`docker ps -q` against berthd).
#
# Usage: scripts/bench/scale.sh [--containers N] [--runs N] [--data-root DIR]
#   (default 200 containers, 20 runs per figure, data roots under /var/tmp). A benchmark, never
#   a test: never fails on a figure. Stops every container and daemon it started, by pid, and
#   removes everything it made on exit.
set -euo pipefail
COUNT=200
RUNS=${BENCH_RUNS:-20}
DATA_ROOT=/var/tmp
while (($#)); do
    case $1 in
        --containers) COUNT=${2:-}; shift 2 ;;
        --runs) RUNS=${2:-}; shift 2 ;;
        --data-root) DATA_ROOT=${2:-}; shift 2 ;;
        *) echo "bench: unknown argument $1 (usage: $0 [--containers N] [--runs N] [--data-root DIR])" >&2; exit 2 ;;
    esac
done
[[ $COUNT =~ ^[0-9]+$ && $COUNT -ge 1 ]] || { echo "bench: --containers needs a number" >&2; exit 2; }
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 2 ]] || { echo "bench: --runs needs a number >= 2" >&2; exit 2; }
[[ -d $DATA_ROOT ]] || { echo "bench: --data-root $DATA_ROOT is not a directory" >&2; exit 2; }
((EUID == 0)) || { echo "bench: must run as root" >&2; exit 1; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
source scripts/env.sh
scripts/install-deps.sh
bash scripts/fixtures.sh
if ! dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q "install ok installed"; then
    echo "bench: installing docker.io (for this benchmark only)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
DOCKER=/usr/local/bin/docker
[[ -x $DOCKER ]] || DOCKER=$(command -v docker)
cargo build --release --quiet --locked -p berth --bins
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
FIXTURES=${BERTH_FIXTURES:-/var/cache/berth/fixtures}

tmp=$(mktemp -d /tmp/berth-bench-scale.XXXXXX)
roots=$(mktemp -d "$DATA_ROOT/berth-bench-scale.XXXXXX")
registry_pid= berthd_pid= dockerd_pid=
source scripts/bench/lib/daemons.sh
cleanup() {
    set +e  # Undo everything, whatever fails: a failing step must not skip the rest.
    for sock in berthd dockerd; do
        [[ -S $tmp/$sock.sock ]] || continue
        ids=$(DOCKER_HOST=unix://$tmp/$sock.sock DOCKER_CONFIG=$tmp/docker-config "$DOCKER" ps -aq 2>/dev/null)
        # shellcheck disable=SC2086 # a list of ids
        [[ -n $ids ]] && DOCKER_HOST=unix://$tmp/$sock.sock DOCKER_CONFIG=$tmp/docker-config \
            "$DOCKER" rm -f $ids >/dev/null 2>&1
    done
    stop_pid "$berthd_pid"
    stop_pid "$dockerd_pid"
    stop_pid "$registry_pid"
    # Whatever is left (monitors outlive a daemon by design): every process whose command
    # line names our directories, by pid.
    for pid in $(grep -l -s -e "$tmp" -e "$roots" /proc/[0-9]*/cmdline | cut -d/ -f3); do
        kill -9 "$pid" 2>/dev/null
    done
    for dir in "$tmp" "$roots"; do
        unmount_under "$dir"
    done
    rm -rf "$tmp" "$roots"
}
trap cleanup EXIT

start_registry "$tmp/registry"
REF=127.0.0.1:$port/library/busybox:latest
skopeo --insecure-policy copy -q --dest-tls-verify=false \
    "oci:$FIXTURES/images/busybox-oci:busybox:latest" "docker://$REF"

start_berthd berthd "$roots/berthd"
berthd_pid=$daemon_pid
start_dockerd dockerd "$roots/dockerd"
dockerd_pid=$daemon_pid
for sock in berthd dockerd; do
    DOCKER_HOST=unix://$tmp/$sock.sock DOCKER_CONFIG=$tmp/docker-config "$DOCKER" pull -q "$REF" >/dev/null
done

# The processes whose memory counts, one pid a line.
berthd_processes() {  # every process running berthd's binary: daemon, zygote, monitors
    local exe
    exe=$(readlink -f "$BIN/berthd")
    for pid in $(ps -e -o pid=); do
        [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$exe" ]] && echo "$pid"
    done
}
dockerd_processes() {  # dockerd, its containerd, and the shims
    local main
    main=$(children_named "$dockerd_pid" dockerd)
    echo "$main"
    children_named "$main" containerd
    ps -e -o pid=,comm= | awk '$2 ~ /^containerd-shim/ {print $1}' | while read -r pid; do
        grep -q -s "$tmp" "/proc/$pid/cmdline" && echo "$pid"
    done
}
memory() {  # NAME: "PSS_KB PROCESSES"
    local pids
    mapfile -t pids < <("${1}_processes")
    echo "$(pss_kb "${pids[@]}") ${#pids[@]}"
}

latencies() {  # LABEL: both daemons in turn, RUNS times, medians to $tmp/latency-LABEL.json
    python3 - "$RUNS" "$DOCKER" "$tmp" "$REF" "$1" <<'EOF'
import json, os, statistics, subprocess, sys, time
runs, docker, tmp, ref, label = sys.argv[1:6]
def env(sock):
    return dict(os.environ, DOCKER_HOST=f"unix://{tmp}/{sock}.sock",
                DOCKER_CONFIG=f"{tmp}/docker-config", DOCKER_CLI_HINTS="false")
commands = {
    "berthd: docker ps -q": ([docker, "ps", "-q"], env("berthd")),
    "berthd: docker ps": ([docker, "ps"], env("berthd")),
    "berthd: docker run --rm": ([docker, "run", "--rm", ref, "true"], env("berthd")),
    "dockerd: docker ps": ([docker, "ps"], env("dockerd")),
    "dockerd: docker run --rm": ([docker, "run", "--rm", "--network", "none", ref, "true"],
                                 env("dockerd")),
}
times = {name: [] for name in commands}
for round in range(int(runs) + 2):  # two warm-up rounds
    for name, (argv, e) in commands.items():
        start = time.perf_counter()
        subprocess.run(argv, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        if round >= 2:
            times[name].append((time.perf_counter() - start) * 1000)
json.dump({name: statistics.median(ts) for name, ts in times.items()},
          open(f"{tmp}/latency-{label}.json", "w"))
EOF
}

sleep 1
read -r berthd_mem0 berthd_procs0 < <(memory berthd)
read -r dockerd_mem0 dockerd_procs0 < <(memory dockerd)
latencies 0

echo "bench: starting $COUNT containers under each daemon..." >&2
for sock in berthd dockerd; do
    extra=()
    [[ $sock == dockerd ]] && extra=(--network none)
    for i in $(seq "$COUNT"); do
        DOCKER_HOST=unix://$tmp/$sock.sock DOCKER_CONFIG=$tmp/docker-config \
            "$DOCKER" run -d "${extra[@]}" --name "scale-$i" "$REF" sleep 100000 >/dev/null
    done
done
sleep 2
read -r berthd_mem1 berthd_procs1 < <(memory berthd)
read -r dockerd_mem1 dockerd_procs1 < <(memory dockerd)
running_b=$(DOCKER_HOST=unix://$tmp/berthd.sock DOCKER_CONFIG=$tmp/docker-config "$DOCKER" ps -q | wc -l)
running_d=$(DOCKER_HOST=unix://$tmp/dockerd.sock DOCKER_CONFIG=$tmp/docker-config "$DOCKER" ps -q | wc -l)
latencies "$COUNT"

python3 - "$tmp" "$COUNT" "$RUNS" "$running_b" "$running_d" \
    "$berthd_mem0" "$berthd_procs0" "$berthd_mem1" "$berthd_procs1" \
    "$dockerd_mem0" "$dockerd_procs0" "$dockerd_mem1" "$dockerd_procs1" <<'EOF'
import json, sys
tmp, count, runs, running_b, running_d = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
bm0, bp0, bm1, bp1, dm0, dp0, dm1, dp1 = map(int, sys.argv[6:14])
at0 = json.load(open(f"{tmp}/latency-0.json"))
atn = json.load(open(f"{tmp}/latency-{count}.json"))
print(f"\n{count} running containers (busybox sleep); running now: berthd {running_b}, dockerd {running_d}")
print(f"latency, median of {runs} interleaved runs each:")
print(f"  {'':<28}{'at 0':>10}{f'at {count}':>10}{'change':>9}")
for name in at0:
    a, b = at0[name], atn[name]
    print(f"  {name:<28}{a:>8.1f}ms{b:>8.1f}ms{(b / a - 1) * 100:>+8.0f}%")
print("memory, PSS (a page shared by k processes counts 1/k):")
for name, m0, p0, m1, p1 in (("berthd + zygote + monitors", bm0, bp0, bm1, bp1),
                             ("dockerd + containerd + shims", dm0, dp0, dm1, dp1)):
    per = (m1 - m0) / count / 1024
    print(f"  {name:<30} at 0: {m0 / 1024:6.1f} MB ({p0} processes); at {count}: "
          f"{m1 / 1024:7.1f} MB ({p1} processes); {per:.2f} MB per container")
def target(label, ok, figure):
    print(f"target: {label}: {'PASS' if ok else 'FAIL'} ({figure})")
print()
run0, runn = at0["berthd: docker run --rm"], atn["berthd: docker run --rm"]
target(f"berthd docker run --rm at {count} running within 10% of at 0", runn <= run0 * 1.1,
       f"{(runn / run0 - 1) * 100:+.0f}%")
per = (bm1 - bm0) / count / 1024
target("at most 0.5 MB PSS per running container under berthd", per <= 0.5, f"{per:.2f} MB")
floor = at0["berthd: docker ps -q"]
target("berthd docker run --rm at most 1.5x the CLI floor (docker ps -q), at 0", run0 <= 1.5 * floor,
       f"{run0 / floor:.2f}x")
EOF
