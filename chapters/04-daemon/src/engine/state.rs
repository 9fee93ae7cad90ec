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

/// Field 22 of `/proc/PID/stat`: when the process started, in clock ticks since boot.
pub fn process_start(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    after_name.split_whitespace().nth(19)?.parse().ok()
}

// ANCHOR: alive
/// Whether `pid` is still the process that started at `start`, and not a zombie: a process
/// that has exited but whose parent has not reaped it yet (the machine's init reaps orphans
/// lazily here) still has its `/proc` entry.
pub fn alive(pid: Option<i32>, start: Option<u64>) -> bool {
    let (Some(pid), Some(start)) = (pid, start) else {
        return false;
    };
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some((_, after_name)) = stat.rsplit_once(')') else {
        return false;
    };
    let mut fields = after_name.split_whitespace();
    let state = fields.next().unwrap_or("X");
    let started = fields.nth(18).and_then(|f| f.parse::<u64>().ok());
    !matches!(state, "Z" | "X") && started == Some(start)
}
// ANCHOR_END: alive

/// Now, in RFC 3339 with nanoseconds, as Docker writes times.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    berth_images::text::format_rfc3339(now.as_secs(), now.subsec_nanos())
}
