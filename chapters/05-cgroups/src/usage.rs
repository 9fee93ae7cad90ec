//! What a container uses now: the counters `docker stats` shows, read from its cgroup.
//!
//! The kernel accounts every page, every nanosecond of CPU time and every block IO to the
//! cgroup of the process that caused it, and keeps the running totals in the cgroup's files:
//! `docker stats` does nothing more than read them once a second (dockerd through containerd's
//! cgroups library) and subtract the previous reading. CPU time is a counter that only grows,
//! so a percentage needs two readings, of the container's time and of the whole machine's
//! (`/proc/stat`), which is why Docker's answer carries `precpu_stats` beside `cpu_stats`.
//!
//! | counter | v1 file | v2 file |
//! |---|---|---|
//! | CPU time | `cpuacct.usage`, `cpuacct.usage_percpu`, `cpuacct.stat` | `cpu.stat` `usage_usec`, `user_usec`, `system_usec` |
//! | throttling | `cpu.stat` `nr_periods`, `nr_throttled`, `throttled_time` (ns) | `cpu.stat` the same, `throttled_usec` |
//! | memory | `memory.usage_in_bytes`, `memory.max_usage_in_bytes`, `memory.limit_in_bytes`, `memory.stat` | `memory.current`, `memory.max`, `memory.stat` |
//! | processes | `pids.current`, `pids.max` | the same |
//! | block IO | `blkio.throttle.io_service_bytes_recursive` | `io.stat` `rbytes`, `wbytes` |

use std::collections::BTreeMap;
use std::path::Path;

use crate::cgroup::{Cgroup, CgroupError, counter, read};
use crate::layout::Version;

/// One reading of a container's counters. A counter whose controller this machine does not
/// have reads as zero (as dockerd shows it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// The version of the hierarchy that holds the memory controller (Docker's `stats`
    /// keys differ between the two).
    pub memory_version: Option<Version>,
    /// CPU time.
    pub cpu: CpuUsage,
    /// Memory.
    pub memory: MemoryUsage,
    /// Processes (and threads).
    pub pids: PidsUsage,
    /// Bytes read and written, per device.
    pub io_service_bytes: Vec<IoEntry>,
}

/// CPU time used by the cgroup, in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuUsage {
    /// All of it.
    pub total_ns: u64,
    /// Per CPU (v1 only: v2 does not count per CPU).
    pub percpu_ns: Vec<u64>,
    /// In user space.
    pub user_ns: u64,
    /// In the kernel.
    pub system_ns: u64,
    /// CFS periods that have elapsed while the cgroup had a quota.
    pub periods: u64,
    /// Of those, periods in which the quota ran out.
    pub throttled_periods: u64,
    /// Time spent throttled, in nanoseconds.
    pub throttled_ns: u64,
}

/// Memory used by the cgroup, in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Now, page cache included.
    pub usage: u64,
    /// The most ever (v1 only).
    pub max_usage: Option<u64>,
    /// The limit, or the machine's memory if that is less (no limit: the machine's memory).
    pub limit: u64,
    /// `memory.stat`, as the kernel names its keys (they differ between v1 and v2).
    pub stats: BTreeMap<String, u64>,
}

/// Processes (and threads) in the cgroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PidsUsage {
    /// Now.
    pub current: u64,
    /// The limit; `None` without one.
    pub limit: Option<u64>,
}

/// One block IO counter of one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoEntry {
    /// The device's major number.
    pub major: u64,
    /// The device's minor number.
    pub minor: u64,
    /// `Read`, `Write`, `Sync`, `Async`, `Discard`, `Total` (v1), or `read`, `write` (v2,
    /// as dockerd names them).
    pub op: String,
    /// Bytes.
    pub value: u64,
}

impl Cgroup {
    // ANCHOR: usage
    /// Reads the cgroup's counters now.
    pub fn usage(&self) -> Result<Usage, CgroupError> {
        let mut usage = Usage::default();
        if let Some(dir) = self.dir_of("cpuacct") {
            usage.cpu = match dir.version {
                Version::V1 => cpu_v1(&dir.path, self.dir_of("cpu").map(|d| d.path.as_path()))?,
                Version::V2 => cpu_v2(&dir.path)?,
            };
        }
        if let Some(dir) = self.dir_of("memory") {
            usage.memory_version = Some(dir.version);
            usage.memory = match dir.version {
                Version::V1 => memory_v1(&dir.path)?,
                Version::V2 => memory_v2(&dir.path)?,
            };
            // No limit is a huge number in v1 and "max" in v2: show the machine's memory,
            // as dockerd does.
            let machine = machine_memory();
            if machine > 0 && usage.memory.limit > machine {
                usage.memory.limit = machine;
            }
        }
        if let Some(dir) = self.dir_of("pids") {
            usage.pids = PidsUsage {
                current: number(&dir.path.join("pids.current"))?,
                limit: read(&dir.path.join("pids.max"))?.trim().parse().ok(),
            };
        }
        if let Some(dir) = self.dir_of("blkio") {
            usage.io_service_bytes = match dir.version {
                Version::V1 => io_v1(&read(
                    &dir.path.join("blkio.throttle.io_service_bytes_recursive"),
                )?),
                Version::V2 => io_v2(&read(&dir.path.join("io.stat"))?),
            };
        }
        Ok(usage)
    }
    // ANCHOR_END: usage
}

/// A file holding one number.
fn number(path: &Path) -> Result<u64, CgroupError> {
    let text = read(path)?;
    text.trim().parse().map_err(|_| CgroupError::Read {
        path: path.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not a number: {:?}", text.trim()),
        ),
    })
}

/// `name value` lines into a map (`memory.stat`).
fn pairs(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

fn cpu_v1(cpuacct: &Path, cpu: Option<&Path>) -> Result<CpuUsage, CgroupError> {
    // cpuacct.stat counts in clock ticks (USER_HZ, 100 a second on Linux).
    let ticks = pairs(&read(&cpuacct.join("cpuacct.stat"))?);
    let tick_ns = 1_000_000_000 / clock_ticks();
    let mut usage = CpuUsage {
        total_ns: number(&cpuacct.join("cpuacct.usage"))?,
        percpu_ns: read(&cpuacct.join("cpuacct.usage_percpu"))?
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect(),
        user_ns: ticks.get("user").copied().unwrap_or(0) * tick_ns,
        system_ns: ticks.get("system").copied().unwrap_or(0) * tick_ns,
        ..CpuUsage::default()
    };
    if let Some(cpu) = cpu {
        let stat = read(&cpu.join("cpu.stat"))?;
        usage.periods = counter(&stat, "nr_periods").unwrap_or(0);
        usage.throttled_periods = counter(&stat, "nr_throttled").unwrap_or(0);
        usage.throttled_ns = counter(&stat, "throttled_time").unwrap_or(0);
    }
    Ok(usage)
}

fn cpu_v2(dir: &Path) -> Result<CpuUsage, CgroupError> {
    let stat = read(&dir.join("cpu.stat"))?;
    let usec = |key| counter(&stat, key).unwrap_or(0) * 1000;
    Ok(CpuUsage {
        total_ns: usec("usage_usec"),
        percpu_ns: Vec::new(),
        user_ns: usec("user_usec"),
        system_ns: usec("system_usec"),
        periods: counter(&stat, "nr_periods").unwrap_or(0),
        throttled_periods: counter(&stat, "nr_throttled").unwrap_or(0),
        throttled_ns: usec("throttled_usec"),
    })
}

fn memory_v1(dir: &Path) -> Result<MemoryUsage, CgroupError> {
    Ok(MemoryUsage {
        usage: number(&dir.join("memory.usage_in_bytes"))?,
        max_usage: Some(number(&dir.join("memory.max_usage_in_bytes"))?),
        limit: number(&dir.join("memory.limit_in_bytes"))?,
        stats: pairs(&read(&dir.join("memory.stat"))?),
    })
}

fn memory_v2(dir: &Path) -> Result<MemoryUsage, CgroupError> {
    Ok(MemoryUsage {
        usage: number(&dir.join("memory.current"))?,
        max_usage: None,
        // "max": no limit (the caller shows the machine's memory instead).
        limit: read(&dir.join("memory.max"))?
            .trim()
            .parse()
            .unwrap_or(u64::MAX),
        stats: pairs(&read(&dir.join("memory.stat"))?),
    })
}

/// v1 `8:0 Read 4096` lines (the last, `Total 4096`, has no device and is skipped).
fn io_v1(text: &str) -> Vec<IoEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (major, minor) = fields.next()?.split_once(':')?;
            Some(IoEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: fields.next()?.to_owned(),
                value: fields.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// v2 `8:0 rbytes=4096 wbytes=0 rios=1 ...` lines, as dockerd maps them: `rbytes` to a
/// `read` entry, `wbytes` to a `write` one.
fn io_v2(text: &str) -> Vec<IoEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for field in fields {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let op = match key {
                "rbytes" => "read",
                "wbytes" => "write",
                _ => continue,
            };
            if let Ok(value) = value.parse() {
                out.push(IoEntry {
                    major,
                    minor,
                    op: op.to_owned(),
                    value,
                });
            }
        }
    }
    out
}

/// The kernel's clock ticks per second (USER_HZ).
fn clock_ticks() -> u64 {
    // SAFETY: sysconf reads a constant of the C library.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// The machine's memory in bytes (`MemTotal` of `/proc/meminfo`); 0 if unknown.
pub fn machine_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}

// ANCHOR: system_cpu
/// The machine's CPU time, as dockerd's `system_cpu_usage`: the first line of `/proc/stat`
/// (user, nice, system, idle, iowait, irq, softirq, in clock ticks) summed, in nanoseconds,
/// and the number of CPUs it counts (`online_cpus`). A container's share of the machine is
/// the growth of its own counter over the growth of this one.
pub fn system_cpu() -> std::io::Result<(u64, u32)> {
    let text = std::fs::read_to_string("/proc/stat")?;
    Ok(parse_proc_stat(&text, clock_ticks()))
}
// ANCHOR_END: system_cpu

fn parse_proc_stat(text: &str, ticks: u64) -> (u64, u32) {
    let mut total = 0;
    let mut cpus = 0;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("cpu") => {
                let ticks_sum: u64 = fields.take(7).filter_map(|f| f.parse::<u64>().ok()).sum();
                total = ticks_sum * (1_000_000_000 / ticks);
            }
            Some(name) if name.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    (total, cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_is_summed_as_dockerd_does() {
        let text = "cpu  10 1 5 100 2 0 3 7 0 0\ncpu0 5 1 2 50 1 0 1 3 0 0\n\
                    cpu1 5 0 3 50 1 0 2 4 0 0\nintr 1 2 3\n";
        // steal (7) and what follows are not counted.
        assert_eq!(parse_proc_stat(text, 100), (121 * 10_000_000, 2));
    }

    #[test]
    fn io_counters_in_both_spellings() {
        let v1 = "8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n";
        let entries = io_v1(v1);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].op, "Write");
        assert_eq!(entries[1].value, 512);
        let v2 = "8:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0\n";
        let entries = io_v2(v2);
        assert_eq!(
            entries,
            vec![
                IoEntry {
                    major: 8,
                    minor: 0,
                    op: "read".into(),
                    value: 4096
                },
                IoEntry {
                    major: 8,
                    minor: 0,
                    op: "write".into(),
                    value: 512
                },
            ]
        );
    }
}
