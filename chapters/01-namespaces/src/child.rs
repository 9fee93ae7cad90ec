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
use crate::identity::UserPlan;
use crate::rootfs::RootfsPlan;
use crate::sync::ChildEnds;
use crate::{init, loopback};

/// Everything the child needs, prepared by the parent before `clone(2)`.
#[derive(Debug)]
pub(crate) struct ChildPlan {
    pub rootfs: RootfsPlan,
    pub dev: DevPlan,
    pub exec: ExecPlan,
    pub hostname: String,
    pub rootless: bool,
    /// Run a tiny init as PID 1 and the command as PID 2 (see `init.rs`).
    pub init: bool,
    /// The user to become before exec, if not root.
    pub user: Option<UserPlan>,
    /// Descriptors to install as 0, 1 and 2 before exec.
    pub stdio: crate::config::Stdio,
    /// A terminal instead of `stdio`, made in the container (see `console.rs`).
    pub console: Option<crate::console::Console>,
}

/// The child's set-up steps, in the order it takes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Step {
    /// Wait until the parent has written id maps (and, later, cgroups and network).
    WaitForParent = 1,
    /// Undo the parent's signal mask and `SIGPIPE` setting, which `execve` would keep.
    ResetSignals,
    /// Make every mount private, so nothing we mount propagates back to the host.
    MakeMountsPrivate,
    /// Mount the rootfs's own filesystem, if any (chapter 2's overlay).
    MountRootfs,
    /// Bind-mount the root filesystem onto itself: `pivot_root` needs a mount point.
    BindRootfs,
    /// Mount a fresh `/proc` that shows only the new PID namespace.
    MountProc,
    /// Mount `/sys`, read-only.
    MountSys,
    /// Build a minimal `/dev` on a tmpfs.
    MountDev,
    /// Swap the root: the rootfs becomes `/`, the host's root is unmounted.
    PivotRoot,
    /// Set the hostname in the new UTS namespace.
    SetHostname,
    /// Bring up `lo` in the new network namespace.
    LoopbackUp,
    /// Create and enter the working directory.
    Workdir,
    /// Install the configured stdin, stdout and stderr.
    SetStdio,
    /// Drop root: become the configured user.
    SetUser,
    /// Replace ourselves with the command.
    Exec,
    /// With `--init`: fork the command and wait for it as PID 1.
    Init,
    /// With a terminal: open a pty in the container and make it the controlling terminal.
    Console,
    /// For `exec` in a running container: join its namespaces and its root (`enter.rs`).
    JoinNamespaces,
}

impl Step {
    const ALL: [Step; 18] = [
        Step::WaitForParent,
        Step::ResetSignals,
        Step::MakeMountsPrivate,
        Step::MountRootfs,
        Step::BindRootfs,
        Step::MountProc,
        Step::MountSys,
        Step::MountDev,
        Step::PivotRoot,
        Step::SetHostname,
        Step::LoopbackUp,
        Step::Workdir,
        Step::SetStdio,
        Step::SetUser,
        Step::Exec,
        Step::Init,
        Step::Console,
        Step::JoinNamespaces,
    ];

    fn from_u8(byte: u8) -> Option<Step> {
        Step::ALL.into_iter().find(|step| *step as u8 == byte)
    }
}

/// What the child reports when a step fails: the step, which item of it (a device, a path
/// candidate; 0 when the step has one item), and the errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The step that failed.
    pub step: Step,
    /// Which item of the step failed, for steps that work through a list.
    pub item: u16,
    /// The error the kernel returned.
    pub errno: Errno,
}

impl Failure {
    /// The wire size of a report: small enough that one `write(2)` to a pipe is atomic.
    pub const SIZE: usize = 8;

    pub(crate) fn new(step: Step, item: u16, errno: Errno) -> Self {
        Failure { step, item, errno }
    }

    pub(crate) fn encode(&self) -> [u8; Self::SIZE] {
        let mut bytes = [0u8; Self::SIZE];
        bytes[0] = self.step as u8;
        bytes[2..4].copy_from_slice(&self.item.to_le_bytes());
        bytes[4..8].copy_from_slice(&(self.errno as i32).to_le_bytes());
        bytes
    }

    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> Option<Self> {
        let step = Step::from_u8(bytes[0])?;
        let item = u16::from_le_bytes([bytes[2], bytes[3]]);
        let errno = i32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        Some(Failure::new(step, item, Errno::from_raw(errno)))
    }
}

/// Tags an errno with the step it happened in.
pub(crate) trait At<T> {
    fn at(self, step: Step) -> Result<T, Failure>;
}

impl<T> At<T> for Result<T, Errno> {
    fn at(self, step: Step) -> Result<T, Failure> {
        self.map_err(|errno| Failure::new(step, 0, errno))
    }
}

// ANCHOR: finish
/// The body of the cloned child: its return value becomes the child's exit status.
pub(crate) fn run(plan: &ChildPlan, ends: &ChildEnds) -> isize {
    match finish(plan, ends) {
        Ok(code) => code as isize,
        Err(failure) => {
            ends.report(&failure);
            exit_code(&failure) as isize
        }
    }
}

/// The exit codes Docker uses: 127 command not found, 126 not executable, else 125.
pub(crate) fn exit_code(failure: &Failure) -> i32 {
    match (failure.step, failure.errno) {
        (Step::Exec, Errno::ENOENT | Errno::ENOTDIR) => 127,
        (Step::Exec, _) => 126,
        _ => 125,
    }
}

/// The steps, in order. Returns only on failure, or with an exit code when the parent gave up
/// on us before we started (0) or when `--init` saw the command exit.
fn finish(plan: &ChildPlan, ends: &ChildEnds) -> Result<i32, Failure> {
    if !ends.wait_for_parent().at(Step::WaitForParent)? {
        return Ok(0);
    }
    reset_signals().at(Step::ResetSignals)?;
    // Device nodes and mount points must get exactly the modes we ask for.
    umask(Mode::empty());

    plan.rootfs.make_mounts_private()?;
    plan.rootfs.mount_rootfs()?;
    plan.rootfs.bind_rootfs()?;
    plan.rootfs.mount_proc()?;
    plan.rootfs.mount_sys(plan.rootless)?;
    plan.dev.mount(plan.rootless)?;
    plan.rootfs.pivot_root()?;

    sethostname(&plan.hostname).at(Step::SetHostname)?;
    loopback::bring_up().at(Step::LoopbackUp)?;

    umask(Mode::from_bits_truncate(0o022));
    plan.exec.enter_workdir()?;
    set_stdio(&plan.stdio)?;
    if let Some(console) = &plan.console {
        crate::console::set_up(console)?;
    }
    if let Some(user) = &plan.user {
        user.apply()?;
    }
    if plan.init {
        return init::run(&plan.exec, ends);
    }
    Err(plan.exec.exec())
}
// ANCHOR_END: finish

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_survive_the_pipe() {
        for step in Step::ALL {
            let failure = Failure::new(step, 513, Errno::EINVAL);
            assert_eq!(Failure::decode(&failure.encode()), Some(failure));
        }
        assert_eq!(Failure::decode(&[0u8; Failure::SIZE]), None);
    }
}
