//! How a failure in the child reaches the parent: which step, which item, which errno.
//!
//! The child cannot build an error message (it must not allocate, see `child.rs`), so every
//! step that can fail is numbered here, and a failure travels to the parent as eight bytes on
//! the report pipe (`sync.rs`). The parent, which knows the paths and names, turns it into a
//! sentence (`container.rs`). Every module of the child's set-up reports through this one, so
//! it depends on none of them.

use nix::errno::Errno;

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
    /// With `--init`: bind-mounting the init program read-only into the container.
    Init,
    /// With a terminal: open a pty in the container and make it the controlling terminal.
    Console,
    /// For `exec` in a running container: join its namespaces and its root (`enter.rs`).
    JoinNamespaces,
    /// A child-side step a later chapter added (`steps.rs`); the item is its index.
    Added,
    /// Close, or mark close-on-exec, every descriptor not handed over (`fds.rs`).
    CloseDescriptors,
    /// In a user namespace: take the ids that are root in it (`identity.rs`).
    BecomeRoot,
}

impl Step {
    const ALL: [Step; 21] = [
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
        Step::Added,
        Step::CloseDescriptors,
        Step::BecomeRoot,
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

/// The exit codes Docker uses: 127 command not found, 126 not executable, else 125.
pub(crate) fn exit_code(failure: &Failure) -> i32 {
    match (failure.step, failure.errno) {
        (Step::Exec, Errno::ENOENT | Errno::ENOTDIR) => 127,
        (Step::Exec, _) => 126,
        _ => 125,
    }
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
