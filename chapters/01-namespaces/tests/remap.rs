//! A remapped root: real root gives the container a user namespace with a map of its choice
//! (`--uid-map`/`--gid-map`), so that uid 0 inside is an unprivileged uid of the host, as
//! Docker's `userns-remap` does (chapter 6 builds on this).

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::{Runner, finish};

/// A range no user of this machine owns; nothing is written with these ids outside the test.
const FIRST: u32 = 3_100_000;
const COUNT: u32 = 65536;

fn remapped() -> [String; 4] {
    let map = format!("0:{FIRST}:{COUNT}");
    ["--uid-map".into(), map.clone(), "--gid-map".into(), map]
}

/// The map the container reads is the one asked for, and the host sees its root as FIRST.
#[test]
fn root_inside_is_the_first_id_of_the_range_outside() {
    let options = remapped();
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let script = "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; sleep 5";
    let mut child = Runner::ch01()
        .command(&options, &["sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting ch01");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut next = || {
        let line = lines.next().and_then(Result::ok).unwrap_or_default();
        line.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let read: Vec<String> = (0..4).map(|_| next()).collect();
    let map = format!("0 {FIRST} {COUNT}");
    assert_eq!(read, [map.as_str(), &map, "0", "0"]);

    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id()))
        .expect("reading ch01's children");
    let pid1: u32 = children.trim().parse().expect("ch01 has exactly one child");
    let status = std::fs::read_to_string(format!("/proc/{pid1}/status")).expect("status");
    let first_id = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_owned)
    };
    let expected = Some(FIRST.to_string());
    assert_eq!(
        first_id("Uid:"),
        expected,
        "the host sees the container's root"
    );
    assert_eq!(first_id("Gid:"), expected);

    let pid1 = nix::unistd::Pid::from_raw(pid1 as i32);
    nix::sys::signal::kill(pid1, nix::sys::signal::Signal::SIGKILL).expect("killing PID 1");
    assert_eq!(finish(child).code, 137);
}

/// Root in a remapped container is not the host's root: the rootfs's files (the host's
/// uid 0, mapped to nothing) show as the overflow id, and it cannot write into them.
/// (Chapter 6 makes the image's files the container root's own with idmapped mounts.)
#[test]
fn the_hosts_root_is_nobody_inside() {
    let options = remapped();
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let script =
        "stat -c %u /bin; if touch /bin/berth-remap-marker 2>/dev/null; then echo wrote; fi";
    let out = Runner::ch01()
        .run(&options, &["sh", "-c", script])
        .success()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.stdout.trim(), "65534");
    let marker = berth_tests::busybox_rootfs().join("bin/berth-remap-marker");
    assert!(
        !marker.exists(),
        "root in the container wrote {}",
        marker.display()
    );
}

/// Supplementary groups stay settable (no `setgroups deny`, unlike rootless): `--user` with
/// its groups works in a remapped container.
#[test]
fn a_user_with_groups_runs_remapped() {
    let mut options = remapped().to_vec();
    options.extend(["--user".into(), "1000:1000".into()]);
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let out = Runner::ch01()
        .run(&options, &["id"])
        .success()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.stdout.trim(), "uid=1000 gid=1000 groups=1000");
}

/// A malformed map is refused before anything starts, naming the flag and the text.
#[test]
fn a_bad_map_is_refused_with_the_flag() {
    let out = Runner::ch01().run(&["--uid-map", "0:1", "--gid-map", "0:1:1"], &["true"]);
    assert_eq!(out.code, 125);
    insta::assert_snapshot!(out.stderr, @r#"ch01: --uid-map "0:1": expected INSIDE:OUTSIDE:COUNT as numbers"#);
}
