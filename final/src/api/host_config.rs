//! Every `HostConfig` field of Docker's create body, and what berthd does with it.
//!
//! The docker CLI sends every field on every `docker run`, most at their zero value, so a
//! field the engine does not know would otherwise be accepted without a word: the user asks
//! for `--memory-swappiness 0` and gets the kernel's default. Each field is therefore listed
//! here, one line each, with its flag and its status. [`Status::Refused`] fields are refused
//! by `create.rs` when set (a 400 naming the flag); the others are read where their chapter's
//! decoding is. The book's "API status" page is generated from this table and the router
//! (`cargo xtask api-status`), so the two cannot drift; a test fails if a field dockerd shows
//! in inspect is missing here.

// ANCHOR: status
/// What berthd does with a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Applied, by the chapter that owns the mechanism.
    Honoured(&'static str),
    /// Accepted only at its default (described); any other value is refused naming the flag.
    DefaultOnly(&'static str),
    /// Refused when set (not null, false, 0, "", [] or {}).
    Refused,
    /// Read by the client, never by the daemon (such as `ContainerIDFile`).
    ClientSide,
}
// ANCHOR_END: status

/// One field of `HostConfig`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The JSON name, as in `HostConfig`.
    pub name: &'static str,
    /// The `docker run` flag that sets it (or the API's only way, for docker-py).
    pub flag: &'static str,
    pub status: Status,
}

const fn field(name: &'static str, flag: &'static str, status: Status) -> Field {
    Field { name, flag, status }
}

use Status::{ClientSide, DefaultOnly, Honoured, Refused};

// ANCHOR: fields
/// Every `HostConfig` field, alphabetically: one line each, so that adding one merges cleanly.
pub const FIELDS: &[Field] = &[
    field("Annotations", "--annotation", Refused),
    field("AutoRemove", "--rm", Honoured("chapter 4")),
    field("Binds", "-v/--volume", Honoured("chapter 8")),
    field("BlkioDeviceReadBps", "--device-read-bps", Refused),
    field("BlkioDeviceReadIOps", "--device-read-iops", Refused),
    field("BlkioDeviceWriteBps", "--device-write-bps", Refused),
    field("BlkioDeviceWriteIOps", "--device-write-iops", Refused),
    field("BlkioWeight", "--blkio-weight", Honoured("chapter 5")),
    field("BlkioWeightDevice", "--blkio-weight-device", Refused),
    field("CapAdd", "--cap-add", Honoured("chapter 6")),
    field("CapDrop", "--cap-drop", Honoured("chapter 6")),
    field("Cgroup", "--cgroup", Refused),
    field("CgroupnsMode", "--cgroupns", Honoured("chapter 5")),
    field("CgroupParent", "--cgroup-parent", Refused),
    field(
        "ConsoleSize",
        "(the terminal's size)",
        Honoured("chapter 4"),
    ),
    field("ContainerIDFile", "--cidfile", ClientSide),
    field("CpuCount", "--cpu-count (Windows)", Refused),
    field("CpuPercent", "--cpu-percent (Windows)", Refused),
    field("CpuPeriod", "--cpu-period", Honoured("chapter 5")),
    field("CpuQuota", "--cpu-quota", Honoured("chapter 5")),
    field("CpuRealtimePeriod", "--cpu-rt-period", Refused),
    field("CpuRealtimeRuntime", "--cpu-rt-runtime", Refused),
    field("CpusetCpus", "--cpuset-cpus", Honoured("chapter 5")),
    field("CpusetMems", "--cpuset-mems", Honoured("chapter 5")),
    field("CpuShares", "-c/--cpu-shares", Honoured("chapter 5")),
    field(
        "DeviceCgroupRules",
        "--device-cgroup-rule",
        Honoured("chapter 5"),
    ),
    field("DeviceRequests", "--gpus", Refused),
    field("Devices", "--device", Honoured("chapter 5")),
    field("Dns", "--dns", Refused),
    field("DnsOptions", "--dns-option", Refused),
    field("DnsSearch", "--dns-search", Refused),
    field("ExtraHosts", "--add-host", Honoured("chapter 7")),
    field("GroupAdd", "--group-add", Honoured("chapter 6")),
    field("Init", "--init", Honoured("chapter 1")),
    field("IOMaximumBandwidth", "--io-maxbandwidth (Windows)", Refused),
    field("IOMaximumIOps", "--io-maxiops (Windows)", Refused),
    field("IpcMode", "--ipc", DefaultOnly("private or shareable")),
    field(
        "Isolation",
        "--isolation",
        DefaultOnly("default (Linux has no other)"),
    ),
    field("KernelMemory", "--kernel-memory", Refused),
    field("KernelMemoryTCP", "--kernel-memory-tcp", Refused),
    field("Links", "--link", Refused),
    field(
        "LogConfig",
        "--log-driver/--log-opt",
        DefaultOnly("json-file, no options"),
    ),
    field(
        "MaskedPaths",
        "--security-opt systempaths=unconfined",
        Honoured("chapter 6"),
    ),
    field("Memory", "-m/--memory", Honoured("chapter 5")),
    field(
        "MemoryReservation",
        "--memory-reservation",
        Honoured("chapter 5"),
    ),
    field("MemorySwap", "--memory-swap", Honoured("chapter 5")),
    field(
        "MemorySwappiness",
        "--memory-swappiness",
        DefaultOnly("-1 (the kernel's)"),
    ),
    field("Mounts", "--mount", Honoured("chapter 8")),
    field("NanoCpus", "--cpus", Honoured("chapter 5")),
    field("NetworkMode", "--network", Honoured("chapter 7")),
    field("OomKillDisable", "--oom-kill-disable", Refused),
    field("OomScoreAdj", "--oom-score-adj", Refused),
    field("PidMode", "--pid", Refused),
    field("PidsLimit", "--pids-limit", Honoured("chapter 5")),
    field("PortBindings", "-p/--publish", Honoured("chapter 7")),
    field("Privileged", "--privileged", Honoured("chapter 6")),
    field("PublishAllPorts", "-P/--publish-all", Honoured("chapter 7")),
    field(
        "ReadonlyPaths",
        "--security-opt systempaths=unconfined",
        Honoured("chapter 6"),
    ),
    field("ReadonlyRootfs", "--read-only", Honoured("chapter 8")),
    field("RestartPolicy", "--restart", Honoured("chapter 4")),
    field(
        "Runtime",
        "--runtime",
        DefaultOnly("runc or berth: berth's runtime"),
    ),
    field("SecurityOpt", "--security-opt", Honoured("chapter 6")),
    field("ShmSize", "--shm-size", Refused),
    field("StorageOpt", "--storage-opt", Refused),
    field("Sysctls", "--sysctl", Refused),
    field("Tmpfs", "--tmpfs", Honoured("chapter 8")),
    field("Ulimits", "--ulimit", Refused),
    field("UsernsMode", "--userns", Honoured("chapter 6")),
    field("UTSMode", "--uts", Refused),
    field("VolumeDriver", "--volume-driver", DefaultOnly("local")),
    field("VolumesFrom", "--volumes-from", Honoured("chapter 8")),
];
// ANCHOR_END: fields

/// The field of this name, if the table has it.
pub fn find(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

/// The fields refused whenever set.
pub fn refused() -> impl Iterator<Item = &'static Field> {
    FIELDS.iter().filter(|f| f.status == Refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `HostConfig` keys dockerd 20.10 shows in `docker inspect` (captured here), plus the
    /// ones newer APIs added. A field Docker adds must get a line in the table.
    const DOCKERD_FIELDS: &str = "Binds ContainerIDFile LogConfig NetworkMode PortBindings \
        RestartPolicy AutoRemove VolumeDriver VolumesFrom ConsoleSize CapAdd CapDrop \
        CgroupnsMode Dns DnsOptions DnsSearch ExtraHosts GroupAdd IpcMode Cgroup Links \
        OomScoreAdj PidMode Privileged PublishAllPorts ReadonlyRootfs SecurityOpt UTSMode \
        UsernsMode ShmSize Runtime Isolation CpuShares Memory NanoCpus CgroupParent BlkioWeight \
        BlkioWeightDevice BlkioDeviceReadBps BlkioDeviceWriteBps BlkioDeviceReadIOps \
        BlkioDeviceWriteIOps CpuPeriod CpuQuota CpuRealtimePeriod CpuRealtimeRuntime CpusetCpus \
        CpusetMems Devices DeviceCgroupRules DeviceRequests MemoryReservation MemorySwap \
        MemorySwappiness OomKillDisable PidsLimit Ulimits CpuCount CpuPercent IOMaximumIOps \
        IOMaximumBandwidth MaskedPaths ReadonlyPaths Init Mounts Tmpfs KernelMemory \
        KernelMemoryTCP Annotations StorageOpt Sysctls";

    #[test]
    fn every_field_docker_has_is_in_the_table_once_and_in_order() {
        for name in DOCKERD_FIELDS.split_whitespace() {
            assert!(
                find(name).is_some(),
                "HostConfig.{name} has no line in FIELDS"
            );
        }
        let names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
        let mut sorted = names.clone();
        sorted.sort_by_key(|n| n.to_lowercase());
        sorted.dedup();
        assert_eq!(
            names, sorted,
            "FIELDS must be sorted and without duplicates"
        );
    }
}
