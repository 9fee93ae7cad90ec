//! `docker save` and `docker load`: images as a tar, out of and into the store.
//!
//! Chapter 2 reads and writes the archive ([`berth_images::save`], [`berth_images::load`]);
//! this module speaks Docker's dialect around it:
//!
//! * `GET /images/{name}/get` and `GET /images/get?names=a&names=b` answer `200` with
//!   `application/x-tar`, streamed as it is written. Every name is resolved first, so an
//!   unknown one is a plain `404 No such image`, not a cut-off tar.
//! * `POST /images/load?quiet=` takes the archive as the body. It can weigh gigabytes, so the
//!   connection writes it into the store's `tmp/` (see [`spools_body`]) instead of memory, as
//!   dockerd does. The answer is a JSON stream: a `Loading layer` message per layer (unless
//!   `quiet`; the CLI sets it when its output is not a terminal), then one
//!   `{"stream":"Loaded image: busybox:latest\n"}` per name, or `Loaded image ID: sha256:…`
//!   for an image without one. A malformed archive is a `400` that names the problem, and the
//!   store is unchanged: chapter 2 installs nothing before every layer has been checked.

use std::sync::Arc;

use berth_daemon::http::{HttpError, Request, Response};
use berth_images::load::{self, LoadError};
use berth_images::save::{SaveError, SavePlan};
use serde_json::json;

use super::{Daemon, errors, param};

/// Whether this request's body goes to a file rather than memory: the archives a client
/// uploads, which can weigh gigabytes (`docker load`, `docker cp` into a container,
/// `docker import`), as dockerd streams them. Other bodies are JSON, bounded by `max_body`.
pub fn spools_body(request: &Request) -> bool {
    let segments = request.segments();
    match (request.method(), segments.len()) {
        ("POST", 2) => {
            segments[0] == "images"
                && (segments[1] == "load"
                    || (segments[1] == "create" && request.query().get("fromSrc").is_some()))
        }
        ("PUT", 3) => segments[0] == "containers" && segments[2] == "archive",
        _ => false,
    }
}

/// The uploaded body, from the file it was spooled to ([`spools_body`]) or from memory.
pub fn upload(req: &mut Request) -> Result<Box<dyn std::io::Read + Send>, HttpError> {
    match req.take_spooled_body() {
        // Opened before the temporary file goes: the open file outlives its name.
        Some(spooled) => std::fs::File::open(spooled.path())
            .map(|file| Box::new(file) as Box<dyn std::io::Read + Send>)
            .map_err(|e| HttpError::internal(format!("reading the uploaded body back: {e}"))),
        None => Ok(Box::new(std::io::Cursor::new(req.take_body()))),
    }
}

/// `GET /images/{name}/get`: `docker save` of one image.
pub fn save_one(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    save(daemon, vec![param(req, "name")])
}

/// `GET /images/get?names=`: `docker save` of several (the CLI's form, also for one).
pub fn save_many(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let names: Vec<String> = req.query().get_all("names").map(str::to_owned).collect();
    save(daemon, names)
}

// ANCHOR: save
fn save(daemon: &Arc<Daemon>, names: Vec<String>) -> Result<Response, HttpError> {
    let store = daemon.engine.store().clone();
    let plan = SavePlan::resolve(&store, &names).map_err(save_error)?;
    Ok(Response::stream(200, "application/x-tar", move |out| {
        // Too late for a status: a failure closes the stream before its end, which the
        // client reports as an unexpected EOF.
        plan.write(&store, out).map_err(|error| {
            berth_daemon::daemon_log!("berthd: docker save stopped: {error}");
            std::io::Error::other(error)
        })
    }))
}
// ANCHOR_END: save

fn save_error(error: SaveError) -> HttpError {
    match error {
        SaveError::Store(e) => errors::store_error(e),
        SaveError::Nothing => HttpError::bad_request("no image named: give at least one"),
        other => HttpError::internal(other.to_string()),
    }
}

// ANCHOR: load
/// `POST /images/load?quiet=`: `docker load`.
pub fn load(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let quiet = req.query().bool_or("quiet", false)?;
    let body = req
        .take_spooled_body()
        .ok_or_else(|| HttpError::internal("the archive was not stored before loading"))?;
    let store = daemon.engine.store();
    let loaded = load::load(store, body.path()).map_err(|error| {
        // The archive's name is our temporary file's: meaningless to the client.
        let path = body.path().display().to_string();
        let mut refusal = load_error(error);
        refusal.message = refusal.message.replace(&path, "the archive");
        refusal
    })?;
    let mut messages = Vec::new();
    for image in &loaded {
        if !quiet {
            for (diff_id, _) in &image.layers {
                messages.push(json!({
                    "status": "Loading layer",
                    "progressDetail": {},
                    "id": diff_id.hex()[..12].to_owned(),
                }));
            }
        }
        if image.names.is_empty() {
            messages.push(json!({"stream": format!("Loaded image ID: {}\n", image.id)}));
        }
        for name in &image.names {
            messages.push(json!({"stream": format!("Loaded image: {}\n", name.familiar())}));
        }
    }
    // Chunked, as dockerd streams it: docker-py reads a body that is not chunked as one JSON
    // document, and there are several.
    Ok(Response::stream(200, "application/json", move |out| {
        messages.iter().try_for_each(|m| out.send_json(m))
    }))
}
// ANCHOR_END: load

/// A refused archive is the client's (400); a store that cannot be written is ours (500).
fn load_error(error: LoadError) -> HttpError {
    match error {
        LoadError::Store(e) => errors::store_error(e),
        other => HttpError::bad_request(format!("invalid archive: {other}")),
    }
}
