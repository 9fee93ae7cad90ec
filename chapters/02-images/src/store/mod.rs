//! The image store: a directory that holds images by content address.
//!
//! ```text
//! ROOT/
//!   blobs/sha256/<hex>       every manifest, config and layer blob, named by its digest
//!   layers/<diff id hex>/    each layer unpacked once: the directories overlayfs stacks
//!   images/<config hex>.json one record per image: its layers and where its blobs are
//!   repositories.json        names to image ids: "docker.io/library/busybox:latest" -> id
//!   containers/<id>/         each container's writable layer and settings (container.rs)
//!   tmp/                     work in progress; nothing here is part of the store
//! ```
//!
//! Docker's classic store (`/var/lib/docker/image/overlay2` plus `overlay2/`) has the same
//! parts under other names. Two rules keep it consistent:
//!
//! * **Nothing is visible before it is complete and verified.** Blobs and layers are written
//!   under `tmp/`, checked against their digests, and renamed into place; JSON files are
//!   replaced atomically (`atomic.rs`). An image record is written only after all its layers
//!   exist, and a name only after the record. A crash at any point leaves at most garbage in
//!   `tmp/`, which the next start removes.
//! * **Locks, not luck.** Adding images takes a shared lock that removing takes exclusively,
//!   so a removal never deletes a layer that a load is about to use; a per-layer lock makes
//!   concurrent loads of the same layer unpack it once.

mod add;
pub mod atomic;
mod delete;
mod images;
mod layers;
mod placement;
mod usage;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

pub use add::NewImage;
pub use delete::delete_tree;
pub use images::{ImageRecord, LayerRecord, Removed, StoreImage};
pub use layers::{Added, LayerError, StagedLayer};
pub use usage::{DiskUse, ImageUse};

use crate::digest::Digest;

/// The default store, as Docker's is `/var/lib/docker`.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";

/// Why a store operation failed. Every variant names the path or the thing involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("the store's {path} is damaged: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("no such image: {0}")]
    NoSuchImage(String),
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    #[error(
        "unable to delete {image} (must be forced): the image is referenced by {count} names; \
         remove them one by one, or use -f"
    )]
    MultipleNames { image: String, count: usize },
    #[error("{reference} is ambiguous: it matches images {first} and {second}")]
    Ambiguous {
        reference: String,
        first: String,
        second: String,
    },
    #[error(
        "unable to remove {image}: it is in use by container {container} (remove the container \
         first: rm {container})"
    )]
    InUse { image: String, container: String },
    #[error(
        "store root {0} must be an absolute path without ',', ':' or '\\' (overlayfs mount options \
         cannot carry them)"
    )]
    BadRoot(PathBuf),
}

/// Attaches what was being done and on which path to an I/O error.
pub(crate) trait IoContext<T> {
    fn context(self, what: &'static str, path: &Path) -> Result<T, StoreError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, what: &'static str, path: &Path) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Io {
            what,
            path: path.to_owned(),
            source,
        })
    }
}

/// An open image store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store at `root`, and clears leftovers of interrupted
    /// work from `tmp/` when no other process is using the store.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        let text = root.to_string_lossy();
        if !root.is_absolute() || text.contains([',', ':', '\\']) {
            return Err(StoreError::BadRoot(root));
        }
        let store = Store { root };
        for dir in [
            "blobs/sha256",
            "layers",
            "images",
            "containers",
            "tmp",
            "locks",
        ] {
            let path = store.root.join(dir);
            fs::create_dir_all(&path).context("creating", &path)?;
        }
        // Layers are unpacked under `tmp/`: let the filesystem spread them to quiet parts of
        // the disk (see `placement.rs`; a hint, so its answer does not matter).
        placement::spread_subdirectories(&store.root.join("tmp"));
        store.clean_tmp()?;
        Ok(store)
    }

    /// Opens a store that another process (the daemon) has opened and is using: no
    /// directories made, no leftovers cleared. A daemon's helpers (chapter 4's monitors) use
    /// it, so that they never clear files the daemon is still working on.
    pub fn open_in_use(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        let containers = root.join("containers");
        std::fs::metadata(&containers).context("opening the store's", &containers)?;
        Ok(Store { root })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Where a layer is unpacked.
    pub fn layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    /// The directory holding containers' writable layers.
    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// A fresh directory under `tmp/` for work in progress, removed on drop.
    pub fn temp_dir(&self, label: &str) -> Result<tempfile::TempDir, StoreError> {
        let tmp = self.root.join("tmp");
        tempfile::Builder::new()
            .prefix(&format!("{label}-"))
            .tempdir_in(&tmp)
            .context("creating a work directory in", &tmp)
    }

    // ANCHOR: locks
    /// Takes the store's shared lock: held while adding images or creating containers, so
    /// that removal (which takes it exclusively) never deletes what is being added.
    pub fn shared_lock(&self) -> Result<Flock<File>, StoreError> {
        self.lock("store", FlockArg::LockShared)
    }

    /// Takes the store's exclusive lock, for removals and garbage collection.
    pub fn exclusive_lock(&self) -> Result<Flock<File>, StoreError> {
        self.lock("store", FlockArg::LockExclusive)
    }
    // ANCHOR_END: locks

    /// Takes a named exclusive lock (for one layer, or the names file).
    pub(crate) fn lock(&self, name: &str, kind: FlockArg) -> Result<Flock<File>, StoreError> {
        let path = self.root.join("locks").join(name);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .context("opening lock", &path)?;
        Flock::lock(file, kind).map_err(|(_, errno)| StoreError::Io {
            what: "locking",
            path,
            source: errno.into(),
        })
    }

    /// Flushes everything written to the store's filesystem (`syncfs(2)`).
    pub fn sync(&self) -> Result<(), StoreError> {
        let tmp = self.root.join("tmp");
        let dir = File::open(&tmp).context("opening", &tmp)?;
        nix::unistd::syncfs(&dir).map_err(|errno| StoreError::Io {
            what: "syncing the filesystem of",
            path: tmp,
            source: errno.into(),
        })
    }

    /// Removes leftovers of interrupted loads, unless another process holds the store: what
    /// is under `tmp/`, and the layers and blobs that no image record names. A pull killed
    /// while it moved its layers into place, before it wrote the image's record, leaves the
    /// latter; a removal killed after its rename leaves the former.
    fn clean_tmp(&self) -> Result<(), StoreError> {
        let Ok(_exclusive) = self.lock("store", FlockArg::LockExclusiveNonblock) else {
            return Ok(()); // Someone is working: their tmp files are not leftovers.
        };
        // Into `tmp/` with them, deleted below with the rest. With a damaged record the store
        // cannot know what is garbage: nothing is collected, and the commands that read the
        // record say what is wrong with it.
        match self.collect_garbage() {
            Ok(_) | Err(StoreError::Corrupt { .. }) => {}
            Err(error) => return Err(error),
        }
        // An atomic write killed before its rename leaves its temporary file beside the
        // target: image records are written under the store's lock, which we hold; the names
        // file under a lock of its own.
        remove_atomic_leftovers(&self.root.join("images"))?;
        if let Ok(_names) = self.lock("names", FlockArg::LockExclusiveNonblock) {
            remove_atomic_leftovers(&self.root)?;
        }
        let tmp = self.root.join("tmp");
        for entry in fs::read_dir(&tmp).context("reading", &tmp)? {
            let path = entry.context("reading", &tmp)?.path();
            match delete_tree(&path) {
                // Another process cleaned it meanwhile (a daemon deletes removed containers
                // in the background): gone is what we wanted.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                other => other.context("removing leftover", &path)?,
            }
        }
        Ok(())
    }
}

/// Removes the temporary files of interrupted atomic writes (`atomic.rs`) in `dir`.
fn remove_atomic_leftovers(dir: &Path) -> Result<(), StoreError> {
    for entry in fs::read_dir(dir).context("reading", dir)? {
        let entry = entry.context("reading", dir)?;
        if entry
            .file_name()
            .as_encoded_bytes()
            .starts_with(atomic::TEMP_PREFIX.as_bytes())
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let path = entry.path();
            match fs::remove_file(&path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                other => other.context("removing leftover", &path)?,
            }
        }
    }
    Ok(())
}

/// Total size in bytes of the files under `dir`, as Docker counts a layer's size: regular
/// files and symlinks (a link's size is its target's length; busybox's 400 links are 3 kB of
/// its 1.99 MB), hard links once each, directories not at all.
pub fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if (meta.is_file() || meta.is_symlink()) && seen.insert((meta.dev(), meta.ino()))
            {
                total += meta.len();
            }
        }
    }
    total
}
