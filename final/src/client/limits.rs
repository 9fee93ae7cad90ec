//! The resource flags `run`, `create` and `update` share: `--memory`, `--cpus`, `--pids-limit`
//! and their kin, turned into the `HostConfig` fields Docker sends.
//!
//! In Docker the daemon writes these into the container's cgroup (chapter 5); the client only
//! reads the user's spellings (`64m`, `0.5`) with chapter 5's own parsers, so that `berth` and
//! the daemon agree on every value, and a typo is refused before any request is made.

use clap::Args;
use serde_json::{Map, Value, json};

use super::error::Failure;

/// Resource limits, as docker's flags.
#[derive(Debug, Clone, Default, Args)]
pub struct LimitArgs {
    /// Memory limit (`64m`, `1g`).
    #[arg(short = 'm', long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long, value_name = "BYTES")]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit; `-1` for unlimited swap.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs (`0.5`, `2`).
    #[arg(long, value_name = "N")]
    pub cpus: Option<String>,
    /// CPU shares (relative weight). Docker's short `-c` is left out: after the image, `-c`
    /// must stay the command's (`--entrypoint /bin/sh busybox -c 'echo hi'`).
    #[arg(long, value_name = "N")]
    pub cpu_shares: Option<i64>,
    /// The CFS period in microseconds.
    #[arg(long, value_name = "US")]
    pub cpu_period: Option<i64>,
    /// The CFS quota in microseconds.
    #[arg(long, value_name = "US", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (`0-3`, `0,1`).
    #[arg(long, value_name = "CPUS")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes in which to allow execution.
    #[arg(long, value_name = "MEMS")]
    pub cpuset_mems: Option<String>,
    /// The most processes at once; `-1` for unlimited.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight, 10 to 1000.
    #[arg(long, value_name = "WEIGHT")]
    pub blkio_weight: Option<u16>,
}

impl LimitArgs {
    /// The `HostConfig` fields these flags set (only those given).
    pub fn fields(&self) -> Result<Map<String, Value>, Failure> {
        let size = |flag: &str, text: &str| {
            berth_cgroups::parse_size(text)
                .map_err(|e| Failure::new(format!("invalid argument {text:?} for {flag}: {e}")))
        };
        let mut fields = Map::new();
        if let Some(text) = &self.memory {
            fields.insert("Memory".into(), json!(size("--memory", text)?));
        }
        if let Some(text) = &self.memory_reservation {
            fields.insert(
                "MemoryReservation".into(),
                json!(size("--memory-reservation", text)?),
            );
        }
        if let Some(text) = &self.memory_swap {
            let swap = if text == "-1" {
                json!(-1)
            } else {
                json!(size("--memory-swap", text)?)
            };
            fields.insert("MemorySwap".into(), swap);
        }
        if let Some(text) = &self.cpus {
            let nano = berth_cgroups::parse_cpus(text)
                .map_err(|e| Failure::new(format!("invalid argument {text:?} for --cpus: {e}")))?;
            fields.insert("NanoCpus".into(), json!(nano));
        }
        let numbers = [
            ("CpuShares", self.cpu_shares),
            ("CpuPeriod", self.cpu_period),
            ("CpuQuota", self.cpu_quota),
            ("PidsLimit", self.pids_limit),
            ("BlkioWeight", self.blkio_weight.map(i64::from)),
        ];
        for (name, value) in numbers {
            if let Some(value) = value {
                fields.insert(name.into(), json!(value));
            }
        }
        for (name, value) in [
            ("CpusetCpus", &self.cpuset_cpus),
            ("CpusetMems", &self.cpuset_mems),
        ] {
            if let Some(value) = value {
                fields.insert(name.into(), json!(value));
            }
        }
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_cpus_use_chapter_5s_parsers() {
        let limits = LimitArgs {
            memory: Some("64m".into()),
            memory_swap: Some("-1".into()),
            cpus: Some("0.5".into()),
            pids_limit: Some(20),
            ..LimitArgs::default()
        };
        let fields = limits.fields().unwrap();
        assert_eq!(fields["Memory"], 64 * 1024 * 1024);
        assert_eq!(fields["MemorySwap"], -1);
        assert_eq!(fields["NanoCpus"], 500_000_000);
        assert_eq!(fields["PidsLimit"], 20);
        assert!(!fields.contains_key("CpuShares"));
        let bad = LimitArgs {
            memory: Some("lots".into()),
            ..LimitArgs::default()
        };
        assert!(bad.fields().unwrap_err().message.contains("--memory"));
    }
}
