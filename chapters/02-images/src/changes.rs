//! # What a container changed: `docker diff`, read from its upper directory
//!
//! Every write a container makes lands in its overlay's *upper* directory
//! ([`crate::overlay`]), so the upper directory *is* the list of its changes, in overlayfs's
//! words; `docker diff` translates them into three kinds, as moby's overlay driver does
//! (`archive.OverlayChanges`):
//!
//! | in the upper directory | reported as |
//! |---|---|
//! | a character device 0:0 (overlayfs's whiteout) | `D` deleted |
//! | a directory with `trusted.overlay.opaque=y` that a lower layer has | `D`, then its new contents as `A` |
//! | a path that some lower layer also has | `C` changed (a directory only if its mode or time differ) |
//! | a path no lower layer has | `A` added |
//!
//! and the parent of an added or deleted path is reported changed, once, as Docker does.
//! Paths come in the order of a depth-first walk with names sorted, as Go's `filepath.Walk`
//! gives them to dockerd.
//!
//! A running container writes into the upper directory while we read it, so the walk uses
//! descriptors and `O_NOFOLLOW` only (as [`crate::pack`] does): a directory swapped for a
//! symlink is not followed out. Lower layers are looked up with `RESOLVE_BENEATH` and
//! `RESOLVE_NO_SYMLINKS`.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::Mode;

use crate::pack::{EntryStat, names_in, stat_at};

/// The kind of a change, with Docker's numbers (`Kind` in `GET /containers/{id}/changes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// `C`, 0.
    Modified = 0,
    /// `A`, 1.
    Added = 1,
    /// `D`, 2.
    Deleted = 2,
}

/// One changed path, absolute in the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Like `/etc/hostname`.
    pub path: String,
    /// What happened to it.
    pub kind: ChangeKind,
}

/// Why the changes could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("listing the changes in {path}: {source}")]
pub struct ChangesError {
    /// The directory that could not be read.
    pub path: PathBuf,
    /// The cause.
    pub source: std::io::Error,
}

// ANCHOR: changes
/// The changes recorded in `upper` over the layer directories `lowers` (any order).
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>, ChangesError> {
    let open_error = |path: &Path| {
        let path = path.to_owned();
        move |source: nix::Error| ChangesError {
            path,
            source: source.into(),
        }
    };
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let upper_fd = nix::fcntl::open(upper, flags, Mode::empty()).map_err(open_error(upper))?;
    let lowers = lowers
        .iter()
        .map(|l| nix::fcntl::open(l, flags, Mode::empty()).map_err(open_error(l)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut walk = Walk {
        lowers,
        changed_dirs: HashSet::new(),
        changes: Vec::new(),
        upper: upper.to_owned(),
    };
    walk.dir(upper_fd.as_fd(), "")?;
    Ok(walk.changes)
}
// ANCHOR_END: changes

struct Walk {
    lowers: Vec<OwnedFd>,
    changed_dirs: HashSet<String>,
    changes: Vec<Change>,
    upper: PathBuf,
}

impl Walk {
    /// The entries of the upper directory `dir` (at `path` in the container, `""` for `/`).
    fn dir(&mut self, dir: BorrowedFd<'_>, path: &str) -> Result<(), ChangesError> {
        let io = |source| ChangesError {
            path: self.upper.join(path.trim_start_matches('/')),
            source,
        };
        for name in names_in(dir).map_err(io)? {
            let child = format!("{path}/{}", name.to_string_lossy());
            let Ok(stat) = stat_at(dir, &name) else {
                continue; // Gone since it was listed.
            };
            let opened = if stat.is_dir() {
                openat(
                    dir,
                    name.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .ok()
            } else {
                None
            };
            self.entry(&child, &stat, opened.as_ref().map(|d| d.as_fd()));
            if let Some(sub) = opened {
                self.dir(sub.as_fd(), &child)?;
            }
        }
        Ok(())
    }

    /// Records what the entry at `path` means (see the module docs).
    fn entry(&mut self, path: &str, stat: &EntryStat, dir: Option<BorrowedFd<'_>>) {
        let whiteout = stat.kind() == libc::S_IFCHR && stat.rdev == (0, 0);
        let lower = self.in_lower(path);
        let kind = if whiteout || (dir.is_some_and(is_opaque) && lower.is_some()) {
            ChangeKind::Deleted
        } else if let Some(lower) = lower {
            if stat.is_dir()
                && lower.is_dir()
                && stat.mode == lower.mode
                && stat.mtime == lower.mtime
            {
                return; // Copied up only because something below changed.
            }
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        if stat.is_dir() {
            self.changed_dirs.insert(path.to_owned());
        }
        if kind != ChangeKind::Modified {
            let parent = Path::new(path)
                .parent()
                .map_or_else(String::new, |p| p.to_string_lossy().into_owned());
            if parent != "/" && !parent.is_empty() && self.changed_dirs.insert(parent.clone()) {
                self.changes.push(Change {
                    path: parent,
                    kind: ChangeKind::Modified,
                });
            }
        }
        self.changes.push(Change {
            path: path.to_owned(),
            kind,
        });
    }

    /// The entry at `path` in the first lower layer that has it, without following links.
    fn in_lower(&self, path: &str) -> Option<EntryStat> {
        let relative = OsStr::from_bytes(path.trim_start_matches('/').as_bytes());
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
        self.lowers.iter().find_map(|layer| {
            let fd = openat2(layer.as_fd(), relative, how).ok()?;
            stat_at(fd.as_fd(), OsStr::new("")).ok()
        })
    }
}

/// Whether the directory open as `dir` is opaque to overlayfs.
fn is_opaque(dir: BorrowedFd<'_>) -> bool {
    let mut value = [0u8; 1];
    // SAFETY: a live descriptor, a NUL-terminated name, a buffer of the size we pass.
    let len = unsafe {
        libc::fgetxattr(
            dir.as_raw_fd(),
            c"trusted.overlay.opaque".as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    len == 1 && value[0] == b'y'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_entries_become_docker_changes() {
        let dir = berth_tests::test_dir("changes");
        let (lower, upper) = (dir.path().join("lower"), dir.path().join("upper"));
        std::fs::create_dir_all(lower.join("etc")).unwrap();
        std::fs::create_dir_all(lower.join("var/cache")).unwrap();
        std::fs::write(lower.join("etc/passwd"), b"root").unwrap();
        std::fs::write(lower.join("etc/gone"), b"x").unwrap();
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/passwd"), b"root2").unwrap();
        std::fs::write(upper.join("etc/new"), b"n").unwrap();
        nix::sys::stat::mknod(
            &upper.join("etc/gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            Mode::empty(),
            0,
        )
        .unwrap();
        std::fs::create_dir_all(upper.join("tmp/made")).unwrap();
        let got: Vec<(String, ChangeKind)> = changes(&upper, &[lower])
            .unwrap()
            .into_iter()
            .map(|c| (c.path, c.kind))
            .collect();
        use ChangeKind::*;
        assert_eq!(
            got,
            [
                ("/etc".into(), Modified),
                ("/etc/gone".into(), Deleted),
                ("/etc/new".into(), Added),
                ("/etc/passwd".into(), Modified),
                ("/tmp".into(), Added),
                ("/tmp/made".into(), Added),
            ]
        );
    }
}
