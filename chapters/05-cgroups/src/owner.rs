//! Who owns a cgroup, and finding the ones nobody owns any more.
//!
//! A container's cgroup must go when the container goes, but the program that made it can be
//! killed with `kill -9` and never run its clean-up. dockerd solves this with its records: at
//! start it compares the cgroups under `docker/` with the containers it knows, and removes the
//! rest. `ch05` has no records, so it keeps the simplest one that cannot lie: a lock file per
//! container, held with `flock(2)` for as long as `ch05` runs. The kernel drops the lock when
//! the process dies, however it dies, so at the next start a lock file that can be locked
//! belongs to a dead `ch05`: its container's processes are killed and its cgroup removed.
//!
//! The lock is taken *before* the cgroup is made and released *after* it is removed, so a
//! sweep never mistakes a container being started or stopped for an orphan. A sweep only
//! looks at ids it has lock files for: cgroups of another program under the same parent (the
//! engine's) are never touched.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::cgroup::{Cgroup, CgroupError};
use crate::layout::Layout;

/// Why the owner's lock could not be taken or the sweep failed.
#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("locking {path}: {source}")]
    Lock {
        path: PathBuf,
        source: nix::errno::Errno,
    },
    #[error("removing the orphaned cgroup of container {id}: {source}")]
    Orphan {
        id: String,
        #[source]
        source: CgroupError,
    },
}

/// The lock a running container's owner holds on `DIR/<id>.lock`.
#[derive(Debug)]
pub struct OwnerLock {
    path: PathBuf,
    _lock: Flock<File>,
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> OwnerError {
    let path = path.to_owned();
    move |source| OwnerError::Io {
        action,
        path,
        source,
    }
}

impl OwnerLock {
    /// Creates and locks `dir/<id>.lock` (making `dir` if needed).
    pub fn acquire(dir: &Path, id: &str) -> Result<OwnerLock, OwnerError> {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        let path = dir.join(format!("{id}.lock"));
        let file = File::create(&path).map_err(io("creating", &path))?;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, source)| {
            OwnerError::Lock {
                path: path.clone(),
                source,
            }
        })?;
        Ok(OwnerLock { path, _lock: lock })
    }

    /// Removes the lock file; the lock itself goes with it.
    pub fn release(self) -> Result<(), OwnerError> {
        std::fs::remove_file(&self.path).map_err(io("removing", &self.path))
    }
}

// ANCHOR: sweep
/// Removes the cgroup of every container under `parent` whose lock file in `dir` is not
/// held by a live owner; returns their ids.
pub fn sweep(layout: &Layout, parent: &str, dir: &Path) -> Result<Vec<String>, OwnerError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("listing", dir)(e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let path = entry.map_err(io("listing", dir))?.path();
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".lock"))
        else {
            continue;
        };
        let id = id.to_owned();
        let file = File::open(&path).map_err(io("opening", &path))?;
        // Held: its owner is alive. Locked by us now: nobody is left to clean up.
        let Ok(_lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
            continue;
        };
        Cgroup::open(layout, parent, &id)
            .remove()
            .map_err(|source| OwnerError::Orphan {
                id: id.clone(),
                source,
            })?;
        std::fs::remove_file(&path).map_err(io("removing", &path))?;
        removed.push(id);
    }
    removed.sort();
    Ok(removed)
}
// ANCHOR_END: sweep

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_no_orphan_and_a_released_one_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::parse("", "", None);
        let held = OwnerLock::acquire(dir.path(), "alive").expect("lock");
        // A lock file left by a dead owner: present, not held.
        std::fs::write(dir.path().join("dead.lock"), "").expect("write");
        assert_eq!(
            sweep(&layout, "berth", dir.path()).expect("sweep"),
            ["dead"]
        );
        assert!(dir.path().join("alive.lock").exists());
        assert!(!dir.path().join("dead.lock").exists());
        assert!(
            OwnerLock::acquire(dir.path(), "alive").is_err(),
            "a second owner is refused"
        );
        held.release().expect("release");
        assert_eq!(
            sweep(&layout, "berth", dir.path()).expect("sweep"),
            Vec::<String>::new()
        );
    }
}
