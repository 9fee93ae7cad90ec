//! The programs and files the chapters run: `iptables` or `nft` for NAT and published
//! ports, and the busybox root filesystem the examples and tests start.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::report::{Check, Status};

/// `iptables` or `nft` for chapter 6's NAT and published ports.
pub fn check_firewall(path: &[PathBuf]) -> Check {
    let why =
        "chapter 6: NAT for the containers' traffic and published ports (-p) are firewall rules";
    let found: Vec<String> = ["iptables", "nft"]
        .iter()
        .filter_map(|tool| {
            path.iter()
                .map(|dir| dir.join(tool))
                .find(|candidate| is_executable(candidate))
                .map(|p| p.display().to_string())
        })
        .collect();
    if found.is_empty() {
        Check::new(
            "iptables / nftables",
            Status::Warn,
            "neither iptables nor nft found",
            why,
        )
        .fix("sudo apt-get install iptables (or nftables; dnf install iptables-nft on Fedora)")
    } else {
        Check::new("iptables / nftables", Status::Ok, found.join(", "), why)
    }
}

/// The busybox root filesystem the chapters' examples and tests run in.
pub fn check_fixture(fixture_dir: &Path) -> Check {
    let why = "chapter 1's containers run in this root filesystem; the images of chapters 2 and 3 are built from it";
    let busybox = fixture_dir.join("bin/busybox");
    if is_executable(&busybox) {
        Check::new(
            "busybox fixture",
            Status::Ok,
            busybox.display().to_string(),
            why,
        )
    } else {
        let state = if busybox.exists() {
            "not executable"
        } else {
            "missing"
        };
        Check::new(
            "busybox fixture",
            Status::Fail,
            format!("{} is {state}", busybox.display()),
            why,
        )
        .fix("sudo scripts/fixtures.sh (from the Berth checkout)")
    }
}

/// Whether `path` is a regular file with an execute bit.
fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
