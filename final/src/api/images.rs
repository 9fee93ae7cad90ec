//! `/images/...`: pull, list, inspect, history, tag, remove and push.
//!
//! Images are chapter 2's store and chapter 3's registry client; this module speaks Docker's
//! dialect on top of them. Two details of that dialect shape the code:
//!
//! * **Names in paths.** `GET /images/localhost:5000/team/app:1/json` puts an image name with
//!   `/` and `:` straight into the path; the router's greedy `{name*}` takes everything up to
//!   the known suffix (`/json`, `/tag`, `/push`).
//! * **Names as typed.** The CLI normalises (`fromImage=docker.io/library/busybox&tag=latest`),
//!   docker-py does not (`fromImage=busybox&tag=latest`); chapter 2's [`Reference::parse`]
//!   normalises both the same way.

use std::sync::Arc;

use berth_daemon::http::{ApiVersion, HttpError, Request, Response, Router};
use berth_images::Digest;
use berth_images::reference::Reference;
use berth_images::store::{ImageRecord, Store};
use berth_registry::progress::{Event, Progress};
use berth_registry::{Platform, PullOptions};
use serde_json::{Value, json};

use super::filters::{self, Filters};
use super::{Daemon, Route, archives, auth, errors, param, progress, with_daemon};

/// Adds this module's routes. The literal ones come first: `/images/json` is the list, not
/// the inspection of an image called "json".
pub fn routes(router: Router, daemon: &Arc<Daemon>) -> Router {
    let d = |f: Route| with_daemon(daemon, f);
    router
        .post("/images/create", d(pull))
        .get("/images/json", d(list))
        .get("/images/get", d(archives::save_many))
        .post("/images/load", d(archives::load))
        .get("/images/{name*}/get", d(archives::save_one))
        .get("/images/{name*}/json", d(inspect))
        .get("/images/{name*}/history", d(history))
        .post("/images/{name*}/tag", d(tag))
        .post("/images/{name*}/push", d(push))
        .delete("/images/{name*}", d(remove))
}

/// The credentials of the request's `X-Registry-Auth`, if any.
fn credentials(req: &Request) -> Result<Option<berth_registry::auth::Credentials>, HttpError> {
    req.header("x-registry-auth")
        .map(auth::decode)
        .transpose()
        .map(Option::flatten)
}

// ANCHOR: pull
/// `POST /images/create?fromImage=&tag=&platform=`: `docker pull`.
fn pull(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let query = req.query();
    if query.contains("fromSrc") {
        return import(daemon, req);
    }
    let from = query
        .get("fromImage")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| HttpError::bad_request("fromImage is required (the image to pull)"))?;
    let text = match query.get("tag") {
        // `-a` (all tags) sends no tag: we pull `latest` only, and say so below.
        Some(tag) if !tag.is_empty() && !from.contains('@') => {
            let sep = if tag.starts_with("sha256:") { '@' } else { ':' };
            format!("{from}{sep}{tag}")
        }
        _ => from.to_owned(),
    };
    let reference = Reference::parse(&text).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let mut options = PullOptions::default();
    if let Some(platform) = query.get("platform").filter(|p| !p.is_empty()) {
        options.platform = Platform::parse(platform).ok_or_else(|| {
            HttpError::bad_request(format!(
                "invalid platform {platform:?}: expected os/arch[/variant], such as linux/amd64"
            ))
        })?;
    }
    let registries = auth::lend(&daemon.registries, &reference.domain, credentials(req)?);
    let engine = Arc::clone(&daemon.engine);
    progress::stream_work("pull", move |progress| {
        let mut progress = DockerPullWords {
            inner: progress,
            path: reference.path.clone(),
        };
        engine.pull(&registries, &reference, &options, &mut progress)?;
        Ok(Vec::new())
    })
}

// ANCHOR: import
/// `POST /images/create?fromSrc=-&repo=&tag=&changes=&message=`: `docker import`, the body
/// a tar of a root filesystem (chapter 2's [`berth_images::load::import`]). A URL in
/// `fromSrc` is refused: berthd does not fetch files for its clients.
fn import(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let query = req.query();
    if query.get("fromSrc") != Some("-") {
        return Err(HttpError::bad_request(format!(
            "docker import from a URL ({}) is not supported by berthd: download the file and \
             import it from a file or stdin",
            query.get("fromSrc").unwrap_or_default()
        )));
    }
    let name = match query.get("repo").filter(|r| !r.is_empty()) {
        Some(repo) => {
            let text = match query.get("tag").filter(|t| !t.is_empty()) {
                Some(tag) => format!("{repo}:{tag}"),
                None => repo.to_owned(),
            };
            Some(Reference::parse(&text).map_err(|e| HttpError::bad_request(e.to_string()))?)
        }
        None => None,
    };
    let architecture = match query.get("platform").filter(|p| !p.is_empty()) {
        Some(platform) => {
            Platform::parse(platform)
                .ok_or_else(|| {
                    HttpError::bad_request(format!(
                        "invalid platform {platform:?}: expected os/arch, such as linux/amd64"
                    ))
                })?
                .architecture
        }
        None => Platform::host().architecture,
    };
    let options = berth_images::load::import::ImportOptions {
        changes: query.get_all("changes").map(str::to_owned).collect(),
        message: query
            .get("message")
            .filter(|m| !m.is_empty())
            .map(str::to_owned),
        name,
        architecture,
        created: berth_images::state::now_rfc3339(),
    };
    // Chapter 2 imports from memory: the spooled upload is read back whole.
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut super::archives::upload(req)?, &mut body)
        .map_err(|e| HttpError::internal(format!("reading the uploaded tar back: {e}")))?;
    let record = berth_images::load::import::import(daemon.engine.store(), &body, &options)
        .map_err(|e| match e {
            berth_images::load::LoadError::Store(e) => errors::store_error(e),
            other => HttpError::bad_request(format!("docker import: {other}")),
        })?;
    let mut answer =
        serde_json::to_vec(&json!({"status": record.id.to_string()})).unwrap_or_default();
    answer.extend_from_slice(b"\r\n");
    Ok(Response::bytes(200, "application/json", answer))
}
// ANCHOR_END: import

/// dockerd says "Pulling from" with the repository *path*, without the registry
/// (`latest: Pulling from library/busybox`, also from `127.0.0.1:5000`), where chapter 3's
/// `ch03 pull` names the registry too. Rewrites that one line.
struct DockerPullWords<'a> {
    inner: &'a mut dyn Progress,
    path: String,
}

impl Progress for DockerPullWords<'_> {
    fn event(&mut self, event: Event) {
        let event = match event {
            Event::Line(line) if line.contains(": Pulling from ") => {
                let tag = line.split(": Pulling from ").next().unwrap_or_default();
                Event::Line(format!("{tag}: Pulling from {}", self.path))
            }
            other => other,
        };
        self.inner.event(event);
    }
}
// ANCHOR_END: pull

/// When the image was made, in seconds since the epoch (0 when its config does not say).
pub(crate) fn created_secs(record: &ImageRecord) -> u64 {
    record
        .created
        .as_deref()
        .and_then(berth_images::text::parse_rfc3339)
        .unwrap_or(0)
}

/// The image config's labels.
fn labels(config: &Value) -> Value {
    match config.pointer("/config/Labels") {
        Some(Value::Object(map)) => Value::Object(map.clone()),
        _ => json!({}),
    }
}

/// The image config's labels as a map (empty if it has none), for the `label` filters.
pub(crate) fn image_labels(
    store: &Store,
    id: &Digest,
) -> std::collections::BTreeMap<String, String> {
    serde_json::from_value(labels(&config_json(store, id))).unwrap_or_default()
}

/// The image config blob as JSON (`{}` if it cannot be read).
pub(crate) fn config_json(store: &Store, id: &Digest) -> Value {
    store
        .read_blob(id)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| json!({}))
}

/// `GET /images/json?all=&filters=`: `docker images`.
fn list(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let filters = Filters::from_request(req, &["reference", "dangling", "label"])?;
    let dangling = match filters.values("dangling") {
        [] => None,
        [one] => Some(berth_daemon::http::query::parse_bool(one).ok_or_else(|| {
            HttpError::bad_request(format!(
                "invalid filter 'dangling={one}': use true or false"
            ))
        })?),
        _ => return Err(HttpError::bad_request("filter 'dangling' takes one value")),
    };
    let images = daemon
        .engine
        .store()
        .images()
        .map_err(errors::store_error)?;
    let mut out = Vec::new();
    let patterns = filters.values("reference");
    for image in &images {
        // With a reference filter, moby lists only the names that match it: an image tagged
        // twice shows once for `docker images NAME`.
        let names: Vec<&Reference> = image
            .names
            .iter()
            .filter(|name| {
                patterns.is_empty()
                    || patterns.iter().any(|pattern| {
                        filters::glob(pattern, &name.familiar())
                            || filters::glob(pattern, &name.familiar_repository())
                    })
            })
            .collect();
        if !patterns.is_empty() && names.is_empty() {
            continue;
        }
        let mut tags: Vec<String> = names
            .iter()
            .filter(|r| r.tag.is_some())
            .map(|r| r.familiar())
            .collect();
        // The store's name table has no order that means anything; moby sorts, and so do we,
        // so that `docker images` prints the same thing twice.
        tags.sort();
        if dangling.is_some_and(|d| d != image.names.is_empty()) {
            continue;
        }
        let config = config_json(daemon.engine.store(), &image.record.id);
        let label_map = serde_json::from_value(labels(&config)).unwrap_or_default();
        if !filters.labels_match(&label_map) {
            continue;
        }
        let repo_tags = if tags.is_empty() {
            vec!["<none>:<none>".to_owned()]
        } else {
            tags
        };
        out.push(json!({
            "Id": image.record.id.to_string(),
            "ParentId": "",
            "RepoTags": repo_tags,
            "RepoDigests": image.record.repo_digests,
            "Created": created_secs(&image.record),
            "Size": image.record.size,
            "SharedSize": -1,
            "Labels": labels(&config),
            "Containers": -1,
        }));
    }
    Ok(Response::json(200, &out))
}

// ANCHOR: inspect
/// `GET /images/{name}/json`: `docker image inspect`, and docker-py after every pull.
fn inspect(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let name = param(req, "name");
    let record = daemon
        .engine
        .store()
        .resolve(&name)
        .map_err(errors::store_error)?;
    let names = tags_of(daemon.engine.store(), &record.id)?;
    let config = config_json(daemon.engine.store(), &record.id);
    let layers: Vec<String> = record
        .layers
        .iter()
        .map(|l| l.diff_id.to_string())
        .collect();
    let mut inspect = json!({
            "Id": record.id.to_string(),
            "RepoTags": names,
            "RepoDigests": record.repo_digests,
            "Parent": "",
            "Comment": config.get("comment").cloned().unwrap_or(json!("")),
            "Created": record.created.clone().unwrap_or_default(),
            "DockerVersion": "",
            "Author": config.get("author").cloned().unwrap_or(json!("")),
            "Config": config.get("config").cloned().unwrap_or(json!({})),
            "Architecture": config.get("architecture").cloned().unwrap_or(json!("")),
            "Os": config.get("os").cloned().unwrap_or(json!("linux")),
            "Size": record.size,
            // Gone from API 1.44, but dockerd 20.10 (API 1.41) sends it and older clients read it.
            "VirtualSize": record.size,
            "GraphDriver": graph_driver(daemon.engine.store(), &record),
            "RootFS": {"Type": "layers", "Layers": layers},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    });
    // `Container` and `ContainerConfig` (the container a classic build committed) left the
    // API in 1.45, but older clients index them without looking: docker-compose 1.29 reads
    // `ContainerConfig.Volumes` to carry volumes over when it recreates a container, and
    // fails with a KeyError without it. Like moby, we send them below 1.45: the image's own
    // `container_config` if it has one, else the empty config dockerd 20.10 sends.
    if req.api_version().is_none_or(|v| v < ApiVersion::new(1, 45)) {
        inspect["Container"] = config.get("container").cloned().unwrap_or(json!(""));
        inspect["ContainerConfig"] = config
            .get("container_config")
            .cloned()
            .unwrap_or_else(empty_container_config);
    }
    Ok(Response::json(200, &inspect))
}
// ANCHOR_END: inspect

/// A `Config` with nothing set, as moby marshals its zero value: what dockerd answers as the
/// `ContainerConfig` of an image that no classic build committed.
fn empty_container_config() -> Value {
    json!({
        "Hostname": "", "Domainname": "", "User": "",
        "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": null, "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "",
        "Entrypoint": null, "OnBuild": null, "Labels": null,
    })
}

/// The image's tags, sorted, as `busybox:latest` (`RepoTags`).
fn tags_of(store: &Store, id: &Digest) -> Result<Vec<String>, HttpError> {
    let mut names: Vec<String> = store
        .names()
        .map_err(errors::store_error)?
        .into_iter()
        .filter(|(_, named)| named == id)
        .filter_map(|(n, _)| Reference::parse(&n).ok())
        .filter(|r| r.tag.is_some())
        .map(|r| r.familiar())
        .collect();
    names.sort();
    Ok(names)
}

/// Where the image's layers are, in overlay2's words: the top layer as `UpperDir`, the ones
/// below it as `LowerDir` (top first, `:`-separated, as an overlay mount lists them). An
/// image has no `MergedDir` or `WorkDir` of its own here (dockerd names ones that do not
/// exist until a container mounts them), so we leave them out.
fn graph_driver(store: &Store, record: &ImageRecord) -> Value {
    let mut dirs = record
        .layers
        .iter()
        .rev()
        .map(|l| store.layer_path(&l.diff_id).display().to_string());
    let mut data = serde_json::Map::new();
    if let Some(upper) = dirs.next() {
        data.insert("UpperDir".into(), json!(upper));
    }
    let lower: Vec<String> = dirs.collect();
    if !lower.is_empty() {
        data.insert("LowerDir".into(), json!(lower.join(":")));
    }
    json!({"Name": "overlay2", "Data": data})
}

// ANCHOR: history
/// `GET /images/{name}/history`: `docker history`, newest step first. As in dockerd, the
/// newest step carries the image's id and tags; the steps below have no image of their own
/// (a pulled image has no parent images), so their id is `<missing>`.
fn history(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let name = param(req, "name");
    let store = daemon.engine.store();
    let record = store.resolve(&name).map_err(errors::store_error)?;
    let steps = berth_images::history::history(store, &record).map_err(|e| match e {
        berth_images::history::HistoryError::Store(e) => errors::store_error(e),
        other => HttpError::internal(other.to_string()),
    })?;
    let tags = tags_of(store, &record.id)?;
    let answer: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let newest = i == 0;
            json!({
                "Id": if newest { record.id.to_string() } else { "<missing>".to_owned() },
                "Created": step.created.as_deref().and_then(berth_images::text::parse_rfc3339)
                    .unwrap_or(0),
                "CreatedBy": step.created_by,
                "Tags": if newest && !tags.is_empty() { json!(tags) } else { Value::Null },
                "Size": step.size,
                "Comment": step.comment,
            })
        })
        .collect();
    Ok(Response::json(200, &answer))
}
// ANCHOR_END: history

/// `POST /images/{name}/tag?repo=&tag=`: `docker tag`, answered 201.
fn tag(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let name = param(req, "name");
    let repo = req
        .query()
        .get("repo")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| HttpError::bad_request("repo is required (the new name)"))?;
    let tag = req
        .query()
        .get("tag")
        .filter(|t| !t.is_empty())
        .unwrap_or("latest");
    let text = format!("{repo}:{tag}");
    let target = Reference::parse(&text).map_err(|e| HttpError::bad_request(e.to_string()))?;
    if target.digest.is_some() {
        return Err(HttpError::bad_request(format!(
            "refusing to create a tag with a digest reference: {text}"
        )));
    }
    let record = daemon
        .engine
        .store()
        .resolve(&name)
        .map_err(errors::store_error)?;
    daemon
        .engine
        .tag_image(&target, &record.id)
        .map_err(errors::store_error)?;
    Ok(Response::new(201))
}

/// `DELETE /images/{name}?force=&noprune=`: `docker rmi`.
fn remove(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let name = param(req, "name");
    let force = req.query().bool_or("force", false)?;
    // Layers are shared by content, so there are no "parent images" to keep: noprune has
    // nothing to change, but it must still be a valid boolean.
    req.query().bool_or("noprune", false)?;
    let removed = daemon
        .engine
        .remove_image(&name, force)
        .map_err(errors::store_error)?;
    Ok(Response::json(200, &removed))
}

// ANCHOR: push
/// `POST /images/{name}/push?tag=`: `docker push`, with Docker's push stream.
fn push(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let name = param(req, "name");
    let tag = req
        .query()
        .get("tag")
        .filter(|t| !t.is_empty())
        .unwrap_or("latest");
    let text = if tag.starts_with("sha256:") {
        format!("{name}@{tag}")
    } else {
        format!("{name}:{tag}")
    };
    let reference = Reference::parse(&text).map_err(|e| HttpError::bad_request(e.to_string()))?;
    // Docker's 404 for a name we do not have, before any progress.
    let image = daemon
        .engine
        .store()
        .resolve(&reference.to_string())
        .map_err(|_| {
            HttpError::not_found(format!(
                "An image does not exist locally with the tag: {}",
                reference.familiar_repository()
            ))
        })?;
    let registries = auth::lend(&daemon.registries, &reference.domain, credentials(req)?);
    let store = daemon.engine.store().clone();
    let tag = tag.to_owned();
    progress::stream_work("push", move |progress| {
        // Chapter 3 reports the config blob like a layer; dockerd shows layers only.
        let mut progress = WithoutBlob {
            inner: progress,
            hidden: image.id.short(),
        };
        let pushed = berth_registry::push(&store, &registries, &reference, false, &mut progress)?;
        let digest = pushed.digest.to_string();
        Ok(vec![json!({
            "progressDetail": {},
            "aux": {"Tag": tag, "Digest": digest, "Size": pushed.size},
        })])
    })
}
// ANCHOR_END: push

/// Drops the progress of one blob (the image config, in a push).
struct WithoutBlob<'a> {
    inner: &'a mut dyn Progress,
    hidden: String,
}

impl Progress for WithoutBlob<'_> {
    fn event(&mut self, event: Event) {
        if let Event::Layer { id, .. } = &event
            && *id == self.hidden
        {
            return;
        }
        self.inner.event(event);
    }
}
