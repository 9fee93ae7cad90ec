//! A real `ch04 daemon` per test, on its own socket and store, killed and cleaned up on drop.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_daemon::http::{Client, ClientRequest};

pub const CH04: &str = env!("CARGO_BIN_EXE_ch04");

/// A daemon process with its own store (busybox loaded) and socket.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    /// The daemon's program (`ch04`, or a test daemon) and its environment.
    program: PathBuf,
    env: Vec<(String, PathBuf)>,
}

/// What a client command printed.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Daemon {
    /// Loads busybox into a fresh store and starts a daemon on it.
    pub fn start(label: &str) -> Daemon {
        Daemon::start_program(label, Path::new(CH04), Vec::new())
    }

    /// As [`Daemon::start`], with another daemon program that takes `daemon --root R
    /// --socket S` as `ch04` does, and extra environment variables.
    pub fn start_program(label: &str, program: &Path, env: Vec<(String, PathBuf)>) -> Daemon {
        let dir = berth_tests::test_dir(&format!("ch04-{label}"));
        let store = berth_images::store::Store::open(dir.path().join("store")).unwrap();
        let busybox = berth_tests::fixtures_dir().join("images/busybox-oci");
        berth_images::load::load(&store, &busybox).expect("loading busybox");
        let mut daemon = Daemon {
            dir,
            child: None,
            program: program.to_owned(),
            env,
        };
        daemon.restart();
        daemon
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("ch04.sock")
    }

    /// Starts (again) the daemon process and waits until it answers.
    pub fn restart(&mut self) {
        let child = Command::new(&self.program)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .arg("daemon")
            .arg("--root")
            .arg(self.root())
            .arg("--socket")
            .arg(self.socket())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the daemon");
        self.child = Some(child);
        let started = Instant::now();
        while self.client().get("/_ping").is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the daemon never answered"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the daemon with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn client(&self) -> Client {
        Client::new(self.socket())
    }

    /// `ch04 -H unix://SOCKET ARGS...`
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(CH04);
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("running ch04");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// A raw API call: (status, body as JSON or text).
    pub fn api(&self, request: &ClientRequest) -> (u16, String) {
        let response = self.client().send(request).expect("calling the daemon");
        let status = response.status();
        (status, response.text().unwrap_or_default())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Containers outlive the daemon by design: remove them first, then stop it.
        if self.child.is_some() {
            let list: Vec<serde_json::Value> = self
                .client()
                .send(&ClientRequest::get("/containers/json").query("all", "1"))
                .and_then(|r| r.json())
                .unwrap_or_default();
            for c in list {
                let id = c["Id"].as_str().unwrap_or_default();
                let _ = self
                    .client()
                    .send(&ClientRequest::delete(&format!("/containers/{id}")).query("force", "1"));
            }
        }
        self.kill9();
        kill_leftovers(&self.root());
    }
}

/// Kills monitors and containers a test left behind: the containers by the pids in their
/// state files, the monitors by their command lines in /proc.
pub fn kill_leftovers(root: &Path) {
    for dir in std::fs::read_dir(root.join("containers"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let state = berth_daemon::engine::state::RunState::load(&dir.path());
        if let Some(pid) = state.pid
            && berth_daemon::engine::state::alive(state.pid, state.pid_start)
        {
            sigkill(pid);
        }
    }
    kill_leftovers_monitors_only(root);
}

/// Kills only the monitors of a store, leaving their containers orphaned (a crash test).
pub fn kill_leftovers_monitors_only(root: &Path) {
    let needle = root.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(" monitor ")
            && cmdline.contains(&needle)
            && let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>()
        {
            sigkill(pid);
        }
    }
}

fn sigkill(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Polls `check` for up to ten seconds.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
