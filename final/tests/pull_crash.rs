//! berthd killed during a `docker pull`, at the worst moments: after a restart, no half image is
//! listed and no layer, blob or work directory is left in its data root.
//!
//! The kill is exact: `strace` attaches to the running daemon, makes one chosen system call
//! fail and sends SIGKILL at that very call, as the OOM killer or a power cut would.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_tests::kill_at::names_in;
use support::Daemon;
use support::registry::BusyboxRegistry;

/// Attaches strace to the daemon: the `when`th call of `syscalls` (on `path`, if given) fails
/// and kills it. Returns the strace process, which ends with the daemon.
fn kill_daemon_at(daemon: &Daemon, syscalls: &str, path: Option<&Path>, when: u32) -> KillOnDrop {
    let pid = daemon.pid().expect("the daemon runs");
    let mut strace = Command::new("strace");
    strace
        .args(berth_tests::kill_at::strace_kill_args(syscalls, path, when))
        .arg("-p")
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = strace
        .spawn()
        .expect("running strace (Debian package strace)");
    // strace has attached once every thread of the daemon shows a tracer.
    let status = format!("/proc/{pid}/status");
    for _ in 0..500 {
        let traced = std::fs::read_to_string(&status)
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("TracerPid:") && !l.ends_with("\t0"))
            })
            .unwrap_or(false);
        if traced {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    KillOnDrop(child)
}

/// strace, stopped if the test fails before the daemon died.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kills the daemon during a pull of busybox with `kill`, checks with `killed` that it died where
/// it should, restarts it and checks the store.
fn pull_killed_then_restarted(
    label: &str,
    kill: impl FnOnce(&Daemon, &BusyboxRegistry) -> KillOnDrop,
    killed: impl FnOnce(&Path),
) {
    let registry = BusyboxRegistry::start();
    let mut daemon = Daemon::builder().label(label).start();
    let image = registry.image();
    let mut strace = kill(&daemon, &registry);
    let pull = daemon.docker(&["pull", &image]);
    assert_ne!(pull.code, Some(0), "the pull survived: {}", pull.stdout);
    let _ = strace.0.wait();
    daemon.kill9(); // Reaps it.
    killed(&daemon.data_root());
    daemon.restart();
    let images = daemon.docker(&["images", "-q"]);
    assert_eq!(
        images.stdout.trim(),
        "",
        "a half image is listed after the restart"
    );
    let root = daemon.data_root();
    for dir in ["tmp", "layers", "blobs/sha256"] {
        assert_eq!(
            names_in(&root.join(dir)),
            Vec::<String>::new(),
            "{dir}/ holds leftovers after the restart"
        );
    }
    daemon.docker(&["pull", &image]).ok();
    daemon.docker(&["run", "--rm", &image, "true"]).ok();
}

#[test]
fn killed_in_the_middle_of_unpacking() {
    // `openat2` resolves each tar entry's directory: only unpacking calls it.
    pull_killed_then_restarted(
        "pull-crash-unpack",
        |daemon, _| kill_daemon_at(daemon, "openat2", None, 20),
        |root| {
            let tmp = names_in(&root.join("tmp"));
            assert!(
                tmp.iter().any(|name| name.starts_with("layer-")),
                "killed before any layer was being unpacked: {tmp:?}"
            );
        },
    );
}

#[test]
fn killed_after_the_last_layer_before_the_image_record() {
    pull_killed_then_restarted(
        "pull-crash-record",
        |daemon, registry| {
            let manifest: serde_json::Value = serde_json::from_slice(
                &registry
                    .registry()
                    .manifest(&format!("{}:latest", support::registry::REPOSITORY)),
            )
            .unwrap();
            let config = manifest["config"]["digest"].as_str().unwrap();
            let record: PathBuf = daemon
                .data_root()
                .join("images")
                .join(format!("{}.json", config.trim_start_matches("sha256:")));
            kill_daemon_at(daemon, "rename,renameat,renameat2", Some(&record), 1)
        },
        |root| {
            assert!(
                !names_in(&root.join("layers")).is_empty(),
                "killed before the layers were moved into place"
            );
            assert!(
                names_in(&root.join("images"))
                    .iter()
                    .all(|n| !n.ends_with(".json"))
            );
        },
    );
}
