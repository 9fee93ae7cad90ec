//! Namespaces: each one really unshared, and the settings that forbid user namespaces.
//!
//! A kernel can lack a namespace type (built without `CONFIG_USER_NS`, say), and a distribution
//! can forbid what the kernel has (a sysctl, an AppArmor policy on Ubuntu). Reading the kernel
//! config would miss the second kind, so each namespace of chapter 1's table is tried with
//! `unshare(2)` in a forked child.

use std::fs;
use std::io;

use berth_namespaces::namespaces::NAMESPACES;

use super::report::{Check, Status};
use super::trial::{errno, in_child};

/// The namespace chapter 5 adds to chapter 1's table (chapter 1's containers do not get one).
const CGROUP_NAMESPACE: (&str, libc::c_int, &str) = (
    "cgroup",
    libc::CLONE_NEWCGROUP,
    "chapter 5: the container sees its own cgroup as the root of the tree",
);

/// Tries `unshare` of each namespace of chapter 1's table, and chapter 5's cgroup namespace,
/// in a forked child; a check each, named as in `/proc/PID/ns/` (`mnt namespace`).
///
/// In a child because `unshare(CLONE_NEWUSER)` fails with EINVAL in a multi-threaded process
/// (this one may be a test binary), and because the new namespaces must not stick to us.
pub fn check_namespaces() -> Vec<Check> {
    let chapter_1 = NAMESPACES.iter().map(|ns| {
        let flag = ns.flag.bits();
        let chapter = if flag == libc::CLONE_NEWUSER {
            "chapter 1's rootless mode"
        } else {
            "chapter 1"
        };
        (ns.name, flag, format!("{chapter}: {}", ns.isolates))
    });
    let (name, flag, why) = CGROUP_NAMESPACE;
    chapter_1
        .chain(std::iter::once((name, flag, why.to_owned())))
        .map(|(name, flag, why)| check_unshare(name, flag, why))
        .collect()
}

/// One namespace type: `unshare(flag)` in a forked child.
fn check_unshare(name: &str, flag: libc::c_int, why: String) -> Check {
    let outcome = in_child(|| {
        // SAFETY: unshare has no memory-safety preconditions.
        if unsafe { libc::unshare(flag) } == 0 {
            0
        } else {
            errno()
        }
    });
    let user = flag == libc::CLONE_NEWUSER;
    let (status, found) = match outcome {
        Ok(0) => (Status::Ok, "unshare works".to_owned()),
        Ok(code) => (
            // Only rootless mode needs a user namespace: root runs every chapter without one.
            if user { Status::Warn } else { Status::Fail },
            format!("unshare failed: {}", io::Error::from_raw_os_error(code)),
        ),
        Err(e) => (Status::Fail, format!("could not try: {e}")),
    };
    let fix = if user {
        "see the user namespace settings below; as root you can skip rootless mode"
    } else {
        "the kernel lacks this namespace: use a distribution kernel (CONFIG_NAMESPACES and its options)"
    };
    Check::new(format!("{name} namespace"), status, found, why).fix(fix)
}

/// The settings that can forbid user namespaces although the kernel has them.
pub fn check_userns_sysctls() -> Check {
    let why = "rootless mode needs user namespaces that an ordinary user may create";
    let read = |path: &str| fs::read_to_string(path).ok().map(|s| s.trim().to_owned());
    let mut found = Vec::new();
    let mut fixes = Vec::new();
    let mut status = Status::Ok;
    match read("/proc/sys/user/max_user_namespaces") {
        Some(max) if max == "0" => {
            status = Status::Warn;
            found.push("user.max_user_namespaces=0".to_owned());
            fixes.push("sudo sysctl -w user.max_user_namespaces=15000");
        }
        Some(max) => found.push(format!("user.max_user_namespaces={max}")),
        None => found.push("user.max_user_namespaces: not found".to_owned()),
    }
    // Debian and Ubuntu kernels carried this switch (0 = only root may).
    if let Some(value) = read("/proc/sys/kernel/unprivileged_userns_clone") {
        if value == "0" {
            status = Status::Warn;
            fixes.push("sudo sysctl -w kernel.unprivileged_userns_clone=1");
        }
        found.push(format!("kernel.unprivileged_userns_clone={value}"));
    }
    // Ubuntu 23.10 and later: AppArmor confines unprivileged user namespaces.
    if let Some(value) = read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") {
        if value == "1" {
            status = Status::Warn;
            fixes.push("sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0");
        }
        found.push(format!(
            "kernel.apparmor_restrict_unprivileged_userns={value}"
        ));
    }
    Check::new("user namespace settings", status, found.join(", "), why).fix(format!(
        "{} (add the setting to /etc/sysctl.d/99-berth.conf to keep it after a reboot)",
        fixes.join(" && ")
    ))
}
