//! Phase 3: the child finishes its own set-up, then becomes the command.
//!
//! After `clone(2)` the child is a copy of the parent that already lives in the new namespaces,
//! but still sees the host's files. It waits until the parent has done its part, then works
//! through the steps below, in this order, and ends with `execve(2)`: from then on the
//! container's PID 1 *is* the user's command.
//!
//! Two rules shape this file:
//!
//! * **No memory allocation.** The parent may have other threads (a test harness, a daemon). A
//!   cloned child has only the thread that called `clone`, and if another thread held the
//!   allocator's lock at that moment, the lock stays held forever in the child. So every string
//!   the child needs was prepared by the parent ([`ChildPlan`]), and the child only makes system
//!   calls. The Rust standard library's `Command` follows the same rule between fork and exec.
//! * **Failures are reported, not printed.** The child cannot build an error message, so it
//!   sends the parent a [`Failure`]: which [`Step`] failed, on which item, with which errno. The
//!   parent, which knows the paths, turns it into a sentence. A successful `execve` closes the
//!   report pipe (it is close-on-exec), and that end-of-file is how the parent learns the
//!   command is running.

use nix::errno::Errno;
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::stat::{Mode, umask};
use nix::unistd::sethostname;

use crate::devices::DevPlan;
use crate::exec::ExecPlan;
use crate::failure::{At, Failure, Step};
use crate::identity::UserPlan;
use crate::rootfs::RootfsPlan;
use crate::steps::{self, ChildPhase, ChildStep};
use crate::sync::ChildEnds;
use crate::{fds, loopback};

/// Everything the child needs, prepared by the parent before `clone(2)`.
#[derive(Debug)]
pub(crate) struct ChildPlan {
    pub rootfs: RootfsPlan,
    pub dev: DevPlan,
    pub exec: ExecPlan,
    pub hostname: String,
    /// In a user namespace (rootless or remapped): its root may not mknod, nor always mount
    /// sysfs, so `/dev` and `/sys` come from the host by bind mounts.
    pub rootless: bool,
    /// `--init`: the read-only mount of the init program, which `exec` then runs as PID 1
    /// with the command as its arguments (see `init.rs`).
    pub init: Option<crate::init::InitMount>,
    /// The user to become before exec, if not root.
    pub user: Option<UserPlan>,
    /// Descriptors to install as 0, 1 and 2 before exec.
    pub stdio: crate::config::Stdio,
    /// A terminal instead of `stdio`, made in the container (see `console.rs`).
    pub console: Option<crate::console::Console>,
    /// Steps later chapters added, each run in its phase (`steps.rs`).
    pub steps: Vec<std::sync::Arc<dyn ChildStep>>,
}

// ANCHOR: finish
/// The body of the cloned child: its return value becomes the child's exit status.
pub(crate) fn run(plan: &ChildPlan, ends: &ChildEnds) -> isize {
    match finish(plan, ends) {
        Ok(code) => code as isize,
        Err(failure) => {
            ends.report(&failure);
            crate::failure::exit_code(&failure) as isize
        }
    }
}

/// The steps, in order. Returns only on failure, or with 0 when the parent gave up on us
/// before we started.
fn finish(plan: &ChildPlan, ends: &ChildEnds) -> Result<i32, Failure> {
    if !ends.wait_for_parent().at(Step::WaitForParent)? {
        return Ok(0);
    }
    reset_signals().at(Step::ResetSignals)?;
    if plan.rootless {
        // The parent has written the maps: now there is a root to become.
        crate::identity::become_root()?;
    }
    // Device nodes and mount points must get exactly the modes we ask for.
    umask(Mode::empty());

    plan.rootfs.make_mounts_private()?;
    added(plan, ChildPhase::BeforeRootfs)?;
    plan.rootfs.mount_rootfs()?;
    plan.rootfs.bind_rootfs()?;
    if let Some(init) = &plan.init {
        init.run()
            .map_err(|(step, errno)| Failure::new(Step::Init, step, errno))?;
    }
    added(plan, ChildPhase::Mounts)?;
    plan.rootfs.mount_proc()?;
    plan.rootfs.mount_sys(plan.rootless)?;
    plan.dev.mount(plan.rootless)?;
    plan.rootfs.pivot_root()?;
    added(plan, ChildPhase::AfterPivot)?;

    sethostname(&plan.hostname).at(Step::SetHostname)?;
    loopback::bring_up().at(Step::LoopbackUp)?;

    umask(Mode::from_bits_truncate(0o022));
    plan.exec.enter_workdir()?;
    set_stdio(&plan.stdio)?;
    if let Some(console) = &plan.console {
        crate::console::set_up(console)?;
    }
    added(plan, ChildPhase::BeforeUser)?;
    if let Some(user) = &plan.user {
        user.apply()?;
    }
    // Nothing of ours but 0, 1 and 2 reaches the command (`fds.rs`).
    fds::close_on_exec_from_3().at(Step::CloseDescriptors)?;
    added(plan, ChildPhase::BeforeExec)?;
    Err(plan.exec.exec())
}
// ANCHOR_END: finish

/// Runs the added steps of one phase, reporting a failure with the step's index.
fn added(plan: &ChildPlan, phase: ChildPhase) -> Result<(), Failure> {
    steps::run_phase(&plan.steps, phase)
        .map_err(|(index, errno)| Failure::new(Step::Added, index, errno))
}

/// Puts the configured descriptors in place of 0, 1 and 2 (`dup2` clears close-on-exec on
/// the copy, so they survive the exec; the originals close with it).
pub(crate) fn set_stdio(stdio: &crate::config::Stdio) -> Result<(), Failure> {
    for (target, source) in [(0, stdio.stdin), (1, stdio.stdout), (2, stdio.stderr)] {
        if let Some(fd) = source {
            // SAFETY: dup2 on descriptors the parent handed us; no memory is touched.
            if unsafe { libc::dup2(fd, target) } < 0 {
                return Err(Failure::new(Step::SetStdio, target as u16, Errno::last()));
            }
        }
    }
    Ok(())
}

/// The child inherits the parent's blocked signals (ch01 blocks the ones it forwards) and its
/// ignored ones: Rust's runtime ignores `SIGPIPE`, and `nohup` ignores `SIGHUP`. Both survive
/// `execve`, so without this reset a `yes | head` pipeline inside the container would never
/// end. A container started by Docker's daemon inherits nothing from the user's shell either.
pub(crate) fn reset_signals() -> Result<(), Errno> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
    for signal in Signal::iterator() {
        if matches!(signal, Signal::SIGKILL | Signal::SIGSTOP) {
            continue; // Their disposition cannot be changed.
        }
        // SAFETY: setting the default disposition installs no handler of ours.
        unsafe { nix::sys::signal::signal(signal, SigHandler::SigDfl) }?;
    }
    Ok(())
}
