//! `/volumes/...` and the mount fields of `POST /containers/create`, on chapter 8's volumes.
//!
//! `docker volume create/ls/inspect/rm/prune` map one to one onto chapter 8's store
//! ([`berth_volumes::Volumes`]). A container's mounts arrive in four fields of the create body,
//! one per spelling the CLI has: `HostConfig.Binds` (`-v SRC:DST`), `HostConfig.Mounts`
//! (`--mount`), `HostConfig.Tmpfs` (`--tmpfs`) and `Config.Volumes` (`-v /path`, an anonymous
//! volume), plus `HostConfig.VolumesFrom` (`--volumes-from`) and `HostConfig.ReadonlyRootfs`
//! (`--read-only`). They are decoded here with
//! chapter 8's parsers, so a bad one is a 400 naming the flag, before the container exists;
//! once the engine has made the container, its mounts are decided and kept with it, and a
//! failure removes the container again.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_daemon::http::{HttpError, Request, Response, Router};
use berth_volumes::attach::{self, ContainerMounts};
use berth_volumes::spec::{self, MountSpec};
use berth_volumes::volume::{self, Volume, VolumeError, Volumes};
use serde_json::{Value, json};

use super::filters::Filters;
use super::{Daemon, Route, param, with_daemon};
use crate::engine::ContainerView;

/// Adds this module's routes.
pub fn routes(router: Router, daemon: &Arc<Daemon>) -> Router {
    let d = |f: Route| with_daemon(daemon, f);
    router
        .get("/volumes", d(list))
        .post("/volumes/create", d(create))
        .post("/volumes/prune", d(prune))
        .route("GET", "/volumes/{name}", d(inspect))
        .delete("/volumes/{name}", d(remove))
}

/// Chapter 8's errors as Docker's statuses.
pub fn volume_error(error: VolumeError) -> HttpError {
    match error {
        VolumeError::NoSuchVolume(_) => HttpError::not_found(error.to_string()),
        VolumeError::InUse { .. } => HttpError::new(409, error.to_string()),
        VolumeError::BadName(_) | VolumeError::BadOption { .. } => {
            HttpError::bad_request(error.to_string())
        }
        _ => HttpError::new(500, error.to_string()),
    }
}

pub(crate) fn volumes(daemon: &Daemon) -> Result<Volumes, HttpError> {
    Volumes::open(&daemon.data_root).map_err(volume_error)
}

pub(crate) fn users(daemon: &Daemon, name: &str) -> Vec<String> {
    attach::users(&daemon.engine.store().containers_dir(), name)
}

/// A volume as Docker's API shows it.
pub(crate) fn volume_json(volume: &Volume) -> Value {
    json!({
        "Name": volume.name,
        "Driver": volume.driver,
        "Mountpoint": volume.mountpoint,
        "CreatedAt": volume.created_at,
        "Labels": volume.labels,
        "Scope": volume.scope,
        "Options": if volume.options.is_empty() { Value::Null } else { json!(volume.options) },
    })
}

/// `POST /volumes/create` `{Name, Driver, DriverOpts, Labels}`.
fn create(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let body: Value = req.json()?;
    let text = |field: &str| body.get(field).and_then(Value::as_str).unwrap_or_default();
    if !matches!(text("Driver"), "" | "local") {
        return Err(HttpError::bad_request(format!(
            "volume driver {:?} is not supported: berthd has the local driver only",
            text("Driver")
        )));
    }
    let map = |field: &str| -> Result<BTreeMap<String, String>, HttpError> {
        match body.get(field) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(value) => serde_json::from_value(value.clone()).map_err(|_| {
                HttpError::bad_request(format!("{field} must be an object of strings"))
            }),
        }
    };
    let name = Some(text("Name")).filter(|n| !n.is_empty());
    let volume = volumes(daemon)?
        .create(name, map("Labels")?, map("DriverOpts")?)
        .map_err(volume_error)?;
    Ok(Response::json(201, &volume_json(&volume)))
}

/// `GET /volumes?filters=` (`dangling`, `name`, `label`, `driver`).
fn list(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let filters = Filters::from_request(req, &["dangling", "name", "label", "driver"])?;
    let mut shown = Vec::new();
    for volume in volumes(daemon)?.list().map_err(volume_error)? {
        if keep(daemon, &volume, &filters)? {
            shown.push(volume_json(&volume));
        }
    }
    Ok(Response::json(
        200,
        &json!({"Volumes": shown, "Warnings": []}),
    ))
}

fn keep(daemon: &Daemon, volume: &Volume, filters: &Filters) -> Result<bool, HttpError> {
    let in_use = !users(daemon, &volume.name).is_empty();
    for (key, values) in [
        ("dangling", filters.values("dangling")),
        ("name", filters.values("name")),
        ("label", filters.values("label")),
    ] {
        for value in values {
            let matched = volume::matches_filter(volume, in_use, &format!("{key}={value}"))
                .map_err(volume_error)?;
            if !matched {
                return Ok(false);
            }
        }
    }
    Ok(filters.accepts("driver", |d| d == volume.driver))
}

/// `GET /volumes/{name}`.
fn inspect(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let volume = volumes(daemon)?
        .get(&param(req, "name"))
        .map_err(volume_error)?;
    Ok(Response::json(200, &volume_json(&volume)))
}

/// `DELETE /volumes/{name}?force=`: 409 while a container uses it.
fn remove(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let force = req.query().bool_or("force", false)?;
    let name = param(req, "name");
    volumes(daemon)?
        .remove(&name, &users(daemon, &name), force)
        .map_err(volume_error)?;
    Ok(Response::no_content())
}

/// `POST /volumes/prune?filters={"all":["true"]}`: unused anonymous volumes, or all unused.
fn prune(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let filters = Filters::from_request(req, &["all", "label"])?;
    let all = filters
        .values("all")
        .iter()
        .any(|v| v == "true" || v == "1");
    let store = volumes(daemon)?;
    let labels = filters.values("label").to_vec();
    let users = |name: &str| {
        let labelled = store.get(name).is_ok_and(|v| {
            labels
                .iter()
                .all(|l| volume::matches_filter(&v, false, &format!("label={l}")).unwrap_or(false))
        });
        if labelled {
            users(daemon, name)
        } else {
            vec!["(not matched by the filters)".to_owned()]
        }
    };
    let (removed, freed) = store.prune(all, &users).map_err(volume_error)?;
    Ok(Response::json(
        200,
        &json!({"VolumesDeleted": removed, "SpaceReclaimed": freed}),
    ))
}

// ANCHOR: requested
/// What a create body asks to mount.
#[derive(Debug, Default)]
pub struct Requested {
    specs: Vec<MountSpec>,
    /// `HostConfig.Binds` as given, for inspect.
    binds: Vec<String>,
    /// `HostConfig.Tmpfs` as given, for inspect.
    tmpfs: std::collections::BTreeMap<String, String>,
    from: Vec<(String, Option<bool>)>,
    anonymous: Vec<String>,
    readonly_root: bool,
}

fn spec_error(error: spec::SpecError) -> HttpError {
    HttpError::bad_request(error.to_string())
}

/// Decodes the mount fields of a create body (see the module docs), or a 400 naming the flag.
pub fn decode(raw: &Value) -> Result<Requested, HttpError> {
    let host = raw.get("HostConfig").unwrap_or(&Value::Null);
    let mut requested = Requested {
        readonly_root: host.get("ReadonlyRootfs").and_then(Value::as_bool) == Some(true),
        ..Requested::default()
    };
    let strings = |value: Option<&Value>, field: &str| -> Result<Vec<String>, HttpError> {
        match value {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|_| HttpError::bad_request(format!("{field} must be a list of strings"))),
        }
    };
    for value in strings(host.get("VolumesFrom"), "HostConfig.VolumesFrom")? {
        requested
            .from
            .push(spec::parse_volumes_from(&value).map_err(spec_error)?);
    }
    for bind in strings(host.get("Binds"), "HostConfig.Binds")? {
        requested
            .specs
            .push(spec::parse_volume_flag(&bind).map_err(spec_error)?);
        requested.binds.push(bind);
    }
    for mount in host
        .get("Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let flag = mount_flag(mount)?;
        requested
            .specs
            .push(spec::parse_mount_flag(&flag).map_err(spec_error)?);
    }
    for (dst, options) in host
        .get("Tmpfs")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let options = options.as_str().unwrap_or_default();
        let flag = if options.is_empty() {
            dst.clone()
        } else {
            format!("{dst}:{options}")
        };
        requested
            .specs
            .push(spec::parse_tmpfs_flag(&flag).map_err(spec_error)?);
        requested.tmpfs.insert(dst.clone(), options.to_owned());
    }
    if let Some(volumes) = raw.get("Volumes").and_then(Value::as_object) {
        for dst in volumes.keys() {
            spec::parse_volume_flag(dst).map_err(spec_error)?;
            requested.anonymous.push(dst.clone());
        }
    }
    Ok(requested)
}

/// A `HostConfig.Mounts` entry as the `--mount` text chapter 8 parses.
fn mount_flag(mount: &Value) -> Result<String, HttpError> {
    let text = |field: &str| mount.get(field).and_then(Value::as_str).unwrap_or_default();
    let mut parts = vec![
        format!("type={}", text("Type")),
        format!("dst={}", text("Target")),
    ];
    if !text("Source").is_empty() {
        parts.push(format!("src={}", text("Source")));
    }
    if mount.get("ReadOnly").and_then(Value::as_bool) == Some(true) {
        parts.push("readonly".into());
    }
    if mount
        .pointer("/VolumeOptions/NoCopy")
        .and_then(Value::as_bool)
        == Some(true)
    {
        parts.push("volume-nocopy".into());
    }
    if let Some(size) = mount
        .pointer("/TmpfsOptions/SizeBytes")
        .and_then(Value::as_u64)
    {
        parts.push(format!("tmpfs-size={size}"));
    }
    if let Some(mode) = mount.pointer("/TmpfsOptions/Mode").and_then(Value::as_u64) {
        parts.push(format!("tmpfs-mode={mode:o}"));
    }
    if let Some(p) = mount
        .pointer("/BindOptions/Propagation")
        .and_then(Value::as_str)
    {
        parts.push(format!("bind-propagation={p}"));
    }
    let refused = [
        ("/VolumeOptions/DriverConfig/Name", "--mount volume-driver"),
        ("/VolumeOptions/Labels", "--mount volume-label"),
        ("/VolumeOptions/Subpath", "--mount volume-subpath"),
    ];
    for (pointer, flag) in refused {
        if mount
            .pointer(pointer)
            .is_some_and(|v| !v.is_null() && v != &json!({}) && v != "")
        {
            return Err(HttpError::bad_request(format!(
                "{flag} is not supported by berthd yet: the container was not created"
            )));
        }
    }
    Ok(parts.join(","))
}
// ANCHOR_END: requested

// ANCHOR: attach
/// Decides a new container's mounts before it is created (`--volumes-from` first, then its
/// own), making the volumes it needs; the list goes into its record's `"mounts"` slot. A bad
/// request (a missing volume source, a bad option) is a 400 and leaves no volume behind.
pub fn decide(
    daemon: &Daemon,
    image: &berth_images::Digest,
    requested: &Requested,
) -> Result<ContainerMounts, HttpError> {
    let store = daemon.engine.store();
    let volumes = volumes(daemon)?;
    let image_config = store
        .read_blob(image)
        .map_err(|e| HttpError::new(500, format!("reading the image config of {image}: {e}")))?;
    let mut image_volumes = attach::image_volumes(&image_config);
    image_volumes.extend(requested.anonymous.iter().cloned());
    let mut specs = Vec::new();
    for (key, readonly) in &requested.from {
        let other = berth_images::container::find(store, key).map_err(|_| {
            HttpError::bad_request(format!("--volumes-from: no such container: {key}"))
        })?;
        let mounts = ContainerMounts::load(&other.dir(store))
            .map_err(|e| HttpError::new(500, e.to_string()))?;
        specs.extend(mounts.inherited(*readonly));
    }
    specs.extend(requested.specs.iter().cloned());
    let mut mounts =
        ContainerMounts::create(&volumes, &specs, &image_volumes, requested.readonly_root)
            .map_err(|e| HttpError::bad_request(format!("invalid mount config: {e}")))?;
    mounts.binds = requested.binds.clone();
    mounts.tmpfs = requested.tmpfs.clone();
    Ok(mounts)
}

/// Undoes [`decide`] when the container could not be created: its anonymous volumes go.
pub fn undo(daemon: &Daemon, mounts: &ContainerMounts) {
    if let Ok(volumes) = volumes(daemon) {
        mounts.undo(&volumes);
    }
}

/// Finishes a just-created container's mounts: new volumes filled with the image's files,
/// anonymous ones marked to go with a `--rm` container. On failure the container is removed
/// again, with the volumes made for it.
pub fn attach(
    daemon: &Daemon,
    view: &ContainerView,
    mounts: &ContainerMounts,
) -> Result<(), HttpError> {
    let engine = &daemon.engine;
    let store = engine.store();
    let record = &view.record;
    let made = (|| -> Result<(), HttpError> {
        let volumes = volumes(daemon)?;
        let runtime = berth_images::container::runtime_config(store, record)
            .map_err(|e| HttpError::new(500, e.to_string()))?;
        // Under userns-remap, the container's remapped root owns its new volumes (chapter 6).
        let maps = berth_security::engine::UsernsExtension::for_store(&daemon.data_root)
            .maps_of(record)
            .map_err(|e| HttpError::new(500, e.to_string()))?;
        if let Some(rootfs) = &runtime.rootfs_mount {
            mounts
                .populate(&volumes, rootfs, maps.as_ref())
                .map_err(|e| HttpError::bad_request(format!("invalid mount config: {e}")))?;
        }
        if record.options.settings.auto_remove {
            for name in mounts.anonymous_volumes() {
                volumes
                    .remove_with(name, &record.id)
                    .map_err(volume_error)?;
            }
        }
        Ok(())
    })();
    if made.is_err() {
        let _ = engine.remove(&record.id, true);
        undo(daemon, mounts);
    }
    made
}
// ANCHOR_END: attach

/// `docker rm -v`: the container's anonymous volumes, to remove after the container.
pub fn anonymous_of(daemon: &Daemon, key: &str) -> Vec<String> {
    let store = daemon.engine.store();
    berth_images::container::find(store, key)
        .ok()
        .and_then(|record| ContainerMounts::load(&record.dir(store)).ok())
        .map(|mounts| mounts.anonymous_volumes().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Removes volumes that nothing uses any more (`rm -v`), best effort.
pub fn remove_unused(daemon: &Daemon, names: &[String]) {
    if let Ok(volumes) = volumes(daemon) {
        for name in names {
            let _ = volumes.remove(name, &users(daemon, name), true);
        }
    }
}

/// Inspect's `HostConfig.Binds` (the `-v` values as the client sent them, `null` for none),
/// `Tmpfs` (the `--tmpfs` ones, absent for none, as dockerd) and `ReadonlyRootfs`.
pub fn host_config_json(daemon: &Daemon, view: &ContainerView, host_config: &mut Value) {
    let store = daemon.engine.store();
    let mounts = ContainerMounts::load(&view.record.dir(store)).unwrap_or_default();
    host_config["Binds"] = if mounts.binds.is_empty() {
        Value::Null
    } else {
        json!(mounts.binds)
    };
    if !mounts.tmpfs.is_empty() {
        host_config["Tmpfs"] = json!(mounts.tmpfs);
    }
    host_config["ReadonlyRootfs"] = json!(mounts.readonly_root);
}

/// Inspect's `Mounts`, as Docker lists them.
pub fn mounts_json(daemon: &Daemon, view: &ContainerView) -> Value {
    let store = daemon.engine.store();
    let mounts = ContainerMounts::load(&view.record.dir(store)).unwrap_or_default();
    let list: Vec<Value> = mounts
        .mounts
        .iter()
        .map(|m| {
            let kind = serde_json::to_value(m.kind).unwrap_or(Value::Null);
            let mut entry = json!({
                "Type": kind,
                "Source": m.source,
                "Destination": m.destination,
                "Mode": if m.readonly { "ro" } else { "" },
                "RW": !m.readonly,
                "Propagation": if m.kind == spec::MountKind::Bind { "rprivate" } else { "" },
            });
            if let Some(name) = &m.name {
                entry["Name"] = json!(name);
                entry["Driver"] = json!("local");
            }
            if m.kind == spec::MountKind::Tmpfs {
                entry["Source"] = json!("");
            }
            entry
        })
        .collect();
    Value::Array(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_fields_become_specs() {
        let body = json!({
            "Volumes": {"/anon": {}},
            "HostConfig": {
                "Binds": ["data:/data:ro", "/srv:/srv"],
                "Mounts": [{"Type": "tmpfs", "Target": "/t",
                            "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 1023}}],
                "Tmpfs": {"/run": "size=64m"},
                "ReadonlyRootfs": true,
            }
        });
        let requested = decode(&body).expect("decoded");
        assert_eq!(requested.specs.len(), 4);
        assert_eq!(requested.specs[2].tmpfs_options, "size=1048576,mode=1777");
        assert_eq!(requested.anonymous, ["/anon"]);
        assert!(requested.readonly_root);
    }

    #[test]
    fn bad_fields_name_their_flag() {
        for (body, flag) in [
            (json!({"HostConfig": {"Binds": ["a/b:/x"]}}), "invalid -v"),
            (
                json!({"HostConfig": {"Tmpfs": {"/run": "size=big"}}}),
                "invalid --tmpfs",
            ),
            (
                json!({"HostConfig": {"Mounts": [{"Type": "nfs", "Target": "/x"}]}}),
                "invalid --mount",
            ),
        ] {
            let error = decode(&body).expect_err("refused");
            assert_eq!(error.status, 400);
            assert!(error.message.starts_with(flag), "{}", error.message);
        }
    }
}
