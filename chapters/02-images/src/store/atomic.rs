//! Atomic writes: a reader sees the old file or the new one, never half of one.
//!
//! The recipe every store uses (Docker's `ioutils.AtomicWriteFile`, containerd's content
//! store): write to a temporary name in the same directory, `fsync` the data, `rename` over
//! the final name (atomic within one filesystem), then `fsync` the directory so the rename
//! itself survives a crash.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically and durably.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, bytes, true)
}

/// Writes `bytes` to `path` atomically, without waiting for the disk: readers never see half a
/// file, but a crash may bring back the previous version. Right for a running container's
/// state, which is rewritten often and reconciled after a crash anyway; each `fsync` costs a
/// millisecond or more, which is a large part of a container's start.
pub fn write_fast(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, bytes, false)
}

/// How the temporary files of [`write`] start: the store removes those a crash left behind.
pub const TEMP_PREFIX: &str = ".tmp-";

// ANCHOR: atomic_write
fn write_with(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    if durable {
        temp.as_file().sync_all()?;
    }
    temp.persist(path).map_err(|e| e.error)?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes a rename or a new entry in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
// ANCHOR_END: atomic_write

/// Renames a finished directory into place; `Ok(false)` when another writer got there first
/// (the target exists), in which case ours is removed.
pub fn rename_dir(from: &Path, to: &Path) -> io::Result<bool> {
    match fs::rename(from, to) {
        Ok(()) => {
            sync_dir(to.parent().unwrap_or(Path::new(".")))?;
            Ok(true)
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST | libc::ENOTEMPTY)) => {
            fs::remove_dir_all(from)?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
