//! Limits, as `docker run` takes them, and the files they become in v1 and in v2.
//!
//! Docker's flags (`--memory 64m --cpus 0.5 --pids-limit 20`) arrive in the Engine API as
//! `HostConfig` fields in plain numbers (`Memory`, `NanoCpus`, `PidsLimit`...), and runc writes
//! them into the container's cgroup. The same limit has two spellings: v1's
//! `memory.limit_in_bytes` is v2's `memory.max`, v1's `cpu.cfs_quota_us` + `cpu.cfs_period_us`
//! are v2's one line `cpu.max`, and v1's `cpu.shares` (2 to 262144, default 1024) becomes v2's
//! `cpu.weight` (1 to 10000, default 100) by the conversion runc uses. [`Resources::settings`]
//! is that translation, as data: a list of (controller, file, value) to write, in order.

use std::fmt;

/// The resource limits of one container; `None` (or 0 for shares/weight) leaves the kernel's
/// default. The names and units are the Engine API's `HostConfig` fields; the engine keeps
/// them in the container record's `"limits"` slot.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Resources {
    /// `--memory`: the hard limit in bytes.
    pub memory: Option<u64>,
    /// `--memory-swap`: memory *plus* swap in bytes, `-1` for unlimited swap.
    pub memory_swap: Option<i64>,
    /// `--memory-reservation`: a soft limit in bytes, reclaimed towards under pressure.
    pub memory_reservation: Option<u64>,
    /// `--cpus` in billionths of a CPU (`NanoCpus`): 0.5 CPU is 500000000.
    pub nano_cpus: Option<u64>,
    /// `--cpu-shares`: the relative weight in v1 units (1024 is the default).
    pub cpu_shares: Option<u64>,
    /// `--cpu-quota`: microseconds per period (`-1` unlimited).
    pub cpu_quota: Option<i64>,
    /// `--cpu-period`: the CFS period in microseconds (default 100000).
    pub cpu_period: Option<u64>,
    /// `--cpuset-cpus`: the CPUs allowed, such as `0-1` or `0,2`.
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`: the memory nodes allowed.
    pub cpuset_mems: Option<String>,
    /// `--pids-limit`: the most processes (and threads) at once; 0 or less is unlimited.
    pub pids_limit: Option<i64>,
    /// `--blkio-weight`: the relative block IO weight, 10 to 1000.
    pub blkio_weight: Option<u16>,
}

/// One file to write in the container's cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The controller (v1 name) whose hierarchy holds the file.
    pub controller: &'static str,
    /// The file, relative to the container's cgroup directory.
    pub file: &'static str,
    /// What is written.
    pub value: String,
    /// The `docker run` flag it comes from, for error messages.
    pub flag: &'static str,
}

/// Limits that do not make sense together, or out of range: refused before anything is made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResourceError {
    #[error("invalid size {0:?}: use a number with an optional unit b, k, m, g, t (such as 64m)")]
    Size(String),
    #[error("invalid {flag} {value:?}: {why}")]
    Value {
        flag: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("--memory-swap needs --memory: swap is limited together with memory")]
    SwapWithoutMemory,
    #[error("--memory-swap {swap} is smaller than --memory {memory}: it counts memory plus swap")]
    SwapBelowMemory { swap: i64, memory: u64 },
    #[error("--memory {0} is below the 6 MiB Docker allows: the container could not even start")]
    MemoryTooSmall(u64),
    #[error("--memory-reservation {reservation} is above --memory {memory}")]
    ReservationAboveMemory { reservation: u64, memory: u64 },
    #[error("--cpus and --cpu-quota/--cpu-period cannot both be set")]
    CpusWithQuota,
}

/// The smallest memory limit Docker accepts (`linuxMinMemory`).
pub const MIN_MEMORY: u64 = 6 * 1024 * 1024;

/// The CFS period Docker uses for `--cpus`: 100 ms.
pub const DEFAULT_CPU_PERIOD: u64 = 100_000;

// ANCHOR: parse_size
/// Parses a size as Docker's `RAMInBytes` does: `64m`, `1g`, `512k`, `100b`, `1073741824`;
/// binary units, case-insensitive, an optional trailing `b` (`64mb`).
// EXERCISE: split the digits (and an optional .fraction) from the unit; b/k/m/g/t/p are shifts of 0/10/20/30/40/50 bits, a trailing 'b' is allowed; refuse anything else and every overflow
pub fn parse_size(text: &str) -> Result<u64, ResourceError> {
    let bad = || ResourceError::Size(text.to_owned());
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(bad()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let mut bytes = whole.checked_shl(shift).filter(|b| b >> shift == whole);
    if !fraction.is_empty() {
        // `1.5g`: the fraction of the unit, rounded down to a byte.
        let digits: u64 = fraction.parse().map_err(|_| bad())?;
        let scale = 10u64.checked_pow(fraction.len() as u32).ok_or_else(bad)?;
        let extra = (u128::from(digits) << shift) / u128::from(scale);
        bytes = bytes.and_then(|b| b.checked_add(u64::try_from(extra).ok()?));
    }
    bytes.ok_or_else(bad)
}
// ANCHOR_END: parse_size

/// Parses `--cpus`: a decimal number of CPUs, into billionths (`0.5` is 500000000), exactly.
pub fn parse_cpus(text: &str) -> Result<u64, ResourceError> {
    let bad = |why| ResourceError::Value {
        flag: "--cpus",
        value: text.to_owned(),
        why,
    };
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("use a decimal number of CPUs with at most 9 decimals"));
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| bad("use a decimal number such as 0.5"))?
    };
    let fraction: u64 = format!("{fraction:0<9}").parse().unwrap_or(0);
    let nano = whole
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(fraction))
        .ok_or_else(|| bad("too large"))?;
    if nano == 0 {
        return Err(bad("must be more than 0"));
    }
    Ok(nano)
}

// ANCHOR: conversions
/// v1 `cpu.shares` to v2 `cpu.weight`, as runc converts: 2..262144 onto 1..10000 (1024 → 39).
// EXERCISE: 0 stays 0 (unset); otherwise map 2..=262144 linearly onto 1..=10000 in integers: 1 + (shares - 2) * 9999 / 262142
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// v1 `blkio.weight` (10..1000) to v2 `io.weight` (1..10000), as runc converts.
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight.clamp(10, 1000)) - 10) * 9999 / 990
}
// ANCHOR_END: conversions

impl Resources {
    /// Whether no limit is set at all.
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }

    /// These limits with those `changes` sets replaced (`docker update`): a limit not named
    /// in `changes` stays. `--cpus` and `--cpu-quota`/`--cpu-period` replace each other.
    pub fn merged(&self, changes: &Resources) -> Resources {
        let mut out = self.clone();
        macro_rules! take {
            ($($field:ident),*) => {
                $(if changes.$field.is_some() { out.$field = changes.$field.clone(); })*
            };
        }
        take!(
            memory,
            memory_swap,
            memory_reservation,
            nano_cpus,
            cpu_shares,
            cpu_quota,
            cpu_period,
            cpuset_cpus,
            cpuset_mems,
            pids_limit,
            blkio_weight
        );
        if changes.nano_cpus.is_some() {
            out.cpu_quota = None;
            out.cpu_period = None;
        } else if changes.cpu_quota.is_some() || changes.cpu_period.is_some() {
            out.nano_cpus = None;
        }
        out
    }

    /// Refuses what Docker refuses, before anything is created.
    pub fn validate(&self) -> Result<(), ResourceError> {
        if let Some(memory) = self.memory
            && memory < MIN_MEMORY
        {
            return Err(ResourceError::MemoryTooSmall(memory));
        }
        if let Some(swap) = self.memory_swap {
            let memory = self.memory.ok_or(ResourceError::SwapWithoutMemory)?;
            if swap != -1 && (swap < 0 || (swap as u64) < memory) {
                return Err(ResourceError::SwapBelowMemory { swap, memory });
            }
        }
        if let (Some(reservation), Some(memory)) = (self.memory_reservation, self.memory)
            && reservation > memory
        {
            return Err(ResourceError::ReservationAboveMemory {
                reservation,
                memory,
            });
        }
        if self.nano_cpus.is_some() && (self.cpu_quota.is_some() || self.cpu_period.is_some()) {
            return Err(ResourceError::CpusWithQuota);
        }
        if let Some(period) = self.cpu_period
            && !(1000..=1_000_000).contains(&period)
        {
            return Err(ResourceError::Value {
                flag: "--cpu-period",
                value: period.to_string(),
                why: "must be between 1000 and 1000000 microseconds",
            });
        }
        if let Some(weight) = self.blkio_weight
            && !(10..=1000).contains(&weight)
        {
            return Err(ResourceError::Value {
                flag: "--blkio-weight",
                value: weight.to_string(),
                why: "must be between 10 and 1000",
            });
        }
        for (flag, list) in [
            ("--cpuset-cpus", &self.cpuset_cpus),
            ("--cpuset-mems", &self.cpuset_mems),
        ] {
            if let Some(list) = list
                && (list.is_empty()
                    || !list
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b',' || b == b'-'))
            {
                return Err(ResourceError::Value {
                    flag,
                    value: list.clone(),
                    why: "use a list such as 0-2 or 0,1",
                });
            }
        }
        Ok(())
    }

    // ANCHOR: settings
    /// The files to write for these limits, in order, for a cgroup of `version`.
    pub fn settings(&self, version: crate::Version) -> Vec<Setting> {
        use crate::Version::{V1, V2};
        let mut out = Vec::new();
        let mut set = |controller, file, value: String, flag| {
            out.push(Setting {
                controller,
                file,
                value,
                flag,
            })
        };
        // Memory first, and the limit before memory+swap: v1 refuses a memsw limit below the
        // memory limit, so the order matters when both shrink.
        if let Some(memory) = self.memory {
            match version {
                V1 => set(
                    "memory",
                    "memory.limit_in_bytes",
                    memory.to_string(),
                    "--memory",
                ),
                V2 => set("memory", "memory.max", memory.to_string(), "--memory"),
            }
        }
        if let (Some(swap), Some(memory)) = (self.memory_swap, self.memory) {
            match version {
                V1 => set(
                    "memory",
                    "memory.memsw.limit_in_bytes",
                    swap.to_string(),
                    "--memory-swap",
                ),
                // v2 limits swap alone: Docker's "memory plus swap" minus the memory.
                V2 => set(
                    "memory",
                    "memory.swap.max",
                    match swap {
                        -1 => "max".to_owned(),
                        swap => (swap as u64).saturating_sub(memory).to_string(),
                    },
                    "--memory-swap",
                ),
            }
        }
        if let Some(reservation) = self.memory_reservation {
            let file = match version {
                V1 => "memory.soft_limit_in_bytes",
                V2 => "memory.low",
            };
            set(
                "memory",
                file,
                reservation.to_string(),
                "--memory-reservation",
            );
        }
        // --cpus is a quota per period: 0.5 CPU is 50 ms of CPU time every 100 ms.
        let (quota, period, flag) = match self.nano_cpus {
            Some(nano) => (
                Some((nano * DEFAULT_CPU_PERIOD / 1_000_000_000) as i64),
                Some(DEFAULT_CPU_PERIOD),
                "--cpus",
            ),
            None => (self.cpu_quota, self.cpu_period, "--cpu-quota"),
        };
        match version {
            V1 => {
                if let Some(period) = period {
                    set("cpu", "cpu.cfs_period_us", period.to_string(), flag);
                }
                if let Some(quota) = quota {
                    set("cpu", "cpu.cfs_quota_us", quota.to_string(), flag);
                }
            }
            V2 if quota.is_some() || period.is_some() => {
                let quota = match quota {
                    Some(q) if q > 0 => q.to_string(),
                    _ => "max".to_owned(),
                };
                let period = period.unwrap_or(DEFAULT_CPU_PERIOD);
                set("cpu", "cpu.max", format!("{quota} {period}"), flag);
            }
            V2 => {}
        }
        if let Some(shares) = self.cpu_shares.filter(|s| *s > 0) {
            match version {
                V1 => set("cpu", "cpu.shares", shares.to_string(), "--cpu-shares"),
                V2 => set(
                    "cpu",
                    "cpu.weight",
                    shares_to_weight(shares).to_string(),
                    "--cpu-shares",
                ),
            }
        }
        if let Some(cpus) = &self.cpuset_cpus {
            set("cpuset", "cpuset.cpus", cpus.clone(), "--cpuset-cpus");
        }
        if let Some(mems) = &self.cpuset_mems {
            set("cpuset", "cpuset.mems", mems.clone(), "--cpuset-mems");
        }
        if let Some(limit) = self.pids_limit {
            let value = if limit > 0 {
                limit.to_string()
            } else {
                "max".to_owned()
            };
            set("pids", "pids.max", value, "--pids-limit");
        }
        if let Some(weight) = self.blkio_weight {
            match version {
                V1 => set(
                    "blkio",
                    "blkio.weight",
                    weight.to_string(),
                    "--blkio-weight",
                ),
                V2 => set(
                    "blkio",
                    "io.weight",
                    format!("default {}", blkio_to_io_weight(weight)),
                    "--blkio-weight",
                ),
            }
        }
        out
    }
    // ANCHOR_END: settings
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<8} {:<28} {:<14} ({})",
            self.controller, self.file, self.value, self.flag
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Version;

    #[test]
    fn sizes_are_dockers() {
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("64MB"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("100b"), Ok(100));
        for bad in ["", "m", "64x", "-1m", "99999999999999999999", "16777216t"] {
            assert!(parse_size(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn cpus_are_exact() {
        assert_eq!(parse_cpus("0.5"), Ok(500_000_000));
        assert_eq!(parse_cpus("2"), Ok(2_000_000_000));
        assert_eq!(parse_cpus(".25"), Ok(250_000_000));
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("1.0000000001").is_err());
        assert!(parse_cpus("half").is_err());
    }

    #[test]
    fn conversions_match_runc() {
        // runc's ConvertCPUSharesToCgroupV2Value and ConvertBlkIOToIOWeightValue.
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }

    #[test]
    fn docker_refuses_these() {
        let r = |f: fn(&mut Resources)| {
            let mut r = Resources::default();
            f(&mut r);
            r.validate()
        };
        assert_eq!(
            r(|r| r.memory_swap = Some(1 << 30)),
            Err(ResourceError::SwapWithoutMemory)
        );
        assert!(matches!(
            r(|r| {
                r.memory = Some(64 << 20);
                r.memory_swap = Some(32 << 20);
            }),
            Err(ResourceError::SwapBelowMemory { .. })
        ));
        assert_eq!(
            r(|r| r.memory = Some(1 << 20)),
            Err(ResourceError::MemoryTooSmall(1 << 20))
        );
        assert_eq!(
            r(|r| {
                r.nano_cpus = Some(1);
                r.cpu_quota = Some(1);
            }),
            Err(ResourceError::CpusWithQuota)
        );
        assert!(r(|r| r.cpuset_cpus = Some("0;1".into())).is_err());
        assert!(r(|r| r.blkio_weight = Some(5)).is_err());
    }

    /// Every flag at once, in both spellings: the table the book shows.
    #[test]
    fn settings_in_both_versions() {
        let resources = Resources {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            memory_reservation: Some(32 << 20),
            nano_cpus: Some(500_000_000),
            cpu_shares: Some(512),
            cpuset_cpus: Some("0".into()),
            cpuset_mems: Some("0".into()),
            pids_limit: Some(20),
            blkio_weight: Some(500),
            ..Resources::default()
        };
        resources.validate().expect("valid");
        let table = |v| {
            resources
                .settings(v)
                .iter()
                .map(|s| format!("{s}\n"))
                .collect::<String>()
        };
        insta::assert_snapshot!(
            "settings",
            format!("# v1\n{}# v2\n{}", table(Version::V1), table(Version::V2))
        );
    }
}
