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
    assert!(
        std::path::Path::new(support::PYTHON).is_file(),
        "the docker SDK's virtualenv is missing at {}: run `sudo bash scripts/install-deps.sh`",
        support::PYTHON
    );
    let registry = BusyboxRegistry::start();
    let daemon = builder.start();
    let image = registry.image();
    let mut args = vec![image.as_str()];
    args.extend_from_slice(extra);
    let output = daemon.python(script, &args);
    assert_eq!(
        output.code,
        Some(0),
        "docker-py scenario {script} failed\n--- its steps ---\n{}\n--- traceback ---\n{}",
        output.stdout,
        output.stderr
    );
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

#[test]
fn docker_py_volumes_and_mounts() {
    let daemon = scenario("py-volumes", "volumes.py", &[]);
    assert!(
        daemon.containers().is_empty(),
        "remove=True left containers"
    );
}
