//! Decoding `POST /containers/create`, and refusing what we cannot do.
//!
//! The body is Docker's container `Config` (image, command, environment, TTY, ...) with two
//! nested objects: `HostConfig` (how the host runs it: mounts, ports, limits, restart policy)
//! and `NetworkingConfig`. The CLI sends *every* field, most of them zero-valued, so "present"
//! means nothing: a field asks for something only when it holds a non-zero value.
//!
//! The rule here is the one that keeps users' trust: **never silently ignore a flag that
//! changes behaviour**. `docker run -p 8080:80` on an engine without networking must fail,
//! saying `-p` is not supported, rather than start a container nobody can reach. So every
//! `HostConfig` field is in the table of [`host_config`](super::host_config) with its flag and
//! status, and a request that sets one we cannot honour is answered 400 naming that flag. Unknown fields
//! (newer clients) are ignored, as moby does: they are not things the user typed.

use std::collections::BTreeMap;
use std::time::Duration;

use berth_daemon::http::HttpError;
use berth_images::container::Settings;
use serde::Deserialize;
use serde_json::Value;

use super::host_config;
use crate::engine::{CreateSpec, HealthConfig, RestartPolicy};

/// The top level of the create body (Docker's `Config`), as far as we read it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Body {
    image: Option<String>,
    cmd: Option<StringOrList>,
    entrypoint: Option<StringOrList>,
    env: Option<Vec<String>>,
    user: Option<String>,
    working_dir: Option<String>,
    hostname: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    tty: Option<bool>,
    open_stdin: Option<bool>,
    stdin_once: Option<bool>,
    attach_stdin: Option<bool>,
    attach_stdout: Option<bool>,
    attach_stderr: Option<bool>,
    stop_signal: Option<String>,
    stop_timeout: Option<i64>,
    host_config: Option<Value>,
    networking_config: Option<Value>,
}

/// `Cmd` and `Entrypoint` are lists, but old clients send a single string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    List(Vec<String>),
}

impl StringOrList {
    fn into_vec(self) -> Vec<String> {
        match self {
            StringOrList::One(s) => vec![s],
            StringOrList::List(v) => v,
        }
    }
}

/// Whether a JSON value asks for something: not null, false, 0, "", [] or {}.
pub(crate) fn is_set(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A 400 naming the flag.
fn refuse(flag: &str, what: &str) -> HttpError {
    HttpError::bad_request(format!(
        "{flag} is not supported by berthd yet ({what}): the container was not created"
    ))
}

// ANCHOR: check_host_config
/// Refuses a `HostConfig` that asks for anything we cannot do.
fn check_host_config(host: &Value) -> Result<(), HttpError> {
    if !host.is_object() && !host.is_null() {
        return Err(HttpError::bad_request("HostConfig must be a JSON object"));
    }
    // The fields of the table (`host_config.rs`) that nothing here can honour yet.
    for field in host_config::refused() {
        if host.get(field.name).is_some_and(is_set) {
            return Err(refuse(field.flag, &format!("HostConfig.{}", field.name)));
        }
    }
    let text = |field: &str| host.get(field).and_then(Value::as_str).unwrap_or_default();
    // `NetworkMode` is chapter 7's: decoded by `networks::decode`.
    // `--userns host` opts out of the daemon's `userns-remap` (without it, it is what every
    // container gets); Docker knows no other mode.
    match text("UsernsMode") {
        "" | "host" => {}
        other => return Err(refuse("--userns", &format!("UsernsMode {other:?}"))),
    }
    match text("IpcMode") {
        "" | "private" | "shareable" => {}
        other => return Err(refuse("--ipc", &format!("IpcMode {other:?}"))),
    }
    match host.pointer("/LogConfig/Type").and_then(Value::as_str) {
        None | Some("") | Some("json-file") => {}
        Some(other) => return Err(refuse("--log-driver", &format!("LogConfig.Type {other:?}"))),
    }
    if host.pointer("/LogConfig/Config").is_some_and(is_set) {
        return Err(refuse("--log-opt", "LogConfig.Config"));
    }
    match text("Runtime") {
        "" | "runc" | "berth" => {}
        other => return Err(refuse("--runtime", &format!("Runtime {other:?}"))),
    }
    match text("Isolation") {
        "" | "default" => {}
        other => return Err(refuse("--isolation", &format!("Isolation {other:?}"))),
    }
    match text("VolumeDriver") {
        "" | "local" => {}
        other => {
            return Err(refuse(
                "--volume-driver",
                &format!("VolumeDriver {other:?}"),
            ));
        }
    }
    // -1 (or absent) leaves the kernel's swappiness; cgroup v2 has no knob for it at all.
    match host.get("MemorySwappiness") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_i64() == Some(-1) => {}
        Some(v) => {
            return Err(refuse(
                "--memory-swappiness",
                &format!("MemorySwappiness {v}"),
            ));
        }
    }
    system_paths_lifted(host).map(|_| ())
}

/// Whether `MaskedPaths` and `ReadonlyPaths` lift Docker's system paths. `docker run
/// --security-opt systempaths=unconfined` does not send that option: the CLI turns it into
/// both lists set to `[]`, which chapter 6 honours (docker-py sends the option itself, which
/// chapter 6 reads from `SecurityOpt`). Lists of paths of one's own, which the API allows, are
/// refused, as is one list lifted without the other.
fn system_paths_lifted(host: &Value) -> Result<bool, HttpError> {
    let lifted = |field: &str| match host.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Array(list)) if list.is_empty() => Ok(true),
        Some(_) => Err(refuse(
            "--security-opt systempaths=unconfined",
            &format!("HostConfig.{field}: only [] in both lists is honoured"),
        )),
    };
    match (lifted("MaskedPaths")?, lifted("ReadonlyPaths")?) {
        (false, false) => Ok(false),
        (true, true) => Ok(true),
        _ => Err(refuse(
            "--security-opt systempaths=unconfined",
            "HostConfig.MaskedPaths and ReadonlyPaths: only both [] is honoured",
        )),
    }
}
// ANCHOR_END: check_host_config

// ANCHOR: limits
/// The resource limits of a `HostConfig` (chapter 5), for the record's `"limits"` slot:
/// `docker run -m 64m --cpus 0.5 --pids-limit 20 ...`. Zero means "not set", as in Docker;
/// a limit Docker would refuse is a 400 naming the flag.
fn limits(host: &Value) -> Result<berth_cgroups::Resources, HttpError> {
    let resources = read_limits(host)?;
    resources
        .validate()
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    Ok(resources)
}
// ANCHOR_END: limits

/// The limits fields of a `HostConfig` (or of an update's body, which has the same names),
/// not yet checked together.
fn read_limits(host: &Value) -> Result<berth_cgroups::Resources, HttpError> {
    let number = |field: &str, flag: &str| -> Result<Option<i64>, HttpError> {
        match host.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_i64() {
                Some(0) => Ok(None),
                Some(n) => Ok(Some(n)),
                None => Err(HttpError::bad_request(format!(
                    "{flag}: HostConfig.{field} must be an integer"
                ))),
            },
        }
    };
    let positive = |field: &str, flag: &str| -> Result<Option<u64>, HttpError> {
        number(field, flag)?
            .map(|n| {
                u64::try_from(n).map_err(|_| {
                    HttpError::bad_request(format!("{flag}: HostConfig.{field} must be positive"))
                })
            })
            .transpose()
    };
    let text = |field: &str| {
        host.get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let blkio_weight = positive("BlkioWeight", "--blkio-weight")?
        .map(|w| {
            u16::try_from(w)
                .map_err(|_| HttpError::bad_request("--blkio-weight: must be between 10 and 1000"))
        })
        .transpose()?;
    let resources = berth_cgroups::Resources {
        memory: positive("Memory", "--memory")?,
        memory_swap: number("MemorySwap", "--memory-swap")?,
        memory_reservation: positive("MemoryReservation", "--memory-reservation")?,
        nano_cpus: positive("NanoCpus", "--cpus")?,
        cpu_shares: positive("CpuShares", "--cpu-shares")?,
        cpu_quota: number("CpuQuota", "--cpu-quota")?,
        cpu_period: positive("CpuPeriod", "--cpu-period")?,
        cpuset_cpus: text("CpusetCpus"),
        cpuset_mems: text("CpusetMems"),
        // 0 and -1 both mean "unlimited", which a new cgroup already is.
        pids_limit: number("PidsLimit", "--pids-limit")?.filter(|n| *n > 0),
        blkio_weight,
    };
    Ok(resources)
}

// ANCHOR: update_limits
/// The changes of a `POST /containers/{id}/update` body (`docker update`): the limits
/// chapter 5 honours, each only if set (a zero is "unchanged", as in Docker). The other
/// resource fields and a restart policy are refused with a 400 naming the flag; the merged
/// limits are checked by chapter 5 against what the container already has.
pub fn update_limits(body: &Value) -> Result<berth_cgroups::Resources, HttpError> {
    if !body.is_object() {
        return Err(HttpError::bad_request(
            "the update body must be a JSON object",
        ));
    }
    let refuse = |flag: &str, what: &str| {
        HttpError::bad_request(format!(
            "{flag} is not supported by docker update in berthd yet ({what}): nothing was changed"
        ))
    };
    for field in host_config::refused() {
        if body.get(field.name).is_some_and(is_set) {
            return Err(refuse(field.flag, field.name));
        }
    }
    for (field, flag) in [
        ("KernelMemoryTCP", "--kernel-memory-tcp"),
        ("MemorySwappiness", "--memory-swappiness"),
        ("CPUCount", "--cpu-count"),
        ("CPUPercent", "--cpu-percent"),
        ("IOMaximumIOps", "--io-maxiops"),
        ("IOMaximumBandwidth", "--io-maxbandwidth"),
    ] {
        if body.get(field).is_some_and(is_set) {
            return Err(refuse(flag, field));
        }
    }
    // `RestartPolicy` is read by [`update_restart`], the engine's, not chapter 5's.
    let mut changes = read_limits(body)?;
    // In an update, a PidsLimit that is present at all is a change: 0 and -1 lift the limit.
    if let Some(limit) = body.get("PidsLimit").and_then(Value::as_i64) {
        changes.pids_limit = Some(if limit > 0 { limit } else { -1 });
    }
    Ok(changes)
}
// ANCHOR_END: update_limits

// ANCHOR: devices
/// What changes a container's device allowlist (chapter 5), for the record's `"limits"`
/// slot: `Privileged` (every device), `Devices` (`--device`, whose host node is read at each
/// start, as dockerd does), `DeviceCgroupRules` (`--device-cgroup-rule`). A bad path, mode or
/// rule is a 400 naming it; dockerd finds those only at start, with a 500.
fn devices(host: &Value, privileged: bool) -> Result<berth_cgroups::DeviceSettings, HttpError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Device {
        #[serde(default)]
        path_on_host: String,
        #[serde(default)]
        path_in_container: String,
        #[serde(default)]
        cgroup_permissions: String,
    }
    let list = |field: &str, flag: &str| -> Result<Option<Value>, HttpError> {
        match host.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v @ Value::Array(_)) => Ok(Some(v.clone())),
            Some(_) => Err(HttpError::bad_request(format!(
                "invalid {flag}: HostConfig.{field} must be a list"
            ))),
        }
    };
    let bad = |flag: &str, e: &dyn std::fmt::Display| {
        HttpError::bad_request(format!(
            "invalid {flag}: {e}: the container was not created"
        ))
    };
    let mut settings = berth_cgroups::DeviceSettings {
        privileged,
        ..Default::default()
    };
    if let Some(devices) = list("Devices", "--device")? {
        let devices: Vec<Device> =
            serde_json::from_value(devices).map_err(|e| bad("--device", &e))?;
        for d in devices {
            let mapping = berth_cgroups::DeviceMapping::new(
                &d.path_on_host,
                &d.path_in_container,
                &d.cgroup_permissions,
            )
            .map_err(|e| bad("--device", &e))?;
            settings.devices.push(mapping);
        }
    }
    if let Some(rules) = list("DeviceCgroupRules", "--device-cgroup-rule")? {
        let rules: Vec<String> =
            serde_json::from_value(rules).map_err(|e| bad("--device-cgroup-rule", &e))?;
        for rule in rules {
            let rule = rule.parse().map_err(|e| bad("--device-cgroup-rule", &e))?;
            settings.rules.push(rule);
        }
    }
    Ok(settings)
}
// ANCHOR_END: devices

// ANCHOR: security
/// The security knobs of a `HostConfig` (chapter 6), for the record's `"security"` slot:
/// `Privileged`, `CapAdd`, `CapDrop`, `SecurityOpt` (the docker CLI has read a seccomp
/// profile's file and sends its content). A bad value is a 400 naming the flag.
fn security(host: &Value) -> Result<berth_security::engine::Settings, HttpError> {
    let list = |field: &str, flag: &str| -> Result<Vec<String>, HttpError> {
        match host.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(value) => serde_json::from_value(value.clone()).map_err(|_| {
                HttpError::bad_request(format!(
                    "invalid {flag}: HostConfig.{field} must be a list of strings"
                ))
            }),
        }
    };
    let privileged = match host.get("Privileged") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(HttpError::bad_request(
                "invalid --privileged: HostConfig.Privileged must be true or false",
            ));
        }
    };
    let cap_add = list("CapAdd", "--cap-add")?;
    let cap_drop = list("CapDrop", "--cap-drop")?;
    let security_opt = list("SecurityOpt", "--security-opt")?;
    let mut settings =
        berth_security::engine::Settings::new(privileged, cap_add, cap_drop, security_opt)
            .map_err(|e| {
                let flag = match e {
                    berth_security::SecurityError::Capability(_) => "--cap-add/--cap-drop",
                    _ => "--security-opt",
                };
                HttpError::bad_request(format!(
                    "invalid {flag}: {e}: the container was not created"
                ))
            })?;
    // The CLI's form of `systempaths=unconfined`; `SecurityOpt` stays as sent, for inspect.
    if system_paths_lifted(host)? {
        settings.options.system_paths_unconfined = true;
    }
    // "" or "host", as `check_host_config` let through.
    settings.userns_mode = host
        .get("UsernsMode")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(settings)
}

/// Under `userns-remap`, as dockerd: a privileged container would be root over devices and
/// mounts it cannot reach from its own user namespace, so it must opt out with `--userns host`.
pub fn check_remapped(spec: &CreateSpec, remapped: bool) -> Result<(), HttpError> {
    let Some(slot) = spec.slots.get(berth_security::engine::SLOT) else {
        return Ok(());
    };
    // `decode` wrote the slot from these very settings.
    let security: berth_security::engine::Settings =
        serde_json::from_value(slot.clone()).unwrap_or_default();
    if remapped && security.options.privileged && security.userns_mode != "host" {
        return Err(HttpError::bad_request(
            "privileged mode is incompatible with user namespaces.  You must run the container \
             in the host namespace when running privileged mode",
        ));
    }
    Ok(())
}
// ANCHOR_END: security

/// `-e` values split: the `KEY=VALUE` pairs, and the bare names to unset.
type SplitEnv = (Vec<(String, String)>, Vec<String>);

/// `-e` values: `KEY=VALUE`, or a bare `KEY`. The CLI resolves a bare one from its own
/// environment; one that reaches us was unset there, and means "remove the image's `KEY`":
/// returned apart, in the second list.
pub(crate) fn split_env(env: Vec<String>) -> Result<SplitEnv, HttpError> {
    let mut set = Vec::new();
    let mut unset = Vec::new();
    for pair in env {
        match pair.split_once('=') {
            Some(("", _)) | None if pair.is_empty() || pair.starts_with('=') => {
                return Err(HttpError::bad_request(format!(
                    "invalid environment variable {pair:?}: the name is empty"
                )));
            }
            Some((k, v)) => set.push((k.to_owned(), v.to_owned())),
            None => unset.push(pair),
        }
    }
    Ok((set, unset))
}

/// [`split_env`] for an exec, whose process starts from the container's environment: a bare
/// name is dropped.
pub(crate) fn parse_env(env: Vec<String>) -> Result<Vec<(String, String)>, HttpError> {
    split_env(env).map(|(set, _)| set)
}

// ANCHOR: decode
/// Decodes a create body (and the `name` query parameter) into the engine's [`CreateSpec`],
/// or a 400 that names the field or the flag.
pub fn decode(body: &[u8], name: Option<&str>) -> Result<CreateSpec, HttpError> {
    let raw: Value = serde_json::from_slice(body)
        .map_err(|e| HttpError::bad_request(format!("invalid JSON in the create body: {e}")))?;
    if !raw.is_object() {
        return Err(HttpError::bad_request(
            "invalid create body: expected a JSON object",
        ));
    }
    let body: Body = serde_json::from_value(raw.clone())
        .map_err(|e| HttpError::bad_request(format!("invalid create body: {e}")))?;
    let image = body
        .image
        .filter(|i| !i.is_empty())
        .ok_or_else(|| HttpError::bad_request("Config.Image is required: which image to run"))?;
    // Top-level fields that change behaviour and have no home yet.
    // `Volumes`, `Binds`, `Mounts`, `Tmpfs` and `ReadonlyRootfs` are chapter 8's: decoded by
    // `volumes::decode` next to this.
    if raw.get("Domainname").is_some_and(is_set) {
        return Err(refuse("--domainname", "Domainname"));
    }
    if raw.get("MacAddress").is_some_and(is_set) {
        return Err(refuse("--mac-address", "MacAddress"));
    }
    let healthcheck = healthcheck(raw.get("Healthcheck"))?;
    let host = body.host_config.unwrap_or(Value::Null);
    check_host_config(&host)?;
    let cgroupns = match host.get("CgroupnsMode").and_then(Value::as_str) {
        None | Some("") => None,
        Some("private") => Some(berth_cgroups::CgroupNs::Private),
        Some("host") => Some(berth_cgroups::CgroupNs::Host),
        Some(other) => return Err(refuse("--cgroupns", &format!("CgroupnsMode {other:?}"))),
    };
    let security = security(&host)?;
    let limits = berth_cgroups::engine::Settings {
        resources: limits(&host)?,
        cgroupns,
        devices: devices(&host, security.options.privileged)?,
    };
    let network = super::networks::decode(&host, body.networking_config.as_ref(), &raw)?;
    let restart = restart_policy(&host)?;
    let console_size = match host.get("ConsoleSize") {
        Some(Value::Array(v)) if v.len() == 2 => {
            let dim = |i: usize| v[i].as_u64().and_then(|n| u16::try_from(n).ok());
            match (dim(0), dim(1)) {
                (Some(0), Some(0)) => None,
                (Some(rows), Some(cols)) => Some([rows, cols]),
                _ => {
                    return Err(HttpError::bad_request(
                        "HostConfig.ConsoleSize must be [rows, columns] below 65536",
                    ));
                }
            }
        }
        None | Some(Value::Null) => None,
        Some(_) => {
            return Err(HttpError::bad_request(
                "HostConfig.ConsoleSize must be [rows, columns]",
            ));
        }
    };
    let stop_timeout = match body.stop_timeout {
        None => None,
        Some(t) if t < 0 => None, // -1: wait forever in moby; we keep the default
        Some(t) => Some(t as u64),
    };
    let name = name
        .filter(|n| !n.is_empty())
        .map(|n| n.trim_start_matches('/').to_owned());
    let (env, unset_env) = split_env(body.env.unwrap_or_default())?;
    Ok(CreateSpec {
        image,
        name,
        cmd: body.cmd.map(StringOrList::into_vec),
        entrypoint: body.entrypoint.map(StringOrList::into_vec),
        env,
        unset_env,
        user: body.user.filter(|u| !u.is_empty()),
        working_dir: body.working_dir.filter(|w| !w.is_empty()),
        hostname: body.hostname.filter(|h| !h.is_empty()),
        init: host.get("Init").and_then(Value::as_bool).unwrap_or(false),
        group_add: match host.get("GroupAdd") {
            None | Some(Value::Null) => Vec::new(),
            Some(value) => serde_json::from_value(value.clone()).map_err(|_| {
                HttpError::bad_request(
                    "invalid --group-add: HostConfig.GroupAdd must be a list of strings",
                )
            })?,
        },
        settings: Settings {
            labels: body.labels.unwrap_or_default(),
            tty: body.tty.unwrap_or(false),
            open_stdin: body.open_stdin.unwrap_or(false),
            stdin_once: body.stdin_once.unwrap_or(false),
            attach_stdin: body.attach_stdin.unwrap_or(false),
            attach_stdout: body.attach_stdout.unwrap_or(false),
            attach_stderr: body.attach_stderr.unwrap_or(false),
            auto_remove: host
                .get("AutoRemove")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            console_size,
            stop_signal: body.stop_signal.filter(|s| !s.is_empty()),
            stop_timeout,
        },
        slots: slots(&limits, &security, &network)?,
        restart,
        healthcheck,
    })
}

// ANCHOR: healthcheck
/// `Config.Healthcheck` (`--health-cmd`, `--health-interval`, ..., `--no-healthcheck`), checked
/// as moby checks it: durations of 0 (the default) or at least 1 ms, retries not negative.
fn healthcheck(value: Option<&Value>) -> Result<Option<HealthConfig>, HttpError> {
    let Some(value) = value.filter(|v| is_set(v)) else {
        return Ok(None);
    };
    let test: Vec<String> = match value.get("Test") {
        None | Some(Value::Null) => Vec::new(),
        Some(test) => serde_json::from_value(test.clone()).map_err(|_| {
            HttpError::bad_request("Healthcheck.Test must be a list of strings (--health-cmd)")
        })?,
    };
    if let Some(kind) = test.first()
        && !matches!(kind.as_str(), "NONE" | "CMD" | "CMD-SHELL")
    {
        return Err(HttpError::bad_request(format!(
            "invalid Healthcheck.Test {kind:?}: expected NONE, CMD or CMD-SHELL (--health-cmd)"
        )));
    }
    let duration = |field: &str| -> Result<Duration, HttpError> {
        let nanos = match value.get(field) {
            None | Some(Value::Null) => 0,
            Some(n) => n.as_i64().ok_or_else(|| {
                HttpError::bad_request(format!("Healthcheck.{field} must be nanoseconds"))
            })?,
        };
        if nanos != 0 && nanos < 1_000_000 {
            return Err(HttpError::bad_request(format!(
                "{field} in Healthcheck cannot be less than 1ms"
            )));
        }
        Ok(Duration::from_nanos(nanos as u64))
    };
    let retries = value.get("Retries").and_then(Value::as_i64).unwrap_or(0);
    let retries = u32::try_from(retries)
        .map_err(|_| HttpError::bad_request("Retries in Healthcheck cannot be negative"))?;
    Ok(Some(HealthConfig {
        test,
        interval: duration("Interval")?,
        timeout: duration("Timeout")?,
        retries,
        start_period: duration("StartPeriod")?,
    }))
}
// ANCHOR_END: healthcheck

/// The restart policy of a `docker update` body, if it names one (`--restart`).
pub fn update_restart(body: &Value) -> Result<Option<RestartPolicy>, HttpError> {
    match body.pointer("/RestartPolicy/Name").and_then(Value::as_str) {
        None | Some("") => Ok(None),
        Some(_) => restart_policy(body).map(Some),
    }
}

/// `HostConfig.RestartPolicy` (`--restart`), checked as moby checks it (a 400 in its words).
fn restart_policy(host: &Value) -> Result<RestartPolicy, HttpError> {
    let Some(policy) = host.get("RestartPolicy").filter(|p| !p.is_null()) else {
        return Ok(RestartPolicy::No);
    };
    let name = match policy.get("Name") {
        None | Some(Value::Null) => "",
        Some(Value::String(name)) => name,
        Some(other) => {
            return Err(HttpError::bad_request(format!(
                "HostConfig.RestartPolicy.Name must be a string, not {other}"
            )));
        }
    };
    let retries = match policy.get("MaximumRetryCount") {
        None | Some(Value::Null) => 0,
        Some(count) => count.as_i64().ok_or_else(|| {
            HttpError::bad_request(format!(
                "HostConfig.RestartPolicy.MaximumRetryCount must be a number, not {count}"
            ))
        })?,
    };
    RestartPolicy::parse(name, retries).map_err(|e| HttpError::bad_request(e.to_string()))
}
// ANCHOR_END: decode

/// The record's slots: each extension's settings, none for its defaults.
fn slots(
    limits: &berth_cgroups::engine::Settings,
    security: &berth_security::engine::Settings,
    network: &berth_network::engine::Settings,
) -> Result<BTreeMap<String, Value>, HttpError> {
    let mut slots = BTreeMap::new();
    let mut put = |slot: &str, what: &str, json: serde_json::Result<Value>| {
        let json =
            json.map_err(|e| HttpError::bad_request(format!("the {what} cannot be stored: {e}")))?;
        slots.insert(slot.to_owned(), json);
        Ok::<_, HttpError>(())
    };
    if !limits.is_empty() {
        let json = serde_json::to_value(limits);
        put(berth_cgroups::engine::SLOT, "resource limits", json)?;
    }
    if !security.is_empty() {
        let json = serde_json::to_value(security);
        put(berth_security::engine::SLOT, "security options", json)?;
    }
    if !network.is_empty() {
        let json = serde_json::to_value(network);
        put(berth_network::engine::SLOT, "network settings", json)?;
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// What `docker run -it --rm busybox sh` sends (trimmed: the zero fields are many).
    const RUN_IT: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":true,
        "AttachStdout":true,"AttachStderr":true,"Tty":true,"OpenStdin":true,"StdinOnce":true,
        "Env":null,"Cmd":["sh"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,
        "Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"",
        "Config":{}},"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no",
        "MaximumRetryCount":0},"AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,
        "ConsoleSize":[30,100],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],
        "DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"",
        "Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,
        "PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"",
        "UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,
        "CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"CpuPeriod":0,"CpuQuota":0,
        "Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,
        "MemorySwap":0,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"MaskedPaths":null,
        "ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,
        "Links":null,"Aliases":null,"DriverOpts":null}}},"Unknown":{"From":"the future"}}"#;

    #[test]
    fn a_cli_run_body_decodes() {
        let spec = decode(RUN_IT.as_bytes(), Some("web")).unwrap();
        assert_eq!(spec.image, "busybox");
        assert_eq!(spec.name.as_deref(), Some("web"));
        assert_eq!(spec.cmd, Some(vec!["sh".to_owned()]));
        assert_eq!(spec.entrypoint, None);
        assert!(
            spec.settings.tty
                && spec.settings.open_stdin
                && spec.settings.stdin_once
                && spec.settings.auto_remove
        );
        assert_eq!(spec.settings.console_size, Some([30, 100]));
    }

    #[test]
    fn resource_limits_go_to_the_limits_slot() {
        let decode_with = |patch: &str| {
            let mut body: Value = serde_json::from_str(RUN_IT).unwrap();
            let patch: Value = serde_json::from_str(patch).unwrap();
            for (k, v) in patch.as_object().unwrap() {
                body["HostConfig"][k] = v.clone();
            }
            decode(body.to_string().as_bytes(), None)
        };
        let spec = decode_with(
            r#"{"Memory":67108864,"NanoCpus":500000000,"PidsLimit":20,"CpusetCpus":"0"}"#,
        )
        .expect("decodes");
        let slot = &spec.slots[berth_cgroups::engine::SLOT];
        let limits: berth_cgroups::Resources = serde_json::from_value(slot.clone()).unwrap();
        assert_eq!(limits.memory, Some(64 << 20));
        assert_eq!(limits.nano_cpus, Some(500_000_000));
        assert_eq!(limits.pids_limit, Some(20));
        assert_eq!(limits.cpuset_cpus.as_deref(), Some("0"));
        // The CLI's zero values (and PidsLimit -1) set nothing: no slot at all.
        let spec = decode_with(r#"{"PidsLimit":-1}"#).expect("decodes");
        assert!(spec.slots.is_empty());
        // What Docker refuses, refused by name.
        let err = decode_with(r#"{"MemorySwap":1073741824}"#).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.message.contains("--memory-swap"), "{}", err.message);
        let err = decode_with(r#"{"Memory":1024}"#).unwrap_err();
        assert!(err.message.contains("--memory"), "{}", err.message);
        // --cgroupns goes to the same slot; a mode Docker does not have is refused.
        let spec = decode_with(r#"{"CgroupnsMode":"private"}"#).expect("decodes");
        let settings: berth_cgroups::engine::Settings =
            serde_json::from_value(spec.slots[berth_cgroups::engine::SLOT].clone()).unwrap();
        assert_eq!(settings.cgroupns, Some(berth_cgroups::CgroupNs::Private));
        let err = decode_with(r#"{"CgroupnsMode":"shared"}"#).unwrap_err();
        assert!(err.message.contains("--cgroupns"), "{}", err.message);
    }

    #[test]
    fn security_knobs_go_to_the_security_slot() {
        let mut body: Value = serde_json::from_str(RUN_IT).unwrap();
        body["HostConfig"]["CapAdd"] = serde_json::json!(["NET_ADMIN"]);
        body["HostConfig"]["CapDrop"] = serde_json::json!(["CHOWN"]);
        body["HostConfig"]["SecurityOpt"] = serde_json::json!(["no-new-privileges"]);
        let spec = decode(body.to_string().as_bytes(), None).expect("decodes");
        let settings: berth_security::engine::Settings =
            serde_json::from_value(spec.slots[berth_security::engine::SLOT].clone()).unwrap();
        assert_eq!(settings.options.cap_add, ["NET_ADMIN"]);
        assert_eq!(settings.options.cap_drop, ["CHOWN"]);
        assert!(settings.options.no_new_privs && !settings.options.privileged);
        // The CLI's `--security-opt systempaths=unconfined`: both lists empty, no option.
        body["HostConfig"]["SecurityOpt"] = Value::Null;
        body["HostConfig"]["MaskedPaths"] = serde_json::json!([]);
        body["HostConfig"]["ReadonlyPaths"] = serde_json::json!([]);
        let spec = decode(body.to_string().as_bytes(), None).expect("decodes");
        let settings: berth_security::engine::Settings =
            serde_json::from_value(spec.slots[berth_security::engine::SLOT].clone()).unwrap();
        assert!(settings.options.system_paths_unconfined);
        assert!(
            settings.security_opt.is_empty(),
            "SecurityOpt stays as sent"
        );
        // The CLI's defaults ask for nothing: the default profile, no slot.
        let spec = decode(RUN_IT.as_bytes(), None).expect("decodes");
        assert!(!spec.slots.contains_key(berth_security::engine::SLOT));
    }

    #[test]
    fn devices_rules_and_groups_are_decoded() {
        let mut body: Value = serde_json::from_str(RUN_IT).unwrap();
        body["HostConfig"]["Devices"] = serde_json::json!([
            {"PathOnHost": "/dev/loop3", "PathInContainer": "/dev/xvdc", "CgroupPermissions": "r"},
            {"PathOnHost": "/dev/fuse", "PathInContainer": "", "CgroupPermissions": ""}
        ]);
        body["HostConfig"]["DeviceCgroupRules"] = serde_json::json!(["c 10:229 rwm"]);
        body["HostConfig"]["GroupAdd"] = serde_json::json!(["wheel", "1234"]);
        body["HostConfig"]["Privileged"] = serde_json::json!(true);
        let spec = decode(body.to_string().as_bytes(), None).expect("decodes");
        let settings: berth_cgroups::engine::Settings =
            serde_json::from_value(spec.slots[berth_cgroups::engine::SLOT].clone()).unwrap();
        let devices = settings.devices;
        assert!(devices.privileged, "the allowlist follows --privileged");
        assert_eq!(devices.devices[0].permissions, "r");
        // Docker's defaults filled in: the same path, rwm.
        assert_eq!(devices.devices[1].path_in_container, Path::new("/dev/fuse"));
        assert_eq!(devices.devices[1].permissions, "rwm");
        assert_eq!(devices.rules[0].to_string(), "c 10:229 rwm");
        assert_eq!(spec.group_add, ["wheel", "1234"]);
    }

    #[test]
    fn each_unsupported_flag_is_named() {
        let with = |patch: &str| {
            let mut body: Value = serde_json::from_str(RUN_IT).unwrap();
            let patch: Value = serde_json::from_str(patch).unwrap();
            for (k, v) in patch.as_object().unwrap() {
                body["HostConfig"][k] = v.clone();
            }
            decode(body.to_string().as_bytes(), None)
                .map(|_| ())
                .map_err(|e| (e.status, e.message))
        };
        let refused = |patch: &str, flag: &str| {
            let (status, message) = with(patch).unwrap_err();
            assert_eq!(status, 400, "{patch}");
            assert!(message.contains(flag), "{patch}: {message}");
        };
        refused(r#"{"Links":["other:alias"]}"#, "--link");
        refused(
            r#"{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"eighty"}]}}"#,
            "invalid port specification \"80/tcp :eighty\"",
        );
        refused(r#"{"KernelMemory":1048576}"#, "--kernel-memory");
        refused(r#"{"CpuRealtimeRuntime":1000}"#, "--cpu-rt-runtime");
        refused(r#"{"CapAdd":["NET_BOGUS"]}"#, "--cap-add");
        refused(r#"{"SecurityOpt":["seccomp={nope"]}"#, "--security-opt");
        refused(
            r#"{"SecurityOpt":["apparmor=docker-default"]}"#,
            "--security-opt",
        );
        refused(r#"{"Privileged":"yes"}"#, "--privileged");
        refused(
            r#"{"RestartPolicy":{"Name":"sometimes"}}"#,
            "invalid restart policy",
        );
        refused(r#"{"LogConfig":{"Type":"syslog"}}"#, "--log-driver");
        // Issue 12 bug 6: accepted before, neither applied nor refused.
        refused(r#"{"MemorySwappiness":0}"#, "--memory-swappiness");
        refused(r#"{"VolumeDriver":"convoy"}"#, "--volume-driver");
        refused(r#"{"CpuCount":2}"#, "--cpu-count");
        refused(r#"{"CpuPercent":50}"#, "--cpu-percent");
        refused(r#"{"IOMaximumBandwidth":1000}"#, "--io-maxbandwidth");
        refused(r#"{"IOMaximumIOps":10}"#, "--io-maxiops");
        refused(r#"{"KernelMemoryTCP":1048576}"#, "--kernel-memory-tcp");
        refused(r#"{"Runtime":"runsc"}"#, "--runtime");
        refused(r#"{"Isolation":"hyperv"}"#, "--isolation");
        refused(
            r#"{"MaskedPaths":["/proc/kcore"]}"#,
            "systempaths=unconfined",
        );
        refused(r#"{"ReadonlyPaths":[]}"#, "systempaths=unconfined");
        // What `--security-opt systempaths=unconfined` sends (the CLI drops the option and
        // sends both lists empty; docker-py sends the option) is honoured by chapter 6.
        assert!(with(r#"{"MaskedPaths":[],"ReadonlyPaths":[]}"#).is_ok());
        assert!(with(r#"{"SecurityOpt":["systempaths=unconfined"]}"#).is_ok());
        // The zero values the CLI always sends are not requests.
        assert!(with(r#"{"Memory":0,"CapAdd":null,"Binds":[]}"#).is_ok());
        assert!(with(r#"{"NetworkMode":"none"}"#).is_ok());
        // Chapter 7 honours every network mode: it goes to the network slot.
        let mut body: Value = serde_json::from_str(RUN_IT).unwrap();
        body["HostConfig"]["NetworkMode"] = "host".into();
        let spec = decode(body.to_string().as_bytes(), None).expect("host mode decodes");
        assert_eq!(spec.slots[berth_network::engine::SLOT]["mode"], "host");
        let spec = decode(RUN_IT.as_bytes(), None).expect("decodes");
        assert!(
            !spec.slots.contains_key(berth_network::engine::SLOT),
            "the default: no slot"
        );
        assert!(
            with(r#"{"MemorySwappiness":-1,"VolumeDriver":"local","CpuCount":0,"Runtime":"runc"}"#)
                .is_ok()
        );
    }

    /// Every field the table calls refused is refused by name when set.
    #[test]
    fn every_refused_field_of_the_table_is_refused() {
        for field in super::host_config::refused() {
            let mut body: Value = serde_json::from_str(RUN_IT).unwrap();
            body["HostConfig"][field.name] = serde_json::json!(1);
            let err = decode(body.to_string().as_bytes(), None).unwrap_err();
            assert_eq!(err.status, 400, "{}", field.name);
            assert!(
                err.message.contains(field.flag),
                "{}: {}",
                field.name,
                err.message
            );
        }
    }

    #[test]
    fn malformed_bodies_are_400() {
        for body in [
            "",
            "[]",
            "{",
            r#"{"Image":""}"#,
            r#"{"Image":"b","Env":"x"}"#,
        ] {
            assert_eq!(
                decode(body.as_bytes(), None).unwrap_err().status,
                400,
                "{body}"
            );
        }
        // Chapter 8 honours anonymous volumes: not refused here.
        let volumes = r#"{"Image":"b","Volumes":{"/data":{}}}"#;
        assert!(decode(volumes.as_bytes(), None).is_ok());
    }
}
