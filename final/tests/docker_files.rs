//! The real docker CLI reaches a container's files from the outside: `docker cp` both ways
//! (running and stopped, volumes included, never the host's files), `docker export` and
//! `docker import`, `docker diff`.

mod support;

use std::path::Path;

use support::api::request;
use support::{daemon_with_busybox, unique};

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

#[test]
fn cp_both_ways_running_and_stopped_with_a_volume() {
    let (daemon, _registry, image) = daemon_with_busybox("cli-cp");
    let host = daemon.dir().join("host");
    std::fs::create_dir(&host).unwrap();
    daemon
        .docker(&[
            "run",
            "-d",
            "--name",
            "box",
            "-v",
            "cpdata:/data",
            &image,
            "sh",
            "-c",
            "echo made inside > /etc/motd-x; echo in volume > /data/v; sleep 300",
        ])
        .ok();
    support::eventually(
        "the container's files",
        std::time::Duration::from_secs(10),
        || {
            daemon
                .docker(&["exec", "box", "cat", "/data/v"])
                .stdout
                .contains("in volume")
        },
    );

    // Out of a running container: a file, a file on a volume, a directory.
    let out = host.join("motd");
    daemon
        .docker(&["cp", "box:/etc/motd-x", path_str(&out)])
        .ok();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "made inside\n");
    let out = host.join("v");
    daemon.docker(&["cp", "box:/data/v", path_str(&out)]).ok();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "in volume\n");
    let out = host.join("etc");
    daemon.docker(&["cp", "box:/etc", path_str(&out)]).ok();
    assert!(out.join("passwd").is_file(), "docker cp of a directory");

    // Into it: onto the volume, seen by the container's own processes.
    let file = host.join("sent");
    std::fs::write(&file, b"from the host\n").unwrap();
    daemon.docker(&["cp", path_str(&file), "box:/data/"]).ok();
    let read = daemon.docker(&["exec", "box", "cat", "/data/sent"]);
    assert_eq!(read.ok(), "from the host\n");

    // Stopped: the same paths, the volume made visible again.
    daemon.docker(&["kill", "box"]).ok();
    daemon.docker(&["wait", "box"]);
    daemon
        .docker(&["cp", path_str(&file), "box:/tmp/while-stopped"])
        .ok();
    let out = host.join("v-stopped");
    daemon
        .docker(&["cp", "box:/data/sent", path_str(&out)])
        .ok();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "from the host\n");
    assert!(
        daemon.mounts().is_empty(),
        "a cp into a stopped container left mounts: {:?}",
        daemon.mounts()
    );
    daemon.docker(&["start", "box"]).ok();
    let read = daemon.docker(&["exec", "box", "cat", "/tmp/while-stopped"]);
    assert_eq!(read.ok(), "from the host\n");

    // Refused: a path that is not there, a body that is not a tar.
    let missing = daemon.docker(&["cp", "box:/nope", path_str(&host.join("x"))]);
    missing.expect_code(1);
    assert!(
        missing
            .stderr
            .contains("Could not find the file /nope in container box"),
        "{}",
        missing.stderr
    );
    let bad = request(
        &daemon.socket(),
        "PUT",
        "/containers/box/archive?path=/tmp",
        &[("Content-Type", "application/x-tar")],
        b"this is not a tar archive, not even close to one; it is just text",
    )
    .unwrap();
    assert_eq!(bad.status, 400, "{}", bad.text());
    let head = request(
        &daemon.socket(),
        "HEAD",
        "/containers/box/archive?path=/nope",
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(head.status, 404);
    // A directory over a file, as the CLI asks (noOverwriteDirNonDir): refused, file kept.
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_size(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    archive
        .append_data(&mut header, "while-stopped/", std::io::empty())
        .unwrap();
    let dir_over_file = request(
        &daemon.socket(),
        "PUT",
        "/containers/box/archive?path=/tmp&noOverwriteDirNonDir=true",
        &[("Content-Type", "application/x-tar")],
        &archive.into_inner().unwrap(),
    )
    .unwrap();
    assert_eq!(dir_over_file.status, 400, "{}", dir_over_file.text());
    assert!(
        dir_over_file
            .text()
            .contains("would replace a non-directory with a directory"),
        "{}",
        dir_over_file.text()
    );
    let read = daemon.docker(&["exec", "box", "cat", "/tmp/while-stopped"]);
    assert_eq!(read.ok(), "from the host\n");
    daemon.docker(&["rm", "-f", "-v", "box"]).ok();
}

/// CVE-2018-15664: the container swaps a directory for a symlink to `/` while cp runs, in a
/// loop. Whatever it catches, a copy in never lands on the host and a copy out never reads
/// the host: the path ends inside the container's root.
/// An upload larger than the daemon's 16 MiB bound on request bodies (`docker cp` of a big
/// file in, `docker import` of a big tar): written to a file first, as `docker load`'s, and
/// streamed into the container (it was a 413 "request body larger than 16777216 bytes").
#[test]
fn big_uploads_are_not_bounded_by_the_json_body_limit() {
    let (daemon, _registry, image) = daemon_with_busybox("cli-cp-big");
    let big = daemon.dir().join("big");
    let size: usize = 20 << 20;
    std::fs::write(&big, vec![7u8; size]).unwrap();
    daemon
        .docker(&["run", "-d", "--name", "bigbox", &image, "sleep", "300"])
        .ok();
    daemon
        .docker(&["cp", path_str(&big), "bigbox:/tmp/big"])
        .ok();
    let inside = daemon.docker(&["exec", "bigbox", "stat", "-c", "%s", "/tmp/big"]);
    assert_eq!(inside.ok().trim(), size.to_string());
    // The same bytes as a rootfs tar for `docker import -`.
    let tar = daemon.dir().join("big.tar");
    let made = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(daemon.dir())
        .arg("big")
        .status()
        .unwrap();
    assert!(made.success());
    daemon
        .docker(&["import", path_str(&tar), "bigimport:1"])
        .ok();
    let history = daemon.docker(&["image", "inspect", "-f", "{{.Size}}", "bigimport:1"]);
    let image_size: usize = history.ok().trim().parse().unwrap();
    assert!(image_size >= size, "{image_size}");
    daemon.docker(&["rm", "-f", "bigbox"]).ok();
}

#[test]
fn cp_never_reaches_the_host_through_a_swapped_symlink() {
    let (daemon, _registry, image) = daemon_with_busybox("cli-cp-race");
    let marker = unique("berth-cp-marker");
    let host_marker = Path::new("/").join(&marker);
    let secret = unique("berth-host-secret");
    let host_secret = Path::new("/").join(&secret);
    let _cleanup = RemoveOnDrop(vec![host_marker.clone(), host_secret.clone()]);
    std::fs::write(&host_secret, b"the host's\n").unwrap();
    daemon
        .docker(&[
            "run",
            "-d",
            "--name",
            "racer",
            &image,
            "sh",
            "-c",
            "mkdir /d; ln -s / /l; while :; do mv /d /t; mv /l /d; mv /d /l; mv /t /d; done",
        ])
        .ok();
    let host = daemon.dir().join("host");
    std::fs::create_dir(&host).unwrap();
    let file = host.join(&marker);
    std::fs::write(&file, b"copied in\n").unwrap();
    for round in 0..30 {
        let _ = daemon.docker(&["cp", path_str(&file), "racer:/d/"]);
        let out = host.join(format!("out-{round}"));
        let _ = daemon.docker(&["cp", &format!("racer:/d/{secret}"), path_str(&out)]);
        assert!(
            !out.exists(),
            "round {round}: cp read the host's {}",
            host_secret.display()
        );
        assert!(
            !host_marker.exists(),
            "round {round}: cp wrote {} on the host",
            host_marker.display()
        );
    }
    daemon.docker(&["rm", "-f", "racer"]).ok();
}

#[test]
fn export_then_import_runs_with_its_changes() {
    let (daemon, _registry, image) = daemon_with_busybox("cli-export");
    daemon
        .docker(&[
            "run",
            "--name",
            "source",
            "-v",
            "exdata:/data",
            &image,
            "sh",
            "-c",
            "echo exported > /etc/motd-x; echo volume only > /data/v; rm /bin/ls",
        ])
        .ok();
    let tar = daemon.dir().join("source.tar");
    daemon
        .docker(&["export", "-o", path_str(&tar), "source"])
        .ok();
    let listing = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&tar)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    let names: Vec<&str> = listing.lines().collect();
    assert!(names.contains(&"etc/motd-x"), "{listing}");
    assert!(
        names.contains(&"data/"),
        "the mount point is kept: {listing}"
    );
    assert!(
        !names.contains(&"data/v"),
        "a volume is not exported: {listing}"
    );
    assert!(!names.contains(&"bin/ls"), "a deleted file is not exported");

    let imported = daemon.docker(&[
        "import",
        "-c",
        r#"CMD ["cat", "/etc/motd-x"]"#,
        "-c",
        "ENV GREETING=hello",
        "-c",
        "WORKDIR /tmp",
        "-m",
        "round trip",
        path_str(&tar),
        "imported:1",
    ]);
    assert!(imported.ok().starts_with("sha256:"), "{}", imported.stdout);
    let run = daemon.docker(&["run", "--rm", "imported:1"]);
    assert_eq!(run.ok(), "exported\n");
    let run = daemon.docker(&[
        "run",
        "--rm",
        "imported:1",
        "sh",
        "-c",
        "echo $GREETING; pwd",
    ]);
    assert_eq!(run.ok(), "hello\n/tmp\n");
    let history = daemon.docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Config.WorkingDir}}",
        "imported:1",
    ]);
    assert_eq!(history.ok(), "/tmp\n");

    // Refused: a body that is not a tar, a URL, a change that is not a config change.
    let junk = daemon.dir().join("junk.tar");
    std::fs::write(&junk, vec![b'x'; 2048]).unwrap();
    let refused = daemon.docker(&["import", path_str(&junk), "junk:1"]);
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("docker import"),
        "{}",
        refused.stderr
    );
    let refused = daemon.docker(&["import", "http://127.0.0.1:9/x.tar", "url:1"]);
    refused.expect_code(1);
    assert!(refused.stderr.contains("from a URL"), "{}", refused.stderr);
    let refused = daemon.docker(&["import", "-c", "RUN rm -rf /", path_str(&tar), "run:1"]);
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("RUN is not supported"),
        "{}",
        refused.stderr
    );
    let images = daemon.docker(&["images", "--format", "{{.Repository}}"]);
    assert!(
        !images.ok().contains("junk") && !images.stdout.contains("run"),
        "{}",
        images.stdout
    );
    daemon.docker(&["rm", "-v", "source"]).ok();
}

#[test]
fn diff_lists_changes_from_the_upper_directory() {
    let (daemon, _registry, image) = daemon_with_busybox("cli-diff");
    daemon
        .docker(&[
            "run",
            "--name",
            "changer",
            &image,
            "sh",
            "-c",
            "echo x > /etc/newfile; rm /bin/ls; echo y >> /etc/passwd; mkdir -p /made/deep",
        ])
        .ok();
    let diff = daemon.docker(&["diff", "changer"]);
    assert_eq!(
        diff.ok(),
        "C /bin\nD /bin/ls\nC /etc\nA /etc/newfile\nC /etc/passwd\nA /made\nA /made/deep\n"
    );
    let missing = daemon.docker(&["diff", "nosuch"]);
    missing.expect_code(1);
    assert!(
        missing.stderr.contains("No such container"),
        "{}",
        missing.stderr
    );
    daemon.docker(&["rm", "changer"]).ok();
}

/// Removes its paths when dropped, also when the test fails.
struct RemoveOnDrop(Vec<std::path::PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}
