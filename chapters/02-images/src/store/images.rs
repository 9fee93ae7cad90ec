//! Image records and names: what `docker images`, `docker tag` and `docker rmi` work on.
//!
//! An image's id is the digest of its config (as in Docker's classic store): two images with
//! the same config and layers are the same image, whatever they are called. Names live apart,
//! in `repositories.json`, so tagging and untagging never touch the image itself.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

use nix::fcntl::FlockArg;
use serde::{Deserialize, Serialize};

use super::{IoContext, Store, StoreError, atomic};
use crate::digest::Digest;
use crate::reference::Reference;

/// One image in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The image id: the digest of its config blob.
    pub id: Digest,
    /// The manifest blob, when the image came with one (an OCI layout; a registry).
    pub manifest: Option<Digest>,
    /// Its layers, bottom first.
    pub layers: Vec<LayerRecord>,
    /// When the image was built, as its config says (RFC 3339).
    pub created: Option<String>,
    /// The unpacked size of all its layers, in bytes.
    pub size: u64,
    /// `repository@digest` for each registry manifest it was pulled by (for a multi-platform
    /// image, the index's digest: the one `docker pull` prints).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repo_digests: Vec<String>,
}

/// One layer of an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The digest of the uncompressed tar: the name of its directory under `layers/`.
    pub diff_id: Digest,
    /// The digest of the blob as stored (compressed or not).
    pub blob: Digest,
    /// The blob's media type.
    pub media_type: String,
    /// The blob's size in bytes.
    pub size: u64,
}

/// An image with the names that point to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreImage {
    pub record: ImageRecord,
    pub names: Vec<Reference>,
}

/// What `remove_image` did, one line each, as `docker rmi` prints them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removed {
    Untagged(String),
    Deleted(Digest),
}

/// As the Docker API answers `DELETE /images/{name}`: `{"Untagged": name}` or
/// `{"Deleted": "sha256:..."}`, one object per line of `docker rmi`.
impl Serialize for Removed {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Removed::Untagged(name) => map.serialize_entry("Untagged", name)?,
            Removed::Deleted(id) => map.serialize_entry("Deleted", &id.to_string())?,
        }
        map.end()
    }
}

type Names = BTreeMap<String, Digest>;

impl Store {
    fn record_path(&self, id: &Digest) -> std::path::PathBuf {
        self.root.join("images").join(format!("{}.json", id.hex()))
    }

    /// Writes an image's record. Call only once all its blobs and layers are in the store.
    pub fn put_image(&self, record: &ImageRecord) -> Result<(), StoreError> {
        let path = self.record_path(&record.id);
        let json = serde_json::to_vec_pretty(record).expect("records always serialise");
        atomic::write(&path, &json).context("writing image record", &path)
    }

    /// Reads one image's record.
    pub fn image(&self, id: &Digest) -> Result<Option<ImageRecord>, StoreError> {
        let path = self.record_path(id);
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        path,
                        reason: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).context("reading image record", &path),
        }
    }

    /// Every image record in the store.
    fn records(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let dir = self.root.join("images");
        let mut records = Vec::new();
        for entry in fs::read_dir(&dir).context("reading", &dir)? {
            let name = entry.context("reading", &dir)?.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            let Ok(id) = format!("sha256:{hex}").parse::<Digest>() else {
                continue;
            };
            if let Some(record) = self.image(&id)? {
                records.push(record);
            }
        }
        Ok(records)
    }

    /// Every image with its names, newest names first within an image.
    pub fn images(&self) -> Result<Vec<StoreImage>, StoreError> {
        let names = self.names()?;
        let mut images: Vec<StoreImage> = self
            .records()?
            .into_iter()
            .map(|record| {
                let names = names
                    .iter()
                    .filter(|(_, id)| **id == record.id)
                    .filter_map(|(name, _)| Reference::parse(name).ok())
                    .collect();
                StoreImage { record, names }
            })
            .collect();
        // Newest first; images built at the same second by name, so the order is stable.
        images.sort_by(|a, b| {
            b.record
                .created
                .cmp(&a.record.created)
                .then_with(|| a.names.first().cmp(&b.names.first()))
                .then_with(|| a.record.id.cmp(&b.record.id))
        });
        Ok(images)
    }

    fn names_path(&self) -> std::path::PathBuf {
        self.root.join("repositories.json")
    }

    /// All names and the image each points to.
    pub fn names(&self) -> Result<Names, StoreError> {
        let path = self.names_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Names::new()),
            Err(e) => Err(e).context("reading", &path),
        }
    }

    /// Changes the names under their lock, and writes them back atomically.
    fn update_names<T>(&self, change: impl FnOnce(&mut Names) -> T) -> Result<T, StoreError> {
        let _lock = self.lock("names", FlockArg::LockExclusive)?;
        let mut names = self.names()?;
        let result = change(&mut names);
        let path = self.names_path();
        let json = serde_json::to_vec_pretty(&names).expect("names always serialise");
        atomic::write(&path, &json).context("writing", &path)?;
        Ok(result)
    }

    /// Points `reference` (with `latest` if it has no tag) at image `id`, as `docker tag`.
    pub fn tag(&self, reference: &Reference, id: &Digest) -> Result<(), StoreError> {
        if self.image(id)?.is_none() {
            return Err(StoreError::NoSuchImage(id.to_string()));
        }
        let name = reference.clone().with_default_tag().to_string();
        self.update_names(|names| names.insert(name, *id))?;
        Ok(())
    }

    // ANCHOR: resolve
    /// Finds an image by name (`busybox`, `busybox:1.36`), by id (`sha256:...`) or by a unique
    /// prefix of its id (`3f57d9401f8d`), as `docker run` does.
    pub fn resolve(&self, text: &str) -> Result<ImageRecord, StoreError> {
        let not_found = || StoreError::NoSuchImage(text.to_owned());
        let hex = text.strip_prefix("sha256:").unwrap_or(text);
        let is_hex = !hex.is_empty()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        match Reference::parse(text) {
            Ok(reference) => {
                let name = reference.with_default_tag().to_string();
                if let Some(id) = self.names()?.get(&name) {
                    return self.image(id)?.ok_or_else(not_found);
                }
            }
            // Neither a name nor an id: say what is wrong with it as a name.
            Err(error) if !is_hex => return Err(error.into()),
            Err(_) => {}
        }
        if !is_hex {
            return Err(not_found());
        }
        let mut matches = self
            .records()?
            .into_iter()
            .filter(|record| record.id.hex().starts_with(hex));
        let first = matches.next().ok_or_else(not_found)?;
        if let Some(second) = matches.next() {
            return Err(StoreError::Ambiguous {
                reference: text.to_owned(),
                first: first.id.short(),
                second: second.id.short(),
            });
        }
        Ok(first)
    }
    // ANCHOR_END: resolve

    // ANCHOR: remove_image
    /// Removes a name, and the image once no name is left, as `docker rmi` does; then deletes
    /// the layers and blobs no remaining image uses. `user_of` names a container that still
    /// uses an image, if any: such an image is kept and the removal refused, even with
    /// `force` (which only allows removing, by id, an image that has several names).
    pub fn remove_image(
        &self,
        text: &str,
        force: bool,
        user_of: impl Fn(&Digest) -> Option<String>,
    ) -> Result<Vec<Removed>, StoreError> {
        let (removed, trash) = self.remove_image_later(text, force, user_of)?;
        if let Some(trash) = trash {
            super::delete_tree(&trash).context("removing", &trash)?;
        }
        Ok(removed)
    }

    /// [`Store::remove_image`], leaving the deletion of the files to the caller: the layers
    /// and blobs no image uses any more are renamed into one directory under `tmp/` (a rename
    /// each, however many files they hold), whose path is returned. The image is gone from
    /// the store when this returns; a daemon answers then and deletes the directory after
    /// (deleting files is slow on some disks, see the book's chapter 2), and if it is
    /// killed first, the next [`Store::open`] clears `tmp/`.
    pub fn remove_image_later(
        &self,
        text: &str,
        force: bool,
        user_of: impl Fn(&Digest) -> Option<String>,
    ) -> Result<(Vec<Removed>, Option<PathBuf>), StoreError> {
        let _exclusive = self.exclusive_lock()?;
        let record = self.resolve(text)?;
        let by_name = Reference::parse(text)
            .ok()
            .map(|r| r.with_default_tag().to_string())
            .filter(|name| self.names().map(|n| n.contains_key(name)).unwrap_or(false));
        let names = self.names()?;
        let image_names: Vec<String> = names
            .iter()
            .filter(|(_, id)| **id == record.id)
            .map(|(name, _)| name.clone())
            .collect();
        // Untag one name when there are others; otherwise the whole image goes. Removing by
        // id an image that has several names removes them all: Docker wants `-f` for that.
        let untag: Vec<String> = match by_name {
            Some(name) if image_names.len() > 1 => vec![name],
            None if image_names.len() > 1 && !force => {
                return Err(StoreError::MultipleNames {
                    image: text.to_owned(),
                    count: image_names.len(),
                });
            }
            _ => image_names,
        };
        let deleting = untag.len() == names.values().filter(|id| **id == record.id).count();
        if deleting && let Some(container) = user_of(&record.id) {
            return Err(StoreError::InUse {
                image: text.to_owned(),
                container,
            });
        }

        let mut removed: Vec<Removed> = untag
            .iter()
            .filter_map(|name| Reference::parse(name).ok())
            .map(|r| Removed::Untagged(r.familiar()))
            .collect();
        self.update_names(|names| {
            for name in &untag {
                names.remove(name);
            }
        })?;
        let mut trash = None;
        if deleting {
            let path = self.record_path(&record.id);
            fs::remove_file(&path).context("removing image record", &path)?;
            removed.push(Removed::Deleted(record.id));
            trash = self.collect_garbage()?;
        }
        Ok((removed, trash))
    }
    // ANCHOR_END: remove_image

    // ANCHOR: collect_garbage
    /// Moves the layers and blobs that no image record refers to out of the store, into a new
    /// directory under `tmp/` (`layers/` and `blobs/` in it), and returns that directory if
    /// anything was moved. Callers hold the exclusive lock.
    pub(super) fn collect_garbage(&self) -> Result<Option<PathBuf>, StoreError> {
        let mut layers = BTreeSet::new();
        let mut blobs = BTreeSet::new();
        for record in self.records()? {
            blobs.insert(record.id.hex());
            blobs.extend(record.manifest.map(|m| m.hex()));
            for layer in &record.layers {
                layers.insert(layer.diff_id.hex());
                blobs.insert(layer.blob.hex());
            }
        }
        let mut trash: Option<PathBuf> = None;
        for (dir, keep, into) in [
            ("layers", &layers, "layers"),
            ("blobs/sha256", &blobs, "blobs"),
        ] {
            let dir = self.root.join(dir);
            for entry in fs::read_dir(&dir).context("reading", &dir)? {
                let entry = entry.context("reading", &dir)?;
                let name = entry.file_name();
                if keep.contains(&*name.to_string_lossy()) {
                    continue;
                }
                let trash = match &trash {
                    Some(trash) => trash,
                    None => trash.insert(self.temp_dir("removed")?.keep()),
                };
                let to = trash.join(into);
                fs::create_dir_all(&to).context("creating", &to)?;
                let path = entry.path();
                fs::rename(&path, to.join(&name)).context("removing unused", &path)?;
            }
        }
        Ok(trash)
    }
    // ANCHOR_END: collect_garbage
}
