//! Image references: what `busybox`, `alice/app:1.2` or `localhost:5000/x@sha256:...` mean.
//!
//! Docker lets you type short names and fills in the rest: the registry defaults to Docker
//! Hub (`docker.io`), a one-word repository there lives under `library/`, and the tag
//! defaults to `latest`. So `busybox` is really `docker.io/library/busybox:latest`. The store
//! keeps the full form, and shows the short ("familiar") form back, as `docker images` does.
//!
//! The grammar is the distribution project's (`reference/regexp.go`): a registry host (only
//! if the first component has a `.` or a `:` or is `localhost`), path components of lower-case
//! letters and digits joined by `.`, `_`, `__` or dashes, a tag of up to 128 word characters,
//! and a digest.

use std::fmt;

use crate::digest::Digest;

/// The registry a reference names when it names none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The namespace of Docker Hub's official images.
pub const OFFICIAL_NAMESPACE: &str = "library";
/// The tag a reference means when it gives neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed, normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// The registry host, with its port if any: `docker.io`, `localhost:5000`.
    pub domain: String,
    /// The repository path within the registry: `library/busybox`.
    pub path: String,
    /// The tag, if one was given (or defaulted by [`Reference::with_default_tag`]).
    pub tag: Option<String>,
    /// The digest, if one was given.
    pub digest: Option<Digest>,
}

/// Why a string is not an image reference; each says what is wrong and where.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid reference format: the reference is empty")]
    Empty,
    #[error("invalid reference format: {0:?} has a character that is not allowed in a name")]
    InvalidCharacter(String),
    #[error("invalid reference format: repository name {0:?} must be lowercase")]
    Uppercase(String),
    #[error(
        "invalid reference format: {component:?} in {reference:?} is not a valid path component"
    )]
    InvalidComponent {
        reference: String,
        component: String,
    },
    #[error("invalid reference format: {host:?} in {reference:?} is not a valid registry host")]
    InvalidDomain { reference: String, host: String },
    #[error(
        "invalid reference format: tag {tag:?} in {reference:?} must be 1 to 128 letters, digits, \
         '_', '.' or '-', not starting with '.' or '-'"
    )]
    InvalidTag { reference: String, tag: String },
    #[error("invalid reference format: digest in {reference:?}: {reason}")]
    InvalidDigest { reference: String, reason: String },
    #[error("invalid reference format: repository name {0:?} is longer than 255 characters")]
    TooLong(String),
}

impl Reference {
    /// Parses and normalises a reference as `docker pull` does.
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        if text.is_empty() {
            return Err(ReferenceError::Empty);
        }
        // Split off the digest, then the tag: the tag is after the last ':' that follows the
        // last '/' (a ':' before that belongs to a host's port).
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                let parsed =
                    digest
                        .parse::<Digest>()
                        .map_err(|e| ReferenceError::InvalidDigest {
                            reference: text.to_owned(),
                            reason: e.to_string(),
                        })?;
                (rest, Some(parsed))
            }
            None => (text, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(ReferenceError::InvalidTag {
                reference: text.to_owned(),
                tag: tag.to_owned(),
            });
        }
        if name.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if name.len() > 255 {
            return Err(ReferenceError::TooLong(name.to_owned()));
        }

        let (domain, path) = split_domain(name);
        if !valid_domain(domain) {
            return Err(ReferenceError::InvalidDomain {
                reference: text.to_owned(),
                host: domain.to_owned(),
            });
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(path.to_owned()));
        }
        for component in path.split('/') {
            if !valid_component(component) {
                if component
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                {
                    return Err(ReferenceError::InvalidComponent {
                        reference: text.to_owned(),
                        component: component.to_owned(),
                    });
                }
                return Err(ReferenceError::InvalidCharacter(text.to_owned()));
            }
        }
        // ANCHOR: normalise
        let domain = if domain == "index.docker.io" {
            DEFAULT_DOMAIN
        } else {
            domain
        };
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("{OFFICIAL_NAMESPACE}/{path}")
        } else {
            path.to_owned()
        };
        Ok(Reference {
            domain: domain.to_owned(),
            path,
            tag: tag.map(str::to_owned),
            digest,
        })
        // ANCHOR_END: normalise
    }

    /// The same reference with the tag `latest` when it has neither tag nor digest.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_owned());
        }
        self
    }

    /// The repository's full name: `docker.io/library/busybox`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository as Docker shows it: `busybox`, `alice/app`, `localhost:5000/x`.
    pub fn familiar_repository(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.repository();
        }
        match self.path.strip_prefix("library/") {
            Some(official) if !official.contains('/') => official.to_owned(),
            _ => self.path.clone(),
        }
    }

    /// The short form with tag and digest: `busybox:latest`.
    pub fn familiar(&self) -> String {
        let mut text = self.familiar_repository();
        self.push_suffix(&mut text);
        text
    }

    fn push_suffix(&self, text: &mut String) {
        if let Some(tag) = &self.tag {
            text.push(':');
            text.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            text.push('@');
            text.push_str(&digest.to_string());
        }
    }
}

impl fmt::Display for Reference {
    /// The full form: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.repository();
        self.push_suffix(&mut text);
        f.write_str(&text)
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Reference::parse(text)
    }
}

// ANCHOR: split_domain
/// Splits off the registry host: the first component is one only if it has a `.` or `:`, is
/// `localhost`, or has upper-case letters (which a repository path may not).
fn split_domain(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DEFAULT_DOMAIN, name),
    }
}
// ANCHOR_END: split_domain

fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    port_ok && host.split('.').all(label_ok)
}

/// A path component: `[a-z0-9]+` runs joined by one of `.`, `_`, `__` or any number of `-`.
fn valid_component(component: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut chars = component.chars().peekable();
    loop {
        // One run of letters and digits.
        let mut run = 0;
        while chars.next_if(|c| alnum(*c)).is_some() {
            run += 1;
        }
        if run == 0 {
            return false;
        }
        // Then the end, or a separator followed by another run.
        match chars.next() {
            None => return true,
            Some('.') => {}
            Some('_') => {
                chars.next_if_eq(&'_');
            }
            Some('-') => while chars.next_if_eq(&'-').is_some() {},
            Some(_) => return false,
        }
    }
}

fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    (1..=128).contains(&bytes.len())
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(text: &str) -> String {
        Reference::parse(text)
            .unwrap()
            .with_default_tag()
            .to_string()
    }

    #[test]
    fn normalises_as_docker_does() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            full("library/busybox:1.36"),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(full("alice/app"), "docker.io/alice/app:latest");
        assert_eq!(
            full("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full("localhost:5000/x/y:tag"), "localhost:5000/x/y:tag");
        assert_eq!(full("localhost/x"), "localhost/x:latest");
        assert_eq!(
            full("ghcr.io/org/img:v1.2-rc_3"),
            "ghcr.io/org/img:v1.2-rc_3"
        );
        assert_eq!(full("a__b/c---d.e"), "docker.io/a__b/c---d.e:latest");
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            full(&format!("ghcr.io/org/img@{digest}")),
            format!("ghcr.io/org/img@{digest}")
        );
        assert_eq!(
            full(&format!("busybox:1@{digest}")),
            format!("docker.io/library/busybox:1@{digest}")
        );
    }

    #[test]
    fn shows_the_familiar_form() {
        let familiar = |t: &str| Reference::parse(t).unwrap().with_default_tag().familiar();
        assert_eq!(familiar("docker.io/library/busybox"), "busybox:latest");
        assert_eq!(familiar("alice/app:2"), "alice/app:2");
        assert_eq!(familiar("localhost:5000/x:1"), "localhost:5000/x:1");
    }

    #[test]
    fn refuses_malformed_references() {
        let err = |t: &str| Reference::parse(t).unwrap_err();
        assert_eq!(err(""), ReferenceError::Empty);
        assert_eq!(err(":tag"), ReferenceError::Empty);
        assert_eq!(err("Busybox"), ReferenceError::Uppercase("Busybox".into()));
        assert!(matches!(
            err("busy box"),
            ReferenceError::InvalidCharacter(_)
        ));
        assert!(matches!(
            err("a//b"),
            ReferenceError::InvalidComponent { .. }
        ));
        assert!(matches!(err("-a"), ReferenceError::InvalidComponent { .. }));
        assert!(matches!(
            err("a.-b"),
            ReferenceError::InvalidComponent { .. }
        ));
        assert!(matches!(err("busybox:"), ReferenceError::InvalidTag { .. }));
        assert!(matches!(
            err("busybox:.x"),
            ReferenceError::InvalidTag { .. }
        ));
        assert!(matches!(
            err(&format!("b:{}", "x".repeat(129))),
            ReferenceError::InvalidTag { .. }
        ));
        assert!(matches!(
            err("busybox@sha256:abc"),
            ReferenceError::InvalidDigest { .. }
        ));
        assert!(matches!(
            err("bad_host.io:x/y"),
            ReferenceError::InvalidDomain { .. }
        ));
        assert!(matches!(err(&"a".repeat(256)), ReferenceError::TooLong(_)));
        assert!(matches!(
            err("../../etc"),
            ReferenceError::InvalidDomain { .. }
        ));
    }
}
