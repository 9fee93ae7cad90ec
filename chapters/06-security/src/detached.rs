//! Detached mounts: a bind mount attached nowhere, changed before anyone sees it.
//!
//! Linux 5.2 added a second mount API next to `mount(2)`: `open_tree(OPEN_TREE_CLONE)` makes a
//! bind mount of a path that belongs to no mount namespace yet, returned as a descriptor;
//! `mount_setattr` (5.12) changes its attributes; `move_mount` attaches it somewhere, or it
//! simply goes away with its last descriptor. runc seals its binary with a read-only one
//! (`exe.rs`); containerd and runc give containers idmapped ones (`idmap.rs`). Both start with
//! the same two calls, here.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

// ANCHOR: detached
/// `open_tree(OPEN_TREE_CLONE)`: a detached bind mount of `path` (a file or a directory).
pub(crate) fn clone_tree(path: &Path) -> io::Result<OwnedFd> {
    let path = CString::new(path.as_os_str().as_encoded_bytes())?;
    let flags = libc::OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: open_tree reads a NUL-terminated path and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor open_tree just returned, owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `mount_setattr`: sets `attr_set` (`MOUNT_ATTR_RDONLY`, `MOUNT_ATTR_IDMAP`...) on the
/// mount `mount`; `userns` is the user namespace whose map `MOUNT_ATTR_IDMAP` shows.
pub(crate) fn set_attr(mount: &OwnedFd, attr_set: u64, userns: Option<&OwnedFd>) -> io::Result<()> {
    let attr = libc::mount_attr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.map_or(0, |fd| fd.as_raw_fd() as u64),
    };
    // SAFETY: mount_setattr reads `attr`, of the size we pass, for a mount we own.
    let done = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mount.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if done < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
// ANCHOR_END: detached
