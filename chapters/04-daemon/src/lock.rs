//! One daemon per socket, one per data root: an exclusive lock that names its holder.
//!
//! Two daemons on one socket would steal each other's clients; two on one store would each
//! believe they own its containers and reap each other's monitors. dockerd takes a lock on its
//! pid file for the same reason. An advisory `flock(2)` is released by the kernel when its
//! holder dies, even by `kill -9`, so a crashed daemon never leaves a stale lock behind; the
//! holder's pid, written into the file, is only there for the next one's error message.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds it; `pid` is what it wrote, if readable.
    #[error("{} is held by another process (pid {})", path.display(), pid.map_or("unknown".into(), |p| p.to_string()))]
    Held { path: PathBuf, pid: Option<u32> },
    /// The lock file could not be opened, locked or written.
    #[error("cannot lock {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

// ANCHOR: lock
/// Takes an exclusive lock on `path` (created mode 0600 if missing) without waiting, and
/// writes our pid into it. The lock lasts as long as the returned value.
pub fn lock_exclusive(path: &Path) -> Result<Flock<File>, LockError> {
    let io_error = |source| LockError::Io {
        path: path.to_owned(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io_error)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            // Our pid, for the error message of whoever tries next.
            lock.set_len(0)
                .and_then(|()| lock.write_all(format!("{}\n", std::process::id()).as_bytes()))
                .map_err(io_error)?;
            Ok(lock)
        }
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            Err(LockError::Held {
                path: path.to_owned(),
                pid: pid.trim().parse().ok(),
            })
        }
        Err((_, errno)) => Err(io_error(errno.into())),
    }
}
// ANCHOR_END: lock
