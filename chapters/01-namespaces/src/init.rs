//! `--init`: a tiny init process as PID 1, like `docker run --init` (which uses tini).
//!
//! The first process of a PID namespace has two duties most programs never expect:
//!
//! * **Orphans become its children.** When a process dies, its children are re-parented to
//!   the namespace's PID 1, and when they exit they stay zombies until PID 1 waits for them.
//!   A shell does that; `sleep`, a Python script or a JVM do not, and their zombies pile up.
//! * **Signals without a handler are dropped.** The kernel protects init: a SIGTERM to a PID 1
//!   that installed no handler does nothing, so `docker stop` waits its full timeout.
//!
//! With `--init` the cloned child does not exec the command itself. It forks: the command runs
//! as PID 2, an ordinary process for which SIGTERM means "terminate", and PID 1 stays behind
//! as a loop that forwards every signal it receives to the command and reaps every child. When
//! the command exits, init exits with the same code, and the kernel ends whatever is left.
//!
//! Like everything between `clone` and `exec`, this code makes no memory allocation.

use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::unistd::{ForkResult, fork};

use crate::exec::ExecPlan;
use crate::failure::{At, Failure, Step};
use crate::signals::{Escalate, forward_and_reap, forwarded_and_sigchld};
use crate::sync::ChildEnds;

// ANCHOR: init
/// Runs the command as PID 2 and stays as PID 1 until it exits; returns its exit code.
pub(crate) fn run(exec: &ExecPlan, ends: &ChildEnds) -> Result<i32, Failure> {
    // Block the signals first, so none is lost between the fork and the wait loop.
    let set = forwarded_and_sigchld();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).at(Step::Init)?;

    // SAFETY: the cloned child has a single thread, so fork cannot inherit a held lock.
    match unsafe { fork() }.at(Step::Init)? {
        ForkResult::Child => {
            // The command: unblock what init blocked, then become it.
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
            let failure = exec.exec();
            ends.report(&failure);
            // SAFETY: _exit ends this process without running anything of the parent's.
            unsafe { libc::_exit(crate::failure::exit_code(&failure)) }
        }
        ForkResult::Parent { child: command } => {
            // Only the command's copy of the report pipe may stay open: it closes on exec.
            // Nor does init keep anything else of the host's for the container's life: a
            // process in the container could reach it through /proc/1/fd (`fds.rs`).
            ends.close_report();
            crate::fds::close_all_but(&[]).at(Step::CloseDescriptors)?;
            let status = forward_and_reap(command, &set, Escalate::Never).at(Step::Init)?;
            Ok(status.code())
        }
    }
}
// ANCHOR_END: init
