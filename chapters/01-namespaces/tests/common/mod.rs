//! Running `ch01` (or a stand-in with the same arguments) the way a learner does.

#![allow(dead_code)] // Each test file uses a different part of this module.

pub mod checks;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// No container in these tests should live this long; a hang fails the test instead of CI.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A program that takes `ch01 run`'s arguments.
#[derive(Clone, Debug)]
pub struct Runner {
    program: PathBuf,
    /// Extra arguments before the command line's own (e.g. `setpriv` options).
    wrapper: Vec<String>,
}

/// What a run printed, and how it ended.
#[derive(Debug)]
pub struct Output {
    /// The exit code, or 128 + N when a signal killed the runner.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Runner {
    /// The real thing: the `ch01` binary of this crate.
    pub fn ch01() -> Self {
        Runner {
            program: PathBuf::from(env!("CARGO_BIN_EXE_ch01")),
            wrapper: Vec::new(),
        }
    }

    /// `unshare` + `chroot` with the same arguments: every isolation test must fail on it.
    pub fn chroot_standin() -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standin/chroot-unshare.sh");
        Runner {
            program: script,
            wrapper: Vec::new(),
        }
    }

    /// The same runner, started by `wrapper` (for example `setpriv` to drop root).
    pub fn wrapped(mut self, wrapper: &[&str]) -> Self {
        self.wrapper = wrapper.iter().map(|s| s.to_string()).collect();
        self
    }

    /// `run --rootfs <busybox fixture> OPTIONS -- COMMAND`, not yet started.
    pub fn command(&self, options: &[&str], command: &[&str]) -> Command {
        let rootfs = berth_tests::busybox_rootfs();
        let (program, args): (&Path, Vec<&str>) = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut args: Vec<&str> = rest.iter().map(String::as_str).collect();
                args.push(self.program.to_str().expect("utf-8 path"));
                (Path::new(first), args)
            }
            None => (&self.program, Vec::new()),
        };
        let mut cmd = Command::new(program);
        cmd.args(args)
            .arg("run")
            .arg("--rootfs")
            .arg(rootfs)
            .args(options)
            .arg("--")
            .args(command)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs to completion and collects the output.
    pub fn run(&self, options: &[&str], command: &[&str]) -> Output {
        let child = self
            .command(options, command)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the runner");
        finish(child)
    }
}

/// Waits for a started runner (killing it after [`TIMEOUT`]) and collects its output.
pub fn finish(mut child: Child) -> Output {
    let started = Instant::now();
    while child.try_wait().expect("polling the runner").is_none() {
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child
        .wait_with_output()
        .expect("collecting the runner's output");
    use std::os::unix::process::ExitStatusExt;
    let code = output
        .status
        .code()
        .unwrap_or_else(|| 128 + output.status.signal().unwrap_or(0));
    Output {
        code,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl Output {
    /// Fails with everything the run printed unless it exited 0.
    pub fn success(self) -> Result<Self, String> {
        if self.code == 0 {
            Ok(self)
        } else {
            Err(format!(
                "exit code {}\nstdout:\n{}\nstderr:\n{}",
                self.code, self.stdout, self.stderr
            ))
        }
    }
}
