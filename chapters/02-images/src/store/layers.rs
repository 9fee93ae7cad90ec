//! Adding a layer: one streaming pass that stores, hashes, decompresses and unpacks.
//!
//! A layer arrives as a blob (a tar, usually gzip-compressed). As its bytes go by we copy them
//! into a blob file and hash them (the blob's digest), decompress them, hash the tar (the
//! *diff id* the image config lists) and unpack it. Nothing is read twice. Only when both
//! digests match does the blob move into `blobs/` and the directory into `layers/`; a load
//! stages all its layers first and commits them only when every one has passed.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::rc::Rc;

use std::collections::BTreeSet;

use nix::fcntl::{Flock, FlockArg};

use super::{IoContext, Store, StoreError, atomic};
use crate::digest::{Digest, HashingReader};
use crate::unpack::{self, UnpackError};

/// Why a layer was refused. The store is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("layer {blob}: {source}")]
    Unpack {
        blob: Digest,
        #[source]
        source: UnpackError,
    },
    #[error("layer blob {expected} is damaged: its content hashes to {actual}")]
    BlobDigest { expected: Digest, actual: Digest },
    #[error(
        "layer {blob} does not match the image config: it unpacks to {actual}, the config says \
         {expected}"
    )]
    DiffId {
        blob: Digest,
        expected: Digest,
        actual: Digest,
    },
    #[error("reading layer {blob}: {source}")]
    Read { blob: Digest, source: io::Error },
}

/// What adding a layer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// It was unpacked now.
    Unpacked,
    /// The store had it already ("Already exists", as `docker pull` says).
    AlreadyExists,
}

/// Copies everything read through it into a file.
struct Tee<R> {
    inner: R,
    copy: File,
    /// Why writing the copy failed, if it did. The failure reaches the reader as a read
    /// error, inside the decompressor and the tar reader; kept here, it can be reported for
    /// what it is (a full disk, not a broken download, which would be worth retrying).
    write_failure: Rc<RefCell<Option<io::Error>>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(error) = self.copy.write_all(&buf[..n]) {
            let kind = error.kind();
            *self.write_failure.borrow_mut() = Some(error);
            return Err(io::Error::new(kind, "storing the layer's blob failed"));
        }
        Ok(n)
    }
}

/// A layer verified and unpacked under `tmp/`, waiting for [`Store::commit_layer`].
#[derive(Debug)]
pub struct StagedLayer {
    /// The blob's digest (as announced, or as computed when nothing announced it).
    pub blob: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// Whether the store had this layer already.
    pub added: Added,
    diff_id: Digest,
    /// The work directory: `blob` and `diff`; `None` when there is nothing to commit.
    work: Option<tempfile::TempDir>,
}

impl Store {
    /// Whether the layer with this diff id is unpacked in the store.
    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_path(diff_id).is_dir()
    }

    /// Whether the blob is in the store.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    // ANCHOR: lock_layers
    /// Locks layers for adding, in a fixed order so that two loads never wait on each other
    /// in a circle. Concurrent loads of the same layer thus unpack it once: the second waits
    /// for the first and then finds it present.
    pub fn lock_layers<'a>(
        &self,
        diff_ids: impl IntoIterator<Item = &'a Digest>,
    ) -> Result<Vec<Flock<File>>, StoreError> {
        let sorted: BTreeSet<&Digest> = diff_ids.into_iter().collect();
        sorted
            .into_iter()
            .map(|id| self.lock(&format!("layer-{}", id.hex()), FlockArg::LockExclusive))
            .collect()
    }
    // ANCHOR_END: lock_layers

    // ANCHOR: stage_layer
    /// Reads the layer blob from `content`, checks it against `blob` (when known) and
    /// `diff_id`, and unpacks it under `tmp/`, all in one pass. The caller holds the layer's
    /// lock ([`Store::lock_layers`]). Nothing is visible until [`Store::commit_layer`].
    pub fn stage_layer(
        &self,
        blob: Option<&Digest>,
        diff_id: &Digest,
        content: impl Read,
    ) -> Result<StagedLayer, LayerError> {
        // An uncompressed layer's blob digest is its diff id: that is what `docker save`
        // archives hold, and they do not announce blob digests.
        let known_blob = blob
            .copied()
            .or_else(|| self.has_layer(diff_id).then_some(*diff_id));
        if let Some(known) = known_blob
            && self.has_layer(diff_id)
            && self.has_blob(&known)
        {
            let size = std::fs::metadata(self.blob_path(&known)).map_or(0, |m| m.len());
            return Ok(StagedLayer {
                blob: known,
                size,
                added: Added::AlreadyExists,
                diff_id: *diff_id,
                work: None,
            });
        }
        let work = self.temp_dir("layer")?;
        let blob_tmp = work.path().join("blob");
        let copy = File::create(&blob_tmp).context("creating", &blob_tmp)?;
        let write_failure = Rc::new(RefCell::new(None));
        let mut hashed = HashingReader::new(Tee {
            inner: content,
            copy,
            write_failure: write_failure.clone(),
        });
        let write_error = || {
            write_failure.borrow_mut().take().map(|source| {
                LayerError::Store(StoreError::Io {
                    what: "storing the layer's blob in",
                    path: blob_tmp.clone(),
                    source,
                })
            })
        };
        let read_error = |source| LayerError::Read {
            blob: blob.copied().unwrap_or(*diff_id),
            source,
        };

        // Decompress, hash and unpack in one pass (see the `unpack` module); a layer the store
        // has unpacked already (the same image in another format) is only hashed.
        let unpacked = work.path().join("diff");
        let unpack_error = |source| LayerError::Unpack {
            blob: blob.copied().unwrap_or(*diff_id),
            source,
        };
        let result = if self.has_layer(diff_id) {
            unpack::diff_id_of(&mut hashed)
        } else {
            std::fs::create_dir(&unpacked).context("creating", &unpacked)?;
            unpack::unpack_layer(&mut hashed, &unpacked).map(|u| u.diff_id)
        };
        let actual_diff_id = match result {
            Ok(diff_id) => diff_id,
            Err(error) => {
                if let Some(error) = write_error() {
                    return Err(error);
                }
                // A damaged blob usually shows as nonsense in the tar (a bad header checksum)
                // before its digest can be checked. If the rest of it can be read, say what
                // is really wrong: the blob is not the one the manifest names.
                if let Some(expected) = blob
                    && io::copy(&mut hashed, &mut io::sink()).is_ok()
                    && hashed.digest() != *expected
                {
                    return Err(LayerError::BlobDigest {
                        expected: *expected,
                        actual: hashed.digest(),
                    });
                }
                return Err(unpack_error(error));
            }
        };
        // Read what the tar reader left (padding, a compressor's trailer) so the blob's hash
        // covers every byte.
        if let Err(error) = io::copy(&mut hashed, &mut io::sink()) {
            return Err(write_error().unwrap_or_else(|| read_error(error)));
        }
        let actual_blob = hashed.digest();
        let size = hashed.byte_count();
        if let Some(expected) = blob
            && actual_blob != *expected
        {
            return Err(LayerError::BlobDigest {
                expected: *expected,
                actual: actual_blob,
            });
        }
        if actual_diff_id != *diff_id {
            return Err(LayerError::DiffId {
                blob: actual_blob,
                expected: *diff_id,
                actual: actual_diff_id,
            });
        }
        let Tee { copy, .. } = hashed.into_inner();
        copy.sync_all().context("writing", &blob_tmp)?;
        let added = if unpacked.exists() {
            Added::Unpacked
        } else {
            Added::AlreadyExists
        };
        Ok(StagedLayer {
            blob: actual_blob,
            size,
            added,
            diff_id: *diff_id,
            work: Some(work),
        })
    }
    // ANCHOR_END: stage_layer

    // ANCHOR: commit_layer
    /// Makes a staged layer and its blob part of the store.
    pub fn commit_layer(&self, staged: StagedLayer) -> Result<(), StoreError> {
        let Some(work) = staged.work else {
            return Ok(());
        };
        let blob_path = self.blob_path(&staged.blob);
        let blob_tmp = work.path().join("blob");
        std::fs::rename(&blob_tmp, &blob_path).context("storing blob", &blob_path)?;
        let layer_path = self.layer_path(&staged.diff_id);
        let unpacked = work.path().join("diff");
        if !layer_path.exists() && unpacked.exists() {
            atomic::rename_dir(&unpacked, &layer_path).context("storing layer", &layer_path)?;
        }
        Ok(())
    }
    // ANCHOR_END: commit_layer

    /// Stores a small blob (a manifest or a config) after checking its digest.
    pub fn add_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), LayerError> {
        let actual = Digest::of(bytes);
        if actual != *digest {
            return Err(LayerError::BlobDigest {
                expected: *digest,
                actual,
            });
        }
        let path = self.blob_path(digest);
        if !path.exists() {
            atomic::write(&path, bytes).context("storing blob", &path)?;
        }
        Ok(())
    }

    /// Reads a blob of the store.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        std::fs::read(&path).context("reading blob", &path)
    }
}
