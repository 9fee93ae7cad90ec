//! `POST /containers/prune` and `POST /images/prune`: `docker container prune`, `docker
//! image prune [-a]`, and the two halves of `docker system prune` that berthd serves.
//!
//! Chapter 4's engine removes and measures ([`berth_daemon::engine::prune`]); this module
//! reads Docker's filters and answers in Docker's shape:
//!
//! * `until=<time>`: only what was created before it (unix seconds, RFC 3339, or a duration
//!   back from now such as `24h`);
//! * `label=key`, `label=key=value`, and `label!=...` for the opposite;
//! * images also take `dangling=true` (the default: images without a name) or `false` (`-a`:
//!   every image no container uses).
//!
//! The answers are `{"ContainersDeleted": [ids], "SpaceReclaimed": n}` and
//! `{"ImagesDeleted": [{"Untagged": ..}, {"Deleted": ..}], "SpaceReclaimed": n}`, with `null`
//! for an empty list, as dockerd sends.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_daemon::http::{HttpError, Request, Response, Router};
use serde_json::{Value, json};

use super::filters::{self, Filters};
use super::{Daemon, Route, errors, with_daemon};

/// Adds this module's routes (before the `{id}` and `{name*}` routes of the same prefixes).
pub fn routes(router: Router, daemon: &Arc<Daemon>) -> Router {
    let d = |f: Route| with_daemon(daemon, f);
    router
        .post("/containers/prune", d(containers))
        .post("/images/prune", d(images))
        .post("/build/prune", build_cache)
}

/// `POST /build/prune`, the last step of `docker system prune`: berthd builds nothing until
/// chapter 9, so it has no build cache. The build chapter's routes replace this one.
fn build_cache(_: &mut Request) -> Result<Response, HttpError> {
    Ok(Response::json(
        200,
        &json!({"CachesDeleted": null, "SpaceReclaimed": 0}),
    ))
}

/// The `until` and `label` filters, which both prunes take.
struct Selection {
    until: Option<f64>,
    filters: Filters,
}

impl Selection {
    fn from_request(req: &Request, extra: &[&str]) -> Result<Selection, HttpError> {
        let mut allowed = vec!["until", "label", "label!"];
        allowed.extend_from_slice(extra);
        let filters = Filters::from_request(req, &allowed)?;
        let until = match filters.values("until") {
            [] => None,
            [one] => Some(filters::timestamp(one, now()).ok_or_else(|| {
                HttpError::bad_request(format!(
                    "invalid filter 'until={one}': a unix time, an RFC 3339 time or a duration \
                     such as 24h"
                ))
            })?),
            _ => return Err(HttpError::bad_request("filter 'until' takes one value")),
        };
        Ok(Selection { until, filters })
    }

    /// Whether something created at `created` (unix seconds) with `labels` is selected.
    fn selects(&self, created: f64, labels: &BTreeMap<String, String>) -> bool {
        self.until.is_none_or(|until| created < until)
            && self.filters.labels_match(labels)
            && !self
                .filters
                .values("label!")
                .iter()
                .any(|f| filters::label_matches(labels, f))
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// An empty list is `null` in dockerd's answers.
fn list_or_null<T: serde::Serialize>(items: &[T]) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        json!(items)
    }
}

// ANCHOR: containers
/// `POST /containers/prune?filters=`: every stopped container the filters select.
fn containers(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let selection = Selection::from_request(req, &[])?;
    let pruned = daemon
        .engine
        .prune_containers(|view| {
            let record = &view.record;
            selection.selects(record.created as f64, &record.options.settings.labels)
        })
        .map_err(errors::engine_error)?;
    Ok(Response::json(
        200,
        &json!({
            "ContainersDeleted": list_or_null(&pruned.removed),
            "SpaceReclaimed": pruned.reclaimed,
        }),
    ))
}
// ANCHOR_END: containers

// ANCHOR: images
/// `POST /images/prune?filters=`: unused images, dangling ones unless `dangling=false`.
fn images(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let selection = Selection::from_request(req, &["dangling"])?;
    let dangling_only = match selection.filters.values("dangling") {
        [] => true,
        [one] => berth_daemon::http::query::parse_bool(one).ok_or_else(|| {
            HttpError::bad_request(format!(
                "invalid filter 'dangling={one}': use true or false"
            ))
        })?,
        _ => return Err(HttpError::bad_request("filter 'dangling' takes one value")),
    };
    let store = daemon.engine.store();
    let pruned = daemon
        .engine
        .prune_images(dangling_only, |image| {
            let created = super::images::created_secs(&image.record);
            let labels = super::images::image_labels(store, &image.record.id);
            selection.selects(created as f64, &labels)
        })
        .map_err(errors::store_error)?;
    Ok(Response::json(
        200,
        &json!({
            "ImagesDeleted": list_or_null(&pruned.removed),
            "SpaceReclaimed": pruned.reclaimed,
        }),
    ))
}
// ANCHOR_END: images
