//! Published ports: `-p 8080:80`, `-p 80`, `-P`, and what Docker's API sends for them.
//!
//! A container on a bridge has an address only the host can reach. Docker makes one of its
//! ports reachable from outside by *publishing* it on a port of the host: a DNAT rule sends
//! what arrives there on to the container (see [`crate::firewall`]), and a small userland
//! proxy answers connections to the host's loopback, which never pass through the NAT hook
//! that rule lives in (see [`crate::proxy`]).
//!
//! The user types `-p [IP:][HOST[-END]:]CONTAINER[-END][/tcp|udp]`; the docker CLI turns that
//! into `HostConfig.PortBindings` (`{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}`) and
//! `ExposedPorts`, and `-P` into `PublishAllPorts`, which publishes every port of the
//! image's `EXPOSE` on a random host port. This module reads both forms into one list of
//! [`PortMapping`]s, picks the host ports Docker would pick (from the kernel's ephemeral
//! range, checking each by binding it), and builds the `Ports` map `docker inspect` shows.
//!
//! A host port is *held* by a socket bound to it ([`HeldPort`]), as dockerd's docker-proxy
//! holds it: that is what makes a second container asking for the same port fail with
//! dockerd's own message, "Bind for 0.0.0.0:8080 failed: port is already allocated", and
//! what stops another program taking the port while the container runs.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a port specification was refused, or a host port could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// A `-p` value, or a `PortBindings` key or value, that does not parse.
    #[error("invalid port specification {spec:?}: {reason}")]
    Invalid {
        /// The text as the user (or the API client) sent it.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The host port is held by another container or program: dockerd's message, word for word.
    #[error("Bind for {ip}:{port} failed: port is already allocated")]
    AlreadyAllocated {
        /// The host address asked for (`0.0.0.0` for every address).
        ip: IpAddr,
        /// The host port asked for.
        port: u16,
        /// What the kernel said when the port was bound.
        #[source]
        source: std::io::Error,
    },
    /// Every port of the range was taken.
    #[error("no free {proto} port in {first}-{last} on {ip}")]
    Exhausted {
        /// The protocol that was asked for.
        proto: Protocol,
        /// The host address.
        ip: IpAddr,
        /// The first port of the range that was tried.
        first: u16,
        /// The last port of the range that was tried.
        last: u16,
    },
    /// The kernel's ephemeral port range could not be read.
    #[error("cannot read the ephemeral port range from {path}")]
    Range {
        /// The file read (`/proc/sys/net/ipv4/ip_local_port_range`).
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn invalid(spec: &str, reason: impl Into<String>) -> PortError {
    PortError::Invalid {
        spec: spec.to_string(),
        reason: reason.into(),
    }
}

/// A transport protocol a port can be published for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP, the default when no `/proto` is given.
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// A port of the container, as Docker writes it in its maps: `80/tcp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContainerPort {
    /// The port number inside the container.
    pub port: u16,
    /// Its protocol.
    pub proto: Protocol,
}

impl fmt::Display for ContainerPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto)
    }
}

impl FromStr for ContainerPort {
    type Err = PortError;

    /// Reads `80`, `80/tcp` or `53/udp` (an `ExposedPorts` or `PortBindings` key).
    fn from_str(spec: &str) -> Result<Self, PortError> {
        let (ports, proto) = split_proto(spec)?;
        let (first, last) = parse_range(spec, ports, "container port")?;
        if first != last {
            return Err(invalid(spec, "a port range is not a single container port"));
        }
        Ok(ContainerPort { port: first, proto })
    }
}

/// Which host port a mapping asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostPort {
    /// Any free port of the kernel's ephemeral range (`-p 80`, `-P`, `"HostPort":""`).
    Any,
    /// This port.
    Fixed(u16),
    /// Any free port of this range, ends included (`-p 8000-8010:80`).
    Range(u16, u16),
}

/// One published port: a container port, and where on the host it is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// The port inside the container.
    pub container: ContainerPort,
    /// The host address it is published on; `None` for every address (`0.0.0.0`).
    pub host_ip: Option<IpAddr>,
    /// The host port asked for.
    pub host_port: HostPort,
}

fn split_proto(spec: &str) -> Result<(&str, Protocol), PortError> {
    match spec.rsplit_once('/') {
        None => Ok((spec, Protocol::Tcp)),
        Some((ports, "tcp")) => Ok((ports, Protocol::Tcp)),
        Some((ports, "udp")) => Ok((ports, Protocol::Udp)),
        // Docker knows sctp too; Berth's firewall and proxy do not, so say so rather than
        // publish a port that would never answer.
        Some((_, "sctp")) => Err(invalid(spec, "sctp is not supported by Berth")),
        Some((_, other)) => Err(invalid(
            spec,
            format!("unknown protocol {other:?} (expected tcp or udp)"),
        )),
    }
}

fn parse_port(spec: &str, text: &str, what: &str) -> Result<u16, PortError> {
    match text.parse::<u16>() {
        Ok(0) => Err(invalid(spec, format!("{what} 0 is not a port"))),
        Ok(port) => Ok(port),
        Err(_) => Err(invalid(
            spec,
            format!("{what} {text:?} is not a number from 1 to 65535"),
        )),
    }
}

fn parse_range(spec: &str, text: &str, what: &str) -> Result<(u16, u16), PortError> {
    match text.split_once('-') {
        None => {
            let port = parse_port(spec, text, what)?;
            Ok((port, port))
        }
        Some((first, last)) => {
            let (first, last) = (
                parse_port(spec, first, what)?,
                parse_port(spec, last, what)?,
            );
            if last < first {
                return Err(invalid(
                    spec,
                    format!("{what} range {text} ends before it starts"),
                ));
            }
            Ok((first, last))
        }
    }
}

fn parse_host_ip(spec: &str, text: &str) -> Result<Option<IpAddr>, PortError> {
    // `[::1]:8080:80`: an IPv6 address is written in brackets, as in a URL.
    let text = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if text.is_empty() {
        return Ok(None);
    }
    let ip: IpAddr = text
        .parse()
        .map_err(|_| invalid(spec, format!("host address {text:?} is not an IP address")))?;
    if ip.is_unspecified() {
        return Ok(None);
    }
    if ip.is_ipv6() {
        return Err(invalid(
            spec,
            "IPv6 host addresses are not supported by Berth yet",
        ));
    }
    Ok(Some(ip))
}

/// Expands one container range and one host range into mappings, as the docker CLI does:
/// equal lengths pair up port by port; a host range with one container port means "any one
/// of these"; no host port means "any free port" for each container port.
fn expand(
    spec: &str,
    host_ip: Option<IpAddr>,
    host: Option<(u16, u16)>,
    container: (u16, u16),
    proto: Protocol,
) -> Result<Vec<PortMapping>, PortError> {
    let count = container.1 - container.0;
    let host_port_of = |i: u16| match host {
        None => Ok(HostPort::Any),
        Some((first, last)) if first == last && count == 0 => Ok(HostPort::Fixed(first)),
        Some((first, last)) if count == 0 => Ok(HostPort::Range(first, last)),
        Some((first, last)) if last - first == count => Ok(HostPort::Fixed(first + i)),
        Some(_) => Err(invalid(
            spec,
            "the host and container port ranges are not the same length",
        )),
    };
    (0..=count)
        .map(|i| {
            Ok(PortMapping {
                container: ContainerPort {
                    port: container.0 + i,
                    proto,
                },
                host_ip,
                host_port: host_port_of(i)?,
            })
        })
        .collect()
}

// ANCHOR: parse_publish
/// Reads one `-p` value: `[IP:][HOST[-END]:]CONTAINER[-END][/tcp|udp]`.
pub fn parse_publish(spec: &str) -> Result<Vec<PortMapping>, PortError> {
    let (ports, proto) = split_proto(spec)?;
    // The container port is after the last colon, the host port before it, and the host
    // address is everything before that (it may hold colons itself: `[::1]`).
    let (rest, container) = match ports.rsplit_once(':') {
        Some((rest, container)) => (Some(rest), container),
        None => (None, ports),
    };
    let container = parse_range(spec, container, "container port")?;
    let (host_ip, host) = match rest {
        None => (None, None),
        Some(rest) => {
            let (ip, host) = match rest.rsplit_once(':') {
                Some((ip, host)) => (parse_host_ip(spec, ip)?, host),
                None => (None, rest),
            };
            let host = if host.is_empty() {
                None
            } else {
                Some(parse_range(spec, host, "host port")?)
            };
            (ip, host)
        }
    };
    expand(spec, host_ip, host, container, proto)
}
// ANCHOR_END: parse_publish

/// One entry of `HostConfig.PortBindings` as Docker's API sends it (and inspect shows it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiPortBinding {
    /// The host address, `""` for every address.
    #[serde(rename = "HostIp", default)]
    pub host_ip: String,
    /// The host port, `""` for any free one, or `"8000-8010"`.
    #[serde(rename = "HostPort", default)]
    pub host_port: String,
}

/// `HostConfig.PortBindings`: container port (`80/tcp`) to its bindings; docker-py may send
/// `null` for a port's list.
pub type ApiPortBindings = BTreeMap<String, Option<Vec<ApiPortBinding>>>;

// ANCHOR: from_api
/// Reads what Docker's API sends: `PortBindings`, and with `publish_all` (`-P`) every port
/// of `exposed` (the image's `EXPOSE` and the request's `ExposedPorts`) that has no binding,
/// on any free host port. The result is in a stable order (by container port).
pub fn from_api(
    bindings: &ApiPortBindings,
    publish_all: bool,
    exposed: &[ContainerPort],
) -> Result<Vec<PortMapping>, PortError> {
    let mut mappings = Vec::new();
    for (key, list) in bindings {
        let container: ContainerPort = key.parse()?;
        let list = list.as_deref().unwrap_or_default();
        if list.is_empty() {
            // `"80/tcp": []` or `null`: docker run -p with nothing bound still publishes it.
            mappings.push(PortMapping {
                container,
                host_ip: None,
                host_port: HostPort::Any,
            });
        }
        for binding in list {
            let spec = format!("{key} {}:{}", binding.host_ip, binding.host_port);
            let host_ip = parse_host_ip(&spec, &binding.host_ip)?;
            let host_port = if binding.host_port.is_empty() {
                HostPort::Any
            } else {
                match parse_range(&spec, &binding.host_port, "host port")? {
                    (first, last) if first == last => HostPort::Fixed(first),
                    (first, last) => HostPort::Range(first, last),
                }
            };
            mappings.push(PortMapping {
                container,
                host_ip,
                host_port,
            });
        }
    }
    if publish_all {
        for port in exposed {
            if !mappings.iter().any(|m| m.container == *port) {
                mappings.push(PortMapping {
                    container: *port,
                    host_ip: None,
                    host_port: HostPort::Any,
                });
            }
        }
    }
    mappings.sort_by_key(|m| m.container);
    Ok(mappings)
}
// ANCHOR_END: from_api

/// Where the kernel hands out ephemeral ports; dockerd reads the same file, and falls back to
/// 49153-65535 when it cannot.
pub const EPHEMERAL_RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// Reads the ephemeral port range (`32768 60999` on most machines, tab-separated) from `path`.
pub fn ephemeral_range(path: &Path) -> Result<(u16, u16), PortError> {
    let range_error = |source| PortError::Range {
        path: path.display().to_string(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(range_error)?;
    let mut fields = text.split_whitespace().map(str::parse::<u16>);
    match (fields.next(), fields.next()) {
        (Some(Ok(first)), Some(Ok(last))) if first <= last => Ok((first, last)),
        _ => Err(range_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("expected two port numbers, found {text:?}"),
        ))),
    }
}

/// A host port held for a container: the socket bound to it. Hand it to the userland proxy
/// ([`crate::proxy`]), which serves it; while it is open nobody else can have the port.
#[derive(Debug)]
pub enum HeldSocket {
    /// A TCP socket, already listening.
    Tcp(TcpListener),
    /// A UDP socket.
    Udp(UdpSocket),
}

/// One published port once its host port is chosen and held.
#[derive(Debug)]
pub struct HeldPort {
    /// The mapping as chosen: `host_port` is always [`HostPort::Fixed`].
    pub mapping: PortMapping,
    /// The socket that holds it.
    pub socket: HeldSocket,
}

impl HeldPort {
    /// The host port chosen.
    pub fn host_port(&self) -> u16 {
        match self.mapping.host_port {
            HostPort::Fixed(port) => port,
            // `allocate` only ever makes fixed mappings.
            HostPort::Any | HostPort::Range(..) => 0,
        }
    }
}

fn bind(proto: Protocol, addr: SocketAddr) -> std::io::Result<HeldSocket> {
    Ok(match proto {
        Protocol::Tcp => HeldSocket::Tcp(TcpListener::bind(addr)?),
        Protocol::Udp => HeldSocket::Udp(UdpSocket::bind(addr)?),
    })
}

// ANCHOR: allocate
/// Chooses and holds a host port for each mapping: a fixed port is bound or refused with
/// dockerd's "port is already allocated"; a range or "any" takes the first port that binds,
/// starting at `start` (the caller keeps a cursor, as dockerd does, so a port just given up
/// is not handed straight out again) within `range` (see [`ephemeral_range`]).
/// On an error, every port already held by this call is let go (the sockets close).
pub fn allocate(
    mappings: &[PortMapping],
    range: (u16, u16),
    start: u16,
) -> Result<Vec<HeldPort>, PortError> {
    let mut held = Vec::with_capacity(mappings.len());
    for mapping in mappings {
        let ip = mapping.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let proto = mapping.container.proto;
        let (first, last) = match mapping.host_port {
            HostPort::Fixed(port) => {
                let socket = bind(proto, SocketAddr::new(ip, port))
                    .map_err(|source| PortError::AlreadyAllocated { ip, port, source })?;
                held.push(HeldPort {
                    mapping: *mapping,
                    socket,
                });
                continue;
            }
            HostPort::Range(first, last) => (first, last),
            HostPort::Any => range,
        };
        // The cursor is for the ephemeral range; a range of the user's own starts at its start.
        let start = if (first..=last).contains(&start) {
            start
        } else {
            first
        };
        // Walk the range once, from the cursor round to just before it.
        let candidates = (start..=last).chain(first..start);
        let found = candidates
            .into_iter()
            .find_map(|port| Some((port, bind(proto, SocketAddr::new(ip, port)).ok()?)));
        let Some((port, socket)) = found else {
            return Err(PortError::Exhausted {
                proto,
                ip,
                first,
                last,
            });
        };
        held.push(HeldPort {
            mapping: PortMapping {
                host_port: HostPort::Fixed(port),
                ..*mapping
            },
            socket,
        });
    }
    Ok(held)
}
// ANCHOR_END: allocate

/// Whether two mappings publish the same host port (the same protocol and port, on the same
/// address or on every address).
pub fn same_host_port(a: &PortMapping, b: &PortMapping) -> bool {
    a.container.proto == b.container.proto
        && a.host_port == b.host_port
        && (a.host_ip == b.host_ip || a.host_ip.is_none() || b.host_ip.is_none())
}

/// Refuses, with dockerd's "port is already allocated", a fixed host port of `wanted` that
/// one of `taken` (the ports other containers publish) has: their proxies may not hold it
/// yet (they bind it as their container starts), so binding alone would not see it.
pub fn refuse_taken(wanted: &[PortMapping], taken: &[PortMapping]) -> Result<(), PortError> {
    for mapping in wanted {
        if let (HostPort::Fixed(port), true) = (
            mapping.host_port,
            taken.iter().any(|t| same_host_port(mapping, t)),
        ) {
            return Err(PortError::AlreadyAllocated {
                ip: mapping.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                port,
                source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
            });
        }
    }
    Ok(())
}

/// `NetworkSettings.Ports` as `docker inspect` shows it: every exposed port, with the host
/// addresses and ports it is published on, or `null` when it is exposed only.
pub type PortsMap = BTreeMap<String, Option<Vec<ApiPortBinding>>>;

/// Builds the `Ports` map from the ports exposed and the mappings chosen (by [`allocate`]).
pub fn ports_map(exposed: &[ContainerPort], published: &[PortMapping]) -> PortsMap {
    let mut map = PortsMap::new();
    for port in exposed {
        map.insert(port.to_string(), None);
    }
    for mapping in published {
        let host_port = match mapping.host_port {
            HostPort::Fixed(port) => port.to_string(),
            HostPort::Any => String::new(),
            HostPort::Range(first, last) => format!("{first}-{last}"),
        };
        let binding = ApiPortBinding {
            host_ip: mapping
                .host_ip
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
                .to_string(),
            host_port,
        };
        map.entry(mapping.container.to_string())
            .or_insert(None)
            .get_or_insert_with(Vec::new)
            .push(binding);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> PortMapping {
        let mut all = parse_publish(spec).expect(spec);
        assert_eq!(all.len(), 1, "{spec}");
        all.remove(0)
    }

    fn tcp(port: u16) -> ContainerPort {
        ContainerPort {
            port,
            proto: Protocol::Tcp,
        }
    }

    #[test]
    fn publish_forms_as_docker_reads_them() {
        assert_eq!(
            one("8080:80"),
            PortMapping {
                container: tcp(80),
                host_ip: None,
                host_port: HostPort::Fixed(8080)
            }
        );
        assert_eq!(one("80").host_port, HostPort::Any);
        assert_eq!(one("53/udp").container.proto, Protocol::Udp);
        let m = one("127.0.0.1:8080:80/tcp");
        assert_eq!(m.host_ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(one("127.0.0.1::80").host_port, HostPort::Any);
        assert_eq!(one("0.0.0.0:8080:80").host_ip, None);
        assert_eq!(one("8000-8010:80").host_port, HostPort::Range(8000, 8010));
        let pairs = parse_publish("8000-8002:80-82/udp").unwrap();
        let got: Vec<_> = pairs
            .iter()
            .map(|m| (m.host_port, m.container.port))
            .collect();
        assert_eq!(
            got,
            [
                (HostPort::Fixed(8000), 80),
                (HostPort::Fixed(8001), 81),
                (HostPort::Fixed(8002), 82)
            ]
        );
    }

    #[test]
    fn bad_publish_values_say_what_and_where() {
        let cases = [
            ("80/sctp", "sctp is not supported"),
            ("80/icmp", "unknown protocol \"icmp\""),
            ("http:80", "host port \"http\" is not a number"),
            ("8080:0", "container port 0 is not a port"),
            ("8080:70000", "container port \"70000\" is not a number"),
            ("90-80", "ends before it starts"),
            ("8000-8001:80-82", "not the same length"),
            (
                "1.2.3:8080:80",
                "host address \"1.2.3\" is not an IP address",
            ),
            ("", "container port \"\" is not a number"),
        ];
        for (spec, want) in cases {
            let err = parse_publish(spec).expect_err(spec).to_string();
            assert!(err.contains(want), "{spec}: {err}");
            assert!(err.contains(&format!("{spec:?}")), "{spec}: {err}");
        }
    }

    #[test]
    fn api_bindings_and_publish_all() {
        let json = r#"{"80/tcp":[{"HostIp":"","HostPort":"8080"},{"HostIp":"127.0.0.1","HostPort":""}],
                      "53/udp":null}"#;
        let bindings: ApiPortBindings = serde_json::from_str(json).unwrap();
        let exposed = [tcp(80), tcp(443)];
        let got = from_api(&bindings, true, &exposed).unwrap();
        let want = [
            (tcp(80), None, HostPort::Fixed(8080)),
            (
                tcp(80),
                Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                HostPort::Any,
            ),
            (tcp(443), None, HostPort::Any),
            (
                ContainerPort {
                    port: 53,
                    proto: Protocol::Udp,
                },
                None,
                HostPort::Any,
            ),
        ];
        let got: Vec<_> = got
            .iter()
            .map(|m| (m.container, m.host_ip, m.host_port))
            .collect();
        let mut want = want.to_vec();
        want.sort_by_key(|w| w.0);
        assert_eq!(got, want);
        // Without -P, an exposed port is not published.
        assert_eq!(from_api(&bindings, false, &exposed).unwrap().len(), 3);

        let bad: ApiPortBindings =
            serde_json::from_str(r#"{"80/tcp":[{"HostIp":"","HostPort":"eighty"}]}"#).unwrap();
        let err = from_api(&bad, false, &[]).unwrap_err().to_string();
        assert!(err.contains("\"80/tcp :eighty\""), "{err}");
        let bad: ApiPortBindings = serde_json::from_str(r#"{"80/tcpx":[]}"#).unwrap();
        assert!(from_api(&bad, false, &[]).is_err());
    }

    #[test]
    fn a_port_another_container_publishes_is_refused_as_dockerd_does() {
        let fixed = |ip: Option<IpAddr>, port| PortMapping {
            container: tcp(80),
            host_ip: ip,
            host_port: HostPort::Fixed(port),
        };
        let taken = [fixed(None, 8080)];
        let local = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let err = refuse_taken(&[fixed(local, 8080)], &taken).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Bind for 127.0.0.1:8080 failed: port is already allocated"
        );
        assert!(refuse_taken(&[fixed(local, 8081)], &taken).is_ok());
        let mut udp = fixed(None, 8080);
        udp.container.proto = Protocol::Udp;
        assert!(refuse_taken(&[udp], &taken).is_ok());
    }

    #[test]
    fn ports_map_as_inspect_shows_it() {
        let published = [PortMapping {
            container: tcp(80),
            host_ip: None,
            host_port: HostPort::Fixed(8080),
        }];
        let map = ports_map(&[tcp(80), tcp(443)], &published);
        assert_eq!(
            serde_json::to_string(&map).unwrap(),
            r#"{"443/tcp":null,"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]}"#
        );
    }

    #[test]
    fn ephemeral_range_reads_the_kernel_file_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("range");
        std::fs::write(&path, "32768\t60999\n").unwrap();
        assert_eq!(ephemeral_range(&path).unwrap(), (32768, 60999));
        std::fs::write(&path, "60999 32768\n").unwrap();
        let err = ephemeral_range(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
}
