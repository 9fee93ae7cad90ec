//! `GET /system/df`: `docker system df` (and `-v`), what images, containers and volumes take.
//!
//! Chapter 2 measures the images ([`Store::disk_use`](berth_images::store::Store::disk_use):
//! sizes and shared sizes), chapter 8 the volumes; this module adds who uses what (a
//! container's image, a volume's containers) and answers in dockerd's shape: `LayersSize`,
//! `Images`, `Containers`, `Volumes` with `UsageData`, and an empty `BuildCache` (nothing is
//! built before chapter 9).

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_daemon::http::{HttpError, Request, Response, Router};
use berth_images::store::disk_usage;
use serde_json::{Value, json};

use super::{Daemon, Route, containers, errors, images, volumes, with_daemon};

/// Adds this module's route.
pub fn routes(router: Router, daemon: &Arc<Daemon>) -> Router {
    router.get("/system/df", with_daemon(daemon, df as Route))
}

// ANCHOR: df
fn df(daemon: &Arc<Daemon>, _: &mut Request) -> Result<Response, HttpError> {
    let engine = &daemon.engine;
    let store = engine.store();
    let usage = store.disk_use().map_err(errors::store_error)?;
    let views = engine.containers().map_err(errors::engine_error)?;
    let mut users: BTreeMap<_, usize> = BTreeMap::new();
    for view in &views {
        *users.entry(view.record.image).or_default() += 1;
    }

    let mut image_list = Vec::new();
    for image in store.images().map_err(errors::store_error)? {
        let id = image.record.id;
        let used = usage.images.get(&id).copied().unwrap_or_default();
        let mut tags: Vec<String> = image
            .names
            .iter()
            .filter(|r| r.tag.is_some())
            .map(|r| r.familiar())
            .collect();
        tags.sort();
        image_list.push(json!({
            "Id": id.to_string(),
            "ParentId": "",
            "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
            "RepoDigests": image.record.repo_digests,
            "Created": images::created_secs(&image.record),
            "Size": used.size,
            "SharedSize": used.shared_size,
            "VirtualSize": used.size,
            "Labels": images::image_labels(store, &id),
            "Containers": users.get(&id).copied().unwrap_or(0),
        }));
    }

    let containers: Vec<Value> = views
        .iter()
        .map(|view| {
            let r = &view.record;
            let size_rw = disk_usage(&r.dir(store).join("upper"));
            let image_size = usage.images.get(&r.image).map_or(0, |u| u.size);
            let mut entry = containers::summary_json(view);
            entry["SizeRw"] = json!(size_rw);
            entry["SizeRootFs"] = json!(image_size + size_rw);
            entry["Mounts"] = volumes::mounts_json(daemon, view);
            entry
        })
        .collect();

    let volume_list: Vec<Value> = volumes::volumes(daemon)?
        .list()
        .map_err(volumes::volume_error)?
        .iter()
        .map(|volume| {
            let mut entry = volumes::volume_json(volume);
            entry["UsageData"] = json!({
                "Size": disk_usage(&volume.mountpoint),
                "RefCount": volumes::users(daemon, &volume.name).len(),
            });
            entry
        })
        .collect();

    Ok(Response::json(
        200,
        &json!({
            "LayersSize": usage.layers_size,
            "Images": image_list,
            "Containers": containers,
            "Volumes": volume_list,
            "BuildCache": [],
            "BuilderSize": 0,
        }),
    ))
}
// ANCHOR_END: df
