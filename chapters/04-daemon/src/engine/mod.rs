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
//! - `events.rs`: what happened, for `docker events`: emitted here, where each step happens;
//! - `health.rs`: health checks, run as execs at an interval;
//! - `restart.rs`: restart policies: whether, and after how long, an exited container is
//!   started again;
//! - `exec.rs`: `docker exec`, built on chapter 1's `enter`; `ended_execs.rs`: ended execs,
//!   kept a while for inspect (also across a restart), then pruned;
//! - `logs.rs`: the json-file log; `follow.rs`: reading it with Docker's options;
//! - `pipes.rs`: every pipe the engine makes, close-on-exec.

mod adopt;
pub mod detach;
mod ended_execs;
mod error;
pub mod events;
mod exec;
mod extension;
mod follow;
pub mod health;
mod launcher;
pub mod logs;
pub mod monitor;
pub mod pipes;
mod protocol;
pub mod prune;
mod pty;
pub mod restart;
mod session;
mod spec;
mod types;
mod watch;

use std::collections::{BTreeMap, HashMap};
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
pub use events::{Event, EventType, Events};
pub use extension::{Extension, ExtensionError, Extensions, Freezer};
pub use health::{Health, HealthConfig, HealthStatus};
pub use launcher::{ExecLauncher, Launched, MonitorLauncher};
pub use restart::RestartPolicy;
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
    /// What happened, for `docker events` (shared with the exec instances' exit hooks).
    events: Arc<Events>,
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
            events: Arc::new(Events::default()),
        });
        // Ended execs kept from before the restart that are past their time.
        engine.prune_execs();
        let mut to_restart = Vec::new();
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
                Some(pid) => {
                    engine.adopt(&record.id, pid, on_disk.monitor_start);
                    engine.check_health(&record);
                }
                // An AutoRemove container that exited while no daemon ran: remove it now.
                None if exited && record.options.settings.auto_remove => {
                    engine.auto_remove(&record.id);
                }
                None if exited => {
                    let code = engine.watch(&record.id).lock().run.exit_code.unwrap_or(0);
                    let memory = restart::Memory::load(&dir);
                    if RestartPolicy::of(&record).restarts_with_daemon(code, &memory) {
                        to_restart.push((record.id.clone(), dir));
                    }
                }
                None => {}
            }
        }
        engine.sweep_orphans()?;
        // Only now: a start takes part in the extensions' resources, swept just above.
        for (id, dir) in to_restart {
            // The user's stop lasted until the daemon's restart (moby's `restore`).
            let memory = restart::Memory {
                manually_stopped: false,
                ..restart::Memory::load(&dir)
            };
            if let Err(e) = memory.save(&dir) {
                crate::daemon_log!("restarting container {id}: writing {}: {e}", dir.display());
            }
            engine.schedule_restart(&id, Duration::ZERO, false);
        }
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

    // ANCHOR: extension_by_type
    /// The registered extension of type `T`, for the verbs only it serves (`docker stats`,
    /// `update`, `top` are chapter 5's): `engine.extension::<CgroupExtension>()`.
    pub fn extension<T: Extension>(&self) -> Option<&T> {
        self.extensions.iter().find_map(|extension| {
            let any: &dyn std::any::Any = extension.as_ref();
            any.downcast_ref::<T>()
        })
    }
    // ANCHOR_END: extension_by_type

    /// The first extension's freezer, if one has any.
    fn freezer(&self) -> Option<&dyn Freezer> {
        self.extensions.iter().find_map(|e| e.freezer())
    }

    /// Whether container `id` is frozen (`docker pause`).
    fn is_paused(&self, id: &str) -> bool {
        self.freezer().is_some_and(|f| f.is_frozen(id))
    }

    /// The image store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What happened to containers and images since the daemon started (the last
    /// [`events::KEPT`]), and the streams' condition variable: `docker events`.
    pub fn events(&self) -> &Events {
        &self.events
    }

    // ANCHOR: container_event
    /// Emits a container event: its name, image and labels as attributes, as moby's, and
    /// `extra` (`exitCode`, `signal`, `execID`).
    fn container_event(&self, record: &ContainerRecord, action: &str, extra: &[(&str, String)]) {
        self.events.emit(container_event(record, action, extra));
    }
    // ANCHOR_END: container_event

    /// Emits an image event (`pull`, `tag`, `untag`, `delete`) about `id` (a reference or
    /// an image id), with its `name`.
    pub fn image_event(&self, action: &str, id: &str) {
        let attributes = BTreeMap::from([("name".to_owned(), id.to_owned())]);
        let event = Event::now(EventType::Image, action, id, attributes);
        self.events.emit(event);
    }

    /// Pulls an image into the store (chapter 3's `pull`), and says so (`pull`).
    pub fn pull(
        &self,
        registries: &berth_registry::RegistryConfig,
        reference: &berth_images::reference::Reference,
        options: &berth_registry::PullOptions,
        progress: &mut dyn berth_registry::progress::Progress,
    ) -> Result<berth_registry::Pulled, berth_registry::RegistryError> {
        let pulled = berth_registry::pull(&self.store, registries, reference, options, progress)?;
        let named = reference.clone().with_default_tag();
        self.image_event("pull", &named.familiar());
        Ok(pulled)
    }

    /// Tags an image as `docker tag` does, and says so (`tag`).
    pub fn tag_image(
        &self,
        target: &berth_images::reference::Reference,
        id: &berth_images::digest::Digest,
    ) -> Result<(), StoreError> {
        self.store.tag(target, id)?;
        self.image_event("tag", &target.familiar());
        Ok(())
    }

    /// Removes an image as `docker rmi` does: refused while a container uses it, unless
    /// `force`. Its files are moved aside at once and deleted after the caller has answered
    /// (deleting thousands of files is slow on some disks: chapter 2, "What the disk costs").
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Vec<Removed>, StoreError> {
        let store = &self.store;
        let (removed, trash) =
            store.remove_image_later(name, force, |id| container::user_of(store, id))?;
        for step in &removed {
            match step {
                Removed::Untagged(reference) => self.image_event("untag", reference),
                Removed::Deleted(digest) => self.image_event("delete", &digest.to_string()),
            }
        }
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
            _ if live.restarting => Status::Restarting,
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
            paused: status == Status::Running && self.is_paused(&record.id),
            oom_killed: run.oom_killed,
            restart_count: restart::Memory::load(&dir).restart_count,
            restart_policy: RestartPolicy::of(&record),
            healthcheck: record
                .slots
                .get(health::SLOT)
                .and_then(|slot| serde_json::from_value(slot.clone()).ok()),
            health: HealthConfig::of(&record).map(|_| live.health.clone().unwrap_or_default()),
            log_path: logs::path(&dir),
            record,
        }
    }

    /// Creates a container. A missing image is `Store(NoSuchImage)` (the API's 404 that makes
    /// the docker CLI pull and retry); nothing else may be a 404 here.
    pub fn create(&self, mut spec: CreateSpec) -> Result<ContainerView, EngineError> {
        let image = spec.image.clone();
        let mut slots = std::mem::take(&mut spec.slots);
        if spec.restart != RestartPolicy::No {
            // moby's rule: a container removed at its exit cannot also be started again.
            if spec.settings.auto_remove {
                return Err(EngineError::Invalid(
                    "can't create 'AutoRemove' container with restart policy".into(),
                ));
            }
            if let Ok(json) = serde_json::to_value(spec.restart) {
                slots.insert(restart::SLOT.to_owned(), json);
            }
        }
        if let Some(check) = spec.healthcheck.take()
            && let Ok(json) = serde_json::to_value(check)
        {
            slots.insert(health::SLOT.to_owned(), json);
        }
        let options = spec::run_options(spec);
        let (record, _runtime) = container::create_with_slots(&self.store, &image, &options, slots)
            .map_err(|e| match e {
                ContainerError::Store(e) => EngineError::Store(e),
                other => EngineError::Container(other),
            })?;
        self.container_event(&record, "create", &[]);
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
        // A start by the user: a scheduled restart is cancelled, the count and the backoff
        // start again, and the user's last stop is forgotten (moby's `ResetRestartManager`).
        self.watch(&record.id).update(|l| {
            l.restart_token += 1;
            l.restarting = false;
            l.restart_delay = None;
        });
        let dir = record.dir(&self.store);
        if restart::Memory::load(&dir) != restart::Memory::default() {
            restart::Memory::default()
                .save(&dir)
                .map_err(EngineError::io("writing the restart count", &dir))?;
        }
        self.launch(record, None)
    }

    /// Starts a container's monitor and waits until the container runs (or failed to): the
    /// part of a start that a restart by its policy repeats. A restart passes the token it
    /// was scheduled with, and does nothing if it was cancelled meanwhile.
    fn launch(
        self: &Arc<Self>,
        record: ContainerRecord,
        restart_token: Option<u64>,
    ) -> Result<(), EngineError> {
        let watch = self.watch(&record.id);
        let attachers = {
            let mut live = watch.lock();
            if let Some(token) = restart_token
                && (live.restart_token != token || live.removed)
            {
                return Ok(());
            }
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
                // No monitor will report an exit: an AutoRemove container goes now, as
                // dockerd removes one whose start failed (`docker run --rm` waits for it).
                if record.options.settings.auto_remove {
                    self.auto_remove(&record.id);
                }
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
            self.container_event(&record, "start", &[]);
            watch.update(|l| l.health = None);
            self.check_health(&record);
            let run = RunState::load(&record.dir(&self.store));
            watch.update(|l| {
                // The exit may have been seen already: never step back from it.
                if l.starting {
                    l.run = run;
                    l.starting = false;
                }
            });
        }
        if restart_token.is_some() {
            // `restarting` until now, so that a client never sees it exited in between (and
            // before the exit's thread below can schedule the next restart).
            watch.update(|l| l.restarting = false);
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
    fn on_exit(self: &Arc<Self>, id: &str) {
        let dir = self.store.containers_dir().join(id);
        if !dir.is_dir() {
            return; // Removed meanwhile (`rm -f`).
        }
        // Before the waiters wake: whoever sees it stopped sees its ports given back too.
        for extension in &self.extensions {
            if let Err(e) = extension.stopped(id) {
                crate::daemon_log!("after container {id} stopped, {}: {e}", extension.name());
            }
        }
        let run = watch::load(&dir);
        let record = container::find(&self.store, id).ok();
        // Before the waiters wake: `docker wait` or `rm -f` must find the `die` emitted (and
        // a removal can take the record away as soon as they are awake).
        if let Some(record) = &record {
            let code = run.exit_code.unwrap_or(0).to_string();
            self.container_event(record, "die", &[("exitCode", code)]);
        }
        self.watch(id).update(|l| {
            l.run = run.clone();
            l.exits += 1;
            l.starting = false;
            l.socket_ready = false;
        });
        let Some(record) = record else {
            return;
        };
        if record.options.settings.auto_remove {
            self.auto_remove(id);
            return;
        }
        self.restart_after_exit(&record, &run);
    }

    // ANCHOR: restart_after_exit
    /// Applies the container's restart policy to the exit just seen: schedules a start after
    /// the backoff delay, unless the policy (or the user's stop) says no.
    fn restart_after_exit(self: &Arc<Self>, record: &ContainerRecord, run: &RunState) {
        let policy = RestartPolicy::of(record);
        let memory = restart::Memory::load(&record.dir(&self.store));
        if !policy.restarts_after_exit(run.exit_code.unwrap_or(0), &memory) {
            return;
        }
        let time = |t: &Option<String>| t.as_deref().and_then(berth_images::text::parse_rfc3339);
        let ran_for = match (time(&run.started_at), time(&run.finished_at)) {
            (Some(started), Some(finished)) => {
                Duration::from_secs(finished.saturating_sub(started))
            }
            _ => Duration::ZERO,
        };
        let watch = self.watch(&record.id);
        let delay = {
            let mut live = watch.lock();
            let delay = restart::next_delay(live.restart_delay, ran_for);
            live.restart_delay = Some(delay);
            delay
        };
        self.schedule_restart(&record.id, delay, true);
    }
    // ANCHOR_END: restart_after_exit

    /// Starts container `id` again after `delay` (counted in `RestartCount` if `counted`),
    /// unless the user starts, stops or removes it meanwhile. Until then it is `restarting`.
    fn schedule_restart(self: &Arc<Self>, id: &str, delay: Duration, counted: bool) {
        let watch = self.watch(id);
        let mut token = 0;
        watch.update(|l| {
            l.restart_token += 1;
            l.restarting = true;
            token = l.restart_token;
        });
        let engine = Arc::clone(self);
        let id = id.to_owned();
        std::thread::spawn(move || {
            let cancelled = |l: &watch::Live| l.restart_token != token || l.removed;
            if cancelled(&watch.wait_until(Some(delay), cancelled)) {
                return;
            }
            let Ok(record) = engine.find(&id) else { return };
            let dir = record.dir(&engine.store);
            if counted {
                let mut memory = restart::Memory::load(&dir);
                memory.restart_count += 1;
                if let Err(e) = memory.save(&dir) {
                    crate::daemon_log!("restarting container {id}: counting the restart: {e}");
                }
            }
            if let Err(e) = engine.launch(record, Some(token)) {
                crate::daemon_log!("restarting container {id} (its restart policy): {e}");
            }
        });
    }

    // ANCHOR: check_health
    /// Runs the container's health check (if it has one) every interval while this run of
    /// it lasts, and records each result; a change of status is a `health_status` event.
    fn check_health(self: &Arc<Self>, record: &ContainerRecord) {
        let Some(config) = HealthConfig::of(record) else {
            return;
        };
        let Some(command) = config.command() else {
            return;
        };
        let watch = self.watch(&record.id);
        let exits_at = watch.lock().exits;
        let engine = Arc::clone(self);
        let record = record.clone();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let over = |l: &watch::Live| l.exits != exits_at || l.removed;
            loop {
                if over(&watch.wait_until(Some(config.interval()), over)) {
                    return;
                }
                let in_start_period = started.elapsed() < config.start_period;
                let probe = engine.probe(&record, command.clone(), config.timeout());
                let mut changed = None;
                watch.update(|l| {
                    if !over(l) {
                        let health = l.health.get_or_insert_with(Health::default);
                        changed = health.record(probe, config.retries(), in_start_period);
                    }
                });
                if let Some(status) = changed {
                    let action = format!("health_status: {}", status.name());
                    // Read again: the container may have been renamed since it started.
                    let current = engine.find(&record.id).unwrap_or_else(|_| record.clone());
                    engine.container_event(&current, &action, &[]);
                }
            }
        });
    }
    // ANCHOR_END: check_health

    /// Runs one probe as an exec in the container (as `docker exec` would), at most `timeout`.
    fn probe(
        &self,
        record: &ContainerRecord,
        command: Vec<String>,
        timeout: Duration,
    ) -> health::Probe {
        let start = state::now_rfc3339();
        let result = |exit_code, output: String| health::Probe {
            start: start.clone(),
            end: state::now_rfc3339(),
            exit_code,
            output,
        };
        let run = self.watch(&record.id).lock().run.clone();
        let Some(pid) = run.pid.filter(|_| run.is_running()) else {
            return result(-1, "the container is not running".into());
        };
        let spec = ExecSpec {
            cmd: command,
            attach_stdout: true,
            attach_stderr: true,
            ..ExecSpec::default()
        };
        let instance = Arc::new(exec::Instance::new(
            container::random_id(),
            record.id.clone(),
            spec,
        ));
        let session = match exec::start(&instance, pid, record, &self.extensions, false) {
            Ok(Some(session)) => session,
            Ok(None) => return result(-1, String::new()),
            Err(e) => {
                let code = match &e {
                    EngineError::Start { source, .. } => source.code,
                    _ => -1,
                };
                return result(code, e.to_string());
            }
        };
        let (done, output) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let _ = session.pump(Box::new(std::io::empty()), &mut |_, bytes| {
                let room = health::MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
                Ok(())
            });
            let _ = done.send(kept);
        });
        match output.recv_timeout(timeout) {
            Ok(kept) => {
                let code = instance.view().exit_code.unwrap_or(-1);
                result(code, String::from_utf8_lossy(&kept).into_owned())
            }
            Err(_) => {
                if let Some(pid) = instance.view().pid {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
                let message = format!("Health check exceeded timeout ({timeout:?})");
                result(-1, message)
            }
        }
    }

    /// The user stopped or killed container `id`: its restart policy does not apply to this
    /// exit (nor to later ones until the user starts it again), and a scheduled restart is
    /// cancelled. Whether one was.
    fn stopped_by_user(&self, record: &ContainerRecord) -> Result<bool, EngineError> {
        let dir = record.dir(&self.store);
        let memory = restart::Memory {
            manually_stopped: true,
            ..restart::Memory::load(&dir)
        };
        memory
            .save(&dir)
            .map_err(EngineError::io("writing the restart state", &dir))?;
        let mut was_restarting = false;
        self.watch(&record.id).update(|l| {
            was_restarting = l.restarting;
            l.restart_token += 1;
            l.restarting = false;
        });
        Ok(was_restarting)
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
        let was_restarting = self.stopped_by_user(&record)?;
        match self.signal(&record, signal) {
            Err(EngineError::NotRunning(_)) => return Ok(was_restarting),
            other => other?,
        }
        let watch = self.watch(&record.id);
        let stopped = !watch
            .wait_until(Some(grace), |l| !l.is_active())
            .is_active();
        if !stopped {
            let _ = self.signal(&record, Signal::SIGKILL);
            drop(watch.wait_until(Some(KILL_WAIT), |l| !l.is_active()));
        }
        self.container_event(&record, "stop", &[]);
        Ok(true)
    }
    // ANCHOR_END: stop

    /// `docker update --restart`: the container's restart policy from now on (the next exit
    /// reads it from the record). Refused, in moby's words, for a container removed at its exit.
    pub fn set_restart_policy(&self, key: &str, policy: RestartPolicy) -> Result<(), EngineError> {
        let record = self.find(key)?;
        if record.options.settings.auto_remove && policy != RestartPolicy::No {
            return Err(EngineError::Invalid(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            ));
        }
        let json = serde_json::to_value(policy)
            .map_err(|e| EngineError::Invalid(format!("the restart policy: {e}")))?;
        container::set_slot(&self.store, &record.id, restart::SLOT, json)?;
        Ok(())
    }

    // ANCHOR: kill
    /// `docker kill`: sends a signal to the container's PID 1; [`EngineError::NotRunning`] if
    /// it is not. Its restart policy does not apply to the exit that may follow.
    pub fn kill(&self, key: &str, signal: Signal) -> Result<(), EngineError> {
        let record = self.find(key)?;
        let watch = self.watch(&record.id);
        let (active, restarting) = {
            let live = watch.lock();
            (live.is_active(), live.restarting)
        };
        if !active && !restarting {
            return Err(EngineError::NotRunning(record.name));
        }
        self.stopped_by_user(&record)?;
        if !active {
            // Cancelling the scheduled restart was all there was to do (as moby).
            return Ok(());
        }
        self.signal(&record, signal)
    }
    // ANCHOR_END: kill

    /// Sends a signal to the container's PID 1; [`EngineError::NotRunning`] if it is not. A
    /// paused container is thawed after the signal (as dockerd does): frozen, it could not
    /// handle it, and `docker stop` of a paused container would never end.
    fn signal(&self, record: &ContainerRecord, signal: Signal) -> Result<(), EngineError> {
        let pid = self.running_pid(record)?;
        nix::sys::signal::kill(Pid::from_raw(pid), signal).map_err(|source| {
            EngineError::Signal {
                id: record.name.clone(),
                source,
            }
        })?;
        // moby's number for it, as `docker events` shows it.
        self.container_event(record, "kill", &[("signal", (signal as i32).to_string())]);
        if let Some(freezer) = self.freezer()
            && freezer.is_frozen(&record.id)
        {
            freezer
                .thaw(&record.id)
                .map_err(freezer_error("thawing after a signal", &record.id))?;
        }
        Ok(())
    }

    /// The host pid of a container's PID 1, if it runs ([`EngineError::NotRunning`] if not).
    fn running_pid(&self, record: &ContainerRecord) -> Result<i32, EngineError> {
        let run = self.watch(&record.id).lock().run.clone();
        match run.pid {
            Some(pid)
                if run.status == RunStatus::Running && state::alive(run.pid, run.pid_start) =>
            {
                Ok(pid)
            }
            _ => Err(EngineError::NotRunning(record.name.clone())),
        }
    }

    // ANCHOR: pause
    /// `docker pause`: freezes every process of a running container (409 if it is not
    /// running or already paused; 400 if no extension has a freezer).
    pub fn pause(&self, key: &str) -> Result<(), EngineError> {
        let record = self.find(key)?;
        let freezer = self.freezer_for("pause")?;
        self.running_pid(&record)?;
        if freezer.is_frozen(&record.id) {
            return Err(EngineError::AlreadyPaused(record.id));
        }
        freezer
            .freeze(&record.id)
            .map_err(freezer_error("freezing", &record.id))
    }

    /// `docker unpause`: thaws a paused container (409 if it is not paused).
    pub fn unpause(&self, key: &str) -> Result<(), EngineError> {
        let record = self.find(key)?;
        let freezer = self.freezer_for("unpause")?;
        if self.running_pid(&record).is_err() || !freezer.is_frozen(&record.id) {
            return Err(EngineError::NotPaused(record.id));
        }
        freezer
            .thaw(&record.id)
            .map_err(freezer_error("thawing", &record.id))
    }
    // ANCHOR_END: pause

    /// The freezer, or why `verb` cannot be done without one.
    fn freezer_for(&self, verb: &str) -> Result<&dyn Freezer, EngineError> {
        self.freezer().ok_or_else(|| {
            EngineError::Invalid(format!(
                "{verb} needs the cgroup freezer, which this daemon was started without"
            ))
        })
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
        let (restarting, active) = {
            let live = watch.lock();
            (live.restarting, live.is_active())
        };
        if !force && restarting {
            return Err(EngineError::RemoveRestarting(record.name));
        }
        if !force && active {
            return Err(EngineError::RemoveRunning(record.name));
        }
        // No restart may come between the kill and the removal.
        self.stopped_by_user(&record)?;
        if active {
            let _ = self.signal(&record, Signal::SIGKILL);
            drop(watch.wait_until(Some(KILL_WAIT), |l| !l.is_active()));
        }
        self.remove_record(&record.id)
    }

    /// Takes a stopped container out of the store (its files are deleted after), and wakes
    /// the `removed` waiters.
    fn remove_record(&self, id: &str) -> Result<ContainerRecord, EngineError> {
        let (removed, trash) = container::remove_later(&self.store, id)?;
        self.container_event(&removed, "destroy", &[]);
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
        let detach_keys = detach::DetachKeys::parse(&options.detach_keys)
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        self.container_event(&record, "attach", &[]);
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
                detach_keys,
            }),
        })
    }

    /// `docker rename`: gives the container a new name (checked as at create: valid, not in
    /// use; nothing changes if it is refused), and says so (`rename`, with the old name).
    pub fn rename(&self, key: &str, new_name: &str) -> Result<ContainerView, EngineError> {
        let record = self.find(key)?;
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        if new_name.is_empty() {
            return Err(EngineError::Invalid(
                "Neither old nor new names may be empty".into(),
            ));
        }
        if new_name == record.name {
            return Err(EngineError::Invalid(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        let renamed = container::rename(&self.store, &record, new_name)?;
        let old_name = [("oldName", format!("/{}", record.name))];
        self.container_event(&renamed, "rename", &old_name);
        Ok(self.view(renamed))
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
        if self.is_paused(&record.id) {
            return Err(EngineError::Paused(record.name));
        }
        if spec.cmd.first().is_none_or(|c| c.is_empty()) {
            return Err(EngineError::Invalid("no exec command specified".into()));
        }
        if let Err(e) = detach::DetachKeys::parse(&spec.detach_keys) {
            return Err(EngineError::Invalid(e.to_string()));
        }
        let id = container::random_id();
        let command = spec.cmd.join(" ");
        let exec_id = [("execID", id.clone())];
        self.container_event(&record, &format!("exec_create: {command}"), &exec_id);
        let events = Arc::clone(&self.events);
        let died = record.clone();
        let container_dir = record.dir(&self.store);
        let instance = exec::Instance::new(id.clone(), record.id, spec).on_finish(move |ended| {
            let code = ended.exit_code.unwrap_or(0);
            let extra = [
                ("execID", exec_id[0].1.clone()),
                ("exitCode", code.to_string()),
            ];
            events.emit(container_event(&died, "exec_die", &extra));
            // On disk too, for inspect after a daemon restart; a container removed
            // meanwhile has no directory left to keep it in.
            if container_dir.is_dir()
                && let Err(e) = ended_execs::save(&container_dir, ended, ended_execs::now())
            {
                crate::daemon_log!("keeping ended exec {} for inspect: {e}", ended.id);
            }
        });
        self.prune_execs();
        lock(&self.execs).insert(id.clone(), Arc::new(instance));
        Ok(id)
    }

    /// Drops the exec instances that ended [`ended_execs::RETENTION`] ago or more, from
    /// memory and from disk, as moby's exec garbage collector does.
    fn prune_execs(&self) {
        let now = ended_execs::now();
        lock(&self.execs).retain(|_, exec| !exec.expired(now));
        ended_execs::prune(&self.store.containers_dir(), now);
    }

    fn exec_instance(&self, exec_id: &str) -> Result<Arc<exec::Instance>, EngineError> {
        lock(&self.execs)
            .get(exec_id)
            .filter(|exec| !exec.expired(ended_execs::now()))
            .cloned()
            .ok_or_else(|| EngineError::NoSuchExec(exec_id.to_owned()))
    }

    /// An exec instance's state: a live one, or one that ended less than
    /// [`ended_execs::RETENTION`] ago (also before a daemon restart).
    pub fn exec(&self, exec_id: &str) -> Result<ExecView, EngineError> {
        match self.exec_instance(exec_id) {
            Ok(instance) => Ok(instance.view()),
            Err(missing) => {
                let now = ended_execs::now();
                ended_execs::find(&self.store.containers_dir(), exec_id, now).ok_or(missing)
            }
        }
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
        if self.is_paused(&record.id) {
            return Err(EngineError::Paused(record.name));
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
        let action = format!("exec_start: {}", instance.spec.cmd.join(" "));
        self.container_event(&record, &action, &[("execID", instance.id.clone())]);
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

/// The engine error of a freezer that failed `what`ing container `id`.
fn freezer_error(what: &'static str, id: &str) -> impl FnOnce(ExtensionError) -> EngineError {
    let id = id.to_owned();
    move |source| EngineError::Extension {
        extension: "freezer".to_owned(),
        what,
        id,
        source,
    }
}

/// A container event: the container's name, image and labels as attributes, and `extra`.
fn container_event(record: &ContainerRecord, action: &str, extra: &[(&str, String)]) -> Event {
    let mut attributes = record.options.settings.labels.clone();
    attributes.insert("name".into(), record.name.clone());
    attributes.insert("image".into(), record.image_name.clone());
    for (key, value) in extra {
        attributes.insert((*key).to_owned(), value.clone());
    }
    Event::now(EventType::Container, action, &record.id, attributes)
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
