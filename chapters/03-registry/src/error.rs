//! Errors a user can act on. A registry answers `{"errors":[{"code","message"}]}`; Docker turns
//! the common codes into sentences, and so do we, with the same words where Docker has them.

use berth_images::Digest;
use berth_images::store::{LayerError, StoreError};

/// Why a pull, push or login failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "pull access denied for {repository}, repository does not exist or may require 'docker \
         login' (ch03 login): {message}"
    )]
    PullDenied { repository: String, message: String },
    #[error(
        "push to {repository} was refused: {message} (are you logged in to {registry}, as a \
         user who may push there? ch03 login {registry})"
    )]
    PushDenied {
        registry: String,
        repository: String,
        message: String,
    },
    #[error("manifest for {reference} not found: manifest unknown: {message}")]
    ManifestUnknown { reference: String, message: String },
    #[error("no matching manifest for {platform} in the manifest list entries of {reference}")]
    NoPlatform { reference: String, platform: String },
    #[error(
        "{reference} is a Docker schema 1 image, a format deprecated since 2017 that Docker no \
         longer pulls either: rebuild or re-push it with a current tool"
    )]
    Schema1 { reference: String },
    #[error("unknown manifest type {media_type:?} for {reference}")]
    UnknownManifest {
        reference: String,
        media_type: String,
    },
    #[error("unauthorized: {registry} refused the credentials: {message}")]
    Unauthorized { registry: String, message: String },
    #[error("toomanyrequests: {registry} is rate limiting us: {message}")]
    TooManyRequests { registry: String, message: String },
    #[error("cannot reach the registry at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "TLS handshake with {host} failed: {reason}. If this registry serves plain HTTP, mark it \
         insecure: --insecure-registry {host}"
    )]
    Tls { host: String, reason: String },
    #[error("{what} {digest} is damaged: its content hashes to {actual}")]
    DigestMismatch {
        what: &'static str,
        digest: Digest,
        actual: Digest,
    },
    #[error("{method} {url}: the registry answered {status}: {message}")]
    Status {
        method: String,
        url: String,
        status: u16,
        message: String,
    },
    #[error("{what} from the registry is not valid: {reason}")]
    Invalid { what: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Reference(#[from] berth_images::reference::ReferenceError),
    #[error(transparent)]
    Credentials(#[from] crate::auth::CredentialsError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

impl RegistryError {
    // ANCHOR: is_transient
    /// Whether trying again may help: network trouble, rate limits, server errors.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Unreachable { .. } | RegistryError::TooManyRequests { .. } => true,
            RegistryError::Status { status, .. } => *status >= 500,
            RegistryError::Layer(LayerError::Read { .. }) => true,
            // A body cut short shows up as a read error or a truncated entry; anything else in
            // the tar (a refused entry, an unsupported one) would come back the same next time.
            RegistryError::Layer(LayerError::Unpack { source, .. }) => source.is_read_failure(),
            _ => false,
        }
    }
    // ANCHOR_END: is_transient
}

/// The first error of a registry's JSON error body, as `CODE: message`, or the body's text.
pub fn registry_message(body: &[u8]) -> (String, String) {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<One>,
    }
    #[derive(serde::Deserialize)]
    struct One {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Errors>(body) {
        Ok(Errors { errors }) if !errors.is_empty() => {
            (errors[0].code.clone(), errors[0].message.clone())
        }
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let text = if text.is_empty() {
                "(no message)"
            } else {
                text
            };
            (String::new(), text.chars().take(200).collect())
        }
    }
}
