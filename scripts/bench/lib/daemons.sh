# Shared by the benchmarks that drive whole engines: start berthd and dockerd on data roots of
# the benchmark's own, stop them by pid, measure their memory.
#
#   start_berthd NAME DATA_ROOT      berthd on unix://$tmp/NAME.sock; sets daemon_pid
#   start_dockerd NAME DATA_ROOT     dockerd 20.10 (network off: --iptables=false
#                                    --bridge=none), under docker-init -s as subreaper: the
#                                    machine's PID 1 reaps exited shims late; sets daemon_pid
#   wait_ping SOCK NAME              waits for GET /_ping to answer (shows NAME's log if not)
#   stop_pid PID                     SIGTERM, SIGKILL after 20 s, reaped
#   pss_kb PID...                    summed PSS: a page shared by N processes counts 1/N
#   rss_kb PID...                    summed VmRSS
#   children_named PID COMM          the children of PID whose command is COMM
#   start_registry STORAGE_DIR       the reference registry (docker-registry) on a free loopback
#                                    port, its storage in STORAGE_DIR; sets registry_pid and port
#   unmount_under DIR                every mount under DIR, deepest first (lazily)
#
# The caller sets $tmp (a directory of its own: sockets, logs, pid files go there) and $BIN
# (where berthd is) before calling them.

start_berthd() {
    local name=$1 root=$2
    # --bridge none, as dockerd below: the benchmarks never change the host's network.
    "$BIN/berthd" --data-root "$root" -H "unix://$tmp/$name.sock" --bridge none > "$tmp/$name.log" 2>&1 &
    daemon_pid=$!
    wait_ping "$tmp/$name.sock" "$name"
}

start_dockerd() {
    local name=$1 root=$2
    docker-init -s -- dockerd --data-root "$root" --exec-root "$tmp/$name-exec" \
        --pidfile "$tmp/$name.pid" -H "unix://$tmp/$name.sock" \
        --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
        > "$tmp/$name.log" 2>&1 &
    daemon_pid=$!
    wait_ping "$tmp/$name.sock" "$name"
}

wait_ping() {
    local sock=$1 name=$2
    for _ in $(seq 300); do
        curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "bench: $name never answered on $sock; its log:" >&2
    tail -20 "$tmp/$name.log" >&2
    return 1
}

stop_pid() {
    local pid=$1
    [[ -n $pid ]] || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

pss_kb() {
    local total=0 pid kb
    for pid in "$@"; do
        kb=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

rss_kb() {
    local total=0 pid kb
    for pid in "$@"; do
        kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

children_named() {
    ps -o pid=,comm= --ppid "$1" | awk -v c="$2" '$2 == c {print $1}'
}

start_registry() {
    local storage=$1
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat > "$tmp/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $storage}}
http: {addr: 127.0.0.1:$port}
EOF
    docker-registry serve "$tmp/registry.yml" > "$tmp/registry.log" 2>&1 &
    registry_pid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.05; done
}

unmount_under() {
    awk -v d="$1" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
        while read -r mnt; do umount -l "$mnt" 2>/dev/null; done
}
