//! What a container was created with, kept next to chapter 2's record: `spec.json`.
//!
//! Chapter 2's record (`config.json`) holds what `ch02 run` needs. The Docker API asks for
//! more (a terminal, stdin, `--rm`, a hostname), and `docker inspect` shows the settings as
//! they were resolved against the image (the merged environment, the entrypoint apart from
//! the command). Both are written once, at create; the monitor reads them at start.

use std::path::Path;

use berth_images::container::{ContainerRecord, RunOptions};
use berth_images::spec::{self, ImageConfig};
use berth_images::store::Store;
use berth_namespaces::ContainerConfig;
use serde::{Deserialize, Serialize};

use super::CreateSpec;

/// The file's name in the container's directory.
const FILE: &str = "spec.json";

/// The container's settings as resolved against its image, for inspect and exec.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Resolved {
    /// `KEY=VALUE`, the image's then the container's.
    pub env: Vec<String>,
    /// The container's entrypoint, else the image's; empty if neither has one.
    pub entrypoint: Vec<String>,
    /// The command after the entrypoint: the container's, else the image's.
    pub cmd: Vec<String>,
    /// The directory its process starts in (and an exec's, unless it asks for another).
    pub working_dir: String,
    /// The user as given (a name or uid), empty for root.
    pub user: String,
    /// The one asked for, else the short id; also set as `HOSTNAME` in `env`.
    pub hostname: String,
}

/// What `spec.json` holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stored {
    /// The create request, as the API decoded it.
    pub spec: CreateSpec,
    /// Its settings as resolved against the image at create time.
    pub resolved: Resolved,
}

impl Stored {
    /// Reads a container's stored spec; a container made by chapter 2's tools has none, and
    /// gets the defaults.
    pub fn load(dir: &Path) -> Stored {
        std::fs::read(dir.join(FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Writes it (atomically, without fsync: a crash before the first start loses nothing
    /// that matters).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        berth_images::store::atomic::write_fast(&dir.join(FILE), &json)
    }
}

/// The chapter 2 options for a create request. Docker's "empty means the image's" rules are
/// applied here, so that chapter 2 sees only `None` or a real value.
pub fn run_options(spec: &CreateSpec) -> RunOptions {
    let entrypoint = spec.entrypoint.as_ref().map(|e| {
        e.iter()
            .filter(|arg| !arg.is_empty())
            .cloned()
            .collect::<Vec<_>>()
    });
    RunOptions {
        name: spec.name.clone(),
        cmd: spec.cmd.clone().unwrap_or_default(),
        env: spec.env.clone(),
        user: spec.user.clone().filter(|u| !u.is_empty()),
        workdir: spec.working_dir.clone().filter(|w| !w.is_empty()),
        init: spec.init,
        entrypoint,
    }
}

/// The hostname of a container: the one asked for, else its short id, as Docker does.
pub fn hostname(spec: &CreateSpec, id: &str) -> String {
    spec.hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| id[..12.min(id.len())].to_owned())
}

/// Resolves the settings of a just-created container (`runtime` is what chapter 2 computed).
pub fn resolve(
    store: &Store,
    record: &ContainerRecord,
    spec: &CreateSpec,
    runtime: &ContainerConfig,
) -> Resolved {
    let image_config = store
        .read_blob(&record.image)
        .ok()
        .and_then(|bytes| spec::parse::<ImageConfig>("the image config", &bytes).ok())
        .unwrap_or_default()
        .config;
    let entrypoint = match &record.options.entrypoint {
        Some(entrypoint) => entrypoint.clone(),
        None => image_config.entrypoint.clone().unwrap_or_default(),
    };
    let cmd = record
        .command
        .get(entrypoint.len()..)
        .unwrap_or_default()
        .to_vec();
    let hostname = hostname(spec, &record.id);
    let env = runtime
        .env
        .iter()
        .map(|(k, v)| match k.as_str() {
            "HOSTNAME" => format!("HOSTNAME={hostname}"),
            _ => format!("{k}={v}"),
        })
        .collect();
    Resolved {
        env,
        entrypoint,
        cmd,
        working_dir: runtime.workdir.display().to_string(),
        user: record
            .options
            .user
            .clone()
            .or(image_config.user)
            .unwrap_or_default(),
        hostname,
    }
}
