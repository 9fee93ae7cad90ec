//! The JSON documents of an image, as the OCI image spec and Docker define them.
//!
//! An image is a small tree of content-addressed documents:
//!
//! ```text
//! index (optional: one entry per platform, or per tag in an OCI layout)
//!   └─ manifest: points to one config and an ordered list of layers, each by digest
//!        ├─ config: how to run it (Env, Cmd, Entrypoint, WorkingDir, User) and the
//!        │          rootfs.diff_ids: the digests of the *uncompressed* layers
//!        └─ layers: tar archives, usually gzip-compressed, applied bottom to top
//! ```
//!
//! Only the fields Berth uses are read; unknown fields are ignored, and the documents' bytes
//! are kept exactly as received, because their digests are computed over those bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::Digest;

/// The media types Berth recognises.
pub mod media_type {
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A pointer to a blob: its type, digest and size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// The platform an index entry is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An index (OCI) or manifest list (Docker): several manifests, by platform or by name.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// An image manifest: one config and the layers, bottom first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

// ANCHOR: image_config
/// The image config: what the container runs, and the layers' uncompressed digests.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub config: RunConfig,
    pub rootfs: RootFs,
    /// How the image was made, oldest step first, one entry per layer plus the steps that
    /// made none (`ENV`, `CMD`: `empty_layer`). What `docker history` shows.
    #[serde(default)]
    pub history: Vec<HistoryStep>,
}

/// The part of the config that says how to run a container (`docker inspect`'s `Config`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
}

/// One step of an image's history, as its config records it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct HistoryStep {
    #[serde(default)]
    pub created: Option<String>,
    /// The command that made the step (`/bin/sh -c #(nop) CMD ["sh"]`).
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    /// The step made no layer.
    #[serde(default)]
    pub empty_layer: bool,
}

/// The config's list of layers by uncompressed digest (its "diff id").
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}
// ANCHOR_END: image_config

/// One image of a `docker save` archive's `manifest.json`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ArchiveEntry {
    /// The config's path inside the archive.
    pub config: String,
    /// The names it was saved under, such as `busybox:latest`.
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    /// The layer tars' paths inside the archive, bottom first.
    pub layers: Vec<String>,
}

/// The annotation an OCI layout uses to name a manifest (usually just a tag).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// Parses a document, with an error that says which one.
pub fn parse<T: for<'de> Deserialize<'de>>(what: &str, bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("{what} is not valid: {e}"))
}
