//! `docker exec`: one more process inside a container that is already running.
//!
//! A container is a set of namespaces that its PID 1 keeps alive. Entering it means joining
//! them with `setns(2)`, given the files `/proc/PID/ns/*` of that PID 1, in an order that
//! works (the user namespace first, when there is one of its own, because it owns the others;
//! the mount namespace last, because after it the host's `/proc` is out of sight), then
//! taking the container's root directory with `chroot`, and its working directory.
//!
//! **No process may sit in the container's PID namespace with anything of the host's.** A
//! process in the container that watches for new pids can open `/proc/<pid>/root`,
//! `/proc/<pid>/cwd` or `/proc/<pid>/fd/N` of a newcomer the moment it appears; if the
//! newcomer still has the host's root or a descriptor of the daemon's, that is a way out
//! (runc's CVE-2016-9962). So the entering takes two processes, as runc's `nsexec` does:
//!
//! 1. an **intermediate** child, cloned in the host's PID namespace, where nothing in the
//!    container can see it, joins the namespaces and the root, closes every descriptor it does
//!    not hand over, makes itself non-dumpable (`PR_SET_DUMPABLE 0`, which `/proc/<pid>/*` and
//!    `ptrace` respect; `execve` resets it), joins the PID namespace (which only decides where
//!    its *children* are born), and forks;
//! 2. the **command's** process, born inside the PID namespace with nothing of the host's,
//!    enters the working directory (resolved inside the root, see `exec.rs`), installs its
//!    stdio and user and execs. It is forked with `CLONE_PARENT`, so it is the caller's child,
//!    not the intermediate's, which reports its pid and exits.
//!
//! The command's process also runs the `BeforeUser` and `BeforeExec` steps of `config.steps`
//! (chapter 6's capability drop and seccomp filter): an exec is confined like the container.
//!
//! `setns` into a mount or user namespace needs a single-threaded caller, which a daemon is
//! not: the intermediate is, so the calling thread joins nothing itself. The rest is chapter
//! 1's: the same sync pipes, the same PATH search and exit codes (127, 126), the same user
//! switch and terminal set-up as a container's first process.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, clone};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::config::ContainerConfig;
use crate::container::{Running, StartError};
use crate::exec::ExecPlan;
use crate::failure::{At, Failure, Step};
use crate::identity::UserPlan;
use crate::steps::ChildPhase;
use crate::sync::{self, ChildEnds};

/// The namespaces an exec joins, in order (`pid` is joined by the calling thread instead).
const JOINED: &[&str] = &["user", "ipc", "uts", "net", "cgroup", "mnt"];

/// [`Failure::item`]s of [`Step::JoinNamespaces`] past the namespaces of [`JOINED`].
mod item {
    pub const ROOT: u16 = super::JOINED.len() as u16;
    pub const PID: u16 = ROOT + 1;
    pub const DUMPABLE: u16 = ROOT + 2;
    pub const FORK: u16 = ROOT + 3;
}

/// Everything the new process needs, prepared before `clone(2)`: it must not allocate.
struct EnterPlan {
    /// Open `/proc/PID/ns/*` files, in [`JOINED`] order, only those that differ from ours,
    /// each with its index in [`JOINED`] (for the failure report).
    namespaces: Vec<(u16, File)>,
    /// The container's PID namespace, joined last, for the command's process.
    pid_ns: File,
    /// The container's root directory, `/proc/PID/root`, opened.
    root: File,
    /// The descriptors the intermediate keeps, sorted: 0-2, the stdio and console the caller
    /// hands over, the report pipe, the pid pipe. Every other one is closed before the fork.
    keep: Vec<RawFd>,
    /// Where the intermediate writes the command's pid (host numbering).
    pid_pipe: RawFd,
    exec: ExecPlan,
    user: Option<UserPlan>,
    stdio: crate::config::Stdio,
    console: Option<crate::console::Console>,
    /// The child steps of `config.steps` whose phase applies to a process entering a running
    /// container: `BeforeUser` and `BeforeExec` (a capability drop, a seccomp filter). Those of
    /// `Mounts` and `AfterPivot` were done once, by the container's first process.
    steps: Vec<std::sync::Arc<dyn crate::ChildStep>>,
}

// ANCHOR: enter
/// Starts `config.args` inside the running container whose PID 1 is `target`, with
/// `config`'s environment, working directory, user and stdio (or terminal). `config.rootfs`
/// is ignored: the process gets the container's own root. Returns once the command runs.
pub fn enter(target: Pid, config: &ContainerConfig) -> Result<Running, StartError> {
    let proc_dir = format!("/proc/{target}");
    let mut checked = config.clone();
    checked.rootfs = format!("{proc_dir}/root").into();
    checked.validate()?;
    let io = |e: std::io::Error| StartError::Release(e);

    let mut namespaces = Vec::new();
    for (index, name) in JOINED.iter().enumerate() {
        let theirs = format!("{proc_dir}/ns/{name}");
        let ours = format!("/proc/self/ns/{name}");
        match (std::fs::metadata(&theirs), std::fs::metadata(&ours)) {
            // The same namespace as ours (a rootful container has no user namespace of
            // its own): joining it would be refused for the user namespace, and is useless.
            (Ok(a), Ok(b)) if a.ino() == b.ino() && a.dev() == b.dev() => {}
            (Ok(_), _) => namespaces.push((index as u16, File::open(&theirs).map_err(io)?)),
            // This kernel has no such namespace.
            (Err(e), _) if e.kind() == std::io::ErrorKind::NotFound && *name == "cgroup" => {}
            (Err(e), _) => return Err(io(e)),
        }
    }
    let (mut ends, child_ends) = sync::pipes().map_err(StartError::Pipes)?;
    let (pid_read, pid_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(StartError::Pipes)?;
    let stdio = checked.stdio;
    let handed = [
        stdio.stdin,
        stdio.stdout,
        stdio.stderr,
        checked.console.map(|c| c.socket),
    ];
    let plan = EnterPlan {
        namespaces,
        pid_ns: File::open(format!("{proc_dir}/ns/pid")).map_err(io)?,
        root: File::open(&checked.rootfs).map_err(io)?,
        keep: crate::fds::keep_list(
            [0, 1, 2, child_ends.report_fd(), pid_write.as_raw_fd()]
                .into_iter()
                .chain(handed.into_iter().flatten()),
        ),
        pid_pipe: pid_write.as_raw_fd(),
        exec: ExecPlan::new(&checked),
        user: checked.user.as_ref().map(UserPlan::new),
        stdio,
        console: checked.console,
        steps: checked.steps.child().to_vec(),
    };

    let parent_fds = ends.raw_fds();
    let pid_read_fd = pid_read.as_raw_fd();
    let mut stack = vec![0u8; 256 * 1024];
    let plan_ref = &plan;
    // `move`: the closure owns the child's pipe ends, so they close in the parent when
    // `clone` drops it; a copy kept here would hide the child's exec (no end-of-file).
    let body = Box::new(move || {
        for fd in parent_fds.into_iter().chain([pid_read_fd]) {
            // SAFETY: the parent's pipe ends; the child does not use them.
            unsafe { libc::close(fd) };
        }
        match intermediate(plan_ref, &child_ends) {
            Ok(()) => 0,
            Err(failure) => {
                child_ends.report(&failure);
                crate::failure::exit_code(&failure) as isize
            }
        }
    });
    // SAFETY: the child only makes system calls on data prepared above (no allocation).
    let cloned = unsafe { clone(body, &mut stack, CloneFlags::empty(), Some(libc::SIGCHLD)) };
    drop(pid_write);
    let intermediate = cloned.map_err(StartError::Clone)?;

    ends.release().map_err(StartError::Release)?;
    // The command's pid, or nothing if the intermediate failed (its report says why).
    let mut pid_bytes = [0u8; 4];
    let command = match File::from(pid_read).read_exact(&mut pid_bytes) {
        Ok(()) => Some(Running::adopt(Pid::from_raw(i32::from_ne_bytes(pid_bytes)))),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => None,
        Err(e) => return Err(io(e)),
    };
    reap(intermediate);
    match (ends.read_report().map_err(StartError::Release)?, command) {
        (None, Some(running)) => Ok(running),
        (None, None) => Err(io(std::io::Error::other(format!(
            "the process entering container {target} ended before starting the command"
        )))),
        (Some(failure), running) => {
            if let Some(running) = running {
                let _ = running.wait();
            }
            let message = match failure.step {
                Step::Workdir | Step::Exec => plan.exec.describe(&failure),
                Step::Console => crate::console::describe(failure.item).to_owned(),
                Step::SetUser => plan
                    .user
                    .as_ref()
                    .map_or_else(|| "setting the user".into(), |u| u.describe(failure.item)),
                Step::CloseDescriptors => "closing the descriptors it must not keep".into(),
                Step::BecomeRoot => crate::identity::describe_become_root(failure.item).into(),
                Step::Added => plan.steps.get(usize::from(failure.item)).map_or_else(
                    || "a step added to the exec".into(),
                    |s| s.name().to_owned(),
                ),
                Step::JoinNamespaces => match (JOINED.get(usize::from(failure.item)), failure.item)
                {
                    (Some(name), _) => format!("joining the {name} namespace of process {target}"),
                    (None, item::ROOT) => {
                        format!("entering the root directory of process {target}")
                    }
                    (None, item::PID) => format!("joining the pid namespace of process {target}"),
                    (None, item::DUMPABLE) => "making the entering process non-dumpable".into(),
                    (None, _) => format!("forking into the pid namespace of process {target}"),
                },
                _ => format!("{:?}", failure.step),
            };
            let message = match (failure.step, failure.errno) {
                (Step::Exec, Errno::ENOENT | Errno::ENOTDIR) => message,
                (_, errno) => format!("{message}: {}", errno.desc().to_lowercase()),
            };
            Err(StartError::Setup { failure, message })
        }
    }
}
// ANCHOR_END: enter

/// Waits for the intermediate process, which exits as soon as it has forked.
fn reap(pid: Pid) {
    while let Err(Errno::EINTR) = waitpid(pid, None) {}
}

fn setns(fd: RawFd, kind: libc::c_int) -> Result<(), Errno> {
    // SAFETY: setns takes a descriptor and a flag.
    if unsafe { libc::setns(fd, kind) } < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

// ANCHOR: intermediate
/// In the intermediate process (host PID namespace): the namespaces, the root, the
/// descriptors, then the fork into the container's PID namespace. Returns in the
/// intermediate only, once the command's process is forked.
fn intermediate(plan: &EnterPlan, ends: &ChildEnds) -> Result<(), Failure> {
    if !ends.wait_for_parent().at(Step::WaitForParent)? {
        return Ok(());
    }
    crate::child::reset_signals().at(Step::ResetSignals)?;
    for (index, ns) in &plan.namespaces {
        setns(ns.as_raw_fd(), 0)
            .map_err(|errno| Failure::new(Step::JoinNamespaces, *index, errno))?;
    }
    if plan
        .namespaces
        .iter()
        .any(|(index, _)| JOINED.get(usize::from(*index)) == Some(&"user"))
    {
        // A remapped container's: host uid 0 is nobody in it, its root is a mapped id.
        crate::identity::become_root()?;
    }
    let failed = |item| Failure::new(Step::JoinNamespaces, item, Errno::last());
    // SAFETY: fchdir and chroot on a descriptor and a constant path.
    if unsafe { libc::fchdir(plan.root.as_raw_fd()) != 0 || libc::chroot(c".".as_ptr()) != 0 } {
        return Err(failed(item::ROOT));
    }
    // Children are born in the container's PID namespace from here on.
    setns(plan.pid_ns.as_raw_fd(), libc::CLONE_NEWPID)
        .map_err(|errno| Failure::new(Step::JoinNamespaces, item::PID, errno))?;
    // Nothing of the host's goes in: not the namespace files, not the root's descriptor,
    // not a descriptor of the caller's it did not hand over.
    crate::fds::close_all_but(&plan.keep).at(Step::CloseDescriptors)?;
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(failed(item::DUMPABLE));
    }
    // A fork (no new stack: copy-on-write memory, like fork(2)) whose parent is our parent.
    // SAFETY: clone with flags only; the child goes on below with a copy of our memory.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::CLONE_PARENT | libc::SIGCHLD,
            0,
            0,
            0,
            0,
        )
    };
    match pid {
        0 => {
            // SAFETY: the pid pipe is the intermediate's, nothing here uses it.
            unsafe { libc::close(plan.pid_pipe) };
            let failure = match command(plan) {
                Ok(()) => plan.exec.exec(),
                Err(failure) => failure,
            };
            ends.report(&failure);
            // SAFETY: _exit ends the command's process without running anything of ours.
            unsafe { libc::_exit(crate::failure::exit_code(&failure)) }
        }
        pid if pid > 0 => {
            let bytes = (pid as i32).to_ne_bytes();
            // SAFETY: write from a buffer on our stack to a descriptor we hold.
            unsafe { libc::write(plan.pid_pipe, bytes.as_ptr().cast(), bytes.len()) };
            Ok(())
        }
        _ => Err(failed(item::FORK)),
    }
}
// ANCHOR_END: intermediate

/// In the command's process, inside the container's PID namespace: chapter 1's last steps
/// before `execve`.
fn command(plan: &EnterPlan) -> Result<(), Failure> {
    plan.exec.enter_workdir()?;
    crate::child::set_stdio(&plan.stdio)?;
    if let Some(console) = &plan.console {
        crate::console::set_up(console)?;
    }
    crate::fds::close_on_exec_from_3().at(Step::CloseDescriptors)?;
    added(plan, ChildPhase::BeforeUser)?;
    if let Some(user) = &plan.user {
        user.apply()?;
    }
    added(plan, ChildPhase::BeforeExec)
}

/// Runs the added steps of one phase, as a container's first process does (`child.rs`).
fn added(plan: &EnterPlan, phase: ChildPhase) -> Result<(), Failure> {
    crate::steps::run_phase(&plan.steps, phase)
        .map_err(|(index, errno)| Failure::new(Step::Added, index, errno))
}
