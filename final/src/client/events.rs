//! `berth events`: the daemon's stream of what happens to containers, images, networks and
//! volumes.
//!
//! In Docker the daemon keeps a ring of recent events and streams new ones (`GET /events`,
//! one JSON object per event); `since` replays the past, `until` ends the stream, and filters
//! choose what is sent. The CLI prints each as one line:
//! `2026-01-02T03:04:05.000000000Z container start 3f2a... (image=busybox, name=web)`.

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use berth_daemon::http::ClientRequest;
use clap::Args;
use serde_json::Value;

use super::api::Api;
use super::containers::since_seconds;
use super::error::Failure;
use super::filters;

/// `events`' flags.
#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// Replay events since this time: unix seconds, RFC 3339, or a duration (`10m`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Stop at this time (without it, stream until interrupted).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only matching events: `type=container`, `event=start`, `container=web`,
    /// `image=busybox`, `label=k=v` (repeatable).
    #[arg(short, long = "filter", value_name = "NAME=VALUE")]
    pub filters: Vec<String>,
    /// `json`: each event as the daemon's JSON object, one per line.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// `berth events`.
pub fn events(api: &Api, args: &EventsArgs) -> Result<u8, Failure> {
    let json = match args.format.as_deref() {
        None | Some("table") => false,
        Some("json") | Some("{{json .}}") => true,
        Some(other) => {
            return Err(Failure::new(format!(
                "unsupported --format {other:?}: use 'json' or no --format"
            )));
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut request = ClientRequest::get("/events");
    if let Some(since) = &args.since {
        request = request.query("since", since_seconds(since, now)?.to_string());
    }
    if let Some(until) = &args.until {
        request = request.query("until", since_seconds(until, now)?.to_string());
    }
    if let Some(filters) = filters::query(&args.filters, &[])? {
        request = request.query("filters", filters);
    }
    let response = api.call(&request)?;
    let mut out = io::stdout().lock();
    for event in response.json_stream::<Value>() {
        let event = event?;
        let line = if json {
            event.to_string()
        } else {
            event_line(&event)
        };
        // Each event as it comes: a pipe to `grep` must see it now, not at exit.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
    Ok(0)
}

/// One event as the docker CLI prints it: time, type, action, actor id, sorted attributes.
pub fn event_line(event: &Value) -> String {
    let nanos = event["timeNano"]
        .as_u64()
        .unwrap_or_else(|| event["time"].as_u64().unwrap_or(0) * 1_000_000_000);
    let time =
        berth_images::text::format_rfc3339(nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32);
    let kind = event["Type"].as_str().unwrap_or_default();
    let action = event["Action"].as_str().unwrap_or_default();
    let id = event["Actor"]["ID"].as_str().unwrap_or_default();
    let mut line = format!("{time} {kind} {action} {id}");
    if let Some(attributes) = event["Actor"]["Attributes"].as_object()
        && !attributes.is_empty()
    {
        // serde_json's map is ordered by key: Docker sorts them too.
        let pairs: Vec<String> = attributes
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        line.push_str(&format!(" ({})", pairs.join(", ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lines_read_like_the_docker_clis() {
        let event = json!({
            "Type": "container", "Action": "start",
            "Actor": {"ID": "abc", "Attributes": {"name": "web", "image": "busybox"}},
            "time": 1_700_000_000u64, "timeNano": 1_700_000_000_000_000_123u64,
        });
        assert_eq!(
            event_line(&event),
            "2023-11-14T22:13:20.000000123Z container start abc (image=busybox, name=web)"
        );
        let bare = json!({"Type": "image", "Action": "pull",
                          "Actor": {"ID": "busybox:latest"}, "time": 0});
        assert_eq!(
            event_line(&bare),
            "1970-01-01T00:00:00.000000000Z image pull busybox:latest"
        );
    }
}
