//! One mount into a container, its destination resolved inside the container's root.
//!
//! `docker run -v data:/data` makes the container's child mount the volume's directory on
//! `/data` before `pivot_root` (chapter 1's [`ChildPhase::Mounts`]). At that moment the child
//! still sees the host's tree, and the container's root is just a directory in it: if the
//! child called `mount(source, "<root>/data")` and the image had `/data -> /etc`, the kernel
//! would follow the link *on the host* and hide the host's `/etc` (Docker's CVE-2015-3627
//! family, and runc's CVE-2021-30465, where a race swapped a directory for such a link).
//!
//! So the destination is never a path handed to `mount`. The child opens the root, asks the
//! kernel to resolve the destination with `openat2(RESOLVE_IN_ROOT)` — every symlink and `..`
//! is resolved as if the root were `/`, so `/data -> ../../..` ends at the root itself —
//! creating what is missing one component at a time with `mkdirat` on the directory just
//! resolved, and then mounts onto `/proc/self/fd/N` of the `O_PATH` descriptor it got: the
//! object the kernel resolved, whatever happens to the path afterwards. The bind source was
//! resolved on the host once, in the parent (a symlink there is followed once, as Docker
//! does); the child opens it with `RESOLVE_NO_SYMLINKS`, so a source swapped for a link
//! during the start fails with `ELOOP` instead of mounting what the link points at.
//!
//! The child must not allocate (chapter 1's `child.rs`): every path is a `CString` made here
//! in the parent, and `/proc/self/fd/N` is written into a buffer on the stack.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use berth_namespaces::fds::fd_path;
use berth_namespaces::{ChildPhase, ChildStep};
use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, OpenHow, ResolveFlag, open, openat, openat2};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, fstat, mkdirat};

/// Why a mount could not be prepared, in the parent.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("mount destination {0:?} must be an absolute path inside the container, not /")]
    Destination(PathBuf),
    #[error("path {0:?} contains a NUL byte, which the kernel cannot take")]
    Nul(PathBuf),
}

/// What is mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountSource {
    /// A host directory or file (a volume's `_data`, or a bind mount's source), already
    /// resolved on the host: no symlink left in it.
    Bind {
        /// The resolved host path.
        path: PathBuf,
        /// Whether it is a directory (else a file is made as the mount point).
        dir: bool,
    },
    /// A new tmpfs, with its `size=`/`mode=` options.
    Tmpfs {
        /// The options given to the kernel, such as `size=65536k,mode=1777`.
        options: String,
    },
}

// ANCHOR: step
/// A chapter 1 child step of phase [`ChildPhase::Mounts`]: mounts `source` at `destination`
/// resolved inside the container's root (see the module docs).
#[derive(Debug)]
pub struct InRootMount {
    name: String,
    /// The container's root, at its host path (mounted there by the child).
    root: CString,
    /// The destination's path below the root, one entry per depth: `data`, `data/sub`.
    prefixes: Vec<CString>,
    /// The last component of each prefix: `data`, `sub`.
    names: Vec<CString>,
    source: Option<CString>,
    tmpfs: Option<CString>,
    file: bool,
    readonly: bool,
    flags: MsFlags,
}
// ANCHOR_END: step

fn c_path(path: &Path) -> Result<CString, PrepareError> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| PrepareError::Nul(path.into()))
}

impl InRootMount {
    /// Prepares the mount of `source` on `destination` (absolute, in the container whose root
    /// is at `root`). `extra` adds flags such as `MS_NOEXEC` (Docker's `--tmpfs` default).
    pub fn new(
        root: &Path,
        source: &MountSource,
        destination: &Path,
        readonly: bool,
        extra: MsFlags,
    ) -> Result<InRootMount, PrepareError> {
        let relative = destination
            .strip_prefix("/")
            .map_err(|_| PrepareError::Destination(destination.into()))?;
        // Cleaned by its text first, as Docker does (`/data/../x` is `/x`, whatever `/data`
        // is); the kernel then resolves each prefix inside the root.
        let mut names = Vec::new();
        for component in relative.components() {
            match component {
                Component::Normal(name) => names.push(name),
                Component::ParentDir => {
                    names.pop();
                }
                _ => {}
            }
        }
        let mut prefixes = Vec::new();
        let mut path = PathBuf::new();
        for name in &names {
            path.push(name);
            prefixes.push(c_path(&path)?);
        }
        let names = names
            .iter()
            .map(|name| c_path(Path::new(name)))
            .collect::<Result<Vec<_>, _>>()?;
        if prefixes.is_empty() {
            return Err(PrepareError::Destination(destination.into()));
        }
        let (source_c, tmpfs, file, what) = match source {
            MountSource::Bind { path, dir } => {
                (Some(c_path(path)?), None, !dir, path.display().to_string())
            }
            MountSource::Tmpfs { options } => (
                None,
                Some(
                    CString::new(options.as_str())
                        .map_err(|_| PrepareError::Nul(options.into()))?,
                ),
                false,
                "tmpfs".to_owned(),
            ),
        };
        Ok(InRootMount {
            name: format!("mounting {what} on {}", destination.display()),
            root: c_path(root)?,
            prefixes,
            names,
            source: source_c,
            tmpfs,
            file,
            readonly,
            flags: extra,
        })
    }
}

/// Opens `path` below `root` as an `O_PATH` descriptor, resolved as if `root` were `/`.
fn open_in_root(root: BorrowedFd<'_>, path: &CStr) -> Result<OwnedFd, Errno> {
    open_in_root_with(root, path, OFlag::O_PATH)
}

// ANCHOR: open_in_root
/// Opens `path` below `root` with `flags`, resolved as if `root` were `/`: every `..` and
/// symlink (absolute or relative) on the way stays inside `root`. Also what `docker cp`
/// resolves its paths with ([`crate::outside`]).
pub(crate) fn open_in_root_with(
    root: BorrowedFd<'_>,
    path: &CStr,
    flags: OFlag,
) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    loop {
        match openat2(root, path, how) {
            // The kernel gives up when a rename raced the lookup: try again.
            Err(Errno::EAGAIN) => continue,
            other => return other,
        }
    }
}

// ANCHOR: run
impl ChildStep for InRootMount {
    fn name(&self) -> &str {
        &self.name
    }

    fn phase(&self) -> ChildPhase {
        ChildPhase::Mounts
    }

    fn run(&self) -> Result<(), Errno> {
        let root = open(
            self.root.as_c_str(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        // Resolve the destination one depth at a time, making what is missing inside the
        // directory resolved just before: a name made by `mkdirat` is a plain child of it.
        let mut parent: Option<OwnedFd> = None;
        let last = self.prefixes.len() - 1;
        for (depth, prefix) in self.prefixes.iter().enumerate() {
            let found = match open_in_root(root.as_fd(), prefix) {
                Err(Errno::ENOENT) => {
                    let dir = parent.as_ref().map_or(root.as_fd(), |p| p.as_fd());
                    let name = self.names[depth].as_c_str();
                    let made = if depth == last && self.file {
                        let flags = OFlag::O_CREAT
                            | OFlag::O_EXCL
                            | OFlag::O_NOFOLLOW
                            | OFlag::O_WRONLY
                            | OFlag::O_CLOEXEC;
                        openat(dir, name, flags, Mode::from_bits_truncate(0o644)).map(drop)
                    } else {
                        mkdirat(dir, name, Mode::from_bits_truncate(0o755))
                    };
                    match made {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(errno) => return Err(errno),
                    }
                    open_in_root(root.as_fd(), prefix)?
                }
                other => other?,
            };
            parent = Some(found);
        }
        let target = parent.ok_or(Errno::EINVAL)?;
        // `/data -> /` (or `-> ../../..`) resolves to the root itself: mounting there would
        // replace the container's whole tree, which Docker refuses too.
        let (at_root, at_target) = (fstat(&root)?, fstat(&target)?);
        if (at_root.st_dev, at_root.st_ino) == (at_target.st_dev, at_target.st_ino) {
            return Err(Errno::EBUSY);
        }
        let mut target_buf = [0u8; 32];
        let target_path = fd_path(target.as_raw_fd(), &mut target_buf);
        let none = None::<&str>;
        match (&self.source, &self.tmpfs) {
            (Some(source), _) => {
                // Resolved on the host by the parent: a symlink now is a swap, refused.
                let how = OpenHow::new()
                    .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
                    .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
                let source = openat2(AT_FDCWD, source.as_c_str(), how)?;
                let mut source_buf = [0u8; 32];
                let source_path = fd_path(source.as_raw_fd(), &mut source_buf);
                let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
                mount(Some(source_path), target_path, none, flags, none)?;
            }
            (None, Some(options)) => {
                let flags = self.flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
                mount(
                    Some(c"tmpfs"),
                    target_path,
                    Some(c"tmpfs"),
                    flags,
                    Some(options.as_c_str()),
                )?;
            }
            (None, None) => return Err(Errno::EINVAL),
        }
        if self.readonly || (self.source.is_some() && !self.flags.is_empty()) {
            // A bind mount takes its flags from a remount only, and the remount must name the
            // new mount: resolve the destination again, which now ends on it.
            let mounted = open_in_root(root.as_fd(), &self.prefixes[last])?;
            let mut buf = [0u8; 32];
            let path = fd_path(mounted.as_raw_fd(), &mut buf);
            let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | self.flags;
            if self.readonly {
                flags |= MsFlags::MS_RDONLY;
            }
            mount(none, path, none, flags, none)?;
        }
        Ok(())
    }
}
// ANCHOR_END: run

/// A chapter 1 child step that makes the container's root read-only (`--read-only`), after
/// the volumes are mounted on it: they keep their own flags, so they stay writable.
#[derive(Debug)]
pub struct ReadonlyRoot {
    root: CString,
}

impl ReadonlyRoot {
    /// Prepares the remount of the root at `root` (its host path).
    pub fn new(root: &Path) -> Result<ReadonlyRoot, PrepareError> {
        Ok(ReadonlyRoot {
            root: c_path(root)?,
        })
    }
}

impl ChildStep for ReadonlyRoot {
    fn name(&self) -> &str {
        "making the root filesystem read-only"
    }

    fn phase(&self) -> ChildPhase {
        ChildPhase::Mounts
    }

    fn run(&self) -> Result<(), Errno> {
        // The child bound the root onto itself: this remount changes that mount only, not
        // the volumes mounted below it.
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        let none = None::<&str>;
        mount(none, self.root.as_c_str(), none, flags, none)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_cleaned_by_their_text() {
        let source = MountSource::Tmpfs {
            options: "size=1m".into(),
        };
        let root = Path::new("/r");
        for bad in ["data", "/", "/./", "/a/.."] {
            assert!(
                InRootMount::new(root, &source, Path::new(bad), false, MsFlags::empty()).is_err(),
                "{bad} must be refused"
            );
        }
        let made = InRootMount::new(
            root,
            &source,
            Path::new("/a/../b/c"),
            false,
            MsFlags::empty(),
        )
        .expect("prepared");
        let prefixes: Vec<&CStr> = made.prefixes.iter().map(|p| p.as_c_str()).collect();
        assert_eq!(prefixes, [c"b", c"b/c"]);
        assert_eq!(made.phase(), ChildPhase::Mounts);
    }
}
