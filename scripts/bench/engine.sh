#!/usr/bin/env bash
# Benchmark: the whole engine against the engines people use, same image, same machine, one run:
#
#   docker run --rm busybox /bin/true    the docker CLI 28 against berthd
#   docker run --rm busybox /bin/true    the same CLI against Debian's dockerd 20.10 + containerd
#                                        (`--network none`: started with --iptables=false
#                                        --bridge=none so the host's network is left alone)
#   podman run --rm busybox /bin/true    Debian's podman 4.3 (`--network none`)
#   berth run --rm busybox /bin/true     our own client against berthd
#
# and the idle resident memory of each daemon: berthd alone, dockerd + containerd. With
# --with-network, dockerd also runs with its default bridge and iptables rules, and podman with
# its default network; the script then restores net.ipv4.ip_forward, the FORWARD policy, and
# removes every iptables rule and chain, and the docker0 bridge, that dockerd added.
#
# Images reach every engine from one local registry (docker-registry on a loopback port,
# seeded with skopeo from the busybox fixture). Prints medians and ratios, then the targets
# (issue 6): the docker CLI ≥ 10x faster against berthd than against dockerd; `berth run --rm`
# under 15 ms; berthd idle memory under 10 MB (PSS of berthd and its monitor zygote; RSS printed too).
#
# Usage: scripts/bench/engine.sh [--runs N] [--with-network]   (default 50 runs). Never fails on
# a timing; stops every daemon it started by pid and removes everything it made on exit.
set -euo pipefail
RUNS=${BENCH_RUNS:-50}
WITH_NETWORK=
while (($#)); do
    case $1 in
        --runs) RUNS=${2:-}; shift 2 ;;
        --with-network) WITH_NETWORK=1; shift ;;
        *) echo "bench: unknown argument $1 (usage: $0 [--runs N] [--with-network])" >&2; exit 2 ;;
    esac
done
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 2 ]] || { echo "bench: --runs needs a number >= 2" >&2; exit 2; }
((EUID == 0)) || { echo "bench: must run as root" >&2; exit 1; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
source scripts/env.sh
scripts/install-deps.sh
bash scripts/fixtures.sh
for pkg in docker.io podman; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        echo "bench: installing $pkg (for this benchmark only)" >&2
        # policy-rc.d, if the machine has one, keeps the package from starting its service.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
    fi
done
DOCKER=/usr/local/bin/docker
[[ -x $DOCKER ]] || DOCKER=$(command -v docker)
cargo build --release --quiet --locked -p berth --bins
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
FIXTURES=${BERTH_FIXTURES:-/var/cache/berth/fixtures}

tmp=$(mktemp -d /tmp/berth-bench-engine.XXXXXX)
registry_pid= berthd_pid= dockerd_pid= dockerd_net_pid=
ip_forward_before=$(cat /proc/sys/net/ipv4/ip_forward)
forward_policy_before=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}')
docker0_before=$(ip link show docker0 >/dev/null 2>&1 && echo yes || true)
cni_podman0_before=$(ip link show cni-podman0 >/dev/null 2>&1 && echo yes || true)
cni_state_before=$([[ -e /var/lib/cni ]] && echo yes || true)

# stop_pid, wait_ping, pss_kb, rss_kb, children_named, start_registry, unmount_under.
source scripts/bench/lib/daemons.sh

# Removes the iptables rules and chains that a networked dockerd (DOCKER*) and podman's CNI
# plugins (CNI-*) added: first every rule of a built-in chain that jumps to one of them or
# names their bridge, then their chains, flushed and deleted.
remove_peer_iptables() {
    local table rule chain
    for table in filter nat; do
        iptables -t "$table" -S 2>/dev/null |
            grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*(DOCKER|CNI-|docker0|cni-podman0)' |
            while read -r rule; do
                # shellcheck disable=SC2086 # the rule is a list of words
                eval iptables -t "$table" ${rule/-A/-D} 2>/dev/null
            done
        for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(DOCKER|CNI-)/ {print $2}'); do
            iptables -t "$table" -F "$chain" 2>/dev/null
        done
        for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(DOCKER|CNI-)/ {print $2}'); do
            iptables -t "$table" -X "$chain" 2>/dev/null
        done
    done
}

cleanup() {
    set +e  # Undo everything, whatever fails: a failing step must not skip the rest.
    stop_pid "$berthd_pid"
    stop_pid "$dockerd_pid"
    stop_pid "$dockerd_net_pid"
    stop_pid "$registry_pid"
    if [[ -n ${P[*]:-} ]]; then
        "${P[@]}" rm -a -f >/dev/null 2>&1
    fi
    # Whatever is left: containers berthd left running (monitors outlive the daemon by
    # design), podman's conmon: every process whose command line names the directory.
    for pid in $(grep -l -s "$tmp" /proc/[0-9]*/cmdline | cut -d/ -f3); do
        kill -9 "$pid" 2>/dev/null
    done
    if [[ -n $WITH_NETWORK ]]; then
        remove_peer_iptables
        [[ -z $docker0_before ]] && ip link del docker0 2>/dev/null
        [[ -z $cni_podman0_before ]] && ip link del cni-podman0 2>/dev/null
        [[ -z $cni_state_before ]] && rm -rf /var/lib/cni  # podman's CNI address book
        [[ -n $forward_policy_before ]] && iptables -P FORWARD "$forward_policy_before" 2>/dev/null
        echo "$ip_forward_before" > /proc/sys/net/ipv4/ip_forward
    fi
    unmount_under "$tmp"
    rm -rf "$tmp"
}
trap cleanup EXIT

# The registry, on a free port, with busybox as Docker Hub names it.
start_registry "$tmp/registry"
REF=127.0.0.1:$port/library/busybox:latest
skopeo --insecure-policy copy -q --dest-tls-verify=false \
    "oci:$FIXTURES/images/busybox-oci:busybox:latest" "docker://$REF"

# berthd
# --bridge none: berthd never changes the host's network here (chapter 7 benchmarks its
# networking inside a namespace of its own).
"$BIN/berthd" --data-root "$tmp/berthd" -H "unix://$tmp/berthd.sock" --bridge none > "$tmp/berthd.log" 2>&1 &
berthd_pid=$!
wait_ping "$tmp/berthd.sock" berthd
DOCKER_HOST=unix://$tmp/berthd.sock DOCKER_CONFIG=$tmp/docker-config "$DOCKER" pull -q "$REF" >/dev/null

# dockerd, under docker-init (tini) as subreaper: the machine's PID 1 reaps exited shims late.
start_dockerd() {  # NAME EXTRA-FLAGS...
    local name=$1; shift
    docker-init -s -- dockerd --data-root "$tmp/$name" --exec-root "$tmp/$name-exec" \
        --pidfile "$tmp/$name.pid" -H "unix://$tmp/$name.sock" "$@" > "$tmp/$name.log" 2>&1 &
}
start_dockerd dockerd --iptables=false --ip-forward=false --ip-masq=false --bridge=none
dockerd_pid=$!
wait_ping "$tmp/dockerd.sock" dockerd
DOCKER_HOST=unix://$tmp/dockerd.sock DOCKER_CONFIG=$tmp/docker-config "$DOCKER" pull -q "$REF" >/dev/null
if [[ -n $WITH_NETWORK ]]; then
    start_dockerd dockerd-net
    dockerd_net_pid=$!
    wait_ping "$tmp/dockerd-net.sock" dockerd-net
    DOCKER_HOST=unix://$tmp/dockerd-net.sock DOCKER_CONFIG=$tmp/docker-config "$DOCKER" pull -q "$REF" >/dev/null
fi

# podman wants rlimits no process here may raise, and systemd, which is not here.
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
podman_ok=
if "${P[@]}" pull -q --tls-verify=false "$REF" >/dev/null 2>&1 &&
   "${P[@]}" run --rm --network none "$REF" /bin/true >/dev/null 2>&1; then
    podman_ok=1
else
    echo "bench: podman does not run here; left out" >&2
fi

# Idle memory, before any run: the daemon's own RSS (dockerd's with its containerd).
sleep 1
# berthd's footprint is the daemon and its monitor zygote (its child, forking each container's
# monitor), as dockerd's is dockerd and its containerd. The zygote is berthd's own binary, so
# the two share most of their pages: summing their RSS counts those twice, summing their PSS
# (each page divided among the processes that map it) counts them once. Both are printed.
berthd_processes() { echo "$berthd_pid" $(children_named "$berthd_pid" berthd); }
berthd_idle_before=$(rss_kb $(berthd_processes))
dockerd_main=$(children_named "$dockerd_pid" dockerd)
dockerd_processes=("$dockerd_main" $(children_named "$dockerd_main" containerd))
dockerd_idle=$(rss_kb "${dockerd_processes[@]}")
dockerd_idle_pss=$(pss_kb "${dockerd_processes[@]}")

python3 - "$RUNS" "$DOCKER" "$BIN" "$tmp" "$REF" "${podman_ok:-}" "${WITH_NETWORK:-}" <<'EOF'
import os, statistics, subprocess, sys, time
runs, docker, bin_dir, tmp, ref, podman_ok, with_network = sys.argv[1:8]
runs = int(runs)

def docker_at(sock, *extra):
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp}/{sock}", DOCKER_CONFIG=f"{tmp}/docker-config",
               DOCKER_CLI_HINTS="false")
    return [docker, "run", "--rm", *extra, ref, "/bin/true"], env

podman = ["podman", "--root", f"{tmp}/podman", "--runroot", f"{tmp}/podman-run",
          "--storage-driver", "overlay", "run", "--rm"]
commands = {
    "docker CLI -> berthd": docker_at("berthd.sock"),
    "docker CLI -> dockerd (--network none)": docker_at("dockerd.sock", "--network", "none"),
    "berth run --rm -> berthd": ([f"{bin_dir}/berth", "-H", f"unix://{tmp}/berthd.sock", "run",
                                  "--rm", ref, "/bin/true"], None),
}
# The docker CLI's own share: the cheapest request it makes (`docker ps -q`, one GET).
env = docker_at("berthd.sock")[1]
commands["docker ps -q -> berthd (CLI floor)"] = ([docker, "ps", "-q"], env)
if with_network:
    commands["docker CLI -> dockerd (bridge)"] = docker_at("dockerd-net.sock")
if podman_ok:
    commands["podman run --rm --network none"] = (podman + ["--network", "none", ref, "/bin/true"], None)
    if with_network:
        commands["podman run --rm (network)"] = (podman + [ref, "/bin/true"], None)

times = {name: [] for name in commands}
failed = {}
for round in range(runs + 3):
    for name, (argv, env) in commands.items():
        if name in failed:
            continue
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = (time.perf_counter() - start) * 1000
        if done.returncode != 0:
            failed[name] = (done.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
            continue
        if round >= 3:  # three warm-up rounds
            times[name].append(elapsed)

print(f"\n{'docker run --rm busybox /bin/true, same image':<44}{'median ms':>10}{'runs':>6}")
med = {}
for name, ts in times.items():
    if ts:
        med[name] = statistics.median(ts)
        print(f"{name:<44}{med[name]:>10.2f}{len(ts):>6}")
for name, why in failed.items():
    print(f"{name:<44}{'FAILED':>10}   {why}")

ours = med.get("docker CLI -> berthd")
print()
if ours:
    for name, m in med.items():
        if name.startswith(("docker CLI -> dockerd", "podman")):
            print(f"berthd is {m / ours:.1f}x faster than {name}")
target = lambda ok: "PASS" if ok else "FAIL"
dockerd = med.get("docker CLI -> dockerd (--network none)")
if ours and dockerd:
    print(f"\ntarget: docker CLI against berthd >= 10x faster than against dockerd: "
          f"{target(dockerd / ours >= 10)} ({dockerd / ours:.1f}x)")
else:
    print("\ntarget: docker CLI against berthd >= 10x faster than against dockerd: FAIL (no figure)")
berth = med.get("berth run --rm -> berthd")
print(f"target: berth run --rm under 15 ms: "
      + (f"{target(berth < 15)} ({berth:.2f} ms)" if berth else "FAIL (no figure)"))
EOF
sleep 1
berthd_alone=$(rss_kb "$berthd_pid")
berthd_idle_after=$(rss_kb $(berthd_processes))
berthd_idle_pss=$(pss_kb $(berthd_processes))
echo "idle memory after the runs: berthd ${berthd_alone} kB RSS alone; with its monitor zygote" \
    "${berthd_idle_after} kB RSS summed (${berthd_idle_before} kB before the runs), ${berthd_idle_pss} kB PSS;" \
    "dockerd + containerd ${dockerd_idle} kB RSS, ${dockerd_idle_pss} kB PSS"
echo "target: berthd idle memory under 10 MB (10240 kB, PSS of berthd + zygote):" \
    "$([[ $berthd_idle_pss -lt 10240 ]] && echo PASS || echo FAIL) (${berthd_idle_pss} kB;" \
    "RSS of the daemon alone ${berthd_alone} kB: $([[ $berthd_alone -lt 10240 ]] && echo under || echo over) 10 MB;" \
    "RSS summed with the zygote ${berthd_idle_after} kB: $([[ $berthd_idle_after -lt 10240 ]] && echo under || echo over))"
