//! The verbs on a running container's cgroup (chapter 5): `docker stats`, `pause`,
//! `unpause`, `update` and `top`.
//!
//! dockerd answers these from the container's cgroup, through containerd and runc: the
//! counters for `stats`, the freezer for `pause`, the limit files for `update`, the pid list
//! for `top`; the `networks` of `stats` come from the container's network namespace. Here
//! chapter 5's `CgroupExtension` does the reading and writing (reached by
//! `Engine::extension`), chapter 7 counts the traffic of its interfaces, the engine knows a paused container (`Engine::pause`), and this
//! module only maps Docker's JSON to those calls and back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use berth_cgroups::engine::UpdateError;
use berth_cgroups::usage::Usage;
use berth_cgroups::{CgroupError, CgroupExtension, Version};
use berth_daemon::http::{HttpError, Request, Response, Router};
use berth_network::counters::{CountersError, InterfaceCounters, interface_counters};
use berth_network::engine::Mode;
use serde_json::{Value, json};

use super::{Daemon, Route, create, errors, param, with_daemon};
use crate::engine::{ContainerView, Status};

/// Adds this module's routes.
pub fn routes(router: Router, daemon: &Arc<Daemon>) -> Router {
    let d = |f: Route| with_daemon(daemon, f);
    router
        .get("/containers/{id}/stats", d(stats))
        .post("/containers/{id}/pause", d(pause))
        .post("/containers/{id}/unpause", d(unpause))
        .post("/containers/{id}/update", d(update))
        .get("/containers/{id}/top", d(top))
}

/// The daemon's cgroup extension (berthd always registers it).
fn cgroups(daemon: &Daemon) -> Result<&CgroupExtension, HttpError> {
    daemon
        .engine
        .extension::<CgroupExtension>()
        .ok_or_else(|| HttpError::internal("berthd runs without its cgroups extension"))
}

/// How long apart the two readings of a `stream=false` answer are, and the stream's beat.
const INTERVAL: Duration = Duration::from_secs(1);

/// Docker's zero time, for a `read`/`preread` with no reading.
const NEVER: &str = "0001-01-01T00:00:00Z";

/// One reading: the cgroup's counters, its interfaces' and the machine's CPU time, and when.
struct Sample {
    read: String,
    usage: Usage,
    /// By interface; `None` for a container without networks of its own.
    networks: Option<BTreeMap<String, InterfaceCounters>>,
    system_cpu: u64,
    online_cpus: u32,
}

/// Reads container `id`'s counters now; `None` if it is not running (or its cgroup went
/// away meanwhile: it just exited).
fn sample(daemon: &Daemon, view: &ContainerView) -> Result<Option<Sample>, HttpError> {
    if view.status != Status::Running {
        return Ok(None);
    }
    let usage = match cgroups(daemon)?.usage(&view.record.id) {
        Ok(usage) => usage,
        Err(e) if is_gone(&*e) => return Ok(None),
        Err(e) => return Err(HttpError::internal(e.to_string())),
    };
    let networks = match networks(view) {
        Ok(networks) => networks,
        Err(CountersError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(None);
        }
        Err(e) => return Err(HttpError::internal(e.to_string())),
    };
    let (system_cpu, online_cpus) = berth_cgroups::usage::system_cpu()
        .map_err(|e| HttpError::internal(format!("reading /proc/stat: {e}")))?;
    Ok(Some(Sample {
        read: berth_images::state::now_rfc3339(),
        usage,
        networks,
        system_cpu,
        online_cpus,
    }))
}

/// Chapter 7's counters of the interfaces in a running container's network namespace (for
/// `container:NAME`, the other container's, as dockerd follows it to that sandbox). dockerd
/// counts the interfaces of the sandbox's endpoints: none with `--network none` (only `lo`)
/// or `host` (the host's devices are no endpoint's), and it leaves an empty `networks` out;
/// so do we (`None`).
fn networks(
    view: &ContainerView,
) -> Result<Option<BTreeMap<String, InterfaceCounters>>, CountersError> {
    let host = berth_network::engine::settings(&view.record)
        .is_ok_and(|settings| settings.mode == Mode::Host);
    match view.pid {
        Some(pid) if !host => {
            let all = interface_counters(pid)?;
            Ok(Some(all).filter(|all| !all.is_empty()))
        }
        _ => Ok(None),
    }
}

/// Whether a counter could not be read because the cgroup is gone.
fn is_gone(error: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        error.downcast_ref::<CgroupError>(),
        Some(CgroupError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound
    )
}

// ANCHOR: stats_json
/// `cpu_stats` (or `precpu_stats`) as dockerd writes them; zeros without a reading.
fn cpu_json(sample: Option<&Sample>) -> Value {
    let Some(s) = sample else {
        return json!({
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        });
    };
    let cpu = &s.usage.cpu;
    let mut usage = json!({
        "total_usage": cpu.total_ns,
        "usage_in_kernelmode": cpu.system_ns,
        "usage_in_usermode": cpu.user_ns,
    });
    // v2 does not count per CPU, and dockerd leaves the key out then.
    if !cpu.percpu_ns.is_empty() {
        usage["percpu_usage"] = json!(cpu.percpu_ns);
    }
    json!({
        "cpu_usage": usage,
        "system_cpu_usage": s.system_cpu,
        "online_cpus": s.online_cpus,
        "throttling_data": {
            "periods": cpu.periods,
            "throttled_periods": cpu.throttled_periods,
            "throttled_time": cpu.throttled_ns,
        },
    })
}

/// One object of `GET /containers/{id}/stats`: `now` and the reading before it.
fn stats_json(view: &ContainerView, now: Option<&Sample>, before: Option<&Sample>) -> Value {
    let io_keys = [
        "io_service_bytes_recursive",
        "io_serviced_recursive",
        "io_queue_recursive",
        "io_service_time_recursive",
        "io_wait_time_recursive",
        "io_merged_recursive",
        "io_time_recursive",
        "sectors_recursive",
    ];
    let mut blkio: serde_json::Map<String, Value> = io_keys
        .iter()
        .map(|k| (k.to_string(), Value::Null))
        .collect();
    let (mut memory, mut pids) = (json!({}), json!({}));
    if let Some(s) = now {
        let u = &s.usage;
        let entries: Vec<Value> = u
            .io_service_bytes
            .iter()
            .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}))
            .collect();
        // dockerd sends every list, empty ones too, for a running container.
        for key in io_keys {
            blkio.insert(key.to_owned(), json!([]));
        }
        blkio.insert(io_keys[0].to_owned(), json!(entries));
        memory = json!({
            "usage": u.memory.usage,
            "stats": u.memory.stats,
            "limit": u.memory.limit,
        });
        // v1 also has the peak; v2 has none.
        if u.memory_version == Some(Version::V1) {
            memory["max_usage"] = json!(u.memory.max_usage.unwrap_or(0));
        }
        pids = json!({"current": u.pids.current});
        if let Some(limit) = u.pids.limit {
            pids["limit"] = json!(limit);
        }
    }
    let mut stats = json!({
        "read": now.map_or(NEVER, |s| s.read.as_str()),
        "preread": before.map_or(NEVER, |s| s.read.as_str()),
        "pids_stats": pids,
        "blkio_stats": blkio,
        // Windows only: dockerd on Linux always sends 0.
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_json(now),
        "precpu_stats": cpu_json(before),
        "memory_stats": memory,
        "name": format!("/{}", view.record.name),
        "id": view.record.id,
    });
    if let Some(networks) = now.and_then(|s| s.networks.as_ref()) {
        stats["networks"] = json!(networks);
    }
    stats
}
// ANCHOR_END: stats_json

// ANCHOR: stats
/// `GET /containers/{id}/stats?stream=&one-shot=`: one JSON object a second, or with
/// `stream=false` one object with two readings a second apart (so that `docker stats
/// --no-stream` can compute a CPU percentage); with `one-shot` too, one reading only. A
/// container that does not run gets zeros, as from dockerd.
fn stats(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let stream = req.query().bool_or("stream", true)?;
    let one_shot = req.query().bool_or("one-shot", false)?;
    if one_shot && stream {
        return Err(HttpError::bad_request(
            "cannot have stream=true and one-shot=true",
        ));
    }
    let id = param(req, "id");
    let view = daemon.engine.container(&id).map_err(errors::engine_error)?;
    if !stream {
        let mut now = sample(daemon, &view)?;
        let mut before = None;
        if now.is_some() && !one_shot {
            std::thread::sleep(INTERVAL);
            before = now;
            now = sample(daemon, &view)?;
        }
        return Ok(Response::json(
            200,
            &stats_json(&view, now.as_ref(), before.as_ref()),
        ));
    }
    let daemon = Arc::clone(daemon);
    Ok(Response::stream(200, "application/json", move |body| {
        let mut before: Option<Sample> = None;
        loop {
            // Removed meanwhile: the stream ends.
            let Ok(view) = daemon.engine.container(&id) else {
                return Ok(());
            };
            let now = sample(&daemon, &view).map_err(|e| std::io::Error::other(e.message))?;
            body.send_json(&stats_json(&view, now.as_ref(), before.as_ref()))?;
            before = now;
            std::thread::sleep(INTERVAL);
        }
    }))
}
// ANCHOR_END: stats

/// `POST /containers/{id}/pause`: 204; 409 if not running or already paused.
fn pause(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    daemon
        .engine
        .pause(&param(req, "id"))
        .map_err(errors::engine_error)?;
    Ok(Response::no_content())
}

/// `POST /containers/{id}/unpause`: 204; 409 if not paused.
fn unpause(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    daemon
        .engine
        .unpause(&param(req, "id"))
        .map_err(errors::engine_error)?;
    Ok(Response::no_content())
}

// ANCHOR: update
/// `POST /containers/{id}/update`: new limits for a container, written into its cgroup and
/// its record. `{"Warnings": null}` as dockerd answers when it has none.
fn update(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let body: Value = req.json()?;
    let changes = create::update_limits(&body)?;
    let restart = create::update_restart(&body)?;
    let view = daemon
        .engine
        .container(&param(req, "id"))
        .map_err(errors::engine_error)?;
    if let Some(policy) = restart {
        daemon
            .engine
            .set_restart_policy(&view.record.id, policy)
            .map_err(errors::engine_error)?;
    }
    let store = daemon.engine.store();
    cgroups(daemon)?
        .update(store, &view.record.id, &changes)
        .map_err(|e| match e {
            UpdateError::Invalid(_)
            | UpdateError::Cgroup(
                CgroupError::NoController { .. } | CgroupError::Unsupported { .. },
            ) => HttpError::bad_request(e.to_string()),
            // The kernel refused a value (such as a memory limit below what is in use).
            UpdateError::Cgroup(CgroupError::Limit { .. }) => {
                HttpError::bad_request(format!("Cannot update container {}: {e}", view.record.id))
            }
            other => HttpError::internal(other.to_string()),
        })?;
    Ok(Response::json(200, &json!({"Warnings": null})))
}
// ANCHOR_END: update

/// `GET /containers/{id}/top?ps_args=`: `{"Titles": [...], "Processes": [[...], ...]}`;
/// 409 if the container does not run.
fn top(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let view = daemon
        .engine
        .container(&param(req, "id"))
        .map_err(errors::engine_error)?;
    if view.status != Status::Running {
        return Err(HttpError::conflict(format!(
            "Container {} is not running",
            view.record.id
        )));
    }
    let ps_args = req.query().get("ps_args").unwrap_or_default().to_owned();
    let table = cgroups(daemon)?
        .top(&view.record.id, &ps_args)
        .map_err(|e| HttpError::internal(e.to_string()))?;
    Ok(Response::json(
        200,
        &json!({"Titles": table.titles, "Processes": table.processes}),
    ))
}
