//! A container's life as Docker runs it, through the real docker CLI and docker-py: restart
//! policies applied by the engine (and not after the user's stop), and again when the daemon
//! starts.
//!
//! Each test starts its own daemon and registry; what a user sees (`inspect`, `ps`) is what is
//! checked.

mod support;

use std::time::Duration;

use support::pty::PtySession;
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

/// Runs the docker-py scenario `script` (in `tests/py/`) against a daemon and registry of its
/// own: it must pass, and leave no container behind.
fn docker_py(label: &str, script: &str) {
    let registry = BusyboxRegistry::start();
    let daemon = Daemon::builder().label(label).start();
    let output = daemon.python(script, &[&registry.image(), &unique(label)]);
    assert_eq!(
        output.code,
        Some(0),
        "docker-py scenario {script} failed\n--- its steps ---\n{}\n--- traceback ---\n{}",
        output.stdout,
        output.stderr
    );
    assert!(daemon.containers().is_empty(), "{script} left containers");
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
    docker_py("py-restart", "restart.py");
}

/// Now, as the docker CLI sends `--since`/`--until`: Unix seconds with nanoseconds.
fn now_text() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970");
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

#[test]
fn docker_events_replays_filters_and_streams() {
    let (daemon, _registry, image) = daemon_with_busybox("events");
    let since = now_text();
    let name = unique("evented");
    daemon
        .docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            "tier=front",
            &image,
            "sh",
            "-c",
            "exit 3",
        ])
        .ok();
    daemon.docker(&["wait", &name]).ok();
    daemon.docker(&["tag", &image, "evented:v1"]).ok();
    daemon.docker(&["rmi", "evented:v1"]).ok();
    daemon.docker(&["rm", &name]).ok();
    let until = now_text();
    let events = |filter: &str, format: &str| {
        daemon
            .docker(&[
                "events", "--since", &since, "--until", &until, "--filter", filter, "--format",
                format,
            ])
            .ok()
            .to_owned()
    };
    let format = r#"{{.Type}} {{.Action}} {{index .Actor.Attributes "exitCode"}}"#;
    assert_eq!(
        events(&format!("container={name}"), format),
        "container create \ncontainer start \ncontainer die 3\ncontainer destroy \n",
        "the container's life, replayed"
    );
    assert_eq!(
        events("label=tier=front", "{{.Action}} {{.Actor.Attributes.name}}"),
        format!("create {name}\nstart {name}\ndie {name}\ndestroy {name}\n"),
        "the label filter"
    );
    assert_eq!(
        events("type=image", "{{.Type}} {{.Action}}"),
        "image tag\nimage untag\n",
        "image events"
    );
    assert_eq!(events("event=die", "{{.Action}}"), "die\n");

    // Live: a stream started now sees the next start.
    let mut client = daemon
        .docker_command(&[
            "events",
            "--filter",
            "event=start",
            "--format",
            "{{.Actor.Attributes.name}}",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting docker events");
    let stdout = client.stdout.take().expect("its stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = tx.send(line);
    });
    // The stream's head must be out before the start, or the event would be before it.
    std::thread::sleep(Duration::from_millis(500));
    let live = unique("live");
    daemon
        .docker(&["run", "-d", "--name", &live, &image, "true"])
        .ok();
    let line = rx.recv_timeout(Duration::from_secs(20));
    let _ = client.kill();
    let _ = client.wait();
    assert_eq!(line.expect("no event streamed").trim(), live);
    daemon.docker(&["rm", "-f", &live]).ok();

    // Refused: a filter moby does not know, `since` after `until`.
    let bad = daemon.docker(&["events", "--until", &until, "--filter", "colour=red"]);
    assert_ne!(bad.code, Some(0));
    assert!(bad.stderr.contains("colour"), "{}", bad.stderr);
    let backwards = daemon.docker(&["events", "--since", &until, "--until", &since]);
    assert_ne!(backwards.code, Some(0));
    assert!(
        backwards.stderr.contains("cannot be after"),
        "{}",
        backwards.stderr
    );
}

#[test]
fn docker_py_events_of_a_container_and_its_execs() {
    docker_py("py-events", "events.py");
}

#[test]
fn health_checks_in_inspect_ps_filters_and_events() {
    let (daemon, _registry, image) = daemon_with_busybox("health");
    let since = now_text();
    let checked = unique("checked");
    daemon
        .docker(&[
            "run",
            "-d",
            "--name",
            &checked,
            "--health-cmd",
            "test -f /tmp/ok",
            "--health-interval",
            "200ms",
            "--health-retries",
            "2",
            &image,
            "sleep",
            "1000",
        ])
        .ok();
    let slow = unique("slow");
    daemon
        .docker(&[
            "run",
            "-d",
            "--name",
            &slow,
            "--health-cmd",
            "sleep 5",
            "--health-interval",
            "200ms",
            "--health-timeout",
            "300ms",
            &image,
            "sleep",
            "1000",
        ])
        .ok();
    let plain = unique("plain");
    daemon
        .docker(&["run", "-d", "--name", &plain, &image, "sleep", "1000"])
        .ok();
    let limit = Duration::from_secs(20);
    let health = |name: &str| inspect(&daemon, "{{.State.Health.Status}}", name);
    eventually("two failed probes to make it unhealthy", limit, || {
        health(&checked) == "unhealthy"
    });
    assert_eq!(
        inspect(&daemon, "{{.State.Health.FailingStreak}}", &checked)
            .parse::<u32>()
            .map(|n| n >= 2),
        Ok(true)
    );
    daemon.docker(&["exec", &checked, "touch", "/tmp/ok"]).ok();
    eventually("a passing probe to make it healthy", limit, || {
        health(&checked) == "healthy"
    });
    let ps = daemon.docker(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        ps.ok()
            .lines()
            .any(|l| l.starts_with(&format!("{checked} Up")) && l.ends_with("(healthy)")),
        "docker ps does not say healthy: {}",
        ps.ok()
    );
    let filtered = |health: &str| {
        daemon
            .docker(&[
                "ps",
                "--filter",
                &format!("health={health}"),
                "--format",
                "{{.Names}}",
            ])
            .ok()
            .to_owned()
    };
    assert_eq!(filtered("healthy"), format!("{checked}\n"));
    assert_eq!(filtered("none"), format!("{plain}\n"));
    // A probe that outlives its timeout fails.
    eventually("the slow probe to time out", limit, || {
        inspect(
            &daemon,
            "{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}",
            &slow,
        )
        .starts_with("-1 Health check exceeded timeout")
    });
    // Absent without a check, as in moby.
    let state = inspect(&daemon, "{{json .State}}", &plain);
    assert!(!state.contains("Health"), "{state}");
    let until = now_text();
    let events = daemon.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        &format!("container={checked}"),
        "--filter",
        "event=health_status",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(
        events.ok(),
        "health_status: unhealthy\nhealth_status: healthy\n"
    );
    let bad = daemon.docker(&["ps", "--filter", "health=sickly"]);
    assert_ne!(bad.code, Some(0));
    assert!(bad.stderr.contains("sickly"), "{}", bad.stderr);
    daemon.docker(&["rm", "-f", &checked, &slow, &plain]).ok();
}

#[test]
fn docker_py_health_checks_and_refused_ones() {
    docker_py("py-health", "health.py");
}

#[test]
fn docker_rename_renames_and_refuses_a_name_in_use() {
    let (mut daemon, _registry, image) = daemon_with_busybox("rename");
    let since = now_text();
    let old = unique("old");
    let taken = unique("taken");
    let new = unique("new");
    daemon
        .docker(&["run", "-d", "--name", &old, &image, "sleep", "1000"])
        .ok();
    daemon
        .docker(&["create", "--name", &taken, &image, "true"])
        .ok();
    let id = inspect(&daemon, "{{.Id}}", &old);

    daemon.docker(&["rename", &old, &new]).ok();
    assert_eq!(
        inspect(&daemon, "{{.Name}} {{.Id}}", &new),
        format!("/{new} {id}")
    );
    assert_eq!(
        daemon.docker(&["ps", "--format", "{{.Names}}"]).ok().trim(),
        new,
        "ps shows the new name"
    );
    let gone = daemon.docker(&["inspect", &old]);
    assert_ne!(gone.code, Some(0), "the old name still finds the container");
    // The running container is still managed under its new name.
    daemon.docker(&["exec", &new, "true"]).ok();

    // Refused, nothing changed: a name in use (409), a bad name, the same name.
    let in_use = daemon.docker(&["rename", &new, &taken]);
    assert_ne!(in_use.code, Some(0));
    assert!(
        in_use.stderr.contains("already in use"),
        "{}",
        in_use.stderr
    );
    let bad = daemon.docker(&["rename", &new, "no/slashes"]);
    assert_ne!(bad.code, Some(0));
    assert!(
        bad.stderr.contains("invalid container name"),
        "{}",
        bad.stderr
    );
    // One character is not a name for Docker either (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
    let short = daemon.docker(&["rename", &new, "x"]);
    assert_ne!(short.code, Some(0));
    assert!(short.stderr.contains("two or more"), "{}", short.stderr);
    let same = daemon.docker(&["rename", &new, &new]);
    assert_ne!(same.code, Some(0));
    assert!(same.stderr.contains("same name"), "{}", same.stderr);
    assert_eq!(inspect(&daemon, "{{.Id}}", &new), id);
    assert_ne!(inspect(&daemon, "{{.Id}}", &taken), id);

    // The event says both names; the new one survives a daemon restart (it is in the record).
    let until = now_text();
    let renamed = daemon
        .docker(&[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "event=rename",
            "--format",
            "{{.Actor.Attributes.oldName}} {{.Actor.Attributes.name}}",
        ])
        .ok()
        .to_owned();
    assert_eq!(renamed, format!("/{old} {new}\n"));
    daemon.kill9();
    daemon.restart();
    assert_eq!(
        inspect(&daemon, "{{.Name}} {{.Id}}", &new),
        format!("/{new} {id}")
    );
    daemon.docker(&["rm", "-f", &new, &taken]).ok();
}

#[test]
fn docker_py_rename_and_a_name_in_use() {
    docker_py("py-rename", "rename.py");
}

/// `GET /exec/{id}/json` (the docker CLI has no `exec inspect`): status and body.
fn exec_inspect(daemon: &Daemon, exec_id: &str) -> (u16, serde_json::Value) {
    let response = support::api::request(
        &daemon.socket(),
        "GET",
        &format!("/exec/{exec_id}/json"),
        &[],
        b"",
    )
    .expect("asking berthd");
    let body = serde_json::from_slice(&response.body).unwrap_or_default();
    (response.status, body)
}

#[test]
fn an_ended_exec_is_inspected_after_a_daemon_restart_and_goes_with_its_container() {
    let (mut daemon, _registry, image) = daemon_with_busybox("exec-kept");
    let since = now_text();
    let name = unique("exec-kept");
    daemon
        .docker(&["run", "-d", "--name", &name, &image, "sleep", "1000"])
        .ok();
    daemon
        .docker(&["exec", &name, "sh", "-c", "exit 7"])
        .expect_code(7);
    // The CLI never shows an exec's id; its exec_die event does.
    let exec_id = daemon
        .docker(&[
            "events",
            "--since",
            &since,
            "--until",
            &now_text(),
            "--filter",
            "event=exec_die",
            "--format",
            "{{.Actor.Attributes.execID}}",
        ])
        .ok()
        .trim()
        .to_owned();
    assert_eq!(exec_id.len(), 64, "no exec_die event with the exec's id");

    let ended = |daemon: &Daemon| {
        let (status, body) = exec_inspect(daemon, &exec_id);
        assert_eq!(status, 200, "exec inspect of an ended exec: {body}");
        (
            body["ExitCode"].as_i64(),
            body["Running"].as_bool(),
            body["ProcessConfig"]["entrypoint"]
                .as_str()
                .map(str::to_owned),
        )
    };
    let wanted = (Some(7), Some(false), Some("sh".to_owned()));
    assert_eq!(ended(&daemon), wanted);
    daemon.kill9();
    daemon.restart();
    assert_eq!(ended(&daemon), wanted, "forgotten across a daemon restart");

    // Refused: ids that are no exec's.
    assert_eq!(exec_inspect(&daemon, &"0".repeat(64)).0, 404);
    assert_eq!(exec_inspect(&daemon, "no-such-exec").0, 404);

    daemon.docker(&["rm", "-f", &name]).ok();
    assert_eq!(
        exec_inspect(&daemon, &exec_id).0,
        404,
        "an exec outlived its container"
    );
}

#[test]
fn docker_py_exec_inspect_after_the_end_and_not_after_the_container() {
    docker_py("py-exec-kept", "exec_kept.py");
}

/// The `sh` processes in container `name`, as `ps` inside it lists them.
fn shells(daemon: &Daemon, name: &str) -> usize {
    daemon
        .docker(&["exec", name, "ps", "-o", "comm"])
        .ok()
        .lines()
        .filter(|l| l.trim() == "sh")
        .count()
}

/// Types `keys` one at a time, as a person does: the docker CLI (as dockerd) spots detach
/// keys only in reads of one byte.
fn type_keys(session: &mut PtySession, keys: &str) {
    for key in keys.chars() {
        session.type_text(&key.to_string());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn detach_keys_of_the_config_file_on_attach_and_exec() {
    let (daemon, _registry, image) = daemon_with_busybox("detach-keys");
    let name = unique("detach-keys");
    daemon
        .docker(&["run", "-dit", "--name", &name, &image, "sh"])
        .ok();
    // The CLI sends its config file's keys: `detachKeys` on attach, `DetachKeys` in an
    // exec's create. It also watches for them itself, and forwards every other key: so
    // Ctrl-P Ctrl-Q reaches the daemon, which must not take them for the keys any more.
    let config = daemon.dir().join("docker-config");
    std::fs::create_dir_all(&config).expect("making the CLI's config dir");
    std::fs::write(config.join("config.json"), r#"{"detachKeys": "ctrl-x,x"}"#)
        .expect("writing the CLI's config");

    let mut attach = PtySession::spawn(
        daemon.docker_command(&["attach", &name]),
        "docker attach NAME",
    );
    attach.type_text("\r");
    attach.expect("# ", Duration::from_secs(30));
    attach.type_text("\x10\x11echo still-$((6*7))\r");
    attach.expect("still-42", Duration::from_secs(30));
    type_keys(&mut attach, "\x18x");
    let ended = attach.wait(Duration::from_secs(30));
    // As with dockerd: the CLI says so, and exits 1.
    assert_eq!(
        ended.code,
        Some(1),
        "docker attach after the detach keys:\n{}",
        ended.output
    );
    assert!(
        ended.output.contains("read escape sequence"),
        "{}",
        ended.output
    );
    assert_eq!(inspect(&daemon, "{{.State.Status}}", &name), "running");

    let mut exec = PtySession::spawn(
        daemon.docker_command(&["exec", "-it", &name, "sh"]),
        "docker exec -it NAME sh",
    );
    exec.expect("# ", Duration::from_secs(30));
    exec.type_text("\x10\x11echo exec-$((6*7))\r");
    exec.expect("exec-42", Duration::from_secs(30));
    type_keys(&mut exec, "\x18x");
    let ended = exec.wait(Duration::from_secs(30));
    assert_eq!(
        ended.code,
        Some(1),
        "docker exec after the detach keys:\n{}",
        ended.output
    );
    // Detached, not ended: the container's shell and the exec's both run.
    assert_eq!(shells(&daemon, &name), 2, "the exec's shell ended");
    daemon.docker(&["rm", "-f", &name]).ok();
}

#[test]
fn docker_py_detach_keys_through_the_daemon_and_refused_ones() {
    docker_py("py-detach", "detach_keys.py");
}

#[test]
fn docker_wait_on_a_removed_container_and_ps_label_filters() {
    let (daemon, _registry, image) = daemon_with_busybox("wait-removed");
    // A wait under way when the container is removed answers with the exit the removal
    // caused, as dockerd's (`rm -f` kills: 137).
    let name = unique("waited");
    daemon
        .docker(&["run", "-d", "--name", &name, &image, "sleep", "1000"])
        .ok();
    let waiting = daemon
        .docker_command(&["wait", &name])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting docker wait");
    std::thread::sleep(Duration::from_millis(300));
    daemon.docker(&["rm", "-f", &name]).ok();
    let waited = waiting.wait_with_output().expect("docker wait's output");
    assert_eq!(
        (
            waited.status.code(),
            String::from_utf8_lossy(&waited.stdout).trim()
        ),
        (Some(0), "137"),
        "docker wait across rm -f: {}",
        String::from_utf8_lossy(&waited.stderr)
    );
    // After the removal (also an AutoRemove one): no such container, exit 1.
    let auto = unique("auto");
    daemon
        .docker(&["run", "--rm", "--name", &auto, &image, "true"])
        .ok();
    for gone in [name.as_str(), auto.as_str()] {
        let after = daemon.docker(&["wait", gone]);
        assert_eq!(after.code, Some(1), "{}", after.stderr);
        assert!(
            after.stderr.contains(&format!("No such container: {gone}")),
            "{}",
            after.stderr
        );
    }

    // `ps --filter label=`: a key, a key=value; several must all match.
    let both = unique("both");
    let front = unique("front");
    for (name, labels) in [
        (&both, ["tier=front", "team=a"]),
        (&front, ["tier=front", "team=b"]),
    ] {
        let mut args = vec!["create", "--name", name];
        for label in &labels {
            args.extend(["--label", label]);
        }
        args.extend([image.as_str(), "true"]);
        daemon.docker(&args).ok();
    }
    let ps = |filters: &[&str]| {
        let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
        for filter in filters {
            args.extend(["--filter", filter]);
        }
        let out = daemon.docker(&args).ok().to_owned();
        let mut names: Vec<String> = out.lines().map(str::to_owned).collect();
        names.sort();
        names
    };
    let mut all = vec![both.clone(), front.clone()];
    all.sort();
    assert_eq!(ps(&["label=tier=front"]), all);
    assert_eq!(ps(&["label=team"]), all);
    assert_eq!(
        ps(&["label=tier=front", "label=team=a"]),
        vec![both.clone()]
    );
    assert_eq!(ps(&["label=team=c"]), Vec::<String>::new());
    let bad = daemon.docker(&["ps", "--filter", "colour=red"]);
    assert_ne!(bad.code, Some(0));
    assert!(bad.stderr.contains("colour"), "{}", bad.stderr);
    daemon.docker(&["rm", &both, &front]).ok();
}

#[test]
fn docker_py_wait_on_a_removed_container_and_label_filters() {
    docker_py("py-wait", "wait_removed.py");
}
