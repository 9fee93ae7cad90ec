//! overlayfs: known to the kernel, really mountable where the store is, and the store not on
//! an overlay itself.
//!
//! A container's root is an overlay of its image's layers (chapter 2). The usual way this fails
//! is not a missing module but a store inside a Docker container without a volume: an overlay
//! refuses another overlay as its upper directory, with a bare EINVAL.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::report::{Check, Status};
use super::trial::{cstring, errno, in_child, private_mount_namespace, scratch_dir};

/// overlayfs is known to the kernel (built in, or its module loaded).
pub fn check_overlay_listed() -> Check {
    let why = "chapter 2: a container's root is an overlay of the image's layers";
    let listed = fs::read_to_string("/proc/filesystems").map(|text| {
        text.lines()
            .any(|l| l.split_whitespace().last() == Some("overlay"))
    });
    match listed {
        Ok(true) => Check::new("overlayfs", Status::Ok, "in /proc/filesystems", why),
        Ok(false) => Check::new("overlayfs", Status::Fail, "not in /proc/filesystems", why)
            .fix("sudo modprobe overlay (and add `overlay` to /etc/modules-load.d/berth.conf)"),
        Err(e) => Check::new(
            "overlayfs",
            Status::Fail,
            format!("reading /proc/filesystems: {e}"),
            why,
        )
        .fix("mount /proc"),
    }
}

/// The `f_type` of an overlayfs in `statfs(2)`.
const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;

/// Mounts a real overlay in `scratch` (in a child with its own mount namespace) and writes
/// through it; also warns when `scratch` is itself on overlayfs (as in a Docker container),
/// where an overlay's upper directory is refused with EINVAL.
pub fn check_overlay_mount(scratch: &Path) -> Check {
    let why = "chapter 2: the store and the containers' layers must be on a filesystem overlayfs can stack on (ext4, xfs, btrfs, tmpfs)";
    let name = "overlay mount";
    let dir = match scratch_dir(scratch, "overlay", name, why) {
        Ok(dir) => dir,
        Err(failed) => return failed,
    };
    if on_overlay(&dir.0) {
        return Check::new(
            name,
            Status::Fail,
            format!("{} is on overlayfs: an overlay cannot use it as its upper directory", scratch.display()),
            why,
        )
        .fix("give the store a real filesystem: a volume (`docker run -v /var/lib/berth ...`) or a tmpfs mount, and TMPDIR=/that/dir");
    }
    let paths = ["lower", "upper", "work", "merged"].map(|p| dir.0.join(p));
    for path in &paths {
        if let Err(e) = fs::create_dir(path) {
            return Check::new(
                name,
                Status::Fail,
                format!("creating {}: {e}", path.display()),
                why,
            )
            .fix("check the permissions of the temporary directory");
        }
    }
    if let Err(e) = fs::write(paths[0].join("from-lower"), b"x") {
        return Check::new(
            name,
            Status::Fail,
            format!("writing into {}: {e}", paths[0].display()),
            why,
        )
        .fix("check the permissions of the temporary directory");
    }
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        paths[0].display(),
        paths[1].display(),
        paths[2].display()
    );
    let (Some(options), Some(merged), Some(copied)) = (
        cstring(options.as_bytes()),
        cstring(paths[3].as_os_str().as_bytes()),
        cstring(paths[3].join("from-lower").as_os_str().as_bytes()),
    ) else {
        return Check::new(name, Status::Fail, "a path contains a NUL byte", why)
            .fix("use another TMPDIR");
    };
    // Everything the child needs is allocated before the fork.
    let outcome = in_child(|| {
        if let Err(code) = private_mount_namespace() {
            return code;
        }
        // SAFETY: every pointer is a NUL-terminated string that outlives the call.
        let rc = unsafe {
            libc::mount(
                c"overlay".as_ptr(),
                merged.as_ptr(),
                c"overlay".as_ptr(),
                0,
                options.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return errno();
        }
        // A copy-up: opening the lower file for writing puts a copy in the upper directory.
        // SAFETY: `copied` is a NUL-terminated path.
        let fd = unsafe { libc::open(copied.as_ptr(), libc::O_WRONLY | libc::O_APPEND) };
        if fd < 0 {
            return errno();
        }
        // SAFETY: `fd` was just opened; the buffer is a 1-byte static.
        let written = unsafe { libc::write(fd, b"y".as_ptr().cast(), 1) };
        // SAFETY: `fd` is ours.
        unsafe { libc::close(fd) };
        if written == 1 { 0 } else { errno() }
    });
    let copied_up = fs::read(paths[1].join("from-lower")).ok();
    match outcome {
        Ok(0) if copied_up.as_deref() == Some(b"xy") => {
            Check::new(name, Status::Ok, "mounted an overlay and wrote through it (copy-up)", why)
        }
        Ok(0) => Check::new(name, Status::Fail, "mounted, but the write did not reach the upper directory", why)
            .fix("check that the filesystem of TMPDIR supports overlayfs upper directories (xattrs, d_type)"),
        Ok(code) => Check::new(
            name,
            Status::Fail,
            format!("mount -t overlay failed: {}", io::Error::from_raw_os_error(code)),
            why,
        )
        .fix("run as root, `sudo modprobe overlay`, and keep TMPDIR and the store off overlayfs"),
        Err(e) => Check::new(name, Status::Fail, format!("could not try: {e}"), why).fix("run as root"),
    }
}

/// The store's filesystem (of its nearest existing ancestor, before the first run): on
/// overlayfs, as in a container without a volume, every container start fails with EINVAL.
pub fn check_store_filesystem(store: &Path) -> Check {
    let why = "chapter 2: the store holds the layers and the containers' upper directories, which overlayfs cannot take from another overlay";
    let name = "store filesystem";
    let Some(existing) = store.ancestors().find(|p| p.exists()) else {
        return Check::new(
            name,
            Status::Fail,
            format!("no part of {} exists", store.display()),
            why,
        )
        .fix("check the --data-root path");
    };
    if on_overlay(existing) {
        Check::new(name, Status::Fail, format!("{} is on overlayfs", existing.display()), why).fix(format!(
            "mount a real filesystem there: `docker run -v berth-store:{} ...` in a container, or `sudo mount -t tmpfs tmpfs {}`",
            store.display(),
            store.display()
        ))
    } else {
        Check::new(
            name,
            Status::Ok,
            format!("{} is not on overlayfs", existing.display()),
            why,
        )
    }
}

/// Whether `path` is on an overlayfs.
fn on_overlay(path: &Path) -> bool {
    let Some(c_path) = cstring(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: an all-zero statfs is a valid value to be overwritten.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and `stat` is a valid out-pointer.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), &mut stat) };
    rc == 0 && stat.f_type as i64 == OVERLAYFS_SUPER_MAGIC
}
