//! Loading images from `docker save` archives and OCI image layouts (`docker load`).
//!
//! Both formats carry the same things: configs, layer tars and names, with slightly different
//! maps of where they are.
//!
//! ```text
//! docker save (tar)                      OCI image layout (directory or tar)
//!   manifest.json  [{Config, RepoTags,     oci-layout     {"imageLayoutVersion": "1.0.0"}
//!                    Layers: [...]}]       index.json     manifests: [{digest, annotations:
//!   <hex>.json      the config                               {ref.name: "busybox:latest"}}]
//!   <hex>.tar or    the layers,            blobs/sha256/<hex>  manifests, configs, layers
//!   <id>/layer.tar  uncompressed
//! ```
//!
//! Each image is read into the same [`Plan`] and installed by [`install`]: every blob checked
//! against its digest, every layer against the config's `diff_ids`, all layers of all the
//! images staged before any becomes visible, then the image records, then the names.

pub mod import;
pub mod source;

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::digest::Digest;
use crate::reference::{Reference, ReferenceError};
use crate::spec::{self, ArchiveEntry, Descriptor, ImageConfig, Index, Manifest, media_type};
use crate::store::{Added, LayerError, StagedLayer};
use crate::store::{NewImage, Store, StoreError};
use source::{Source, SourceError};

/// Why an archive was refused. The store is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{0} is neither a docker save archive (no manifest.json) nor an OCI image layout (no \
         oci-layout and index.json)"
    )]
    UnknownFormat(String),
    #[error("{archive}: {name}: {reason}")]
    Document {
        archive: String,
        name: String,
        reason: String,
    },
    #[error(
        "{archive}: blob {name} is damaged: expected {expected}, its content hashes to {actual}"
    )]
    BlobDigest {
        archive: String,
        name: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{archive}: image name {name:?}: {source}")]
    Name {
        archive: String,
        name: String,
        source: ReferenceError,
    },
    #[error("{0} holds no image")]
    Empty(String),
}

/// One image to install: where its parts are in the source, and what they must hash to.
#[derive(Debug)]
pub struct Plan {
    config: Vec<u8>,
    config_digest: Digest,
    manifest: Option<(Digest, Vec<u8>)>,
    layers: Vec<PlannedLayer>,
    names: Vec<Reference>,
}

#[derive(Debug)]
struct PlannedLayer {
    /// The file of the source that holds it.
    name: String,
    /// The blob digest, when the archive announces one.
    blob: Option<Digest>,
    media_type: String,
}

/// What loading one image did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub id: Digest,
    pub names: Vec<Reference>,
    /// Each layer's diff id and whether it was new.
    pub layers: Vec<(Digest, Added)>,
}

// ANCHOR: load
/// Loads every image of a `docker save` archive or OCI image layout (directory or tar).
pub fn load(store: &Store, path: &Path) -> Result<Vec<Loaded>, LoadError> {
    let decompressed = decompress_archive(store, path)?;
    let source = match &decompressed {
        Some((_work, plain)) => Source::open(plain)?,
        None => Source::open(path)?,
    };
    let archive = path.display().to_string();
    let plans = if source.exists("manifest.json") {
        docker_archive(&source, &archive)?
    } else if source.exists("oci-layout") && source.exists("index.json") {
        oci_layout(&source, &archive, path)?
    } else {
        return Err(LoadError::UnknownFormat(archive));
    };
    if plans.is_empty() {
        return Err(LoadError::Empty(archive));
    }
    install(store, &source, &archive, plans)
}
// ANCHOR_END: load

/// `docker save busybox | gzip > busybox.tar.gz` loads too, as with `docker load`. A tar is
/// read in place, which needs seeking, so a compressed one is first decompressed into the
/// store's `tmp/` (removed when the returned directory is dropped).
fn decompress_archive(
    store: &Store,
    path: &Path,
) -> Result<Option<(tempfile::TempDir, std::path::PathBuf)>, LoadError> {
    use std::io::Read;
    let io_error = |source| SourceError::Io {
        path: path.to_owned(),
        source,
    };
    if path.is_dir() {
        return Ok(None);
    }
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let mut magic = [0u8; 4];
    let n = file.read(&mut magic).map_err(io_error)?;
    let file = std::fs::File::open(path).map_err(io_error)?;
    let mut decoder: Box<dyn Read> = match &magic[..n] {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(file)),
        [0x28, 0xb5, 0x2f, 0xfd] => {
            Box::new(zstd::stream::read::Decoder::new(file).map_err(io_error)?)
        }
        _ => return Ok(None),
    };
    let work = store.temp_dir("archive")?;
    let plain = work.path().join("archive.tar");
    let mut out = std::fs::File::create(&plain).map_err(io_error)?;
    std::io::copy(&mut decoder, &mut out).map_err(io_error)?;
    Ok(Some((work, plain)))
}

fn document<T: for<'de> serde::Deserialize<'de>>(
    source: &Source,
    archive: &str,
    name: &str,
) -> Result<(T, Vec<u8>), LoadError> {
    let bytes = source.read(name)?;
    let parsed = spec::parse("the document", &bytes).map_err(|reason| LoadError::Document {
        archive: archive.to_owned(),
        name: name.to_owned(),
        reason,
    })?;
    Ok((parsed, bytes))
}

/// The digest a file name announces: `blobs/sha256/<hex>`, `<hex>.json` or `<hex>.tar`.
fn digest_in_name(name: &str) -> Option<Digest> {
    let file = name.strip_prefix("blobs/sha256/").unwrap_or(name);
    let hex = file
        .strip_suffix(".json")
        .or_else(|| file.strip_suffix(".tar"))
        .unwrap_or(file);
    format!("sha256:{hex}").parse().ok()
}

fn check_digest(
    archive: &str,
    name: &str,
    expected: &Digest,
    bytes: &[u8],
) -> Result<(), LoadError> {
    let actual = Digest::of(bytes);
    if actual == *expected {
        Ok(())
    } else {
        Err(LoadError::BlobDigest {
            archive: archive.to_owned(),
            name: name.to_owned(),
            expected: *expected,
            actual,
        })
    }
}

fn parse_name(archive: &str, name: &str) -> Result<Reference, LoadError> {
    Reference::parse(name)
        .map(Reference::with_default_tag)
        .map_err(|source| LoadError::Name {
            archive: archive.to_owned(),
            name: name.to_owned(),
            source,
        })
}

/// Reads a `docker save` archive's `manifest.json`.
fn docker_archive(source: &Source, archive: &str) -> Result<Vec<Plan>, LoadError> {
    let (entries, _) = document::<Vec<ArchiveEntry>>(source, archive, "manifest.json")?;
    entries
        .into_iter()
        .map(|entry| {
            let config = source.read(&entry.config)?;
            let config_digest = Digest::of(&config);
            if let Some(announced) = digest_in_name(&entry.config) {
                check_digest(archive, &entry.config, &announced, &config)?;
            }
            let names = entry
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|tag| parse_name(archive, tag))
                .collect::<Result<_, _>>()?;
            let layers = entry
                .layers
                .into_iter()
                .map(|name| PlannedLayer {
                    blob: digest_in_name(&name),
                    media_type: media_type::DOCKER_LAYER.to_owned(),
                    name,
                })
                .collect();
            Ok(Plan {
                config,
                config_digest,
                manifest: None,
                layers,
                names,
            })
        })
        .collect()
}

/// Reads an OCI image layout's `index.json`, following nested indexes to this host's platform.
fn oci_layout(source: &Source, archive: &str, path: &Path) -> Result<Vec<Plan>, LoadError> {
    let (layout, _) = document::<serde_json::Value>(source, archive, "oci-layout")?;
    if layout["imageLayoutVersion"] != "1.0.0" {
        return Err(LoadError::Document {
            archive: archive.to_owned(),
            name: "oci-layout".into(),
            reason: format!(
                "unsupported imageLayoutVersion {}",
                layout["imageLayoutVersion"]
            ),
        });
    }
    let (index, _) = document::<Index>(source, archive, "index.json")?;
    // A tag-only ref.name ("latest") names a repository after the layout, as podman does.
    let repository = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_else(|| "image".into());
    let mut plans = Vec::new();
    for descriptor in &index.manifests {
        let names = match descriptor.annotations.get(spec::REF_NAME_ANNOTATION) {
            Some(name) if name.contains([':', '/']) => vec![parse_name(archive, name)?],
            Some(tag) => vec![parse_name(archive, &format!("{repository}:{tag}"))?],
            None => Vec::new(),
        };
        let manifest_descriptor = pick_platform(source, archive, descriptor, 0)?;
        let name = blob_name(&manifest_descriptor.digest);
        let (manifest, manifest_bytes) = document::<Manifest>(source, archive, &name)?;
        check_digest(archive, &name, &manifest_descriptor.digest, &manifest_bytes)?;
        let config_name = blob_name(&manifest.config.digest);
        let config = source.read(&config_name)?;
        check_digest(archive, &config_name, &manifest.config.digest, &config)?;
        let layers = manifest
            .layers
            .iter()
            .map(|layer| PlannedLayer {
                name: blob_name(&layer.digest),
                blob: Some(layer.digest),
                media_type: layer.media_type.clone(),
            })
            .collect();
        plans.push(Plan {
            config,
            config_digest: manifest.config.digest,
            manifest: Some((manifest_descriptor.digest, manifest_bytes)),
            layers,
            names,
        });
    }
    Ok(plans)
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// Follows an index entry down to an image manifest for this machine's platform.
fn pick_platform(
    source: &Source,
    archive: &str,
    descriptor: &Descriptor,
    depth: u32,
) -> Result<Descriptor, LoadError> {
    let is_index = matches!(
        descriptor.media_type.as_str(),
        media_type::OCI_INDEX | media_type::DOCKER_LIST
    );
    if !is_index {
        return Ok(descriptor.clone());
    }
    let name = blob_name(&descriptor.digest);
    let (index, bytes) = document::<Index>(source, archive, &name)?;
    check_digest(archive, &name, &descriptor.digest, &bytes)?;
    let arch = host_architecture();
    let chosen = index.manifests.iter().find(|m| {
        m.platform
            .as_ref()
            .is_some_and(|p| p.os == "linux" && p.architecture == arch)
    });
    match chosen {
        Some(next) if depth < 4 => pick_platform(source, archive, next, depth + 1),
        _ => Err(LoadError::Document {
            archive: archive.to_owned(),
            name,
            reason: format!("no manifest for linux/{arch} in the index"),
        }),
    }
}

/// The OCI name of this machine's architecture.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

// ANCHOR: install
/// Installs an archive's images: stage every layer of every image (in parallel), and only
/// when all of them passed, commit them, then record and name each image. An archive with one
/// bad image among good ones thus changes nothing.
fn install(
    store: &Store,
    source: &Source,
    archive: &str,
    plans: Vec<Plan>,
) -> Result<Vec<Loaded>, LoadError> {
    let configs = plans
        .iter()
        .map(|plan| checked_config(archive, plan))
        .collect::<Result<Vec<_>, _>>()?;

    // Removal takes this lock exclusively, so nothing we rely on disappears meanwhile. The
    // layers of all the images are locked at once: two images may share one.
    let _shared = store.shared_lock()?;
    let _layer_locks = store.lock_layers(configs.iter().flat_map(|c| &c.rootfs.diff_ids))?;
    let mut staged_images = Vec::new();
    for (plan, config) in plans.into_iter().zip(configs) {
        let staged = stage_all(store, source, &plan.layers, &config.rootfs.diff_ids)?;
        staged_images.push((plan, config, staged));
    }

    // Every layer of every image passed: now, and only now, the store changes.
    let mut loaded = Vec::new();
    for (plan, config, staged) in staged_images {
        let added: Vec<Added> = staged.iter().map(|s| s.added).collect();
        let layers = config
            .rootfs
            .diff_ids
            .iter()
            .zip(&plan.layers)
            .zip(staged)
            .map(|((diff_id, planned), staged)| (*diff_id, planned.media_type.clone(), staged))
            .collect();
        let record = store.commit_image(NewImage {
            config: plan.config,
            config_digest: plan.config_digest,
            created: config.created.clone(),
            manifest: plan.manifest,
            layers,
            names: plan.names.clone(),
            repo_digest: None,
        })?;
        loaded.push(Loaded {
            id: record.id,
            names: plan.names,
            layers: record.layers.iter().map(|l| l.diff_id).zip(added).collect(),
        });
    }
    Ok(loaded)
}

/// An image's config, parsed, with as many diff ids as the manifest has layers.
fn checked_config(archive: &str, plan: &Plan) -> Result<ImageConfig, LoadError> {
    let config: ImageConfig =
        spec::parse("the image config", &plan.config).map_err(|reason| LoadError::Document {
            archive: archive.to_owned(),
            name: format!("config {}", plan.config_digest),
            reason,
        })?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != plan.layers.len() {
        return Err(LoadError::Document {
            archive: archive.to_owned(),
            name: format!("config {}", plan.config_digest),
            reason: format!(
                "it lists {} layers (rootfs.diff_ids) but the manifest has {}",
                diff_ids.len(),
                plan.layers.len()
            ),
        });
    }
    Ok(config)
}
// ANCHOR_END: install

// ANCHOR: stage_all
/// Stages every layer, a few at a time in parallel; the first error (in layer order) wins.
fn stage_all(
    store: &Store,
    source: &Source,
    layers: &[PlannedLayer],
    diff_ids: &[Digest],
) -> Result<Vec<StagedLayer>, LoadError> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(layers.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<StagedLayer, LoadError>>>> =
        layers.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(layer) = layers.get(i) else { break };
                    let result = source
                        .open_file(&layer.name)
                        .map_err(LoadError::from)
                        .and_then(|(content, _)| {
                            store
                                .stage_layer(layer.blob.as_ref(), &diff_ids[i], content)
                                .map_err(LoadError::from)
                        });
                    *results[i].lock().expect("no worker panics holding it") = Some(result);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("no worker panics holding it")
                .expect("every layer was staged")
        })
        .collect()
}
// ANCHOR_END: stage_all
