//! A container's life as Docker runs it, through the real docker CLI and docker-py: restart
//! policies applied by the engine (and not after the user's stop), and again when the daemon
//! starts.
//!
//! Each test starts its own daemon and registry; what a user sees (`inspect`, `ps`) is what is
//! checked.

mod support;

use std::time::Duration;

use support::registry::BusyboxRegistry;
use support::{Daemon, eventually, unique};

/// A daemon with busybox already pulled from its own registry; the registry lives as long.
fn daemon_with_busybox(label: &str) -> (Daemon, BusyboxRegistry, String) {
    let registry = BusyboxRegistry::start();
    let daemon = Daemon::builder().label(label).start();
    let image = registry.image();
    daemon.docker(&["pull", "-q", &image]).ok();
    (daemon, registry, image)
}

/// `docker inspect -f FORMAT NAME`, trimmed.
fn inspect(daemon: &Daemon, format: &str, name: &str) -> String {
    daemon
        .docker(&["inspect", "-f", format, name])
        .ok()
        .trim()
        .to_owned()
}

/// Kills a container's process from the host, as a crash would (not through the API).
fn crash(daemon: &Daemon, name: &str) {
    let pid: i32 = inspect(daemon, "{{.State.Pid}}", name)
        .parse()
        .expect("inspect gives a pid");
    assert!(pid > 0, "{name} has no pid to kill");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("killing the container's process");
}

#[test]
fn restart_policies_restart_crashes_but_not_the_users_stop() {
    let (daemon, _registry, image) = daemon_with_busybox("restart");

    // on-failure:2: two restarts of a failing command, then it stays exited.
    let failing = unique("failing");
    daemon
        .docker(&[
            "run",
            "-d",
            "--name",
            &failing,
            "--restart",
            "on-failure:2",
            &image,
            "sh",
            "-c",
            "exit 3",
        ])
        .ok();
    let limit = Duration::from_secs(20);
    eventually("on-failure:2 to give up after 2 restarts", limit, || {
        inspect(&daemon, "{{.RestartCount}} {{.State.Status}}", &failing) == "2 exited"
    });
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        inspect(
            &daemon,
            "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}} \
             {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            &failing
        ),
        "2 exited 3 on-failure:2",
        "a third restart, or the policy not in inspect"
    );

    // always: a crash (a kill from outside the API) restarts it, with a new process.
    let server = unique("always");
    daemon
        .docker(&[
            "run",
            "-d",
            "--name",
            &server,
            "--restart",
            "always",
            &image,
            "sleep",
            "1000",
        ])
        .ok();
    let first_pid = inspect(&daemon, "{{.State.Pid}}", &server);
    crash(&daemon, &server);
    eventually("the crashed container to run again", limit, || {
        let state = inspect(
            &daemon,
            "{{.RestartCount}} {{.State.Status}} {{.State.Pid}}",
            &server,
        );
        state.starts_with("1 running ") && !state.ends_with(&format!(" {first_pid}"))
    });
    let ps = daemon.docker(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        ps.ok().contains(&format!("{server} Up")),
        "docker ps does not show it up: {}",
        ps.ok()
    );

    // The user's stop is not a crash: it stays stopped.
    daemon.docker(&["stop", "-t", "1", &server]).ok();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        inspect(&daemon, "{{.RestartCount}} {{.State.Status}}", &server),
        "1 exited",
        "docker stop of an `always` container restarted it"
    );
    // Nor is the user's kill.
    let killed = unique("killed");
    daemon
        .docker(&[
            "run",
            "-d",
            "--name",
            &killed,
            "--restart",
            "always",
            &image,
            "sleep",
            "1000",
        ])
        .ok();
    daemon.docker(&["kill", &killed]).ok();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        inspect(&daemon, "{{.RestartCount}} {{.State.Status}}", &killed),
        "0 exited",
        "docker kill of an `always` container restarted it"
    );
    // A start by the user starts the count again, and crashes restart it again.
    daemon.docker(&["start", &server]).ok();
    assert_eq!(
        inspect(&daemon, "{{.RestartCount}} {{.State.Status}}", &server),
        "0 running"
    );
    crash(&daemon, &server);
    eventually(
        "the restarted container to restart after a crash",
        limit,
        || inspect(&daemon, "{{.RestartCount}} {{.State.Status}}", &server) == "1 running",
    );
    daemon
        .docker(&["rm", "-f", &server, &killed, &failing])
        .ok();
}

#[test]
fn a_daemon_start_restarts_always_and_unless_stopped_containers() {
    let (mut daemon, _registry, image) = daemon_with_busybox("restart-daemon");
    let run = |name: &str, policy: &str| {
        daemon
            .docker(&[
                "run",
                "-d",
                "--name",
                name,
                "--restart",
                policy,
                &image,
                "sleep",
                "1000",
            ])
            .ok();
    };
    let always = unique("always");
    let stopped = unique("unless-stopped");
    let crashed = unique("crashed");
    let plain = unique("plain");
    run(&always, "always");
    run(&stopped, "unless-stopped");
    run(&crashed, "unless-stopped");
    run(&plain, "no");
    daemon
        .docker(&["stop", "-t", "1", &always, &stopped, &plain])
        .ok();
    // `crashed` ends while no daemon runs: its monitor records the exit.
    daemon.kill9();
    let pid: i32 = std::fs::read_to_string(
        std::fs::read_dir(daemon.data_root().join("containers"))
            .expect("the containers directory")
            .flatten()
            .map(|entry| entry.path())
            .find(|dir| {
                std::fs::read_to_string(dir.join("config.json")).is_ok_and(|c| c.contains(&crashed))
            })
            .expect("the crashed container's directory")
            .join("state.json"),
    )
    .ok()
    .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
    .and_then(|s| s["pid"].as_i64())
    .expect("a pid in state.json") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("killing the container's process");
    std::thread::sleep(Duration::from_millis(300));
    daemon.restart();

    let status = |name: &str| inspect(&daemon, "{{.State.Status}}", name);
    eventually(
        "`always` and the crashed `unless-stopped` to run",
        Duration::from_secs(20),
        || status(&always) == "running" && status(&crashed) == "running",
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        status(&stopped),
        "exited",
        "a stopped unless-stopped container restarted"
    );
    assert_eq!(
        status(&plain),
        "exited",
        "a container without a policy restarted"
    );
    // The daemon's start lifted the user's stop of `always`: a crash restarts it again.
    crash(&daemon, &always);
    eventually(
        "`always` to restart after a crash",
        Duration::from_secs(20),
        || inspect(&daemon, "{{.RestartCount}} {{.State.Status}}", &always) == "1 running",
    );
    daemon
        .docker(&["rm", "-f", &always, &stopped, &crashed, &plain])
        .ok();
}

#[test]
fn docker_py_restart_policies_and_refused_ones() {
    let registry = BusyboxRegistry::start();
    let daemon = Daemon::builder().label("py-restart").start();
    let output = daemon.python("restart.py", &[&registry.image(), &unique("py-restart")]);
    assert_eq!(
        output.code,
        Some(0),
        "docker-py scenario restart.py failed\n--- its steps ---\n{}\n--- traceback ---\n{}",
        output.stdout,
        output.stderr
    );
    assert!(daemon.containers().is_empty(), "restart.py left containers");
}
