//! A container's run state on disk: `containers/<id>/state.json`.
//!
//! The record chapter 2 writes at `create` says what the container *is*. This file says what
//! it is *doing*: created, running (with which pids), exited (with which code, when). Its one
//! writer is the container's monitor process, which outlives the daemon, so the daemon can be
//! killed and restarted and still learn how its containers ended.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Where a container is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Exited,
}

/// What a container is doing, as its monitor last wrote it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub status: Status,
    /// The container's PID 1 on the host, and when it started (to tell a reused pid apart).
    pub pid: Option<i32>,
    pub pid_start: Option<u64>,
    /// The monitor process, and when it started.
    pub monitor_pid: Option<i32>,
    pub monitor_start: Option<u64>,
    /// RFC 3339 times.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    /// Why it could not start or how it was lost, if so.
    pub error: Option<String>,
}

impl RunState {
    /// Reads a container's state; a container that never started has none yet.
    pub fn load(container_dir: &Path) -> RunState {
        std::fs::read(container_dir.join("state.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Writes it atomically.
    pub fn save(&self, container_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("a state always serialises");
        berth_images::store::atomic::write_fast(&container_dir.join("state.json"), &json)
    }
}

// Liveness by pid *and* start time, zombies counted as dead: chapter 2's, shared.
pub use berth_images::container::{process_alive as alive, process_start};

/// Now, in RFC 3339 with nanoseconds, as Docker writes times.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    berth_images::text::format_rfc3339(now.as_secs(), now.subsec_nanos())
}
