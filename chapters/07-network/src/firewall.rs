//! The firewall: masquerade out, DNAT in, isolation between networks, in a table of our own.
//!
//! Docker's bridge driver writes iptables rules: `MASQUERADE` for a network's subnet going
//! out through any other device (so a container's packets leave with the host's address), a
//! `DNAT` per published port (so what arrives at the host's port goes on to the container),
//! `DOCKER-ISOLATION` rules that drop traffic from one bridge to another, and `ACCEPT`s in
//! `FORWARD` for its bridges. It spreads them over the host's shared `filter` and `nat`
//! tables, and undoing them means finding each rule again.
//!
//! Berth uses nftables, through the `nft` tool, in one table of its own (`ip berth`): every
//! rule Berth makes is in it, and nothing else is, so removing Berth's rules can never touch a
//! rule another program (or the administrator) made. nftables also applies a whole batch of
//! changes at once (`nft -f`), so a reader never sees half of an operation. Berth keeps the
//! rules it wants as data (the networks and the containers' published ports, in a JSON file
//! of its own, written after each change) and *renders the whole table* from it on every
//! change: delete the table and define it again, in one batch. That is idempotent (a
//! restarted daemon that adds a container's rules again doubles nothing), needs no rule
//! handles, and makes the orphan sweep a matter of forgetting what no longer exists and
//! rendering again. Why `nft` and not iptables: iptables-nft writes into the shared `filter`
//! and `nat` tables and replaces rules one command at a time; why the tool and not netlink:
//! the rules stay readable, here and in `nft list table ip berth`, which is the lesson. The
//! batch is handed to `libnftables`, the library inside `nft`, in the daemon's own process
//! when it is installed: running `nft` for each container cost 13-16 ms here, more than the
//! whole network set-up may (see `firewall/nft.rs`).
//!
//! Connections to the host's *loopback* are not rewritten here (the kernel routes a DNAT'd
//! 127.0.0.1 packet nowhere unless `route_localnet` is set): the userland proxy
//! ([`crate::proxy`]) answers them, as docker-proxy does.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::ports::{self, HostPort, PortMapping};

mod nft;

/// Why the firewall could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// A name that cannot be put in a rule (an interface name, an id).
    #[error("invalid {what} {value:?} for a firewall rule: {reason}")]
    InvalidName {
        /// What it names (`bridge`, `container id`).
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A published port that has no host port chosen yet.
    #[error("container {id}: port {port} has no host port chosen (allocate it first)")]
    Unallocated {
        /// The container.
        id: String,
        /// The container port (`80/tcp`).
        port: String,
    },
    /// nftables refused the batch: nothing of it was applied.
    #[error("cannot apply the rules of table ip {table}")]
    Nft {
        /// The table.
        table: String,
        /// What nftables said.
        #[source]
        source: nft::NftError,
    },
    /// The file of wanted rules could not be read or written.
    #[error("firewall state {path}")]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file of wanted rules is not what Berth writes.
    #[error("firewall state {path} is corrupt")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// The rules one network wants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRules {
    /// Its bridge device (`berth0`, `br-1a2b3c4d5e6f`).
    pub bridge: String,
    /// Its subnet's address (`172.17.0.0`).
    pub subnet: Ipv4Addr,
    /// Its subnet's prefix length (`16`).
    pub prefix_len: u8,
    /// `--internal`: no masquerade, and nothing forwarded in or out of the bridge.
    pub internal: bool,
}

/// The rules one container wants: its published ports, DNAT'd to its address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRules {
    /// The bridge of the network its ports are published from.
    pub bridge: String,
    /// Its address on that network.
    pub address: Ipv4Addr,
    /// Its published ports, each with its host port chosen ([`crate::ports::allocate`]).
    pub ports: Vec<PortMapping>,
}

/// Everything Berth wants in its table, keyed by network and container id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wanted {
    /// Networks by id.
    pub networks: BTreeMap<String, NetworkRules>,
    /// Containers by id.
    pub containers: BTreeMap<String, ContainerRules>,
}

/// Berth's table and the file that remembers what should be in it.
#[derive(Debug)]
pub struct Firewall {
    table: String,
    state_path: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    wanted: Wanted,
    nft: nft::Nft,
}

/// The name of Berth's table (family `ip`).
pub const TABLE: &str = "berth";

fn check_name(what: &'static str, value: &str, max: usize) -> Result<(), FirewallError> {
    let refuse = |reason| {
        Err(FirewallError::InvalidName {
            what,
            value: value.to_string(),
            reason,
        })
    };
    if value.is_empty() || value.len() > max {
        return refuse("wrong length");
    }
    // Anything else could end a quoted string in the nft batch and add a rule of its own.
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return refuse("only letters, digits, '_', '.' and '-' are allowed");
    }
    Ok(())
}

fn check_wanted(wanted: &Wanted) -> Result<(), FirewallError> {
    for (id, network) in &wanted.networks {
        check_name("network id", id, 128)?;
        // IFNAMSIZ is 16 with the terminating NUL.
        check_name("bridge", &network.bridge, 15)?;
    }
    for (id, container) in &wanted.containers {
        check_name("container id", id, 128)?;
        check_name("bridge", &container.bridge, 15)?;
        for mapping in &container.ports {
            if !matches!(mapping.host_port, HostPort::Fixed(_)) {
                return Err(FirewallError::Unallocated {
                    id: id.clone(),
                    port: mapping.container.to_string(),
                });
            }
        }
    }
    Ok(())
}

// ANCHOR: render
/// The batch that makes `table ip NAME` exactly what `wanted` says (see the module docs).
/// An empty `wanted` removes the table.
pub fn render(table: &str, wanted: &Wanted) -> String {
    // Declaring the table first makes the delete succeed when it does not exist yet; both,
    // and the new definition, are one transaction.
    let mut out = format!("table ip {table} {{}}\ndelete table ip {table}\n");
    if wanted.networks.is_empty() && wanted.containers.is_empty() {
        return out;
    }
    let _ = writeln!(out, "table ip {table} {{");

    // Packets for one of the host's own addresses, from outside (prerouting) or from the host
    // itself (output), go through the published ports. Loopback is left to the proxy.
    out.push_str(
        "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump published\n  }\n",
    );
    out.push_str(
        "  chain output {\n    type nat hook output priority -100; policy accept;\n    ip daddr != 127.0.0.0/8 fib daddr type local jump published\n  }\n",
    );

    out.push_str("  chain published {\n");
    for (id, container) in &wanted.containers {
        for mapping in &container.ports {
            let HostPort::Fixed(host_port) = mapping.host_port else {
                continue; // refused by check_wanted before rendering
            };
            let daddr = match mapping.host_ip {
                Some(IpAddr::V4(ip)) => format!("ip daddr {ip} "),
                _ => String::new(),
            };
            // Not from the container's own bridge: a container reaching a published port of
            // the host goes to the proxy, as with Docker's userland proxy on (no hairpin NAT).
            let _ = writeln!(
                out,
                "    iifname != \"{bridge}\" {daddr}{proto} dport {host_port} dnat to {addr}:{port} comment \"{id}\"",
                bridge = container.bridge,
                proto = mapping.container.proto,
                addr = container.address,
                port = mapping.container.port,
            );
        }
    }
    out.push_str("  }\n");

    out.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for (id, network) in &wanted.networks {
        if !network.internal {
            let _ = writeln!(
                out,
                "    ip saddr {}/{} oifname != \"{}\" masquerade comment \"{id}\"",
                network.subnet, network.prefix_len, network.bridge
            );
        }
    }
    out.push_str("  }\n");

    // Our policy is accept: a drop policy here would drop what other tables let through for
    // other programs. The accepts document what Docker's FORWARD rules allow; the drops are
    // what matters: no network reaches another, and an internal one reaches nothing. Every
    // drop comes before every accept (Docker's isolation chains come first in FORWARD too):
    // one network's "DNAT'd traffic to my bridge is fine" must not let in what another
    // network's isolation refuses, such as an internal network's packet sent to a published
    // port of the host.
    out.push_str(
        "  chain forward {\n    type filter hook forward priority filter; policy accept;\n",
    );
    for (id, network) in &wanted.networks {
        let bridge = &network.bridge;
        for other in wanted.networks.values() {
            if other.bridge != *bridge {
                let _ = writeln!(
                    out,
                    "    iifname \"{bridge}\" oifname \"{}\" drop comment \"{id}\"",
                    other.bridge
                );
            }
        }
        if network.internal {
            let _ = writeln!(
                out,
                "    iifname \"{bridge}\" oifname != \"{bridge}\" drop comment \"{id}\"\n    oifname \"{bridge}\" iifname != \"{bridge}\" drop comment \"{id}\""
            );
        }
    }
    for (id, network) in wanted.networks.iter().filter(|(_, n)| !n.internal) {
        let bridge = &network.bridge;
        let _ = writeln!(
            out,
            "    oifname \"{bridge}\" ct state established,related accept comment \"{id}\"\n    oifname \"{bridge}\" ct status dnat accept comment \"{id}\"\n    iifname \"{bridge}\" accept comment \"{id}\""
        );
    }
    out.push_str("  }\n}\n");
    out
}
// ANCHOR_END: render

impl Firewall {
    /// Opens the firewall whose wanted rules are kept in `state_path` (created on the first
    /// change), for table `ip TABLE` (tests use their own name), in the network namespace of
    /// the calling thread (whichever thread changes it later). The kernel is not touched:
    /// after a restart the rules made before it still work, until the first change or
    /// [`Firewall::sweep`] renders them again.
    pub fn open(state_path: &Path, table: &str) -> Result<Firewall, FirewallError> {
        check_name("table", table, 64)?;
        let wanted = match std::fs::read(state_path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| FirewallError::Corrupt {
                    path: state_path.to_path_buf(),
                    source,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Wanted::default(),
            Err(source) => {
                return Err(FirewallError::State {
                    path: state_path.to_path_buf(),
                    source,
                });
            }
        };
        Ok(Firewall {
            table: table.to_string(),
            state_path: state_path.to_path_buf(),
            inner: Mutex::new(Inner {
                wanted,
                nft: nft::Nft::open().map_err(|source| FirewallError::Nft {
                    table: table.to_string(),
                    source,
                })?,
            }),
        })
    }

    /// What the firewall wants now.
    pub fn wanted(&self) -> Wanted {
        self.lock().wanted.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock left `wanted` as it was before the change (changes
        // are made on a copy), so its data is still good.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies one change: on a copy of the wanted rules, rendered and applied in one `nft`
    /// batch, then remembered. If `nft` refuses, nothing changed, in the kernel or here.
    /// A change that changes nothing sends no batch.
    /// With `always`, the table is rendered even when nothing changed (to repair it).
    fn change(&self, always: bool, edit: impl FnOnce(&mut Wanted)) -> Result<(), FirewallError> {
        let mut inner = self.lock();
        let mut next = inner.wanted.clone();
        edit(&mut next);
        if next == inner.wanted && !always {
            return Ok(()); // nothing changes: no batch (a start on a known network)
        }
        check_wanted(&next)?;
        let batch = render(&self.table, &next);
        inner
            .nft
            .apply(&batch)
            .map_err(|source| FirewallError::Nft {
                table: self.table.clone(),
                source,
            })?;
        let json = serde_json::to_vec_pretty(&next).map_err(|source| FirewallError::Corrupt {
            path: self.state_path.clone(),
            source,
        })?;
        // If this write fails the kernel has the new rules and the file the old ones: the next
        // change renders from memory, which has the old ones too, so they agree again. Atomic
        // but not synced (a sync costs 13 ms here): a killed daemon's write is in the page
        // cache, and a machine that crashed lost the kernel's rules along with it; the sweep
        // at the next start renders from what the container records say exists.
        berth_images::store::atomic::write_fast(&self.state_path, &json).map_err(|source| {
            FirewallError::State {
                path: self.state_path.clone(),
                source,
            }
        })?;
        inner.wanted = next;
        Ok(())
    }

    /// Adds (or replaces) a network's masquerade, isolation and forward rules.
    pub fn add_network(&self, id: &str, rules: NetworkRules) -> Result<(), FirewallError> {
        self.change(false, |w| {
            w.networks.insert(id.to_string(), rules);
        })
    }

    /// Removes a network's rules; nothing to remove is not an error.
    pub fn remove_network(&self, id: &str) -> Result<(), FirewallError> {
        self.change(false, |w| {
            w.networks.remove(id);
        })
    }

    /// Adds (or replaces) a container's DNAT rules, one per published port. The rules of
    /// another container that publishes one of the same host ports go: the caller could
    /// bind the port ([`crate::ports::allocate`]), so that container is not running, and
    /// its rules would otherwise catch the traffic first. They come back at its next start.
    pub fn add_container(&self, id: &str, rules: ContainerRules) -> Result<(), FirewallError> {
        self.change(false, |w| insert_container(w, id, rules))
    }

    /// Removes a container's rules; nothing to remove is not an error.
    pub fn remove_container(&self, id: &str) -> Result<(), FirewallError> {
        self.change(false, |w| {
            w.containers.remove(id);
        })
    }

    // ANCHOR: sweep
    /// On daemon start: forgets the networks and containers that no longer exist, and
    /// renders the table again, which also repairs it if someone flushed it.
    pub fn sweep(
        &self,
        network_exists: &dyn Fn(&str) -> bool,
        container_exists: &dyn Fn(&str) -> bool,
    ) -> Result<(), FirewallError> {
        self.change(true, |w| {
            w.networks.retain(|id, _| network_exists(id));
            w.containers.retain(|id, _| container_exists(id));
        })
    }
    // ANCHOR_END: sweep
}

fn insert_container(wanted: &mut Wanted, id: &str, rules: ContainerRules) {
    wanted.containers.retain(|other, theirs| {
        other == id
            || !theirs
                .ports
                .iter()
                .any(|p| rules.ports.iter().any(|q| ports::same_host_port(p, q)))
    });
    wanted.containers.insert(id.to_string(), rules);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{ContainerPort, Protocol};

    fn wanted() -> Wanted {
        let mut w = Wanted::default();
        w.networks.insert(
            "n1".into(),
            NetworkRules {
                bridge: "berth0".into(),
                subnet: Ipv4Addr::new(172, 17, 0, 0),
                prefix_len: 16,
                internal: false,
            },
        );
        w.networks.insert(
            "n2".into(),
            NetworkRules {
                bridge: "br-n2".into(),
                subnet: Ipv4Addr::new(172, 18, 0, 0),
                prefix_len: 16,
                internal: true,
            },
        );
        w.containers.insert(
            "c1".into(),
            ContainerRules {
                bridge: "berth0".into(),
                address: Ipv4Addr::new(172, 17, 0, 2),
                ports: vec![
                    PortMapping {
                        container: ContainerPort {
                            port: 80,
                            proto: Protocol::Tcp,
                        },
                        host_ip: None,
                        host_port: HostPort::Fixed(8080),
                    },
                    PortMapping {
                        container: ContainerPort {
                            port: 53,
                            proto: Protocol::Udp,
                        },
                        host_ip: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
                        host_port: HostPort::Fixed(5353),
                    },
                ],
            },
        );
        w
    }

    #[test]
    fn the_table_as_rendered() {
        insta::assert_snapshot!(render("berth", &wanted()));
    }

    #[test]
    fn a_container_taking_a_stopped_ones_host_port_takes_its_rules_away() {
        let mut w = wanted();
        let mut newer = w.containers["c1"].clone();
        newer.address = Ipv4Addr::new(172, 17, 0, 3);
        newer.ports.truncate(1); // 8080/tcp, as c1's first
        insert_container(&mut w, "c2", newer.clone());
        assert_eq!(w.containers.keys().collect::<Vec<_>>(), ["c2"]);
        // Another port, or another protocol on the same number: both stay.
        let mut w = wanted();
        newer.ports[0].host_port = HostPort::Fixed(8081);
        insert_container(&mut w, "c2", newer.clone());
        newer.ports[0].host_port = HostPort::Fixed(5353); // c1 has 5353/udp, this is tcp
        insert_container(&mut w, "c3", newer);
        assert_eq!(w.containers.len(), 3);
    }

    #[test]
    fn nothing_wanted_removes_the_table() {
        assert_eq!(
            render("berth", &Wanted::default()),
            "table ip berth {}\ndelete table ip berth\n"
        );
    }

    #[test]
    fn names_that_could_inject_rules_are_refused() {
        let mut w = wanted();
        w.networks.get_mut("n1").unwrap().bridge = "x\" accept; \"".into();
        let err = check_wanted(&w).unwrap_err().to_string();
        assert!(err.starts_with("invalid bridge \"x\\\" accept;"), "{err}");
        let mut w = wanted();
        w.containers.get_mut("c1").unwrap().ports[0].host_port = HostPort::Any;
        let err = check_wanted(&w).unwrap_err().to_string();
        assert_eq!(
            err,
            "container c1: port 80/tcp has no host port chosen (allocate it first)"
        );
    }
}
