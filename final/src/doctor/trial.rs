//! Trying a kernel feature for real: in a forked child, in a scratch directory of its own.
//!
//! Whatever a trial does (unshare a namespace, mount an overlay, `pivot_root`) happens in a
//! child process with a private mount namespace, so nothing sticks to the doctor or reaches the
//! host, and the scratch directory is removed when the check ends, also on a panic.

use std::ffi::CString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::report::{Check, Status};

/// A scratch directory for a check that tries something for real, or the failed check that
/// says the temporary directory is not writable.
pub(super) fn scratch_dir(
    scratch: &Path,
    label: &str,
    name: &str,
    why: &str,
) -> Result<Scratch, Check> {
    Scratch::new(scratch, label).map_err(|e| {
        Check::new(
            name,
            Status::Fail,
            format!("making a directory in {}: {e}", scratch.display()),
            why,
        )
        .fix("make the temporary directory writable, or set TMPDIR to one that is")
    })
}

/// A directory of our own under the scratch directory, removed on drop (also on a panic).
pub(super) struct Scratch(pub(super) PathBuf);

impl Scratch {
    fn new(parent: &Path, what: &str) -> io::Result<Scratch> {
        let dir = parent.join(format!("berth-doctor-{what}-{}", std::process::id()));
        // A leftover of a killed run with the same pid would make create_dir fail.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `bytes` as a C string, or `None` if it contains a NUL.
pub(super) fn cstring(bytes: &[u8]) -> Option<CString> {
    CString::new(bytes).ok()
}

/// The calling thread's errno.
pub(super) fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// In a new mount namespace, makes every mount private, so nothing we mount reaches the host
/// (and `pivot_root` accepts the tree: it refuses shared mounts with EINVAL).
pub(super) fn private_mount_namespace() -> Result<(), i32> {
    // SAFETY: plain syscalls with static NUL-terminated strings.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(errno());
        }
        if libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(errno());
        }
    }
    Ok(())
}

/// Runs `trial` in a forked child and returns its result: 0 for success, else an errno.
///
/// The child of a multi-threaded process may only make async-signal-safe calls: `trial` must
/// not allocate or take locks, which is why the callers prepare their C strings first, call
/// libc directly, and the child leaves with `_exit`.
pub(super) fn in_child(trial: impl FnOnce() -> i32) -> io::Result<i32> {
    // SAFETY: the child runs only `trial` (syscalls on prepared data) and `_exit`.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            let code = trial();
            // SAFETY: ends the child without running the parent's destructors or atexit.
            unsafe { libc::_exit(code.clamp(0, 255)) }
        }
        pid => {
            let mut status = 0;
            loop {
                // SAFETY: `status` is a valid out-pointer; `pid` is our child.
                let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
                if rc == pid {
                    break;
                }
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            if libc::WIFEXITED(status) {
                Ok(libc::WEXITSTATUS(status))
            } else {
                Err(io::Error::other(format!(
                    "the trial process was killed by signal {}",
                    libc::WTERMSIG(status)
                )))
            }
        }
    }
}
