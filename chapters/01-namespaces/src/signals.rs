//! A foreground container: signals go to its PID 1, and every child is reaped.
//!
//! When you press Ctrl-C in `docker run`, the CLI catches SIGINT and asks the daemon to send it
//! to the container. `ch01` is both client and runtime, so it forwards signals itself.
//!
//! Two traps this module handles:
//!
//! * **PID 1 ignores signals it has no handler for.** The kernel protects a namespace's init
//!   from signals sent by its own namespace *and* by ancestors, except SIGKILL and SIGSTOP,
//!   unless it installed a handler. `sleep` as PID 1 shrugs off a forwarded SIGTERM, exactly
//!   as it does under Docker. `docker run` passes each signal on and leaves the rest to
//!   `docker stop`, which ch01 does not have; so, as Docker Compose does, the third interrupt
//!   sends SIGKILL, which even PID 1 cannot ignore.
//! * **Zombies are ours to reap.** We reap every child, not just PID 1, and make ourselves a
//!   *child subreaper*: a process we start that orphans its own children (a helper that
//!   double-forks, say) then hands them to us, not to the host's init, which on some machines
//!   reaps lazily. Orphans *inside* the container are another matter: the kernel gives them to
//!   the container's PID 1, never to a process outside its PID namespace (see `--init`).
//!
//! The signals are received synchronously with `sigwait(2)`: they are blocked before the child
//! is cloned, so none can be lost in between, and no handler runs at an awkward moment.

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::container::{ExitStatus, Running};

// ANCHOR: forwarded
/// The signals a foreground container receives from us.
pub const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];
// ANCHOR_END: forwarded

/// After this many SIGINT/SIGTERM, the container gets SIGKILL (as Docker Compose does).
pub const INTERRUPTS_BEFORE_KILL: u32 = 3;

/// Signals blocked for [`forward_until_exit`]. Create it *before* starting the container, in
/// a program that has no other threads: a thread that does not block them would take them.
#[derive(Debug)]
pub struct BlockedSignals {
    set: SigSet,
}

impl BlockedSignals {
    /// Blocks the forwarded signals and SIGCHLD, and makes this process a child subreaper.
    pub fn block() -> Result<Self, Errno> {
        let set = forwarded_and_sigchld();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
        // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag and touches no memory.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } < 0 {
            return Err(Errno::last());
        }
        Ok(BlockedSignals { set })
    }
}

impl Drop for BlockedSignals {
    fn drop(&mut self) {
        let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&self.set), None);
    }
}

// ANCHOR: forward
/// Forwards signals to the container's PID 1 until it exits, reaping every child on the way.
pub fn forward_until_exit(
    container: &Running,
    blocked: &BlockedSignals,
) -> Result<ExitStatus, Errno> {
    forward_and_reap(container.pid(), &blocked.set)
}

/// The loop: wait for a signal in `set` (which must be blocked); on SIGCHLD reap every child,
/// on anything else pass it on to `target`, SIGKILL from the third interrupt on. Returns
/// `target`'s status once it has exited. (A container's own init, `--init`, is a program of
/// its own with the same loop: `init_program.rs`.)
fn forward_and_reap(target: Pid, set: &SigSet) -> Result<ExitStatus, Errno> {
    let mut interrupts = 0;
    loop {
        match set.wait()? {
            Signal::SIGCHLD => {
                if let Some(status) = reap_children(target)? {
                    return Ok(status);
                }
            }
            signal => {
                if matches!(signal, Signal::SIGINT | Signal::SIGTERM) {
                    interrupts += 1;
                }
                let sent = match interrupts >= INTERRUPTS_BEFORE_KILL {
                    true => Signal::SIGKILL,
                    false => signal,
                };
                // ESRCH: it exited meanwhile; its SIGCHLD is on the way.
                match kill(target, sent) {
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(errno) => return Err(errno),
                }
            }
        }
    }
}
// ANCHOR_END: forward

/// The set of signals [`forward_and_reap`] waits for: the forwarded ones and SIGCHLD.
fn forwarded_and_sigchld() -> SigSet {
    let mut set = SigSet::empty();
    for signal in FORWARDED.iter().chain([&Signal::SIGCHLD]) {
        set.add(*signal);
    }
    set
}

/// Reaps every child that has exited; returns PID 1's status once it is among them.
///
/// SIGCHLD is not queued: several children exiting together raise it once, so each time we
/// reap until nothing more is waiting.
fn reap_children(pid1: Pid) -> Result<Option<ExitStatus>, Errno> {
    let mut pid1_status = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(pid1_status),
            Ok(status) => {
                if let Some(exit) = ExitStatus::from_wait(status, pid1) {
                    pid1_status = Some(exit);
                }
            }
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
}
