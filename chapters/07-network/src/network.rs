//! Networks: the default `bridge`, user-defined ones, and the store that keeps them.
//!
//! `docker network ls` on a fresh daemon shows three networks: `bridge` (the default, a Linux
//! bridge `docker0` with `172.17.0.0/16`), `host` (no namespace of its own: the host's stack)
//! and `none` (only `lo`). `docker network create NAME` adds a *user-defined* bridge network:
//! a bridge device `br-<id>` with a subnet of its own (given with `--subnet`, or the next free
//! one of the default address pools, `172.18.0.0/16`, `172.19.0.0/16`, ...), on which the
//! containers also find each other by name. Two networks may never share addresses: a subnet
//! that overlaps another network's is refused.
//!
//! Each network is a record `<root>/networks/<id>.json`, written atomically (temp + rename);
//! its addresses in use are beside it in `<id>.addresses.json` ([`crate::ipam::Pool`]). Every
//! change happens under one lock, `<root>/networks/.lock` (a `flock`, released by the kernel
//! if its holder dies), so that concurrent starts never hand out an address twice and a
//! network is never removed while an address is being taken from it.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::ipam::{IpamError, Pool, Subnet};

/// The default bridge device (Docker's is `docker0`).
pub const DEFAULT_BRIDGE: &str = "berth0";

/// The default network's subnet, as Docker's.
pub const DEFAULT_SUBNET: &str = "172.17.0.0/16";

/// Why a network could not be made, found or removed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network with name {0} already exists")]
    Exists(String),
    #[error(
        "invalid network name {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit"
    )]
    BadName(String),
    #[error("Pool overlaps with other one on this address space")]
    Overlaps { subnet: Subnet, other: String },
    #[error("gateway {gateway} is not in subnet {subnet}")]
    GatewayOutside { gateway: Ipv4Addr, subnet: Subnet },
    #[error(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
    )]
    NoFreePool,
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    InUse { name: String, id: String },
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    #[error("network {name}: {source}")]
    Ipam {
        name: String,
        #[source]
        source: IpamError,
    },
    #[error("network store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("network record {path} is damaged: {source}")]
    Damaged {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NetworkError + '_ {
    move |source| NetworkError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A network's driver: what `docker network ls` shows in its DRIVER column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A Linux bridge with veth pairs: `bridge` and every user-defined network.
    Bridge,
    /// The daemon's own network namespace.
    Host,
    /// Nothing but `lo` (Docker's `null` driver).
    Null,
}

impl Driver {
    /// The name Docker's API uses.
    pub fn as_str(&self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
        }
    }
}

// ANCHOR: network
/// One network's record.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Network {
    /// 64 hex digits.
    pub id: String,
    /// Its name, unique in the store.
    pub name: String,
    /// Its driver.
    pub driver: Driver,
    /// The bridge device (bridge driver only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// Its subnet (bridge driver only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<Subnet>,
    /// The bridge's address, the containers' default route (bridge driver only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    /// `--internal`: no route out of the network.
    #[serde(default)]
    pub internal: bool,
    /// `--label`s.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// When it was made, in seconds since the epoch.
    pub created: u64,
}
// ANCHOR_END: network

impl Network {
    /// Whether it is one of the three networks every daemon has (`bridge`, `host`, `none`).
    pub fn predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }

    /// Whether containers on it find each other by name (user-defined bridge networks).
    pub fn user_defined(&self) -> bool {
        !self.predefined()
    }

    /// The subnet and gateway of a bridge network.
    pub fn addressing(&self) -> Option<(Subnet, Ipv4Addr)> {
        Some((self.subnet?, self.gateway?))
    }
}

/// What `docker network create` asks for.
#[derive(Clone, Debug, Default)]
pub struct NetworkOptions {
    /// The name.
    pub name: String,
    /// `--subnet`; `None`: the next free default pool.
    pub subnet: Option<Subnet>,
    /// `--gateway`; `None`: the subnet's first address.
    pub gateway: Option<Ipv4Addr>,
    /// `--internal`.
    pub internal: bool,
    /// `--label`s.
    pub labels: BTreeMap<String, String>,
}

/// The default `bridge` network's settings (daemon config `bip`, or a test's choice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultBridge {
    /// The bridge device.
    pub bridge: String,
    /// Its subnet.
    pub subnet: Subnet,
    /// Its address.
    pub gateway: Ipv4Addr,
}

impl Default for DefaultBridge {
    fn default() -> DefaultBridge {
        let subnet: Subnet = DEFAULT_SUBNET.parse().expect("a valid constant");
        DefaultBridge {
            bridge: DEFAULT_BRIDGE.to_owned(),
            subnet,
            gateway: subnet.first_host(),
        }
    }
}

impl DefaultBridge {
    /// The default bridge on `subnet` (gateway `.1`).
    pub fn on(subnet: Subnet) -> DefaultBridge {
        DefaultBridge {
            subnet,
            gateway: subnet.first_host(),
            ..DefaultBridge::default()
        }
    }

    /// dockerd's `--bip`: the bridge's own address with the subnet's prefix
    /// (`172.17.0.1/16`).
    pub fn from_bip(bip: &str) -> Result<DefaultBridge, IpamError> {
        let bad = || IpamError::BadSubnet(bip.to_owned());
        let (address, prefix) = bip.split_once('/').ok_or_else(bad)?;
        let gateway: Ipv4Addr = address.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let subnet = Subnet::new(gateway, prefix)
            .filter(|s| prefix <= 30 && gateway != s.base() && gateway != s.broadcast())
            .ok_or_else(bad)?;
        Ok(DefaultBridge {
            subnet,
            gateway,
            ..DefaultBridge::default()
        })
    }
}

/// Docker's rule for network names.
fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The networks of one store (`<root>/networks`).
#[derive(Clone, Debug)]
pub struct Networks {
    dir: PathBuf,
}

/// The store's lock, held while it lasts.
pub struct Locked(#[allow(dead_code)] Flock<File>);

impl Networks {
    /// The networks of the data root `root` (the directory is made if missing).
    pub fn open(root: &Path) -> Result<Networks, NetworkError> {
        let dir = root.join("networks");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Networks { dir })
    }

    /// The directory of the records.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the store's lock, waiting for it.
    pub fn lock(&self) -> Result<Locked, NetworkError> {
        let path = self.dir.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map(Locked)
            .map_err(|(_, e)| io(&path)(e.into()))
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn pool_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.addresses.json"))
    }

    fn save(&self, network: &Network) -> Result<(), NetworkError> {
        let path = self.record_path(&network.id);
        let json = serde_json::to_vec_pretty(network).expect("a network always serialises");
        berth_images::store::atomic::write(&path, &json).map_err(io(&path))
    }

    /// Every network, by name (as `docker network ls` shows them).
    pub fn list(&self) -> Result<Vec<Network>, NetworkError> {
        let mut networks = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let path = entry.map_err(io(&self.dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            // `<id>.json` only: not `.lock`, not the pools, not a temp file, not the
            // firewall's state.
            let is_id = |id: &str| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
            if !name.strip_suffix(".json").is_some_and(is_id) {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let network: Network = serde_json::from_slice(&bytes)
                .map_err(|source| NetworkError::Damaged { path, source })?;
            networks.push(network);
        }
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(networks)
    }

    /// The network named `key`, or whose id is `key` or starts with it (as Docker resolves
    /// `docker network inspect KEY`: a full id, then a name, then a unique id prefix).
    pub fn find(&self, key: &str) -> Result<Network, NetworkError> {
        let networks = self.list()?;
        if let Some(n) = networks.iter().find(|n| n.id == key || n.name == key) {
            return Ok(n.clone());
        }
        let mut prefixed = networks.into_iter().filter(|n| n.id.starts_with(key));
        match (prefixed.next(), prefixed.next()) {
            (Some(n), None) if !key.is_empty() => Ok(n),
            _ => Err(NetworkError::NotFound(key.to_owned())),
        }
    }

    /// Makes the predefined networks (`bridge`, `host`, `none`) that are missing. The default
    /// bridge's settings are those of its first creation: a changed `default` is taken only
    /// when no container has an address on it (as dockerd's `--bip` at its next start).
    /// `None` is dockerd's `--bridge none`: no default `bridge` network (removed if unused),
    /// and containers that name no network get only `lo`.
    pub fn ensure_predefined(&self, default: Option<&DefaultBridge>) -> Result<(), NetworkError> {
        let _lock = self.lock()?;
        let networks = self.list()?;
        for (name, driver) in [
            ("bridge", Driver::Bridge),
            ("host", Driver::Host),
            ("none", Driver::Null),
        ] {
            let existing = networks.iter().find(|n| n.name == name);
            let bridge = driver == Driver::Bridge;
            let unused = |n: &Network| -> Result<bool, NetworkError> {
                Ok(self.pool(n)?.addresses.is_empty())
            };
            let wanted = |id: String, created, default: &DefaultBridge| Network {
                id,
                name: name.to_owned(),
                driver,
                bridge: bridge.then(|| default.bridge.clone()),
                subnet: bridge.then_some(default.subnet),
                gateway: bridge.then_some(default.gateway),
                internal: false,
                labels: BTreeMap::new(),
                created,
            };
            let any = DefaultBridge::default();
            match (existing, bridge, default) {
                (None, false, _) => {
                    self.save(&wanted(berth_images::container::random_id(), now(), &any))?
                }
                (None, true, Some(default)) => self.save(&wanted(
                    berth_images::container::random_id(),
                    now(),
                    default,
                ))?,
                (Some(n), true, None) if unused(n)? => {
                    let path = self.record_path(&n.id);
                    std::fs::remove_file(&path).map_err(io(&path))?;
                }
                (Some(n), true, Some(default))
                    if n.addressing() != Some((default.subnet, default.gateway)) && unused(n)? =>
                {
                    self.save(&wanted(n.id.clone(), n.created, default))?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    // ANCHOR: create
    /// `docker network create`: a user-defined bridge network.
    pub fn create(&self, options: &NetworkOptions) -> Result<Network, NetworkError> {
        if !valid_name(&options.name) {
            return Err(NetworkError::BadName(options.name.clone()));
        }
        let _lock = self.lock()?;
        let networks = self.list()?;
        if networks.iter().any(|n| n.name == options.name) {
            return Err(NetworkError::Exists(options.name.clone()));
        }
        let taken: Vec<(Subnet, &str)> = networks
            .iter()
            .filter_map(|n| Some((n.subnet?, n.name.as_str())))
            .collect();
        let subnet = match options.subnet {
            Some(subnet) => {
                if let Some((_, other)) = taken.iter().find(|(s, _)| s.overlaps(&subnet)) {
                    return Err(NetworkError::Overlaps {
                        subnet,
                        other: (*other).to_owned(),
                    });
                }
                subnet
            }
            None => default_pools()
                .find(|pool| !taken.iter().any(|(s, _)| s.overlaps(pool)))
                .ok_or(NetworkError::NoFreePool)?,
        };
        let gateway = options.gateway.unwrap_or_else(|| subnet.first_host());
        if !subnet.contains(gateway) || gateway == subnet.base() || gateway == subnet.broadcast() {
            return Err(NetworkError::GatewayOutside { gateway, subnet });
        }
        let id = berth_images::container::random_id();
        let network = Network {
            bridge: Some(format!("br-{}", &id[..12])),
            id,
            name: options.name.clone(),
            driver: Driver::Bridge,
            subnet: Some(subnet),
            gateway: Some(gateway),
            internal: options.internal,
            labels: options.labels.clone(),
            created: now(),
        };
        self.save(&network)?;
        Ok(network)
    }
    // ANCHOR_END: create

    /// `docker network rm`: refused for the predefined networks and while a container has an
    /// address on it.
    pub fn remove(&self, key: &str) -> Result<Network, NetworkError> {
        let _lock = self.lock()?;
        let network = self.find(key)?;
        if network.predefined() {
            return Err(NetworkError::Predefined(network.name));
        }
        if !self.pool(&network)?.addresses.is_empty() {
            return Err(NetworkError::InUse {
                name: network.name,
                id: network.id,
            });
        }
        let path = self.record_path(&network.id);
        std::fs::remove_file(&path).map_err(io(&path))?;
        let pool = self.pool_path(&network.id);
        match std::fs::remove_file(&pool) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&pool)(e)),
            _ => {}
        }
        Ok(network)
    }

    /// The addresses in use on `network`, and their owners.
    pub fn pool(&self, network: &Network) -> Result<Pool, NetworkError> {
        Pool::load(&self.pool_path(&network.id)).map_err(|source| NetworkError::Ipam {
            name: network.name.clone(),
            source,
        })
    }

    // ANCHOR: allocate
    /// Gives container `owner` an address on network `key` (`requested`, if given): the one
    /// it already has, if any. Persisted before it is returned.
    pub fn allocate(
        &self,
        key: &str,
        owner: &str,
        requested: Option<Ipv4Addr>,
    ) -> Result<(Network, Ipv4Addr), NetworkError> {
        let _lock = self.lock()?;
        let network = self.find(key)?;
        let Some((subnet, gateway)) = network.addressing() else {
            return Err(NetworkError::NotFound(key.to_owned()));
        };
        let ipam = |source| NetworkError::Ipam {
            name: network.name.clone(),
            source,
        };
        let path = self.pool_path(&network.id);
        let mut pool = Pool::load(&path).map_err(ipam)?;
        let before = pool.of(owner);
        let address = pool
            .allocate(&network.name, subnet, gateway, owner, requested)
            .map_err(ipam)?;
        if before != Some(address) {
            pool.save(&path).map_err(ipam)?;
        }
        Ok((network, address))
    }
    // ANCHOR_END: allocate

    /// Frees `owner`'s address on network `network_id` (nothing if it has none, or the
    /// network is gone).
    pub fn release(&self, network_id: &str, owner: &str) -> Result<(), NetworkError> {
        let _lock = self.lock()?;
        self.release_locked(network_id, owner)
    }

    fn release_locked(&self, network_id: &str, owner: &str) -> Result<(), NetworkError> {
        let path = self.pool_path(network_id);
        let ipam = |source| NetworkError::Ipam {
            name: network_id.to_owned(),
            source,
        };
        let mut pool = Pool::load(&path).map_err(ipam)?;
        if pool.release(owner) {
            pool.save(&path).map_err(ipam)?;
        }
        Ok(())
    }

    /// Frees every address held by an owner for which `gone` is true, on every network;
    /// returns the owners freed (an orphan sweep after a daemon was killed).
    pub fn release_where(&self, gone: &dyn Fn(&str) -> bool) -> Result<Vec<String>, NetworkError> {
        let _lock = self.lock()?;
        let mut freed = Vec::new();
        for network in self.list()? {
            let pool = self.pool(&network)?;
            for owner in pool.addresses.values().filter(|o| gone(o)) {
                if !freed.contains(owner) {
                    freed.push(owner.clone());
                }
            }
            for owner in &freed {
                self.release_locked(&network.id, owner)?;
            }
        }
        Ok(freed)
    }
}

/// Docker's default address pools for user-defined networks: `172.18.0.0/16` to
/// `172.31.0.0/16`, then `192.168.0.0/20`, `192.168.16.0/20`, ... `192.168.240.0/20`.
fn default_pools() -> impl Iterator<Item = Subnet> {
    let big = (18..=31).filter_map(|b| Subnet::new(Ipv4Addr::new(172, b, 0, 0), 16));
    let small = (0..16).filter_map(|i| Subnet::new(Ipv4Addr::new(192, 168, i * 16, 0), 20));
    big.chain(small)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Networks) {
        let dir = tempfile::tempdir().expect("tempdir");
        let networks = Networks::open(dir.path()).expect("open");
        networks
            .ensure_predefined(Some(&DefaultBridge::default()))
            .expect("predefined");
        (dir, networks)
    }

    fn options(name: &str, subnet: Option<&str>) -> NetworkOptions {
        NetworkOptions {
            name: name.to_owned(),
            subnet: subnet.map(|s| s.parse().expect("subnet")),
            ..NetworkOptions::default()
        }
    }

    #[test]
    fn predefined_networks_exist_once() {
        let (_dir, networks) = store();
        networks
            .ensure_predefined(Some(&DefaultBridge::default()))
            .expect("again");
        let names: Vec<_> = networks
            .list()
            .unwrap()
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(names.len(), 3);
        for name in ["bridge", "host", "none"] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        let bridge = networks.find("bridge").unwrap();
        assert_eq!(bridge.bridge.as_deref(), Some("berth0"));
        assert_eq!(bridge.gateway, Some(Ipv4Addr::new(172, 17, 0, 1)));
        let e = networks.remove("bridge").expect_err("predefined");
        assert!(matches!(e, NetworkError::Predefined(_)), "{e}");
        networks.ensure_predefined(None).expect("--bridge none");
        assert!(networks.find("bridge").is_err(), "no default bridge");
        assert_eq!(networks.list().unwrap().len(), 2);
    }

    #[test]
    fn bip_is_the_bridges_address() {
        let bridge = DefaultBridge::from_bip("10.5.0.1/24").expect("bip");
        assert_eq!(bridge.subnet.to_string(), "10.5.0.0/24");
        assert_eq!(bridge.gateway, Ipv4Addr::new(10, 5, 0, 1));
        for bad in [
            "10.5.0.0/24",
            "10.5.0.255/24",
            "10.5.0.1",
            "10.5.0.1/31",
            "x/8",
        ] {
            assert!(DefaultBridge::from_bip(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_networks_take_free_pools_and_refuse_overlaps() {
        let (_dir, networks) = store();
        let a = networks.create(&options("a", None)).expect("a");
        assert_eq!(a.subnet.unwrap().to_string(), "172.18.0.0/16");
        assert_eq!(a.bridge.as_deref(), Some(&*format!("br-{}", &a.id[..12])));
        let b = networks.create(&options("b", None)).expect("b");
        assert_eq!(b.subnet.unwrap().to_string(), "172.19.0.0/16");
        let e = networks
            .create(&options("c", Some("172.17.3.0/24")))
            .expect_err("inside the default bridge");
        assert!(matches!(e, NetworkError::Overlaps { .. }), "{e}");
        let e = networks
            .create(&options("a", Some("10.0.0.0/8")))
            .expect_err("name");
        assert_eq!(e.to_string(), "network with name a already exists");
        let e = networks.create(&options("-x", None)).expect_err("bad name");
        assert!(matches!(e, NetworkError::BadName(_)));
        assert_eq!(networks.find(&a.id[..6]).unwrap().name, "a");
        assert!(matches!(
            networks.find("zz"),
            Err(NetworkError::NotFound(_))
        ));
    }

    #[test]
    fn a_network_in_use_stays() {
        let (_dir, networks) = store();
        networks
            .create(&options("n", Some("10.7.0.0/24")))
            .expect("n");
        let (_, address) = networks.allocate("n", "c1", None).expect("address");
        assert_eq!(address, Ipv4Addr::new(10, 7, 0, 2));
        let e = networks.remove("n").expect_err("in use");
        assert!(matches!(e, NetworkError::InUse { .. }), "{e}");
        let freed = networks.release_where(&|o| o == "c1").expect("sweep");
        assert_eq!(freed, ["c1"]);
        networks.remove("n").expect("removed once free");
        assert!(
            !networks.dir().read_dir().unwrap().any(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".addresses")
            }),
            "its pool went with it"
        );
    }

    #[test]
    fn concurrent_allocations_never_share_an_address() {
        let (_dir, networks) = store();
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let networks = networks.clone();
                std::thread::spawn(move || networks.allocate("bridge", &format!("c{i}"), None))
            })
            .collect();
        let mut addresses: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().expect("thread").expect("address").1)
            .collect();
        addresses.sort();
        addresses.dedup();
        assert_eq!(addresses.len(), 16);
        let bridge = networks.find("bridge").unwrap();
        assert_eq!(networks.pool(&bridge).unwrap().addresses.len(), 16);
    }
}
