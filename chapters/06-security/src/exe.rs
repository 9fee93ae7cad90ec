//! `/proc/self/exe`: the container must never get a writable handle on the engine's binary.
//!
//! Every process that enters a container starts as a copy of the engine: `docker exec`'s
//! process is cloned from the daemon, and a container's first process is a clone of its
//! monitor until its `execve`. Until then `/proc/<pid>/exe` of that process is the engine's
//! binary on the host: a magic link that no `chroot` or mount namespace hides. (`--init`'s
//! PID 1, which lives as long as the container, is no copy of the engine at all: it is
//! chapter 1's small `berth-init`, bound read-only into the container.) runc's CVE-2019-5736 used it: the image's
//! `/bin/sh` is `#!/proc/self/exe`, so `docker exec ctr sh` makes the kernel run *runc itself*
//! inside the container; a process there opens `/proc/<that pid>/exe` and, once runc has
//! exited, writes a new runc over the host's. The next `docker exec` runs the attacker's code
//! as root on the host. What stops the write today is only `ETXTBSY`, which the kernel answers
//! while some process still executes the file, a rule the kernel dropped once already (Linux
//! 6.11, reverted) and that ends when the daemon restarts for an upgrade.
//!
//! The fix, as runc's (`libcontainer/exeseal`): the engine never runs from the host's file.
//! At start it re-executes itself from a **sealed** view of its binary, so every process it
//! clones later has that view as its `/proc/self/exe`:
//!
//! - a **read-only bind** of the binary, made with `open_tree(OPEN_TREE_CLONE)` and
//!   `mount_setattr(MOUNT_ATTR_RDONLY)` (Linux 5.12): a mount that is attached nowhere (no
//!   one sees it in `/proc/mounts`, nothing to clean up), lives as long as a process executes
//!   from it, and costs no copy. Opening it for writing, even through `/proc/<pid>/exe`,
//!   fails with `EROFS`, because the magic link keeps the mount it was opened through.
//! - where that is refused (an old kernel, no `CAP_SYS_ADMIN`), a **sealed memfd** copy, as
//!   runc's `cloned_binary.c` did: `memfd_create`, the binary copied in, then
//!   `F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL`, after which no one, root
//!   included, can change a byte. It costs a copy of the binary in memory, once per daemon
//!   start (the zygote and monitors run `/proc/self/exe`, the same sealed file, and copy
//!   nothing).
//!
//! A binary that already runs from a read-only mount (or a sealed memfd) is left as it is:
//! that is also how a re-executed process knows it is done. So is a binary that a user other
//! than root runs and may not write: its containers have no more rights than that user.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// The seals of a memfd copy: no write, no resize, no more changes to the seals.
const SEALS: libc::c_int =
    libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;

/// How an executable is protected from writes through `/proc/<pid>/exe`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seal {
    /// A read-only mount (an `open_tree` clone of the file, or a read-only file system).
    ReadOnlyMount,
    /// A memfd copy with write, grow and shrink sealed.
    SealedMemfd,
    /// Not sealed, and no need: a user other than root runs a file it may not write (a
    /// root-owned `/usr/local/bin/ch06` run rootless), and a container it starts has no
    /// more rights than that user.
    NotWritable,
}

/// Why the binary could not be sealed or run sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("opening the executable {path} to seal it")]
    Open { path: PathBuf, source: io::Error },
    #[error("making a sealed memfd copy of {path} (the read-only bind was refused: {bind})")]
    Memfd {
        path: PathBuf,
        bind: io::Error,
        source: io::Error,
    },
    #[error("re-executing from the sealed copy of {path}")]
    Exec { path: PathBuf, source: io::Error },
    #[error("an argument or environment variable holds a NUL byte: {0:?}")]
    Nul(OsString),
}

/// How `exe` (an open executable) is sealed, if it is.
pub fn seal_of(exe: &File) -> Option<Seal> {
    let mut fs = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: fstatvfs writes into the buffer we pass, for a descriptor we own.
    if unsafe { libc::fstatvfs(exe.as_raw_fd(), fs.as_mut_ptr()) } == 0 {
        // SAFETY: initialised by the successful call above.
        let flags = unsafe { fs.assume_init() }.f_flag;
        if flags & libc::ST_RDONLY != 0 {
            return Some(Seal::ReadOnlyMount);
        }
    }
    // SAFETY: fcntl with an integer command; EINVAL for a file that is not a memfd.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    (seals >= 0 && seals & SEALS == SEALS).then_some(Seal::SealedMemfd)
}

// ANCHOR: seal
/// Opens a sealed view of the executable `path`: a read-only bind of it, or else a sealed
/// memfd copy. The descriptor can be run with `execveat(fd, "", AT_EMPTY_PATH)` and closes on
/// exec (the running process keeps the view alive through its `/proc/self/exe`).
pub fn sealed_view(path: &Path) -> Result<(OwnedFd, Seal), SealError> {
    match read_only_bind(path) {
        Ok(fd) => Ok((fd, Seal::ReadOnlyMount)),
        Err(bind) => sealed_memfd(path)
            .map(|fd| (fd, Seal::SealedMemfd))
            .map_err(|source| SealError::Memfd {
                path: path.to_owned(),
                bind,
                source,
            }),
    }
}

/// `open_tree(OPEN_TREE_CLONE)`: a detached bind mount of the one file, made read-only.
fn read_only_bind(path: &Path) -> io::Result<OwnedFd> {
    let fd = crate::detached::clone_tree(path)?;
    crate::detached::set_attr(&fd, libc::MOUNT_ATTR_RDONLY, None)?;
    Ok(fd)
}

/// A memfd copy of `path`, sealed against every change.
fn sealed_memfd(path: &Path) -> io::Result<OwnedFd> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3) says so explicitly where `vm.memfd_noexec` asks for it; an older
    // kernel refuses the flag with EINVAL, and its memfds are executable anyway.
    // SAFETY: memfd_create reads a NUL-terminated name and returns a new descriptor.
    let mut fd = unsafe { libc::memfd_create(c"berth-sealed-exe".as_ptr(), flags | 0x0010) };
    if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(c"berth-sealed-exe".as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor memfd_create just returned, owned by no one else.
    let memfd = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    io::copy(&mut File::open(path)?, &mut &memfd)?;
    // SAFETY: fcntl with integer arguments on our descriptor.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(memfd.into())
}
// ANCHOR_END: seal

// ANCHOR: seal_self
/// Makes sure this process runs from a sealed binary: returns how, at once, if it already
/// does; otherwise re-executes itself, same arguments and environment, from a [`sealed_view`] of
/// `/proc/self/exe` (and so does not return). Call it first thing in `main`, before any
/// thread exists.
pub fn seal_self() -> Result<Seal, SealError> {
    let exe = Path::new("/proc/self/exe");
    let file = File::open(exe).map_err(|source| SealError::Open {
        path: exe.to_owned(),
        source,
    })?;
    if let Some(seal) = seal_of(&file) {
        return Ok(seal);
    }
    // SAFETY: geteuid and faccessat read nothing of ours but a NUL-terminated path.
    let not_writable = unsafe {
        libc::geteuid() != 0
            && libc::faccessat(
                libc::AT_FDCWD,
                c"/proc/self/exe".as_ptr(),
                libc::W_OK,
                libc::AT_EACCESS,
            ) != 0
    };
    if not_writable {
        return Ok(Seal::NotWritable);
    }
    let (view, _) = sealed_view(exe)?;
    let argv = cstrings(std::env::args_os())?;
    let envp = cstrings(
        std::env::vars_os().map(|(k, v)| [k, OsString::from("="), v].into_iter().collect()),
    )?;
    let error = execveat(&view, &argv, &envp);
    Err(SealError::Exec {
        path: exe.to_owned(),
        source: error,
    })
}
// ANCHOR_END: seal_self

/// Runs the program behind `fd` with `argv` and `envp`; returns only on failure.
pub fn execveat(fd: &OwnedFd, argv: &[CString], envp: &[CString]) -> io::Error {
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    let envp_ptrs: Vec<*const libc::c_char> = envp
        .iter()
        .map(|e| e.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    // SAFETY: NULL-terminated arrays of NUL-terminated strings that outlive the call.
    unsafe {
        libc::execveat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv_ptrs.as_ptr().cast(),
            envp_ptrs.as_ptr().cast(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

fn cstrings(items: impl Iterator<Item = OsString>) -> Result<Vec<CString>, SealError> {
    items
        .map(|s| CString::new(s.clone().into_vec()).map_err(|_| SealError::Nul(s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    /// A copy of `/bin/sleep` in a temp dir: the "host binary" the tests try to overwrite.
    fn victim() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine");
        let bytes = std::fs::read("/bin/sleep").unwrap();
        let mut f = File::options()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&path)
            .unwrap();
        f.write_all(&bytes).unwrap();
        (dir, path, bytes)
    }

    /// Runs `fd` (or `path`) as `sleep 30` in a child, takes an `O_PATH` handle on the child's
    /// `/proc/PID/exe` as an attacker in the container would, kills the child so that no one
    /// executes the file any more (no `ETXTBSY`), and tries to write through the handle.
    fn write_through_exe(fd: Option<&OwnedFd>, path: &Path) -> io::Result<()> {
        // Prepared before the fork: the test harness has threads, the child must not allocate.
        let argv = [c"sleep".as_ptr(), c"30".as_ptr(), std::ptr::null()];
        let envp: [*const libc::c_char; 1] = [std::ptr::null()];
        let path_c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        let ours = std::fs::read_link("/proc/self/exe").unwrap();
        // SAFETY: the child only execs (or _exits); no allocation before that.
        let child = match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => unsafe {
                match fd {
                    Some(fd) => libc::execveat(
                        fd.as_raw_fd(),
                        c"".as_ptr(),
                        argv.as_ptr().cast(),
                        envp.as_ptr().cast(),
                        libc::AT_EMPTY_PATH,
                    ),
                    None => libc::execve(path_c.as_ptr(), argv.as_ptr(), envp.as_ptr()),
                };
                libc::_exit(127)
            },
            nix::unistd::ForkResult::Parent { child } => child,
        };
        let exe = format!("/proc/{child}/exe");
        let handle = loop {
            // Wait for the exec: until then the child's exe is this test binary.
            if std::fs::read_link(&exe).is_ok_and(|target| target != ours) {
                break File::options()
                    .custom_flags(libc::O_PATH)
                    .read(true)
                    .open(&exe)
                    .unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL).unwrap();
        nix::sys::wait::waitpid(child, None).unwrap();
        let reopened = format!("/proc/self/fd/{}", handle.as_raw_fd());
        let mut writable = File::options().write(true).open(reopened)?;
        writable.write_all(b"#!/bin/sh\necho pwned\n")
    }

    #[test]
    fn an_unsealed_binary_is_writable_through_proc_exe() {
        // The attack works on a plain exec: this is what the seal must prevent.
        let (_dir, path, _) = victim();
        write_through_exe(None, &path).expect("writing through /proc/PID/exe");
        let now = std::fs::read(&path).unwrap();
        assert!(now.starts_with(b"#!/bin/sh\necho pwned"), "not overwritten");
    }

    #[test]
    fn both_sealed_views_refuse_writes_through_proc_exe() {
        type Make = fn(&Path) -> io::Result<OwnedFd>;
        let views: [(Make, Seal, i32); 2] = [
            (read_only_bind, Seal::ReadOnlyMount, libc::EROFS),
            (sealed_memfd, Seal::SealedMemfd, libc::EPERM),
        ];
        for (make, seal, errno) in views {
            let (_dir, path, bytes) = victim();
            let fd = make(&path).unwrap();
            assert_eq!(seal_of(&File::from(fd.try_clone().unwrap())), Some(seal));
            let err = write_through_exe(Some(&fd), &path).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(errno), "{seal:?}: {err}");
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{seal:?}");
        }
    }

    #[test]
    fn a_plain_file_is_not_sealed() {
        let (_dir, path, _) = victim();
        assert_eq!(seal_of(&File::open(path).unwrap()), None);
    }
}
