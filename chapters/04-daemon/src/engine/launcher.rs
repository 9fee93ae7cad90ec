//! How a monitor is launched: the engine's seam between "start a container" and a process.
//!
//! containerd starts each `containerd-shim` by exec'ing the shim binary; Podman exec's
//! `conmon`. This chapter does the same: the daemon runs its own binary as
//! `PROGRAM monitor ROOT ID ATTACHERS` ([`ExecLauncher`]). A launcher is anything that makes
//! such a monitor run and hands back its report pipe (its stdout, one JSON line per event,
//! see `monitor.rs`); `final/`'s berthd plugs in a zygote that forks monitors instead, which
//! saves an `execve` per start. Whatever the launcher, the monitor is the same code.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running monitor, as its launcher hands it over.
pub struct Launched {
    /// The read end of the monitor's report pipe.
    pub report: File,
    /// The monitor process if it is our child (then the engine reaps it once its report
    /// ends); `None` if another process is its parent (a zygote).
    pub child: Option<Child>,
}

/// Launches monitors. Implementations must make every descriptor they create close-on-exec
/// (see `pipes.rs`): a container must not inherit another container's report pipe.
pub trait MonitorLauncher: Send + Sync {
    /// Runs a monitor for container `id` of the store at `root`, which waits for
    /// `attachers` attach sessions before it lets the container run.
    fn launch(&self, root: &Path, id: &str, attachers: usize) -> std::io::Result<Launched>;

    /// Called when the engine shuts down: ends what the launcher holds (the monitors run on).
    fn shutdown(&self) {}
}

/// The default launcher: exec `PROGRAM monitor ROOT ID ATTACHERS` (the daemon's own binary).
#[derive(Clone, Debug)]
pub struct ExecLauncher {
    program: PathBuf,
}

impl ExecLauncher {
    /// Launches monitors by running `program monitor ...`.
    pub fn new(program: PathBuf) -> ExecLauncher {
        ExecLauncher { program }
    }

    /// The program it runs.
    pub fn program(&self) -> &Path {
        &self.program
    }
}

// ANCHOR: exec_launcher
impl MonitorLauncher for ExecLauncher {
    fn launch(&self, root: &Path, id: &str, attachers: usize) -> std::io::Result<Launched> {
        // std makes the pipe close-on-exec; the child gets its end as fd 1 through `dup2`.
        let mut child = Command::new(&self.program)
            .arg("monitor")
            .arg(root)
            .arg(id)
            .arg(attachers.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C meant for the daemon's terminal is not for it.
            .process_group(0)
            .spawn()?;
        let stdout = child.stdout.take().map(OwnedFd::from);
        let report = stdout.ok_or_else(|| std::io::Error::other("no pipe to the monitor"))?;
        Ok(Launched {
            report: report.into(),
            child: Some(child),
        })
    }
}
// ANCHOR_END: exec_launcher
