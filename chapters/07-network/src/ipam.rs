//! IPAM: addresses handed out from a subnet, and kept across daemon restarts.
//!
//! Every Docker network has an *address pool*: its subnet (`172.17.0.0/16` for the default
//! bridge), minus the network's own address, its broadcast address and the gateway (the
//! bridge's address, `.1`). libnetwork's default IPAM driver keeps a bitmap of the pool in its
//! store, so that a daemon that restarts never hands out an address a running container
//! already has. Ours is the same idea in a readable form: one JSON file per network that maps
//! each address in use to its owner (a container id), rewritten atomically (temp + rename) on
//! every change, under the network store's lock ([`crate::network::Networks`]).
//!
//! An owner asking again gets the address it has (a container is prepared before every start
//! and keeps its address across restarts); a requested address (`docker run --ip`) must be in
//! the subnet, usable and free; an exhausted pool is a clear error naming the network.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Why an address could not be handed out, or a subnet not understood.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    #[error("invalid subnet {0:?}: expected an IPv4 network such as 172.18.0.0/16")]
    BadSubnet(String),
    #[error("invalid address {0:?}: expected an IPv4 address such as 172.18.0.5")]
    BadAddress(String),
    #[error("no available IPv4 addresses on this network's address pools: {network}")]
    Exhausted { network: String },
    #[error("address {address} is not in subnet {subnet} of network {network}")]
    OutOfSubnet {
        address: Ipv4Addr,
        subnet: Subnet,
        network: String,
    },
    #[error(
        "address {address} of network {network} cannot be given to a container (it is the network's, its broadcast or its gateway)"
    )]
    Reserved { address: Ipv4Addr, network: String },
    #[error("Address already in use")]
    Taken { address: Ipv4Addr },
    #[error("address book {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("address book {path} is damaged: {source}")]
    Damaged {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

// ANCHOR: subnet
/// An IPv4 subnet: a base address and a prefix length (`172.17.0.0/16`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subnet {
    base: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// The subnet of `address` with `prefix` bits (the host bits are cleared).
    pub fn new(address: Ipv4Addr, prefix: u8) -> Option<Subnet> {
        (prefix <= 32).then(|| Subnet {
            base: Ipv4Addr::from(u32::from(address) & mask(prefix)),
            prefix,
        })
    }

    /// The network's own address (`172.17.0.0`).
    pub fn base(&self) -> Ipv4Addr {
        self.base
    }

    /// The prefix length (`16`).
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `address` is in the subnet.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & mask(self.prefix) == u32::from(self.base)
    }

    /// Whether the two subnets share an address (one contains the other's base).
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.base) || other.contains(self.base)
    }

    /// The broadcast address (`172.17.255.255`).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) | !mask(self.prefix))
    }

    /// The first usable address (`.1`), Docker's default gateway.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + 1)
    }

    /// Whether `address` may be given to a container: in the subnet, neither the network's
    /// address nor its broadcast.
    fn usable(&self, address: Ipv4Addr) -> bool {
        self.contains(address) && address != self.base && address != self.broadcast()
    }
}
// ANCHOR_END: subnet

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = IpamError;

    /// `172.18.0.0/16`; host bits must be clear, as Docker requires.
    fn from_str(text: &str) -> Result<Subnet, IpamError> {
        let bad = || IpamError::BadSubnet(text.to_owned());
        let (address, prefix) = text.split_once('/').ok_or_else(bad)?;
        let address: Ipv4Addr = address.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        // A /31 or /32 has no address left for a container once the gateway has one.
        if prefix > 30 {
            return Err(bad());
        }
        let subnet = Subnet::new(address, prefix).ok_or_else(bad)?;
        if subnet.base != address {
            return Err(bad());
        }
        Ok(subnet)
    }
}

impl serde::Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses an IPv4 address given by a user (`--ip`, `--gateway`).
pub fn parse_address(text: &str) -> Result<Ipv4Addr, IpamError> {
    text.parse()
        .map_err(|_| IpamError::BadAddress(text.to_owned()))
}

// ANCHOR: pool
/// One network's addresses in use, and whose they are: the file `<network id>.addresses.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pool {
    /// Address -> owner (a container id).
    pub addresses: BTreeMap<Ipv4Addr, String>,
}

impl Pool {
    /// Reads the pool at `path`; a missing file is an empty pool.
    pub fn load(path: &Path) -> Result<Pool, IpamError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| IpamError::Damaged {
                path: path.to_owned(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Pool::default()),
            Err(source) => Err(IpamError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Writes it atomically: a reader (or a daemon killed meanwhile) sees the old pool or the
    /// new one, never half of one. Not synced to the disk: an `fsync` costs from 10 ms to
    /// half a second on these machines, twice per container (its start and its removal),
    /// against a budget of 5 ms for the whole network set-up. What a sync would protect is
    /// an allocation lost in a *machine* crash, and a crash also ends every container: no
    /// running container can then hold an address the pool forgot. A daemon killed with
    /// `kill -9` loses nothing (the write is in the kernel's page cache).
    pub fn save(&self, path: &Path) -> Result<(), IpamError> {
        let json = serde_json::to_vec_pretty(self).expect("a pool always serialises");
        berth_images::store::atomic::write_fast(path, &json).map_err(|source| IpamError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// The address `owner` has, if any.
    pub fn of(&self, owner: &str) -> Option<Ipv4Addr> {
        self.addresses
            .iter()
            .find(|(_, o)| o.as_str() == owner)
            .map(|(a, _)| *a)
    }

    /// Gives `owner` an address of `subnet` (`network` names it in errors): the one it has;
    /// else `requested` if usable and free; else the lowest free one, skipping `gateway`.
    pub fn allocate(
        &mut self,
        network: &str,
        subnet: Subnet,
        gateway: Ipv4Addr,
        owner: &str,
        requested: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, IpamError> {
        if let Some(address) = self.of(owner)
            && requested.is_none_or(|r| r == address)
        {
            return Ok(address);
        }
        let address = match requested {
            Some(address) => {
                if !subnet.contains(address) {
                    return Err(IpamError::OutOfSubnet {
                        address,
                        subnet,
                        network: network.to_owned(),
                    });
                }
                if !subnet.usable(address) || address == gateway {
                    return Err(IpamError::Reserved {
                        address,
                        network: network.to_owned(),
                    });
                }
                if self.addresses.contains_key(&address) {
                    return Err(IpamError::Taken { address });
                }
                address
            }
            None => {
                let first = u32::from(subnet.base()) + 1;
                let last = u32::from(subnet.broadcast()) - 1;
                (first..=last)
                    .map(Ipv4Addr::from)
                    .find(|a| *a != gateway && !self.addresses.contains_key(a))
                    .ok_or_else(|| IpamError::Exhausted {
                        network: network.to_owned(),
                    })?
            }
        };
        self.addresses.retain(|_, o| o != owner);
        self.addresses.insert(address, owner.to_owned());
        Ok(address)
    }

    /// Frees what `owner` has; whether it had anything.
    pub fn release(&mut self, owner: &str) -> bool {
        let before = self.addresses.len();
        self.addresses.retain(|_, o| o != owner);
        before != self.addresses.len()
    }
}
// ANCHOR_END: pool

/// Docker's MAC address for a container's interface: `02:42` (a locally administered
/// prefix) followed by the four bytes of its IPv4 address, so it is unique on the bridge as
/// long as the address is.
pub fn mac_for(address: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = address.octets();
    [0x02, 0x42, a, b, c, d]
}

/// `02:42:ac:11:00:02`, as `docker inspect` prints a MAC.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(text: &str) -> Subnet {
        text.parse().expect("subnet")
    }

    #[test]
    fn subnets_parse_and_overlap() {
        let s = subnet("172.17.0.0/16");
        assert_eq!(s.to_string(), "172.17.0.0/16");
        assert_eq!(s.broadcast(), Ipv4Addr::new(172, 17, 255, 255));
        assert_eq!(s.first_host(), Ipv4Addr::new(172, 17, 0, 1));
        assert!(s.overlaps(&subnet("172.17.5.0/24")));
        assert!(subnet("172.0.0.0/8").overlaps(&s));
        assert!(!s.overlaps(&subnet("172.18.0.0/16")));
        for bad in [
            "172.17.0.1/16",
            "172.17.0.0",
            "172.17.0.0/33",
            "x/8",
            "10.0.0.0/31",
        ] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_are_handed_out_once_and_kept() {
        let s = subnet("10.1.0.0/29"); // .1 gateway, .2 to .6 for containers
        let gw = s.first_host();
        let mut pool = Pool::default();
        let a = pool.allocate("n", s, gw, "a", None).expect("a");
        assert_eq!(a, Ipv4Addr::new(10, 1, 0, 2));
        assert_eq!(pool.allocate("n", s, gw, "a", None).expect("again"), a);
        let b = pool.allocate("n", s, gw, "b", None).expect("b");
        assert_eq!(b, Ipv4Addr::new(10, 1, 0, 3));
        let taken = pool.allocate("n", s, gw, "c", Some(b)).expect_err("taken");
        assert!(matches!(taken, IpamError::Taken { .. }), "{taken}");
        let wanted = Ipv4Addr::new(10, 1, 0, 6);
        assert_eq!(
            pool.allocate("n", s, gw, "c", Some(wanted)).unwrap(),
            wanted
        );
        for (owner, bad) in [("d", gw), ("d", s.broadcast()), ("d", s.base())] {
            let e = pool
                .allocate("n", s, gw, owner, Some(bad))
                .expect_err("reserved");
            assert!(matches!(e, IpamError::Reserved { .. }), "{e}");
        }
        let outside = pool.allocate("n", s, gw, "d", Some(Ipv4Addr::new(10, 2, 0, 2)));
        assert!(matches!(outside, Err(IpamError::OutOfSubnet { .. })));
        pool.allocate("n", s, gw, "d", None).expect("d");
        pool.allocate("n", s, gw, "e", None).expect("e");
        let full = pool.allocate("n", s, gw, "f", None).expect_err("exhausted");
        assert_eq!(
            full.to_string(),
            "no available IPv4 addresses on this network's address pools: n"
        );
        assert!(pool.release("b"));
        assert!(!pool.release("b"), "released once");
        assert_eq!(
            pool.allocate("n", s, gw, "f", None).unwrap(),
            b,
            "b's again"
        );
    }

    #[test]
    fn a_pool_survives_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("n.addresses.json");
        let s = subnet("10.1.0.0/24");
        let mut pool = Pool::load(&path).expect("empty");
        let a = pool.allocate("n", s, s.first_host(), "a", None).unwrap();
        pool.save(&path).expect("save");
        let mut again = Pool::load(&path).expect("load");
        assert_eq!(again.of("a"), Some(a));
        let b = again.allocate("n", s, s.first_host(), "b", None).unwrap();
        assert_ne!(a, b, "never the same address twice");
        std::fs::write(&path, "{").expect("damage");
        assert!(matches!(Pool::load(&path), Err(IpamError::Damaged { .. })));
    }

    #[test]
    fn macs_are_dockers() {
        let mac = mac_for(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(mac), "02:42:ac:11:00:02");
    }
}
