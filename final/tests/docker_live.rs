//! The verbs on a running container's cgroup, driven by the docker CLI: `OOMKilled` in
//! inspect, `docker stats`, `pause`/`unpause`, `update`, `top` (chapter 5 in berthd).
//!
//! Each test starts its own daemon; `support::cgroups` removes its containers' cgroups, also
//! when a test fails (thawing a frozen one first).

mod support;

use std::path::PathBuf;

use support::Output;
use support::cgroups::daemon_with_busybox;

/// Asserts that a command failed and said `words`.
fn refused(out: Output, words: &str) {
    assert_ne!(out.code, Some(0), "{words}: {}", out.stdout);
    assert!(out.stderr.contains(words), "{words}: {}", out.stderr);
}

/// `State.OOMKilled` says how the *last* run ended: true after the kernel's OOM killer
/// struck, false after a normal exit, also a normal exit of the same container restarted.
#[test]
fn inspect_says_oom_killed_for_the_last_run_only() {
    let t = daemon_with_busybox("live-oom");
    let d = &t.daemon;
    // The hog only once: a marker in the container's own filesystem says it ran before.
    let script = "if [ -e /ran ]; then exit 0; fi; touch /ran; head -c 128m /dev/zero | tail";
    let name = support::unique("oom");
    let run = d.docker(&[
        "run", "--name", &name, "-m", "64m", &t.image, "sh", "-c", script,
    ]);
    assert_eq!(run.code, Some(137), "stderr: {}", run.stderr);
    let oom = |d: &support::Daemon| {
        d.docker(&["inspect", "-f", "{{.State.OOMKilled}}", &name])
            .ok()
            .trim()
            .to_owned()
    };
    assert_eq!(oom(d), "true");
    // The same container, the same cgroup (its counter still says 1): a normal exit now.
    d.docker(&["start", "-a", &name]).ok();
    assert_eq!(oom(d), "false", "the counter needs a baseline per start");
    let normal = d
        .docker(&["run", "-d", &t.image, "true"])
        .ok()
        .trim()
        .to_owned();
    d.docker(&["wait", &normal]).ok();
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.State.OOMKilled}}", &normal])
            .ok()
            .trim(),
        "false"
    );
    d.docker(&["rm", "-f", &name, &normal]).ok();
    assert_eq!(t.cgroups.children(), Vec::<PathBuf>::new());
}

/// `docker stats --no-stream` lists the container with its memory in use, and a busy loop
/// shows CPU time; `docker stats` of a stopped container shows zeros.
#[test]
fn docker_stats_no_stream_shows_memory_and_cpu() {
    let t = daemon_with_busybox("live-stats");
    let d = &t.daemon;
    let busy = d
        .docker(&[
            "run",
            "-d",
            "-m",
            "64m",
            &t.image,
            "sh",
            "-c",
            "while :; do :; done",
        ])
        .ok()
        .trim()
        .to_owned();
    let format = "{{.ID}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}";
    let out = d.docker(&["stats", "--no-stream", "--format", format, &busy]);
    let line = out.ok().trim().to_owned();
    let fields: Vec<&str> = line.split_whitespace().collect();
    // "abc123 99.87% 1.2MiB / 64MiB 1"
    assert_eq!(fields.len(), 6, "{line}");
    assert_eq!(fields[0], &busy[..12], "{line}");
    let cpu: f64 = fields[1].trim_end_matches('%').parse().expect("a CPU %");
    // More than 0: the machine is shared (a load of 20 on 2 CPUs leaves a busy loop ~10%).
    assert!(cpu > 0.0, "a busy loop uses CPU: {line}");
    assert!(!fields[2].starts_with("0B"), "memory in use: {line}");
    assert_eq!(fields[4], "64MiB", "the limit: {line}");
    assert_eq!(fields[5], "1", "one process: {line}");

    // Our own client computes the same.
    let ours = d.berth(&["stats", "--no-stream", &busy]);
    let lines: Vec<&str> = ours.ok().lines().collect();
    assert!(lines[0].starts_with("CONTAINER ID"), "{}", ours.stdout);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], &busy[..12], "{}", ours.stdout);
    let cpu: f64 = row[2].trim_end_matches('%').parse().expect("a CPU %");
    assert!(cpu > 0.0, "{}", ours.stdout);
    assert_eq!(row[5], "64MiB", "{}", ours.stdout);

    let stopped = d
        .docker(&["create", &t.image, "true"])
        .ok()
        .trim()
        .to_owned();
    let out = d.docker(&["stats", "--no-stream", "--format", format, &stopped]);
    assert_eq!(
        out.ok().trim(),
        format!("{} 0.00% 0B / 0B 0", &stopped[..12])
    );
    d.docker(&["rm", "-f", &busy, &stopped]).ok();
    assert_eq!(t.cgroups.children(), Vec::<PathBuf>::new());
}

/// `docker pause` freezes, shows in inspect and `docker ps`, refuses what dockerd refuses,
/// and a paused container can still be stopped.
#[test]
fn docker_pause_and_unpause() {
    let t = daemon_with_busybox("live-pause");
    let d = &t.daemon;
    let id = d
        .docker(&["run", "-d", &t.image, "sleep", "300"])
        .ok()
        .trim()
        .to_owned();
    d.docker(&["pause", &id]).ok();
    let state = d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Paused}} {{.State.Running}}",
        &id,
    ]);
    assert_eq!(state.ok().trim(), "paused true true");
    let ps = d.docker(&[
        "ps",
        "--format",
        "{{.Status}}",
        "--filter",
        &format!("id={id}"),
    ]);
    assert!(ps.ok().trim().ends_with("(Paused)"), "{}", ps.stdout);
    let frozen = std::fs::read_to_string(t.cgroups.dir("freezer", &id).join("freezer.state"))
        .or_else(|_| std::fs::read_to_string(t.cgroups.dir("freezer", &id).join("cgroup.freeze")))
        .expect("the freezer's state");
    assert!(matches!(frozen.trim(), "FROZEN" | "1"), "{frozen}");

    refused(d.docker(&["pause", &id]), "is already paused");
    refused(
        d.docker(&["exec", &id, "true"]),
        "is paused, unpause the container before exec",
    );

    d.docker(&["unpause", &id]).ok();
    let state = d.docker(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", &id]);
    assert_eq!(state.ok().trim(), "running false");
    refused(d.docker(&["unpause", &id]), "is not paused");
    d.docker(&["exec", &id, "true"]).ok();

    // Stop of a paused container: SIGTERM is delivered once it is thawed (sleep as PID 1
    // ignores it, so SIGKILL after the grace period ends it).
    d.docker(&["pause", &id]).ok();
    d.docker(&["stop", "-t", "1", &id]).ok();
    let state = d.docker(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", &id]);
    assert_eq!(state.ok().trim(), "exited false");
    refused(d.docker(&["pause", &id]), "is not running");
    d.docker(&["rm", &id]).ok();
    assert_eq!(t.cgroups.children(), Vec::<PathBuf>::new());
}

/// `docker update --memory --pids-limit` on a running container: the cgroup's files change,
/// inspect shows the new limits, and a restart keeps them.
#[test]
fn docker_update_writes_the_running_cgroup_and_the_record() {
    let t = daemon_with_busybox("live-update");
    let d = &t.daemon;
    let id = d
        .docker(&["run", "-d", "-m", "64m", &t.image, "sleep", "300"])
        .ok()
        .trim()
        .to_owned();
    let read = |controller: &str, v1: &str, v2: &str| t.cgroups.read(controller, &id, v1, v2);
    d.docker(&["update", "--memory", "128m", "--pids-limit", "30", &id])
        .ok();
    assert_eq!(
        read("memory", "memory.limit_in_bytes", "memory.max"),
        "134217728"
    );
    assert_eq!(read("pids", "pids.max", "pids.max"), "30");
    let shown = d.docker(&[
        "inspect",
        "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
        &id,
    ]);
    assert_eq!(shown.ok().trim(), "134217728 30");
    // Kept across a restart (the record has them).
    d.docker(&["restart", "-t", "0", &id]).ok();
    assert_eq!(
        read("memory", "memory.limit_in_bytes", "memory.max"),
        "134217728"
    );
    assert_eq!(read("pids", "pids.max", "pids.max"), "30");
    // What we do not honour is refused, naming the flag; a bad value too.
    // The restart policy is the engine's: kept in the record for the next exit.
    d.docker(&["update", "--restart", "on-failure:3", &id]).ok();
    let policy = d.docker(&[
        "inspect",
        "-f",
        "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
        &id,
    ]);
    assert_eq!(policy.ok().trim(), "on-failure:3");
    refused(
        d.docker(&["update", "--restart", "sometimes", &id]),
        "invalid restart policy",
    );
    refused(
        d.docker(&["update", "--blkio-weight-device", "/dev/sda:100", &id]),
        "--blkio-weight-device",
    );
    refused(d.docker(&["update", "--memory", "1m", &id]), "6 MiB");
    assert_eq!(
        read("memory", "memory.limit_in_bytes", "memory.max"),
        "134217728"
    );
    d.docker(&["rm", "-f", &id]).ok();
    assert_eq!(t.cgroups.children(), Vec::<PathBuf>::new());
}

/// `docker top`: the container's processes as `ps` shows them, with `ps` arguments too.
#[test]
fn docker_top_lists_the_containers_processes() {
    let t = daemon_with_busybox("live-top");
    let d = &t.daemon;
    let id = d
        .docker(&["run", "-d", &t.image, "sh", "-c", "sleep 301 & sleep 302"])
        .ok()
        .trim()
        .to_owned();
    support::eventually(
        "both sleeps run",
        std::time::Duration::from_secs(10),
        || d.docker(&["top", &id]).stdout.contains("sleep 302"),
    );
    let top = d.docker(&["top", &id]);
    let lines: Vec<&str> = top.ok().lines().collect();
    assert!(
        lines[0].contains("PID") && lines[0].contains("CMD"),
        "{}",
        top.stdout
    );
    // The shell execs its last command: two sleeps, one the child of the other.
    assert_eq!(lines.len(), 3, "two sleeps: {}", top.stdout);
    assert!(top.stdout.contains("sleep 301"), "{}", top.stdout);
    // Nothing of the host.
    assert!(!top.stdout.contains("berthd"), "{}", top.stdout);
    let custom = d.docker(&["top", &id, "-o", "pid,comm"]);
    let lines: Vec<&str> = custom.ok().lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["PID", "COMMAND"]
    );
    assert_eq!(lines.len(), 3, "{}", custom.stdout);
    d.docker(&["stop", "-t", "0", &id]).ok();
    refused(d.docker(&["top", &id]), "is not running");
    d.docker(&["rm", &id]).ok();
    assert_eq!(t.cgroups.children(), Vec::<PathBuf>::new());
}

/// The transcript chapter 5's page shows: pause, the errors dockerd gives, update, and what
/// we refuse (ids and times redacted, the words kept).
#[test]
fn transcript_of_pause_and_update() {
    let t = daemon_with_busybox("live-transcript");
    let d = &t.daemon;
    let name = support::unique("web");
    d.docker(&[
        "run", "-d", "--name", &name, "-m", "64m", &t.image, "sleep", "300",
    ])
    .ok();
    let id = d
        .docker(&["inspect", "-f", "{{.Id}}", &name])
        .ok()
        .trim()
        .to_owned();
    let memory_file = t.cgroups.dir("memory", &id).join("memory.limit_in_bytes");
    let mut text = String::new();
    let step = |shown: &str, args: &[&str]| {
        let out = d.docker(args);
        format!("$ {shown}\n{}{}", out.stdout, out.stderr)
    };
    let ps = ["ps", "--format", "{{.Names}}: {{.Status}}"];
    text += &step("docker pause web", &["pause", &name]);
    text += &step("docker ps --format '{{.Names}}: {{.Status}}'", &ps);
    text += &step("docker pause web", &["pause", &name]);
    text += &step("docker exec web true", &["exec", &name, "true"]);
    text += &step("docker unpause web", &["unpause", &name]);
    text += &step("docker unpause web", &["unpause", &name]);
    text += &step(
        "docker update --memory 128m --pids-limit 30 web",
        &["update", "--memory", "128m", "--pids-limit", "30", &name],
    );
    text += &step(
        "docker inspect -f '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}' web",
        &[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            &name,
        ],
    );
    let limit = std::fs::read_to_string(&memory_file).expect("the memory limit file");
    text.push_str(&format!(
        "$ cat /sys/fs/cgroup/memory/berth/[ID]/memory.limit_in_bytes\n{limit}"
    ));
    text += &step(
        "docker update --restart always web",
        &["update", "--restart", "always", &name],
    );
    text += &step(
        "docker update --memory 1m web",
        &["update", "--memory", "1m", &name],
    );
    text += &step("docker stop -t 1 web", &["stop", "-t", "1", &name]);
    text += &step("docker top web", &["top", &name]);
    let text = text.replace(&name, "web");
    insta::with_settings!({ filters => support::redact::filters() }, {
        insta::assert_snapshot!("pause_and_update", text);
    });
    d.docker(&["rm", &name]).ok();
    assert_eq!(t.cgroups.children(), Vec::<PathBuf>::new());
}
