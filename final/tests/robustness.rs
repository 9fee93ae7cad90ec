//! What a daemon must survive: clients that vanish, a crowd of clients at once, bytes that are
//! not HTTP, and its own sudden death.
//!
//! None of these is an everyday command, and each is a way real engines have lost containers
//! or hung: a `docker run` killed with its terminal must not take its container along; a
//! hundred parallel `docker run --rm` must each get their own output and leave no container
//! and no overlay mount; garbage on the socket must get a 4xx and not a dead daemon; and a
//! `kill -9` of the daemon must leave containers running, listed, logged and stoppable once it
//! is back.

mod support;

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::Duration;

use support::api::{self, status_of};
use support::registry::BusyboxRegistry;
use support::{Daemon, eventually, unique, wait_child};

fn daemon_with_busybox(label: &str) -> (Daemon, BusyboxRegistry, String) {
    let registry = BusyboxRegistry::start();
    let daemon = Daemon::builder().label(label).start();
    let image = registry.image();
    daemon.docker(&["pull", "-q", &image]).ok();
    (daemon, registry, image)
}

/// The container's `State.Status` as `docker inspect` reports it.
fn status(daemon: &Daemon, name: &str) -> String {
    daemon
        .docker(&["inspect", "-f", "{{.State.Status}}", name])
        .stdout
        .trim()
        .to_owned()
}

/// A client process killed when dropped (the test may panic while it runs).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kills an attached client once the container has printed, and checks the container lives on.
fn disconnect_then_check(daemon: &Daemon, name: &str, mut client: KillOnDrop) {
    let mut stdout = client.0.stdout.take().expect("piped stdout");
    // The first tick through the attach stream proves the client was really attached.
    let mut first = [0u8; 5];
    stdout
        .read_exact(&mut first)
        .expect("reading the attached client's output");
    assert_eq!(&first, b"tick\n");
    client.0.kill().expect("killing the client");
    let _ = client.0.wait();
    drop(stdout);

    let logged_at_kill = daemon.docker(&["logs", name]).stdout.lines().count();
    eventually(
        "the container to go on printing after its client died",
        Duration::from_secs(30),
        || daemon.docker(&["logs", name]).stdout.lines().count() > logged_at_kill + 3,
    );
    assert_eq!(status(daemon, name), "running");
    daemon.docker(&["stop", "-t", "1", name]).ok();
    assert_eq!(status(daemon, name), "exited");
    daemon.docker(&["rm", name]).ok();
}

#[test]
fn a_client_that_disconnects_mid_attach_does_not_kill_the_container() {
    let (daemon, _registry, image) = daemon_with_busybox("disconnect");
    let ticker = "while true; do echo tick; sleep 0.1; done";

    // `docker run` (attached) killed with its terminal.
    let name = unique("run-detached-by-kill");
    let client = daemon
        .docker_command(&["run", "--name", &name, &image, "sh", "-c", ticker])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting docker run");
    disconnect_then_check(&daemon, &name, KillOnDrop(client));

    // `docker attach` to a detached container, killed.
    let name = unique("attach-killed");
    daemon
        .docker(&["run", "-d", "--name", &name, &image, "sh", "-c", ticker])
        .ok();
    let client = daemon
        .docker_command(&["attach", "--no-stdin", &name])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting docker attach");
    disconnect_then_check(&daemon, &name, KillOnDrop(client));
    assert_eq!(daemon.docker(&["ps", "-a", "-q"]).ok(), "");
}

#[test]
fn a_hundred_concurrent_runs_each_get_their_own_output() {
    const RUNS: usize = 100;
    let (daemon, _registry, image) = daemon_with_busybox("hundred");
    let clients: Vec<(usize, KillOnDrop)> = (0..RUNS)
        .map(|n| {
            let child = daemon
                .docker_command(&["run", "--rm", &image, "echo", &n.to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starting docker run");
            (n, KillOnDrop(child))
        })
        .collect();
    // Read each client's pipes on threads, so that none blocks on a full pipe.
    let mut failures = Vec::new();
    let readers: Vec<_> = clients
        .into_iter()
        .map(|(n, mut client)| {
            let out = support::read_in_background(client.0.stdout.take().expect("stdout"));
            let err = support::read_in_background(client.0.stderr.take().expect("stderr"));
            (n, client, out, err)
        })
        .collect();
    for (n, mut client, out, err) in readers {
        let code = wait_child(&mut client.0, Duration::from_secs(300));
        let out = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
        let err = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
        if code != Some(0) || out != format!("{n}\n") {
            failures.push(format!(
                "run {n}: exit {code:?}, stdout {out:?}, stderr {err:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {RUNS} runs went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        daemon.docker(&["ps", "-a", "-q"]).ok(),
        "",
        "--rm left containers"
    );
    assert!(
        daemon.overlay_mounts().is_empty(),
        "overlay mounts left after {RUNS} runs: {:?}",
        daemon.overlay_mounts()
    );
}

#[test]
fn malformed_requests_get_4xx_and_the_daemon_keeps_serving() {
    let daemon = Daemon::builder().label("malformed").start();
    let socket = daemon.socket();
    let huge_header = format!(
        "GET /_ping HTTP/1.1\r\nHost: x\r\nX-Huge: {}\r\n\r\n",
        "a".repeat(2 * 1024 * 1024)
    );
    let post = |path: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\x00\x01\x02 this is not HTTP\r\n\r\n".to_vec()),
        ("no version in the request line", b"GET /_ping\r\n\r\n".to_vec()),
        ("a 2 MB header", huge_header.into_bytes()),
        ("an unknown route", b"GET /v1.50/no/such/route HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("an API version too new", b"GET /v9.99/version HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("create with broken JSON", post("/v1.50/containers/create", "{\"Image\": ")),
        ("create with a number for an image", post("/v1.50/containers/create", "{\"Image\": 5}")),
        ("exec create with broken JSON", post("/v1.50/containers/nosuch/exec", "[[[")),
        (
            "a bad Content-Length",
            b"POST /v1.50/containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n"
                .to_vec(),
        ),
        (
            "a bad chunk size",
            b"POST /v1.50/containers/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
                .to_vec(),
        ),
        ("an unknown wait condition", post("/v1.50/containers/nosuch/wait?condition=sometime", "")),
    ];
    let mut report = Vec::new();
    for (what, bytes) in &cases {
        let answer = api::send_raw(&socket, bytes);
        let status = answer.as_ref().ok().and_then(|a| status_of(a));
        let fine = status.is_some_and(|s| (400..500).contains(&s));
        if !fine {
            let shown = answer
                .map(|a| String::from_utf8_lossy(&a[..a.len().min(300)]).into_owned())
                .unwrap_or_else(|e| format!("error: {e}"));
            report.push(format!("{what}: got {status:?}: {shown:?}"));
        }
        let ping = api::request(&socket, "GET", "/_ping", &[], b"");
        assert!(
            matches!(&ping, Ok(r) if r.status == 200),
            "the daemon stopped serving after {what}: {ping:?}"
        );
    }
    assert!(
        report.is_empty(),
        "requests that did not get a 4xx:\n{}",
        report.join("\n")
    );
    // And a real client still works.
    daemon.docker(&["version"]).ok();
}

#[test]
fn kill_9_of_the_daemon_keeps_containers_logs_and_exit_codes() {
    let (mut daemon, _registry, image) = daemon_with_busybox("crash");
    let live = unique("survivor");
    let done = unique("finished");
    daemon
        .docker(&[
            "run",
            "-d",
            "--name",
            &live,
            &image,
            "sh",
            "-c",
            "echo before; while true; do sleep 0.1; done",
        ])
        .ok();
    daemon
        .docker(&[
            "run",
            "-d",
            "--name",
            &done,
            &image,
            "sh",
            "-c",
            "echo bye; exit 42",
        ])
        .ok();
    assert_eq!(daemon.docker(&["wait", &done]).ok().trim(), "42");
    eventually("the first log line", Duration::from_secs(30), || {
        daemon.docker(&["logs", &live]).stdout == "before\n"
    });

    daemon.kill9();
    daemon.restart();

    let running = daemon.docker(&["ps", "--format", "{{.Names}}"]);
    assert_eq!(
        running.ok().trim(),
        live,
        "the survivor is listed as running"
    );
    assert_eq!(status(&daemon, &live), "running");
    assert_eq!(daemon.docker(&["logs", &live]).ok(), "before\n");
    let finished = daemon.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        &done,
    ]);
    assert_eq!(finished.ok().trim(), "exited 42");
    assert_eq!(daemon.docker(&["logs", &done]).ok(), "bye\n");

    // The survivor is still under control: exec into it, then stop it.
    assert_eq!(
        daemon.docker(&["exec", &live, "echo", "still here"]).ok(),
        "still here\n"
    );
    daemon.docker(&["stop", "-t", "1", &live]).ok();
    assert_eq!(status(&daemon, &live), "exited");
    assert_eq!(daemon.docker(&["ps", "-q"]).ok(), "");
    daemon.docker(&["rm", &live, &done]).ok();
    assert!(
        daemon.overlay_mounts().is_empty(),
        "overlay mounts left: {:?}",
        daemon.overlay_mounts()
    );
}

/// The pids of `parent`'s children, and which of them are zombies.
fn children_of(parent: u32) -> Vec<(u32, bool)> {
    let tasks = std::fs::read_dir(format!("/proc/{parent}/task"))
        .into_iter()
        .flatten();
    tasks
        .flatten()
        .flat_map(|task| {
            std::fs::read_to_string(task.path().join("children"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|pid| pid.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            (pid, zombie)
        })
        .collect()
}

#[test]
fn a_container_whose_monitor_dies_is_killed_and_reaped_by_the_daemon() {
    let (daemon, _registry, image) = daemon_with_busybox("orphan");
    let name = unique("orphan");
    daemon
        .docker(&["run", "-d", "--name", &name, &image, "sleep", "1000"])
        .ok();
    let inspect = daemon.docker(&["inspect", "-f", "{{.State.Pid}}", &name]);
    let container: i32 = inspect.ok().trim().parse().expect("the container's pid");
    let monitor: i32 = std::fs::read_to_string(format!("/proc/{container}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .expect("the container's parent, its monitor");

    // The monitor dies (OOM killer, a mistaken kill -9): the container is orphaned, and the
    // daemon, a child subreaper, inherits it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    eventually(
        "the container marked exited",
        Duration::from_secs(30),
        || {
            daemon
                .docker(&["inspect", "-f", "{{.State.Status}}", &name])
                .stdout
                .trim()
                == "exited"
        },
    );
    let berthd = daemon.pid().expect("berthd runs");
    eventually(
        "the orphan killed and reaped",
        Duration::from_secs(30),
        || {
            !children_of(berthd)
                .iter()
                .any(|(pid, _)| *pid == container as u32)
        },
    );
    assert!(
        !children_of(berthd).iter().any(|(_, zombie)| *zombie),
        "zombies left under berthd: {:?}",
        children_of(berthd)
    );
    daemon.docker(&["rm", &name]).ok();
}
