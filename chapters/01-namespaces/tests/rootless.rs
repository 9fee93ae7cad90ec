//! Rootless: a user who is not root runs a container through a user namespace.
//!
//! The tests drop to `nobody` with `setpriv` (util-linux), so they exercise exactly what a
//! learner without sudo gets: root inside, `nobody` outside, device nodes bind-mounted.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::{Runner, checks, finish};

const NOBODY: u32 = 65534;

fn as_nobody() -> Runner {
    Runner::ch01().wrapped(&[
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ])
}

/// Root inside, the caller's uid outside: read from the host while the container runs.
#[test]
fn root_inside_is_the_caller_outside() {
    let mut child = as_nobody()
        .command(&[], &["sh", "-c", "id -u; id -g; echo $$; sleep 5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting ch01 as nobody");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
    let (uid, gid, pid_inside) = (next(), next(), next());
    assert_eq!(
        (uid.as_str(), gid.as_str(), pid_inside.as_str()),
        ("0", "0", "1")
    );

    // Outside, the container's PID 1 is a child of ch01 (setpriv exec'd into ch01).
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id()))
        .expect("reading ch01's children");
    let pid1: u32 = children.trim().parse().expect("ch01 has exactly one child");
    let status = std::fs::read_to_string(format!("/proc/{pid1}/status")).expect("status");
    let ids = |key: &str| -> Vec<u32> {
        let line = status
            .lines()
            .find(|l| l.starts_with(key))
            .expect("id line");
        line.split_whitespace()
            .skip(1)
            .map(|n| n.parse().unwrap())
            .collect()
    };
    assert_eq!(
        ids("Uid:"),
        [NOBODY; 4],
        "the container runs as nobody outside"
    );
    assert_eq!(ids("Gid:"), [NOBODY; 4]);

    // SIGKILL reaches a namespace's PID 1 from outside; ch01 then reports 128 + 9.
    let pid1 = nix::unistd::Pid::from_raw(pid1 as i32);
    nix::sys::signal::kill(pid1, nix::sys::signal::Signal::SIGKILL).expect("killing PID 1");
    assert_eq!(finish(child).code, 137);
}

/// The isolation checks hold rootless too (the hostname one needs no repeat).
#[test]
fn isolation_holds_without_root() {
    let runner = as_nobody();
    for (name, check) in checks::ALL {
        if let Err(evidence) = check(&runner) {
            panic!("{name} failed rootless: {evidence}");
        }
    }
}

/// Rootless, device nodes are the host's, bind-mounted: mknod needs real root.
#[test]
fn rootless_devices_are_bind_mounts() {
    let out = as_nobody().run(&[], &["grep", "-c", " /dev/null ", "/proc/self/mountinfo"]);
    assert_eq!(
        (out.code, out.stdout.trim()),
        (0, "1"),
        "stderr: {}",
        out.stderr
    );
}

/// A host whose user namespaces are disabled gets a clear message, not a raw errno. The
/// "host" is simulated without touching the real one: `user.max_user_namespaces` is a limit
/// per user namespace, so we set it to 0 inside a namespace of our own and run ch01 there.
#[test]
fn no_user_namespaces_is_a_clear_error() {
    let ch01 = env!("CARGO_BIN_EXE_ch01");
    let rootfs = berth_tests::busybox_rootfs();
    let out = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c"])
        .arg(format!(
            "echo 0 > /proc/sys/user/max_user_namespaces && exec {ch01} run --rootless --rootfs {} -- true",
            rootfs.display()
        ))
        .stderr(Stdio::piped())
        .spawn()
        .map(finish)
        .expect("running ch01 in a namespace without user namespaces");
    assert_eq!(out.code, 125);
    insta::assert_snapshot!(out.stderr, @"ch01: cannot create a user namespace for --rootless (ENOSPC: No space left on device): this host has user namespaces disabled; check `sysctl user.max_user_namespaces` (must be > 0) and, on Debian and Ubuntu, `sysctl kernel.unprivileged_userns_clone` (must be 1)");
}
