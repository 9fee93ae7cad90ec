# Shared by the benchmarks that start daemons and a registry: run the rest of the script in a
# network namespace of its own, so that nothing it starts (dockerd above all, which otherwise
# sets sysctls and adds iptables chains) can touch the host's network, and all traffic stays
# on that namespace's loopback.
#
#   in_private_netns SCRIPT ARGS...  re-executes SCRIPT ARGS under `unshare --net` (once:
#                                    BERTH_BENCH_NETNS marks the inner run) and brings up its
#                                    loopback. Call it after building and installing, which may
#                                    need the network.

in_private_netns() {
    if [[ -z ${BERTH_BENCH_NETNS:-} ]]; then
        exec env BERTH_BENCH_NETNS=1 unshare --net -- "$@"
    fi
    ip link set lo up
}
