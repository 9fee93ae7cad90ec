//! The request target: `/v1.50/containers/web/json?size=1`, taken apart.
//!
//! A request line names its resource with an *origin-form* target: an absolute path, then
//! optionally `?` and a query. (Proxies see `http://host/path`, and `OPTIONS` may use `*`; a
//! daemon accepts neither.) Docker's paths may start with an API version, `/v1.50`, which the
//! client negotiated with `/_ping`; the rest is split into segments at `/` and each segment is
//! percent-decoded.
//!
//! Decoding opens the door to path tricks, so the checks come after it: a segment that decodes
//! to `.` or `..` is refused (a name must never walk up a directory when a handler joins it onto
//! a path), as is one that decodes to something containing `/` (`a%2Fb`: no Docker client
//! encodes a slash, and letting one through would let a "single" name span two segments), or
//! a NUL byte (which ends a path for the kernel). The daemon answers all of these with a 400.

use std::fmt;
use std::str::FromStr;

use super::percent::{self, DecodeError};
use super::query::{Query, QueryError};

/// Why a request target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not a path starting with `/` (absolute-form, `*`).
    #[error("request target {target:?} must be an absolute path")]
    NotOriginForm { target: String },
    /// A `#fragment`, which clients never send.
    #[error("request target {target:?} contains a fragment ('#')")]
    Fragment { target: String },
    /// A segment with a bad percent-escape.
    #[error("malformed path {target:?}: {source}")]
    Decode { target: String, source: DecodeError },
    /// A segment that is (or decodes to) `.` or `..`.
    #[error("path {target:?} contains a '.' or '..' segment")]
    DotSegment { target: String },
    /// A segment that decodes to something containing `/` or NUL.
    #[error("path {target:?} contains an encoded '/' or NUL inside a segment")]
    EncodedSeparator { target: String },
    /// A malformed query string.
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// A Docker API version from a `/vMAJOR.MINOR/` path prefix, such as 1.50.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    /// 1 for every Docker API so far.
    pub major: u32,
    /// 50 in 1.50. Compared as a number: 1.9 < 1.24 < 1.50.
    pub minor: u32,
}

impl ApiVersion {
    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> Self {
        ApiVersion { major, minor }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for ApiVersion {
    type Err = ();

    /// Parses `1.50` (digits, a dot, digits; nothing else).
    fn from_str(s: &str) -> Result<Self, ()> {
        let (major, minor) = s.split_once('.').ok_or(())?;
        let number = |s: &str| {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            s.parse::<u32>().map_err(|_| ())
        };
        Ok(ApiVersion::new(number(major)?, number(minor)?))
    }
}

/// A parsed origin-form request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The path as sent, still encoded, version prefix included (for logs).
    pub raw_path: String,
    /// The API version prefix, if the path had one.
    pub api_version: Option<ApiVersion>,
    /// The decoded segments after the version prefix: `/v1.50/containers/web/json` gives
    /// `["containers", "web", "json"]`. A single trailing slash is ignored.
    pub segments: Vec<String>,
    /// The decoded query.
    pub query: Query,
}

impl Target {
    // ANCHOR: target
    /// Parses and checks a request target.
    pub fn parse(target: &str) -> Result<Target, TargetError> {
        if !target.starts_with('/') {
            return Err(TargetError::NotOriginForm {
                target: target.to_owned(),
            });
        }
        if target.contains('#') {
            return Err(TargetError::Fragment {
                target: target.to_owned(),
            });
        }
        let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let mut segments = Vec::new();
        let mut pieces: Vec<&str> = raw_path[1..].split('/').collect();
        if pieces.last() == Some(&"") {
            pieces.pop(); // "/" and "/_ping/" end in one empty piece
        }
        for piece in pieces {
            let segment = percent::decode(piece, false).map_err(|source| TargetError::Decode {
                target: target.to_owned(),
                source,
            })?;
            if segment == "." || segment == ".." {
                return Err(TargetError::DotSegment {
                    target: target.to_owned(),
                });
            }
            if segment.contains(['/', '\0']) {
                return Err(TargetError::EncodedSeparator {
                    target: target.to_owned(),
                });
            }
            segments.push(segment);
        }
        let api_version = segments
            .first()
            .and_then(|s| s.strip_prefix('v'))
            .and_then(|v| v.parse::<ApiVersion>().ok());
        if api_version.is_some() {
            segments.remove(0);
        }
        Ok(Target {
            raw_path: raw_path.to_owned(),
            api_version,
            segments,
            query: Query::parse(raw_query)?,
        })
    }
    // ANCHOR_END: target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_version_segments_and_query() {
        let t = Target::parse("/v1.50/containers/web/json?size=1").unwrap();
        assert_eq!(t.api_version, Some(ApiVersion::new(1, 50)));
        assert_eq!(t.segments, ["containers", "web", "json"]);
        assert_eq!(t.query.get("size"), Some("1"));
        let t = Target::parse("/_ping").unwrap();
        assert_eq!(t.api_version, None);
        assert_eq!(t.segments, ["_ping"]);
        assert!(Target::parse("/").unwrap().segments.is_empty());
        // An image name keeps its ':' and spreads over segments; the router joins them.
        let t = Target::parse("/images/localhost:5000/a/b:1/json").unwrap();
        assert_eq!(t.segments, ["images", "localhost:5000", "a", "b:1", "json"]);
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(ApiVersion::new(1, 9) < ApiVersion::new(1, 24));
        assert_eq!("1.50".parse(), Ok(ApiVersion::new(1, 50)));
        assert!("1".parse::<ApiVersion>().is_err());
        assert!("1.x".parse::<ApiVersion>().is_err());
        // Not a version prefix: the segment stays.
        assert_eq!(Target::parse("/vx/a").unwrap().segments, ["vx", "a"]);
    }

    #[test]
    fn refuses_path_tricks() {
        for (target, ok) in [
            ("/containers/../x", false),
            ("/containers/%2e%2E/json", false),
            ("/containers/./json", false),
            ("/containers/a%2Fb/json", false),
            ("/containers/a%00b/json", false),
            ("/containers/%zz/json", false),
            ("http://host/_ping", false),
            ("*", false),
            ("/a#frag", false),
            ("/containers/a..b/json", true),
            ("/containers/my%20box/json", true),
        ] {
            assert_eq!(Target::parse(target).is_ok(), ok, "{target}");
        }
    }
}
