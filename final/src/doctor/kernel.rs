//! Who runs the checks, and which kernel: root for the namespaces, mounts and cgroups, and a
//! kernel new enough for overlayfs (3.18) and for overlayfs in a user namespace (5.11).

use std::fs;

use super::report::{Check, Status};

/// Root: namespaces (but the user namespace), mounts and cgroups need it.
pub fn check_root() -> Check {
    // SAFETY: geteuid cannot fail and has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let status = if uid == 0 { Status::Ok } else { Status::Fail };
    Check::new(
        "root",
        status,
        format!("effective uid {uid}"),
        "mount, pivot_root, cgroups and network namespaces need root (chapter 1's rootless mode is the exception)",
    )
    .fix("run it with sudo: `sudo berth doctor`")
}

/// The kernel version: overlayfs is upstream since 3.18, and usable inside a user namespace
/// since 5.11 (rootless containers on overlay).
pub fn check_kernel() -> Check {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    let why = "overlayfs needs 3.18; overlayfs in a user namespace (rootless) needs 5.11";
    match kernel_version(&release) {
        Some(v) if v >= (5, 11) => Check::new("kernel", Status::Ok, release, why),
        Some(v) if v >= (3, 18) => Check::new("kernel", Status::Warn, release, why).fix(
            "rootless containers need kernel 5.11 or later: upgrade the kernel, or run as root",
        ),
        Some(_) => Check::new("kernel", Status::Fail, release, why)
            .fix("upgrade to a kernel of 5.11 or later (any current distribution has one)"),
        None => Check::new("kernel", Status::Warn, release, why)
            .fix("could not read the version: check `uname -r` by hand"),
    }
}

/// `6.8.0-45-generic` → `(6, 8)`.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.8.0-45-generic"), Some((6, 8)));
        assert_eq!(kernel_version("5.10"), Some((5, 10)));
        assert_eq!(kernel_version("garbage"), None);
    }
}
