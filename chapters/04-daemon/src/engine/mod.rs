//! The engine behind the API: the store, the containers, their monitors, and how the daemon
//! waits on them.
//!
//! The HTTP layer turns requests into calls of [`Engine`]; the engine does the work with the
//! chapter libraries (chapter 2's store and containers, chapter 1's `spawn`, `enter` and
//! consoles) and keeps track of each running container through its monitor, a process of its
//! own that outlives the daemon. Everything the engine knows is on disk, so a restarted daemon
//! rebuilds its view with [`Engine::open`]. `berthd` in `final/` runs this same engine; it only
//! plugs in another [`MonitorLauncher`] (a zygote that forks monitors).
//!
//! Module by module:
//!
//! - `types.rs`: what the API asks for and what the engine answers; `error.rs`: why it failed;
//! - `spec.rs`: a create request as chapter 2's options, for its one record (`config.json`);
//! - `launcher.rs`: how a monitor process is launched (the seam `final/` plugs its zygote into);
//! - `extension.rs`: how later chapters add resources and start steps to a container (the
//!   seam chapters 5 to 8 plug into), and in which order;
//! - `monitor.rs`: the monitor itself: it runs the container, logs its output, records its
//!   exit in `state.json` (chapter 2's [`state`]), serves attach sessions on a socket (`protocol.rs`), and
//!   reports to the daemon in one JSON line per event;
//! - `watch.rs`: the daemon's live view of each container, with a condition variable, so
//!   waits, log follows and sessions wake on events instead of polling;
//! - `adopt.rs`: after a restart, watching the monitors that still run and correcting the rest;
//! - `session.rs`: attach sessions, also those made before the start (`docker run`), with the
//!   detach keys of `detach.rs`; `pty.rs`: terminal sizes;
//! - `exec.rs`: `docker exec`, built on chapter 1's `enter`;
//! - `logs.rs`: the json-file log; `follow.rs`: reading it with Docker's options;
//! - `pipes.rs`: every pipe the engine makes, close-on-exec.

mod adopt;
pub mod detach;
mod error;
mod exec;
mod extension;
mod follow;
mod launcher;
pub mod logs;
pub mod monitor;
pub mod pipes;
mod protocol;
mod pty;
mod session;
mod spec;
mod types;
mod watch;

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_images::container::{self, ContainerError, ContainerRecord};
use berth_images::store::{Removed, Store, StoreError, delete_tree};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

pub use adopt::{reconcile, wait_for_exit};
/// A container's run state on disk (`state.json`): chapter 2's, which the monitor writes.
pub use berth_images::state;
pub use error::{EngineError, StartFailure};
pub use extension::{Extension, ExtensionError, Extensions};
pub use launcher::{ExecLauncher, Launched, MonitorLauncher};
use state::{RunState, Status as RunStatus};
pub use types::*;
use watch::Watch;

/// A registered wait: created by [`Engine::wait`] *before* the API sends its headers, so that
/// `next-exit` counts from the moment of the request.
pub struct Waiter {
    watch: Arc<Watch>,
    condition: WaitCondition,
    /// The exits seen when the wait was registered.
    exits_at: u64,
}

impl Waiter {
    /// Blocks until the condition holds; the exit code.
    pub fn wait(self) -> Result<i32, EngineError> {
        Ok(self.wait_up_to(None).unwrap_or(0))
    }

    /// As [`Waiter::wait`], but gives up after `limit`: `None` if the condition still does
    /// not hold then (a process stuck in the kernel ignores even SIGKILL for a while).
    pub fn wait_at_most(self, limit: Duration) -> Option<i32> {
        self.wait_up_to(Some(limit))
    }

    fn wait_up_to(self, limit: Option<Duration>) -> Option<i32> {
        let exits_at = self.exits_at;
        let condition = self.condition;
        let holds = move |l: &watch::Live| match condition {
            WaitCondition::NotRunning => !l.is_active() || l.removed,
            WaitCondition::NextExit => l.exits > exits_at || l.removed,
            WaitCondition::Removed => l.removed,
        };
        let live = self.watch.wait_until(limit, holds);
        holds(&live).then(|| live.run.exit_code.unwrap_or(0))
    }
}

/// A live connection to a container's (or an exec's) stdio, made by [`Engine::attach`] or
/// [`Engine::exec_start`]. `pump` does the whole session.
pub struct Session {
    /// Whether output is raw TTY bytes (true) or separate stdout/stderr (false): the API
    /// picks the Content-Type and framing from it.
    pub tty: bool,
    inner: SessionInner,
}

enum SessionInner {
    Container(session::ContainerSession),
    Exec(exec::ExecSession),
}

impl Session {
    /// Runs the session to its end: copies `input` (the client's raw stdin; EOF is a
    /// half-close, not a disconnect) to the process, and every output chunk to `output` as
    /// `(stream, bytes)`: the caller frames (non-TTY) or writes raw (TTY). Returns when the
    /// process's output has ended (it exited), or when `output` fails (the client went away:
    /// the container goes on running). For an attach made before start, waits for the start.
    pub fn pump(
        self,
        input: Box<dyn Read + Send>,
        output: &mut dyn FnMut(StreamKind, &[u8]) -> std::io::Result<()>,
    ) -> Result<(), EngineError> {
        match self.inner {
            SessionInner::Container(session) => session.pump(input, output),
            SessionInner::Exec(session) => session.pump(input, output),
        }
    }
}

/// The engine: one per daemon.
pub struct Engine {
    store: Store,
    /// How a monitor is launched: exec'd by default, forked by `final/`'s zygote.
    launcher: Box<dyn MonitorLauncher>,
    /// What later chapters add to each container (the monitors build the same list).
    extensions: Extensions,
    watches: Mutex<HashMap<String, Arc<Watch>>>,
    execs: Mutex<HashMap<String, Arc<exec::Instance>>>,
}

/// How long `remove --force` and `stop` wait for the exit after SIGKILL before giving up.
const KILL_WAIT: Duration = Duration::from_secs(30);

impl Engine {
    // ANCHOR: open
    /// Opens (creating) the store at `root` and takes stock of its containers: those whose
    /// monitor still runs (the daemon was restarted under them) are watched again; those that
    /// claim to run but whose monitor is gone are marked exited, and any process left of them
    /// is killed, so that nothing runs that nobody watches. Monitors are started with
    /// `launcher` (an [`ExecLauncher`] running the daemon's own binary, unless a daemon plugs
    /// in another). `extensions` are swept for orphans now, and take part in every start and
    /// removal (see `extension.rs`).
    pub fn open(
        root: &Path,
        launcher: Box<dyn MonitorLauncher>,
        extensions: Extensions,
    ) -> Result<Arc<Engine>, EngineError> {
        let engine = Arc::new(Engine {
            store: Store::open(root)?,
            launcher,
            extensions,
            watches: Mutex::new(HashMap::new()),
            execs: Mutex::new(HashMap::new()),
        });
        for record in container::list(&engine.store)? {
            let dir = record.dir(&engine.store);
            let on_disk = RunState::load(&dir);
            let monitor = on_disk
                .monitor_pid
                .filter(|_| state::alive(on_disk.monitor_pid, on_disk.monitor_start));
            let run = watch::load(&dir);
            let exited = run.status == RunStatus::Exited;
            engine.watch(&record.id).update(|l| l.run = run);
            match monitor {
                // Also when the state does not say running yet: the daemon may have died
                // between starting the monitor and the monitor's first save.
                Some(pid) => engine.adopt(&record.id, pid, on_disk.monitor_start),
                // An AutoRemove container that exited while no daemon ran: remove it now.
                None if exited && record.options.settings.auto_remove => {
                    engine.auto_remove(&record.id);
                }
                None => {}
            }
        }
        engine.sweep_orphans()?;
        Ok(engine)
    }
    // ANCHOR_END: open

    /// Has every extension release the resources of containers that no longer exist.
    fn sweep_orphans(&self) -> Result<(), EngineError> {
        if self.extensions.is_empty() {
            return Ok(());
        }
        let dir = self.store.containers_dir();
        let exists = |id: &str| !id.is_empty() && !id.contains('/') && dir.join(id).is_dir();
        for extension in &self.extensions {
            extension
                .sweep_orphans(&exists)
                .map_err(|source| EngineError::Extension {
                    extension: extension.name().to_owned(),
                    what: "sweeping orphans",
                    id: String::new(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Has every extension release the resources of container `id`. Called where nobody can
    /// be answered any more (after a removal, after a failed start): a failure is said in the
    /// daemon's log, and the next open's sweep tries again.
    fn release(&self, id: &str) {
        for extension in &self.extensions {
            if let Err(e) = extension.release(id) {
                crate::daemon_log!("releasing {} of container {id}: {e}", extension.name());
            }
        }
    }

    /// The image store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Removes an image as `docker rmi` does: refused while a container uses it, unless
    /// `force`. Its files are moved aside at once and deleted after the caller has answered
    /// (deleting thousands of files is slow on some disks: chapter 2, "What the disk costs").
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Vec<Removed>, StoreError> {
        let store = &self.store;
        let (removed, trash) =
            store.remove_image_later(name, force, |id| container::user_of(store, id))?;
        if let Some(trash) = trash {
            // Many threads at once: the disk takes parallel discards (chapter 2's `delete.rs`).
            std::thread::spawn(move || delete_tree(&trash));
        }
        Ok(removed)
    }

    fn watch(&self, id: &str) -> Arc<Watch> {
        lock(&self.watches)
            .entry(id.to_owned())
            .or_default()
            .clone()
    }

    /// Finds a container's record by full id, name (with or without its leading `/`) or
    /// unique id prefix; a full id is read directly (chapter 2's `find`).
    fn find(&self, key: &str) -> Result<ContainerRecord, EngineError> {
        let key = key.strip_prefix('/').unwrap_or(key);
        container::find(&self.store, key).map_err(|e| match e {
            ContainerError::NoSuchContainer(_) => EngineError::NoSuchContainer(key.to_owned()),
            other => other.into(),
        })
    }

    fn view(&self, record: ContainerRecord) -> ContainerView {
        let dir = record.dir(&self.store);
        let live = self.watch(&record.id);
        let live = live.lock();
        // The monitor writes the exit to disk before it tells attached clients, and we learn
        // of it a moment later, when the monitor ends: a client that inspects as soon as its
        // stream closed must already see the exit, so a "running" is checked on disk.
        let on_disk;
        let run = if live.run.status == RunStatus::Running {
            on_disk = RunState::load(&dir);
            &on_disk
        } else {
            &live.run
        };
        let status = match run.status {
            _ if live.removed => Status::Removing,
            RunStatus::Running => Status::Running,
            RunStatus::Exited => Status::Exited,
            RunStatus::Created => Status::Created,
        };
        ContainerView {
            status,
            pid: run.pid.filter(|_| status == Status::Running),
            exit_code: run.exit_code,
            started_at: run.started_at.clone(),
            finished_at: run.finished_at.clone(),
            error: run.error.clone(),
            restart_count: 0,
            log_path: logs::path(&dir),
            record,
        }
    }

    /// Creates a container. A missing image is `Store(NoSuchImage)` (the API's 404 that makes
    /// the docker CLI pull and retry); nothing else may be a 404 here.
    pub fn create(&self, mut spec: CreateSpec) -> Result<ContainerView, EngineError> {
        let image = spec.image.clone();
        let slots = std::mem::take(&mut spec.slots);
        let options = spec::run_options(spec);
        let (record, _runtime) = container::create_with_slots(&self.store, &image, &options, slots)
            .map_err(|e| match e {
                ContainerError::Store(e) => EngineError::Store(e),
                other => EngineError::Container(other),
            })?;
        Ok(self.view(record))
    }

    /// Finds a container by full id, unique id prefix or name (with or without a leading `/`).
    pub fn container(&self, key: &str) -> Result<ContainerView, EngineError> {
        Ok(self.view(self.find(key)?))
    }

    /// All containers, newest first.
    pub fn containers(&self) -> Result<Vec<ContainerView>, EngineError> {
        Ok(container::list(&self.store)?
            .into_iter()
            .map(|record| self.view(record))
            .collect())
    }

    // ANCHOR: start
    /// Starts a created or exited container; returns once it runs (or failed to start:
    /// [`EngineError::Start`] with 127 for a missing command, 126 for not executable, 125
    /// otherwise). Attach sessions waiting for the start are connected before the process
    /// runs, so they see all its output.
    pub fn start(self: &Arc<Self>, key: &str) -> Result<(), EngineError> {
        let record = self.find(key)?;
        let watch = self.watch(&record.id);
        let attachers = {
            let mut live = watch.lock();
            if live.is_active() {
                return Err(EngineError::AlreadyRunning(record.name));
            }
            live.starting = true;
            live.socket_ready = false;
            live.starts += 1;
            live.pending_attachers
        };
        // The engine resources first: the monitor's steps use them.
        let dir = record.dir(&self.store);
        for extension in &self.extensions {
            if let Err(source) = extension.prepare(&record, &dir) {
                watch.update(|l| l.starting = false);
                self.release(&record.id);
                return Err(EngineError::Extension {
                    extension: extension.name().to_owned(),
                    what: "preparing",
                    id: record.id,
                    source,
                });
            }
        }
        let launched = self
            .launcher
            .launch(self.store.root(), &record.id, attachers);
        let Launched { report, child } = match launched {
            Ok(monitor) => monitor,
            Err(source) => {
                watch.update(|l| l.starting = false);
                self.release(&record.id);
                return Err(EngineError::Launch {
                    id: record.id,
                    source,
                });
            }
        };
        let mut stdout = std::io::BufReader::new(report);
        let mut outcome = Err(EngineError::start(
            &record.id,
            "the container's monitor ended without a word",
            125,
        ));
        for line in (&mut stdout).lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str(&line) {
                // Unless the monitor has already ended (and been counted).
                Ok(monitor::Report::Listening { .. }) => {
                    watch.update(|l| l.socket_ready = l.starting)
                }
                Ok(monitor::Report::Started { .. }) => {
                    outcome = Ok(());
                    break;
                }
                Ok(monitor::Report::Failed { error, code }) => {
                    outcome = Err(EngineError::start(&record.id, error, code));
                    break;
                }
                Ok(monitor::Report::Exited { .. }) | Err(_) => {}
            }
        }
        if outcome.is_err() {
            // Nothing runs that could use them.
            self.release(&record.id);
        }
        if outcome.is_ok() {
            let run = RunState::load(&record.dir(&self.store));
            watch.update(|l| {
                // The exit may have been seen already: never step back from it.
                if l.starting {
                    l.run = run;
                    l.starting = false;
                }
            });
        }
        // Wait for the container's end: the monitor's last line, or the end of its pipe if
        // it died without a word. Only now, so that the exit is never counted before the start.
        let engine = Arc::clone(self);
        let id = record.id.clone();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if let Ok(monitor::Report::Exited { .. }) = serde_json::from_str(&line) {
                    break;
                }
            }
            engine.on_exit(&id);
            // An exec'd monitor is our child: reap it (it exits right after its last line).
            if let Some(mut child) = child {
                let _ = child.wait();
            }
        });
        outcome
    }
    // ANCHOR_END: start

    /// The monitor of container `id` has ended: read how, wake the waiters, and remove the
    /// container if it was created with AutoRemove (then wake the `removed` waiters).
    fn on_exit(&self, id: &str) {
        let dir = self.store.containers_dir().join(id);
        if !dir.is_dir() {
            return; // Removed meanwhile (`rm -f`).
        }
        let run = watch::load(&dir);
        self.watch(id).update(|l| {
            l.run = run;
            l.exits += 1;
            l.starting = false;
            l.socket_ready = false;
        });
        let auto_remove =
            container::find(&self.store, id).is_ok_and(|r| r.options.settings.auto_remove);
        if auto_remove {
            self.auto_remove(id);
        }
    }

    /// Removes an exited AutoRemove container. A failure cannot be answered to anyone (the
    /// client waits for `removed`, which then never comes), so it is at least said in the log.
    fn auto_remove(&self, id: &str) {
        if let Err(e) = self.remove_record(id) {
            crate::daemon_log!("berthd: removing container {id} (AutoRemove): {e}");
        }
    }

    // ANCHOR: adopt
    /// Watches a monitor that is not our child (after a restart) until it exits.
    fn adopt(self: &Arc<Self>, id: &str, monitor_pid: i32, monitor_start: Option<u64>) {
        let engine = Arc::clone(self);
        let id = id.to_owned();
        std::thread::spawn(move || {
            wait_for_exit(monitor_pid, monitor_start);
            engine.on_exit(&id);
        });
    }
    // ANCHOR_END: adopt

    // ANCHOR: stop
    /// `docker stop`: `signal` (default: the container's StopSignal, else SIGTERM), SIGKILL
    /// after `grace` (default: StopTimeout, else 10 s). `Ok(false)` if it was not running.
    pub fn stop(
        &self,
        key: &str,
        grace: Option<Duration>,
        signal: Option<Signal>,
    ) -> Result<bool, EngineError> {
        let record = self.find(key)?;
        let spec = &record.options.settings;
        let signal = signal
            .or_else(|| spec.stop_signal.as_deref().and_then(parse_signal))
            .unwrap_or(Signal::SIGTERM);
        let grace = grace
            .or(spec.stop_timeout.map(Duration::from_secs))
            .unwrap_or(Duration::from_secs(10));
        match self.kill(&record.id, signal) {
            Err(EngineError::NotRunning(_)) => return Ok(false),
            other => other?,
        }
        let watch = self.watch(&record.id);
        let stopped = !watch
            .wait_until(Some(grace), |l| !l.is_active())
            .is_active();
        if !stopped {
            let _ = self.kill(&record.id, Signal::SIGKILL);
            drop(watch.wait_until(Some(KILL_WAIT), |l| !l.is_active()));
        }
        Ok(true)
    }
    // ANCHOR_END: stop

    /// Sends a signal to the container's PID 1; [`EngineError::NotRunning`] if it is not.
    pub fn kill(&self, key: &str, signal: Signal) -> Result<(), EngineError> {
        let record = self.find(key)?;
        let run = self.watch(&record.id).lock().run.clone();
        match run.pid {
            Some(pid)
                if run.status == RunStatus::Running && state::alive(run.pid, run.pid_start) =>
            {
                nix::sys::signal::kill(Pid::from_raw(pid), signal).map_err(|source| {
                    EngineError::Signal {
                        id: record.name,
                        source,
                    }
                })
            }
            _ => Err(EngineError::NotRunning(record.name)),
        }
    }

    /// Registers a wait now; [`Waiter::wait`] blocks until it is satisfied.
    pub fn wait(&self, key: &str, condition: WaitCondition) -> Result<Waiter, EngineError> {
        let record = self.find(key)?;
        let watch = self.watch(&record.id);
        // An AutoRemove container can be removed between the two lines above: then the watch
        // is a new one that nothing will ever wake (removal moves the directory away, then
        // forgets the watch). Answer as if it had been removed before the `find`.
        if !record.dir(&self.store).exists() {
            lock(&self.watches).remove(&record.id);
            return Err(EngineError::NoSuchContainer(key.to_owned()));
        }
        let exits_at = watch.lock().exits;
        Ok(Waiter {
            watch,
            condition,
            exits_at,
        })
    }

    /// Removes a container (a running one only with `force`, killing it first).
    pub fn remove(&self, key: &str, force: bool) -> Result<ContainerRecord, EngineError> {
        let record = self.find(key)?;
        let watch = self.watch(&record.id);
        if watch.lock().is_active() {
            if !force {
                return Err(EngineError::RemoveRunning(record.name));
            }
            let _ = self.kill(&record.id, Signal::SIGKILL);
            drop(watch.wait_until(Some(KILL_WAIT), |l| !l.is_active()));
        }
        self.remove_record(&record.id)
    }

    /// Takes a stopped container out of the store (its files are deleted after), and wakes
    /// the `removed` waiters.
    fn remove_record(&self, id: &str) -> Result<ContainerRecord, EngineError> {
        let (removed, trash) = container::remove_later(&self.store, id)?;
        self.release(id);
        let watch = lock(&self.watches).remove(id);
        if let Some(watch) = watch {
            watch.update(|l| l.removed = true);
        }
        lock(&self.execs).retain(|_, exec| exec.container_id != id);
        // The files go after we answer: deleting directories is slow on some disks.
        std::thread::spawn(move || std::fs::remove_dir_all(trash));
        Ok(removed)
    }

    /// Attaches to a container's stdio, created or running. An attach to a container that
    /// does not run waits for its next start (`docker run`, `docker start -a`), except one
    /// with `logs` to an exited container: that session ends after the replayed log.
    pub fn attach(
        self: &Arc<Self>,
        key: &str,
        options: AttachOptions,
    ) -> Result<Session, EngineError> {
        let record = self.find(key)?;
        let dir = record.dir(&self.store);
        let tty = record.options.settings.tty;
        let watch = self.watch(&record.id);
        let (before_start, pending, exits_at) = {
            let mut live = watch.lock();
            // A replay of an exited container's log (docker-py's `attach(logs=True)`) is all
            // there is to it; without `logs` (`docker start -a`), the session is for the
            // next start.
            if options.logs && !live.is_active() && live.run.status == RunStatus::Exited {
                (false, false, live.exits)
            } else {
                let before_start = live.starting || live.run.status != RunStatus::Running;
                // Counted for the next start only if none is under way.
                let pending = !live.is_active();
                if pending {
                    live.pending_attachers += 1;
                }
                (before_start, pending, live.exits)
            }
        };
        Ok(Session {
            tty,
            inner: SessionInner::Container(session::ContainerSession {
                dir,
                watch,
                options,
                before_start,
                pending,
                exits_at,
                tty,
            }),
        })
    }

    /// Resizes a TTY container's terminal (`POST /containers/{id}/resize?h=&w=`).
    pub fn resize(&self, key: &str, rows: u16, cols: u16) -> Result<(), EngineError> {
        let record = self.find(key)?;
        let dir = record.dir(&self.store);
        let (_dir, path) = protocol::short_path(&dir)
            .map_err(EngineError::io("opening the container directory", &dir))?;
        let mut socket = std::os::unix::net::UnixStream::connect(&path)
            .map_err(|_| EngineError::NotRunning(record.name.clone()))?;
        let talk = |socket: &mut std::os::unix::net::UnixStream| {
            let payload = protocol::resize_payload(rows, cols);
            protocol::write_message(socket, protocol::RESIZE, &payload)?;
            // The monitor answers once the size is set: a `stty size` after us sees it.
            protocol::read_message(socket).map(drop)
        };
        talk(&mut socket).map_err(EngineError::io("resizing through the attach socket", &dir))?;
        Ok(())
    }

    /// The container's log; with `follow`, the iterator blocks for new lines and ends when
    /// the container has exited and everything is read.
    pub fn logs(
        &self,
        key: &str,
        options: LogOptions,
    ) -> Result<Box<dyn Iterator<Item = std::io::Result<LogLine>> + Send>, EngineError> {
        let record = self.find(key)?;
        let path = logs::path(&record.dir(&self.store));
        let lines = follow::Lines::open(&path, options, self.watch(&record.id))
            .map_err(EngineError::io("opening the log", &path))?;
        Ok(Box::new(lines))
    }

    /// Creates an exec instance in a running container ([`EngineError::NotRunning`] → 409).
    pub fn exec_create(&self, key: &str, spec: ExecSpec) -> Result<String, EngineError> {
        let record = self.find(key)?;
        if self.watch(&record.id).lock().run.status != RunStatus::Running {
            return Err(EngineError::NotRunning(record.name));
        }
        if spec.cmd.first().is_none_or(|c| c.is_empty()) {
            return Err(EngineError::Invalid("no exec command specified".into()));
        }
        let id = container::random_id();
        let instance = exec::Instance::new(id.clone(), record.id, spec);
        lock(&self.execs).insert(id.clone(), Arc::new(instance));
        Ok(id)
    }

    fn exec_instance(&self, exec_id: &str) -> Result<Arc<exec::Instance>, EngineError> {
        lock(&self.execs)
            .get(exec_id)
            .cloned()
            .ok_or_else(|| EngineError::NoSuchExec(exec_id.to_owned()))
    }

    /// An exec instance's state.
    pub fn exec(&self, exec_id: &str) -> Result<ExecView, EngineError> {
        Ok(self.exec_instance(exec_id)?.view())
    }

    /// Checks that an exec instance can start now: it exists, has not started, and its
    /// container runs. The API asks before it hijacks the connection, so that these errors
    /// still reach the client as HTTP answers (404, 409) rather than inside the stream.
    pub fn exec_ready(&self, exec_id: &str) -> Result<(), EngineError> {
        let instance = self.exec_instance(exec_id)?;
        if instance.started() {
            return Err(EngineError::Invalid(format!(
                "exec instance {exec_id} has already been started"
            )));
        }
        let record = self.find(&instance.container_id)?;
        let run = self.watch(&record.id).lock().run.clone();
        if run.status != RunStatus::Running || !state::alive(run.pid, run.pid_start) {
            return Err(EngineError::NotRunning(record.name));
        }
        Ok(())
    }

    /// Starts an exec: the process joins the container's namespaces, root and cwd. With
    /// `detach`, returns `None` once it runs; otherwise the session to pump. The exit code is
    /// recorded before the session's output ends.
    pub fn exec_start(
        self: &Arc<Self>,
        exec_id: &str,
        detach: bool,
    ) -> Result<Option<Session>, EngineError> {
        let instance = self.exec_instance(exec_id)?;
        let record = self.find(&instance.container_id)?;
        let run = self.watch(&record.id).lock().run.clone();
        let pid = match run.pid {
            Some(pid)
                if run.status == RunStatus::Running && state::alive(run.pid, run.pid_start) =>
            {
                pid
            }
            _ => return Err(EngineError::NotRunning(record.name)),
        };
        let tty = instance.spec.tty;
        Ok(
            exec::start(&instance, pid, &record, &self.extensions, detach)?.map(|session| {
                Session {
                    tty,
                    inner: SessionInner::Exec(session),
                }
            }),
        )
    }

    /// Resizes an exec's TTY.
    pub fn exec_resize(&self, exec_id: &str, rows: u16, cols: u16) -> Result<(), EngineError> {
        self.exec_instance(exec_id)?.resize(rows, cols)
    }

    /// Called on daemon shutdown: stops nothing (containers run on under their monitors),
    /// closes what the engine holds.
    pub fn shutdown(&self) {
        lock(&self.execs).clear();
        self.launcher.shutdown();
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A signal by name (`SIGTERM`, `TERM`, `term`) or number (`15`), as Docker's `StopSignal`
/// and `kill --signal` take it.
pub fn parse_signal(text: &str) -> Option<Signal> {
    let text = text.trim();
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).ok();
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse().ok()
}

// ANCHOR: frame
/// The docker-style framing of non-TTY streams: `[stream, 0, 0, 0, len (u32 BE)]` + bytes.
pub fn frame(stream: StreamKind, bytes: &[u8], out: &mut dyn Write) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    let mut head = [0u8; 8];
    head[0] = stream as u8;
    head[4..].copy_from_slice(&len.to_be_bytes());
    out.write_all(&head)?;
    out.write_all(bytes)
}
// ANCHOR_END: frame

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("SIGTERM"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("kill"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("2"), Some(Signal::SIGINT));
        assert_eq!(parse_signal("SIGNOPE"), None);
    }
}
