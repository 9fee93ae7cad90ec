//! `GET /events`: `docker events`, the engine's events as Docker's JSON stream.
//!
//! The engine emits the events (chapter 4's `events.rs`); this module only picks those the
//! client asked for and writes each as moby's `events.Message`: one JSON object per line,
//! streamed as it happens. `since` replays the events the engine still keeps (the last 256),
//! `until` ends the stream at that time (at once if it is past). The docker CLI turns
//! `--since 10m` into a Unix time before it asks; docker-py sends whole seconds.
//!
//! One difference from dockerd: a client that goes away while no event happens is noticed
//! only at the next event (its thread waits until then), as no byte can be sent to test the
//! connection without ending the chunked body.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_daemon::http::{HttpError, Request, Response, Router};
use berth_images::reference::Reference;
use serde_json::{Value, json};

use super::filters::Filters;
use super::{Daemon, with_daemon};
use crate::engine::{Event, EventType};

/// The filters `docker events` may send that we answer; others are a 400, as moby's.
const FILTERS: &[&str] = &["type", "container", "image", "event", "label"];

/// Adds this module's routes.
pub fn routes(router: Router, daemon: &Arc<Daemon>) -> Router {
    router.get("/events", with_daemon(daemon, events))
}

// ANCHOR: events
/// `GET /events?since=&until=&filters=`.
fn events(daemon: &Arc<Daemon>, req: &mut Request) -> Result<Response, HttpError> {
    let since = time_param(req, "since")?;
    let until = time_param(req, "until")?;
    if let (Some(since), Some(until)) = (since, until)
        && since > until
    {
        return Err(HttpError::bad_request(format!(
            "`since` time ({}) cannot be after `until` time ({})",
            req.query().get("since").unwrap_or_default(),
            req.query().get("until").unwrap_or_default()
        )));
    }
    let filters = Filters::from_request(req, FILTERS)?;
    let engine = Arc::clone(&daemon.engine);
    Ok(Response::stream(200, "application/json", move |body| {
        let events = engine.events();
        let in_range = |e: &Event| since.is_none_or(|s| e.time_nano >= s);
        // The replay of kept events, then the live ones from where it ended.
        let (kept, mut position) = match since {
            Some(_) => events.kept(),
            None => (Vec::new(), events.position()),
        };
        let deadline = until.map(instant_of);
        let mut batch = kept;
        loop {
            for event in &batch {
                if until.is_some_and(|u| event.time_nano > u) {
                    return Ok(());
                }
                if in_range(event) && wanted(&filters, event) {
                    let mut line = serde_json::to_vec(&message(event))?;
                    line.push(b'\n');
                    body.send(&line)?;
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(());
            }
            let (next, after) = events.after(position, deadline);
            if next.is_empty() {
                return Ok(()); // `until` has come.
            }
            batch = next;
            position = after;
        }
    }))
}
// ANCHOR_END: events

/// moby's `events.Message`, with the legacy `status`, `id` and `from` fields that old
/// clients read.
fn message(event: &Event) -> Value {
    let nanos = event.time_nano;
    let mut message = json!({
        "status": event.action,
        "id": event.id,
        "Type": event.kind.name(),
        "Action": event.action,
        "Actor": {"ID": event.id, "Attributes": event.attributes},
        "scope": "local",
        "time": nanos / 1_000_000_000,
        "timeNano": nanos,
    });
    if event.kind == EventType::Container
        && let Some(image) = event.attributes.get("image")
    {
        message["from"] = json!(image);
    }
    message
}

// ANCHOR: wanted
/// Whether the client's filters let `event` through (moby's `events.Filter`): each filter
/// given must match one of its values.
fn wanted(filters: &Filters, event: &Event) -> bool {
    let attribute = |key: &str| event.attributes.get(key).map(String::as_str);
    let is_container = event.kind == EventType::Container;
    filters.accepts("type", |t| t == event.kind.name())
        && filters.accepts("container", |c| {
            is_container && (event.id.starts_with(c) || attribute("name") == Some(c))
        })
        && filters.accepts("image", |i| {
            let image = if is_container {
                attribute("image").unwrap_or_default()
            } else {
                &event.id
            };
            same_image(i, image)
        })
        // `exec_start` also matches `exec_start: sh -c ...` (moby issue 25798).
        && filters.accepts("event", |e| {
            event.action == e || event.action.starts_with(&format!("{e}: "))
        })
        && filters.labels_match(&event.attributes)
}
// ANCHOR_END: wanted

/// Whether two image names are the same image name (`busybox` and
/// `docker.io/library/busybox:latest` are).
fn same_image(wanted: &str, have: &str) -> bool {
    if wanted == have {
        return true;
    }
    let normal = |text: &str| Reference::parse(text).ok().map(|r| r.with_default_tag());
    match (normal(wanted), normal(have)) {
        (Some(a), Some(b)) => a == b || (a.repository() == b.repository() && !wanted.contains(':')),
        _ => false,
    }
}

/// A `since` or `until` parameter in nanoseconds since the epoch: Unix seconds with an
/// optional fraction (what the CLI and docker-py send), or an RFC 3339 time.
fn time_param(req: &Request, name: &str) -> Result<Option<u128>, HttpError> {
    let Some(text) = req.query().get(name).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    parse_time(text).map(Some).ok_or_else(|| {
        HttpError::bad_request(format!(
            "invalid {name} time {text:?}: expected Unix seconds (such as 1700000000.5) or an \
             RFC 3339 time"
        ))
    })
}

fn parse_time(text: &str) -> Option<u128> {
    if let Some(secs) = berth_images::text::parse_rfc3339(text) {
        return Some(u128::from(secs) * 1_000_000_000);
    }
    let (secs, fraction) = text.split_once('.').unwrap_or((text, ""));
    let secs: u128 = secs.parse().ok()?;
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u128 = format!("{fraction:0<9}").parse().ok()?;
    Some(secs * 1_000_000_000 + nanos)
}

/// The `Instant` of a time in nanoseconds since the epoch (now, if it is past).
fn instant_of(nanos: u128) -> Instant {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let ahead = u64::try_from(nanos.saturating_sub(now)).unwrap_or(u64::MAX);
    Instant::now() + Duration::from_nanos(ahead)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn times_as_the_cli_and_docker_py_send_them() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000_000_000));
        assert_eq!(
            parse_time("1700000000.000000123"),
            Some(1_700_000_000_000_000_123)
        );
        assert_eq!(parse_time("1700000000.5"), Some(1_700_000_000_500_000_000));
        assert!(parse_time("2023-11-14T22:13:20Z").is_some());
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("1.2.3"), None);
    }

    #[test]
    fn filters_match_as_mobys() {
        let attributes = BTreeMap::from([
            ("name".to_owned(), "web".to_owned()),
            ("image".to_owned(), "busybox".to_owned()),
            ("tier".to_owned(), "front".to_owned()),
        ]);
        let event = Event::now(EventType::Container, "exec_start: sh", "abc123", attributes);
        let filter = |text: &str| Filters::parse(text, FILTERS).unwrap();
        assert!(wanted(&filter(r#"{"container":["web"]}"#), &event));
        assert!(wanted(&filter(r#"{"container":["abc"]}"#), &event));
        assert!(!wanted(&filter(r#"{"container":["db"]}"#), &event));
        assert!(wanted(&filter(r#"{"event":["exec_start"]}"#), &event));
        assert!(!wanted(&filter(r#"{"event":["exec"]}"#), &event));
        assert!(wanted(&filter(r#"{"type":["container"]}"#), &event));
        assert!(!wanted(&filter(r#"{"type":["image"]}"#), &event));
        assert!(wanted(
            &filter(r#"{"image":["docker.io/library/busybox:latest"]}"#),
            &event
        ));
        assert!(wanted(&filter(r#"{"label":["tier=front"]}"#), &event));
        assert!(!wanted(&filter(r#"{"label":["tier=back"]}"#), &event));
    }
}
