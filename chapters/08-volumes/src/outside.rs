//! A container's files from the outside: what `docker cp` and `docker export` stand on.
//!
//! `docker cp CONTAINER:/etc/hostname .` asks the daemon for a path *inside* the container,
//! running or not, volumes included. Two things make that harder than it looks.
//!
//! **Which tree.** A running container's root exists only in its own mount namespace (its
//! child mounted the overlay and the volumes there, then `pivot_root`): the host sees an
//! empty `rootfs` directory. The kernel gives us that namespace's view of the root through
//! `/proc/PID/root`: opened once, it is a directory descriptor from which every lookup
//! walks the container's mounts, volumes included, with no process to fork and no
//! namespace to enter. A stopped container has no tree at all; we make it as a start would,
//! on a thread of our own that leaves the daemon's mount namespace first (chapter 1's
//! [`berth_namespaces::mount_root_outside`]: the overlay, then this chapter's volume steps),
//! so the mounts exist only for that thread and vanish with it, even if the daemon dies.
//!
//! **Which file.** Docker once resolved the path with string functions on the host and then
//! opened it: a container that swapped a directory for a symlink to `/` in between got the
//! daemon, as root, to read or write the *host's* files (CVE-2018-15664). Here the path is
//! never handed to the host's resolution: it is resolved from the root descriptor with
//! `openat2(RESOLVE_IN_ROOT)` ([`crate::inroot`]), where `/`, `..` and every symlink end
//! inside the container's root whatever the container does meanwhile, and everything below
//! it is read or written through descriptors (chapter 2's [`berth_images::pack`] and
//! [`berth_images::unpack::unpack_into`]), never through a path again.

use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use berth_images::container::{self, ContainerRecord};
use berth_images::pack::{EntryStat, stat_at};
use berth_images::state::RunState;
use berth_images::store::Store;
use berth_namespaces::ContainerConfig;
use nix::errno::Errno;
use nix::fcntl::{OFlag, open, readlinkat};
use nix::sys::stat::Mode;

use crate::attach::{AttachError, ContainerMounts};
use crate::inroot::open_in_root_with;
use crate::volume::Volumes;

/// Why a container's files could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum OutsideError {
    /// The path does not exist in the container.
    #[error("Could not find the file {path} in container {container}")]
    NotFound { path: String, container: String },
    /// The path exists but is not a directory, where one is needed.
    #[error("{path} in container {container} is not a directory")]
    NotDirectory { path: String, container: String },
    /// Resolving or looking at the path failed otherwise.
    #[error("{path} in container {container}: {source}")]
    Resolve {
        path: String,
        container: String,
        source: std::io::Error,
    },
    /// The container's root could not be made or opened.
    #[error("reaching the root filesystem of container {container}: {reason}")]
    Root { container: String, reason: String },
    /// Its settings or mounts could not be read.
    #[error(transparent)]
    Attach(#[from] AttachError),
}

/// How to reach a container's root.
#[derive(Debug)]
pub enum Reach {
    /// Through its running process's view (`/proc/PID/root`).
    Running {
        /// Its PID 1 on the host.
        pid: i32,
        /// That process's start time, so that a reused pid is not taken for it.
        start: u64,
    },
    /// Made in a private mount namespace, as its start would (see the module docs).
    Stopped(Box<ContainerConfig>),
}

impl Reach {
    /// How to reach the container `record` of `store` now: through its process if its
    /// state says it runs, else by making its root with its mounts (volumes under
    /// `data_root`).
    pub fn of(
        store: &Store,
        data_root: &Path,
        record: &ContainerRecord,
    ) -> Result<Reach, OutsideError> {
        let dir = record.dir(store);
        let state = RunState::load(&dir);
        if let (Some(pid), Some(start)) = (state.pid, state.pid_start)
            && container::process_alive(Some(pid), Some(start))
        {
            return Ok(Reach::Running { pid, start });
        }
        let root_error = |reason: String| OutsideError::Root {
            container: record.name.clone(),
            reason,
        };
        let mut config =
            container::runtime_config(store, record).map_err(|e| root_error(e.to_string()))?;
        let volumes = Volumes::open(data_root).map_err(AttachError::from)?;
        ContainerMounts::load(&dir)?.add_steps(&volumes, &mut config)?;
        Ok(Reach::Stopped(Box::new(config)))
    }
}

// ANCHOR: with_root
/// Runs `work` with a descriptor of the container's root (see [`Reach`]); `name` names the
/// container in errors. For a stopped container, `work` runs on a thread whose private
/// mount namespace holds the root and its volumes until `work` returns.
pub fn with_root<T: Send + 'static>(
    reach: Reach,
    name: &str,
    work: impl FnOnce(BorrowedFd<'_>) -> T + Send + 'static,
) -> Result<T, OutsideError> {
    let root_error = |reason: String| OutsideError::Root {
        container: name.to_owned(),
        reason,
    };
    match reach {
        Reach::Running { pid, start } => {
            let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
            let root = open(format!("/proc/{pid}/root").as_str(), flags, Mode::empty())
                .map_err(|e| root_error(format!("opening /proc/{pid}/root: {e}")))?;
            // Opened, then checked: had the pid been reused in between, the check fails.
            if !container::process_alive(Some(pid), Some(start)) {
                return Err(root_error("it stopped while its root was opened".into()));
            }
            Ok(work(root.as_fd()))
        }
        Reach::Stopped(config) => {
            let thread = std::thread::Builder::new()
                .name("container-root".into())
                .spawn(move || -> Result<T, String> {
                    berth_namespaces::mount_root_outside(&config)?;
                    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
                    let root = open(&config.rootfs, flags, Mode::empty())
                        .map_err(|e| format!("opening {}: {e}", config.rootfs.display()))?;
                    Ok(work(root.as_fd()))
                })
                .map_err(|e| root_error(format!("starting a thread: {e}")))?;
            thread
                .join()
                .map_err(|_| root_error("the thread that held it panicked".into()))?
                .map_err(root_error)
        }
    }
}
// ANCHOR_END: with_root

/// A path found in a container: its parent directory and its name there (empty for a path
/// that names a directory as a whole, `/dir/` or `/dir/.`), what it is, and for a symlink
/// where it points, as an absolute path in the container.
#[derive(Debug)]
pub struct Found {
    /// The directory that holds it (or the directory itself, with an empty `name`).
    pub parent: OwnedFd,
    /// Its name in `parent`; empty when `parent` is the path itself.
    pub name: OsString,
    /// The name Docker gives it: the last component (`hostname`), `.` for `/dir/.`, `/`
    /// for the root.
    pub base: String,
    /// What it is (not what a symlink points at).
    pub stat: EntryStat,
    /// For a symlink, its target as an absolute path in the container.
    pub link_target: Option<String>,
}

/// The components of `path` after cleaning its `.` and `..` by text, as Docker does (`..`
/// at the root stays at the root), and whether it asks for a directory's contents (a
/// trailing `/` or `/.`).
fn clean(path: &str) -> (Vec<OsString>, bool) {
    let mut names: Vec<OsString> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(name) => names.push(name.to_owned()),
            Component::ParentDir => {
                names.pop();
            }
            _ => {}
        }
    }
    let whole_dir = path.ends_with('/') || path.ends_with("/.") || path == ".";
    (names, whole_dir)
}

/// `path` for the kernel; a NUL byte in it (possible in a query string) is `EINVAL`.
fn c_path(path: &Path) -> Result<CString, Errno> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// What a failed resolution of `path` means: not there, not a directory (where `dir` asked
/// for one), or another error.
fn resolve_error(errno: Errno, path: &str, container: &str, dir: bool) -> OutsideError {
    let (path, container) = (path.to_owned(), container.to_owned());
    match errno {
        Errno::ENOENT => OutsideError::NotFound { path, container },
        Errno::ENOTDIR if dir => OutsideError::NotDirectory { path, container },
        other => OutsideError::Resolve {
            path,
            container,
            source: other.into(),
        },
    }
}

// ANCHOR: find
/// Finds `path` in the container whose root is `root`: every directory on the way resolved
/// inside the root, the last name itself not followed (a symlink is reported as one), as
/// `docker cp` does. `container` names it in errors.
pub fn find(root: BorrowedFd<'_>, path: &str, container: &str) -> Result<Found, OutsideError> {
    let (names, whole_dir) = clean(path);
    let failed = |errno| resolve_error(errno, path, container, whole_dir);
    let split = if whole_dir || names.is_empty() {
        names.len()
    } else {
        names.len() - 1
    };
    let parent_path: PathBuf = names[..split].iter().collect();
    let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    let parent = if parent_path.as_os_str().is_empty() {
        open_in_root_with(root, c".", dir_flags)
    } else {
        c_path(&parent_path).and_then(|p| open_in_root_with(root, &p, dir_flags))
    }
    .map_err(failed)?;
    let name = names[split..].first().cloned().unwrap_or_default();
    let stat = stat_at(parent.as_fd(), &name)
        .map_err(|e| failed(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?;
    let link_target = if stat.is_symlink() {
        let target = readlinkat(parent.as_fd(), name.as_os_str()).map_err(failed)?;
        let target = Path::new(&target);
        let absolute = if target.is_absolute() {
            target.to_owned()
        } else {
            Path::new("/").join(&parent_path).join(target)
        };
        let (names, _) = clean(&absolute.to_string_lossy());
        let joined: PathBuf = names.iter().collect();
        Some(format!("/{}", joined.display()))
    } else {
        None
    };
    let base = if path.ends_with("/.") || path == "." {
        ".".to_owned()
    } else {
        names
            .last()
            .map_or_else(|| "/".to_owned(), |n| n.to_string_lossy().into_owned())
    };
    Ok(Found {
        parent,
        name,
        base,
        stat,
        link_target,
    })
}
// ANCHOR_END: find

/// Opens the directory `path` of the container (symlinks followed, inside the root) for
/// writing into it: where `docker cp` unpacks what it is sent.
pub fn open_dir(
    root: BorrowedFd<'_>,
    path: &str,
    container: &str,
) -> Result<OwnedFd, OutsideError> {
    let (names, _) = clean(path);
    let relative: PathBuf = names.iter().collect();
    let relative = if relative.as_os_str().is_empty() {
        Ok(c".".to_owned())
    } else {
        c_path(&relative)
    };
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
    relative
        .and_then(|p| open_in_root_with(root, &p, flags))
        .map_err(|errno| resolve_error(errno, path, container, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_by_their_text() {
        let names = |p: &str| {
            let (names, whole) = clean(p);
            let names: Vec<String> = names
                .iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            (names.join("/"), whole)
        };
        assert_eq!(names("/etc/hostname"), ("etc/hostname".into(), false));
        assert_eq!(names("/etc/"), ("etc".into(), true));
        assert_eq!(names("/etc/."), ("etc".into(), true));
        assert_eq!(names("/../../etc/x/.."), ("etc".into(), false));
        assert_eq!(names("/"), ("".into(), true));
    }

    #[test]
    fn a_symlink_to_the_host_root_stays_in_the_container() {
        let dir = berth_tests::test_dir("outside-find");
        let root_path = dir.path().join("root");
        std::fs::create_dir_all(root_path.join("etc")).unwrap();
        std::fs::write(root_path.join("etc/hostname"), b"inside").unwrap();
        std::os::unix::fs::symlink("/", root_path.join("up")).unwrap();
        std::os::unix::fs::symlink("../../../..", root_path.join("etc/climb")).unwrap();
        let root = open(
            &root_path,
            OFlag::O_PATH | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        // `/up/etc/hostname` is the container's, not the host's.
        let found = find(root.as_fd(), "/up/etc/hostname", "c").unwrap();
        assert_eq!(found.base, "hostname");
        assert_eq!(found.stat.size, 6);
        let found = find(root.as_fd(), "/etc/climb/etc/hostname", "c").unwrap();
        assert_eq!(found.stat.size, 6);
        let link = find(root.as_fd(), "/etc/climb", "c").unwrap();
        assert_eq!(link.link_target.as_deref(), Some("/"));
        assert!(matches!(
            find(root.as_fd(), "/up/nope", "c"),
            Err(OutsideError::NotFound { .. })
        ));
        assert!(matches!(
            open_dir(root.as_fd(), "/etc/hostname", "c"),
            Err(OutsideError::NotDirectory { .. })
        ));
    }
}
