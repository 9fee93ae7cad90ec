//! Decoding `POST /containers/create`, and refusing what we cannot do.
//!
//! The body is Docker's container `Config` (image, command, environment, TTY, ...) with two
//! nested objects: `HostConfig` (how the host runs it: mounts, ports, limits, restart policy)
//! and `NetworkingConfig`. The CLI sends *every* field, most of them zero-valued, so "present"
//! means nothing: a field asks for something only when it holds a non-zero value.
//!
//! The rule here is the one that keeps users' trust: **never silently ignore a flag that
//! changes behaviour**. `docker run -p 8080:80` on an engine without networking must fail,
//! saying `-p` is not supported, rather than start a container nobody can reach. So each
//! behaviour-changing field we cannot honour yet is listed in [`UNSUPPORTED`] with the flag the
//! user typed, and a request that sets one is answered 400 naming that flag. Unknown fields
//! (newer clients) are ignored, as moby does: they are not things the user typed.

use std::collections::BTreeMap;

use berth_daemon::http::HttpError;
use berth_images::container::Settings;
use serde::Deserialize;
use serde_json::Value;

use crate::engine::CreateSpec;

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

// ANCHOR: unsupported
/// `HostConfig` fields we cannot honour yet, with the `docker run` flag that sets each. A
/// request with any of them set to a non-zero value is refused. (The limits chapter 5
/// honours are read by [`limits`] instead, the security knobs of chapter 6 by [`security`].)
pub const UNSUPPORTED: &[(&str, &str)] = &[
    ("PortBindings", "-p/--publish"),
    ("PublishAllPorts", "-P/--publish-all"),
    ("Links", "--link"),
    ("Dns", "--dns"),
    ("DnsSearch", "--dns-search"),
    ("DnsOptions", "--dns-option"),
    ("ExtraHosts", "--add-host"),
    ("KernelMemory", "--kernel-memory"),
    ("CpuRealtimePeriod", "--cpu-rt-period"),
    ("CpuRealtimeRuntime", "--cpu-rt-runtime"),
    ("BlkioWeightDevice", "--blkio-weight-device"),
    ("BlkioDeviceReadBps", "--device-read-bps"),
    ("BlkioDeviceWriteBps", "--device-write-bps"),
    ("BlkioDeviceReadIOps", "--device-read-iops"),
    ("BlkioDeviceWriteIOps", "--device-write-iops"),
    ("Ulimits", "--ulimit"),
    ("OomKillDisable", "--oom-kill-disable"),
    ("OomScoreAdj", "--oom-score-adj"),
    ("ShmSize", "--shm-size"),
    ("Devices", "--device"),
    ("DeviceRequests", "--gpus"),
    ("DeviceCgroupRules", "--device-cgroup-rule"),
    ("GroupAdd", "--group-add"),
    ("Sysctls", "--sysctl"),
    ("StorageOpt", "--storage-opt"),
    ("CgroupParent", "--cgroup-parent"),
    ("PidMode", "--pid"),
    ("UTSMode", "--uts"),
    ("Cgroup", "--cgroup"),
];
// ANCHOR_END: unsupported

/// Whether a JSON value asks for something: not null, false, 0, "", [] or {}.
fn is_set(value: &Value) -> bool {
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
    for (field, flag) in UNSUPPORTED {
        if host.get(field).is_some_and(is_set) {
            return Err(refuse(flag, &format!("HostConfig.{field}")));
        }
    }
    let text = |field: &str| host.get(field).and_then(Value::as_str).unwrap_or_default();
    // Every container gets its own, empty network namespace: that is `none`. Docker's default
    // (`bridge`) would give it an address and a route out, which we cannot yet; we accept the
    // default rather than break every `docker run`, and say so in the book.
    match text("NetworkMode") {
        "" | "default" | "bridge" | "none" => {}
        other => return Err(refuse("--network", &format!("NetworkMode {other:?}"))),
    }
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
    match host.pointer("/RestartPolicy/Name").and_then(Value::as_str) {
        None | Some("") | Some("no") => {}
        Some(other) => return Err(refuse("--restart", &format!("RestartPolicy {other:?}"))),
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
    Ok(())
}
// ANCHOR_END: check_host_config

// ANCHOR: limits
/// The resource limits of a `HostConfig` (chapter 5), for the record's `"limits"` slot:
/// `docker run -m 64m --cpus 0.5 --pids-limit 20 ...`. Zero means "not set", as in Docker;
/// a limit Docker would refuse is a 400 naming the flag.
fn limits(host: &Value) -> Result<berth_cgroups::Resources, HttpError> {
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
    resources
        .validate()
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    Ok(resources)
}
// ANCHOR_END: limits

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

/// `-e` values: `KEY=VALUE`, or a bare `KEY` (which the CLI resolves; a bare one that reaches
/// us means "unset", so it is dropped as moby does).
pub(crate) fn parse_env(env: Vec<String>) -> Result<Vec<(String, String)>, HttpError> {
    let mut out = Vec::new();
    for pair in env {
        match pair.split_once('=') {
            Some(("", _)) => {
                return Err(HttpError::bad_request(format!(
                    "invalid environment variable {pair:?}: the name is empty"
                )));
            }
            Some((k, v)) => out.push((k.to_owned(), v.to_owned())),
            None => {}
        }
    }
    Ok(out)
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
    if let Some(health) = raw.get("Healthcheck").filter(|h| is_set(h)) {
        let disabled = health.get("Test") == Some(&serde_json::json!(["NONE"]));
        if !disabled {
            return Err(refuse("--health-cmd", "Healthcheck"));
        }
    }
    let host = body.host_config.unwrap_or(Value::Null);
    check_host_config(&host)?;
    let cgroupns = match host.get("CgroupnsMode").and_then(Value::as_str) {
        None | Some("") => None,
        Some("private") => Some(berth_cgroups::CgroupNs::Private),
        Some("host") => Some(berth_cgroups::CgroupNs::Host),
        Some(other) => return Err(refuse("--cgroupns", &format!("CgroupnsMode {other:?}"))),
    };
    let limits = berth_cgroups::engine::Settings {
        resources: limits(&host)?,
        cgroupns,
    };
    let security = security(&host)?;
    check_networking(body.networking_config.as_ref())?;
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
    Ok(CreateSpec {
        image,
        name,
        cmd: body.cmd.map(StringOrList::into_vec),
        entrypoint: body.entrypoint.map(StringOrList::into_vec),
        env: parse_env(body.env.unwrap_or_default())?,
        user: body.user.filter(|u| !u.is_empty()),
        working_dir: body.working_dir.filter(|w| !w.is_empty()),
        hostname: body.hostname.filter(|h| !h.is_empty()),
        init: host.get("Init").and_then(Value::as_bool).unwrap_or(false),
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
        slots: slots(&limits, &security)?,
    })
}
// ANCHOR_END: decode

/// The record's slots: each extension's settings, none for its defaults.
fn slots(
    limits: &berth_cgroups::engine::Settings,
    security: &berth_security::engine::Settings,
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
    Ok(slots)
}

/// `--network-alias`, `--ip` and friends live in `NetworkingConfig.EndpointsConfig`.
fn check_networking(networking: Option<&Value>) -> Result<(), HttpError> {
    let Some(endpoints) = networking
        .and_then(|n| n.get("EndpointsConfig"))
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    for (network, endpoint) in endpoints {
        if !matches!(network.as_str(), "default" | "bridge" | "none") {
            return Err(refuse("--network", &format!("network {network:?}")));
        }
        for (field, flag) in [
            ("IPAMConfig", "--ip"),
            ("Aliases", "--network-alias"),
            ("Links", "--link"),
            ("MacAddress", "--mac-address"),
            ("DriverOpts", "--network (driver options)"),
        ] {
            if endpoint.get(field).is_some_and(is_set) {
                return Err(refuse(flag, &format!("EndpointsConfig.{network}.{field}")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
        // The CLI's defaults ask for nothing: the default profile, no slot.
        let spec = decode(RUN_IT.as_bytes(), None).expect("decodes");
        assert!(!spec.slots.contains_key(berth_security::engine::SLOT));
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
            r#"{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}}"#,
            "-p/--publish",
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
        refused(r#"{"RestartPolicy":{"Name":"always"}}"#, "--restart");
        refused(r#"{"NetworkMode":"host"}"#, "--network");
        refused(r#"{"LogConfig":{"Type":"syslog"}}"#, "--log-driver");
        // The zero values the CLI always sends are not requests.
        assert!(with(r#"{"Memory":0,"CapAdd":null,"Binds":[]}"#).is_ok());
        assert!(with(r#"{"NetworkMode":"none"}"#).is_ok());
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
