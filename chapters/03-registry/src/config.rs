//! Which registry to talk to, and how: mirrors, insecure registries, where credentials come from.
//!
//! Docker reads `registry-mirrors` and `insecure-registries` from `/etc/docker/daemon.json`; we
//! read the same keys from `/etc/berth/daemon.json` (or `--config FILE`), then the environment
//! (`BERTH_REGISTRY_MIRROR`, `BERTH_INSECURE_REGISTRIES`, comma-separated), then flags. A
//! *mirror* stands in for Docker Hub (and only Docker Hub): pulls try it first, then Hub. An
//! *insecure* registry may be spoken to over plain HTTP; every loopback address is insecure
//! by default, as in Docker, so a registry on `127.0.0.1:5000` just works.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::{CredentialFile, CredentialSource};

/// Where `daemon.json` is looked for by default.
pub const DEFAULT_CONFIG: &str = "/etc/berth/daemon.json";

/// Docker Hub's name in references, and where its API really lives.
pub const DOCKER_HUB: &str = "docker.io";
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The key Docker Hub credentials are stored under in `config.json`, as Docker does.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// How to reach registries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Base URLs tried before Docker Hub for `docker.io` images, in order.
    pub mirrors: Vec<String>,
    /// `host[:port]` of registries that may be spoken to over plain HTTP.
    pub insecure: Vec<String>,
    /// Whether loopback registries are insecure without being listed (Docker: yes).
    pub insecure_loopback: bool,
    /// Where pulls and pushes find credentials: [`load`](Self::load) says `ch03`'s file; a
    /// daemon lends each request the credentials of its client instead.
    pub credentials: CredentialSource,
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("registry mirror {0:?} must be an http:// or https:// URL")]
    BadMirror(String),
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct DaemonJson {
    #[serde(default)]
    registry_mirrors: Vec<String>,
    #[serde(default)]
    insecure_registries: Vec<String>,
    #[serde(default)]
    insecure_loopback: Option<bool>,
}

impl RegistryConfig {
    /// Reads `file` (if it exists; `None` means the default path), then the environment.
    pub fn load(file: Option<&Path>) -> Result<RegistryConfig, ConfigError> {
        let path = file.unwrap_or(Path::new(DEFAULT_CONFIG));
        let daemon: DaemonJson = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ConfigError::Invalid {
                path: path.to_owned(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && file.is_none() => {
                DaemonJson::default()
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let mut config = RegistryConfig {
            mirrors: daemon.registry_mirrors,
            insecure: daemon.insecure_registries,
            insecure_loopback: daemon.insecure_loopback.unwrap_or(true),
            credentials: CredentialSource::File(CredentialFile::for_user()),
        };
        let list = |name| {
            std::env::var(name)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        config.mirrors.extend(list("BERTH_REGISTRY_MIRROR"));
        config.insecure.extend(list("BERTH_INSECURE_REGISTRIES"));
        config.check()?;
        Ok(config)
    }

    /// Refuses mirrors that are not URLs.
    pub fn check(&self) -> Result<(), ConfigError> {
        for mirror in &self.mirrors {
            if !(mirror.starts_with("http://") || mirror.starts_with("https://")) {
                return Err(ConfigError::BadMirror(mirror.clone()));
            }
        }
        Ok(())
    }

    // ANCHOR: is_insecure
    /// Whether `host` (`name[:port]`) may be spoken to over plain HTTP.
    pub fn is_insecure(&self, host: &str) -> bool {
        if self.insecure.iter().any(|h| h == host) {
            return true;
        }
        self.insecure_loopback && is_loopback(host)
    }
    // ANCHOR_END: is_insecure
}

// ANCHOR: is_loopback
/// `localhost`, `127.x.y.z` and `[::1]`, with or without a port.
fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
// ANCHOR_END: is_loopback

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_insecure_by_default() {
        let config = RegistryConfig {
            insecure_loopback: true,
            insecure: vec!["registry.lab:5000".into()],
            ..RegistryConfig::default()
        };
        assert!(config.is_insecure("127.0.0.1:5000"));
        assert!(config.is_insecure("localhost:5000"));
        assert!(config.is_insecure("[::1]:5000"));
        assert!(config.is_insecure("registry.lab:5000"));
        assert!(!config.is_insecure("ghcr.io"));
        assert!(!config.is_insecure("registry.lab"));
    }
}
