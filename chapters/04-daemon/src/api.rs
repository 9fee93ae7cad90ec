//! The chapter's REST API: each route turns a request into a call of the [`Engine`].
//!
//! The routes follow Docker's Engine API in shape (so that `final/` can grow from here), with
//! only the fields this chapter needs. `api.yaml` next to this crate documents them, and the
//! book shows each with `curl --unix-socket`.
//!
//! | method and path                      | does                          | answers            |
//! |--------------------------------------|-------------------------------|--------------------|
//! | `GET /_ping`, `GET /version`         | is the daemon there           | 200                |
//! | `POST /containers/create?name=N`     | create from `{"Image","Cmd"}` | 201 `{"Id"}`, 400, 404, 409 |
//! | `POST /containers/{id}/start`        | start                         | 204, 304, 404, 500 `{"message","ExitCode"}` |
//! | `POST /containers/{id}/stop?t=10`    | SIGTERM, SIGKILL after `t` s  | 204, 304, 400, 404 |
//! | `POST /containers/{id}/kill?signal=` | send a signal                 | 204, 400, 404, 409 |
//! | `POST /containers/{id}/wait`         | wait for the exit             | 200 `{"StatusCode"}` streamed |
//! | `DELETE /containers/{id}?force=1`    | remove                        | 204, 409, 404      |
//! | `GET /containers/json?all=1`         | list                          | 200                |
//! | `GET /containers/{id}/json`          | inspect                       | 200, 404           |
//! | `GET /containers/{id}/logs?follow=1` | logs, framed as Docker's      | 200 streamed       |
//! | `POST /images/create?fromImage=R`    | pull, progress streamed; a failure is the last message | 200 streamed, 400 |
//! | `GET /images/json`                   | list images                   | 200                |
//! | `DELETE /images/{name*}?force=1`     | remove an image               | 200, 404, 409      |

use std::sync::Arc;
use std::time::Duration;

use berth_images::container::ContainerError;
use berth_images::reference::Reference;
use berth_images::store::StoreError;
use berth_registry::progress::{Event, LayerState, Progress};
use berth_registry::{PullOptions, RegistryConfig};
use nix::sys::signal::Signal;
use serde::Deserialize;
use serde_json::json;

use crate::engine::{
    ContainerView, CreateSpec, Engine, EngineError, LogOptions, Status, WaitCondition,
};
use crate::http::{ChunkWriter, HttpError, Request, Response, Router};

/// What the daemon serves with: its engine and how to reach registries.
pub struct Daemon {
    /// The engine: the store, the containers and their monitors.
    pub engine: Arc<Engine>,
    /// Mirrors and insecure registries, for pulls.
    pub registries: RegistryConfig,
}

/// The body of `POST /containers/create`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateBody {
    image: String,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    init: Option<bool>,
}

// ANCHOR: http_error
/// An engine error as the HTTP status Docker uses for it.
fn http_error(error: EngineError) -> HttpError {
    let message = error.to_string();
    match error {
        EngineError::NoSuchContainer(_)
        | EngineError::Container(ContainerError::NoSuchContainer(_))
        | EngineError::Store(StoreError::NoSuchImage(_))
        | EngineError::Container(ContainerError::Store(StoreError::NoSuchImage(_))) => {
            HttpError::not_found(message)
        }
        EngineError::Container(ContainerError::NameInUse { .. })
        | EngineError::RemoveRunning(_)
        | EngineError::RemoveRestarting(_)
        | EngineError::NotRunning(_)
        | EngineError::AlreadyPaused(_)
        | EngineError::NotPaused(_)
        | EngineError::Paused(_)
        | EngineError::Container(ContainerError::Running(_))
        | EngineError::Store(StoreError::InUse { .. })
        | EngineError::Store(StoreError::MultipleNames { .. }) => HttpError::conflict(message),
        EngineError::Store(StoreError::Ambiguous { .. })
        | EngineError::Container(ContainerError::Store(StoreError::Ambiguous { .. })) => {
            HttpError::bad_request(message)
        }
        EngineError::Container(
            ContainerError::BadName(_)
            | ContainerError::NoCommand
            | ContainerError::User(_)
            | ContainerError::Store(StoreError::Reference(_)),
        )
        | EngineError::Store(StoreError::Reference(_))
        | EngineError::Invalid(_) => HttpError::bad_request(message),
        _ => HttpError::internal(message),
    }
}
// ANCHOR_END: http_error

fn id_param(request: &Request) -> String {
    request.param("id").unwrap_or_default().to_owned()
}

// ANCHOR: routes
/// The routes of the chapter's API.
pub fn router(daemon: Arc<Daemon>) -> Router {
    let d = move || Arc::clone(&daemon);
    Router::new()
        .get("/_ping", |_: &mut Request| Response::text(200, "OK"))
        .get("/version", |_: &mut Request| {
            Response::json(
                200,
                &json!({"Version": env!("CARGO_PKG_VERSION"), "ApiVersion": "ch04", "Os": "linux"}),
            )
        })
        .post("/containers/create", {
            let d = d();
            move |req: &mut Request| create(&d, req)
        })
        .post("/containers/{id}/start", {
            let d = d();
            move |req: &mut Request| match d.engine.start(&id_param(req)) {
                Ok(()) => Ok(Response::no_content()),
                Err(EngineError::AlreadyRunning(_)) => Ok(Response::new(304)),
                Err(EngineError::Start { source, .. }) => Ok(Response::json(
                    500,
                    &json!({"message": source.message, "ExitCode": source.code}),
                )),
                Err(e) => Err(http_error(e)),
            }
        })
        .post("/containers/{id}/stop", {
            let d = d();
            move |req: &mut Request| -> Result<Response, HttpError> {
                let seconds: u64 = req.query().get_as("t")?.unwrap_or(10);
                let grace = Some(Duration::from_secs(seconds));
                match d.engine.stop(&id_param(req), grace, Some(Signal::SIGTERM)) {
                    Ok(true) => Ok(Response::no_content()),
                    Ok(false) => Ok(Response::new(304)),
                    Err(e) => Err(http_error(e)),
                }
            }
        })
        .post("/containers/{id}/kill", {
            let d = d();
            move |req: &mut Request| -> Result<Response, HttpError> {
                let signal = parse_signal(req.query().get("signal").unwrap_or("KILL"))?;
                d.engine
                    .kill(&id_param(req), signal)
                    .map(|()| Response::no_content())
                    .map_err(http_error)
            }
        })
        .post("/containers/{id}/wait", {
            let d = d();
            move |req: &mut Request| wait(&d, req)
        })
        .delete("/containers/{id}", {
            let d = d();
            move |req: &mut Request| -> Result<Response, HttpError> {
                let force = req.query().bool_or("force", false)?;
                d.engine
                    .remove(&id_param(req), force)
                    .map(|_| Response::no_content())
                    .map_err(http_error)
            }
        })
        .get("/containers/json", {
            let d = d();
            move |req: &mut Request| list(&d, req)
        })
        .get("/containers/{id}/json", {
            let d = d();
            move |req: &mut Request| -> Result<Response, HttpError> {
                let view = d.engine.container(&id_param(req)).map_err(http_error)?;
                Ok(Response::json(200, &inspect(&view)))
            }
        })
        .get("/containers/{id}/logs", {
            let d = d();
            move |req: &mut Request| logs(&d, req)
        })
        .post("/images/create", {
            let d = d();
            move |req: &mut Request| pull(&d, req)
        })
        .get("/images/json", {
            let d = d();
            move |_: &mut Request| images(&d)
        })
        .delete("/images/{name*}", {
            let d = d();
            move |req: &mut Request| remove_image(&d, req)
        })
}
// ANCHOR_END: routes

// ANCHOR: create
fn create(daemon: &Daemon, req: &mut Request) -> Result<Response, HttpError> {
    let body: CreateBody = req.json()?;
    let env = body
        .env
        .unwrap_or_default()
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => Err(HttpError::bad_request(format!(
                "invalid environment variable {pair:?}: expected KEY=VALUE"
            ))),
        })
        .collect::<Result<_, _>>()?;
    let spec = CreateSpec {
        image: body.image,
        name: req.query().get("name").map(str::to_owned),
        cmd: body.cmd,
        env,
        user: body.user,
        working_dir: body.working_dir,
        init: body.init.unwrap_or(false),
        ..CreateSpec::default()
    };
    let view = daemon.engine.create(spec).map_err(http_error)?;
    Ok(Response::json(
        201,
        &json!({"Id": view.record.id, "Name": view.record.name}),
    ))
}
// ANCHOR_END: create

fn parse_signal(name: &str) -> Result<Signal, HttpError> {
    crate::engine::parse_signal(name)
        .ok_or_else(|| HttpError::bad_request(format!("invalid signal: {name}")))
}

// ANCHOR: wait
/// `wait`: the head goes out at once (Docker's CLI blocks until it has it before starting
/// the container), the body when the container has exited. The wait is registered before
/// the head is sent, so that an exit right after is not missed.
fn wait(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let waiter = daemon
        .engine
        .wait(&id_param(req), WaitCondition::NotRunning)
        .map_err(http_error)?;
    Ok(Response::stream(200, "application/json", move |body| {
        let code = waiter.wait().unwrap_or(-1);
        body.send_json(&json!({"StatusCode": code}))
    }))
}
// ANCHOR_END: wait

fn state_word(view: &ContainerView) -> &'static str {
    match view.status {
        Status::Created => "created",
        Status::Running => "running",
        Status::Exited => "exited",
        Status::Restarting => "restarting",
        Status::Removing => "removing",
    }
}

fn status_text(view: &ContainerView) -> String {
    match view.status {
        Status::Created => "Created".into(),
        Status::Running => "Up".into(),
        Status::Exited => format!("Exited ({})", view.exit_code.unwrap_or(255)),
        Status::Restarting => format!("Restarting ({})", view.exit_code.unwrap_or(255)),
        Status::Removing => "Removal In Progress".into(),
    }
}

fn list(daemon: &Daemon, req: &mut Request) -> Result<Response, HttpError> {
    let all = req.query().bool_or("all", false)?;
    let containers: Vec<_> = daemon
        .engine
        .containers()
        .map_err(http_error)?
        .into_iter()
        .filter(|view| all || view.status == Status::Running)
        .map(|view| {
            let record = &view.record;
            json!({
                "Id": record.id,
                "Names": [format!("/{}", record.name)],
                "Image": record.image_name,
                "ImageID": record.image.to_string(),
                "Command": record.command().join(" "),
                "Created": record.created,
                "State": state_word(&view),
                "Status": status_text(&view),
            })
        })
        .collect();
    Ok(Response::json(200, &containers))
}

/// `GET /containers/{id}/json`: the fields the CLI reads.
pub fn inspect(view: &ContainerView) -> serde_json::Value {
    let record = &view.record;
    let command = record.command();
    json!({
        "Id": record.id,
        "Name": format!("/{}", record.name),
        "Created": berth_images::text::format_rfc3339(record.created, 0),
        "Path": command.first(),
        "Args": command.iter().skip(1).collect::<Vec<_>>(),
        "Image": record.image.to_string(),
        "State": {
            "Status": state_word(view),
            "Running": view.status == Status::Running,
            "Pid": view.pid.unwrap_or(0),
            "ExitCode": view.exit_code.unwrap_or(0),
            "StartedAt": view.started_at,
            "FinishedAt": view.finished_at,
            "Error": view.error.clone().unwrap_or_default(),
        },
        "Config": {
            "Image": record.image_name,
            "Entrypoint": record.entrypoint,
            "Cmd": record.cmd,
            "Env": record.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        },
    })
}

// ANCHOR: logs
/// `logs`: the log file, framed as Docker frames it (see the engine's `frame`); with
/// `follow`, what is appended until the container exits. The engine's reader sleeps on the
/// container's watch, so the stream ends as soon as the container has exited.
fn logs(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let tail = match req.query().get("tail") {
        None | Some("all") => None,
        Some(n) => Some(n.parse::<usize>().map_err(|_| {
            HttpError::bad_request(format!("invalid tail {n:?}: a number or \"all\""))
        })?),
    };
    let options = LogOptions {
        stdout: true,
        stderr: true,
        follow: req.query().bool_or("follow", false)?,
        timestamps: req.query().bool_or("timestamps", false)?,
        tail,
        ..LogOptions::default()
    };
    let timestamps = options.timestamps;
    let lines = daemon
        .engine
        .logs(&id_param(req), options)
        .map_err(http_error)?;
    Ok(Response::stream(
        200,
        "application/vnd.docker.multiplexed-stream",
        move |body| {
            for line in lines {
                let line = line?;
                let bytes = line.printed(timestamps);
                let mut framed = Vec::with_capacity(bytes.len() + 8);
                crate::engine::frame(line.stream, &bytes, &mut framed)?;
                body.send(&framed)?;
            }
            Ok(())
        },
    ))
}
// ANCHOR_END: logs

/// Pull progress as Docker's JSON messages, one per chunk.
struct JsonProgress<'a, 'b> {
    body: &'a mut ChunkWriter<'b>,
    failed: bool,
}

impl Progress for JsonProgress<'_, '_> {
    fn event(&mut self, event: Event) {
        let message = match event {
            Event::Line(line) => json!({"status": line}),
            Event::Layer { id, state } => {
                let (status, detail) = match state {
                    LayerState::Downloading { current, total } => (
                        "Downloading".to_owned(),
                        json!({"current": current, "total": total}),
                    ),
                    other => (layer_text(&other), json!({})),
                };
                json!({"status": status, "id": id, "progressDetail": detail})
            }
        };
        if self.body.send_json(&message).is_err() {
            self.failed = true;
        }
    }
}

fn layer_text(state: &LayerState) -> String {
    // The same words the plain renderer prints (`ch03 pull`).
    let mut out = Vec::new();
    berth_registry::progress::Plain::new(&mut out).event(Event::Layer {
        id: String::new(),
        state: state.clone(),
    });
    let text = String::from_utf8_lossy(&out);
    text.trim_start_matches(": ").trim_end().to_owned()
}

// ANCHOR: pull
/// `POST /images/create?fromImage=`: a pull, its progress streamed as JSON messages. A
/// failure after the head was sent can only be told in the stream: an `errorDetail` message.
fn pull(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let from = req
        .query()
        .get("fromImage")
        .ok_or_else(|| HttpError::bad_request("fromImage is required"))?;
    let text = match req.query().get("tag") {
        Some(tag) if !tag.is_empty() && !from.contains('@') => {
            let sep = if tag.starts_with("sha256:") { '@' } else { ':' };
            format!("{from}{sep}{tag}")
        }
        _ => from.to_owned(),
    };
    let reference = Reference::parse(&text).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let daemon = Arc::clone(daemon);
    Ok(Response::stream(200, "application/json", move |body| {
        let mut progress = JsonProgress {
            body,
            failed: false,
        };
        let result = berth_registry::pull(
            daemon.engine.store(),
            &daemon.registries,
            &reference,
            &PullOptions::default(),
            &mut progress,
        );
        if let Err(error) = result {
            let message = error.to_string();
            progress
                .body
                .send_json(&json!({"errorDetail": {"message": message}, "error": message}))?;
        }
        Ok(())
    }))
}
// ANCHOR_END: pull

fn images(daemon: &Daemon) -> Result<Response, HttpError> {
    let images = daemon
        .engine
        .store()
        .images()
        .map_err(|e| http_error(e.into()))?;
    let list: Vec<_> = images
        .iter()
        .map(|image| {
            let tags: Vec<String> = if image.names.is_empty() {
                vec!["<none>:<none>".into()]
            } else {
                image.names.iter().map(Reference::familiar).collect()
            };
            let created = image
                .record
                .created
                .as_deref()
                .and_then(berth_images::text::parse_rfc3339)
                .unwrap_or(0);
            json!({
                "Id": image.record.id.to_string(),
                "RepoTags": tags,
                "RepoDigests": image.record.repo_digests,
                "Created": created,
                "Size": image.record.size,
            })
        })
        .collect();
    Ok(Response::json(200, &list))
}

fn remove_image(daemon: &Daemon, req: &mut Request) -> Result<Response, HttpError> {
    let name = req.param("name").unwrap_or_default().to_owned();
    let force = req.query().bool_or("force", false)?;
    let removed = daemon
        .engine
        .remove_image(&name, force)
        .map_err(|e| http_error(e.into()))?;
    Ok(Response::json(200, &removed))
}
