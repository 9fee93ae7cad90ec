//! The engine's seams (`engine/extension.rs`), proved with a test extension: the daemon in
//! `tests/fixtures/marker_daemon.rs` prepares a marker directory per container, bind-mounts its file into
//! the container and records the container's pid from a parent-side step.

mod daemon_support;

use std::path::PathBuf;

use berth_daemon::http::ClientRequest;
use daemon_support::Daemon;

const MARKER_DAEMON: &str = env!("CARGO_BIN_EXE_ch04-marker-daemon");

/// A marker daemon, and the directory its extension keeps its resources in (removed when
/// the test ends, after the daemon).
fn marker_daemon(label: &str) -> (Daemon, tempfile::TempDir, PathBuf) {
    let markers = berth_tests::test_dir(&format!("ch04-{label}-markers"));
    let path = markers.path().to_owned();
    let env = vec![("BERTH_MARKERS".to_owned(), path.clone())];
    let daemon = Daemon::start_program(label, MARKER_DAEMON.as_ref(), env);
    (daemon, markers, path)
}

fn id_of(daemon: &Daemon, name: &str) -> String {
    let (status, body) = daemon.api(&ClientRequest::get(&format!("/containers/{name}/json")));
    assert_eq!(status, 200, "{body}");
    let inspect: serde_json::Value = serde_json::from_str(&body).unwrap();
    inspect["Id"].as_str().unwrap().to_owned()
}

#[test]
fn an_extension_adds_steps_and_its_resources_live_as_long_as_the_container() {
    let (daemon, _dir, markers) = marker_daemon("seams");

    // The child-side step: the marker file is bind-mounted at /marker, read-only.
    let out = daemon.run(&[
        "run",
        "--name",
        "marked",
        "busybox",
        "sh",
        "-c",
        "cat /marker; touch /marker 2>/dev/null || echo read-only",
    ]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "marker of marked\nread-only\n"),
        "{}",
        out.stderr
    );
    // The parent-side step ran with the container's host pid.
    let id = id_of(&daemon, "marked");
    let dir = markers.join(&id);
    let pid = std::fs::read_to_string(dir.join("pid")).expect("the pid was recorded");
    let state = berth_images::state::RunState::load(&daemon.root().join("containers").join(&id));
    assert_eq!(pid.parse::<i32>().ok(), state.pid);
    // The resource outlives the run, and goes with the container.
    assert!(dir.is_dir());
    assert_eq!(daemon.run(&["rm", "marked"]).code, 0);
    assert!(!dir.exists(), "released after rm");

    // A failed start (a missing command) releases what was prepared for it.
    let create = ClientRequest::post("/containers/create")
        .query("name", "broken")
        .json(&serde_json::json!({"Image": "busybox", "Cmd": ["no-such-command"]}))
        .unwrap();
    assert_eq!(daemon.api(&create).0, 201);
    let id = id_of(&daemon, "broken");
    let (status, body) = daemon.api(&ClientRequest::post("/containers/broken/start"));
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("executable file not found"), "{body}");
    assert!(!markers.join(&id).exists(), "released after a failed start");
    assert_eq!(daemon.run(&["rm", "broken"]).code, 0);
}

/// A daemon killed with -9 cannot release anything: the next one sweeps the orphans.
#[test]
fn orphaned_resources_are_swept_when_the_daemon_restarts() {
    let (mut daemon, _dir, markers) = marker_daemon("orphans");
    for name in ["doomed", "kept"] {
        let out = daemon.run(&["run", "--name", name, "busybox", "true"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let (doomed, kept) = (id_of(&daemon, "doomed"), id_of(&daemon, "kept"));
    assert!(markers.join(&doomed).is_dir() && markers.join(&kept).is_dir());

    // The daemon dies between a removal and its release: the container is gone from the
    // store, its resource is not.
    daemon.kill9();
    let container = daemon.root().join("containers").join(&doomed);
    std::fs::remove_dir_all(&container).unwrap();
    daemon.restart();
    assert!(
        !markers.join(&doomed).exists(),
        "the orphan was swept at open"
    );
    assert!(
        markers.join(&kept).is_dir(),
        "a live container's resource stays"
    );
    assert_eq!(daemon.run(&["rm", "kept"]).code, 0);
    assert!(!markers.join(&kept).exists());
}
