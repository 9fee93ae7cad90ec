//! Image references as the user types them, and as the API wants them.
//!
//! `busybox` is short for `docker.io/library/busybox:latest`: the registry defaults to Docker
//! Hub, a one-part name on the Hub lives under `library/`, and the tag defaults to `latest`.
//! The first component is a registry only if it looks like a host (has a `.` or a `:`, or is
//! `localhost`), so `alice/app` is a Hub repository and `localhost:5000/app` is not. The CLI
//! sends `pull` the full name and the tag separately (`fromImage=docker.io/library/busybox`,
//! `tag=latest`) and shows the user the short, *familiar* form (`busybox:latest`).

use std::fmt;

/// Docker Hub's name in references.
pub const HUB: &str = "docker.io";

/// Why a reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Empty, or characters a repository name may not hold.
    #[error("invalid reference format: {reference:?} {reason}")]
    Invalid {
        /// What the user typed.
        reference: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The registry host, `docker.io` for the Hub.
    pub registry: String,
    /// The repository path within it (`library/busybox`).
    pub repository: String,
    /// The tag, if one was given or implied (none when only a digest was given).
    pub tag: Option<String>,
    /// `sha256:...`, if given.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `[registry/]path[:tag][@digest]`, defaulting the tag to `latest` when there is
    /// neither a tag nor a digest.
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        let invalid = |reason| ReferenceError::Invalid {
            reference: text.to_owned(),
            reason,
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) if digest.contains(':') => (rest, Some(digest.to_owned())),
            Some(_) => return Err(invalid("has a malformed digest")),
            None => (text, None),
        };
        // A tag is a ':' after the last '/' (a ':' before it is a registry port).
        let (name, tag) = match rest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag.to_owned())),
            _ => (rest, None),
        };
        if name.is_empty() {
            return Err(invalid("has an empty name"));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), path.to_owned())
            }
            _ => (HUB.to_owned(), name.to_owned()),
        };
        let path = if registry == HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(invalid("must be lowercase"));
        }
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c);
        if !path.chars().all(valid) || path.split('/').any(str::is_empty) {
            return Err(invalid("is not a valid repository name"));
        }
        if let Some(tag) = &tag
            && (tag.is_empty()
                || tag.len() > 128
                || !tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
        {
            return Err(invalid("has an invalid tag"));
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            _ => tag,
        };
        Ok(Reference {
            registry,
            repository: path,
            tag,
            digest,
        })
    }

    /// The full repository name: `docker.io/library/busybox`, `localhost:5000/app`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The repository as users write it: `busybox`, `alice/app`, `localhost:5000/app`.
    pub fn familiar_name(&self) -> String {
        if self.registry == HUB {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_owned()
        } else {
            self.name()
        }
    }

    /// The familiar form with the tag or digest: `busybox:latest`.
    pub fn familiar(&self) -> String {
        self.with_suffix(self.familiar_name())
    }

    /// What to send as `tag=` for a pull: the digest when given, else the tag.
    pub fn tag_or_digest(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    fn with_suffix(&self, name: String) -> String {
        match (&self.tag, &self.digest) {
            (_, Some(digest)) => format!("{name}@{digest}"),
            (Some(tag), None) => format!("{name}:{tag}"),
            (None, None) => name,
        }
    }
}

impl fmt::Display for Reference {
    /// The full form: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_suffix(self.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Reference {
        Reference::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn short_names_are_hub_library_images() {
        let r = parse("busybox");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(parse("alice/app:1").to_string(), "docker.io/alice/app:1");
        assert_eq!(parse("alice/app:1").familiar(), "alice/app:1");
    }

    #[test]
    fn a_host_first_is_a_registry() {
        let r = parse("localhost:5000/team/app:1.0");
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.familiar(), "localhost:5000/team/app:1.0");
        // A port is not a tag.
        let r = parse("127.0.0.1:5000/bb");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(parse("localhost/app").registry, "localhost");
    }

    #[test]
    fn digests_replace_the_default_tag() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("busybox@{digest}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.tag_or_digest(), digest);
        assert_eq!(r.familiar(), format!("busybox@{digest}"));
    }

    #[test]
    fn bad_references_are_refused_with_the_reason() {
        for (text, reason) in [
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("bad name", "valid repository"),
            ("busybox:", "tag"),
            ("a//b", "valid repository"),
            ("busybox@nodigest", "digest"),
        ] {
            let error = Reference::parse(text).unwrap_err().to_string();
            assert!(error.contains(reason), "{text:?}: {error}");
        }
    }
}
