//! # Chapter 1: a process in its own namespaces
//!
//! A container is an ordinary Linux process that the kernel shows a different world: its own
//! process ids, mount table, hostname, IPC objects and network devices (namespaces), and its
//! own root filesystem (`pivot_root`). This crate starts one, in the same two phases as
//! Docker's runtime, runc:
//!
//! 1. [`spawn`]: `clone(2)` a child into new namespaces ([`namespaces`]); it waits on a pipe
//!    (`sync.rs`).
//! 2. The parent does what only it can, such as writing a rootless child's id maps
//!    ([`Spawned::write_id_maps`]).
//! 3. [`Spawned::release`]: the child mounts `/proc`, `/sys` and `/dev`, pivots into the root
//!    filesystem, sets its hostname, brings up `lo`, and execs the command (`child.rs`).
//!
//! [`start`] runs the three in order; [`signals::forward_until_exit`] waits for the command
//! the way a foreground `docker run` does. Read the modules in this order: `config`,
//! `namespaces`, `container`, `sync`, `child` (and `failure`, how its errors travel),
//! `rootfs`, `devices`, `loopback`, `exec`, `fds` (what the command must not inherit),
//! `signals`, [`init`] (and the program it runs, [`init_program`]), and [`steps`], the seams where later chapters add their own steps to a
//! start; then two that the engine (`final/`) builds on: [`console`], a terminal of the
//! container's own (`docker run -t`), and [`enter`], one more process in a running container
//! (`docker exec`).

pub mod config;
pub mod console;
pub mod container;
pub mod devices;
pub mod enter;
pub mod fds;
pub mod init;
pub mod init_program;
pub mod namespaces;
pub mod signals;
pub mod steps;

mod child;
mod exec;
mod failure;
mod identity;
mod loopback;
mod rootfs;
mod sync;

pub use config::{ConfigError, ContainerConfig, RootfsMount, Stdio, User};
pub use container::{ExitStatus, Running, Spawned, StartError, spawn, start};
pub use failure::{Failure, Step};
pub use steps::{BindMount, ChildPhase, ChildStep, ParentStep, Steps};

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Converts a path or string for the kernel. [`ContainerConfig::validate`] has refused NUL
/// bytes before any plan is made, so this cannot fail on validated input.
fn cstring(text: &(impl AsRef<std::ffi::OsStr> + ?Sized)) -> CString {
    CString::new(Path::new(text.as_ref()).as_os_str().as_bytes())
        .expect("NUL bytes are refused by ContainerConfig::validate")
}

// ANCHOR: mount_root_outside
/// Makes the container's root as a start would, without starting anything: the calling
/// thread leaves the process's mount namespace for a private copy (`unshare(CLONE_NEWNS)`,
/// which a thread may do alone), then mounts the rootfs at `config.rootfs` and runs the
/// [`ChildPhase::Mounts`] steps (volumes, chapter 8), exactly as the child does before
/// `pivot_root`. What a daemon does to reach a stopped container's files (`docker cp`,
/// `docker export`): the mounts exist only in that thread's namespace and vanish with it, so
/// a daemon that dies meanwhile leaves nothing mounted. Call it on a thread of its own, and
/// let the thread end when done.
pub fn mount_root_outside(config: &ContainerConfig) -> Result<(), String> {
    let plan = rootfs::RootfsPlan::new(&config.rootfs, config.rootfs_mount.as_ref());
    let described = |failure: Failure| {
        let what = match failure.step {
            Step::Added => config
                .steps
                .child()
                .get(usize::from(failure.item))
                .map_or_else(|| "a mount step".to_owned(), |s| s.name().to_owned()),
            step => plan.describe(step, failure.item),
        };
        format!("{what}: {}", failure.errno.desc())
    };
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|errno| format!("leaving the daemon's mount namespace: {}", errno.desc()))?;
    plan.make_mounts_private().map_err(described)?;
    plan.mount_rootfs().map_err(described)?;
    plan.bind_rootfs().map_err(described)?;
    steps::run_phase(config.steps.child(), ChildPhase::Mounts)
        .map_err(|(index, errno)| described(Failure::new(Step::Added, index, errno)))
}
// ANCHOR_END: mount_root_outside
