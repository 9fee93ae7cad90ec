//! The daemon end to end: the `ch04` client and raw HTTP against a real `ch04 daemon`.

mod daemon_support;

use std::io::Read;
use std::time::{Duration, Instant};

use berth_daemon::http::ClientRequest;
use daemon_support::{Daemon, eventually};

#[test]
fn run_streams_output_and_exits_with_the_containers_code() {
    let daemon = Daemon::start("run");
    let out = daemon.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (3, "out\n", "err\n")
    );
    // --rm: nothing left.
    assert_eq!(daemon.run(&["ps", "-a"]).stdout.lines().count(), 1);
    let out = daemon.run(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(out.code, 127, "{}", out.stderr);
    assert!(
        out.stderr.contains("executable file not found"),
        "{}",
        out.stderr
    );
}

#[test]
fn detached_containers_outlive_the_client() {
    let daemon = Daemon::start("detach");
    let script = "for i in 1 2 3; do echo tick $i; sleep 0.2; done";
    let out = daemon.run(&[
        "run", "-d", "--name", "ticker", "busybox", "sh", "-c", script,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim().len(), 64, "prints the id: {}", out.stdout);
    let ps = daemon.run(&["ps"]).stdout;
    assert!(ps.contains("ticker") && ps.contains("Up"), "{ps}");
    // Follow the logs while it prints: they end when it exits.
    let started = Instant::now();
    let logs = daemon.run(&["logs", "-f", "ticker"]);
    assert_eq!(logs.stdout, "tick 1\ntick 2\ntick 3\n");
    assert!(started.elapsed() < Duration::from_secs(5));
    let ps = daemon.run(&["ps", "-a"]).stdout;
    assert!(ps.contains("Exited (0)"), "{ps}");
    // Logs stay after the exit; --tail.
    assert_eq!(
        daemon.run(&["logs", "--tail", "1", "ticker"]).stdout,
        "tick 3\n"
    );
    assert_eq!(daemon.run(&["rm", "ticker"]).stdout, "ticker\n");
}

#[test]
fn stop_kill_and_remove() {
    let daemon = Daemon::start("stop");
    // A container that handles SIGTERM stops at once with its own code.
    let trap = "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done";
    daemon.run(&["run", "-d", "--name", "polite", "busybox", "sh", "-c", trap]);
    eventually("polite to be ready", || {
        daemon.run(&["logs", "polite"]).stdout == "ready\n"
    });
    let started = Instant::now();
    assert_eq!(daemon.run(&["stop", "-t", "5", "polite"]).code, 0);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(daemon.run(&["ps", "-a"]).stdout.contains("Exited (42)"));

    // PID 1 without a handler ignores SIGTERM: SIGKILL after the grace period (128 + 9).
    daemon.run(&["run", "-d", "--name", "deaf", "busybox", "sleep", "60"]);
    let started = Instant::now();
    assert_eq!(daemon.run(&["stop", "-t", "1", "deaf"]).code, 0);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(daemon.run(&["ps", "-a"]).stdout.contains("Exited (137)"));

    // Removing a running container needs force; kill works on it.
    daemon.run(&["run", "-d", "--name", "busy", "busybox", "sleep", "60"]);
    let out = daemon.run(&["rm", "busy"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("container is running: stop the container"),
        "{}",
        out.stderr
    );
    assert_eq!(daemon.run(&["kill", "-s", "KILL", "busy"]).code, 0);
    eventually("busy to exit", || {
        daemon
            .run(&["ps", "-a"])
            .stdout
            .contains("Exited (137)   busy")
    });
    daemon.run(&["run", "-d", "--name", "busy2", "busybox", "sleep", "60"]);
    assert_eq!(daemon.run(&["rm", "-f", "busy2"]).code, 0);
}

/// `wait` answers its head at once, the body when the container exits; two clients at once.
#[test]
fn wait_and_two_clients() {
    let daemon = Daemon::start("wait");
    let out = daemon.run(&[
        "run",
        "-d",
        "--name",
        "waited",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; exit 5",
    ]);
    assert_eq!(out.code, 0);
    let client = daemon.client();
    let started = Instant::now();
    let response = client
        .send(&ClientRequest::post("/containers/waited/wait"))
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "the head came at once"
    );
    let mut body = String::new();
    std::thread::scope(|s| {
        let other = s.spawn(|| daemon.run(&["run", "--rm", "busybox", "echo", "meanwhile"]));
        response.into_body().read_to_string(&mut body).unwrap();
        assert_eq!(other.join().unwrap().stdout, "meanwhile\n");
    });
    assert_eq!(body.trim(), r#"{"StatusCode":5}"#);
}

/// Bad requests get a 4xx with a JSON message, and the daemon keeps serving.
#[test]
fn bad_api_requests() {
    let daemon = Daemon::start("bad");
    let cases: Vec<(&str, ClientRequest)> = vec![
        (
            "not JSON",
            ClientRequest::post("/containers/create").body("application/json", b"{oops".to_vec()),
        ),
        (
            "wrong type",
            ClientRequest::post("/containers/create")
                .body("application/json", br#"{"Image": 5}"#.to_vec()),
        ),
        (
            "unknown image",
            ClientRequest::post("/containers/create")
                .body("application/json", br#"{"Image": "nosuch"}"#.to_vec()),
        ),
        (
            "bad reference",
            ClientRequest::post("/containers/create")
                .body("application/json", br#"{"Image": "Bad:Ref"}"#.to_vec()),
        ),
        (
            "bad env",
            ClientRequest::post("/containers/create").body(
                "application/json",
                br#"{"Image": "busybox", "Env": ["NOEQUALS"]}"#.to_vec(),
            ),
        ),
        (
            "name with a path",
            ClientRequest::post("/containers/create")
                .query("name", "../x")
                .body("application/json", br#"{"Image": "busybox"}"#.to_vec()),
        ),
        (
            "unknown container",
            ClientRequest::post("/containers/nosuch/start"),
        ),
        (
            "bad signal",
            ClientRequest::post("/containers/nosuch/kill").query("signal", "NOPE"),
        ),
        (
            "bad stop time",
            ClientRequest::post("/containers/x/stop").query("t", "soon"),
        ),
        ("pull without image", ClientRequest::post("/images/create")),
        (
            "unknown image removal",
            ClientRequest::delete("/images/nosuch"),
        ),
    ];
    let mut report = String::new();
    for (name, request) in cases {
        let (status, body) = daemon.api(&request);
        report.push_str(&format!("{name}: {status} {body}\n"));
    }
    insta::assert_snapshot!("bad_api_requests", report);
    // Names in use.
    daemon.run(&["run", "-d", "--name", "taken", "busybox", "sleep", "30"]);
    let (status, _) = daemon.api(
        &ClientRequest::post("/containers/create")
            .query("name", "taken")
            .body("application/json", br#"{"Image": "busybox"}"#.to_vec()),
    );
    assert_eq!(status, 409);
    assert_eq!(
        daemon.api(&ClientRequest::get("/_ping")),
        (200, "OK".into())
    );
}

/// kill -9 of the daemon while a container runs: after a restart the container is still
/// known, its exit is recorded when it comes, and its logs are whole.
#[test]
fn a_restarted_daemon_finds_its_containers() {
    let mut daemon = Daemon::start("restart");
    daemon.run(&[
        "run",
        "-d",
        "--name",
        "survivor",
        "busybox",
        "sh",
        "-c",
        "echo before; sleep 1; echo after; exit 7",
    ]);
    daemon.kill9();
    daemon.restart();
    let ps = daemon.run(&["ps"]).stdout;
    assert!(ps.contains("survivor") && ps.contains("Up"), "{ps}");
    eventually("survivor to exit", || {
        daemon.run(&["ps", "-a"]).stdout.contains("Exited (7)")
    });
    assert_eq!(daemon.run(&["logs", "survivor"]).stdout, "before\nafter\n");

    // A container whose monitor died with the daemon is marked exited, and killed.
    daemon.run(&["run", "-d", "--name", "orphan", "busybox", "sleep", "60"]);
    daemon.kill9();
    daemon_support::kill_leftovers_monitors_only(&daemon.root());
    daemon.restart();
    let ps = daemon.run(&["ps", "-a"]).stdout;
    assert!(ps.contains("Exited (255)   orphan"), "{ps}");
    // Nothing of it is left running: its PID 1 was killed when the daemon took stock. Inspect
    // says `Pid: 0` for a stopped container, as Docker's does: the pid it had is on disk.
    let (_, inspect) = daemon.api(&ClientRequest::get("/containers/orphan/json"));
    let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let id = inspect["Id"].as_str().unwrap();
    let dir = daemon.root().join("containers").join(id);
    let pid = berth_daemon::engine::state::RunState::load(&dir)
        .pid
        .unwrap_or(0);
    assert!(pid > 0, "{inspect}");
    eventually("the orphan's process to be gone", || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.is_empty()
            || stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
    });
}

/// A pull killed half-way (the daemon dies): no partial image, nothing left in tmp/.
#[test]
fn a_pull_killed_half_way_leaves_no_image() {
    use berth_tests::proxy::{Fault, FaultRule, FaultyProxy};
    let registry = berth_tests::registry::Registry::anonymous();
    let layered = berth_tests::registry::images_dir().join("layered-oci");
    registry.seed(&layered, "layered:latest", "x/layered:1");
    let proxy = FaultyProxy::start(&registry);
    // Blobs fail, so the pull keeps retrying: it is in the middle when the daemon is killed.
    proxy.add(FaultRule::new("/blobs/", Fault::Drop));
    let mut daemon = Daemon::start("pull-kill");
    let reference = format!("{}/x/layered:1", proxy.host());
    let mut pull = daemon
        .command(&["pull", &reference])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("the pull to be under way", || {
        proxy
            .requests()
            .iter()
            .any(|r| r.target.contains("/blobs/"))
    });
    daemon.kill9();
    let _ = pull.wait();
    daemon.restart();
    let images = daemon.run(&["images"]).stdout;
    assert!(!images.contains("layered"), "{images}");
    assert_eq!(
        std::fs::read_dir(daemon.root().join("tmp"))
            .unwrap()
            .count(),
        0
    );
    // And the same pull works once the registry behaves.
    proxy.clear_faults();
    let out = daemon.run(&["pull", &reference]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("Status: Downloaded newer image"),
        "{}",
        out.stdout
    );
}

/// One daemon per store: a second one, even on another socket, refuses to start.
#[test]
fn a_second_daemon_on_the_same_store_refuses() {
    let daemon = Daemon::start("second");
    let out = std::process::Command::new(daemon_support::CH04)
        .arg("daemon")
        .arg("--root")
        .arg(daemon.root())
        .arg("--socket")
        .arg(daemon.dir.path().join("other.sock"))
        .output()
        .expect("running a second daemon");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another daemon is already using the store"),
        "{stderr}"
    );
    assert!(!daemon.dir.path().join("other.sock").exists());
}

/// A container holds no descriptor of the pipes its monitor made beyond its own stdio: every
/// pipe the engine makes is close-on-exec (`engine/pipes.rs`). Without that the container
/// would hold its stdout and stderr pipes' other ends too (and, with `-i`, its stdin pipe's
/// write end, so that it never read end-of-file).
#[test]
fn a_container_holds_only_its_own_ends_of_its_pipes() {
    let daemon = Daemon::start("fds");
    let out = daemon.run(&["run", "--rm", "busybox", "ls", "-l", "/proc/self/fd"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // `N -> pipe:[INODE]`, one line per descriptor.
    let targets: Vec<(&str, &str)> = out
        .stdout
        .lines()
        .filter_map(|line| line.split_once(" -> "))
        .map(|(left, target)| (left.rsplit(' ').next().unwrap_or(""), target))
        .collect();
    for fd in ["1", "2"] {
        let (_, pipe) = targets.iter().find(|(n, _)| *n == fd).expect("stdio");
        let holders: Vec<_> = targets.iter().filter(|(_, t)| t == pipe).collect();
        assert_eq!(
            holders.len(),
            1,
            "{pipe} held more than once: {}",
            out.stdout
        );
    }
}
