//! Extensions: how later chapters add to a container's life without editing the engine.
//!
//! Docker's daemon prepares more than a process for a container: a cgroup (chapter 5), a
//! network endpoint with a veth pair and an address (chapter 7), volumes (chapter 8). Each is
//! an *engine resource*: made by the daemon before the container starts, kept while the
//! container exists, and released when it is removed, or when its start failed; a daemon
//! that was killed before it could release one finds it at its next start, as an orphan, and
//! releases it then. Each also adds steps to the container's start, in chapter 1's seams
//! (`berth_namespaces::steps`): a parent-side step with the child's pid (move it into the
//! cgroup, move the veth into its network namespace), child-side steps before `execve` (bind
//! the volume, mask paths, drop capabilities, load seccomp last).
//!
//! An [`Extension`] is one such chapter's part. The daemon registers its extensions when it
//! opens the engine, and its monitor entry point builds the *same* list (the monitor is the
//! daemon's own binary), because the steps are added in the monitor, where the container's
//! `ContainerConfig` is built.
//!
//! ## The order is the contract
//!
//! ```text
//! daemon:  open: sweep_orphans (every extension, with the containers that exist)
//! daemon:  start: prepare (every extension, in order; idempotent)  -> launch the monitor
//! monitor: configure (every extension, in order: adds chapter 1 steps)
//! monitor: spawn -> parent-side steps, in order -> release the child
//! child:   child-side steps, each in its phase -> execve
//! daemon:  exec start: configure_exec (every extension, in order) -> chapter 1's enter
//! monitor: the container's PID 1 has exited: exited (every extension: notes on the run)
//! daemon:  the monitor ended (or was found ended at open): stopped (every extension)
//! daemon:  a failed start, or the container's removal: release (every extension)
//! ```
//!
//! Two more seams serve the verbs that act on a *running* container. An extension that can
//! hold a container's processes still offers a [`Freezer`] (chapter 5's cgroup freezer: `docker
//! pause`); the engine asks for it by [`Extension::freezer`], as it must know a paused container
//! when it signals one or is asked to exec into it. Verbs only the API serves (`docker stats`,
//! `update`, `top`) reach their extension by its type, `Engine::extension::<T>()`.
//!
//! A resource outlives the runs of its container (a volume, an address kept across
//! restarts), so an exit alone releases nothing; `prepare` is called before every start and
//! must find what an earlier start prepared. Each extension keeps its settings in its own
//! named slot of the container's record (`ContainerRecord::slots`), written at create.

use std::any::Any;
use std::path::Path;

use berth_images::container::ContainerRecord;
use berth_images::state::RunState;
use berth_namespaces::ContainerConfig;

/// Why an extension's step failed: its own error, kept as the cause.
pub type ExtensionError = Box<dyn std::error::Error + Send + Sync>;

// ANCHOR: extension
/// One later chapter's part of a container's life (see the module docs for the order).
pub trait Extension: Any + Send + Sync {
    /// The extension's name, for error messages (`cgroups`, `network`).
    fn name(&self) -> &str;

    /// In the daemon, before each start: makes the container's resources (a cgroup, a veth
    /// and an address, a volume), or finds them made by an earlier start.
    fn prepare(&self, record: &ContainerRecord, dir: &Path) -> Result<(), ExtensionError>;

    /// In the monitor, once the container's `ContainerConfig` is built: adds the chapter 1
    /// steps that use the resources (`config.steps.add_parent(..)`, `add_child(..)`).
    fn configure(
        &self,
        record: &ContainerRecord,
        config: &mut ContainerConfig,
    ) -> Result<(), ExtensionError>;

    /// In the daemon, before a `docker exec` enters the running container: adds the steps an
    /// exec's process must run too (it must be as confined as the container's PID 1: same
    /// capabilities, same seccomp filter). Chapter 1's `enter` runs only the `BeforeUser` and
    /// `BeforeExec` steps, the mount namespace being already set up. `privileged` is the
    /// exec's own `--privileged`. The default adds nothing: a cgroup is joined by `enter`
    /// itself, with the container's PID 1.
    fn configure_exec(
        &self,
        _record: &ContainerRecord,
        _privileged: bool,
        _config: &mut ContainerConfig,
    ) -> Result<(), ExtensionError> {
        Ok(())
    }

    /// In the monitor, once the container's PID 1 has exited and before `state` (the run's
    /// exit code and times) is saved: adds what the extension knows of how the run ended
    /// (chapter 5: whether the OOM killer struck). The default adds nothing.
    fn exited(&self, _record: &ContainerRecord, _dir: &Path, _state: &mut RunState) {}

    /// The extension's freezer, if it can hold a container's processes still (`docker
    /// pause`). The default has none.
    fn freezer(&self) -> Option<&dyn Freezer> {
        None
    }

    /// In the daemon, once the container has stopped (its monitor ended): gives back what
    /// only a *running* container holds, such as a published port's firewall rules (dockerd
    /// frees a stopped container's ports). The default does nothing: most resources live as
    /// long as the container. Containers found stopped when the daemon opens are the
    /// extension's to find in `sweep_orphans`.
    fn stopped(&self, _id: &str) -> Result<(), ExtensionError> {
        Ok(())
    }

    /// In the daemon, after a failed start and after the container's removal: releases its
    /// resources. Must succeed when there is nothing (left) to release.
    fn release(&self, id: &str) -> Result<(), ExtensionError>;

    /// In the daemon, when the engine opens: releases the resources of containers that no
    /// longer exist (`exists` says which do), left by a daemon that was killed.
    fn sweep_orphans(&self, exists: &dyn Fn(&str) -> bool) -> Result<(), ExtensionError>;
}
// ANCHOR_END: extension

// ANCHOR: freezer
/// Holds a running container's processes still and lets them go again: `docker pause` and
/// `unpause`. A frozen process gets no CPU time at all, so it handles no signal either: the
/// engine thaws a paused container after signalling it (as dockerd does), or `docker stop`
/// would wait forever.
pub trait Freezer: Send + Sync {
    /// Freezes every process of container `id`; returns once they all are frozen.
    fn freeze(&self, id: &str) -> Result<(), ExtensionError>;

    /// Thaws the processes of container `id`.
    fn thaw(&self, id: &str) -> Result<(), ExtensionError>;

    /// Whether container `id` is frozen now (asked of the kernel, so it survives a restart
    /// of the daemon).
    fn is_frozen(&self, id: &str) -> bool;
}
// ANCHOR_END: freezer

/// The extensions of one daemon, in the order their steps are added.
pub type Extensions = Vec<std::sync::Arc<dyn Extension>>;
