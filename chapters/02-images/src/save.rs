//! Writing images out as a `docker save` archive, the format that `load` reads.
//!
//! `docker save busybox > busybox.tar` is how images travel without a registry: to an
//! air-gapped machine, into a CI cache, into skopeo (`docker-archive:busybox.tar`). The
//! archive is a plain tar that holds each image's config and its layers *uncompressed*, plus
//! two maps of where they are:
//!
//! ```text
//! manifest.json          [{"Config": "<config hex>.json", "RepoTags": ["busybox:latest"],
//!                          "Layers": ["<diff id hex>/layer.tar", ...]}]
//! repositories           {"busybox": {"latest": "<top layer dir>"}}  (the pre-2016 map)
//! <config hex>.json      the image config, byte for byte: its digest is the image id
//! <diff id hex>/layer.tar  one layer, uncompressed: its digest is the config's diff id
//! <diff id hex>/VERSION  "1.0", as the legacy layout has beside each layer
//! ```
//!
//! This is the layout dockerd 20.10 writes and reads (Docker 25 adds an OCI layout beside
//! it, which the loader also reads). The store keeps layers as the registry sent them,
//! usually gzip-compressed, so each is decompressed into the store's `tmp/` first: a tar
//! header needs the size before the content, and the uncompressed digest is checked against
//! the config's diff id before the layer goes out, so that a damaged store is an error here
//! and not a broken archive on another machine.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Seek, Write};
use std::path::PathBuf;

use serde_json::json;

use crate::digest::{Digest, HashingReader};
use crate::reference::Reference;
use crate::spec::ArchiveEntry;
use crate::store::{ImageRecord, Store, StoreError};
use crate::unpack::compression::{DetectError, detect};

/// Why an archive could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("writing the archive: {0}")]
    Write(#[source] io::Error),
    #[error("layer {diff_id} is damaged in the store: its blob {blob} decompresses to {actual}")]
    Damaged {
        diff_id: Digest,
        blob: Digest,
        actual: Digest,
    },
    #[error("layer blob {blob} is compressed with {format}, which berth cannot decompress")]
    Unsupported { blob: Digest, format: &'static str },
    #[error("nothing to save: no image named")]
    Nothing,
}

/// The images to save and the names to save them under, resolved before a byte is written.
#[derive(Debug)]
pub struct SavePlan {
    /// Each image once, in the order first named, with its names (none for an image named by
    /// id, as Docker writes `"RepoTags": null` then).
    images: Vec<(ImageRecord, Vec<Reference>)>,
}

// ANCHOR: plan
impl SavePlan {
    /// Resolves names and ids (`busybox`, `busybox:1.36`, `sha256:…`, an id prefix) to
    /// images. An unknown one is an error now, before the caller starts an answer.
    pub fn resolve(store: &Store, names: &[String]) -> Result<SavePlan, SaveError> {
        if names.is_empty() {
            return Err(SaveError::Nothing);
        }
        let mut images: Vec<(ImageRecord, Vec<Reference>)> = Vec::new();
        for name in names {
            let record = store.resolve(name)?;
            // Named by name: save it under that name. By id: under none.
            let known = store.names()?;
            let reference = Reference::parse(name)
                .ok()
                .map(Reference::with_default_tag)
                .filter(|r| known.get(&r.to_string()) == Some(&record.id));
            let slot = match images.iter().position(|(r, _)| r.id == record.id) {
                Some(i) => i,
                None => {
                    images.push((record, Vec::new()));
                    images.len() - 1
                }
            };
            if let Some(reference) = reference
                && !images[slot].1.contains(&reference)
            {
                images[slot].1.push(reference);
            }
        }
        Ok(SavePlan { images })
    }
}
// ANCHOR_END: plan

// ANCHOR: write
impl SavePlan {
    /// Writes the archive to `out`, streaming: layers one at a time, each decompressed into
    /// the store's `tmp/` and checked against its diff id on the way.
    pub fn write(&self, store: &Store, out: impl Write) -> Result<(), SaveError> {
        let mut tar = tar::Builder::new(out);
        let mut manifest = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut written = BTreeSet::new();
        for (record, names) in &self.images {
            let config_name = format!("{}.json", record.id.hex());
            append(&mut tar, &config_name, &store.read_blob(&record.id)?)?;
            let mut layers = Vec::new();
            for layer in &record.layers {
                let dir = layer.diff_id.hex();
                let layer_name = format!("{dir}/layer.tar");
                // An image may repeat a layer (two identical empty layers); so may two images.
                if written.insert(dir.clone()) {
                    append(&mut tar, &format!("{dir}/VERSION"), b"1.0")?;
                    append_layer(&mut tar, store, layer, &layer_name)?;
                }
                layers.push(layer_name);
            }
            let tags: Vec<String> = names.iter().map(Reference::familiar).collect();
            if let Some(top) = record.layers.last() {
                for name in names {
                    if let Some(tag) = &name.tag {
                        repositories
                            .entry(name.familiar_repository())
                            .or_default()
                            .insert(tag.clone(), top.diff_id.hex());
                    }
                }
            }
            manifest.push(ArchiveEntry {
                config: config_name,
                repo_tags: (!tags.is_empty()).then_some(tags),
                layers,
            });
        }
        let manifest = serde_json::to_vec(&manifest).expect("a manifest always serialises");
        append(&mut tar, "manifest.json", &manifest)?;
        if !repositories.is_empty() {
            append(
                &mut tar,
                "repositories",
                json!(repositories).to_string().as_bytes(),
            )?;
        }
        tar.into_inner()
            .and_then(|mut out| out.flush())
            .map_err(SaveError::Write)
    }
}
// ANCHOR_END: write

/// A tar header for a regular file of the archive, as Docker writes them: mode 0644, owned by
/// root, a fixed time (so that saving twice gives the same bytes).
fn header(name: &str, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    // Names here are hex digests and fixed words: never long, never hostile.
    header
        .set_path(name)
        .expect("archive names are short relative paths");
    header.set_cksum();
    header
}

fn append(tar: &mut tar::Builder<impl Write>, name: &str, bytes: &[u8]) -> Result<(), SaveError> {
    tar.append(&header(name, bytes.len() as u64), bytes)
        .map_err(SaveError::Write)
}

// ANCHOR: append_layer
/// Decompresses one layer blob into a temporary file, checks its diff id, and appends it.
fn append_layer(
    tar: &mut tar::Builder<impl Write>,
    store: &Store,
    layer: &crate::store::LayerRecord,
    name: &str,
) -> Result<(), SaveError> {
    let blob_path = store.blob_path(&layer.blob);
    let io_error = |what, path: &PathBuf| {
        let path = path.clone();
        move |source| SaveError::Io { what, path, source }
    };
    let blob = File::open(&blob_path).map_err(io_error("opening layer blob", &blob_path))?;
    let mut plain = match detect(blob) {
        Ok((_, decoder)) => HashingReader::new(decoder),
        Err(DetectError::Read(source)) => {
            return Err(io_error("reading layer blob", &blob_path)(source));
        }
        Err(DetectError::Unsupported(format)) => {
            return Err(SaveError::Unsupported {
                blob: layer.blob,
                format,
            });
        }
    };
    let work = store.temp_dir("save")?;
    let temp = work.path().join("layer.tar");
    // Read back after writing: opened for both.
    let mut file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&temp)
        .map_err(io_error("creating", &temp))?;
    let size = io::copy(&mut plain, &mut file).map_err(io_error("decompressing", &blob_path))?;
    let actual = plain.digest();
    if actual != layer.diff_id {
        return Err(SaveError::Damaged {
            diff_id: layer.diff_id,
            blob: layer.blob,
            actual,
        });
    }
    file.rewind().map_err(io_error("rewinding", &temp))?;
    tar.append(&header(name, size), file)
        .map_err(SaveError::Write)
}
// ANCHOR_END: append_layer

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_named_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(matches!(
            SavePlan::resolve(&store, &[]),
            Err(SaveError::Nothing)
        ));
        let missing = SavePlan::resolve(&store, &["busybox".to_owned()]).unwrap_err();
        assert_eq!(missing.to_string(), "no such image: busybox");
    }
}
