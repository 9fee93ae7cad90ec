//! Shared fixtures for Berth's tests.
//!
//! Every chapter's tests run real containers on real root filesystems. The fixtures are built
//! from Debian packages by `scripts/fixtures.sh` (which both README commands run), so a test
//! only has to ask where they are. Nothing here is a mock: it only finds what the script built
//! and gives each test a place of its own to work in.
//!
//! From chapter 3 on, tests also need servers: [`registry::Registry`] runs the reference
//! registry (anonymous, with Bearer token auth from our own [`token::TokenIssuer`], or with
//! Basic auth), and [`proxy::FaultyProxy`] sits in front of one to corrupt, truncate, rate-limit
//! or redirect chosen requests. They are real servers on loopback ports, one set per test,
//! stopped and removed when dropped. [`http`] is the little hand-written HTTP they share, with
//! a raw client for tests that must see exactly what went over the wire.
//!
//! The book is tested twice: [`book`] builds it for the link checker, and [`browser`] drives a
//! headless Chromium over the DevTools protocol (a [`websocket`] of our own) through the pages
//! that [`static_site`] serves, the way its readers see them.

use std::path::{Path, PathBuf};

pub mod book;
pub mod browser;
pub mod http;
pub mod kill_at;
pub mod loop_device;
pub mod proxy;
pub mod registry;
mod server;
pub mod static_site;
pub mod token;
pub mod websocket;

/// Where `scripts/fixtures.sh` puts the fixtures: `$BERTH_FIXTURES`, or the default below.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("BERTH_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/berth/fixtures"))
}

/// The busybox root filesystem: `/bin/busybox` with its applet links, `/etc/passwd`,
/// `/etc/group`, `/etc/hostname` and empty `/proc`, `/sys`, `/dev` and `/tmp`.
///
/// Panics with the command to run when the fixture has not been built, because a test that
/// silently skips would prove nothing.
pub fn busybox_rootfs() -> PathBuf {
    let rootfs = fixtures_dir().join("busybox-rootfs");
    assert!(
        rootfs.join("bin/busybox").is_file(),
        "the busybox fixture is missing at {}: run `sudo bash scripts/fixtures.sh` (the README's \
         test command does it for you)",
        rootfs.display()
    );
    rootfs
}

/// The workspace root, for tests that run scripts or read files of the repository.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives one level below the workspace root")
        .to_path_buf()
}

/// What a chapter's binary printed and how it ended, as its tests read it.
#[derive(Debug)]
pub struct Output {
    /// The exit code, or -1 when a signal ended it.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Panics with everything printed unless the command exited 0.
    pub fn ok(self) -> Output {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

impl From<std::process::Output> for Output {
    fn from(out: std::process::Output) -> Output {
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A fresh directory for one test, removed when dropped (also when the test fails).
///
/// The name carries the test's label so that a leak on a shared machine says whose it was.
pub fn test_dir(label: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("berth-test-{label}-"))
        .tempdir()
        .expect("creating a temporary directory for the test")
}

/// The host's mount table lines that mention `needle`: a test takes this before and after a
/// run to prove that the run left no mount behind.
pub fn host_mounts_mentioning(needle: &str) -> Vec<String> {
    let table =
        std::fs::read_to_string("/proc/self/mountinfo").expect("reading /proc/self/mountinfo");
    table
        .lines()
        .filter(|line| line.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// PIDs of the processes whose PID namespace is `ns` (as `readlink /proc/PID/ns/pid` prints it,
/// for example `pid:[4026532561]`): a test uses it to prove a container left no process behind.
pub fn processes_in_pid_namespace(ns: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/pid"))
                .map(|link| link.to_string_lossy() == ns)
                .unwrap_or(false)
        })
        .collect()
}
