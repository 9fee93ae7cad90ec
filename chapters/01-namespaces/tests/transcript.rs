//! What a learner sees, pinned with insta. The book's "Check your work" section includes the
//! first snapshot file itself, so the book cannot drift from what `ch01` really prints.

mod common;

use common::Runner;

/// The probe the chapter's "Run it" section runs, word for word.
const PROBE: &str = "hostname; id; ps -o pid,user,args; ls /; cat /proc/mounts; ip -o link";

#[test]
fn first_container() {
    let out = Runner::ch01().run(&["--hostname", "box"], &["sh", "-c", PROBE]);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let transcript = format!(
        "$ sudo ch01 run --rootfs $ROOTFS --hostname box -- sh -c '{PROBE}'\n{}",
        out.stdout
    );
    insta::with_settings!({filters => vec![
        // The host's root device and its options differ from machine to machine.
        (r"(?m)^\S+ / \S+ \S+ 0 0$", "[host device] / [fs type] [options] 0 0"),
        // The loopback line's tail (qlen...) differs between kernels; its flags do not.
        (r"(?m)^(1: lo: <[A-Z_,]+>).*$", "$1 ..."),
        (r"(?m)^\s+link/loopback.*$", ""),
    ]}, {
        insta::assert_snapshot!("first_container", transcript);
    });
}

/// Bad input: one clear line on stderr and Docker's exit code, never a panic.
#[test]
fn bad_input_errors() {
    let rootfs = berth_tests::busybox_rootfs();
    let rootfs = rootfs.to_str().unwrap();
    let cases: &[(&str, &[&str])] = &[
        (
            "missing rootfs",
            &["run", "--rootfs", "/no/such/rootfs", "--", "sh"],
        ),
        (
            "rootfs is a file",
            &["run", "--rootfs", "/etc/hostname", "--", "sh"],
        ),
        (
            "command not found",
            &["run", "--rootfs", rootfs, "--", "no-such-command"],
        ),
        (
            "missing path",
            &["run", "--rootfs", rootfs, "--", "/no/such/file"],
        ),
        (
            "not executable",
            &["run", "--rootfs", rootfs, "--", "/etc/passwd"],
        ),
        (
            "relative workdir",
            &["run", "--rootfs", rootfs, "--workdir", "tmp", "--", "pwd"],
        ),
        (
            "bad hostname",
            &["run", "--rootfs", rootfs, "--hostname", "a b", "--", "true"],
        ),
        (
            "bad env name",
            &["run", "--rootfs", rootfs, "--env", "=x", "--", "true"],
        ),
        ("no command", &["run", "--rootfs", rootfs]),
    ];
    let mut report = String::new();
    for (name, args) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ch01"))
            .args(*args)
            .output()
            .expect("running ch01");
        let code = out.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&out.stderr).replace(rootfs, "$ROOTFS");
        report.push_str(&format!("## {name}: exit {code}\n{stderr}\n"));
        assert!(
            !stderr.contains("panicked"),
            "{name}: ch01 panicked: {stderr}"
        );
    }
    insta::assert_snapshot!("bad_input_errors", report);
}
