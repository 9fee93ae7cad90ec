#!/usr/bin/env bash
# Benchmark: container start-up of chapter 1's `ch01` against its peers, in one run.
#
#   scripts/bench/ch01-start.sh [--runs N]        (or BENCH_RUNS=N; default 200)
#
# Every command starts /bin/true in the same busybox root filesystem, with new PID, mount, UTS,
# IPC and network namespaces:
#
#   ch01            ch01 run --rootfs R -- /bin/true
#   unshare+chroot  unshare --fork --pid --mount --uts --ipc --net chroot R /bin/true
#                   the bare baseline: namespaces and a chroot, nothing else
#   unshare --root  the same with unshare's own --root: one exec fewer, a stricter baseline
#   runc            runc run on an OCI bundle of R (`runc spec`, same five namespaces)
#   crun            crun run on the same bundle
#
# It prints each command's median, p10 and p90 in milliseconds, the ratio of each median to the
# baseline's, and the verdict for our target: ch01 within 1.5x of unshare+chroot.
#
# Timing figures never make it fail: it exits non-zero only on real errors (not root, a tool it
# cannot install, the fixture or ch01 failing to build, the baseline or ch01 failing to run).
# A peer that cannot run here is reported as "skipped (reason)" and the rest goes on.
#
# Needs root (namespaces, mounts). Installs runc, crun, util-linux, busybox-static and python3
# with apt-get when missing. Everything it creates (a temporary directory holding the rootfs
# copy, the bundle and the runtimes' state; the hugetlb cgroup mount crun needs here) is removed
# on exit, also on failure or Ctrl-C.
set -euo pipefail

RUNS=${BENCH_RUNS:-200}
WARMUP=${BENCH_WARMUP:-5}
TARGET_RATIO=1.5

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

while (($#)); do
    case $1 in
        --runs) [[ $# -ge 2 ]] || { echo "bench: --runs needs a number" >&2; exit 2; }
                RUNS=$2; shift 2 ;;
        --runs=*) RUNS=${1#--runs=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
for v in RUNS WARMUP; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "bench: $v must be a whole number, got '${!v}'" >&2; exit 2; }
done
((RUNS >= 2)) || { echo "bench: need at least 2 runs for percentiles" >&2; exit 2; }

if ((EUID != 0)); then
    echo "bench: must run as root (namespaces, mounts, runc/crun)" >&2
    exit 1
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BERTH_FIXTURES=${BERTH_FIXTURES:-/var/cache/berth/fixtures}
CH01=${CARGO_TARGET_DIR:-$REPO/target}/release/ch01
ID=berth-bench-$$            # container id for runc/crun; unique to this run of the script
HUGETLB=/sys/fs/cgroup/hugetlb

# ---- cleanup -------------------------------------------------------------------------------
# State the cleanup needs; each piece is set only once the thing exists, so cleanup undoes
# exactly what this run did and nothing else.
tmp=""
timer_pid=""
made_hugetlb_dir=0
mounted_hugetlb=0

# wait_hugetlb FIELD VALUE: wait up to 5 s for hugetlb's FIELD in /proc/cgroups to be VALUE
# (field 2 is the hierarchy id, 0 meaning cgroup v2; field 3 the number of cgroups).
wait_hugetlb() {
    local i
    for ((i = 0; i < 100; i++)); do
        [[ $(awk -v f="$1" '$1 == "hugetlb" { print $f }' /proc/cgroups) == "$2" ]] && return 0
        sleep 0.05
    done
    return 1
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    # The timer runs in the background (see below); stop it first so it starts nothing new.
    # It finishes waiting for the command in flight before it exits.
    if [[ -n $timer_pid ]] && kill -0 "$timer_pid" 2>/dev/null; then
        kill -TERM "$timer_pid" 2>/dev/null
        wait "$timer_pid" 2>/dev/null
    fi
    # A runtime interrupted mid-run can leave its container (and cgroups) behind.
    if [[ -n $tmp ]]; then
        [[ -d $tmp/runc-state ]] && runc --root "$tmp/runc-state" delete -f "$ID" >/dev/null 2>&1
        [[ -d $tmp/crun-state ]] && crun --root "$tmp/crun-state" delete -f "$ID" >/dev/null 2>&1
    fi
    # Undo the hugetlb v1 hierarchy. Any cgroup left in it is ours (we created the hierarchy).
    # The kernel destroys a v1 hierarchy at umount only if it has no child cgroups at that
    # moment, and cgroups removed by rmdir (by us, or by runc/crun deleting a container just
    # before) are freed asynchronously. Unmounting too early leaves the hierarchy alive but
    # invisible, holding hugetlb out of the v2 tree until someone mounts it again. So remove
    # the children, wait until /proc/cgroups counts only the root, unmount, and check hugetlb
    # is back in the v2 hierarchy (hierarchy id 0).
    if ((mounted_hugetlb)); then
        find "$HUGETLB" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
        wait_hugetlb 3 1
        if umount "$HUGETLB"; then
            wait_hugetlb 2 0 ||
                echo "bench: warning: hugetlb did not return to the cgroup v2 hierarchy" >&2
        else
            echo "bench: warning: could not unmount $HUGETLB" >&2
        fi
    fi
    if ((made_hugetlb_dir)); then
        rmdir "$HUGETLB" || echo "bench: warning: could not remove $HUGETLB" >&2
    fi
    [[ -n $tmp ]] && rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- tools ---------------------------------------------------------------------------------
apt_install() {
    echo "bench: installing $*" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Try without refreshing the index first: quicker, and enough when the lists are current.
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}
missing=()
command -v runc >/dev/null || missing+=(runc)
command -v crun >/dev/null || missing+=(crun)
command -v unshare >/dev/null || missing+=(util-linux)
command -v python3 >/dev/null || missing+=(python3)
[[ -x /bin/busybox ]] || missing+=(busybox-static)   # scripts/fixtures.sh copies it
((${#missing[@]} == 0)) || apt_install "${missing[@]}"

# ---- fixture and a private copy of it ------------------------------------------------------
bash "$REPO/scripts/fixtures.sh"
tmp=$(mktemp -d /tmp/berth-bench.XXXXXX)
# Every command runs in one copy, so all four start from the same files, and a fixture rebuild
# by someone else during the run cannot pull the tree from under us.
cp -a "$BERTH_FIXTURES/busybox-rootfs" "$tmp/rootfs"
ROOTFS=$tmp/rootfs

# ---- ch01 ----------------------------------------------------------------------------------
# A build failure is a real error, but the peers are still measured first so the run is useful;
# the exit status says it failed.
ch01_skip=""
echo "bench: building ch01 (release)" >&2
if ! (cd "$REPO" && cargo build --release --quiet -p berth-namespaces --bin ch01); then
    ch01_skip="cargo build failed"
elif [[ ! -x $CH01 ]]; then
    ch01_skip="$CH01 not found after build"
fi

# ---- OCI bundle for runc and crun ----------------------------------------------------------
# `runc spec` gives the default config: pid, network, ipc, uts and mount namespaces, the same
# set as ch01 and the baseline. We only point it at our rootfs (read-only: nothing writes it)
# and make it run /bin/true without a terminal.
mkdir -p "$tmp/bundle" "$tmp/runc-state" "$tmp/crun-state"
runc spec --bundle "$tmp/bundle"
python3 - "$tmp/bundle/config.json" "$ROOTFS" <<'EOF'
import json, sys
path, rootfs = sys.argv[1:]
config = json.load(open(path))
config["root"] = {"path": rootfs, "readonly": True}
config["process"]["args"] = ["/bin/true"]
config["process"]["terminal"] = False
json.dump(config, open(path, "w"), indent=2)
EOF

# ---- crun and the hybrid cgroup layout -----------------------------------------------------
# crun 1.8 refuses a hybrid layout whose cgroup v2 tree still holds a controller ("cgroups in
# hybrid mode not supported"); here that is hugetlb. Binding hugetlb to a v1 hierarchy of its
# own takes it out of the v2 tree. We do it only when crun actually refuses, only if nobody
# else has a $HUGETLB, and it is set up before any timing so runc sees the same layout.
crun_args=(crun --root "$tmp/crun-state" run --bundle "$tmp/bundle" "$ID")
if ! crun_err=$("${crun_args[@]}" 2>&1 >/dev/null); then
    if [[ $crun_err == *"hybrid mode not supported"* && ! -e $HUGETLB ]]; then
        echo "bench: crun refuses hybrid cgroups; mounting hugetlb as a v1 hierarchy at $HUGETLB" >&2
        mkdir "$HUGETLB" && made_hugetlb_dir=1
        mount -t cgroup -o hugetlb cgroup "$HUGETLB" && mounted_hugetlb=1
    fi
fi

# ---- timing --------------------------------------------------------------------------------
# A small Python timer rather than hyperfine: it interleaves the commands (each round runs
# every command once, in rotating order), so load that comes and goes on a shared machine hits
# all of them alike and the ratios stay honest. Each run is timed from posix_spawn to waitpid,
# with output to /dev/null. Before timing, each command runs once with its output captured, so
# a command that does not work is reported with its own error message instead of a figure.
cat > "$tmp/timer.py" <<'EOF'
import json, os, signal, statistics, subprocess, sys, time

spec = json.load(open(sys.argv[1]))
runs, warmup, target = spec["runs"], spec["warmup"], spec["target"]
commands = spec["commands"]          # [{name, role: ours|baseline|peer, argv, skip}]
errors = []
load = os.getloadavg()[0]             # before we add our own load

current = None                        # pid in flight, waited for even when we are stopped
def stop(signum, frame):
    raise SystemExit(128 + signum)
signal.signal(signal.SIGTERM, stop)

devnull = os.open(os.devnull, os.O_RDWR)
quiet = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]

def time_once(argv):
    global current
    t0 = time.perf_counter_ns()
    current = os.posix_spawnp(argv[0], argv, os.environ, file_actions=quiet)
    _, status = os.waitpid(current, 0)
    t1 = time.perf_counter_ns()
    current = None
    return (t1 - t0) / 1e6, os.waitstatus_to_exitcode(status)

def fail(cmd, reason):
    """A peer that fails is skipped; ch01 or the baseline failing is a real error."""
    cmd["skip"] = reason
    if cmd["role"] != "peer":
        errors.append(f"{cmd['name']}: {reason}")

try:
    # Check each command once, showing why it fails if it does.
    for cmd in commands:
        if cmd["skip"]:
            fail(cmd, cmd["skip"])
            continue
        try:
            p = subprocess.run(cmd["argv"], capture_output=True, text=True, timeout=60)
            if p.returncode != 0:
                lines = (p.stderr or p.stdout).strip().splitlines()
                fail(cmd, f"exit status {p.returncode}: {lines[-1] if lines else 'no output'}")
        except (OSError, subprocess.TimeoutExpired) as e:
            fail(cmd, str(e))

    live = [c for c in commands if not c["skip"]]
    for c in live:
        c["times"] = []
    for rnd in range(warmup + runs):
        k = rnd % len(live) if live else 0
        for cmd in live[k:] + live[:k]:          # rotate who goes first each round
            if cmd["skip"]:
                continue
            ms, rc = time_once(cmd["argv"])
            if rc != 0:
                fail(cmd, f"exit status {rc} on round {rnd + 1}")
            elif rnd >= warmup:
                cmd["times"].append(ms)
finally:
    if current:
        os.waitpid(current, 0)

def pct(ts):
    q = statistics.quantiles(ts, n=10, method="inclusive")
    return statistics.median(ts), q[0], q[8]

base = next(c for c in commands if c["role"] == "baseline")
base_med = pct(base["times"])[0] if not base["skip"] else None

print()
print(f"Container start-up of /bin/true in the busybox rootfs: {runs} runs each, interleaved, "
      f"after {warmup} warm-up rounds; load average {load:.2f} before, on {os.cpu_count()} CPUs")
print()
print(f"{'command':<26}{'median ms':>10}{'p10 ms':>9}{'p90 ms':>9}{'vs baseline':>13}")
for cmd in commands:
    if cmd["skip"]:
        continue
    med, p10, p90 = pct(cmd["times"])
    ratio = f"{med / base_med:.2f}x" if base_med else "-"
    print(f"{cmd['name']:<26}{med:>10.2f}{p10:>9.2f}{p90:>9.2f}{ratio:>13}")
for cmd in commands:
    if cmd["skip"]:
        print(f"{cmd['name']}: skipped ({cmd['skip']})")
print()
print("commands:")
for cmd in commands:
    print(f"  {cmd['name']:<24}{' '.join(cmd['argv'])}")
print()

ours = next(c for c in commands if c["role"] == "ours")
verdict = f"target: ch01 within {target}x of unshare+chroot:"
if ours["skip"] or base_med is None:
    print(f"{verdict} NOT MEASURED ({ours['skip'] or 'baseline failed'})")
else:
    ratio = pct(ours["times"])[0] / base_med
    print(f"{verdict} {'PASS' if ratio <= target else 'FAIL'} (ratio {ratio:.2f})")
    strict = next(c for c in commands if c["role"] == "strict")
    if not strict["skip"]:
        strict_ratio = pct(ours["times"])[0] / pct(strict["times"])[0]
        print(f"stricter: ch01 vs unshare --root (no chroot exec): ratio {strict_ratio:.2f}")

for e in errors:
    print(f"bench: error: {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
EOF

# The command lines, handed to the timer as JSON (through the environment, so no quoting).
RUNS=$RUNS WARMUP=$WARMUP TARGET=$TARGET_RATIO ROOTFS=$ROOTFS CH01=$CH01 CH01_SKIP=$ch01_skip \
TMPDIR_=$tmp ID=$ID python3 - "$tmp/spec.json" <<'EOF'
import json, os, sys
e = os.environ
rootfs, tmp, cid = e["ROOTFS"], e["TMPDIR_"], e["ID"]
commands = [
    {"name": "ch01", "role": "ours", "skip": e["CH01_SKIP"],
     "argv": [e["CH01"], "run", "--rootfs", rootfs, "--", "/bin/true"]},
    {"name": "unshare+chroot (base)", "role": "baseline", "skip": "",
     "argv": ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net",
              "chroot", rootfs, "/bin/true"]},
    # The same without the chroot program: one exec fewer, so a stricter baseline.
    {"name": "unshare --root", "role": "strict", "skip": "",
     "argv": ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net",
              "--root", rootfs, "/bin/true"]},
    {"name": "runc", "role": "peer", "skip": "",
     "argv": ["runc", "--root", f"{tmp}/runc-state", "run", "--bundle", f"{tmp}/bundle", cid]},
    {"name": "crun", "role": "peer", "skip": "",
     "argv": ["crun", "--root", f"{tmp}/crun-state", "run", "--bundle", f"{tmp}/bundle", cid]},
]
json.dump({"runs": int(e["RUNS"]), "warmup": int(e["WARMUP"]), "target": float(e["TARGET"]),
           "commands": commands}, open(sys.argv[1], "w"))
EOF

# In the background so a TERM to this script reaches the trap at once (bash runs traps only
# between foreground commands); the trap then stops the timer. Started as the interpreter
# itself, not through a wrapper such as a pyenv shim, so that $! is the timer's own pid.
python=$(python3 -c 'import sys; print(sys.executable)')
exec "$python" "$tmp/timer.py" "$tmp/spec.json" &  # exec: bash would not, with traps set
timer_pid=$!
status=0
wait "$timer_pid" || status=$?
timer_pid=""

# runc and crun delete a container when `run` returns; check that nothing is left behind.
for rt in runc crun; do
    left=$("$rt" --root "$tmp/$rt-state" list -q 2>/dev/null || true)
    [[ -z $left ]] || { echo "bench: error: $rt left containers behind: $left" >&2; status=1; }
done
exit "$status"
