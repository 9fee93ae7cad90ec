//! # Resolving paths beneath the layer's root, with the kernel's help
//!
//! Cleaning a name (`name.rs`) is not enough, because a tar can build its own escape hatch:
//!
//! ```text
//! lib -> /etc          (a symlink: harmless by itself, images are full of absolute links)
//! lib/cron.d/evil      (a clean name that, opened as a path, writes into the host's /etc)
//! ```
//!
//! Docker once checked names with string functions and was bitten by exactly this family of
//! bugs (CVE-2014-6407, CVE-2018-15664, CVE-2019-14271), which is why it now unpacks inside a
//! `chroot`. A string check before `open` also races with anything else that changes the
//! tree between the check and the use. Berth asks the kernel instead: the destination is
//! opened once as a directory fd, and every entry's *parent* directory is opened with
//! `openat2(2)` and `RESOLVE_BENEATH`, which makes the kernel fail with `EXDEV` if any step of
//! the resolution — `..`, an absolute symlink, a relative symlink that climbs too far — would
//! leave that directory. `RESOLVE_NO_MAGICLINKS` also refuses `/proc/self/fd/…`-style links.
//! Symlinks that stay inside are followed, as Docker's chroot follows them.
//!
//! The entry itself is then created in that parent with the `*at()` calls on the one final
//! component, which never follow a symlink there (`O_NOFOLLOW | O_EXCL`, `AT_SYMLINK_NOFOLLOW`,
//! and `mkdirat`, `symlinkat`, `mknodat`, `linkat` without `AT_SYMLINK_FOLLOW`, which never
//! do). `openat2` needs Linux 5.6.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{Mode, fchmod, mkdirat};

use super::{Failure, Refusal, UnpackError};

/// How often to retry when `openat2` says `EAGAIN`: with `RESOLVE_BENEATH` the kernel gives up
/// on a `..` step if a rename or mount happened anywhere on the system meanwhile, and asks
/// the caller to try again.
const EAGAIN_RETRIES: usize = 16;

/// The mode Docker gives a directory that an entry needs but the archive does not list.
const IMPLIED_DIR_MODE: u32 = 0o755;

/// The layer's destination directory, opened once; every path is resolved beneath it.
pub(crate) struct Root {
    fd: OwnedFd,
}

/// A directory inside the layer: the root itself, or one opened beneath it.
pub(crate) enum Dir<'a> {
    Root(BorrowedFd<'a>),
    Sub(OwnedFd),
}

impl AsFd for Dir<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Dir::Root(fd) => *fd,
            Dir::Sub(fd) => fd.as_fd(),
        }
    }
}

impl Root {
    /// Opens `dest`, which must be an empty directory, and checks that the kernel has
    /// `openat2`.
    pub(crate) fn open(dest: &Path) -> Result<Root, UnpackError> {
        let open_error = |source| UnpackError::OpenDestination {
            path: dest.to_path_buf(),
            source,
        };
        let mut entries = std::fs::read_dir(dest).map_err(open_error)?;
        if entries.next().is_some() {
            return Err(UnpackError::DestinationNotEmpty {
                path: dest.to_path_buf(),
            });
        }
        let fd: OwnedFd = File::open(dest).map_err(open_error)?.into();
        Root::from_fd(fd, dest)
    }

    /// Takes `fd`, an open directory that may hold files already (`docker cp` into a
    /// container's directory), shown as `shown` in messages, and checks that the kernel has
    /// `openat2`.
    pub(crate) fn from_fd(fd: OwnedFd, shown: &Path) -> Result<Root, UnpackError> {
        let root = Root { fd };
        match root.resolve(b".") {
            Ok(_) => Ok(root),
            Err(Errno::ENOSYS) => Err(UnpackError::Openat2Unsupported),
            Err(errno) => Err(UnpackError::OpenDestination {
                path: shown.to_path_buf(),
                source: errno.into(),
            }),
        }
    }

    /// The root directory's fd.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens the directory at `path` (a cleaned, relative path; empty for the root itself).
    pub(crate) fn open_dir(&self, path: &[u8]) -> Result<Dir<'_>, Failure> {
        if path.is_empty() {
            return Ok(Dir::Root(self.fd.as_fd()));
        }
        self.resolve(path)
            .map(Dir::Sub)
            .map_err(|errno| resolve_failure(path, errno))
    }

    /// Opens the directory at `path`, first creating the directories that are missing, as
    /// Docker does for an archive that lists `a/b/c` but not `a/` or `a/b/`.
    pub(crate) fn open_or_create_dir(&self, path: &[u8]) -> Result<Dir<'_>, Failure> {
        match self.open_dir(path) {
            Err(Failure::Io { source, .. }) if source.raw_os_error() == Some(libc::ENOENT) => {}
            other => return other,
        }
        // Walk down from the root, one component at a time. Each prefix is resolved from
        // the root again, so each step is checked beneath the root as a whole.
        let mut dir = Dir::Root(self.fd.as_fd());
        for (end, component) in components_with_ends(path) {
            let prefix = &path[..end];
            dir = match self.resolve(prefix) {
                Ok(fd) => Dir::Sub(fd),
                Err(Errno::ENOENT) => {
                    match mkdirat(&dir, component, Mode::from_bits_truncate(0o700)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(errno) => {
                            return Err(Failure::io(
                                format!("creating the implied directory {}", show(prefix)),
                                errno,
                            ));
                        }
                    }
                    let fd = self
                        .resolve(prefix)
                        .map_err(|errno| resolve_failure(prefix, errno))?;
                    fchmod(&fd, Mode::from_bits_truncate(IMPLIED_DIR_MODE)).map_err(|errno| {
                        Failure::io(format!("setting the mode of {}", show(prefix)), errno)
                    })?;
                    Dir::Sub(fd)
                }
                Err(errno) => return Err(resolve_failure(prefix, errno)),
            };
        }
        Ok(dir)
    }

    // ANCHOR: resolve_beneath
    /// `openat2(root, path, O_RDONLY | O_DIRECTORY, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`.
    ///
    /// A real fd rather than `O_PATH`, because the opaque-directory marker is set with
    /// `fsetxattr` on it, which `O_PATH` fds do not allow.
    fn resolve(&self, path: &[u8]) -> Result<OwnedFd, Errno> {
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let path = OsStr::from_bytes(path);
        let mut tries = 0;
        loop {
            match openat2(self.fd.as_fd(), path, how) {
                Err(Errno::EAGAIN) if tries < EAGAIN_RETRIES => tries += 1,
                other => return other,
            }
        }
    }
    // ANCHOR_END: resolve_beneath
}

/// The components of `path` with the index where each ends.
fn components_with_ends(path: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut start = 0;
    path.split(|&b| b == b'/').map(move |component| {
        let end = start + component.len();
        start = end + 1;
        (end, component)
    })
}

// ANCHOR: resolve_failure
/// Turns a failed resolution into a refusal (it would escape) or an I/O failure.
fn resolve_failure(path: &[u8], errno: Errno) -> Failure {
    match errno {
        // The kernel's verdict: some step of the resolution left the root.
        Errno::EXDEV => Failure::Refused(Refusal::Escapes),
        _ => Failure::io(format!("opening directory {}", show(path)), errno),
    }
}
// ANCHOR_END: resolve_failure

/// A path from the archive, for a message.
pub(crate) fn show(path: &[u8]) -> Cow<'static, str> {
    Cow::Owned(format!("{:?}", String::from_utf8_lossy(path)))
}

/// `/proc/self/fd/N/NAME`: the path of `name` in the directory open as `dir`, for the few
/// calls that have no `*at()` form (`lsetxattr`). Only the magic link `/proc/self/fd/N` is
/// followed, and it leads to `dir` itself; `name` is one component and the `l` call does not
/// follow it.
pub(crate) fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> PathBuf {
    use std::os::fd::AsRawFd;
    let mut path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    path.push(OsStr::from_bytes(name));
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_know_where_they_end() {
        let got: Vec<_> = components_with_ends(b"a/bc/d").collect();
        assert_eq!(got, vec![(1, &b"a"[..]), (4, &b"bc"[..]), (6, &b"d"[..])]);
    }

    #[test]
    fn refuses_a_destination_that_is_not_empty() {
        let dir = berth_tests::test_dir("beneath-not-empty");
        std::fs::write(dir.path().join("x"), b"").unwrap();
        assert!(matches!(
            Root::open(dir.path()),
            Err(UnpackError::DestinationNotEmpty { .. })
        ));
    }

    #[test]
    fn the_kernel_refuses_a_symlink_that_climbs_out() {
        let dir = berth_tests::test_dir("beneath-escape");
        let dest = dir.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let root = Root::open(&dest).unwrap();
        std::os::unix::fs::symlink("..", dest.join("up")).unwrap();
        std::os::unix::fs::symlink("/", dest.join("abs")).unwrap();
        std::os::unix::fs::symlink(".", dest.join("here")).unwrap();
        for path in [&b"up"[..], b"abs", b"here/up/dest"] {
            assert!(
                matches!(root.open_dir(path), Err(Failure::Refused(Refusal::Escapes))),
                "{}",
                show(path)
            );
        }
        assert!(root.open_dir(b"here/here").is_ok());
        assert!(root.open_or_create_dir(b"a/b/c").is_ok());
        assert!(dest.join("a/b/c").is_dir());
    }
}
