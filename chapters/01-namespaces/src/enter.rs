//! `docker exec`: one more process inside a container that is already running.
//!
//! A container is a set of namespaces that its PID 1 keeps alive. Entering it means joining
//! them with `setns(2)`, given the files `/proc/PID/ns/*` of that PID 1, in an order that
//! works (the user namespace first, when there is one of its own, because it owns the others;
//! the mount namespace last, because after it the host's `/proc` is out of sight), then
//! taking the container's root directory with `chroot`, and its working directory. Two traps:
//!
//! * **The PID namespace is joined by the children only.** A process never changes its own
//!   pid; `setns` on a PID namespace decides where the *next* child is born. So the thread
//!   that calls [`enter`] joins it, clones the new process, and goes back to its own.
//! * **`setns` into a mount or user namespace needs a single-threaded caller**, which a
//!   daemon is not. The freshly cloned child is: it joins those itself.
//!
//! The rest is chapter 1's: the same sync pipes, the same PATH search and exit codes (127,
//! 126), the same user switch and terminal set-up as a container's first process.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use nix::sched::{CloneFlags, clone};
use nix::unistd::Pid;

use crate::config::ContainerConfig;
use crate::container::{Running, StartError};
use crate::exec::ExecPlan;
use crate::failure::{At, Failure, Step};
use crate::identity::UserPlan;
use crate::sync::{self, ChildEnds};

/// The namespaces an exec joins, in order (`pid` is joined by the calling thread instead).
const JOINED: &[&str] = &["user", "ipc", "uts", "net", "cgroup", "mnt"];

/// Everything the new process needs, prepared before `clone(2)`: it must not allocate.
struct EnterPlan {
    /// Open `/proc/PID/ns/*` files, in [`JOINED`] order, only those that differ from ours,
    /// each with its index in [`JOINED`] (for the failure report).
    namespaces: Vec<(u16, File)>,
    /// The container's root directory, `/proc/PID/root`, opened.
    root: File,
    exec: ExecPlan,
    user: Option<UserPlan>,
    stdio: crate::config::Stdio,
    console: Option<crate::console::Console>,
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
    let pid_ns = File::open(format!("{proc_dir}/ns/pid")).map_err(io)?;
    let our_pid_ns = File::open("/proc/thread-self/ns/pid").map_err(io)?;
    let plan = EnterPlan {
        namespaces,
        root: File::open(&checked.rootfs).map_err(io)?,
        exec: ExecPlan::new(&checked),
        user: checked.user.as_ref().map(UserPlan::new),
        stdio: checked.stdio,
        console: checked.console,
    };

    let (mut ends, child_ends) = sync::pipes().map_err(StartError::Pipes)?;
    let parent_fds = ends.raw_fds();
    let mut stack = vec![0u8; 256 * 1024];
    let plan_ref = &plan;
    // `move`: the closure owns the child's pipe ends, so they close in the parent when
    // `clone` drops it; a copy kept here would hide the child's exec (no end-of-file).
    let body = Box::new(move || {
        for fd in parent_fds {
            // SAFETY: the parent's pipe ends; the child does not use them.
            unsafe { libc::close(fd) };
        }
        match join_and_exec(plan_ref, &child_ends) {
            Ok(()) => 0,
            Err(failure) => {
                child_ends.report(&failure);
                crate::failure::exit_code(&failure) as isize
            }
        }
    });
    // Children of this thread are born in the container's PID namespace from here...
    setns(pid_ns.as_raw_fd(), libc::CLONE_NEWPID).map_err(StartError::Clone)?;
    // SAFETY: the child only makes system calls on data prepared above (no allocation).
    let cloned = unsafe { clone(body, &mut stack, CloneFlags::empty(), Some(libc::SIGCHLD)) };
    // ... and in ours again from here: this thread goes on serving the daemon.
    let restored = setns(our_pid_ns.as_raw_fd(), libc::CLONE_NEWPID);
    let pid = cloned.map_err(StartError::Clone)?;
    let running = Running::adopt(pid);
    restored.map_err(StartError::Clone)?;

    ends.release().map_err(StartError::Release)?;
    match ends.read_report().map_err(StartError::Release)? {
        None => Ok(running),
        Some(failure) => {
            let _ = running.wait();
            let message = match failure.step {
                Step::Workdir | Step::Exec => plan.exec.describe(&failure),
                Step::Console => crate::console::describe(failure.item).to_owned(),
                Step::SetUser => plan
                    .user
                    .as_ref()
                    .map_or_else(|| "setting the user".into(), |u| u.describe(failure.item)),
                Step::JoinNamespaces => match JOINED.get(usize::from(failure.item)) {
                    Some(name) => format!("joining the {name} namespace of process {target}"),
                    None => format!("entering the root directory of process {target}"),
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

fn setns(fd: RawFd, kind: libc::c_int) -> Result<(), Errno> {
    // SAFETY: setns takes a descriptor and a flag.
    if unsafe { libc::setns(fd, kind) } < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// In the new process: the namespaces, the root, then chapter 1's last steps.
fn join_and_exec(plan: &EnterPlan, ends: &ChildEnds) -> Result<(), Failure> {
    if !ends.wait_for_parent().at(Step::WaitForParent)? {
        return Ok(());
    }
    crate::child::reset_signals().at(Step::ResetSignals)?;
    for (index, ns) in &plan.namespaces {
        setns(ns.as_raw_fd(), 0)
            .map_err(|errno| Failure::new(Step::JoinNamespaces, *index, errno))?;
    }
    let root_item = JOINED.len() as u16;
    // SAFETY: fchdir and chroot on a descriptor and a constant path.
    let entered =
        unsafe { libc::fchdir(plan.root.as_raw_fd()) == 0 && libc::chroot(c".".as_ptr()) == 0 };
    if !entered {
        return Err(Failure::new(Step::JoinNamespaces, root_item, Errno::last()));
    }
    plan.exec.enter_workdir()?;
    crate::child::set_stdio(&plan.stdio)?;
    if let Some(console) = &plan.console {
        crate::console::set_up(console)?;
    }
    if let Some(user) = &plan.user {
        user.apply()?;
    }
    Err(plan.exec.exec())
}
