//! What the engine knows of each container while the daemon runs, and how it waits on it.
//!
//! The truth is on disk: the container's `state.json` (chapter 2's [`super::state`]), written
//! by its monitor. Each container also has a [`Watch`] in memory: the last
//! state read, a few facts only the daemon knows (how many exits it has seen, whether a start
//! is under way, whether attach sessions wait for it), and a condition variable, so that
//! `wait`, `logs --follow` and attach sessions sleep until something happens instead of
//! polling.

use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::state::{RunState, Status as RunStatus};

/// The in-memory side of one container.
#[derive(Debug, Default)]
pub struct Live {
    /// The state as last read from `state.json`.
    pub run: RunState,
    /// How many times the daemon saw it exit (or fail to start): `next-exit` waits for this
    /// to grow. Counted by the thread that sees the monitor end, never guessed from states,
    /// since a quick restart could hide an exit between two reads.
    pub exits: u64,
    /// A `start` is under way: the monitor exists but the container may not run yet.
    pub starting: bool,
    /// The monitor of the current start listens on the attach socket.
    pub socket_ready: bool,
    /// Attach sessions made before the start and not connected yet: the next start tells the
    /// monitor to wait for them before it lets the container run.
    pub pending_attachers: usize,
    /// The container was removed (AutoRemove or `rm`).
    pub removed: bool,
    /// How many times it was started by this daemon.
    pub starts: u32,
    /// A restart is scheduled (its policy starts it again after a delay): `Restarting`.
    pub restarting: bool,
    /// Counts scheduled restarts: a scheduled restart goes ahead only if this has not moved
    /// meanwhile (a user's start, stop or removal moves it, and so cancels it).
    pub restart_token: u64,
    /// The delay before the last restart, for the next one's backoff; `None` after a start by
    /// the user.
    pub restart_delay: Option<Duration>,
    /// Its health checks' results since its last start (see `health.rs`).
    pub health: Option<super::Health>,
}

impl Live {
    /// Whether the container runs, or is about to.
    pub fn is_active(&self) -> bool {
        self.starting || self.run.status == RunStatus::Running
    }
}

/// A container's [`Live`] state under a lock, with a condition variable for its changes.
#[derive(Debug, Default)]
pub struct Watch {
    live: Mutex<Live>,
    changed: Condvar,
}

impl Watch {
    /// Locks the state.
    pub fn lock(&self) -> MutexGuard<'_, Live> {
        // A panic while holding the lock leaves consistent data: every writer sets whole
        // fields. So a poisoned lock is taken over rather than spread.
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes the state and wakes everyone waiting on it.
    pub fn update(&self, change: impl FnOnce(&mut Live)) {
        change(&mut self.lock());
        self.changed.notify_all();
    }

    /// Waits until `done` holds, or `timeout` passes (then returns the state anyway).
    pub fn wait_until<'a>(
        &'a self,
        timeout: Option<Duration>,
        mut done: impl FnMut(&Live) -> bool,
    ) -> MutexGuard<'a, Live> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut live = self.lock();
        while !done(&live) {
            live = match deadline {
                None => self
                    .changed
                    .wait(live)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                        break;
                    };
                    self.changed
                        .wait_timeout(live, left)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
        }
        live
    }
}

/// Reads a container's state from disk, correcting a "running" whose monitor is gone
/// (chapter 4's reconcile: mark it exited, kill what is left).
pub fn load(dir: &Path) -> RunState {
    let run = RunState::load(dir);
    super::adopt::reconcile(dir, run).unwrap_or_else(|_| RunState::load(dir))
}
