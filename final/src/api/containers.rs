//! `/containers/...`: the lifecycle, as `docker run`, `ps`, `logs`, `stop` and `rm` drive it.
//!
//! `docker run busybox echo hi` is five requests, and their order is the contract (§3 of the
//! API notes): create (a 404 here, and only for a missing image, makes the CLI pull and retry),
//! attach (a hijack, made *before* start so no output is lost), wait (whose response head the
//! CLI waits for before it sends start, so the head goes out at once and the body when the
//! container exits), start, and on a TTY, resize. Each handler below is one step; the
//! container runtime behind them is [`crate::engine`].

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use berth_daemon::http::{HttpError, Request, Response, Router, Upgraded};
use berth_images::reference::Reference;
use berth_images::store::StoreError;
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use super::filters::Filters;
use super::{Daemon, Route, create, errors, networks, param, volumes, with_daemon};
use crate::engine::{
    self, AttachOptions, ContainerView, EngineError, Health, HealthConfig, HealthStatus,
    LogOptions, Session, Status, StreamKind, WaitCondition, frame,
};

/// The Content-Type of a TTY's raw output.
pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
/// The Content-Type of framed stdout/stderr.
pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";

/// Adds this module's routes.
pub fn routes(router: Router, daemon: &Arc<Daemon>) -> Router {
    let d = |f: Route| with_daemon(daemon, f);
    router
        .post("/containers/create", d(create_container))
        .get("/containers/json", d(list))
        .get("/containers/{id}/json", d(inspect))
        .post("/containers/{id}/start", d(start))
        .post("/containers/{id}/stop", d(stop))
        .post("/containers/{id}/restart", d(restart))
        .post("/containers/{id}/kill", d(kill))
        .post("/containers/{id}/wait", d(wait))
        .delete("/containers/{id}", d(remove))
        .post("/containers/{id}/attach", d(attach))
        .post("/containers/{id}/resize", d(resize))
        .post("/containers/{id}/rename", d(rename))
        .get("/containers/{id}/logs", d(logs))
}

/// The status code of an engine error, with `e` mapped through [`errors::engine_error`].
fn fail(e: EngineError) -> HttpError {
    errors::engine_error(e)
}

// ANCHOR: create
/// `POST /containers/create?name=&platform=`.
fn create_container(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    if let Some(platform) = req.query().get("platform").filter(|p| !p.is_empty()) {
        let host = berth_registry::Platform::host();
        let wanted = berth_registry::Platform::parse(platform).ok_or_else(|| {
            HttpError::bad_request(format!("invalid platform {platform:?}: expected os/arch"))
        })?;
        if wanted.os != host.os || wanted.architecture != host.architecture {
            return Err(HttpError::bad_request(format!(
                "--platform {platform} is not supported: berthd runs {}/{} containers only",
                host.os, host.architecture
            )));
        }
    }
    let mut spec = create::decode(req.body(), req.query().get("name"))?;
    create::check_remapped(&spec, daemon.userns_remap.is_some())?;
    // Valid JSON: `decode` said so.
    let raw: Value = serde_json::from_slice(req.body()).unwrap_or_default();
    let requested = volumes::decode(&raw)?;
    let image = spec.image.clone();
    // The 404 that makes the CLI pull, decided here from the store (the engine would too).
    let image_record = match daemon.engine.store().resolve(&image) {
        Ok(record) => record,
        Err(e) => return Err(create_error(EngineError::Store(e), &image)),
    };
    // Chapter 8's slot of the record: decided before the record is written.
    let mounts = volumes::decide(daemon, &image_record.id, &requested)?;
    if mounts != Default::default() {
        spec.slots
            .insert(berth_volumes::attach::SLOT.to_owned(), mounts.slot());
    }
    // The networks it names must exist (chapter 7), before anything is made.
    let mut network = berth_network::engine::settings_of(&spec.slots)
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    networks::check(daemon, &network)?;
    // The image's `EXPOSE`s are exposed too (what `-P` publishes).
    if let Ok(record) = daemon.engine.store().resolve(&image) {
        let config = super::images::config_json(daemon.engine.store(), &record.id);
        let image_ports = networks::exposed_ports(config.pointer("/config/ExposedPorts"))?;
        networks::publish(&mut network, &image_ports)?;
        if !network.is_empty() {
            let json = serde_json::to_value(&network)
                .map_err(|e| HttpError::bad_request(format!("network settings: {e}")))?;
            spec.slots
                .insert(berth_network::engine::SLOT.to_owned(), json);
        }
    }
    let engine = &daemon.engine;
    let view = engine.create(spec).map_err(|e| {
        volumes::undo(daemon, &mounts);
        create_error(e, &image)
    })?;
    volumes::attach(daemon, &view, &mounts)?;
    Ok(Response::json(
        201,
        &json!({"Id": view.record.id, "Warnings": []}),
    ))
}

/// Create's errors: 404 is reserved for a missing image (the CLI pulls on any 404 here).
fn create_error(error: EngineError, image: &str) -> HttpError {
    let missing = matches!(
        &error,
        EngineError::Store(StoreError::NoSuchImage(_))
            | EngineError::Container(berth_images::container::ContainerError::Store(
                StoreError::NoSuchImage(_)
            ))
    );
    if missing {
        // The CLI shows this; Docker names the image with its tag.
        let shown = Reference::parse(image)
            .map(|r| r.with_default_tag().familiar())
            .unwrap_or_else(|_| image.to_owned());
        return HttpError::not_found(format!("No such image: {shown}"));
    }
    let mapped = fail(error);
    if mapped.status == 404 {
        HttpError::bad_request(mapped.message)
    } else {
        mapped
    }
}
// ANCHOR_END: create

/// `POST /containers/{id}/start`: 204, or 304 if it already runs.
fn start(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let engine = &daemon.engine;
    // API < 1.24 could pass a HostConfig here; moby refuses one since, and so do we.
    if !req.body().is_empty() {
        let body: Value = req.json()?;
        if body.as_object().is_some_and(|o| !o.is_empty()) {
            return Err(HttpError::bad_request(
                "starting a container with a HostConfig is not supported: set it at create",
            ));
        }
    }
    match engine.start(&param(req, "id")) {
        Ok(()) => Ok(Response::no_content()),
        Err(EngineError::AlreadyRunning(_)) => Ok(Response::new(304)),
        Err(e) => Err(fail(e)),
    }
}

/// A signal by name (`TERM`, `SIGTERM`, `sigterm`) or number (`15`).
pub fn parse_signal(text: &str) -> Result<Signal, HttpError> {
    engine::parse_signal(text)
        .ok_or_else(|| HttpError::bad_request(format!("invalid signal: {text}")))
}

/// The `t` of stop and restart: seconds, `-1` = no limit (we cap it at a day).
fn grace(req: &Request) -> Result<Option<Duration>, HttpError> {
    match req.query().get_as::<i64>("t")? {
        None => Ok(None),
        Some(t) if t < 0 => Ok(Some(Duration::from_secs(86_400))),
        Some(t) => Ok(Some(Duration::from_secs(t as u64))),
    }
}

fn stop_signal(req: &Request) -> Result<Option<Signal>, HttpError> {
    req.query()
        .get("signal")
        .filter(|s| !s.is_empty())
        .map(parse_signal)
        .transpose()
}

/// `POST /containers/{id}/stop?t=&signal=`: 204, or 304 if it was not running.
fn stop(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let engine = &daemon.engine;
    let (grace, signal) = (grace(req)?, stop_signal(req)?);
    match engine.stop(&param(req, "id"), grace, signal) {
        Ok(true) => Ok(Response::no_content()),
        Ok(false) => Ok(Response::new(304)),
        Err(e) => Err(fail(e)),
    }
}

/// `POST /containers/{id}/restart?t=&signal=`: stop (if running), then start.
fn restart(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let engine = &daemon.engine;
    let (grace, signal) = (grace(req)?, stop_signal(req)?);
    let id = param(req, "id");
    engine.stop(&id, grace, signal).map_err(fail)?;
    match engine.start(&id) {
        Ok(()) | Err(EngineError::AlreadyRunning(_)) => Ok(Response::no_content()),
        Err(e) => Err(fail(e)),
    }
}

/// `POST /containers/{id}/kill?signal=`: SIGKILL by default; 409 if not running.
fn kill(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let engine = &daemon.engine;
    let signal = stop_signal(req)?.unwrap_or(Signal::SIGKILL);
    let id = param(req, "id");
    engine.kill(&id, signal).map_err(fail)?;
    // After SIGKILL, moby answers once the container is gone, and scripts rely on it:
    // `docker kill c && docker inspect c` must not still say "running". SIGKILL cannot be
    // caught, so this wait is short. Other signals may be handled, and are not waited for.
    if signal == Signal::SIGKILL
        && let Ok(waiter) = engine.wait(&id, WaitCondition::NotRunning)
    {
        let _ = waiter.wait_at_most(KILL_WAIT);
    }
    Ok(Response::no_content())
}

/// How long `kill` with SIGKILL waits for the container to be down before it answers anyway.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// Docker's wait conditions; anything else is a 400.
pub fn parse_condition(text: Option<&str>) -> Result<WaitCondition, HttpError> {
    match text {
        None | Some("") | Some("not-running") => Ok(WaitCondition::NotRunning),
        Some("next-exit") => Ok(WaitCondition::NextExit),
        Some("removed") => Ok(WaitCondition::Removed),
        Some(other) => Err(HttpError::bad_request(format!(
            "invalid condition: {other:?} (use not-running, next-exit or removed)"
        ))),
    }
}

// ANCHOR: wait
/// `POST /containers/{id}/wait?condition=`: the head at once, the body when satisfied.
fn wait(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let engine = &daemon.engine;
    let condition = parse_condition(req.query().get("condition"))?;
    // Registered now, before the head goes out: a `next-exit` counts from this moment, and
    // the CLI sends start as soon as it has the head.
    let waiter = engine.wait(&param(req, "id"), condition).map_err(fail)?;
    Ok(Response::stream(200, "application/json", move |body| {
        // No `Error` key on success: the CLI exits 125 on any non-null Error, even empty.
        let message = match waiter.wait() {
            Ok(code) => json!({"StatusCode": code}),
            Err(e) => json!({"StatusCode": -1, "Error": {"Message": e.to_string()}}),
        };
        body.send_json(&message)
    }))
}
// ANCHOR_END: wait

/// `DELETE /containers/{id}?force=&v=&link=`.
fn remove(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let engine = &daemon.engine;
    let force = req.query().bool_or("force", false)?;
    // `-v`: the container's anonymous volumes go with it (chapter 8).
    let anonymous = if req.query().bool_or("v", false)? {
        volumes::anonymous_of(daemon, &param(req, "id"))
    } else {
        Vec::new()
    };
    if req.query().bool_or("link", false)? {
        return Err(HttpError::bad_request(
            "links are not supported by berthd (link=1)",
        ));
    }
    engine.remove(&param(req, "id"), force).map_err(fail)?;
    volumes::remove_unused(daemon, &anonymous);
    Ok(Response::no_content())
}

/// `State.Status`: as the engine says, and "paused" for a running container that is frozen.
pub(crate) fn state_name(view: &ContainerView) -> &'static str {
    match view.status {
        Status::Running if view.paused => "paused",
        Status::Created => "created",
        Status::Running => "running",
        Status::Exited => "exited",
        Status::Restarting => "restarting",
        Status::Removing => "removing",
    }
}

/// Seconds since the epoch of an RFC 3339 time.
fn secs(time: Option<&str>) -> Option<u64> {
    time.and_then(berth_images::text::parse_rfc3339)
}

/// `docker ps`'s STATUS column: "Up 5 minutes", "Exited (0) 2 seconds ago", "Created".
pub(crate) fn status_text(view: &ContainerView) -> String {
    match view.status {
        Status::Created => "Created".into(),
        Status::Removing => "Removal In Progress".into(),
        Status::Running => {
            let up = match secs(view.started_at.as_deref()) {
                Some(t) => format!("Up {}", berth_images::text::human_duration(t)),
                None => "Up".into(),
            };
            // As moby: "Up 5 seconds (Paused)", else "(healthy)", "(health: starting)".
            if view.paused {
                return format!("{up} (Paused)");
            }
            match view.health.as_ref().map(|h| h.status) {
                Some(HealthStatus::Starting) => format!("{up} (health: starting)"),
                Some(status) => format!("{up} ({})", status.name()),
                None => up,
            }
        }
        Status::Exited | Status::Restarting => {
            let code = view.exit_code.unwrap_or(0);
            let word = match view.status {
                Status::Restarting => "Restarting",
                _ => "Exited",
            };
            match secs(view.finished_at.as_deref()) {
                Some(t) => format!(
                    "{word} ({code}) {} ago",
                    berth_images::text::human_duration(t)
                ),
                None => format!("{word} ({code})"),
            }
        }
    }
}

/// `docker ps`'s COMMAND: as moby builds it, arguments with a space in single quotes
/// (`sh -c 'echo hi; sleep 10'`), which the CLI then truncates.
pub fn command_text(command: &[String]) -> String {
    command
        .iter()
        .enumerate()
        .map(|(i, arg)| {
            if i > 0 && arg.contains(' ') {
                format!("'{arg}'")
            } else {
                arg.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a container passes `docker ps` filters.
fn passes(view: &ContainerView, filters: &Filters) -> bool {
    let r = &view.record;
    filters.accepts("status", |s| s == state_name(view))
        && filters.accepts("name", |n| r.name.contains(n.trim_start_matches('/')))
        && filters.accepts("id", |i| r.id.starts_with(i))
        && filters.labels_match(&r.options.settings.labels)
        && filters.accepts("health", |h| {
            let status = view.health.as_ref().map(|h| h.status.name());
            h == status.unwrap_or("none")
        })
        && filters.accepts("ancestor", |a| {
            a == r.image_name
                || r.image.to_string().starts_with(a)
                || r.image.hex().starts_with(a)
                || Reference::parse(a).is_ok_and(|want| {
                    Reference::parse(&r.image_name).is_ok_and(|have| {
                        want.clone().with_default_tag() == have.clone().with_default_tag()
                            || (want.tag.is_none() && want.repository() == have.repository())
                    })
                })
        })
        && filters.accepts("exited", |code| {
            view.status == Status::Exited
                && view.exit_code.map(|c| c.to_string()).as_deref() == Some(code)
        })
}

/// `GET /containers/json?all=&limit=&size=&filters=`: `docker ps`.
/// A container as `docker ps` and `docker system df` list it (moby's `types.Container`).
pub(crate) fn summary_json(view: &ContainerView) -> Value {
    let r = &view.record;
    json!({
        "Id": r.id,
        "Names": [format!("/{}", r.name)],
        "Image": r.image_name,
        "ImageID": r.image.to_string(),
        "Command": command_text(&r.command()),
        "Created": r.created,
        "Ports": [],
        "Labels": r.options.settings.labels,
        "State": state_name(view),
        "Status": status_text(view),
        "HostConfig": {"NetworkMode": "none"},
        "NetworkSettings": {"Networks": {}},
        "Mounts": [],
    })
}

fn list(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let engine = &daemon.engine;
    let all = req.query().bool_or("all", false)?;
    let size = req.query().bool_or("size", false)?;
    let limit = req.query().get_as::<i64>("limit")?.filter(|l| *l > 0);
    let filters = Filters::from_request(
        req,
        &[
            "status", "name", "id", "label", "ancestor", "exited", "health",
        ],
    )?;
    for status in filters.values("status") {
        if !matches!(
            status.as_str(),
            "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
        ) {
            return Err(HttpError::bad_request(format!(
                "invalid filter 'status={status}'"
            )));
        }
    }
    for health in filters.values("health") {
        if !matches!(
            health.as_str(),
            "starting" | "healthy" | "unhealthy" | "none"
        ) {
            return Err(HttpError::bad_request(format!(
                "Unrecognised filter value for health: {health}"
            )));
        }
    }
    // `docker ps -a`, `-n N` and a status filter all show stopped containers.
    let show_all = all || limit.is_some() || !filters.values("status").is_empty();
    let mut out = Vec::new();
    for view in engine.containers().map_err(fail)? {
        if !show_all && !matches!(view.status, Status::Running | Status::Restarting) {
            continue;
        }
        if !passes(&view, &filters) {
            continue;
        }
        let mut entry = summary_json(&view);
        networks::list_fields(daemon, &view.record, &mut entry);
        if size {
            let upper = daemon.engine.store().containers_dir().join(&view.record.id);
            entry["SizeRw"] = json!(berth_images::store::disk_usage(&upper));
            entry["SizeRootFs"] = json!(0);
        }
        out.push(entry);
        if limit.is_some_and(|l| out.len() as i64 >= l) {
            break;
        }
    }
    Ok(Response::json(200, &out))
}

/// `State.Health` in moby's words.
fn health_json(health: &Health) -> Value {
    let log: Vec<Value> = health
        .log
        .iter()
        .map(|probe| {
            json!({
                "Start": probe.start,
                "End": probe.end,
                "ExitCode": probe.exit_code,
                "Output": probe.output,
            })
        })
        .collect();
    json!({
        "Status": health.status.name(),
        "FailingStreak": health.failing_streak,
        "Log": log,
    })
}

/// `Config.Healthcheck`, durations in nanoseconds as the API has them.
fn healthcheck_json(check: &HealthConfig) -> Value {
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let mut value = json!({"Test": check.test});
    for (key, duration) in [
        ("Interval", check.interval),
        ("Timeout", check.timeout),
        ("StartPeriod", check.start_period),
    ] {
        if !duration.is_zero() {
            value[key] = json!(nanos(duration));
        }
    }
    if check.retries != 0 {
        value["Retries"] = json!(check.retries);
    }
    value
}

/// `HostConfig.CgroupnsMode` as dockerd shows it: the one asked for, else the machine's
/// default (`private` on a pure cgroup v2 host, `host` on v1 and hybrid ones).
fn cgroupns_mode(record: &berth_images::container::ContainerRecord) -> &'static str {
    use berth_cgroups::CgroupNs;
    let asked = berth_cgroups::engine::settings(record)
        .ok()
        .and_then(|s| s.cgroupns);
    let mode = asked.unwrap_or_else(|| {
        berth_cgroups::Layout::detect().map_or(CgroupNs::Host, |layout| {
            CgroupNs::default_for(layout.kind())
        })
    });
    match mode {
        CgroupNs::Private => "private",
        CgroupNs::Host => "host",
    }
}

/// `MaskedPaths` or `ReadonlyPaths`: Docker's list, empty when `--privileged` or
/// `systempaths=unconfined` lifts them.
fn system_paths(options: &berth_security::SecurityOptions, paths: &[&str]) -> Value {
    if options.privileged || options.system_paths_unconfined {
        json!([])
    } else {
        json!(paths)
    }
}

// ANCHOR: inspect
/// `GET /containers/{id}/json`: every field the CLI and docker-py read.
pub fn inspect_json(view: &ContainerView) -> Value {
    let r = &view.record;
    let s = &r.options.settings;
    let never = "0001-01-01T00:00:00Z";
    // Checked at create; a record a later version cannot read shows the default profile.
    let security = berth_security::engine::settings(r).unwrap_or_default();
    // Written at create and by `docker update`.
    let cgroup_settings = berth_cgroups::engine::settings(r).unwrap_or_default();
    let limits = cgroup_settings.resources;
    let devices = cgroup_settings.devices;
    // As dockerd shows them: `--device` as given (the permissions filled in), the rules.
    let device_list: Vec<Value> = devices
        .devices
        .iter()
        .map(|d| {
            json!({
                "PathOnHost": d.path_on_host,
                "PathInContainer": d.path_in_container,
                "CgroupPermissions": d.permissions,
            })
        })
        .collect();
    let rules: Vec<String> = devices.rules.iter().map(ToString::to_string).collect();
    let or_null = |list: &Vec<String>| (!list.is_empty()).then(|| list.clone());
    let command = r.command();
    let path = command.first().cloned().unwrap_or_default();
    let args: Vec<&String> = command.iter().skip(1).collect();
    // `HostConfig` on its own: one `json!` cannot hold the whole answer.
    let host_config = json!({
        "Binds": null,
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": "none",
        "PortBindings": {},
        "RestartPolicy": {
            "Name": view.restart_policy.name(),
            "MaximumRetryCount": view.restart_policy.max_retries(),
        },
        "AutoRemove": s.auto_remove,
        "ConsoleSize": s.console_size.unwrap_or([0, 0]),
        "Init": r.options.init,
        "Privileged": security.options.privileged,
        "CapAdd": or_null(&security.options.cap_add),
        "CapDrop": or_null(&security.options.cap_drop),
        "SecurityOpt": or_null(&security.security_opt),
        "UsernsMode": security.userns_mode,
        "GroupAdd": or_null(&r.options.group_add),
        "Devices": device_list,
        "DeviceCgroupRules": or_null(&rules),
        "Memory": limits.memory.unwrap_or(0),
        "NanoCpus": limits.nano_cpus.unwrap_or(0),
        // The fields clients read that have one value here (host_config.rs says why).
        "CgroupnsMode": cgroupns_mode(r),
        "Isolation": "",
        "Runtime": "runc",
        "VolumeDriver": "",
        "MemorySwappiness": null,
        "MaskedPaths": system_paths(&security.options, &berth_security::paths::MASKED),
        "ReadonlyPaths": system_paths(&security.options, &berth_security::paths::READ_ONLY),
    });
    let mut value = json!({
        "Id": r.id,
        "Created": berth_images::text::format_rfc3339(r.created, 0),
        "Path": path,
        "Args": args,
        "State": {
            "Status": state_name(view),
            // As moby: a container waiting for its restart is still "running" to clients.
            "Running": matches!(view.status, Status::Running | Status::Restarting),
            "Paused": view.paused,
            "Restarting": view.status == Status::Restarting,
            "OOMKilled": view.oom_killed,
            "Dead": false,
            "Pid": view.pid.unwrap_or(0),
            "ExitCode": view.exit_code.unwrap_or(0),
            "Error": view.error.clone().unwrap_or_default(),
            "StartedAt": view.started_at.clone().unwrap_or_else(|| never.into()),
            "FinishedAt": view.finished_at.clone().unwrap_or_else(|| never.into()),
        },
        "Image": r.image.to_string(),
        "ResolvConfPath": "",
        "HostnamePath": "",
        "HostsPath": "",
        "LogPath": view.log_path.display().to_string(),
        "Name": format!("/{}", r.name),
        "RestartCount": view.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
        "HostConfig": host_config,
        "GraphDriver": {"Name": "overlay2", "Data": null},
        "Mounts": [],
        "Config": {
            "Hostname": r.hostname,
            "Domainname": "",
            "User": r.user.clone().unwrap_or_default(),
            "AttachStdin": s.attach_stdin,
            "AttachStdout": s.attach_stdout,
            "AttachStderr": s.attach_stderr,
            "Tty": s.tty,
            "OpenStdin": s.open_stdin,
            "StdinOnce": s.stdin_once,
            // The bare names of `-e NAME` stay, as dockerd keeps them.
            "Env": r.env.iter().map(|(k, v)| format!("{k}={v}"))
                .chain(r.options.unset_env.iter().cloned())
                .collect::<Vec<_>>(),
            "Cmd": r.cmd,
            "Image": r.image_name,
            "Volumes": null,
            "WorkingDir": r.workdir,
            "Entrypoint": if r.entrypoint.is_empty() { None } else { Some(&r.entrypoint) },
            "OnBuild": null,
            "Labels": s.labels,
            "StopSignal": s.stop_signal,
            "StopTimeout": s.stop_timeout,
        },
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "",
            "Ports": {},
            "SandboxKey": "",
            "Networks": {},
            "IPAddress": "",
            "Gateway": "",
            "MacAddress": "",
        },
    });
    // The rest of the limits (one `json!` cannot hold them all).
    value["HostConfig"]["MemorySwap"] = json!(limits.memory_swap.unwrap_or(0));
    value["HostConfig"]["MemoryReservation"] = json!(limits.memory_reservation.unwrap_or(0));
    value["HostConfig"]["CpuShares"] = json!(limits.cpu_shares.unwrap_or(0));
    value["HostConfig"]["CpuQuota"] = json!(limits.cpu_quota.unwrap_or(0));
    value["HostConfig"]["CpuPeriod"] = json!(limits.cpu_period.unwrap_or(0));
    value["HostConfig"]["CpusetCpus"] = json!(limits.cpuset_cpus.unwrap_or_default());
    value["HostConfig"]["CpusetMems"] = json!(limits.cpuset_mems.unwrap_or_default());
    value["HostConfig"]["PidsLimit"] = json!(limits.pids_limit.filter(|l| *l > 0));
    value["HostConfig"]["BlkioWeight"] = json!(limits.blkio_weight.unwrap_or(0));
    value
}
// ANCHOR_END: inspect

fn inspect(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let engine = &daemon.engine;
    let view = engine.container(&param(req, "id")).map_err(fail)?;
    let mut value = inspect_json(&view);
    value["Mounts"] = volumes::mounts_json(daemon, &view);
    networks::inspect_fields(daemon, &view.record, &mut value);
    volumes::host_config_json(daemon, &view, &mut value["HostConfig"]);
    // Absent without a check, as in moby (clients test for the key).
    if let Some(health) = &view.health {
        value["State"]["Health"] = health_json(health);
    }
    if let Some(check) = &view.healthcheck {
        value["Config"]["Healthcheck"] = healthcheck_json(check);
    }
    if req.query().bool_or("size", false)? {
        let upper = daemon.engine.store().containers_dir().join(&view.record.id);
        value["SizeRw"] = json!(berth_images::store::disk_usage(&upper));
        value["SizeRootFs"] = json!(0);
    }
    Ok(Response::json(200, &value))
}

// ANCHOR: pump
/// Runs a session on a hijacked connection: stdin from the client to the process, output
/// back, raw for a TTY and framed otherwise. The connection's write side closes when the
/// output ends; the client's half-close of stdin is not the end.
pub fn pump(session: Session, upgraded: Upgraded) {
    let tty = session.tty;
    let Ok((reader, mut writer)) = upgraded.split() else {
        return;
    };
    let _ = session.pump(Box::new(reader), &mut |stream, bytes| {
        if tty {
            writer.write_all(bytes)?;
        } else {
            frame(stream, bytes, &mut writer)?;
        }
        writer.flush()
    });
    // Dropping `writer` sends EOF: the CLI takes that as "the process is done".
}
// ANCHOR_END: pump

/// The Content-Type of a session's output.
pub fn stream_type(tty: bool) -> &'static str {
    if tty { RAW_STREAM } else { MULTIPLEXED_STREAM }
}

// ANCHOR: attach
/// `POST /containers/{id}/attach?stream=&logs=&stdin=&stdout=&stderr=`: the hijack.
fn attach(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let engine = &daemon.engine;
    let q = req.query();
    let options = AttachOptions {
        stdin: q.bool_or("stdin", false)?,
        stdout: q.bool_or("stdout", false)?,
        stderr: q.bool_or("stderr", false)?,
        logs: q.bool_or("logs", false)?,
        // The CLI sends `--detach-keys` or its config file's `detachKeys`; the engine
        // checks them (400 if they are not keys).
        detach_keys: q.get("detachKeys").unwrap_or_default().to_owned(),
    };
    let stream = q.bool_or("stream", false)?;
    if !stream && !options.logs {
        return Err(HttpError::bad_request(
            "attach needs stream=1 or logs=1 (or both)",
        ));
    }
    // Errors (no such container) go out now, as JSON: the client accepts only a 101 later.
    let session = engine.attach(&param(req, "id"), options).map_err(fail)?;
    Ok(Response::upgrade(stream_type(session.tty), move |up| {
        pump(session, up)
    }))
}
// ANCHOR_END: attach

/// `h` and `w` of a resize request.
pub fn dimensions(req: &Request) -> Result<(u16, u16), HttpError> {
    let h = req.query().get_as::<u16>("h")?;
    let w = req.query().get_as::<u16>("w")?;
    match (h, w) {
        (Some(h), Some(w)) => Ok((h, w)),
        _ => Err(HttpError::bad_request(
            "resize needs h (rows) and w (columns)",
        )),
    }
}

/// `POST /containers/{id}/rename?name=`: `docker rename`, 204; 409 if the name is in use.
fn rename(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let name = req.query().get("name").unwrap_or_default().to_owned();
    daemon
        .engine
        .rename(&param(req, "id"), &name)
        .map_err(fail)?;
    Ok(Response::no_content())
}

/// `POST /containers/{id}/resize?h=&w=`.
fn resize(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let engine = &daemon.engine;
    let (h, w) = dimensions(req)?;
    engine.resize(&param(req, "id"), h, w).map_err(fail)?;
    Ok(Response::new(200))
}

/// A time bound of `logs`: unix seconds (fractional, as the CLI sends), or RFC 3339.
fn time_bound(req: &Request, name: &str) -> Result<Option<f64>, HttpError> {
    let Some(text) = req.query().get(name).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(secs) = text.parse::<f64>() {
        // moby: 0 means "not set".
        return Ok((secs > 0.0).then_some(secs));
    }
    berth_images::text::parse_rfc3339(text)
        .map(|s| Some(s as f64))
        .ok_or_else(|| {
            HttpError::bad_request(format!(
                "invalid value for {name}: {text:?} (unix seconds or RFC 3339)"
            ))
        })
}

// ANCHOR: logs
/// `GET /containers/{id}/logs`: framed for a non-TTY container, raw for a TTY one.
fn logs(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let engine = &daemon.engine;
    let q = req.query();
    let tail = match q.get("tail") {
        None | Some("") | Some("all") => None,
        Some(n) => match n.parse::<i64>() {
            Ok(n) if n < 0 => None,
            Ok(n) => Some(n as usize),
            Err(_) => {
                return Err(HttpError::bad_request(format!(
                    "invalid tail {n:?}: a number or \"all\""
                )));
            }
        },
    };
    let options = LogOptions {
        stdout: q.bool_or("stdout", false)?,
        stderr: q.bool_or("stderr", false)?,
        follow: q.bool_or("follow", false)?,
        timestamps: q.bool_or("timestamps", false)?,
        tail,
        since: time_bound(req, "since")?,
        until: time_bound(req, "until")?,
    };
    if !options.stdout && !options.stderr {
        return Err(HttpError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let id = param(req, "id");
    let tty = engine
        .container(&id)
        .map_err(fail)?
        .record
        .options
        .settings
        .tty;
    let timestamps = options.timestamps;
    let lines = engine.logs(&id, options).map_err(fail)?;
    Ok(Response::stream(200, stream_type(tty), move |body| {
        for line in lines {
            let line = line?;
            let bytes = line.printed(timestamps);
            if tty {
                body.send(&bytes)?;
            } else {
                let mut framed = Vec::with_capacity(bytes.len() + 8);
                let stream = match line.stream {
                    StreamKind::Stderr => StreamKind::Stderr,
                    _ => StreamKind::Stdout,
                };
                frame(stream, &bytes, &mut framed)?;
                body.send(&framed)?;
            }
        }
        Ok(())
    }))
}
// ANCHOR_END: logs

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("sigint").unwrap(), Signal::SIGINT);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("NOPE").unwrap_err().status, 400);
        assert_eq!(parse_signal("99").unwrap_err().status, 400);
    }

    #[test]
    fn commands_are_quoted_as_moby_does() {
        let command = ["sh", "-c", "echo hi; sleep 10"].map(String::from);
        assert_eq!(command_text(&command), "sh -c 'echo hi; sleep 10'");
        assert_eq!(command_text(&["true".to_owned()]), "true");
    }

    #[test]
    fn wait_conditions() {
        assert_eq!(parse_condition(None).unwrap(), WaitCondition::NotRunning);
        assert_eq!(
            parse_condition(Some("next-exit")).unwrap(),
            WaitCondition::NextExit
        );
        assert_eq!(
            parse_condition(Some("removed")).unwrap(),
            WaitCondition::Removed
        );
        assert_eq!(parse_condition(Some("later")).unwrap_err().status, 400);
    }
}
