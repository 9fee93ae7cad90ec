//! Fetching manifests, and choosing the one for this machine from an index.
//!
//! A tag names a manifest. For a multi-platform image that manifest is an *index* (Docker: a
//! *manifest list*) with one entry per platform, and we fetch the entry for ours by digest.
//! The bytes are hashed exactly as received, never re-serialised: the digest is over bytes,
//! and two JSON encoders rarely agree on bytes.

use std::io::Read;

use berth_images::Digest;
use berth_images::spec::{self, Descriptor, Index, media_type};
use ureq::http::Method;

use crate::client::{Registry, Request, read_error};
use crate::error::RegistryError;

/// The Docker schema 1 media type, which we recognise only to refuse it clearly.
pub const SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Every manifest type we take, for the `Accept` header: without it, some registries answer
/// with schema 1, converted on the fly.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.oci.image.manifest.v1+json";

/// The most a manifest may weigh: the distribution spec suggests registries cap it at 4 MiB.
const MAX_MANIFEST: u64 = 4 << 20;

/// A manifest as fetched.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub media_type: String,
    /// The digest of `bytes`, verified against what we asked for and what the registry said.
    pub digest: Digest,
    pub bytes: Vec<u8>,
}

impl Fetched {
    /// Whether this is an index (manifest list) rather than an image manifest.
    pub fn is_index(&self) -> bool {
        matches!(
            self.media_type.as_str(),
            media_type::OCI_INDEX | media_type::DOCKER_LIST
        )
    }
}

/// A platform: `linux/amd64`, `linux/arm64/v8`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// This machine's platform.
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: berth_images::load::host_architecture().into(),
            variant: None,
        }
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(text: &str) -> Option<Platform> {
        let mut parts = text.split('/');
        let os = parts.next().filter(|s| !s.is_empty())?;
        let architecture = parts.next().filter(|s| !s.is_empty())?;
        let variant = parts.next().map(str::to_owned);
        if parts.next().is_some() {
            return None;
        }
        Some(Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant,
        })
    }

    // ANCHOR: platform_matches
    /// Whether an index entry's platform is this one. `arm64` is `arm64/v8`, and `arm`
    /// without a variant means `v7`, as in containerd's platform matcher.
    // EXERCISE: same os and architecture after normalising (arm64 is arm64/v8, arm alone is arm/v7); the variant counts only if this platform names one
    pub fn matches(&self, entry: &spec::Platform) -> bool {
        let normal = |arch: &str, variant: Option<&str>| match (arch, variant) {
            ("arm64", None | Some("v8")) => ("arm64".to_owned(), None),
            ("arm", None) => ("arm".to_owned(), Some("v7".to_owned())),
            (arch, variant) => (arch.to_owned(), variant.map(str::to_owned)),
        };
        let ours = normal(&self.architecture, self.variant.as_deref());
        let theirs = normal(&entry.architecture, entry.variant.as_deref());
        self.os == entry.os && ours.0 == theirs.0 && (self.variant.is_none() || ours.1 == theirs.1)
    }
    // ANCHOR_END: platform_matches
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

// ANCHOR: fetch_manifest
/// Fetches `/v2/<repository>/manifests/<reference>` (a tag or a digest) and checks its digest.
pub fn fetch(
    registry: &Registry,
    repository: &str,
    reference: &str,
    display: &str,
    scopes: &[String],
) -> Result<Fetched, RegistryError> {
    let path = format!("/v2/{repository}/manifests/{reference}");
    let request = Request::new(Method::GET, path, scopes).header("Accept", ACCEPT);
    let response = registry
        .send(&request)
        .map_err(|e| pull_error(registry, repository, e))?;
    let status = response.status().as_u16();
    if status != 200 {
        let (code, message) = read_error(response);
        return Err(match (status, code.as_str()) {
            (404, "MANIFEST_UNKNOWN") | (404, "") => RegistryError::ManifestUnknown {
                reference: display.to_owned(),
                message,
            },
            (404 | 401 | 403, _) => RegistryError::PullDenied {
                repository: repository.to_owned(),
                message,
            },
            _ => RegistryError::Status {
                method: "GET".into(),
                url: format!("{}/v2/{repository}/manifests/{reference}", registry.base()),
                status,
                message,
            },
        });
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_owned())
    };
    let content_type = header("content-type").unwrap_or_default();
    let announced = header("docker-content-digest");
    let mut bytes = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(MAX_MANIFEST)
        .read_to_end(&mut bytes)
        .map_err(|e| RegistryError::Unreachable {
            url: format!("{}/v2/{repository}/manifests/{reference}", registry.base()),
            reason: e.to_string(),
        })?;
    if bytes.len() as u64 >= MAX_MANIFEST {
        return Err(RegistryError::Invalid {
            what: format!("the manifest of {display}"),
            reason: format!("it is larger than {MAX_MANIFEST} bytes, more than any real manifest"),
        });
    }
    let digest = Digest::of(&bytes);
    // Asked by digest: the bytes must hash to it. Asked by tag: they must hash to what the
    // registry says they are, or they were damaged on the way.
    let expected = reference
        .parse::<Digest>()
        .ok()
        .or_else(|| announced.and_then(|d| d.parse().ok()));
    if let Some(expected) = expected
        && expected != digest
    {
        return Err(RegistryError::DigestMismatch {
            what: "manifest",
            digest: expected,
            actual: digest,
        });
    }
    // The Content-Type is authoritative; an old registry may send a generic one, and then the
    // document's own mediaType field decides.
    let media_type = if content_type.starts_with("application/vnd.") {
        content_type
    } else {
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_owned))
            .unwrap_or(content_type)
    };
    if media_type == SCHEMA1 || media_type == "application/vnd.docker.distribution.manifest.v1+json"
    {
        return Err(RegistryError::Schema1 {
            reference: display.to_owned(),
        });
    }
    Ok(Fetched {
        media_type,
        digest,
        bytes,
    })
}
// ANCHOR_END: fetch_manifest

// ANCHOR: pick_platform
/// Chooses the entry of an index for `platform`, skipping attestations (BuildKit stores
/// provenance as entries for the platform `unknown/unknown`).
pub fn pick(
    index: &Fetched,
    platform: &Platform,
    display: &str,
) -> Result<Descriptor, RegistryError> {
    let parsed: Index = spec::parse("the manifest list", &index.bytes).map_err(|reason| {
        RegistryError::Invalid {
            what: format!("the manifest list of {display}"),
            reason,
        }
    })?;
    parsed
        .manifests
        .into_iter()
        .filter(|entry| {
            entry
                .platform
                .as_ref()
                .is_some_and(|p| p.os != "unknown" && p.architecture != "unknown")
        })
        .find(|entry| entry.platform.as_ref().is_some_and(|p| platform.matches(p)))
        .ok_or_else(|| RegistryError::NoPlatform {
            reference: display.to_owned(),
            platform: platform.to_string(),
        })
}
// ANCHOR_END: pick_platform

/// During a pull, a refusal means "no such repository, or not for you", as Docker says.
pub fn pull_error(registry: &Registry, repository: &str, error: RegistryError) -> RegistryError {
    match error {
        RegistryError::Unauthorized { message, .. } if !registry.has_credentials() => {
            RegistryError::PullDenied {
                repository: repository.to_owned(),
                message,
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(os: &str, arch: &str, variant: Option<&str>) -> spec::Platform {
        spec::Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(str::to_owned),
        }
    }

    #[test]
    fn platforms_match_as_containerd_does() {
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert!(arm64.matches(&entry("linux", "arm64", Some("v8"))));
        assert!(arm64.matches(&entry("linux", "arm64", None)));
        assert!(!arm64.matches(&entry("linux", "amd64", None)));
        let arm = Platform::parse("linux/arm/v7").unwrap();
        assert!(arm.matches(&entry("linux", "arm", None)));
        assert!(!arm.matches(&entry("linux", "arm", Some("v6"))));
        assert_eq!(Platform::parse("linux"), None);
        assert_eq!(Platform::parse("linux/arm/v7/x"), None);
    }
}
