//! A container's run state on disk: `containers/<id>/state.json`.
//!
//! The record written at `create` (`config.json`, see [`crate::container`]) says what the
//! container *is*, and never changes. This file says what it is *doing*: created, running
//! (with which pids), exited (with which code, when), as Docker's `State` in `docker inspect`.
//! Its writer is whatever runs the container: `ch02 run` here, and from chapter 4 on the
//! container's monitor process, which outlives the daemon, so that a daemon can be killed and
//! restarted and still learn how its containers ended.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Where a container is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created and never started.
    #[default]
    Created,
    /// Its process runs (or ran, if whoever watched it is gone: see chapter 4's reconcile).
    Running,
    /// Its process ended, or could not start.
    Exited,
}

/// What a container is doing, as its monitor last wrote it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// Created, running or exited.
    pub status: Status,
    /// The container's PID 1 on the host.
    pub pid: Option<i32>,
    /// When that process started (see [`process_start`]): a pid is reused once its process is
    /// gone, and this tells the two apart.
    pub pid_start: Option<u64>,
    /// The process that watches it (chapter 4's monitor; `ch02 run` itself here).
    pub monitor_pid: Option<i32>,
    /// When the monitor started.
    pub monitor_start: Option<u64>,
    /// When it last started, RFC 3339 with nanoseconds.
    pub started_at: Option<String>,
    /// When it last ended, RFC 3339 with nanoseconds.
    pub finished_at: Option<String>,
    /// The exit code of its last run.
    pub exit_code: Option<i32>,
    /// Why it could not start or how it was lost, if so.
    pub error: Option<String>,
    /// Whether the kernel's OOM killer killed a process of its last run (`State.OOMKilled`):
    /// chapter 5 reads the cgroup's counter when the run ends.
    #[serde(default)]
    pub oom_killed: bool,
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
        crate::store::atomic::write_fast(&container_dir.join("state.json"), &json)
    }

    /// Whether its process runs now: the state says so, and the pid is still that process.
    pub fn is_running(&self) -> bool {
        self.status == Status::Running && alive(self.pid, self.pid_start)
    }
}

// Liveness by pid *and* start time, zombies counted as dead.
pub use crate::container::{process_alive as alive, process_start};

/// Now, in RFC 3339 with nanoseconds, as Docker writes times.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    crate::text::format_rfc3339(now.as_secs(), now.subsec_nanos())
}
