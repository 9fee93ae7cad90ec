//! After a restart: adopting the monitors that still run, and correcting the states of
//! those that are gone.
//!
//! dockerd, restarted, asks containerd which containers still run (its `restore`); the
//! containers themselves never noticed, because their shims stayed. Here everything the engine
//! knows is on disk, so a restarted daemon reads each container's `state.json`: a container
//! whose monitor still runs is watched again (by pidfd, since it is not our child); one that
//! claims to run but whose monitor is gone is marked exited, and whatever is left of it killed.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::WaitPidFlag;
use nix::unistd::Pid;

use super::state::{self, RunState, Status, alive};

// ANCHOR: reconcile
/// A state that says "running" although the monitor is gone (killed, or the machine
/// rebooted) is not true any more: mark it exited, with what is known, and kill whatever is
/// left of the container, so that nothing runs that nobody watches.
pub fn reconcile(dir: &Path, mut run: RunState) -> std::io::Result<RunState> {
    if run.status != Status::Running || alive(run.monitor_pid, run.monitor_start) {
        return Ok(run);
    }
    if alive(run.pid, run.pid_start)
        && let Some(pid) = run.pid
    {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        // A daemon that is a child subreaper inherited the container when its monitor died:
        // then only we can reap it, or it stays a zombie for our whole life. If it is not our
        // child (the daemon itself was restarted meanwhile), waitpid says ECHILD at once.
        // Never block on it: look for a second at most.
        for _ in 0..100 {
            match nix::sys::wait::waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => break,
            }
        }
    }
    // The monitor may have written the exit just before it went: look once more.
    let latest = RunState::load(dir);
    if latest.status == Status::Exited {
        return Ok(latest);
    }
    run.status = Status::Exited;
    run.exit_code.get_or_insert(255);
    run.finished_at.get_or_insert_with(state::now_rfc3339);
    run.error = Some("its monitor process was gone".into());
    run.save(dir)?;
    Ok(run)
}
// ANCHOR_END: reconcile

// ANCHOR: wait_for_exit
/// Blocks until process `pid` (which started at `start`, see [`state::alive`]) has exited,
/// whether or not it is our child: only a parent can `wait` for a process, and a restarted
/// daemon is not its monitors' parent. A pidfd is a descriptor that becomes readable when its
/// process exits, for any process; where the kernel has none (before Linux 5.3) or refuses
/// one, look every half second instead.
pub fn wait_for_exit(pid: i32, start: Option<u64>) {
    // SAFETY: the syscall takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        while alive(Some(pid), start) {
            std::thread::sleep(Duration::from_millis(500));
        }
        return;
    }
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; no timeout.
    while unsafe { libc::poll(&mut poll, 1, -1) } < 0 {}
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
}
// ANCHOR_END: wait_for_exit
