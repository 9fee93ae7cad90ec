//! The real docker CLI (28.2.2) drives berthd through the everyday workflow.
//!
//! Each test starts its own daemon (and, when it needs images, its own registry seeded with
//! busybox) and runs `/usr/local/bin/docker` against it exactly as a user would. The checks are
//! on what the user sees: the output, the exit code, and what `ps`, `images` and `logs` say
//! afterwards. Stable outputs are insta snapshots, with ids, digests, times and sizes redacted
//! (see `support::redact`), but never the words or the shape of the tables.

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::pty::PtySession;
use support::registry::BusyboxRegistry;
use support::{Daemon, eventually, redact, unique, wait_child};

/// A daemon with busybox already pulled from its own registry; the registry lives as long.
fn daemon_with_busybox(label: &str) -> (Daemon, BusyboxRegistry, String) {
    let registry = BusyboxRegistry::start();
    let daemon = Daemon::builder().label(label).start();
    let image = registry.image();
    daemon.docker(&["pull", "-q", &image]).ok();
    (daemon, registry, image)
}

/// Applies the redactions and asserts a named snapshot.
macro_rules! snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({ filters => redact::filters() }, {
            insta::assert_snapshot!($name, $text);
        })
    };
}

#[test]
fn version_and_info_describe_the_daemon() {
    let daemon = Daemon::builder().label("version").start();

    let version = daemon.docker(&["version"]);
    let out = version.ok();
    assert!(
        out.contains("Server:"),
        "docker version shows no Server section:\n{out}"
    );
    let api = daemon
        .docker(&["version", "--format", "{{.Server.APIVersion}}"])
        .ok()
        .trim()
        .to_owned();
    assert_eq!(api, "1.50", "the daemon's API version");
    let min_api = daemon
        .docker(&["version", "--format", "{{.Server.MinAPIVersion}}"])
        .ok()
        .trim()
        .to_owned();
    assert_eq!(min_api, "1.24", "the oldest API version the daemon accepts");

    let info = daemon.docker(&["info", "--format", "{{json .}}"]);
    let info: serde_json::Value = serde_json::from_str(info.ok().trim())
        .unwrap_or_else(|e| panic!("docker info --format json is not JSON ({e}):\n{info:?}"));
    assert_eq!(info["OSType"], "linux", "docker info: {info:#}");
    assert!(info["NCPU"].as_u64().unwrap_or(0) >= 1, "NCPU: {info:#}");
    assert!(
        info["MemTotal"].as_u64().unwrap_or(0) > 0,
        "MemTotal: {info:#}"
    );
    assert_eq!(info["Containers"], 0, "a fresh daemon has no containers");
    assert_eq!(info["Images"], 0, "a fresh daemon has no images");
    // The plain form prints without complaining about missing fields.
    let plain = daemon.docker(&["info"]);
    plain.ok();
    assert!(
        !plain.stderr.to_lowercase().contains("error"),
        "docker info complained:\n{}",
        plain.stderr
    );
}

#[test]
fn pull_images_tag_and_rmi() {
    let registry = BusyboxRegistry::start();
    let daemon = Daemon::builder().label("images").start();
    let image = registry.image();

    let pull = daemon.docker(&["pull", &image]);
    pull.ok();
    assert!(
        pull.stdout.contains("Digest: sha256:"),
        "pull names no digest:\n{}",
        pull.stdout
    );
    assert!(
        pull.stdout.trim_end().ends_with(&image),
        "pull does not end with the image's name:\n{}",
        pull.stdout
    );

    let again = daemon.docker(&["pull", &image]);
    assert!(
        again.ok().contains("Image is up to date"),
        "a second pull should find the image up to date:\n{}",
        again.stdout
    );

    let tagged = format!("{}:v1", unique("berth-e2e-tagged"));
    daemon.docker(&["tag", &image, &tagged]).ok();
    let images = daemon.docker(&["images"]);
    let table = redact::columns(images.ok());
    let tagged_repo = tagged.split(':').next().unwrap_or_default();
    assert!(
        table.contains(tagged_repo) && table.contains(&registry.host()),
        "docker images lacks one of the tags:\n{table}"
    );
    // The docker CLI groups an image's tags by repository in a Go map, so the rows of one
    // image come out in any order: sort them under the header for the snapshot.
    let images_table = {
        let redacted = table.replace(tagged_repo, "[TAGGED]");
        let mut lines: Vec<&str> = redacted.lines().collect();
        if lines.len() > 1 {
            lines[1..].sort_unstable();
        }
        lines.join("\n") + "\n"
    };
    let ids = daemon.docker(&["images", "-q"]);
    let ids: Vec<&str> = ids.ok().lines().collect();
    assert_eq!(ids.len(), 2, "two tags of one image: {ids:?}");
    assert_eq!(ids[0], ids[1], "both tags name the same image id");

    let untag = daemon.docker(&["rmi", &tagged]);
    assert_eq!(untag.ok().trim(), format!("Untagged: {tagged}"));
    let rmi = daemon.docker(&["rmi", &image]);
    let lines: Vec<&str> = rmi.ok().lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(format!("Untagged: {image}").as_str())
    );
    assert!(
        lines.iter().any(|l| l.starts_with("Deleted: sha256:")),
        "the last tag's removal deletes the image:\n{}",
        rmi.stdout
    );
    assert_eq!(daemon.docker(&["images", "-q"]).ok(), "", "no image left");

    let missing = daemon.docker(&["rmi", "berth-e2e-no-such-image:1"]);
    missing.expect_code(1);
    assert!(
        missing.stderr.contains("No such image"),
        "rmi of a missing image: {}",
        missing.stderr
    );
    // Snapshots last: a difference in wording must not hide a difference in behaviour.
    snapshot!("pull", pull.stdout.clone());
    snapshot!("images", images_table);
}

#[test]
fn run_rm_prints_the_output_and_leaves_nothing() {
    let (daemon, _registry, image) = daemon_with_busybox("run-rm");
    let run = daemon.docker(&["run", "--rm", &image, "echo", "hi"]);
    assert_eq!(run.ok(), "hi\n");
    assert_eq!(run.stderr, "", "nothing on stderr");
    // stdout and stderr stay apart through the attach stream.
    let both = daemon.docker(&["run", "--rm", &image, "sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(both.ok(), "out\n");
    assert_eq!(both.stderr, "err\n");
    // stdin reaches the container with -i.
    let piped = daemon.docker_with_stdin(&["run", "--rm", "-i", &image, "cat"], b"piped\n");
    assert_eq!(piped.ok(), "piped\n");
    assert_eq!(
        daemon.docker(&["ps", "-a", "-q"]).ok(),
        "",
        "--rm left a container"
    );
    assert!(
        daemon.overlay_mounts().is_empty(),
        "--rm left overlay mounts: {:?}",
        daemon.overlay_mounts()
    );
}

#[test]
fn run_of_a_missing_image_pulls_it_through_the_mirror() {
    let registry = BusyboxRegistry::start();
    let daemon = Daemon::builder()
        .label("implicit-pull")
        .mirror(&registry)
        .start();
    let run = daemon.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(run.ok(), "hi\n");
    assert!(
        run.stderr
            .contains("Unable to find image 'busybox:latest' locally"),
        "the CLI should say it pulls:\n{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("Status: Downloaded newer image for busybox:latest"),
        "the pull's status:\n{}",
        run.stderr
    );
    let images = daemon.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images.ok(), "busybox:latest\n");
    // The mirror was really asked (and Docker Hub was not needed).
    assert!(
        registry
            .registry()
            .log()
            .contains("library/busybox/manifests/latest"),
        "the registry never saw the pull"
    );
    // Present now: no second pull.
    let again = daemon.docker(&["run", "--rm", "busybox", "echo", "again"]);
    assert_eq!(again.ok(), "again\n");
    assert!(
        !again.stderr.contains("Unable to find image"),
        "{}",
        again.stderr
    );
}

#[test]
fn exit_codes_reach_the_caller() {
    let (daemon, _registry, image) = daemon_with_busybox("exit-codes");
    daemon
        .docker(&["run", "--rm", &image, "true"])
        .expect_code(0);
    daemon
        .docker(&["run", "--rm", &image, "false"])
        .expect_code(1);
    daemon
        .docker(&["run", "--rm", &image, "sh", "-c", "exit 42"])
        .expect_code(42);
    // A child killed by SIGKILL: the shell reports 128 + 9 and exits with it.
    daemon
        .docker(&[
            "run",
            "--rm",
            &image,
            "sh",
            "-c",
            "sh -c 'kill -9 $$'; exit $?",
        ])
        .expect_code(137);
    let missing = daemon.docker(&["run", "--rm", &image, "berth-no-such-command"]);
    missing.expect_code(127);
    assert!(
        missing.stderr.contains("berth-no-such-command"),
        "the error names the command:\n{}",
        missing.stderr
    );
    snapshot!("missing_command", missing.stderr.clone());
    // A container killed from outside while a client is attached: 137.
    let name = unique("killed");
    let mut attached = daemon
        .docker_command(&["run", "--name", &name, &image, "sleep", "1000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting docker run");
    eventually("the container to run", Duration::from_secs(30), || {
        daemon
            .docker(&["ps", "-q", "--filter", &format!("name={name}")])
            .stdout
            .trim()
            .len()
            >= 12
    });
    daemon.docker(&["kill", &name]).ok();
    let status = wait_child(&mut attached, Duration::from_secs(60));
    assert_eq!(status, Some(137), "docker run of a killed container");
    daemon.docker(&["rm", &name]).ok();
    assert_eq!(daemon.docker(&["ps", "-a", "-q"]).ok(), "");
}

#[test]
fn detached_container_lifecycle() {
    let (daemon, _registry, image) = daemon_with_busybox("detached");
    let name = unique("ticker");
    let script = "echo started; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done";
    let run = daemon.docker(&["run", "-d", "--name", &name, &image, "sh", "-c", script]);
    let id = run.ok().trim().to_owned();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "run -d prints the container's id, not {id:?}"
    );

    let ps = daemon.docker(&[
        "ps",
        "--format",
        "{{.ID}} {{.Names}} {{.Image}} {{.Status}}",
    ]);
    let line = ps.ok().trim().to_owned();
    assert!(
        line.starts_with(&id[..12]) && line.contains(&name) && line.contains(" Up "),
        "ps shows the running container: {line:?}"
    );
    let table = redact::columns(daemon.docker(&["ps"]).ok());
    let ps_table = table.replace(&name, "[NAME]");

    eventually("three ticks in the log", Duration::from_secs(30), || {
        daemon.docker(&["logs", &name]).stdout.contains("tick 2")
    });
    let logs = daemon.docker(&["logs", &name]);
    assert!(
        logs.ok().starts_with("started\ntick 0\ntick 1\n"),
        "{}",
        logs.stdout
    );

    // logs -t --tail 2: exactly the last two lines, each after an RFC 3339 time.
    let tail = daemon.docker(&["logs", "-t", "--tail", "2", &name]);
    let lines: Vec<&str> = tail.ok().lines().collect();
    assert_eq!(lines.len(), 2, "--tail 2 gave {lines:?}");
    for line in &lines {
        let (time, text) = line.split_once(' ').unwrap_or_default();
        assert!(
            time.len() >= 20 && time.as_bytes()[4] == b'-' && time.contains('T'),
            "no timestamp on {line:?}"
        );
        assert!(text.starts_with("tick "), "{line:?}");
    }

    // exec: output and exit code.
    let exec = daemon.docker(&["exec", &name, "echo", "from-exec"]);
    assert_eq!(exec.ok(), "from-exec\n");
    daemon
        .docker(&["exec", &name, "sh", "-c", "exit 7"])
        .expect_code(7);
    let hostname = daemon.docker(&["exec", &name, "cat", "/proc/1/cmdline"]);
    assert!(
        hostname.ok().starts_with("sh\0-c\0"),
        "exec joins the container's PID namespace: {:?}",
        hostname.stdout
    );

    // stop: sh as PID 1 ignores SIGTERM, so the grace period ends in SIGKILL.
    assert_eq!(daemon.docker(&["stop", "-t", "1", &name]).ok().trim(), name);
    assert_eq!(
        daemon.docker(&["ps", "-q"]).ok(),
        "",
        "stopped is not running"
    );
    let status = daemon.docker(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        status.ok().starts_with(&format!("{name} Exited (137)")),
        "ps -a after stop: {:?}",
        status.stdout
    );
    let ps_a_table = redact::columns(daemon.docker(&["ps", "-a"]).ok()).replace(&name, "[NAME]");
    let exited = daemon.docker(&["exec", &name, "true"]);
    assert_ne!(
        exited.code,
        Some(0),
        "exec into a stopped container must fail"
    );

    assert_eq!(daemon.docker(&["rm", &name]).ok().trim(), name);
    assert_eq!(daemon.docker(&["ps", "-a", "-q"]).ok(), "");
    assert!(
        daemon.overlay_mounts().is_empty(),
        "rm left its overlay mount"
    );
    snapshot!("ps", ps_table);
    snapshot!("ps_a_after_stop", ps_a_table);
}

#[test]
fn logs_follow_ends_when_the_container_exits() {
    let (daemon, _registry, image) = daemon_with_busybox("logs-follow");
    let name = unique("counter");
    let script = "for i in 1 2 3 4 5; do echo line $i; sleep 0.2; done; echo done >&2";
    daemon
        .docker(&["run", "-d", "--name", &name, &image, "sh", "-c", script])
        .ok();
    // Started while the container still runs: must return by itself when it exits.
    let follow = daemon.docker(&["logs", "-f", &name]);
    assert_eq!(follow.ok(), "line 1\nline 2\nline 3\nline 4\nline 5\n");
    assert_eq!(follow.stderr, "done\n");
    let state = daemon.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        &name,
    ]);
    assert_eq!(state.ok().trim(), "exited 0");
    daemon.docker(&["rm", &name]).ok();
}

#[test]
fn kill_and_rm_force() {
    let (daemon, _registry, image) = daemon_with_busybox("kill-rm");
    let victim = unique("victim");
    daemon
        .docker(&["run", "-d", "--name", &victim, &image, "sleep", "1000"])
        .ok();
    assert_eq!(daemon.docker(&["kill", &victim]).ok().trim(), victim);
    // moby answers a SIGKILL kill only once the container has exited (scripts rely on
    // `docker kill x && docker rm x`), so the state is final as soon as the CLI returns.
    let state = daemon.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        &victim,
    ]);
    assert_eq!(state.ok().trim(), "exited 137");
    let again = daemon.docker(&["kill", &victim]);
    assert_ne!(again.code, Some(0), "kill of a stopped container must fail");

    let busy = unique("busy");
    daemon
        .docker(&["run", "-d", "--name", &busy, &image, "sleep", "1000"])
        .ok();
    let refused = daemon.docker(&["rm", &busy]);
    assert_ne!(refused.code, Some(0), "rm of a running container needs -f");
    assert!(
        refused.stderr.contains("force remove"),
        "the refusal should say how to remove it anyway: {}",
        refused.stderr
    );
    assert_eq!(daemon.docker(&["rm", "-f", &busy]).ok().trim(), busy);
    assert_eq!(daemon.docker(&["rm", &victim]).ok().trim(), victim);
    assert_eq!(daemon.docker(&["ps", "-a", "-q"]).ok(), "");
    assert!(
        daemon.overlay_mounts().is_empty(),
        "rm -f left its overlay mount"
    );
    let missing = daemon.docker(&["rm", &victim]);
    missing.expect_code(1);
    assert!(
        missing.stderr.contains("No such container"),
        "{}",
        missing.stderr
    );
}

#[test]
fn run_it_and_exec_it_under_a_terminal() {
    let (daemon, _registry, image) = daemon_with_busybox("tty");

    let mut run = PtySession::spawn(
        daemon.docker_command(&["run", "-it", "--rm", &image, "sh"]),
        "docker run -it --rm busybox sh",
    );
    run.expect("# ", Duration::from_secs(60));
    run.type_text("echo hi; exit 3\r");
    let ended = run.wait(Duration::from_secs(60));
    assert_eq!(
        ended.code,
        Some(3),
        "run -it exit code; screen:\n{}",
        ended.output
    );
    assert!(
        ended.output.lines().any(|l| l.trim_end() == "hi"),
        "the shell's output on the terminal:\n{}",
        ended.output
    );

    let name = unique("tty-target");
    daemon
        .docker(&["run", "-d", "--name", &name, &image, "sleep", "1000"])
        .ok();
    let mut exec = PtySession::spawn(
        daemon.docker_command(&["exec", "-it", &name, "sh"]),
        "docker exec -it NAME sh",
    );
    exec.expect("# ", Duration::from_secs(60));
    exec.type_text("echo hi; exit 3\r");
    let ended = exec.wait(Duration::from_secs(60));
    assert_eq!(
        ended.code,
        Some(3),
        "exec -it exit code; screen:\n{}",
        ended.output
    );
    assert!(
        ended.output.lines().any(|l| l.trim_end() == "hi"),
        "the exec's output on the terminal:\n{}",
        ended.output
    );
    // Only the exec ended: its container still runs.
    let state = daemon.docker(&["inspect", "-f", "{{.State.Status}}", &name]);
    assert_eq!(state.ok().trim(), "running");
    daemon.docker(&["rm", "-f", &name]).ok();
    assert_eq!(
        daemon.docker(&["ps", "-a", "-q"]).ok(),
        "",
        "run -it --rm left a container"
    );
}

#[test]
fn push_then_pull_back_from_a_fresh_daemon() {
    let (pusher, registry, image) = daemon_with_busybox("push");
    let pushed = format!("{}/berth-e2e/pushed:1", registry.host());
    pusher.docker(&["tag", &image, &pushed]).ok();
    let push = pusher.docker(&["push", &pushed]);
    push.ok();
    assert!(
        push.stdout.contains("1: digest: sha256:"),
        "push reports the manifest's digest:\n{}",
        push.stdout
    );
    // Another client sees it in the registry.
    let manifest = registry.registry().manifest("berth-e2e/pushed:1");
    assert!(
        String::from_utf8_lossy(&manifest).contains("\"layers\""),
        "the registry holds an image manifest"
    );

    let fresh = Daemon::builder().label("pull-back").start();
    fresh.docker(&["pull", &pushed]).ok();
    let run = fresh.docker(&["run", "--rm", &pushed, "echo", "round trip"]);
    assert_eq!(run.ok(), "round trip\n");
    let original = pusher.docker(&["images", "-q", "--no-trunc", &image]);
    let returned = fresh.docker(&["images", "-q", "--no-trunc", &pushed]);
    assert_eq!(
        original.ok(),
        returned.ok(),
        "the image id (its config's digest) survives push and pull"
    );
    snapshot!("push", push.stdout.clone());
}

#[test]
fn run_publish_of_what_berth_cannot_serve_is_refused_naming_it() {
    let (daemon, _registry, image) = daemon_with_busybox("publish");
    // The CLI accepts sctp; Berth's firewall and proxy do not, so it says so at create
    // rather than publish a port that would never answer.
    let run = daemon.docker(&["run", "--rm", "-p", "80:80/sctp", &image, "true"]);
    assert_ne!(run.code, Some(0), "sctp must be refused");
    assert!(
        run.stderr.contains("\"80/sctp\"") && run.stderr.contains("sctp is not supported"),
        "the refusal should name the port and why:\n{}",
        run.stderr
    );
    snapshot!("publish_refused", run.stderr.clone());
    assert_eq!(
        daemon.docker(&["ps", "-a", "-q"]).ok(),
        "",
        "a refused run leaves no container behind"
    );
}
