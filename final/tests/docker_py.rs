//! The docker Python SDK (docker-py 7.1.0) drives berthd: a second client we did not write,
//! with habits of its own (an unversioned `/version` first, follow-logs instead of attach in
//! `containers.run`, hijacked exec streams read through a buffered socket; see
//! `/work/shared/docker-api.md`).
//!
//! Each scenario is a Python script under `tests/py/` that asserts as it goes; the test runs it
//! with the SDK's virtualenv against a daemon of its own and shows the script's traceback when
//! it fails.

mod support;

use support::registry::BusyboxRegistry;
use support::{Daemon, unique};

/// Runs `tests/py/SCRIPT IMAGE EXTRA...` against a fresh daemon and registry; asserts it passed.
fn scenario(label: &str, script: &str, extra: &[&str]) -> Daemon {
    scenario_on(Daemon::builder().label(label), script, extra)
}

/// [`scenario`] on a daemon started from `builder`.
fn scenario_on(builder: support::DaemonBuilder, script: &str, extra: &[&str]) -> Daemon {
    let registry = BusyboxRegistry::start();
    let daemon = builder.start();
    let image = registry.image();
    let mut args = vec![image.as_str()];
    args.extend_from_slice(extra);
    daemon.python_passes(script, &args);
    daemon
}

#[test]
fn docker_py_version_pull_and_list_images() {
    scenario("py-images", "version_and_images.py", &[]);
}

#[test]
fn docker_py_run_with_remove_returns_the_output() {
    let daemon = scenario("py-run", "run_remove.py", &[]);
    assert!(
        daemon.containers().is_empty(),
        "remove=True left containers"
    );
    assert!(
        daemon.overlay_mounts().is_empty(),
        "remove=True left overlay mounts: {:?}",
        daemon.overlay_mounts()
    );
}

#[test]
fn docker_py_detached_logs_exec_stop_remove() {
    let name = unique("py-detached");
    let daemon = scenario("py-detached", "detached.py", &[&name]);
    assert!(
        daemon.containers().is_empty(),
        "remove() left the container"
    );
}

#[test]
fn docker_py_cap_add_cap_drop_and_privileged() {
    let daemon = scenario("py-security", "security.py", &[]);
    assert!(
        daemon.containers().is_empty(),
        "the scenario left containers"
    );
}

#[test]
fn docker_py_devices_device_cgroup_rules_and_group_add() {
    let disk = berth_tests::loop_device::LoopDevice::attach();
    let marker = berth_tests::loop_device::LoopDevice::MARKER;
    let daemon = scenario("py-devices", "devices.py", &[&disk.path, marker]);
    assert!(
        daemon.containers().is_empty(),
        "the scenario left containers"
    );
}

#[test]
fn docker_py_under_userns_remap() {
    const FIRST: u32 = 3_900_000;
    let etc = tempfile::tempdir().expect("a directory for subuid and subgid");
    for file in ["subuid", "subgid"] {
        std::fs::write(etc.path().join(file), format!("berth-py:{FIRST}:65536\n"))
            .expect("writing the test's subordinate ids");
    }
    let builder = Daemon::builder()
        .label("py-userns")
        .userns_remap("berth-py", etc.path());
    let daemon = scenario_on(builder, "userns.py", &[&FIRST.to_string()]);
    assert!(
        daemon.containers().is_empty(),
        "the scenario left containers"
    );
}

#[test]
fn docker_py_mem_limit_and_pids_limit() {
    let daemon = scenario("py-limits", "limits.py", &[]);
    assert!(
        daemon.containers().is_empty(),
        "the scenario left containers"
    );
}

/// stats, pause/unpause, top and update (chapter 5's live verbs). The cgroups guard thaws
/// and removes what a failed scenario left (a frozen container would not even die).
#[test]
fn docker_py_stats_pause_top_update() {
    let t = support::cgroups::daemon_with_busybox("py-live");
    let output = t.daemon.python("live.py", &[&t.image]);
    assert_eq!(
        output.code,
        Some(0),
        "docker-py scenario live.py failed\n--- its steps ---\n{}\n--- traceback ---\n{}",
        output.stdout,
        output.stderr
    );
    assert_eq!(t.cgroups.children(), Vec::<std::path::PathBuf>::new());
}

#[test]
fn docker_py_volumes_and_mounts() {
    let daemon = scenario("py-volumes", "volumes.py", &[]);
    assert!(
        daemon.containers().is_empty(),
        "remove=True left containers"
    );
}

#[test]
fn docker_py_archives_export_and_import() {
    let daemon = scenario("py-files", "files.py", &[]);
    assert!(
        daemon.containers().is_empty(),
        "the scenario left containers"
    );
}

#[test]
fn docker_py_networks_create_run_connect() {
    // In a network namespace of its own, with the image loaded (no registry reachable there).
    let daemon = Daemon::builder()
        .label("py-networks")
        .in_netns("10.77.0.1/24")
        .start();
    daemon.load_busybox();
    let output = daemon.python("networks.py", &["busybox:latest"]);
    assert_eq!(
        output.code,
        Some(0),
        "docker-py scenario networks.py failed\n--- its steps ---\n{}\n--- traceback ---\n{}",
        output.stdout,
        output.stderr
    );
}

#[test]
fn docker_py_published_ports() {
    let daemon = Daemon::builder()
        .label("py-ports")
        .in_netns("10.78.0.1/24")
        .start();
    daemon.load_busybox();
    let output = daemon.python("ports.py", &["busybox:latest"]);
    assert_eq!(
        output.code,
        Some(0),
        "docker-py scenario ports.py failed\n--- its steps ---\n{}\n--- traceback ---\n{}",
        output.stdout,
        output.stderr
    );
    let port = output
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("port: "))
        .unwrap_or_else(|| panic!("no port printed: {}", output.stdout));
    // From the daemon's namespace: the random port on its bridge address (DNAT), the fixed
    // one on its loopback (the proxy). Each answers with its container's hostname.
    for (name, url) in [
        ("pyrandom", format!("http://10.78.0.1:{port}/hostname")),
        ("pyfixed", "http://127.0.0.1:18080/hostname".to_owned()),
    ] {
        let hostname = daemon.docker(&["inspect", "-f", "{{.Config.Hostname}}", name]);
        let fetch = daemon.in_netns(&[
            "curl",
            "-sS",
            "--retry",
            "20",
            "--retry-delay",
            "0",
            "--retry-connrefused",
            "--max-time",
            "5",
            &url,
        ]);
        assert_eq!(fetch.ok(), hostname.ok(), "{url}");
    }
    daemon.docker(&["rm", "-f", "pyrandom", "pyfixed"]).ok();
}
