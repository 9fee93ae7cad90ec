//! `docker exec`: a second process in a running container.
//!
//! Three requests: `POST /containers/{id}/exec` creates an exec instance (the command and how
//! to attach to it) and returns its id; `POST /exec/{id}/start` runs it, hijacking the
//! connection as attach does (or answering 200 at once with `Detach`); `GET /exec/{id}/json`
//! gives its exit code, which the CLI reads as soon as the stream ends, so the engine records
//! it *before* the output closes.

use std::sync::Arc;

use berth_daemon::http::{HttpError, Request, Response, Router};
use serde::Deserialize;
use serde_json::json;

use super::containers::{dimensions, pump, stream_type};
use super::{Daemon, Route, errors, param, with_daemon};
use crate::engine::{ExecSpec, StreamKind};
use std::io::Write;

/// Adds this module's routes.
pub fn routes(router: Router, daemon: &Arc<Daemon>) -> Router {
    let d = |f: Route| with_daemon(daemon, f);
    router
        .post("/containers/{id}/exec", d(create))
        .post("/exec/{id}/start", d(start))
        .post("/exec/{id}/resize", d(resize))
        .get("/exec/{id}/json", d(inspect))
}

/// The body of `POST /containers/{id}/exec`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    cmd: Option<Vec<String>>,
    env: Option<Vec<String>>,
    user: Option<String>,
    working_dir: Option<String>,
    tty: bool,
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    console_size: Option<[u16; 2]>,
    privileged: bool,
    /// docker-py sends `detachKeys`, the CLI `DetachKeys`: Go's decoder takes both.
    #[serde(alias = "detachKeys")]
    detach_keys: String,
}

// ANCHOR: create
/// `POST /containers/{id}/exec`: 201 `{"Id"}`; 409 if the container is not running.
fn create(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let engine = &daemon.engine;
    let body: CreateBody = req.json()?;
    let cmd = body.cmd.filter(|c| !c.is_empty()).ok_or_else(|| {
        HttpError::bad_request("No exec command specified: Cmd must name a program")
    })?;
    // The same rules as for `docker run -e`.
    let env = super::create::parse_env(body.env.unwrap_or_default())?;
    let spec = ExecSpec {
        cmd,
        env,
        user: body.user.filter(|u| !u.is_empty()),
        working_dir: body.working_dir.filter(|w| !w.is_empty()),
        tty: body.tty,
        attach_stdin: body.attach_stdin,
        attach_stdout: body.attach_stdout,
        attach_stderr: body.attach_stderr,
        console_size: body.console_size.filter(|s| *s != [0, 0]),
        privileged: body.privileged,
        detach_keys: body.detach_keys,
    };
    let id = engine
        .exec_create(&param(req, "id"), spec)
        .map_err(errors::engine_error)?;
    Ok(Response::json(201, &json!({"Id": id})))
}
// ANCHOR_END: create

/// The body of `POST /exec/{id}/start`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
    /// How the *stream* is framed: raw only if the start says so, whatever the exec was
    /// created with (moby's rule; docker-py's `exec_start(socket=True)` relies on it).
    tty: bool,
}

// ANCHOR: start
/// `POST /exec/{id}/start`: a hijack, or 200 at once with `Detach`.
///
/// The process starts only *after* the `101` head has gone out, as Docker's does: docker-py
/// reads that head through a buffered reader and then reads the raw socket, so output that is
/// already waiting when the head arrives would be swallowed with it. Errors the client must
/// get as HTTP answers (no such exec, container not running) are checked before the hijack;
/// a process that cannot start (no such program) is told inside the stream, as Docker does,
/// and its exit code (127, 126) is what `GET /exec/{id}/json` then reports.
fn start(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let engine = Arc::clone(&daemon.engine);
    let body: StartBody = if req.body().is_empty() {
        StartBody::default()
    } else {
        req.json()?
    };
    let id = param(req, "id");
    engine.exec_ready(&id).map_err(errors::engine_error)?;
    if body.detach {
        engine.exec_start(&id, true).map_err(errors::engine_error)?;
        return Ok(Response::new(200));
    }
    let tty = body.tty;
    Ok(Response::upgrade(
        stream_type(tty),
        move |up| match engine.exec_start(&id, false) {
            Ok(Some(mut session)) => {
                session.tty = tty;
                pump(session, up);
            }
            Ok(None) => {}
            Err(e) => tell_in_stream(up, tty, &e.to_string()),
        },
    ))
}
// ANCHOR_END: start

/// Writes an error into a hijacked stream, as moby does when an exec fails to start after the
/// hijack: the message and `\r\n` on stdout (framed unless the stream is raw).
fn tell_in_stream(up: berth_daemon::http::Upgraded, tty: bool, message: &str) {
    let Ok((_reader, mut writer)) = up.split() else {
        return;
    };
    let line = format!("{message}\r\n");
    let _ = if tty {
        writer.write_all(line.as_bytes())
    } else {
        crate::engine::frame(StreamKind::Stdout, line.as_bytes(), &mut writer)
    };
    let _ = writer.flush();
}

/// `POST /exec/{id}/resize?h=&w=`.
fn resize(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let engine = &daemon.engine;
    let (h, w) = dimensions(req)?;
    engine
        .exec_resize(&param(req, "id"), h, w)
        .map_err(errors::engine_error)?;
    Ok(Response::new(200))
}

/// `GET /exec/{id}/json`: `Running` and `ExitCode`, which `docker exec` exits with.
fn inspect(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let engine = &daemon.engine;
    let view = engine
        .exec(&param(req, "id"))
        .map_err(errors::engine_error)?;
    let (entrypoint, arguments) = match view.spec.cmd.split_first() {
        Some((first, rest)) => (first.clone(), rest.to_vec()),
        None => (String::new(), Vec::new()),
    };
    Ok(Response::json(
        200,
        &json!({
            "ID": view.id,
            "ContainerID": view.container_id,
            "Running": view.running,
            "ExitCode": view.exit_code,
            "Pid": view.pid.unwrap_or(0),
            "OpenStdin": view.spec.attach_stdin,
            "OpenStdout": view.spec.attach_stdout,
            "OpenStderr": view.spec.attach_stderr,
            "CanRemove": false,
            "DetachKeys": view.spec.detach_keys,
            "ProcessConfig": {
                "tty": view.spec.tty,
                "entrypoint": entrypoint,
                "arguments": arguments,
                "privileged": view.spec.privileged,
                "user": view.spec.user.clone().unwrap_or_default(),
            },
        }),
    ))
}
