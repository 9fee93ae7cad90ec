//! Starting a container in two phases, and waiting for it.
//!
//! 1. **Spawn** ([`spawn`]): `clone(2)` a child into new namespaces. It blocks at once.
//! 2. **Configure from the parent** ([`Spawned`]): with the child's pid in hand, the parent
//!    does what only it can: write the user namespace's id maps now; put the pid in a cgroup
//!    (chapter 5) and move a veth into its network namespace (chapter 7) later, as
//!    [`crate::ParentStep`]s (see `steps.rs`).
//! 3. **Finish in the child** ([`Spawned::release`]): the child mounts its root filesystem,
//!    pivots into it and execs the command (see `child.rs`).
//!
//! Docker splits the same work between runc's parent (`runc create`) and its `runc init` child.

use nix::errno::Errno;
use nix::sched::clone;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::child::{self, ChildPlan};
use crate::config::{ConfigError, ContainerConfig};
use crate::devices::DevPlan;
use crate::exec::ExecPlan;
use crate::failure::{self, Failure, Step};
use crate::identity::UserPlan;
use crate::namespaces::{self, IdMapError, clone_flags};
use crate::rootfs::RootfsPlan;
use crate::steps::Steps;
use crate::sync::{self, ParentEnds};

/// The child runs on its own stack until it execs; it needs little.
const CHILD_STACK_SIZE: usize = 256 * 1024;

/// Why a container could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "cannot create a user namespace for --rootless ({0}): this host has user namespaces \
         disabled; check `sysctl user.max_user_namespaces` (must be > 0) and, on Debian and \
         Ubuntu, `sysctl kernel.unprivileged_userns_clone` (must be 1)"
    )]
    UserNamespacesUnavailable(Errno),
    #[error("creating the sync pipes: {0}")]
    Pipes(Errno),
    #[error("clone(2) into new namespaces: {0}")]
    Clone(Errno),
    #[error(transparent)]
    IdMaps(#[from] IdMapError),
    /// `--init`'s program could not be found or prepared (`init.rs`).
    #[error(transparent)]
    Init(#[from] crate::init::InitError),
    #[error("releasing the child: {0}")]
    Release(std::io::Error),
    /// A parent-side step a later chapter added failed (`steps.rs`).
    #[error("{name}: {source}")]
    ParentStep {
        name: String,
        #[source]
        source: crate::steps::StepError,
    },
    /// A step in the child failed; `message` says which and on what.
    #[error("{message}")]
    Setup { failure: Failure, message: String },
}

impl StartError {
    /// The exit code a CLI should use, as Docker does: 127 when the command does not exist,
    /// 126 when it cannot be executed, 125 when the container could not be set up.
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::Setup { failure, .. } => failure::exit_code(failure),
            _ => 125,
        }
    }
}

// ANCHOR: start
/// Starts a container: the three phases in order. Later chapters call the phases themselves
/// to add their own parent-side step between [`spawn`] and [`Spawned::release`].
pub fn start(config: &ContainerConfig) -> Result<Running, StartError> {
    let spawned = spawn(config)?; // 1. clone into new namespaces; the child waits
    spawned.write_maps(config)?; // 2. the parent's part (a user namespace's maps)...
    spawned.run_parent_steps(&config.steps)?; // ...and what later chapters add to it
    spawned.release() // 3. the child finishes and execs
}
// ANCHOR_END: start

/// A child that exists in its new namespaces and is waiting for [`Spawned::release`].
/// Dropping it without releasing kills the child.
#[derive(Debug)]
pub struct Spawned {
    pid: Pid,
    ends: ParentEnds,
    plan: ChildPlan,
    released: bool,
}

// ANCHOR: spawn
/// Phase 1: clones a child into new namespaces. The child blocks until released.
pub fn spawn(config: &ContainerConfig) -> Result<Spawned, StartError> {
    config.validate()?;
    let plan = ChildPlan {
        rootfs: RootfsPlan::new(&config.rootfs, config.rootfs_mount.as_ref()),
        dev: DevPlan::new(&config.rootfs),
        exec: ExecPlan::new(&crate::init::command_of(config)),
        hostname: config.hostname.clone(),
        // In a user namespace the kernel refuses mknod (and may refuse sysfs) even to its
        // root: a remapped root takes the rootless ways round them.
        rootless: config.in_user_namespace(),
        init: match config.init {
            true => Some(crate::init::InitMount::new(
                &crate::init::locate()?,
                &config.rootfs,
            )),
            false => None,
        },
        user: config.user.as_ref().map(UserPlan::new),
        stdio: config.stdio,
        console: config.console,
        steps: config.steps.child().to_vec(),
    };
    let (ends, child_ends) = sync::pipes().map_err(StartError::Pipes)?;
    let parent_fds = ends.raw_fds();

    let mut stack = vec![0u8; CHILD_STACK_SIZE];
    let body = Box::new(|| {
        // The child got copies of the parent's pipe ends; keeping the go pipe's write end
        // would stop it from ever seeing end-of-file if the parent dies.
        for fd in parent_fds {
            // SAFETY: these descriptors belong to the parent's ParentEnds; in the child
            // nothing else uses them.
            unsafe { libc::close(fd) };
        }
        child::run(&plan, &child_ends)
    });
    let flags = clone_flags(config.in_user_namespace());
    // SAFETY: the child runs only `child::run`, which makes system calls on data prepared
    // above and never allocates (see child.rs), then execs or exits.
    let cloned = unsafe { clone(body, &mut stack, flags, Some(libc::SIGCHLD)) };
    // `body` is gone: the parent's copies of the child's pipe ends are closed now.
    let pid = cloned.map_err(|errno| match errno {
        // The kernel's ways of saying "no user namespaces for you".
        Errno::EPERM | Errno::EINVAL | Errno::ENOSPC | Errno::EUSERS
            if config.in_user_namespace() =>
        {
            StartError::UserNamespacesUnavailable(errno)
        }
        errno => StartError::Clone(errno),
    })?;
    Ok(Spawned {
        pid,
        ends,
        plan,
        released: false,
    })
}
// ANCHOR_END: spawn

impl Spawned {
    /// The child's pid, as the host sees it.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Phase 2, rootless: maps `uid` and `gid` outside to root inside.
    pub fn write_id_maps(
        &self,
        uid: namespaces::IdMap,
        gid: namespaces::IdMap,
    ) -> Result<(), StartError> {
        Ok(namespaces::write_id_maps(self.pid, uid, gid)?)
    }

    /// Phase 2, a remapped root: writes whole maps (see [`namespaces::write_remap`]).
    pub fn write_remap(&self, maps: &namespaces::IdMaps) -> Result<(), StartError> {
        Ok(namespaces::write_remap(self.pid, maps)?)
    }

    // ANCHOR: write_maps
    /// Phase 2, the maps of the child's user namespace if `config` gives it one: a remapped
    /// root's whole maps, or rootless, the caller's own ids as root. Nothing otherwise. Every
    /// caller of [`spawn`] makes this call first (chapter 4's monitor too): until the maps are
    /// written, the child's ids mean nothing in its namespace.
    pub fn write_maps(&self, config: &ContainerConfig) -> Result<(), StartError> {
        if let Some(maps) = &config.id_maps {
            self.write_remap(maps)
        } else if config.rootless {
            let (uid, gid) = namespaces::caller_ids();
            self.write_id_maps(uid, gid)
        } else {
            Ok(())
        }
    }
    // ANCHOR_END: write_maps

    // ANCHOR: run_parent_steps
    /// Phase 2, the later chapters' part: runs their parent-side steps, in order, with the
    /// child's pid. On failure the child is killed when `self` is dropped.
    pub fn run_parent_steps(&self, steps: &Steps) -> Result<(), StartError> {
        for step in steps.parent() {
            step.run(self.pid)
                .map_err(|source| StartError::ParentStep {
                    name: step.name().to_owned(),
                    source,
                })?;
        }
        Ok(())
    }
    // ANCHOR_END: run_parent_steps

    /// Phase 3: lets the child finish its set-up and exec the command. Returns once the
    /// command runs, or with the step that failed.
    pub fn release(mut self) -> Result<Running, StartError> {
        self.ends.release().map_err(StartError::Release)?;
        let report = self.ends.read_report().map_err(StartError::Release)?;
        self.released = true;
        let running = Running { pid: self.pid };
        match report {
            None => Ok(running),
            Some(failure) => {
                // The child has exited or is about to: reap it so no zombie is left.
                let _ = running.wait();
                Err(StartError::Setup {
                    message: describe(&self.plan, &failure),
                    failure,
                })
            }
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if !self.released {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// Turns a child's failure report into a sentence that names the step and the path.
fn describe(plan: &ChildPlan, failure: &Failure) -> String {
    let errno = failure.errno;
    let what = match failure.step {
        Step::WaitForParent => "waiting for the parent".to_owned(),
        Step::ResetSignals => "resetting the signal mask".to_owned(),
        Step::MakeMountsPrivate
        | Step::MountRootfs
        | Step::BindRootfs
        | Step::MountProc
        | Step::MountSys
        | Step::PivotRoot => plan.rootfs.describe(failure.step, failure.item),
        Step::MountDev => plan.dev.describe(failure.item, plan.rootless),
        Step::SetHostname => format!("setting the hostname to {:?}", plan.hostname),
        Step::LoopbackUp => "bringing up the loopback interface lo".to_owned(),
        Step::Workdir | Step::Exec => plan.exec.describe(failure),
        Step::Init => match &plan.init {
            Some(init) => init.describe(failure.item),
            None => "--init".to_owned(),
        },
        Step::Console => crate::console::describe(failure.item).to_owned(),
        Step::JoinNamespaces => "joining the container's namespaces".to_owned(),
        Step::Added => match plan.steps.get(usize::from(failure.item)) {
            Some(step) => step.name().to_owned(),
            None => "a step added to the start".to_owned(),
        },
        Step::CloseDescriptors => "closing the descriptors the command must not inherit".to_owned(),
        Step::BecomeRoot => crate::identity::describe_become_root(failure.item).to_owned(),
        Step::SetStdio => format!("installing descriptor {} of the command", failure.item),
        Step::SetUser => match &plan.user {
            Some(user) => user.describe(failure.item),
            None => "setting the user".to_owned(),
        },
    };
    match (failure.step, errno) {
        // Docker's wording for a missing command already says it all.
        (Step::Exec, Errno::ENOENT | Errno::ENOTDIR) => what,
        _ => format!("{what}: {} ({errno:?})", errno.desc().to_lowercase()),
    }
}

/// How a container's command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit` with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled(Signal),
}

impl ExitStatus {
    /// The shell's convention, which Docker follows: the code, or 128 + the signal number.
    pub fn code(&self) -> i32 {
        match self {
            ExitStatus::Exited(code) => *code,
            ExitStatus::Signaled(signal) => 128 + *signal as i32,
        }
    }

    /// Reads a wait status for `pid`; `None` when it is not an exit of that process.
    pub fn from_wait(status: WaitStatus, pid: Pid) -> Option<Self> {
        match status {
            WaitStatus::Exited(p, code) if p == pid => Some(ExitStatus::Exited(code)),
            WaitStatus::Signaled(p, signal, _) if p == pid => Some(ExitStatus::Signaled(signal)),
            _ => None,
        }
    }
}

/// A container whose command is running.
#[derive(Debug)]
pub struct Running {
    pid: Pid,
}

impl Running {
    /// A process we started by other means (`enter.rs`), to wait for it the same way.
    pub(crate) fn adopt(pid: Pid) -> Running {
        Running { pid }
    }

    /// The pid of the container's PID 1, as the host sees it.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Waits for the command to end. For a foreground program that should also forward
    /// signals and reap orphans, see [`crate::signals::forward_until_exit`].
    pub fn wait(&self) -> Result<ExitStatus, Errno> {
        loop {
            match waitpid(self.pid, None) {
                Ok(status) => {
                    if let Some(exit) = ExitStatus::from_wait(status, self.pid) {
                        return Ok(exit);
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(ExitStatus::Exited(3).code(), 3);
        assert_eq!(ExitStatus::Signaled(Signal::SIGKILL).code(), 137);
        assert_eq!(ExitStatus::Signaled(Signal::SIGTERM).code(), 143);
    }

    #[test]
    fn start_errors_map_to_dockers_exit_codes() {
        let setup = |step, errno| StartError::Setup {
            failure: Failure::new(step, 0, errno),
            message: String::new(),
        };
        assert_eq!(setup(Step::Exec, Errno::ENOENT).exit_code(), 127);
        assert_eq!(setup(Step::Exec, Errno::EACCES).exit_code(), 126);
        assert_eq!(setup(Step::PivotRoot, Errno::EINVAL).exit_code(), 125);
        assert_eq!(StartError::Config(ConfigError::NoCommand).exit_code(), 125);
    }
}
