//! A real dockerd (Debian's 20.10) beside berthd, as the reference for answers and formats.
//!
//! It runs with a data root, exec root, pid file and socket of its own under a test
//! directory, with no bridge and no iptables, in a network namespace of its own
//! (`unshare -n`), so it touches nothing of the host's networking. `docker-init -s` (tini as a
//! subreaper) is its parent: the machine's PID 1 reaps exited shims late. Dropping it stops
//! dockerd, kills what is left of its processes, unmounts and removes its directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{DOCKER, Output, cleanup, describe, isolate_env, run};

/// A running dockerd of the test's own.
pub struct RealDockerd {
    dir: tempfile::TempDir,
    child: Child,
}

impl RealDockerd {
    /// Starts one, or `None` (with a note) if dockerd is not installed here.
    pub fn start(label: &str) -> Option<RealDockerd> {
        if !Path::new("/usr/sbin/dockerd").exists() || !Path::new("/usr/bin/docker-init").exists() {
            eprintln!("dockerd or docker-init is not installed: skipping the comparison");
            return None;
        }
        let dir = berth_tests::test_dir(&format!("dockerd-{label}"));
        let path = dir.path();
        let log = std::fs::File::create(path.join("dockerd.log")).expect("creating dockerd's log");
        let child = Command::new("unshare")
            .args(["-n", "--", "docker-init", "-s", "--", "dockerd"])
            .arg("--data-root")
            .arg(path.join("root"))
            .arg("--exec-root")
            .arg(path.join("exec"))
            .arg("--pidfile")
            .arg(path.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", path.join("docker.sock").display()))
            .args(["--iptables=false", "--ip-forward=false", "--ip-masq=false"])
            .args(["--bridge=none"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup of the log"))
            .stderr(log)
            .spawn()
            .expect("starting dockerd");
        let dockerd = RealDockerd { dir, child };
        let started = Instant::now();
        while !dockerd.docker(&["version"]).stdout.contains("Server") {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "dockerd never answered; its log:\n{}",
                std::fs::read_to_string(dockerd.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Some(dockerd)
    }

    /// Its directory (for files to load and save).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// Runs `docker ARGS` against this dockerd.
    pub fn docker(&self, args: &[&str]) -> Output {
        let mut command = Command::new(DOCKER);
        command.args(args).stdin(Stdio::null());
        isolate_env(&mut command, self.dir.path());
        command
            .env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env("DOCKER_CLI_HINTS", "false");
        run(command, &describe("docker (dockerd)", args), None)
    }
}

impl Drop for RealDockerd {
    fn drop(&mut self) {
        // SIGTERM through docker-init, which forwards it; dockerd stops containerd with it.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        cleanup::kill_processes_of(self.dir.path());
        cleanup::unmount_under(self.dir.path());
    }
}
