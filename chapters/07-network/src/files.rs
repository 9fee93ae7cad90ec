//! The container's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`.
//!
//! An image's `/etc/hosts` knows nothing of the address its container will get, and its
//! `/etc/resolv.conf` nothing of the host's DNS servers. So Docker writes the three files for
//! each container in the container's own directory (`/var/lib/docker/containers/<id>/hosts`)
//! and bind-mounts them, read-write, over the image's: `docker inspect` shows their paths as
//! `HostsPath`, `HostnamePath` and `ResolvConfPath`, and `mount` inside a container lists
//! them. Being files of the container and not of the image, they are neither committed nor
//! exported.
//!
//! `resolv.conf` is the host's, minus the resolvers on loopback (`127.0.0.53`, systemd's stub):
//! they answer on the *host's* loopback, which a container on a bridge cannot reach. If none
//! is left, Docker falls back to Google's public resolvers. On a user-defined network it is
//! instead the embedded DNS server, `nameserver 127.0.0.11`, which forwards what it does not
//! know to the host's resolvers.
//!
//! The binds are chapter 8's [`InRootMount`]s: the destination is resolved inside the
//! container's root, so an image whose `/etc/resolv.conf` is a symbolic link to `/etc/passwd`
//! of the host gets nothing of the host's.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use berth_namespaces::ContainerConfig;
use berth_volumes::{InRootMount, MountSource};
use nix::mount::MsFlags;

/// Why the files could not be written or mounted.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mounting {path} into the container: {source}")]
    Mount {
        path: PathBuf,
        #[source]
        source: berth_volumes::PrepareError,
    },
}

/// The resolvers Docker falls back to when the host has none a container can reach.
const FALLBACK_RESOLVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// The embedded DNS server's address on user-defined networks.
pub const EMBEDDED_DNS: &str = "127.0.0.11";

// ANCHOR: hosts
/// `/etc/hosts`: the localhost lines every Docker container has, then the `--add-host`
/// entries (`extra`), then the container's own addresses with its hostname and aliases (none
/// for `--network none`), in the order dockerd writes them.
pub fn hosts(extra: &[(IpAddr, String)], own: &[(Ipv4Addr, Vec<String>)]) -> String {
    let mut text = String::from(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\n\
         ff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    text.push_str(&extra_hosts_lines(extra));
    for (address, names) in own {
        text.push_str(&format!("{address}\t{}\n", names.join(" ")));
    }
    text
}
// ANCHOR_END: hosts

/// The `--add-host` entries as `/etc/hosts` lines (appended to the host's own file for
/// `--network host`, as dockerd does).
pub fn extra_hosts_lines(extra: &[(IpAddr, String)]) -> String {
    extra
        .iter()
        .map(|(address, name)| format!("{address}\t{name}\n"))
        .collect()
}

/// What an `--add-host` name stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtraHostAddress {
    /// A literal address.
    Ip(IpAddr),
    /// `host-gateway`: the default bridge's own address, the host as its containers reach
    /// it (what `host.docker.internal:host-gateway` in a compose file asks for).
    HostGateway,
}

/// Why an `--add-host` entry was refused: dockerd's words.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtraHostError {
    #[error("bad format for add-host: {0:?}")]
    Format(String),
    #[error("invalid IP address in add-host: {0:?}")]
    Address(String),
}

// ANCHOR: parse_extra_host
/// One `HostConfig.ExtraHosts` entry, `NAME:ADDRESS` (or `NAME=ADDRESS`, as Docker 25+
/// accepts), the address plain or in brackets (`[::1]`), or `host-gateway`. The name is kept
/// verbatim: dockerd writes `foo bar:1.2.3.4` as one line naming both.
pub fn parse_extra_host(entry: &str) -> Result<(String, ExtraHostAddress), ExtraHostError> {
    // The name never holds `:` or `=`; an IPv6 address does, so split on the first one.
    let (name, value) = entry
        .split_once('=')
        .or_else(|| entry.split_once(':'))
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| ExtraHostError::Format(entry.to_owned()))?;
    if value == "host-gateway" {
        return Ok((name.to_owned(), ExtraHostAddress::HostGateway));
    }
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    let address = bare
        .parse()
        .map_err(|_| ExtraHostError::Address(value.to_owned()))?;
    Ok((name.to_owned(), ExtraHostAddress::Ip(address)))
}
// ANCHOR_END: parse_extra_host

// ANCHOR: resolv
/// `/etc/resolv.conf` from the host's (`host`): its resolvers minus loopback ones (or Docker's
/// fallback when none is left), its `search` and `options` lines; or, with `embedded_dns`,
/// the embedded DNS server only.
pub fn resolv_conf(host: &str, embedded_dns: bool) -> String {
    let mut nameservers = Vec::new();
    let mut rest = Vec::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                let Some(server) = words.next() else { continue };
                let loopback = server
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|a| a.is_loopback());
                if !loopback {
                    nameservers.push(server.to_owned());
                }
            }
            Some("search" | "domain" | "options") => rest.push(line.trim().to_owned()),
            _ => {}
        }
    }
    if embedded_dns {
        // The embedded server forwards to the host's resolvers itself; ndots:0 as Docker.
        nameservers = vec![EMBEDDED_DNS.to_owned()];
        rest.retain(|l| !l.starts_with("options"));
        rest.push("options ndots:0".to_owned());
    } else if nameservers.is_empty() {
        nameservers = FALLBACK_RESOLVERS.map(str::to_owned).to_vec();
    }
    let mut text: String = nameservers
        .iter()
        .map(|n| format!("nameserver {n}\n"))
        .collect();
    for line in rest {
        text.push_str(&line);
        text.push('\n');
    }
    text
}
// ANCHOR_END: resolv

/// The three files of one container, in its directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcFiles {
    /// `<dir>/hosts`.
    pub hosts: PathBuf,
    /// `<dir>/hostname`.
    pub hostname: PathBuf,
    /// `<dir>/resolv.conf`.
    pub resolv_conf: PathBuf,
}

impl EtcFiles {
    /// The files of the container whose directory is `dir`.
    pub fn in_dir(dir: &Path) -> EtcFiles {
        EtcFiles {
            hosts: dir.join("hosts"),
            hostname: dir.join("hostname"),
            resolv_conf: dir.join("resolv.conf"),
        }
    }

    /// Writes the three files (atomically: a running container reading them sees the old
    /// or the new one).
    pub fn write(&self, hosts: &str, hostname: &str, resolv_conf: &str) -> Result<(), FilesError> {
        for (path, text) in [
            (&self.hosts, hosts.to_owned()),
            (&self.hostname, format!("{hostname}\n")),
            (&self.resolv_conf, resolv_conf.to_owned()),
        ] {
            berth_images::store::atomic::write_fast(path, text.as_bytes()).map_err(|source| {
                FilesError::Write {
                    path: path.clone(),
                    source,
                }
            })?;
        }
        Ok(())
    }

    // ANCHOR: binds
    /// Adds the child steps that bind the files over the image's, read-write as Docker does.
    pub fn add_binds(&self, config: &mut ContainerConfig) -> Result<(), FilesError> {
        for (source, destination) in [
            (&self.hosts, "/etc/hosts"),
            (&self.hostname, "/etc/hostname"),
            (&self.resolv_conf, "/etc/resolv.conf"),
        ] {
            let bind = MountSource::Bind {
                path: source.clone(),
                dir: false,
            };
            let step = InRootMount::new(
                &config.rootfs,
                &bind,
                Path::new(destination),
                false,
                MsFlags::empty(),
            )
            .map_err(|e| FilesError::Mount {
                path: source.clone(),
                source: e,
            })?;
            config.steps.add_child(step);
        }
        Ok(())
    }
    // ANCHOR_END: binds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolvers_are_dropped() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\n\
                    search example.org\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, false),
            "nameserver 10.0.0.2\nsearch example.org\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf("nameserver 127.0.0.53\n", false),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n",
            "Docker's fallback"
        );
        assert_eq!(
            resolv_conf(host, true),
            "nameserver 127.0.0.11\nsearch example.org\noptions ndots:0\n"
        );
    }

    #[test]
    fn hosts_name_the_container() {
        let text = hosts(
            &[],
            &[(
                Ipv4Addr::new(172, 17, 0, 2),
                vec!["abc".into(), "web".into()],
            )],
        );
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(text.ends_with("\n172.17.0.2\tabc web\n"), "{text}");
        assert_eq!(hosts(&[], &[]).lines().count(), 6);
    }

    #[test]
    fn added_hosts_come_after_localhost_and_before_the_container() {
        // The order dockerd 20.10 writes (checked with `docker run --add-host`).
        let extra = [
            ("1.2.3.4".parse().expect("ip"), "foo".to_owned()),
            ("::1".parse().expect("ip"), "bar".to_owned()),
        ];
        let own = [(Ipv4Addr::new(10, 0, 0, 2), vec!["abc".to_owned()])];
        let text = hosts(&extra, &own);
        assert!(
            text.ends_with("ff02::2\tip6-allrouters\n1.2.3.4\tfoo\n::1\tbar\n10.0.0.2\tabc\n"),
            "{text}"
        );
    }

    #[test]
    fn extra_hosts_parse_as_dockerd_does() {
        let ip = |s: &str| ExtraHostAddress::Ip(s.parse().expect("ip"));
        let ok = |entry: &str| parse_extra_host(entry).expect(entry);
        assert_eq!(ok("foo:1.2.3.4"), ("foo".into(), ip("1.2.3.4")));
        assert_eq!(ok("bar:::1"), ("bar".into(), ip("::1")));
        assert_eq!(ok("baz:[::2]"), ("baz".into(), ip("::2")));
        assert_eq!(ok("qux=10.0.0.1"), ("qux".into(), ip("10.0.0.1")));
        assert_eq!(ok("foo bar:1.2.3.4"), ("foo bar".into(), ip("1.2.3.4")));
        assert_eq!(
            ok("host.docker.internal:host-gateway"),
            ("host.docker.internal".into(), ExtraHostAddress::HostGateway)
        );
        let err = |entry: &str| parse_extra_host(entry).unwrap_err().to_string();
        assert_eq!(err("foo"), r#"bad format for add-host: "foo""#);
        assert_eq!(err(":1.2.3.4"), r#"bad format for add-host: ":1.2.3.4""#);
        assert_eq!(
            err("foo:notanip"),
            r#"invalid IP address in add-host: "notanip""#
        );
    }

    #[test]
    fn files_are_written_in_the_container_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = EtcFiles::in_dir(dir.path());
        files.write("h\n", "box", "r\n").expect("write");
        assert_eq!(std::fs::read_to_string(&files.hostname).unwrap(), "box\n");
        let mut config = ContainerConfig::new(dir.path(), vec!["true".into()]);
        files.add_binds(&mut config).expect("binds");
        let names: Vec<_> = config
            .steps
            .child()
            .iter()
            .map(|s| s.name().to_owned())
            .collect();
        assert_eq!(names.len(), 3);
        assert!(names[2].ends_with("on /etc/resolv.conf"), "{names:?}");
    }
}
