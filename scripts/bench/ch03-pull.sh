#!/usr/bin/env bash
# Benchmark: pulling a large multi-layer image from a registry on loopback, then removing it,
# on the disk users keep their images on, and on tmpfs as an extra column, side by side:
#
#   ch03            ch03 pull / ch03 rmi, the chapter's CLI on a store of its own
#   berthd          docker pull / docker rmi -f (the docker CLI 28) against berthd
#   dockerd         the same CLI against Debian's dockerd 20.10 (overlay2)
#   podman          podman pull / podman rmi (Debian's podman 4.3; installed if missing)
#   skopeo + tar    `skopeo copy docker://... oci:DIR` (download and verify), then `tar -xzf`
#                   of each layer in turn: the same work in two steps; removal is `rm -rf`
#
# The image: 5 gzip layers, ~125 MB compressed, 20,000 files (scripts/bench/lib/big-image.sh),
# served by the reference registry from a tmpfs, so reading it costs nothing on either side.
# Each contender has its own data root under DATA_ROOT (default: a fresh directory under
# /var/tmp, which must not be a tmpfs: the script says which filesystem it is on) and under a
# tmpfs this script mounts. The contenders take turns (A B C A B C ...), after one warm-up
# round that is not counted; after each removal the script waits (untimed) until berthd has
# deleted what it removed in the background and the filesystem is synced, so the next pull
# starts on a quiet disk. Prints medians per filesystem and each one's ratio to dockerd's.
#
# Targets (issue 13): the pull at most dockerd's time on the disk (goal 0.7x), at most 0.7 s
# on tmpfs; the removal at most dockerd's time.
#
# Usage: scripts/bench/ch03-pull.sh [--runs N] [--data-root DIR] [--only LIST]
#   --runs N         counted rounds (default 5)
#   --data-root DIR  where the disk stores go (a fresh directory is made inside it)
#   --only LIST      a comma list of contenders: ch03,berthd,dockerd,podman,skopeo-tar
#   --baseline CH03  another build of ch03 (say, of the main branch) as one more contender,
#                    for a before/after figure in one interleaved run
# Never fails on a timing; stops every daemon it started by pid and removes everything it
# made (registry, daemons' data roots, tmpfs) on exit. Everything it starts runs in a network
# namespace of its own: no traffic leaves its loopback, and dockerd cannot touch the host's.
set -euo pipefail
ARGS=("$@")
RUNS=${BENCH_RUNS:-5}
DATA_ROOT=/var/tmp
ONLY=ch03,berthd,dockerd,podman,skopeo-tar
BASELINE=
while (($#)); do
    case $1 in
        --runs) RUNS=${2:-}; shift 2 ;;
        --data-root) DATA_ROOT=${2:-}; shift 2 ;;
        --only) ONLY=${2:-}; shift 2 ;;
        --baseline) BASELINE=${2:-}; shift 2 ;;
        *) echo "bench: unknown argument $1 (usage: $0 [--runs N] [--data-root DIR] [--only LIST] [--baseline CH03])" >&2; exit 2 ;;
    esac
done
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 ]] || { echo "bench: --runs needs a number" >&2; exit 2; }
((EUID == 0)) || { echo "bench: must run as root" >&2; exit 1; }
[[ -z $BASELINE || -x $BASELINE ]] || { echo "bench: --baseline $BASELINE is not a program" >&2; exit 2; }
[[ -d $DATA_ROOT ]] || { echo "bench: --data-root $DATA_ROOT is not a directory" >&2; exit 2; }
disk_fs=$(findmnt -n -o FSTYPE -T "$DATA_ROOT")
if [[ $disk_fs == tmpfs ]]; then
    echo "bench: $DATA_ROOT is on a tmpfs; give --data-root a directory on a disk" >&2
    exit 2
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
source scripts/env.sh
scripts/install-deps.sh
for pkg in docker.io podman; do
    if [[ ,$ONLY, == *,${pkg%.io},* ]] &&
        ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        echo "bench: installing $pkg (for this benchmark only)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null || true
    fi
done
DOCKER=/usr/local/bin/docker
[[ -x $DOCKER ]] || DOCKER=$(command -v docker)
cargo build --release --quiet --locked -p berth-registry -p berth --bins
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
# The registry and every daemon in a network namespace of this run's own (lib/netns.sh).
source scripts/bench/lib/netns.sh
in_private_netns "$REPO/scripts/bench/ch03-pull.sh" "${ARGS[@]}"

tmp=$(mktemp -d /tmp/berth-bench-pull.XXXXXX)
disk=$(mktemp -d "$DATA_ROOT/berth-bench-pull.XXXXXX")
registry_pid=
daemon_pids=()
cleanup() {
    set +e  # Undo everything, whatever fails: a failing step must not skip the rest.
    for pid in "${daemon_pids[@]}"; do stop_pid "$pid"; done
    [[ -n $registry_pid ]] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
    for dir in "$tmp" "$disk"; do
        unmount_under "$dir"
    done
    rm -rf "$tmp" "$disk"
}
trap cleanup EXIT
source scripts/bench/lib/daemons.sh
mkdir "$tmp/tmpfs" "$tmp/registry-fs"
mount -t tmpfs -o size=6g berth-bench "$tmp/tmpfs"
mount -t tmpfs -o size=1g berth-bench-registry "$tmp/registry-fs"
echo "disk: $disk on $disk_fs ($(findmnt -n -o SOURCE,OPTIONS -T "$DATA_ROOT"))" >&2

# The registry, on a free port, its storage on a tmpfs of its own.
start_registry "$tmp/registry-fs/registry"

source scripts/bench/lib/big-image.sh
make_big_image "$tmp/registry-fs/image" "$tmp/registry-fs/work"
skopeo copy -q --dest-tls-verify=false "oci:$tmp/registry-fs/image:big:latest" "docker://127.0.0.1:$port/bench/big:latest"
rm -rf "$tmp/registry-fs/image" "$tmp/registry-fs/work"
REF=127.0.0.1:$port/bench/big:latest

# One berthd and one dockerd per filesystem.
for fs in disk tmpfs; do
    root=$disk; [[ $fs == tmpfs ]] && root=$tmp/tmpfs
    if [[ ,$ONLY, == *,berthd,* ]]; then
        start_berthd "berthd-$fs" "$root/berthd"
        daemon_pids+=("$daemon_pid")
    fi
    if [[ ,$ONLY, == *,dockerd,* ]]; then
        start_dockerd "dockerd-$fs" "$root/dockerd"
        daemon_pids+=("$daemon_pid")
    fi
done

# podman wants rlimits no process here may raise, and systemd, which is not here.
cat > "$tmp/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF

python3 - "$RUNS" "$BIN" "$DOCKER" "$tmp" "$disk" "$REF" "$ONLY" "$disk_fs" "$BASELINE" <<'EOF'
import json, os, shutil, statistics, subprocess, sys, time
runs, bin_dir, docker, tmp, disk, ref, only, disk_fs, baseline = sys.argv[1:10]
runs, only = int(runs), only.split(",")
roots = {"disk": disk, "tmpfs": f"{tmp}/tmpfs"}

def run(argv, env=None):
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        raise RuntimeError((done.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1])

def timed(argv, env=None):
    start = time.perf_counter()
    run(argv, env)
    return time.perf_counter() - start

def docker_env(name):
    return dict(os.environ, DOCKER_HOST=f"unix://{tmp}/{name}.sock",
                DOCKER_CONFIG=f"{tmp}/docker-config", DOCKER_CLI_HINTS="false")

def ch03(fs, program=f"{bin_dir}/ch03", store="ch03"):
    cmd = [program, "--root", f"{roots[fs]}/{store}"]
    return timed(cmd + ["pull", ref]), timed(cmd + ["rmi", ref])

def engine(name):
    def pull_rmi(fs):
        env = docker_env(f"{name}-{fs}")
        return (timed([docker, "pull", "-q", ref], env),
                timed([docker, "rmi", "-f", ref], env))
    return pull_rmi

def podman(fs):
    env = dict(os.environ, CONTAINERS_CONF=f"{tmp}/containers.conf")
    root = roots[fs]
    cmd = ["podman", "--root", f"{root}/podman", "--runroot", f"{tmp}/podman-run-{fs}",
           "--storage-driver", "overlay"]
    return (timed(cmd + ["pull", "-q", "--tls-verify=false", ref], env),
            timed(cmd + ["rmi", "-f", ref], env))

def skopeo_tar(fs):
    root = roots[fs]
    start = time.perf_counter()
    run(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"oci:{root}/oci:big"])
    index = json.load(open(f"{root}/oci/index.json"))
    blob = lambda d: f"{root}/oci/blobs/sha256/{d.split(':')[1]}"
    manifest = json.load(open(blob(index["manifests"][0]["digest"])))
    for i, layer in enumerate(manifest["layers"]):
        os.makedirs(f"{root}/unpacked/{i}")
        run(["tar", "-xzf", blob(layer["digest"]), "-C", f"{root}/unpacked/{i}"])
    pulled = time.perf_counter() - start
    return pulled, timed(["rm", "-rf", f"{root}/oci", f"{root}/unpacked"])

def settle(fs):
    """Untimed: wait for berthd's deletions after its answer, then flush the filesystem."""
    trash = f"{roots[fs]}/berthd/tmp"
    for _ in range(1200):
        if not os.path.isdir(trash) or not os.listdir(trash):
            break
        time.sleep(0.1)
    subprocess.run(["sync", "-f", roots[fs]])

contenders = {"ch03": ch03, "berthd": engine("berthd"), "dockerd": engine("dockerd"),
              "podman": podman, "skopeo-tar": skopeo_tar}
contenders = {name: f for name, f in contenders.items() if name in only}
if baseline:
    contenders["ch03 baseline"] = lambda fs: ch03(fs, baseline, "ch03-baseline")
if "podman" in contenders and not shutil.which("podman"):
    del contenders["podman"]
times = {(name, fs, op): [] for name in contenders for fs in roots for op in ("pull", "rmi")}
failed = {}
for round in range(runs + 1):  # round 0 warms up: not counted
    for fs in roots:
        for name, pull_rmi in contenders.items():
            if (name, fs) in failed:
                continue
            try:
                pulled, removed = pull_rmi(fs)
            except RuntimeError as e:
                failed[(name, fs)] = str(e)
                continue
            finally:
                settle(fs)
            if round > 0:
                times[(name, fs, "pull")].append(pulled)
                times[(name, fs, "rmi")].append(removed)
            print(f"  round {round}{' (warm-up)' if round == 0 else ''}: {name:<14}{fs:<6}"
                  f" pull {pulled:6.2f} s  rmi {removed:6.2f} s", file=sys.stderr, flush=True)

med = {key: statistics.median(ts) for key, ts in times.items() if ts}
print(f"\npull then remove a 5-layer, ~125 MB, 20,000-file image from a loopback registry;")
print(f"{runs} interleaved rounds after a warm-up, medians; disk = {disk_fs} under {os.path.dirname(disk)}")
print(f"{'':<14}{'pull disk':>11}{'vs dockerd':>11}{'pull tmpfs':>12}{'rmi disk':>10}{'vs dockerd':>11}{'rmi tmpfs':>11}")
for name in contenders:
    cells = []
    for op in ("pull", "rmi"):
        for fs in roots:
            m = med.get((name, fs, op))
            cells.append(f"{m:>9.2f} s" if m is not None else f"{'-':>11}")
            if fs == "disk":
                d = med.get(("dockerd", fs, op))
                cells.append(f"{m / d:>10.2f}x" if m is not None and d else f"{'':>11}")
    print(f"{name:<14}{cells[0]:>11}{cells[1]:>11}{cells[2]:>12}{cells[3]:>10}{cells[4]:>11}{cells[5]:>11}")
for (name, fs), why in failed.items():
    print(f"{name} on {fs}: FAILED ({why})")

def target(label, ok, figure):
    print(f"target: {label}: {'PASS' if ok else 'FAIL'} ({figure})")
ours, theirs = med.get(("berthd", "disk", "pull")), med.get(("dockerd", "disk", "pull"))
if ours and theirs:
    print()
    target("berthd pull on the disk at most dockerd's (goal 0.7x)", ours <= theirs, f"{ours / theirs:.2f}x")
    r_ours, r_theirs = med.get(("berthd", "disk", "rmi")), med.get(("dockerd", "disk", "rmi"))
    if r_ours and r_theirs:
        target("berthd rmi on the disk at most dockerd's", r_ours <= r_theirs, f"{r_ours / r_theirs:.2f}x")
tmpfs_ch03 = med.get(("ch03", "tmpfs", "pull"))
if tmpfs_ch03:
    target("ch03 pull on tmpfs under 0.7 s", tmpfs_ch03 < 0.7, f"{tmpfs_ch03:.2f} s")
EOF
