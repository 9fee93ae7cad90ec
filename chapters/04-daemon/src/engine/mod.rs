//! The engine behind the API: the store, the containers, and their monitors.
//!
//! The HTTP layer turns requests into calls of [`Engine`]; the engine does the work with the
//! chapter libraries (chapter 2's store and containers, chapter 3's pull) and keeps track of
//! running containers through their monitors (see `monitor.rs`). Everything it knows is on
//! disk, so a restarted daemon rebuilds its view with [`Engine::open`]: containers whose
//! monitor still runs are adopted, the others are marked exited with what is known.

pub mod logs;
pub mod monitor;
pub mod state;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use berth_images::container::{self, ContainerError, ContainerRecord, RunOptions};
use berth_images::store::{Store, StoreError};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::WaitPidFlag;
use nix::unistd::Pid;

use monitor::Report;
use state::{RunState, Status, alive};

/// Why an engine operation failed; the API turns each into an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} is already running")]
    AlreadyRunning(String),
    #[error(
        "you cannot remove a running container {0}: stop the container before removing it, or \
         force the removal"
    )]
    RemoveRunning(String),
    #[error("starting container {id}: {message}")]
    Start {
        id: String,
        message: String,
        code: i32,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

// ANCHOR: reconcile
/// A state that says "running" although the monitor is gone (killed, or the machine
/// rebooted) is not true any more: mark it exited, with what is known, and kill whatever is
/// left of the container, so that nothing runs that nobody watches.
pub fn reconcile(dir: &Path, mut run: RunState) -> std::io::Result<RunState> {
    if run.status != Status::Running || alive(run.monitor_pid, run.monitor_start) {
        return Ok(run);
    }
    if alive(run.pid, run.pid_start)
        && let Some(pid) = run.pid
    {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        // A daemon that is a child subreaper inherited the container when its monitor died:
        // then only we can reap it, or it stays a zombie for our whole life. If it is not our
        // child (the daemon itself was restarted meanwhile), waitpid says ECHILD at once.
        // Never block on it: look for a second at most.
        for _ in 0..100 {
            match nix::sys::wait::waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => break,
            }
        }
    }
    // The monitor may have written the exit just before it went: look once more.
    let latest = RunState::load(dir);
    if latest.status == Status::Exited {
        return Ok(latest);
    }
    run.status = Status::Exited;
    run.exit_code.get_or_insert(255);
    run.finished_at.get_or_insert_with(state::now_rfc3339);
    run.error = Some("its monitor process was gone".into());
    run.save(dir)?;
    Ok(run)
}
// ANCHOR_END: reconcile

// ANCHOR: wait_for_exit
/// Blocks until process `pid` (which started at `start`, see [`state::alive`]) has exited,
/// whether or not it is our child: only a parent can `wait` for a process, and a restarted
/// daemon is not its monitors' parent. A pidfd is a descriptor that becomes readable when its
/// process exits, for any process; where the kernel has none (before Linux 5.3) or refuses
/// one, look every half second instead.
pub fn wait_for_exit(pid: i32, start: Option<u64>) {
    // SAFETY: the syscall takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        while alive(Some(pid), start) {
            std::thread::sleep(Duration::from_millis(500));
        }
        return;
    }
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; no timeout.
    while unsafe { libc::poll(&mut poll, 1, -1) } < 0 {}
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
}
// ANCHOR_END: wait_for_exit

/// A container the engine watches: its state, and a condition variable to wait on changes.
#[derive(Default)]
struct Watch {
    state: Mutex<RunState>,
    changed: Condvar,
}

/// The engine: one per daemon.
pub struct Engine {
    store: Store,
    /// The program to run as `PROGRAM monitor ROOT ID`.
    monitor_program: PathBuf,
    watches: Mutex<HashMap<String, Arc<Watch>>>,
}

impl Engine {
    // ANCHOR: open
    /// Opens the store at `root` and takes stock of the containers in it: those whose
    /// monitor still runs (the daemon was restarted under them) are watched again; those
    /// that claim to run but whose monitor is gone are marked exited, and any process left of
    /// them is killed, so that nothing runs that nobody watches.
    pub fn open(root: &Path, monitor_program: PathBuf) -> Result<Arc<Engine>, EngineError> {
        let engine = Arc::new(Engine {
            store: Store::open(root)?,
            monitor_program,
            watches: Mutex::new(HashMap::new()),
        });
        for record in container::list(&engine.store)? {
            let dir = record.dir(&engine.store);
            let run = RunState::load(&dir);
            if run.status == Status::Running && alive(run.monitor_pid, run.monitor_start) {
                engine.adopt(&record.id, run.monitor_pid.unwrap_or(0), run.monitor_start);
            }
            let run = reconcile(&dir, run)?;
            engine
                .watch(&record.id)
                .state
                .lock()
                .expect("not poisoned")
                .clone_from(&run);
        }
        Ok(engine)
    }
    // ANCHOR_END: open

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn watch(&self, id: &str) -> Arc<Watch> {
        self.watches
            .lock()
            .expect("not poisoned")
            .entry(id.to_owned())
            .or_default()
            .clone()
    }

    /// Re-reads a container's state from disk and wakes whoever waits on it.
    /// Callers pass the full id, so the directory is known without listing the store (this
    /// runs on every state change, and every half second for each `wait`).
    fn refresh(&self, id: &str) {
        let dir = self.store.containers_dir().join(id);
        if !dir.is_dir() {
            return; // Removed meanwhile.
        }
        let run = reconcile(&dir, RunState::load(&dir)).unwrap_or_else(|_| RunState::load(&dir));
        let watch = self.watch(id);
        *watch.state.lock().expect("not poisoned") = run;
        watch.changed.notify_all();
    }

    // ANCHOR: adopt
    /// Watches a monitor that is not our child (after a restart) until it exits.
    fn adopt(self: &Arc<Self>, id: &str, monitor_pid: i32, monitor_start: Option<u64>) {
        let engine = Arc::clone(self);
        let id = id.to_owned();
        std::thread::spawn(move || {
            wait_for_exit(monitor_pid, monitor_start);
            engine.refresh(&id);
        });
    }
    // ANCHOR_END: adopt

    /// Creates a container (as chapter 2 does), not started.
    pub fn create(
        &self,
        image: &str,
        options: &RunOptions,
    ) -> Result<ContainerRecord, EngineError> {
        let (record, _) = container::create(&self.store, image, options)?;
        self.refresh(&record.id);
        Ok(record)
    }

    /// Finds a container by name, id or id prefix, with its run state.
    pub fn container(&self, key: &str) -> Result<(ContainerRecord, RunState), EngineError> {
        let record = container::find(&self.store, key)?;
        let state = self
            .watch(&record.id)
            .state
            .lock()
            .expect("not poisoned")
            .clone();
        Ok((record, state))
    }

    /// Every container with its state, newest first.
    pub fn containers(&self) -> Result<Vec<(ContainerRecord, RunState)>, EngineError> {
        container::list(&self.store)?
            .into_iter()
            .map(|record| {
                let state = self
                    .watch(&record.id)
                    .state
                    .lock()
                    .expect("not poisoned")
                    .clone();
                Ok((record, state))
            })
            .collect()
    }

    // ANCHOR: start
    /// Starts a created (or exited) container through a new monitor, and returns once it
    /// runs or has failed to start.
    pub fn start(self: &Arc<Self>, key: &str) -> Result<(), EngineError> {
        let (record, state) = self.container(key)?;
        if state.status == Status::Running {
            return Err(EngineError::AlreadyRunning(record.name));
        }
        let mut monitor = Command::new(&self.monitor_program)
            .arg("monitor")
            .arg(self.store.root())
            .arg(&record.id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C meant for the daemon's terminal is not for it.
            .process_group(0)
            .spawn()?;
        let mut line = String::new();
        let stdout = monitor.stdout.take().expect("piped");
        BufReader::new(stdout).read_line(&mut line)?;
        let report: Option<Report> = serde_json::from_str(line.trim()).ok();
        // Reap the monitor when it ends, then tell the waiters.
        let engine = Arc::clone(self);
        let id = record.id.clone();
        std::thread::spawn(move || {
            let _ = monitor.wait();
            engine.refresh(&id);
        });
        match report {
            Some(Report::Started { .. }) => {
                self.refresh(&record.id);
                Ok(())
            }
            Some(Report::Failed { error, code }) => {
                self.refresh(&record.id);
                Err(EngineError::Start {
                    id: record.name,
                    message: error,
                    code,
                })
            }
            None => Err(EngineError::Start {
                id: record.name,
                message: "the monitor ended without a word".into(),
                code: 125,
            }),
        }
    }
    // ANCHOR_END: start

    /// Sends a signal to the container's PID 1.
    pub fn kill(&self, key: &str, signal: Signal) -> Result<(), EngineError> {
        let (record, state) = self.container(key)?;
        match state.pid {
            Some(pid) if state.status == Status::Running && alive(state.pid, state.pid_start) => {
                kill(Pid::from_raw(pid), signal).map_err(std::io::Error::from)?;
                Ok(())
            }
            _ => Err(EngineError::NotRunning(record.name)),
        }
    }

    // ANCHOR: stop
    /// Stops a container as `docker stop` does: SIGTERM, and SIGKILL if it has not exited
    /// after `grace`. Returns `false` if it was not running.
    pub fn stop(&self, key: &str, grace: Duration) -> Result<bool, EngineError> {
        match self.kill(key, Signal::SIGTERM) {
            Err(EngineError::NotRunning(_)) => return Ok(false),
            other => other?,
        }
        if self.wait_exit(key, Some(grace))?.is_none() {
            let _ = self.kill(key, Signal::SIGKILL);
            self.wait_exit(key, None)?;
        }
        Ok(true)
    }
    // ANCHOR_END: stop

    /// Waits until the container is not running; returns its exit code, or `None` on timeout.
    pub fn wait_exit(
        &self,
        key: &str,
        timeout: Option<Duration>,
    ) -> Result<Option<i32>, EngineError> {
        let record = container::find(&self.store, key)?;
        let watch = self.watch(&record.id);
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut state = watch.state.lock().expect("not poisoned");
        while state.status == Status::Running {
            let wait = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) => left,
                    None => return Ok(None),
                },
                // Wake up now and then anyway: a monitor adopted without pidfd support would
                // never notify.
                None => Duration::from_millis(500),
            };
            state = watch
                .changed
                .wait_timeout(state, wait)
                .expect("not poisoned")
                .0;
            if state.status == Status::Running && deadline.is_none() {
                drop(state);
                self.refresh(&record.id);
                state = watch.state.lock().expect("not poisoned");
            }
        }
        Ok(Some(state.exit_code.unwrap_or(255)))
    }

    /// Removes a container; a running one only with `force` (it is killed first).
    pub fn remove(&self, key: &str, force: bool) -> Result<ContainerRecord, EngineError> {
        let (record, state) = self.container(key)?;
        if state.status == Status::Running && alive(state.pid, state.pid_start) {
            if !force {
                return Err(EngineError::RemoveRunning(record.name));
            }
            let _ = self.kill(&record.id, Signal::SIGKILL);
            self.wait_exit(&record.id, None)?;
        }
        let (removed, trash) = container::remove_later(&self.store, &record.id)?;
        self.watches
            .lock()
            .expect("not poisoned")
            .remove(&record.id);
        // The files go after we answer: deleting directories is slow on some disks.
        std::thread::spawn(move || std::fs::remove_dir_all(trash));
        Ok(removed)
    }

    /// The container's log file.
    pub fn log_path(&self, key: &str) -> Result<PathBuf, EngineError> {
        let record = container::find(&self.store, key)?;
        Ok(logs::path(&record.dir(&self.store)))
    }

    /// Whether the container is running now (for following logs).
    pub fn is_running(&self, key: &str) -> bool {
        self.container(key)
            .map(|(_, state)| state.status == Status::Running)
            .unwrap_or(false)
    }
}
