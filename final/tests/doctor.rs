//! `berth doctor` on this machine: the real checks pass, and what is missing is reported as a
//! failure with the exact fix.
//!
//! The checks run as the suite does (root, fixtures built by `scripts/fixtures.sh`). The
//! failing cases point a check at a path or a port that does not exist, never at the host's.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

use berth::doctor::{
    Host, Status, check_daemon, check_fixture, check_registry, report, run_checks,
};
use berth_tests::registry::{Registry, free_port};

/// Reads an HTTP request head (up to the blank line) from a stand-in server's connection.
fn read_request(stream: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// The report of `checks`, for failure messages.
fn printed(checks: &[berth::doctor::Check]) -> String {
    let mut out = Vec::new();
    report(&mut out, checks).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn the_real_checks_pass_on_this_machine() {
    let checks = run_checks(&Host::default());
    let text = printed(&checks);
    // Shown with `--nocapture`: the report of the machine the suite runs on.
    eprintln!("{text}");
    // What every chapter so far needs; the registry and the daemon are optional here.
    for name in [
        "root",
        "user namespace",
        "pid namespace",
        "mnt namespace",
        "uts namespace",
        "ipc namespace",
        "net namespace",
        "cgroup namespace",
        "overlayfs",
        "overlay mount",
        "store filesystem",
        "pivot_root",
        "cgroups",
        "busybox fixture",
    ] {
        let check = checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check named {name}:\n{text}"));
        assert_eq!(check.status, Status::Ok, "{name}:\n{text}");
        assert_eq!(check.fix, None, "an ok check needs no fix:\n{text}");
    }
    // This host's cgroups are a hybrid with the v2 tree at /sys/fs/cgroup/unified: the
    // check must say which controllers live where, not only "ok".
    let cgroups = checks.iter().find(|c| c.name == "cgroups").unwrap();
    assert!(
        cgroups.found.contains("memory") && cgroups.found.contains("pids"),
        "{text}"
    );
    // The trials leave nothing behind in the scratch directory.
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(&format!("-{}", std::process::id())))
        .filter(|name| name.starts_with("berth-doctor-"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

#[test]
fn a_missing_fixture_fails_with_the_fix() {
    let dir = berth_tests::test_dir("doctor-fixture");
    let check = check_fixture(&dir.path().join("no-such-rootfs"));
    assert_eq!(check.status, Status::Fail);
    assert!(
        check
            .found
            .contains("no-such-rootfs/bin/busybox is missing"),
        "{check:?}"
    );
    assert_eq!(
        check.fix.as_deref(),
        Some("sudo scripts/fixtures.sh (from the Berth checkout)")
    );

    // A busybox that is there but not executable is a failure too.
    let bin = dir.path().join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("busybox"), b"not a program").unwrap();
    let check = check_fixture(&dir.path().join("rootfs"));
    assert_eq!(check.status, Status::Fail);
    assert!(check.found.ends_with("is not executable"), "{check:?}");
}

#[test]
fn an_unreachable_registry_fails_with_the_fix() {
    // Nothing listens on a port that was free a moment ago.
    let address = format!("127.0.0.1:{}", free_port());
    let check = check_registry(Some(&address));
    assert_eq!(check.status, Status::Fail, "{check:?}");
    assert!(check.found.contains("refused"), "{check:?}");
    let fix = check.fix.unwrap();
    assert!(
        fix.contains("docker-registry serve") && fix.contains(&address),
        "{fix}"
    );

    // No registry given: a warning that says how to give one.
    let check = check_registry(None);
    assert_eq!(check.status, Status::Warn);
    assert!(check.fix.unwrap().contains("--registry HOST:PORT"));
}

#[test]
fn a_web_server_that_is_not_a_registry_fails() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let request = read_request(&mut stream);
        stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        request
    });
    let check = check_registry(Some(&address));
    let request = server.join().unwrap();
    assert!(request.starts_with("GET /v2/ HTTP/1.1\r\n"), "{request}");
    assert_eq!(check.status, Status::Fail, "{check:?}");
    assert!(
        check.found.ends_with("answered 404: not a registry"),
        "{check:?}"
    );
    assert!(check.fix.is_some());
}

#[test]
fn a_registry_that_never_answers_fails_within_the_timeout() {
    // The kernel accepts the connection into the backlog; nobody ever reads or answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (done, result) = std::sync::mpsc::channel();
    let registry = address.clone();
    std::thread::spawn(move || done.send(check_registry(Some(&registry))));
    // Without a timeout the check would wait forever: the test gives it ten seconds.
    let check = result
        .recv_timeout(Duration::from_secs(10))
        .expect("the registry check is still waiting for an answer");
    assert_eq!(check.status, Status::Fail, "{check:?}");
    assert_eq!(
        check.found,
        format!("{address}: no answer within 3 seconds"),
        "{check:?}"
    );
    drop(listener);
}

#[test]
fn the_namespace_checks_are_chapter_1s_table() {
    let checks = berth::doctor::check_namespaces();
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    let mut expected: Vec<String> = berth_namespaces::namespaces::NAMESPACES
        .iter()
        .map(|ns| format!("{} namespace", ns.name))
        .collect();
    // Chapter 5's, which chapter 1's containers do not get.
    expected.push("cgroup namespace".to_owned());
    assert_eq!(names, expected);
    let mnt = &checks[names.iter().position(|n| *n == "mnt namespace").unwrap()];
    assert!(mnt.why.starts_with("chapter 1: the mount table"), "{mnt:?}");
}

#[test]
fn a_real_registry_answers_v2() {
    for registry in [
        Registry::anonymous(),
        Registry::basic_auth(&[("alice", "wonderland")]),
    ] {
        let check = check_registry(Some(&registry.host()));
        assert_eq!(check.status, Status::Ok, "{check:?}");
        assert_eq!(check.fix, None);
    }
}

#[test]
fn the_daemon_socket_is_pinged() {
    let dir = berth_tests::test_dir("doctor-daemon");
    let socket = dir.path().join("berth.sock");

    // No daemon: a warning (most chapters need none), with the command that starts one.
    let check = check_daemon(&socket);
    assert_eq!(check.status, Status::Warn, "{check:?}");
    assert!(
        check
            .fix
            .as_deref()
            .is_some_and(|fix| fix.contains(&format!("berthd -H unix://{}", socket.display()))),
        "{check:?}"
    );

    // A stand-in daemon that answers one ping.
    let listener = UnixListener::bind(&socket).unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let request = read_request(&mut stream);
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
            .unwrap();
        request
    });
    let check = check_daemon(&socket);
    let request = server.join().unwrap();
    assert!(request.starts_with("GET /_ping HTTP/1.1\r\n"), "{request}");
    assert_eq!(check.status, Status::Ok, "{check:?}");
}

#[test]
fn the_report_shows_the_fix_under_each_failure() {
    let port = free_port();
    let checks = vec![
        check_fixture(Path::new("/nonexistent/berth-fixture")),
        check_registry(Some(&format!("127.0.0.1:{port}"))),
        check_daemon(Path::new("/nonexistent/berth.sock")),
    ];
    let mut out = Vec::new();
    let all_passed = report(&mut out, &checks).unwrap();
    assert!(!all_passed, "a failed check makes the report fail");
    let text = String::from_utf8(out).unwrap();
    insta::with_settings!({filters => vec![(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]")]}, {
        insta::assert_snapshot!(text);
    });
}
