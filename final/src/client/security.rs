//! The `run`/`create` flags that decide what a container may do and how it is reached:
//! privileges and confinement (`--privileged`, `--cap-add`, `--security-opt`, `--read-only`,
//! `--tmpfs`, `--device`, `--group-add`, `--userns`), networking (`--network`, `-P`, `--ip`,
//! `--network-alias`) and life (`--restart`, `--health-*`).
//!
//! In Docker the daemon enforces every one of them (chapters 6, 7 and the engine); the client
//! only puts them into the create body under Docker's names, so the daemon can honour each or
//! refuse it by name. Nothing is checked here that the daemon checks better.

use clap::Args;
use serde_json::{Map, Value, json};

use super::error::Failure;
use super::manage::restart_policy;

/// Security, network and life flags of `run` and `create`.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfineArgs {
    /// Give the container every capability and device (no confinement at all).
    #[arg(long)]
    pub privileged: bool,
    /// Add a Linux capability (`NET_ADMIN`, `ALL`).
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a Linux capability.
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// A security option: `no-new-privileges`, `seccomp=unconfined`, `apparmor=...`.
    #[arg(long, value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Mount the root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Mount a tmpfs: `/run` or `/run:size=64m,mode=1777`.
    #[arg(long, value_name = "PATH[:OPTS]")]
    pub tmpfs: Vec<String>,
    /// Give access to a host device: `/dev/fuse[:/dev/fuse[:rwm]]`.
    #[arg(long, value_name = "HOST[:CTR[:PERMS]]")]
    pub device: Vec<String>,
    /// An extra group for the container's process.
    #[arg(long, value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// The user namespace: `host` to leave the daemon's remapping.
    #[arg(long, value_name = "MODE")]
    pub userns: Option<String>,
    /// The network to join: `bridge`, `host`, `none`, or a network's name.
    #[arg(long, alias = "net", value_name = "NETWORK")]
    pub network: Option<String>,
    /// Publish every exposed port to a free host port.
    #[arg(short = 'P', long)]
    pub publish_all: bool,
    /// The container's IPv4 address on a user-defined network.
    #[arg(long, value_name = "ADDRESS")]
    pub ip: Option<String>,
    /// Another name the container answers to on its network.
    #[arg(long, value_name = "ALIAS")]
    pub network_alias: Vec<String>,
    /// The restart policy: `no`, `always`, `on-failure[:N]`, `unless-stopped`.
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// The health check command (run by `sh -c`).
    #[arg(long, value_name = "CMD")]
    pub health_cmd: Option<String>,
    /// Time between health checks (`30s`, `1m30s`).
    #[arg(long, value_name = "DURATION")]
    pub health_interval: Option<String>,
    /// The longest one check may run.
    #[arg(long, value_name = "DURATION")]
    pub health_timeout: Option<String>,
    /// Failures in a row before the container is unhealthy.
    #[arg(long, value_name = "N")]
    pub health_retries: Option<u32>,
    /// Time after start during which failures do not count.
    #[arg(long, value_name = "DURATION")]
    pub health_start_period: Option<String>,
    /// Disable the image's health check.
    #[arg(long, conflicts_with = "health_cmd")]
    pub no_healthcheck: bool,
}

impl ConfineArgs {
    /// Fills these flags into a create body (`Config` at the top, `HostConfig` inside).
    pub fn apply(&self, body: &mut Value) -> Result<(), Failure> {
        if let Some(health) = self.healthcheck()? {
            body["Healthcheck"] = health;
        }
        if let Some(network) = &self.network {
            let mut endpoint = Map::new();
            if let Some(ip) = &self.ip {
                endpoint.insert("IPAMConfig".into(), json!({"IPv4Address": ip}));
            }
            if !self.network_alias.is_empty() {
                endpoint.insert("Aliases".into(), json!(self.network_alias));
            }
            if !endpoint.is_empty() {
                body["NetworkingConfig"] = json!({"EndpointsConfig": {network: endpoint}});
            }
        } else if self.ip.is_some() || !self.network_alias.is_empty() {
            return Err(Failure::new(
                "--ip and --network-alias need --network with a user-defined network",
            ));
        }
        let host = &mut body["HostConfig"];
        let list = |items: &[String]| {
            if items.is_empty() {
                Value::Null
            } else {
                json!(items)
            }
        };
        host["Privileged"] = json!(self.privileged);
        host["CapAdd"] = list(&self.cap_add);
        host["CapDrop"] = list(&self.cap_drop);
        host["SecurityOpt"] = list(&self.security_opt);
        host["ReadonlyRootfs"] = json!(self.read_only);
        host["GroupAdd"] = list(&self.group_add);
        host["UsernsMode"] = json!(self.userns.clone().unwrap_or_default());
        host["PublishAllPorts"] = json!(self.publish_all);
        if let Some(network) = &self.network {
            host["NetworkMode"] = json!(network);
        }
        if let Some(restart) = &self.restart {
            host["RestartPolicy"] = restart_policy(restart)?;
        }
        if !self.tmpfs.is_empty() {
            let mounts: Map<String, Value> = self
                .tmpfs
                .iter()
                .map(|spec| {
                    let (path, options) = spec.split_once(':').unwrap_or((spec, ""));
                    (path.to_owned(), json!(options))
                })
                .collect();
            host["Tmpfs"] = Value::Object(mounts);
        }
        if !self.device.is_empty() {
            let devices: Vec<Value> = self.device.iter().map(|d| device(d)).collect();
            host["Devices"] = json!(devices);
        }
        Ok(())
    }

    /// `Config.Healthcheck` from the `--health-*` flags, or `None` when none was given.
    fn healthcheck(&self) -> Result<Option<Value>, Failure> {
        if self.no_healthcheck {
            return Ok(Some(json!({"Test": ["NONE"]})));
        }
        let timing = [
            ("Interval", "--health-interval", &self.health_interval),
            ("Timeout", "--health-timeout", &self.health_timeout),
            (
                "StartPeriod",
                "--health-start-period",
                &self.health_start_period,
            ),
        ];
        let any_timing = timing.iter().any(|(_, _, v)| v.is_some());
        if self.health_cmd.is_none() && !any_timing && self.health_retries.is_none() {
            return Ok(None);
        }
        let mut health = Map::new();
        if let Some(cmd) = &self.health_cmd {
            health.insert("Test".into(), json!(["CMD-SHELL", cmd]));
        }
        for (field, flag, value) in timing {
            if let Some(text) = value {
                let nanos = go_duration(text).ok_or_else(|| {
                    Failure::new(format!(
                        "invalid argument {text:?} for {flag}: use a duration such as 30s, \
                         1m30s or 500ms"
                    ))
                })?;
                health.insert(field.into(), json!(nanos));
            }
        }
        if let Some(retries) = self.health_retries {
            health.insert("Retries".into(), json!(retries));
        }
        Ok(Some(Value::Object(health)))
    }
}

/// `--device HOST[:CTR[:PERMS]]` as Docker's `DeviceMapping` (a bare `HOST:rw` is permissions).
fn device(spec: &str) -> Value {
    let parts: Vec<&str> = spec.split(':').collect();
    let is_mode = |s: &str| !s.is_empty() && s.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
    let (host, container, permissions) = match parts.as_slice() {
        [host] => (*host, *host, "rwm"),
        [host, mode] if is_mode(mode) => (*host, *host, *mode),
        [host, container] => (*host, *container, "rwm"),
        [host, container, mode, ..] => (*host, *container, *mode),
        [] => (spec, spec, "rwm"),
    };
    json!({"PathOnHost": host, "PathInContainer": container, "CgroupPermissions": permissions})
}

/// A Go duration (`1h2m3.5s`, `500ms`, `10us`) in nanoseconds, as `--health-*` take them.
pub fn go_duration(text: &str) -> Option<u64> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let (number, tail) = rest.split_at(number_end);
        let value: f64 = number.parse().ok()?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * scale;
        rest = tail;
    }
    Some(total.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("30s"), Some(30_000_000_000));
        assert_eq!(go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(go_duration("500ms"), Some(500_000_000));
        assert_eq!(go_duration("1.5s"), Some(1_500_000_000));
        for bad in ["", "5", "5x", "s", "1m5"] {
            assert_eq!(go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn devices_take_docker_spellings() {
        assert_eq!(device("/dev/fuse")["PathInContainer"], "/dev/fuse");
        assert_eq!(device("/dev/fuse:r")["CgroupPermissions"], "r");
        let mapped = device("/dev/null:/dev/mynull:rw");
        assert_eq!(mapped["PathInContainer"], "/dev/mynull");
        assert_eq!(mapped["CgroupPermissions"], "rw");
    }
}
