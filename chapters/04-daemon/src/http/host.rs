//! Which daemon to talk to: `-H unix:///run/berth.sock`.
//!
//! Docker names a daemon by a URL-like *host*: `unix:///var/run/docker.sock` for a local
//! socket, `tcp://host:2376` for a remote one (`ssh://`, `fd://` and `npipe://` also exist).
//! The scheme picks the transport; HTTP is the same on all of them. Chapter 4 speaks to UNIX
//! sockets only; TCP (with TLS, since the socket is root access) comes with the engine.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Why a `-H` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// A scheme Docker knows but Berth does not serve yet (`tcp://`, `ssh://`, ...).
    #[error(
        "unsupported host {host:?}: {scheme}:// is not supported yet (use unix:///path/to/socket)"
    )]
    Unsupported { host: String, scheme: String },
    /// Not `scheme://address` at all.
    #[error("invalid host {host:?}: expected unix:///path/to/socket")]
    Invalid { host: String },
    /// `unix://` without a path.
    #[error("invalid host {host:?}: the socket path is empty")]
    EmptyPath { host: String },
}

/// A daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A UNIX socket at this path.
    Unix(PathBuf),
}

impl FromStr for Host {
    type Err = HostError;

    /// Parses `unix:///path` (three slashes: the scheme's two, then the absolute path's).
    fn from_str(host: &str) -> Result<Host, HostError> {
        let Some((scheme, rest)) = host.split_once("://") else {
            return Err(HostError::Invalid {
                host: host.to_owned(),
            });
        };
        match scheme {
            "unix" if rest.is_empty() => Err(HostError::EmptyPath {
                host: host.to_owned(),
            }),
            "unix" => Ok(Host::Unix(PathBuf::from(rest))),
            "tcp" | "http" | "https" | "ssh" | "fd" | "npipe" => Err(HostError::Unsupported {
                host: host.to_owned(),
                scheme: scheme.to_owned(),
            }),
            _ => Err(HostError::Invalid {
                host: host.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unix_hosts_only() {
        assert_eq!(
            "unix:///run/berth.sock".parse(),
            Ok(Host::Unix("/run/berth.sock".into()))
        );
        assert_eq!(
            Host::Unix("/run/berth.sock".into()).to_string(),
            "unix:///run/berth.sock"
        );
        assert!(matches!(
            "tcp://127.0.0.1:2375".parse::<Host>(),
            Err(HostError::Unsupported { .. })
        ));
        assert!(matches!(
            "/run/berth.sock".parse::<Host>(),
            Err(HostError::Invalid { .. })
        ));
        assert!(matches!(
            "unix://".parse::<Host>(),
            Err(HostError::EmptyPath { .. })
        ));
    }
}
