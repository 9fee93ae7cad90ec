//! `berth`'s everyday verbs beyond run/ps/rm (issue 12), end to end against a real berthd:
//! the container verbs (rename, top, diff, wait, pause, unpause, update, port, cp, export,
//! container prune), the image and system verbs (save, load, import, history, image prune,
//! system df, system prune, events), and `run`/`create`'s security, network and life flags.
//! Each group also shows a refusal: the daemon's message on stderr and the docker CLI's exit
//! code.
//!
//! Every test has its own daemon (its own state directory, removed with it); busybox comes
//! from the fixture archive through `berth load`, so no registry is needed.

mod support;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::{Daemon, Output, eventually, unique};

/// busybox as `docker save` writes it.
const FIXTURE: &str = "/var/cache/berth/fixtures/images/busybox.tar";

/// A daemon with busybox loaded by `berth load`; returns the image's name.
fn daemon_with_busybox(label: &str) -> (Daemon, String) {
    let daemon = Daemon::builder().label(label).start();
    let loaded = daemon.berth(&["load", "-q", "-i", FIXTURE]);
    let name = loaded
        .ok()
        .lines()
        .find_map(|line| line.strip_prefix("Loaded image: "))
        .unwrap_or_else(|| panic!("no `Loaded image:` line in {:?}", loaded.stdout))
        .to_owned();
    (daemon, name)
}

#[track_caller]
fn json(output: &Output) -> Value {
    serde_json::from_str(output.ok())
        .unwrap_or_else(|e| panic!("`{}`: not JSON ({e}):\n{}", output.command, output.stdout))
}

/// Runs berth with `input` on stdin, returning its exit code and raw stdout and stderr.
fn berth_bytes(daemon: &Daemon, args: &[&str], input: &[u8]) -> (i32, Vec<u8>, String) {
    let mut child = daemon
        .berth_command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting berth");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("waiting for berth");
    let _ = writer.join();
    (
        output.status.code().unwrap_or(-1),
        output.stdout,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The names of a tar's entries.
fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .expect("a tar")
        .map(|e| {
            e.expect("an entry")
                .path()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn container_verbs_rename_inspect_copy_export_and_prune() {
    let (daemon, image) = daemon_with_busybox("client-verbs-ctr");
    let first = unique("verbs");
    let name = unique("renamed");
    let id = daemon
        .berth(&[
            "run",
            "-d",
            "--name",
            &first,
            &image,
            "sh",
            "-c",
            "echo made > /made; rm /etc/motd 2>/dev/null; sleep 300",
        ])
        .ok()
        .trim()
        .to_owned();

    // rename: silent, and the new name answers.
    assert_eq!(daemon.berth(&["rename", &first, &name]).ok(), "");
    let inspected = json(&daemon.berth(&["inspect", &name]));
    assert_eq!(inspected[0]["Id"], id.as_str());

    // top: ps's table, with the container's command in it.
    let top = daemon.berth(&["top", &name]);
    let mut lines = top.ok().lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.contains("PID") && header.contains("CMD"), "{header}");
    assert!(top.stdout.contains("sleep 300"), "{}", top.stdout);

    // diff: the file the command made is Added.
    eventually("the container's file", Duration::from_secs(10), || {
        daemon
            .berth(&["diff", &name])
            .ok()
            .lines()
            .any(|l| l == "A /made")
    });

    // pause/unpause print the name and change the state.
    assert_eq!(daemon.berth(&["pause", &name]).ok(), format!("{name}\n"));
    assert_eq!(
        json(&daemon.berth(&["inspect", &name]))[0]["State"]["Status"],
        "paused"
    );
    assert_eq!(daemon.berth(&["unpause", &name]).ok(), format!("{name}\n"));
    assert_eq!(
        json(&daemon.berth(&["inspect", &name]))[0]["State"]["Status"],
        "running"
    );

    // update: the limit reaches the record (inspect) through the daemon.
    assert_eq!(
        daemon
            .berth(&["update", "-m", "64m", "--pids-limit", "50", &name])
            .ok(),
        format!("{name}\n")
    );
    let host = &json(&daemon.berth(&["inspect", &name]))[0]["HostConfig"];
    assert_eq!(host["Memory"], 64 * 1024 * 1024);
    assert_eq!(host["PidsLimit"], 50);
    let bad = daemon.berth(&["update", "-m", "lots", &name]);
    bad.expect_code(1);
    assert!(bad.stderr.contains("--memory"), "{}", bad.stderr);

    // cp in (a host file), cp out (to a new host name), cp out as a tar on stdout.
    let scratch = tempfile::tempdir().expect("a temp dir");
    let host_file = scratch.path().join("greeting.txt");
    std::fs::write(&host_file, "hello from the host\n").unwrap();
    daemon
        .berth(&["cp", host_file.to_str().unwrap(), &format!("{name}:/tmp/")])
        .ok();
    let exec = daemon.berth(&["exec", &name, "cat", "/tmp/greeting.txt"]);
    assert_eq!(exec.ok(), "hello from the host\n");
    let back = scratch.path().join("made-copy");
    daemon
        .berth(&["cp", &format!("{name}:/made"), back.to_str().unwrap()])
        .ok();
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "made\n");
    // A directory to a new host name, and into an existing host directory under its own.
    let etc = scratch.path().join("etc-copy");
    daemon
        .berth(&["cp", &format!("{name}:/etc"), etc.to_str().unwrap()])
        .ok();
    assert!(etc.join("passwd").is_file());
    daemon
        .berth(&[
            "cp",
            &format!("{name}:/etc"),
            scratch.path().to_str().unwrap(),
        ])
        .ok();
    assert!(scratch.path().join("etc/passwd").is_file());
    // Nothing half-made is left beside the copies.
    let leftovers: Vec<_> = std::fs::read_dir(scratch.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".berth-cp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let (code, tar, stderr) = berth_bytes(&daemon, &["cp", &format!("{name}:/made"), "-"], b"");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(tar_names(&tar), ["made"]);
    // A tar on stdin, into a directory.
    let mut packed = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(6);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    packed
        .append_data(&mut header, "from-stdin", &b"piped\n"[..])
        .unwrap();
    let packed = packed.into_inner().unwrap();
    let (code, _, stderr) = berth_bytes(&daemon, &["cp", "-", &format!("{name}:/tmp")], &packed);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        daemon
            .berth(&["exec", &name, "cat", "/tmp/from-stdin"])
            .ok(),
        "piped\n"
    );

    // export -o: the whole root as a tar.
    let exported = scratch.path().join("root.tar");
    daemon
        .berth(&["export", "-o", exported.to_str().unwrap(), &name])
        .ok();
    let names = tar_names(&std::fs::read(&exported).unwrap());
    assert!(
        names
            .iter()
            .any(|n| n.trim_start_matches("./") == "bin/busybox"),
        "{names:?}"
    );

    // port: nothing published here, and asking for one port says so.
    assert_eq!(daemon.berth(&["port", &name]).ok(), "");
    let no_port = daemon.berth(&["port", &name, "80"]);
    no_port.expect_code(1);
    assert!(
        no_port.stderr.contains("No public port '80' published"),
        "{}",
        no_port.stderr
    );

    // wait prints the exit code once the container stops; prune then removes it.
    daemon.berth(&["kill", &name]).ok();
    assert_eq!(daemon.berth(&["wait", &name]).ok(), "137\n");
    let pruned = daemon.berth(&["container", "prune", "-f"]);
    assert!(
        pruned.ok().starts_with(&format!(
            "Deleted Containers:\n{id}\n\nTotal reclaimed space: "
        )),
        "{}",
        pruned.stdout
    );
    assert_eq!(
        json(&daemon.berth(&["ps", "-a", "--format", "json"])),
        Value::Array(vec![])
    );
    // Without -f and with nothing on stdin, nothing is removed.
    let kept = daemon
        .berth(&["create", &image, "true"])
        .ok()
        .trim()
        .to_owned();
    let unconfirmed = daemon.berth(&["container", "prune"]);
    unconfirmed.ok();
    assert!(
        unconfirmed.stderr.contains("cancelled"),
        "{}",
        unconfirmed.stderr
    );
    assert!(daemon.berth(&["inspect", &kept]).code == Some(0));
    daemon.berth(&["rm", &kept]).ok();

    // Refusals: the daemon's words, exit 1.
    let missing = daemon.berth(&["cp", host_file.to_str().unwrap(), "no-such-ctr:/tmp"]);
    missing.expect_code(1);
    assert_eq!(
        missing.stderr,
        "berth: Error response from daemon: No such container: no-such-ctr\n"
    );
    let (code, _, stderr) = berth_bytes(&daemon, &["cp", "-", &format!("{kept}:/tmp")], b"x");
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("berth: Error response from daemon: "),
        "{stderr}"
    );
    let rename_missing = daemon.berth(&["rename", "no-such-ctr", "x"]);
    rename_missing.expect_code(1);
    assert!(
        rename_missing
            .stderr
            .contains("No such container: no-such-ctr")
    );
}

/// Now, in unix seconds.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[test]
fn image_and_system_verbs_save_load_import_history_prune_df_events() {
    let started = now();
    let (daemon, image) = daemon_with_busybox("client-verbs-img");
    let scratch = tempfile::tempdir().expect("a temp dir");

    // history: Docker's columns, the newest step first.
    let history = daemon.berth(&["history", &image]);
    let header = history.ok().lines().next().unwrap_or_default().to_owned();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    );
    assert_eq!(
        daemon.berth(&["image", "history", &image]).ok(),
        history.stdout
    );

    // save -o, remove, load -i: the same image id comes back.
    let id = json(&daemon.berth(&["inspect", &image]))[0]["Id"].clone();
    let archive = scratch.path().join("busybox.tar");
    daemon
        .berth(&["save", "-o", archive.to_str().unwrap(), &image])
        .ok();
    assert!(tar_names(&std::fs::read(&archive).unwrap()).contains(&"manifest.json".to_owned()));
    // An ordinary file, not the 0600 of a temporary one.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&archive).unwrap().permissions(),
    );
    assert_eq!(mode & 0o044, 0o044, "{mode:o}");
    daemon.berth(&["rmi", &image]).ok();
    let loaded = daemon.berth(&["load", "-i", archive.to_str().unwrap()]);
    // Not a terminal: no layer progress, only what was loaded (the docker CLI's output).
    assert_eq!(loaded.ok(), format!("Loaded image: {image}\n"));
    assert_eq!(json(&daemon.berth(&["inspect", &image]))[0]["Id"], id);

    // save to stdout, load from stdin.
    let (code, saved, stderr) = berth_bytes(&daemon, &["save", &image], b"");
    assert_eq!(code, 0, "{stderr}");
    daemon.berth(&["rmi", &image]).ok();
    let (code, out, stderr) = berth_bytes(&daemon, &["load"], &saved);
    assert_eq!(code, 0, "{stderr}");
    assert!(String::from_utf8_lossy(&out).contains("Loaded image: "));

    // import: a root filesystem (a container's export) with a CMD.
    let rootfs = scratch.path().join("rootfs.tar");
    let ctr = daemon
        .berth(&["create", &image, "true"])
        .ok()
        .trim()
        .to_owned();
    daemon
        .berth(&["export", "-o", rootfs.to_str().unwrap(), &ctr])
        .ok();
    daemon.berth(&["rm", &ctr]).ok();
    let imported_name = format!("{}:v1", unique("imported"));
    let imported = daemon.berth(&[
        "import",
        "--change",
        "CMD [\"echo\", \"imported\"]",
        rootfs.to_str().unwrap(),
        &imported_name,
    ]);
    assert!(
        imported.ok().trim().starts_with("sha256:"),
        "{}",
        imported.stdout
    );
    assert_eq!(
        daemon.berth(&["run", "--rm", &imported_name]).ok(),
        "imported\n"
    );

    // system df: four rows, with the images counted.
    let df = daemon.berth(&["system", "df"]);
    let rows: Vec<Vec<&str>> = df
        .ok()
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]);
    assert_eq!(rows[1][..3], ["Images", "2", "0"]);
    assert_eq!(rows[2][..3], ["Containers", "0", "0"]);
    assert_eq!(rows[3][..2], ["Local", "Volumes"]);
    assert_eq!(rows[4][..3], ["Build", "Cache", "0"]);

    // image prune -a -f removes the unused images; system prune -f has nothing left to do.
    let pruned = daemon.berth(&["image", "prune", "-a", "-f"]);
    let text = pruned.ok();
    assert!(text.starts_with("Deleted Images:\n"), "{text}");
    assert!(
        text.contains(&format!("untagged: {imported_name}")),
        "{text}"
    );
    assert!(text.contains("\nTotal reclaimed space: "), "{text}");
    assert_eq!(
        json(&daemon.berth(&["images", "--format", "json"])),
        Value::Array(vec![])
    );
    assert_eq!(
        daemon.berth(&["system", "prune", "-f"]).ok(),
        "Total reclaimed space: 0B\n"
    );

    // events: the span since the test began, in the docker CLI's line format.
    let until = (now() + 1).to_string();
    let events = daemon.berth(&["events", "--since", &started.to_string(), "--until", &until]);
    let lines: Vec<&str> = events.ok().lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!(" image untag {image} (name={image})"))),
        "{lines:#?}"
    );
    let create = lines
        .iter()
        .find(|l| l.contains(" container create "))
        .unwrap_or_else(|| panic!("no container create in {lines:#?}"));
    // `2026-01-02T03:04:05.123456789Z container create ID (image=..., name=...)`
    let time = create.split(' ').next().unwrap_or_default();
    assert!(time.len() == 30 && time.ends_with('Z'), "{create}");
    assert!(
        create.contains(&format!(" container create {ctr} (")),
        "{create}"
    );
    let only_images = daemon.berth(&[
        "events",
        "--since",
        &started.to_string(),
        "--until",
        &until,
        "--filter",
        "type=image",
    ]);
    assert!(
        only_images.ok().lines().all(|l| l.contains(" image ")),
        "{}",
        only_images.stdout
    );

    // Refusals: a bad archive is the daemon's 400 (exit 1); a missing image too.
    let garbage = scratch.path().join("garbage.tar");
    std::fs::write(&garbage, b"this is not a tar archive").unwrap();
    let refused = daemon.berth(&["load", "-i", garbage.to_str().unwrap()]);
    refused.expect_code(1);
    assert!(
        refused
            .stderr
            .starts_with("berth: Error response from daemon: "),
        "{}",
        refused.stderr
    );
    let missing = daemon.berth(&["history", "no-such-image"]);
    missing.expect_code(1);
    assert!(
        missing.stderr.contains("no-such-image"),
        "{}",
        missing.stderr
    );
    let save_missing = daemon.berth(&["save", "-o", garbage.to_str().unwrap(), "no-such-image"]);
    save_missing.expect_code(1);
    // The refused save left the file as it was.
    assert_eq!(
        std::fs::read(&garbage).unwrap(),
        b"this is not a tar archive"
    );
}

#[test]
fn run_and_create_fill_security_network_and_life_flags() {
    let (daemon, image) = daemon_with_busybox("client-verbs-run");
    let name = unique("knobs");
    daemon
        .berth(&[
            "create",
            "--name",
            &name,
            "--cap-drop",
            "ALL",
            "--cap-add",
            "CHOWN",
            "--security-opt",
            "no-new-privileges",
            "--read-only",
            "--tmpfs",
            "/run:size=1m",
            "--group-add",
            "10",
            "--network",
            "none",
            "--restart",
            "on-failure:2",
            "--health-cmd",
            "true",
            "--health-interval",
            "5s",
            "--health-retries",
            "2",
            "--pids-limit",
            "30",
            &image,
            "sleep",
            "1",
        ])
        .ok();
    let inspected = &json(&daemon.berth(&["inspect", &name]))[0];
    let host = &inspected["HostConfig"];
    assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
    assert_eq!(host["CapAdd"], serde_json::json!(["CHOWN"]));
    assert_eq!(
        host["SecurityOpt"],
        serde_json::json!(["no-new-privileges"])
    );
    assert_eq!(host["ReadonlyRootfs"], true);
    assert_eq!(host["Tmpfs"], serde_json::json!({"/run": "size=1m"}));
    assert_eq!(host["GroupAdd"], serde_json::json!(["10"]));
    assert_eq!(host["NetworkMode"], "none");
    assert_eq!(host["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(host["RestartPolicy"]["MaximumRetryCount"], 2);
    assert_eq!(host["PidsLimit"], 30);
    assert_eq!(
        inspected["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"])
    );
    assert_eq!(
        inspected["Config"]["Healthcheck"]["Interval"],
        5_000_000_000u64
    );
    daemon.berth(&["rm", &name]).ok();

    // The flags reach the process: a read-only root refuses writes, the tmpfs takes them.
    let run = daemon.berth(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/run",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "touch /x 2>/dev/null && echo wrote-root; touch /run/y && echo wrote-tmpfs",
    ]);
    assert_eq!(run.ok(), "wrote-tmpfs\n");

    // Refusals: the daemon names the flag and run exits 125, as docker's; a bad value the
    // client can read is refused before any request, also 125.
    let refused = daemon.berth(&["run", "--rm", "--userns", "bogus", &image, "true"]);
    refused.expect_code(125);
    assert!(refused.stderr.contains("--userns"), "{}", refused.stderr);
    let bad_duration = daemon.berth(&["run", "--rm", "--health-interval", "soon", &image, "true"]);
    bad_duration.expect_code(125);
    assert!(
        bad_duration.stderr.contains("--health-interval"),
        "{}",
        bad_duration.stderr
    );
    assert_eq!(
        json(&daemon.berth(&["ps", "-a", "--format", "json"])),
        Value::Array(vec![])
    );
}
