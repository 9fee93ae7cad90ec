//! Which daemon to talk to: `-H unix:///run/berth.sock`.
//!
//! Docker names a daemon by a URL-like *host*: `unix:///var/run/docker.sock` for a local
//! socket, `tcp://host:2376` for a remote one (`ssh://`, `fd://` and `npipe://` also exist).
//! The scheme picks the transport; HTTP is the same on all of them. Chapter 4 speaks to UNIX
//! sockets; the engine adds `tcp://HOST:PORT` (with TLS and client certificates off loopback,
//! since whoever reaches the API is root on the host).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Why a `-H` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// A scheme Docker knows but Berth does not serve yet (`ssh://`, `fd://`, ...).
    #[error(
        "unsupported host {host:?}: {scheme}:// is not supported yet (use unix:///path/to/socket \
         or tcp://HOST:PORT)"
    )]
    Unsupported { host: String, scheme: String },
    /// Not `scheme://address` at all.
    #[error("invalid host {host:?}: expected unix:///path/to/socket")]
    Invalid { host: String },
    /// `unix://` without a path.
    #[error("invalid host {host:?}: the socket path is empty")]
    EmptyPath { host: String },
    /// `tcp://` without a usable host or port.
    #[error("invalid host {host:?}: expected tcp://HOST:PORT ({reason})")]
    BadTcp { host: String, reason: String },
}

/// Docker's port for `tcp://HOST` without one (2376 is its TLS convention; we take 2375 for
/// both, as the CLI does when `DOCKER_TLS_VERIFY` is unset).
pub const DEFAULT_TCP_PORT: u16 = 2375;

/// A daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A UNIX socket at this path.
    Unix(PathBuf),
    /// A TCP address: a host name or IP address (IPv6 without brackets), and a port.
    Tcp { host: String, port: u16 },
}

impl Host {
    /// `host:port` for `connect` and `bind` (`[::1]:2375` for IPv6).
    pub fn tcp_address(&self) -> Option<String> {
        match self {
            Host::Tcp { host, port } if host.contains(':') => Some(format!("[{host}]:{port}")),
            Host::Tcp { host, port } => Some(format!("{host}:{port}")),
            Host::Unix(_) => None,
        }
    }

    /// Whether a TCP host is a loopback address (`localhost`, `127.0.0.0/8`, `::1`): only
    /// processes on this machine can reach it.
    pub fn is_loopback(&self) -> bool {
        match self {
            Host::Unix(_) => true,
            Host::Tcp { host, .. } => {
                host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        }
    }
}

/// Parses the `HOST:PORT` of `tcp://HOST:PORT` (`[v6]:PORT` for IPv6; no port = 2375).
fn parse_tcp(host: &str, rest: &str) -> Result<Host, HostError> {
    let bad = |reason: &str| HostError::BadTcp {
        host: host.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') {
        return Err(bad("a path is not allowed"));
    }
    let (name, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (name, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        (name, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (rest, None),
        }
    };
    if name.is_empty() {
        return Err(bad("the host is empty"));
    }
    let port = match port {
        None => DEFAULT_TCP_PORT,
        // Port 0 is for listening: the kernel picks a free port (berthd logs which).
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| bad("the port must be a number from 0 to 65535"))?,
    };
    Ok(Host::Tcp {
        host: name.to_owned(),
        port,
    })
}

impl FromStr for Host {
    type Err = HostError;

    /// Parses `unix:///path` (three slashes: the scheme's two, then the absolute path's) and
    /// `tcp://HOST:PORT`.
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
            "tcp" => parse_tcp(host, rest),
            "http" | "https" | "ssh" | "fd" | "npipe" => Err(HostError::Unsupported {
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
            Host::Tcp { .. } => write!(f, "tcp://{}", self.tcp_address().unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unix_and_tcp_hosts() {
        assert_eq!(
            "unix:///run/berth.sock".parse(),
            Ok(Host::Unix("/run/berth.sock".into()))
        );
        assert_eq!(
            Host::Unix("/run/berth.sock".into()).to_string(),
            "unix:///run/berth.sock"
        );
        let tcp: Host = "tcp://127.0.0.1:2375".parse().unwrap();
        assert_eq!(
            tcp,
            Host::Tcp {
                host: "127.0.0.1".into(),
                port: 2375
            }
        );
        assert!(tcp.is_loopback());
        assert_eq!(tcp.to_string(), "tcp://127.0.0.1:2375");
        let v6: Host = "tcp://[::1]:9".parse().unwrap();
        assert_eq!(v6.tcp_address().as_deref(), Some("[::1]:9"));
        assert!(v6.is_loopback());
        assert!(!"tcp://10.0.0.1".parse::<Host>().unwrap().is_loopback());
        assert_eq!(
            "tcp://example.org".parse::<Host>().unwrap().tcp_address(),
            Some("example.org:2375".into())
        );
        for bad in [
            "tcp://",
            "tcp://:80",
            "tcp://h:70000",
            "tcp://h:x",
            "tcp://h:1/p",
        ] {
            assert!(
                matches!(bad.parse::<Host>(), Err(HostError::BadTcp { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            "ssh://me@host".parse::<Host>(),
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
