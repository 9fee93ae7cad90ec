//! The last step of adding an image, shared by `load` (this chapter) and `pull` (chapter 3).
//!
//! By the time an image gets here every layer has been staged and verified under `tmp/`. This
//! makes it part of the store in the one order that never shows a half image: flush the files
//! to disk, move the layers and blobs into place, write the image record, then the names.

use crate::digest::Digest;
use crate::reference::Reference;

use super::{ImageRecord, LayerRecord, StagedLayer, Store, StoreError, disk_usage};

/// An image whose layers are staged and verified, ready for [`Store::commit_image`].
#[derive(Debug)]
pub struct NewImage {
    /// The config blob's bytes, exactly as received, and their digest (the image id).
    pub config: Vec<u8>,
    pub config_digest: Digest,
    /// The config's `created` time.
    pub created: Option<String>,
    /// The manifest's digest and bytes, when the image came with one.
    pub manifest: Option<(Digest, Vec<u8>)>,
    /// Each layer, bottom first: its diff id, media type, and staged content.
    pub layers: Vec<(Digest, String, StagedLayer)>,
    /// The names to point at the image.
    pub names: Vec<Reference>,
    /// `repository@digest` of the manifest it was pulled by, if it was pulled.
    pub repo_digest: Option<String>,
}

impl Store {
    // ANCHOR: commit_image
    /// Makes a staged image part of the store. The caller holds the store's shared lock and
    /// the layers' locks (see `load::install`).
    pub fn commit_image(&self, image: NewImage) -> Result<ImageRecord, StoreError> {
        if let Some(mut known) = self.image(&image.config_digest)? {
            // The same image again (same config, so same layers), perhaps in another format:
            // keep the blobs and manifest the store has; only names and digests are new. The
            // staged copies are dropped with `image`, and their work directories with them.
            if let Some(digest) = image.repo_digest
                && !known.repo_digests.contains(&digest)
            {
                known.repo_digests.push(digest);
                self.put_image(&known)?;
            }
            for name in &image.names {
                self.tag(name, &known.id)?;
            }
            return Ok(known);
        }
        // Flush the unpacked files to disk before they become visible, so that after a power
        // cut a layer directory is never there but empty: one `syncfs` for all of them.
        self.sync()?;
        let mut layers = Vec::new();
        for (diff_id, media_type, staged) in image.layers {
            layers.push(LayerRecord {
                diff_id,
                blob: staged.blob,
                media_type,
                size: staged.size,
            });
            self.commit_layer(staged)?;
        }
        self.add_blob(&image.config_digest, &image.config)
            .map_err(|e| StoreError::Corrupt {
                path: self.blob_path(&image.config_digest),
                reason: e.to_string(),
            })?;
        if let Some((digest, bytes)) = &image.manifest {
            self.add_blob(digest, bytes)
                .map_err(|e| StoreError::Corrupt {
                    path: self.blob_path(digest),
                    reason: e.to_string(),
                })?;
        }
        let size = layers
            .iter()
            .map(|l| disk_usage(&self.layer_path(&l.diff_id)))
            .sum();
        let repo_digests = image.repo_digest.into_iter().collect();
        let record = ImageRecord {
            id: image.config_digest,
            manifest: image.manifest.as_ref().map(|(digest, _)| *digest),
            layers,
            created: image.created,
            size,
            repo_digests,
        };
        self.put_image(&record)?;
        for name in &image.names {
            self.tag(name, &record.id)?;
        }
        Ok(record)
    }
    // ANCHOR_END: commit_image
}
