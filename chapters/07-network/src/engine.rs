//! Networks in the engine: chapter 7 as an extension of chapter 4's daemon.
//!
//! dockerd gives every container a place on a network as part of its start: libnetwork
//! makes the *sandbox* (the container's network namespace) and one *endpoint* per network,
//! before runc releases the container's process. Chapter 4's engine has the seams for it
//! ([`Extension`]), and this module fills them:
//!
//! - `prepare` (the daemon, before each start): the addresses, from each network's IPAM (the
//!   same address as at the previous start), the bridges, the networks' firewall rules, the
//!   container's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` in its directory, and
//!   its published ports (host ports chosen, DNAT rules added);
//! - `configure` (the monitor): a parent-side step that, with the child's pid, makes the veth
//!   pairs into its namespace, with their addresses and the default route, the child-side
//!   binds of the three files, the userland proxy for the published ports, and on a
//!   user-defined network a parent-side step that starts its DNS server at `127.0.0.11`;
//! - `stopped` (the daemon, once the container has stopped): its published ports' rules;
//! - `release` (after a failed start or the removal): the addresses, the published ports'
//!   rules, and the host ends of the veths if still there;
//! - `sweep_orphans` (the daemon's start): the same for containers removed while no daemon
//!   ran, and the rules of those that stopped meanwhile.
//!
//! What a container asked for is its record's `"network"` slot ([`Settings`]), Docker's
//! `NetworkMode` and `EndpointsConfig`. The networks it is on *now* may change while it exists
//! (`docker network connect`/`disconnect`), so they are kept beside the networks, in
//! `<root>/networks/attached/<container id>.json`, made from the slot at the first start.
//!
//! `--network host` and `--network container:NAME` need the container *not* to have a network
//! namespace of its own. Chapter 1 always makes one; rather than change its start, the
//! child joins the other namespace with `setns(2)` ([`JoinNetns`], a chapter 1 child step that
//! runs before `/sys` is mounted, so `/sys/class/net` shows the joined namespace's devices).
//! The namespace chapter 1 made is then unused and freed when the child leaves it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_daemon::engine::{Extension, ExtensionError};
use berth_images::container::ContainerRecord;
use berth_namespaces::steps::StepError;
use berth_namespaces::{ChildPhase, ChildStep, ContainerConfig, ParentStep};
use nix::errno::Errno;
use nix::unistd::Pid;

use crate::dns::{DnsServer, EMBEDDED_DNS};
use crate::endpoint::{self, Endpoint};
use crate::files::{self, EtcFiles, ExtraHostAddress, ExtraHostError};
use crate::firewall::{ContainerRules, Firewall, NetworkRules, TABLE};
use crate::ipam::format_mac;
use crate::netlink::Netlink;
use crate::network::{DefaultBridge, Network, NetworkError, Networks};
use crate::ports::{self, PortMapping};
use crate::proxy::Proxy;

/// The record's slot that holds a container's [`Settings`].
pub const SLOT: &str = "network";

/// Docker's `HostConfig.NetworkMode`: which network stack a container gets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// On networks (the default `bridge`, or those of [`Settings::endpoints`]).
    #[default]
    Networks,
    /// `none`: only `lo`.
    None,
    /// `host`: the daemon's own network namespace.
    Host,
    /// `container:NAME`: the network namespace of another, running, container.
    Container(String),
}

impl Mode {
    /// Parses Docker's `NetworkMode`: `default`, `bridge`, `none`, `host`, `container:NAME`
    /// or a network's name (the last three return the network, if any, as the second value).
    pub fn parse(text: &str) -> (Mode, Option<String>) {
        match text {
            "" | "default" => (Mode::Networks, None),
            "none" => (Mode::None, None),
            "host" => (Mode::Host, None),
            other => match other.strip_prefix("container:") {
                Some(name) => (Mode::Container(name.to_owned()), None),
                None => (Mode::Networks, Some(other.to_owned())),
            },
        }
    }

    /// Docker's spelling (`bridge` for the default networks mode).
    pub fn as_docker(&self, first_network: Option<&str>) -> String {
        match self {
            Mode::Networks => first_network.unwrap_or("bridge").to_owned(),
            Mode::None => "none".to_owned(),
            Mode::Host => "host".to_owned(),
            Mode::Container(name) => format!("container:{name}"),
        }
    }
}

impl serde::Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_docker(Some("networks")))
    }
}

impl<'de> serde::Deserialize<'de> for Mode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Mode, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.as_str() {
            "networks" => Mode::Networks,
            other => Mode::parse(other).0,
        })
    }
}

/// One network a container is on, as asked for (`--network NAME --ip --alias`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndpointSettings {
    /// The network's name or id, as given.
    pub network: String,
    /// `--ip`: the address asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    /// `--alias`es, the names it also answers to on user-defined networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

// ANCHOR: settings
/// What a container's record keeps in its `"network"` slot.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// `--network`.
    #[serde(default)]
    pub mode: Mode,
    /// The networks to be on in [`Mode::Networks`]; empty: the default `bridge`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<EndpointSettings>,
    /// `-P`: publish every port the image exposes.
    #[serde(default)]
    pub publish_all: bool,
    /// The published ports as asked for (`-p`, `PortBindings`, and with `-P` the image's
    /// `EXPOSE`d ports: see [`ports::from_api`]); published from the first network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMapping>,
    /// `HostConfig.PortBindings` as the API sent them: only shown back by `docker inspect`
    /// (what is published is [`Settings::ports`]).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub port_bindings: ports::ApiPortBindings,
    /// The ports the container exposes (the image's `EXPOSE`, `--expose`, and those of
    /// `-p`): the keys of inspect's `NetworkSettings.Ports`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed: Vec<ports::ContainerPort>,
    /// `--add-host NAME:ADDRESS` (`HostConfig.ExtraHosts`), as given (checked by
    /// [`files::parse_extra_host`] at create): lines of the container's `/etc/hosts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
}
// ANCHOR_END: settings

impl Settings {
    /// Whether it asks for nothing but the defaults (no slot is written then).
    pub fn is_empty(&self) -> bool {
        *self == Settings::default()
    }
}

/// The settings in a record's slot (the defaults if it has none).
pub fn settings(record: &ContainerRecord) -> Result<Settings, ExtensionError> {
    Ok(settings_of(&record.slots)?)
}

/// The settings in the `"network"` one of `slots` (the defaults if there is none).
pub fn settings_of(
    slots: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Result<Settings, serde_json::Error> {
    match slots.get(SLOT) {
        None => Ok(Settings::default()),
        Some(value) => serde_json::from_value(value.clone()),
    }
}

/// Why the network extension refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineNetError {
    #[error("cannot join network of a non running container: {0}")]
    NotRunning(String),
    #[error("no such container: {0}")]
    NoContainer(String),
    #[error("container's attachments {path}: {source}")]
    Attached {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("endpoint with name {container} already exists in network {network}")]
    AlreadyAttached { container: String, network: String },
    #[error("container {container} is not connected to network {network}")]
    NotAttached { container: String, network: String },
    #[error(
        "container {container} uses network mode {mode}: it cannot be connected to or disconnected from a network"
    )]
    NotNetworksMode { container: String, mode: String },
    #[error("user specified IP address is supported on user defined networks only")]
    IpOnPredefined,
    #[error("network-scoped alias is supported only for containers in user defined networks")]
    AliasOnPredefined,
    #[error("opening the network namespace {path}: {source}")]
    Namespace {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Endpoint(#[from] endpoint::EndpointError),
    #[error(transparent)]
    Files(#[from] files::FilesError),
    #[error(transparent)]
    ExtraHost(#[from] ExtraHostError),
    #[error("unable to derive the IP value for host-gateway: the daemon has no default bridge")]
    NoHostGateway,
    #[error(transparent)]
    Netlink(#[from] crate::netlink::NetlinkError),
    #[error(transparent)]
    Firewall(#[from] crate::firewall::FirewallError),
    #[error(transparent)]
    Ports(#[from] ports::PortError),
    #[error(transparent)]
    Proxy(#[from] crate::proxy::ProxyError),
    #[error("container's published ports {path}: {source}")]
    Published {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One container's place on one network, as `docker inspect` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The network.
    pub network: Network,
    /// The container's address on it.
    pub address: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// The gateway.
    pub gateway: Ipv4Addr,
    /// The MAC address of its interface (`02:42:...`).
    pub mac: String,
    /// Its aliases.
    pub aliases: Vec<String>,
    /// The endpoint's id: derived from the network's and the container's, so it is the same
    /// in every answer.
    pub endpoint_id: String,
}

/// The id of container `container`'s endpoint on network `network` (64 hex digits): half of
/// each, so it is the same in every answer and differs between networks and containers.
pub fn endpoint_id(network: &str, container: &str) -> String {
    let half = |id: &str| id.chars().take(32).collect::<String>();
    format!("{}{}", half(network), half(container))
}

// ANCHOR: join_netns
/// A chapter 1 child step: the child leaves the network namespace chapter 1 made for it and
/// joins another (the daemon's for `--network host`, a container's for `container:NAME`).
#[derive(Debug)]
pub struct JoinNetns {
    name: String,
    ns: OwnedFd,
}

impl JoinNetns {
    /// Opens the namespace at `path` (`/proc/self/ns/net`, `/proc/<pid>/ns/net`), in the
    /// parent: the child only calls `setns` on the descriptor.
    pub fn open(path: &Path) -> Result<JoinNetns, EngineNetError> {
        let file = std::fs::File::open(path).map_err(|source| EngineNetError::Namespace {
            path: path.to_owned(),
            source,
        })?;
        Ok(JoinNetns {
            name: format!("joining the network namespace {}", path.display()),
            ns: file.into(),
        })
    }
}

impl ChildStep for JoinNetns {
    fn name(&self) -> &str {
        &self.name
    }

    fn phase(&self) -> ChildPhase {
        // Before /sys is mounted: sysfs shows the devices of the mounter's namespace.
        ChildPhase::Mounts
    }

    fn run(&self) -> Result<(), Errno> {
        nix::sched::setns(self.ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
    }
}
// ANCHOR_END: join_netns

// ANCHOR: attach_step
/// The parent-side step: the container's endpoints, made with its pid (in the monitor).
#[derive(Debug)]
struct AttachStep {
    name: String,
    endpoints: Vec<(Endpoint, Network)>,
}

impl ParentStep for AttachStep {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, child: Pid) -> Result<(), StepError> {
        let mut nl = Netlink::open()?;
        for (i, (endpoint, network)) in self.endpoints.iter().enumerate() {
            let bridge = endpoint::ensure_bridge(&mut nl, network)?;
            // One default route, via the first network; none via an `--internal` one.
            let route = i == 0 && !network.internal;
            endpoint::attach(&mut nl, endpoint, bridge, child.as_raw(), route)?;
        }
        Ok(())
    }
}
// ANCHOR_END: attach_step

// ANCHOR: dns_step
/// The parent-side step that starts the container's embedded DNS server (in the monitor,
/// which lives as long as the container runs), once its network namespace exists.
#[derive(Debug)]
struct DnsStep {
    root: PathBuf,
    id: String,
}

impl ParentStep for DnsStep {
    fn name(&self) -> &str {
        "starting the embedded DNS server"
    }

    fn run(&self, child: Pid) -> Result<(), StepError> {
        let ns = PathBuf::from(format!("/proc/{}/ns/net", child.as_raw()));
        // 127.0.0.11 exists once `lo` is up; the child brings it up only after this step.
        let mut nl = Netlink::open_in(&ns)?;
        let lo = nl.index("lo")?;
        nl.set_up(lo)?;
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let extension = NetworkExtension::for_store(&self.root, None);
        let asker = self.id.clone();
        let lookup = move |name: &str| extension.resolve(&asker, name);
        let server =
            DnsServer::start(&ns, EMBEDDED_DNS, upstreams(&host_resolv), Arc::new(lookup))?;
        // It serves until this process (the monitor) ends with the container.
        std::mem::forget(server);
        Ok(())
    }
}
// ANCHOR_END: dns_step

/// The host's resolvers a container's queries are forwarded to: those of `resolv.conf`
/// that are not loopback addresses (which mean nothing inside the container's namespace).
fn upstreams(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|server| server.trim().parse::<Ipv4Addr>().ok())
        .filter(|ip| !ip.is_loopback())
        .map(|ip| SocketAddr::new(ip.into(), 53))
        .collect()
}

// ANCHOR: extension
/// Chapter 7's part of a container's life in the engine of the store at `root`.
#[derive(Debug)]
pub struct NetworkExtension {
    root: PathBuf,
    default: Option<DefaultBridge>,
    /// Berth's nftables table (`firewall.rs`), opened at its first use: only the daemon
    /// changes it (a monitor never does, and never loads `libnftables`).
    firewall: std::sync::OnceLock<Result<Firewall, String>>,
    /// Where the next random host port is looked for (as dockerd's port allocator, so a
    /// port just let go is not handed out again at once), under the lock that makes
    /// choosing a start's ports and adding their rules one step for concurrent starts.
    port_cursor: std::sync::Mutex<u16>,
}

impl NetworkExtension {
    /// The extension for the data root `root`, with the default bridge `default` (made at
    /// the daemon's start if the store has none yet; `None`: dockerd's `--bridge none`, no
    /// default network, so a container that names none gets only `lo`). A monitor's
    /// extension never makes networks: `None` or not, it finds what the daemon made.
    pub fn for_store(root: &Path, default: Option<DefaultBridge>) -> NetworkExtension {
        NetworkExtension {
            root: root.to_owned(),
            default,
            firewall: std::sync::OnceLock::new(),
            port_cursor: std::sync::Mutex::new(0),
        }
    }

    fn published_path(&self, id: &str) -> PathBuf {
        self.root
            .join("networks")
            .join("ports")
            .join(format!("{id}.json"))
    }

    /// The ports container `id` published at its last start, host ports chosen (for
    /// `docker inspect`'s `NetworkSettings.Ports` and `docker port`, see
    /// [`ports::ports_map`]); empty if none.
    pub fn published(&self, id: &str) -> Vec<PortMapping> {
        std::fs::read(self.published_path(id))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    // ANCHOR: resolve
    /// What container `asker`'s DNS server answers for `name`: the addresses of the
    /// containers (`asker` included) that are on one of `asker`'s user-defined networks and
    /// are called `name` there (their name, or an alias on that network).
    pub fn resolve(&self, asker: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
        let store = berth_images::store::Store::open_in_use(&self.root).ok()?;
        let networks = Networks::open(&self.root).ok()?;
        let records = berth_images::container::list(&store).ok()?;
        let on = |record: &ContainerRecord| -> Vec<(Network, EndpointSettings)> {
            self.attached(record)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|wanted| Some((networks.find(&wanted.network).ok()?, wanted)))
                .filter(|(network, _)| !network.predefined())
                .collect()
        };
        let mine: Vec<String> = records
            .iter()
            .find(|r| r.id == asker)
            .map(|r| on(r).into_iter().map(|(n, _)| n.id).collect())?;
        let mut found = Vec::new();
        for record in &records {
            for (network, wanted) in on(record) {
                let called = record.name.eq_ignore_ascii_case(name)
                    || wanted.aliases.iter().any(|a| a.eq_ignore_ascii_case(name));
                if called
                    && mine.contains(&network.id)
                    && let Some(address) = networks.pool(&network).ok()?.of(&record.id)
                    && !found.contains(&address)
                {
                    found.push(address);
                }
            }
        }
        (!found.is_empty()).then_some(found)
    }
    // ANCHOR_END: resolve

    // ANCHOR: publish
    /// In the daemon, before a start: chooses the host ports (refusing a taken one with
    /// dockerd's "port is already allocated"), writes them down, and adds the DNAT rules.
    /// The ports are let go again here and held by the proxy, in the monitor.
    fn publish(
        &self,
        record: &ContainerRecord,
        asked: &[PortMapping],
        endpoint: &Endpoint,
        network: &Network,
    ) -> Result<(), ExtensionError> {
        let Some(bridge) = &network.bridge else {
            return Ok(());
        };
        let firewall = self.firewall()?;
        // One start at a time from here to its rules: two starts asking for the same port
        // must not both find it free (the first lets it go again until its monitor binds it).
        let mut cursor = self.port_cursor.lock().unwrap_or_else(|p| p.into_inner());
        // The firewall's containers are those that run (a stopped one's rules are gone):
        // their ports are taken even in the moment no socket holds them.
        let taken: Vec<PortMapping> = firewall
            .wanted()
            .containers
            .iter()
            .filter(|(id, _)| **id != record.id)
            .flat_map(|(_, rules)| rules.ports.clone())
            .collect();
        ports::refuse_taken(asked, &taken)?;
        let range = ports::ephemeral_range(Path::new(ports::EPHEMERAL_RANGE_FILE))?;
        let held = ports::allocate(asked, range, *cursor)?;
        let chosen: Vec<PortMapping> = held.iter().map(|h| h.mapping).collect();
        if let Some(last) = held.iter().map(|h| h.host_port()).max() {
            *cursor = last.wrapping_add(1);
        }
        let path = self.published_path(&record.id);
        let error = |source| EngineNetError::Published {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(error)?;
        }
        let json = serde_json::to_vec(&chosen)?;
        berth_images::store::atomic::write_fast(&path, &json).map_err(error)?;
        firewall.add_container(
            &record.id,
            ContainerRules {
                bridge: bridge.clone(),
                address: endpoint.address,
                ports: chosen,
            },
        )?;
        Ok(())
    }

    /// In the monitor (or `ch07 run`), before the container starts: holds the published
    /// ports again and serves them with the userland proxy for as long as this process
    /// lives, which is as long as the container runs (see [`crate::proxy`]).
    fn serve_published(&self, id: &str, address: Ipv4Addr) -> Result<(), ExtensionError> {
        let chosen = self.published(id);
        if chosen.is_empty() {
            return Ok(());
        }
        // Every mapping has its host port already: this binds them, or says which is taken.
        let held = ports::allocate(&chosen, (1, u16::MAX), 1)?;
        for port in held {
            let target = std::net::SocketAddr::new(address.into(), port.mapping.container.port);
            // The proxy's threads end with the process: nothing to keep a handle for.
            std::mem::forget(Proxy::start(port.socket, target)?);
        }
        Ok(())
    }
    // ANCHOR_END: publish

    /// Takes back container `id`'s published ports: its DNAT rules and its record of them
    /// (when it stopped, or is released).
    fn unpublish(&self, id: &str) -> Result<(), ExtensionError> {
        let path = self.published_path(id);
        if !path.exists() {
            return Ok(()); // it published nothing: no firewall to open
        }
        self.firewall()?.remove_container(id)?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(EngineNetError::Published { path, source: e }.into())
            }
            _ => Ok(()),
        }
    }

    /// The store's networks (the predefined ones made if missing).
    pub fn networks(&self) -> Result<Networks, NetworkError> {
        let networks = Networks::open(&self.root)?;
        networks.ensure_predefined(self.default.as_ref())?;
        Ok(networks)
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    fn firewall_state(&self) -> PathBuf {
        self.root.join("networks").join("firewall.json")
    }

    /// The firewall of this store, in the daemon's network namespace (the table `ip berth`:
    /// one daemon per network namespace, as dockerd).
    fn firewall(&self) -> Result<&Firewall, ExtensionError> {
        let opened = self.firewall.get_or_init(|| {
            Firewall::open(&self.firewall_state(), TABLE).map_err(|e| e.to_string())
        });
        opened.as_ref().map_err(|e| e.clone().into())
    }

    // ANCHOR: masquerade
    /// Makes sure `network`'s rules are in the firewall (masquerade out, isolation from the
    /// other bridges, or nothing in or out for `--internal`): added at its first container's
    /// start, so a network nobody uses costs no rule.
    fn ensure_rules(&self, network: &Network) -> Result<(), ExtensionError> {
        let (Some(bridge), Some((subnet, _))) = (&network.bridge, network.addressing()) else {
            return Ok(());
        };
        let firewall = self.firewall()?;
        if firewall.wanted().networks.contains_key(&network.id) {
            return Ok(());
        }
        let rules = NetworkRules {
            bridge: bridge.clone(),
            subnet: subnet.base(),
            prefix_len: subnet.prefix(),
            internal: network.internal,
        };
        firewall.add_network(&network.id, rules)?;
        Ok(())
    }
    // ANCHOR_END: masquerade

    /// `docker network rm`: the network's record, its bridge and its firewall rules.
    pub fn remove_network(&self, key: &str) -> Result<Network, ExtensionError> {
        let network = self.networks()?.remove(key)?;
        let mut nl = Netlink::open()?;
        endpoint::remove_bridge(&mut nl, &network)?;
        if self.firewall_state().exists() {
            self.firewall()?.remove_network(&network.id)?;
        }
        Ok(network)
    }

    fn attached_path(&self, id: &str) -> PathBuf {
        self.root
            .join("networks")
            .join("attached")
            .join(format!("{id}.json"))
    }

    /// The networks container `record` is on now: those connected since, or else those it
    /// was created with (the default `bridge` if none was named).
    pub fn attached(
        &self,
        record: &ContainerRecord,
    ) -> Result<Vec<EndpointSettings>, ExtensionError> {
        let settings = settings(record)?;
        if settings.mode != Mode::Networks {
            return Ok(Vec::new());
        }
        let path = self.attached_path(&record.id);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !settings.endpoints.is_empty() {
                    return Ok(settings.endpoints);
                }
                // The default network, unless the daemon runs with `--bridge none`.
                let networks = Networks::open(&self.root)?;
                Ok(match networks.find("bridge") {
                    Ok(_) => vec![EndpointSettings {
                        network: "bridge".to_owned(),
                        ..EndpointSettings::default()
                    }],
                    Err(NetworkError::NotFound(_)) => Vec::new(),
                    Err(e) => return Err(e.into()),
                })
            }
            Err(source) => Err(EngineNetError::Attached { path, source }.into()),
        }
    }

    fn save_attached(&self, id: &str, list: &[EndpointSettings]) -> Result<(), EngineNetError> {
        let path = self.attached_path(id);
        let error = |source| EngineNetError::Attached {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(error)?;
        }
        let json = serde_json::to_vec_pretty(list).expect("attachments always serialise");
        berth_images::store::atomic::write(&path, &json).map_err(error)
    }

    /// Where container `record` is attached now, with its addresses (for `docker inspect`).
    pub fn attachments(&self, record: &ContainerRecord) -> Result<Vec<Attachment>, ExtensionError> {
        let networks = self.networks()?;
        let mut out = Vec::new();
        for wanted in self.attached(record)? {
            let Ok(network) = networks.find(&wanted.network) else {
                continue;
            };
            let Some(address) = networks.pool(&network)?.of(&record.id) else {
                continue; // never started: no address yet
            };
            let Some((subnet, gateway)) = network.addressing() else {
                continue;
            };
            out.push(Attachment {
                endpoint_id: endpoint_id(&network.id, &record.id),
                address,
                prefix: subnet.prefix(),
                gateway,
                mac: format_mac(crate::ipam::mac_for(address)),
                aliases: wanted.aliases.clone(),
                network,
            });
        }
        Ok(out)
    }

    /// The addresses of `record` (allocated if new), with their networks.
    fn endpoints(
        &self,
        networks: &Networks,
        record: &ContainerRecord,
    ) -> Result<Vec<(Endpoint, Network, EndpointSettings)>, ExtensionError> {
        let mut out = Vec::new();
        for (i, wanted) in self.attached(record)?.into_iter().enumerate() {
            let (network, address) = networks.allocate(&wanted.network, &record.id, wanted.ip)?;
            let endpoint = Endpoint::new(&network, &record.id, address, &format!("eth{i}"))?;
            out.push((endpoint, network, wanted));
        }
        Ok(out)
    }

    /// The container's `--add-host` entries with `host-gateway` replaced by the default
    /// bridge's address (there is none with `--bridge none`: refused, as dockerd does).
    fn extra_hosts(
        &self,
        record: &ContainerRecord,
    ) -> Result<Vec<(IpAddr, String)>, ExtensionError> {
        let mut out = Vec::new();
        for entry in settings(record)?.extra_hosts {
            let (name, address) = files::parse_extra_host(&entry).map_err(EngineNetError::from)?;
            let address = match address {
                ExtraHostAddress::Ip(ip) => ip,
                ExtraHostAddress::HostGateway => match &self.default {
                    Some(bridge) => IpAddr::V4(bridge.gateway),
                    None => return Err(EngineNetError::NoHostGateway.into()),
                },
            };
            out.push((address, name));
        }
        Ok(out)
    }

    /// Writes the container's `/etc` files for its mode and addresses.
    fn write_files(
        &self,
        record: &ContainerRecord,
        dir: &Path,
        mode: &Mode,
        own: &[(Ipv4Addr, Vec<String>)],
        embedded_dns: bool,
    ) -> Result<(), ExtensionError> {
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let extra = self.extra_hosts(record)?;
        let (hosts, resolv) = match mode {
            // Docker gives a host-mode container the host's own files, and its added hosts.
            Mode::Host => (
                std::fs::read_to_string("/etc/hosts")
                    .map(|host| host + &files::extra_hosts_lines(&extra))
                    .unwrap_or_else(|_| files::hosts(&extra, &[])),
                host_resolv,
            ),
            _ => (
                files::hosts(&extra, own),
                // On a user-defined network, the embedded DNS server (`dns.rs`, started by
                // the monitor: see `DnsStep`); on the default bridge, the host's resolvers.
                files::resolv_conf(&host_resolv, embedded_dns),
            ),
        };
        EtcFiles::in_dir(dir)
            .write(&hosts, &record.hostname, &resolv)
            .map_err(EngineNetError::from)?;
        Ok(())
    }

    /// The running container `key` of this store: its record and PID 1.
    fn running(&self, key: &str) -> Result<(ContainerRecord, i32), ExtensionError> {
        let store = berth_images::store::Store::open_in_use(&self.root)?;
        let other = berth_images::container::find(&store, key)
            .map_err(|_| EngineNetError::NoContainer(key.to_owned()))?;
        let state = other.state(&store);
        match state.pid {
            Some(pid) if state.is_running() => Ok((other, pid)),
            _ => Err(EngineNetError::NotRunning(key.to_owned()).into()),
        }
    }

    // ANCHOR: connect
    /// `docker network connect`: puts container `record` on another network; if it runs
    /// (`pid`), at once, as its next `ethN`.
    pub fn connect(
        &self,
        record: &ContainerRecord,
        pid: Option<i32>,
        wanted: EndpointSettings,
    ) -> Result<Attachment, ExtensionError> {
        self.check_endpoint(&wanted)?;
        let mode = settings(record)?.mode;
        if mode != Mode::Networks {
            return Err(EngineNetError::NotNetworksMode {
                container: record.name.clone(),
                mode: mode.as_docker(None),
            }
            .into());
        }
        let networks = self.networks()?;
        let network = networks.find(&wanted.network)?;
        let mut list = self.attached(record)?;
        for other in &list {
            if networks
                .find(&other.network)
                .is_ok_and(|n| n.id == network.id)
            {
                return Err(EngineNetError::AlreadyAttached {
                    container: record.name.clone(),
                    network: network.name,
                }
                .into());
            }
        }
        let (network, address) = networks.allocate(&network.id, &record.id, wanted.ip)?;
        if let Some(pid) = pid {
            let ns = PathBuf::from(format!("/proc/{pid}/ns/net"));
            let names: Vec<String> = Netlink::open_in(&ns)?
                .links()?
                .into_iter()
                .map(|l| l.name)
                .collect();
            let ifname = endpoint::next_ifname(names.iter().map(String::as_str));
            let endpoint = Endpoint::new(&network, &record.id, address, &ifname)?;
            let mut nl = Netlink::open()?;
            let bridge = endpoint::ensure_bridge(&mut nl, &network)?;
            self.ensure_rules(&network)?;
            let route = list.is_empty() && !network.internal;
            let result = endpoint::attach(&mut nl, &endpoint, bridge, pid, route);
            if let Err(e) = result {
                let _ = endpoint::detach(&mut nl, &endpoint);
                networks.release(&network.id, &record.id)?;
                return Err(e.into());
            }
        }
        list.push(EndpointSettings {
            network: network.name.clone(),
            ..wanted
        });
        self.save_attached(&record.id, &list)?;
        let attached = self.attachments(record)?;
        attached
            .into_iter()
            .find(|a| a.network.id == network.id)
            .ok_or_else(|| {
                EngineNetError::NotAttached {
                    container: record.id.clone(),
                    network: network.name,
                }
                .into()
            })
    }
    // ANCHOR_END: connect

    /// `docker network disconnect`: takes container `record` off network `key`; its veth
    /// goes at once if it runs.
    pub fn disconnect(&self, record: &ContainerRecord, key: &str) -> Result<(), ExtensionError> {
        let networks = self.networks()?;
        let network = networks.find(key)?;
        let mut list = self.attached(record)?;
        let before = list.len();
        list.retain(|e| {
            networks
                .find(&e.network)
                .map_or(true, |n| n.id != network.id)
        });
        if list.len() == before {
            return Err(EngineNetError::NotAttached {
                container: record.id.clone(),
                network: network.name,
            }
            .into());
        }
        let mut nl = Netlink::open()?;
        endpoint::delete_veth(&mut nl, &endpoint::host_veth(&record.id, &network.id))?;
        networks.release(&network.id, &record.id)?;
        self.save_attached(&record.id, &list)?;
        Ok(())
    }

    // ANCHOR: check
    /// Checks, before a container is created with `settings`, what Docker checks: its
    /// networks exist, `--ip` and `--alias` only on user-defined ones, and the container of
    /// `container:NAME` exists.
    pub fn check(&self, settings: &Settings) -> Result<(), ExtensionError> {
        match &settings.mode {
            Mode::Container(key) => {
                let store = berth_images::store::Store::open_in_use(&self.root)?;
                berth_images::container::find(&store, key)
                    .map_err(|_| EngineNetError::NoContainer(key.clone()))?;
            }
            Mode::Networks => {
                for wanted in &settings.endpoints {
                    self.check_endpoint(wanted)?;
                }
            }
            Mode::None | Mode::Host => {}
        }
        Ok(())
    }
    // ANCHOR_END: check

    fn check_endpoint(&self, wanted: &EndpointSettings) -> Result<(), ExtensionError> {
        let network = self.networks()?.find(&wanted.network)?;
        if network.predefined() && wanted.ip.is_some() {
            return Err(EngineNetError::IpOnPredefined.into());
        }
        if network.predefined() && !wanted.aliases.is_empty() {
            return Err(EngineNetError::AliasOnPredefined.into());
        }
        Ok(())
    }

    /// Releases what container `id` holds on every network (addresses, host veths).
    fn release_all(&self, networks: &Networks, ids: &[String]) -> Result<(), ExtensionError> {
        let mut nl = Netlink::open()?;
        for network in networks.list()? {
            if network.bridge.is_none() {
                continue;
            }
            for id in ids {
                endpoint::delete_veth(&mut nl, &endpoint::host_veth(id, &network.id))?;
            }
        }
        Ok(())
    }
}

impl Extension for NetworkExtension {
    fn name(&self) -> &str {
        "network"
    }

    fn prepare(&self, record: &ContainerRecord, dir: &Path) -> Result<(), ExtensionError> {
        let mode = settings(record)?.mode;
        match &mode {
            Mode::None | Mode::Host => self.write_files(record, dir, &mode, &[], false)?,
            // Its files are the other container's.
            Mode::Container(key) => {
                self.running(key)?;
            }
            Mode::Networks => {
                let networks = self.networks()?;
                let endpoints = self.endpoints(&networks, record)?;
                let mut nl = Netlink::open()?;
                let mut own = Vec::new();
                for (endpoint, network, _) in &endpoints {
                    endpoint::ensure_bridge(&mut nl, network)?;
                    self.ensure_rules(network)?;
                    // One line per network, with the hostname only, as Docker's: aliases
                    // are answered by the embedded DNS server, not written here.
                    own.push((endpoint.address, vec![record.hostname.clone()]));
                }
                let embedded_dns = endpoints.first().is_some_and(|(_, n, _)| !n.predefined());
                self.write_files(record, dir, &mode, &own, embedded_dns)?;
                let asked = settings(record)?.ports;
                match (asked.is_empty(), endpoints.first()) {
                    (false, Some((endpoint, network, _))) => {
                        self.publish(record, &asked, endpoint, network)?;
                    }
                    // Nothing to publish (any more: connect/disconnect changed networks).
                    _ => self.unpublish(&record.id)?,
                }
            }
        }
        Ok(())
    }

    fn configure(
        &self,
        record: &ContainerRecord,
        config: &mut ContainerConfig,
    ) -> Result<(), ExtensionError> {
        let mode = settings(record)?.mode;
        let files = match &mode {
            Mode::None => EtcFiles::in_dir(&self.container_dir(&record.id)),
            Mode::Host => {
                config
                    .steps
                    .add_child(JoinNetns::open(Path::new("/proc/self/ns/net"))?);
                EtcFiles::in_dir(&self.container_dir(&record.id))
            }
            Mode::Container(key) => {
                let (other, pid) = self.running(key)?;
                let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
                config.steps.add_child(JoinNetns::open(&path)?);
                EtcFiles::in_dir(&self.container_dir(&other.id))
            }
            Mode::Networks => {
                let networks = Networks::open(&self.root)?;
                let endpoints = self.endpoints(&networks, record)?;
                let names: Vec<String> = endpoints
                    .iter()
                    .map(|(e, _, _)| format!("{} ({})", e.network, e.address))
                    .collect();
                if let Some((endpoint, _, _)) = endpoints.first() {
                    self.serve_published(&record.id, endpoint.address)?;
                }
                let embedded_dns = endpoints.first().is_some_and(|(_, n, _)| !n.predefined());
                config.steps.add_parent(AttachStep {
                    name: format!("attaching to network {}", names.join(", ")),
                    endpoints: endpoints.into_iter().map(|(e, n, _)| (e, n)).collect(),
                });
                if embedded_dns {
                    config.steps.add_parent(DnsStep {
                        root: self.root.clone(),
                        id: record.id.clone(),
                    });
                }
                EtcFiles::in_dir(&self.container_dir(&record.id))
            }
        };
        files.add_binds(config)?;
        Ok(())
    }

    fn stopped(&self, id: &str) -> Result<(), ExtensionError> {
        // Its monitor, which served the ports, has ended: the rules go too, as in dockerd
        // (a stopped container holds no port; its next start chooses again).
        self.unpublish(id)
    }

    fn release(&self, id: &str) -> Result<(), ExtensionError> {
        // No veth to delete: the container's processes are gone (the engine releases after a
        // removal or a failed start), so its namespace is going and takes `eth0` and its
        // host end with it. Deleting the host end ourselves would wait for the kernel's
        // teardown (10 ms and more here) for nothing; the orphan sweep still deletes veths.
        let networks = Networks::open(&self.root)?;
        self.unpublish(id)?;
        networks.release_where(&|owner| owner == id)?;
        // After a failed start the container still exists, and keeps its connections.
        if !self.container_dir(id).exists() {
            let path = self.attached_path(id);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(EngineNetError::Attached { path, source: e }.into());
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn sweep_orphans(&self, exists: &dyn Fn(&str) -> bool) -> Result<(), ExtensionError> {
        let networks = self.networks()?;
        let freed = networks.release_where(&|owner| !exists(owner))?;
        self.release_all(&networks, &freed)?;
        // Ports published by containers that stopped, or were removed, while no daemon ran
        // are given back: what publishes is what runs.
        let dir = self.root.join("networks").join("ports");
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".json")
                && !(exists(id) && self.running(id).is_ok())
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        // Rendered again from what exists: repairs a flushed table, forgets removed networks
        // and the DNAT rules of containers that publish nothing now.
        if self.firewall_state().exists() {
            let ids: Vec<String> = networks.list()?.into_iter().map(|n| n.id).collect();
            let network_exists = |id: &str| ids.iter().any(|i| i == id);
            let publishes = |id: &str| exists(id) && self.published_path(id).exists();
            self.firewall()?.sweep(&network_exists, &publishes)?;
        }
        let dir = self.root.join("networks").join("attached");
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".json")
                && !exists(id)
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}
// ANCHOR_END: extension

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_dockers() {
        assert_eq!(Mode::parse("default"), (Mode::Networks, None));
        assert_eq!(Mode::parse("none"), (Mode::None, None));
        assert_eq!(
            Mode::parse("container:web"),
            (Mode::Container("web".into()), None)
        );
        assert_eq!(Mode::parse("front"), (Mode::Networks, Some("front".into())));
        let settings = Settings {
            mode: Mode::Container("web".into()),
            ..Settings::default()
        };
        let json = serde_json::to_value(&settings).unwrap();
        assert_eq!(json["mode"], "container:web");
        assert_eq!(serde_json::from_value::<Settings>(json).unwrap(), settings);
        let default: Settings = serde_json::from_str("{}").unwrap();
        assert!(default.is_empty());
    }
}
