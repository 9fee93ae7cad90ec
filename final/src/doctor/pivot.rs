//! `pivot_root`: really made, into a tmpfs, as chapter 1 does with a container's root.
//!
//! It fails with EINVAL where `/` is the initramfs (live systems, some minimal VMs), which no
//! process can pivot away from; chapter 1 would then fail on its first container.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::report::{Check, Status};
use super::trial::{cstring, errno, in_child, private_mount_namespace, scratch_dir};

/// In a child with its own mount namespace: mount a tmpfs and `pivot_root` into it, as
/// chapter 1 does with the container's root. This fails with EINVAL when `/` is the
/// initramfs (rootfs), which cannot be pivoted away from, or when mounts are shared.
pub fn check_pivot_root(scratch: &Path) -> Check {
    let why = "chapter 1: the container's root becomes `/` with pivot_root, and the host's root is detached";
    let name = "pivot_root";
    let dir = match scratch_dir(scratch, "pivot", name, why) {
        Ok(dir) => dir,
        Err(failed) => return failed,
    };
    let Some(new_root) = cstring(dir.0.as_os_str().as_bytes()) else {
        return Check::new(name, Status::Fail, "a path contains a NUL byte", why)
            .fix("use another TMPDIR");
    };
    let outcome = in_child(|| {
        if let Err(code) = private_mount_namespace() {
            return code;
        }
        // SAFETY: NUL-terminated strings that outlive each call.
        unsafe {
            if libc::mount(
                c"tmpfs".as_ptr(),
                new_root.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            ) != 0
                || libc::chdir(new_root.as_ptr()) != 0
                || libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) != 0
                || libc::umount2(c".".as_ptr(), libc::MNT_DETACH) != 0
                || libc::chdir(c"/".as_ptr()) != 0
            {
                return errno();
            }
        }
        0
    });
    match outcome {
        Ok(0) => Check::new(
            name,
            Status::Ok,
            "pivoted into a tmpfs in a new mount namespace",
            why,
        ),
        Ok(code) => {
            let error = io::Error::from_raw_os_error(code);
            let fix = if code == libc::EINVAL {
                "`/` is probably the initramfs (rootfs), which pivot_root cannot leave: boot from a real root filesystem (a VM image rather than a live/initramfs system)"
            } else {
                "run as root"
            };
            Check::new(name, Status::Fail, format!("failed: {error}"), why).fix(fix)
        }
        Err(e) => {
            Check::new(name, Status::Fail, format!("could not try: {e}"), why).fix("run as root")
        }
    }
}
