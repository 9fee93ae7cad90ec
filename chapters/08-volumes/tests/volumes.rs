//! Volumes as a user relies on them, through `ch08` and real mounts: data that outlives its
//! container, shared between two running ones, read-only when asked, filled from the image
//! once; and bad input refused before anything is made.

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Ch08;

/// `$ ch08 ARGS` and what it printed, the data root shown as the default one.
fn transcript(ch08: &Ch08, lines: &mut String, args: &[&str]) {
    let out = ch08.run(args);
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.to_string()
            }
        })
        .collect();
    lines.push_str(&format!("$ ch08 {}\n", quoted.join(" ")));
    lines.push_str(&out.stdout);
    lines.push_str(&out.stderr);
    if out.code != 0 {
        lines.push_str(&format!("[exit {}]\n", out.code));
    }
    let root = ch08.root().display().to_string();
    *lines = lines.replace(&root, "/var/lib/berth");
}

// ANCHOR: round_trip
/// Write in one container, remove it, read in the next: the transcript of the book's
/// "Check your work".
#[test]
fn data_outlives_its_container() {
    let ch08 = Ch08::new("round-trip");
    let mut lines = String::new();
    let steps: [&[&str]; 7] = [
        &["volume", "create", "--label", "app=notes", "notes"],
        &[
            "run",
            "--name",
            "writer",
            "-v",
            "notes:/notes",
            "busybox",
            "sh",
            "-c",
            "echo kept > /notes/today; grep /notes /proc/mounts | cut -d\" \" -f2,4 | cut -d, -f1",
        ],
        &["rm", "writer"],
        &[
            "run",
            "--rm",
            "-v",
            "notes:/notes:ro",
            "busybox",
            "sh",
            "-c",
            "cat /notes/today; echo more >> /notes/today",
        ],
        &["volume", "ls", "--filter", "label=app=notes"],
        &["volume", "rm", "notes"],
        &["volume", "ls"],
    ];
    for args in steps {
        transcript(&ch08, &mut lines, args);
    }
    insta::assert_snapshot!("round_trip", lines);
    assert!(ch08.volume_dirs().is_empty());
}
// ANCHOR_END: round_trip

#[test]
fn two_running_containers_share_a_volume() {
    let ch08 = Ch08::new("share");
    // The first waits for a file that only the second writes.
    let waiter = "for i in $(seq 100); do [ -f /shared/go ] && cat /shared/go && exit 0; \
                  sleep 0.1; done; exit 3";
    let mut first = ch08
        .command(&[
            "run",
            "--rm",
            "-v",
            "shared:/shared",
            "busybox",
            "sh",
            "-c",
            waiter,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("first container");
    ch08.run(&[
        "run",
        "--rm",
        "-v",
        "shared:/shared",
        "busybox",
        "sh",
        "-c",
        "echo from-the-second > /shared/go",
    ])
    .ok();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = first.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the first container never saw the file"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut output = String::new();
    first
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut output)
        .expect("read");
    assert!(status.success(), "first container: {status:?}");
    assert_eq!(output, "from-the-second\n");
}

#[test]
fn read_only_mounts_refuse_writes() {
    let ch08 = Ch08::new("read-only");
    let host = berth_tests::test_dir("ch08-ro-host");
    let bind = format!("{}:/host:ro", host.path().display());
    let out = ch08.run(&[
        "run",
        "--rm",
        "-v",
        "data:/data:ro",
        "-v",
        &bind,
        "--mount",
        "type=tmpfs,dst=/mem,readonly",
        "busybox",
        "sh",
        "-c",
        "for d in /data /host /mem; do touch $d/x 2>&1; done; exit 0",
    ]);
    let out = out.ok();
    assert_eq!(
        out.stdout,
        "touch: /data/x: Read-only file system\ntouch: /host/x: Read-only file system\n\
         touch: /mem/x: Read-only file system\n"
    );
    assert_eq!(std::fs::read_dir(host.path()).expect("host").count(), 0);

    // `--read-only`: the root refuses writes, the volumes and tmpfs stay writable.
    let out = ch08
        .run(&[
            "run",
            "--rm",
            "--read-only",
            "-v",
            "data:/data",
            "--tmpfs",
            "/run:size=1m",
            "busybox",
            "sh",
            "-c",
            "touch /x 2>&1; touch /data/y /run/z && echo volumes-writable; \
             grep ' /run ' /proc/mounts | cut -d' ' -f4",
        ])
        .ok();
    assert_eq!(
        out.stdout,
        "touch: /x: Read-only file system\nvolumes-writable\n\
         rw,nosuid,nodev,noexec,relatime,size=1024k\n"
    );
}

// ANCHOR: copy_up
#[test]
fn the_image_files_are_copied_into_a_new_volume_once() {
    let ch08 = Ch08::new("copy-up");
    let first = ch08
        .run(&[
            "run",
            "--rm",
            "-v",
            "etc:/etc",
            "busybox",
            "sh",
            "-c",
            "ls /etc; rm /etc/*",
        ])
        .ok();
    assert_eq!(first.stdout, "group\nhostname\npasswd\n");
    // Emptied by the container: not filled again.
    let second = ch08
        .run(&["run", "--rm", "-v", "etc:/etc", "busybox", "ls", "/etc"])
        .ok();
    assert_eq!(second.stdout, "");
    // `nocopy`: the volume stays empty.
    let nocopy = ch08
        .run(&[
            "run",
            "--rm",
            "-v",
            "bare:/etc:nocopy",
            "busybox",
            "ls",
            "/etc",
        ])
        .ok();
    assert_eq!(nocopy.stdout, "");
    // Owners and modes are the image's.
    ch08.run(&["run", "--rm", "-v", "kept:/etc", "busybox", "true"])
        .ok();
    let data = ch08.root().join("volumes/kept/_data/passwd");
    let meta = std::fs::metadata(&data).expect("copied passwd");
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o644));
}
// ANCHOR_END: copy_up

#[test]
fn anonymous_volumes_go_with_rm_v_and_with_rm() {
    let ch08 = Ch08::new("anonymous");
    ch08.run(&[
        "run",
        "--name",
        "keep",
        "-v",
        "/scratch",
        "-v",
        "named:/named",
        "busybox",
        "true",
    ])
    .ok();
    let before = ch08.run(&["volume", "ls", "-q"]).ok().stdout;
    assert_eq!(before.lines().count(), 2, "{before}");
    // In use by `keep`: refused, even with -f.
    let refused = ch08.run(&["volume", "rm", "-f", "named"]);
    assert_eq!(refused.code, 125);
    assert!(
        refused
            .stderr
            .contains("volume named is in use by container(s)"),
        "{}",
        refused.stderr
    );
    let dangling = ch08
        .run(&["volume", "ls", "-q", "--filter", "dangling=true"])
        .ok();
    assert_eq!(dangling.stdout, "");
    ch08.run(&["rm", "-v", "keep"]).ok();
    assert_eq!(ch08.run(&["volume", "ls", "-q"]).ok().stdout, "named\n");

    ch08.run(&["run", "--rm", "-v", "/scratch", "busybox", "true"])
        .ok();
    assert_eq!(ch08.run(&["volume", "ls", "-q"]).ok().stdout, "named\n");

    // Prune: anonymous ones only, unless -a.
    ch08.run(&["run", "--name", "gone", "-v", "/x", "busybox", "true"])
        .ok();
    ch08.run(&["rm", "gone"]).ok();
    let pruned = ch08.run(&["volume", "prune"]).ok().stdout;
    assert!(pruned.starts_with("Deleted Volumes:\n"), "{pruned}");
    assert_eq!(ch08.run(&["volume", "ls", "-q"]).ok().stdout, "named\n");
    ch08.run(&["volume", "prune", "-a"]).ok();
    assert_eq!(ch08.run(&["volume", "ls", "-q"]).ok().stdout, "");
}

#[test]
fn bad_input_is_named_and_makes_nothing() {
    let ch08 = Ch08::new("bad-input");
    let cases: [(&[&str], &str); 6] = [
        (&["volume", "create", "a/b"], "invalid volume name \"a/b\""),
        (&["volume", "create", ".."], "invalid volume name \"..\""),
        (
            &["volume", "create", "--opt", "type=nfs", "v1"],
            "invalid volume option \"type\"",
        ),
        (
            &["run", "-v", "../x:/data", "busybox", "true"],
            "invalid -v \"../x:/data\"",
        ),
        (
            &["run", "--tmpfs", "/run:size=lots", "busybox", "true"],
            "invalid --tmpfs \"/run:size=lots\": \"lots\" is not a size",
        ),
        (
            &[
                "run",
                "--mount",
                "type=bind,src=/nonexistent-berth,dst=/x",
                "busybox",
                "true",
            ],
            "bind source /nonexistent-berth",
        ),
    ];
    for (args, expected) in cases {
        let out = ch08.run(args);
        assert_eq!(out.code, 125, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
    }
    assert!(ch08.volume_dirs().is_empty(), "{:?}", ch08.volume_dirs());
    assert_eq!(ch08.containers(), 0, "a failed run left a container");
    assert!(!std::path::Path::new("/nonexistent-berth").exists());
}

#[test]
fn volumes_from_shares_another_containers_mounts() {
    let ch08 = Ch08::new("volumes-from");
    ch08.run(&[
        "run",
        "--name",
        "source",
        "-v",
        "/anon",
        "-v",
        "shared:/named",
        "busybox",
        "sh",
        "-c",
        "echo a > /anon/f; echo n > /named/f",
    ])
    .ok();
    let out = ch08
        .run(&[
            "run",
            "--rm",
            "--volumes-from",
            "source:ro",
            "busybox",
            "sh",
            "-c",
            "cat /anon/f /named/f; touch /named/x 2>&1; exit 0",
        ])
        .ok();
    assert_eq!(out.stdout, "a\nn\ntouch: /named/x: Read-only file system\n");
    // The `--rm` container did not take the source's anonymous volume with it.
    assert_eq!(
        ch08.run(&["volume", "ls", "-q"])
            .ok()
            .stdout
            .lines()
            .count(),
        2
    );
    ch08.run(&["rm", "-v", "source"]).ok();
    assert_eq!(ch08.run(&["volume", "ls", "-q"]).ok().stdout, "shared\n");
    let bad = ch08.run(&["run", "--volumes-from", "source:rx", "busybox", "true"]);
    assert!(
        bad.stderr.contains("invalid --volumes-from"),
        "{}",
        bad.stderr
    );
}
