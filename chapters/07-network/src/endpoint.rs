//! One container on one network: its veth pair, address and route.
//!
//! libnetwork calls this an *endpoint*. For a bridge network Docker makes, at each start:
//!
//! 1. the network's bridge, if missing (`docker0`, or `br-<id>` for a user network), with the
//!    gateway's address on it, and `net.ipv4.ip_forward` on, so the host routes between the
//!    bridge and its other interfaces;
//! 2. a veth pair: two network devices joined like the ends of a cable. One end
//!    (`veth<...>`) stays on the host as a port of the bridge; the other is made directly in
//!    the container's network namespace (netlink's `IFLA_NET_NS_PID`) and named `eth0`
//!    (`eth1`, ... for further networks), with Docker's MAC address `02:42` + the IPv4 bytes;
//! 3. inside the namespace, through a netlink socket opened there: the address, the link up,
//!    and a default route via the gateway (for the first network only: one default route).
//!
//! When the container's last process exits, its namespace goes and takes `eth0` with it, and
//! a veth never outlives its peer: the host end disappears by itself. Detaching a running
//! container ([`detach`]) deletes the host end, and the peer goes with it.
//!
//! `ip_forward` is written only in the network namespace the daemon runs in (the file under
//! `/proc/sys/net` is that of the writer's namespace): the tests run the daemon in a
//! namespace of their own, and so never change the host.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use nix::errno::Errno;

use crate::ipam::{Subnet, mac_for};
use crate::netlink::{Namespace, Netlink, NetlinkError};
use crate::network::Network;

/// Why a container could not be attached to (or detached from) a network.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("network {network}: {source}")]
    Netlink {
        network: String,
        #[source]
        source: NetlinkError,
    },
    #[error("network {0} has no bridge (driver host or null)")]
    NotABridge(String),
    #[error("turning on ip_forward: {0}")]
    Forwarding(#[source] std::io::Error),
}

/// One container's place on one bridge network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The network's name (for errors).
    pub network: String,
    /// The bridge device.
    pub bridge: String,
    /// The network's subnet.
    pub subnet: Subnet,
    /// The gateway (the bridge's address).
    pub gateway: Ipv4Addr,
    /// The container's address.
    pub address: Ipv4Addr,
    /// The host end of the veth pair.
    pub host_veth: String,
    /// The container's end, once in its namespace (`eth0`, `eth1`, ...).
    pub ifname: String,
}

impl Endpoint {
    /// The endpoint of container `container_id` with `address` on `network`, as its
    /// interface `ifname`.
    pub fn new(
        network: &Network,
        container_id: &str,
        address: Ipv4Addr,
        ifname: &str,
    ) -> Result<Endpoint, EndpointError> {
        let (Some(bridge), Some((subnet, gateway))) = (&network.bridge, network.addressing())
        else {
            return Err(EndpointError::NotABridge(network.name.clone()));
        };
        Ok(Endpoint {
            network: network.name.clone(),
            bridge: bridge.clone(),
            subnet,
            gateway,
            address,
            host_veth: host_veth(container_id, &network.id),
            ifname: ifname.to_owned(),
        })
    }

    /// The MAC address of the container's end.
    pub fn mac(&self) -> [u8; 6] {
        mac_for(self.address)
    }

    fn netlink_error(&self) -> impl Fn(NetlinkError) -> EndpointError + '_ {
        |source| EndpointError::Netlink {
            network: self.network.clone(),
            source,
        }
    }
}

/// The host end's name: `veth` + 7 digits of the container's id + 4 of the network's, within
/// the kernel's 15 characters, and the same at every start (so a sweep can tell whose it is).
pub fn host_veth(container_id: &str, network_id: &str) -> String {
    let short = |id: &str, n: usize| id.chars().take(n).collect::<String>();
    format!("veth{}{}", short(container_id, 7), short(network_id, 4))
}

/// The bridge of `network`, made (with the gateway's address, up) if missing; its index.
pub fn ensure_bridge(nl: &mut Netlink, network: &Network) -> Result<i32, EndpointError> {
    let (Some(name), Some((subnet, gateway))) = (&network.bridge, network.addressing()) else {
        return Err(EndpointError::NotABridge(network.name.clone()));
    };
    let error = |source| EndpointError::Netlink {
        network: network.name.clone(),
        source,
    };
    if let Some(link) = nl.link(name).map_err(error)?
        && link.up
    {
        return Ok(link.index);
    }
    // Two starts may race to make it: the loser's EEXIST means it is there.
    ignore(nl.add_bridge(name), Errno::EEXIST).map_err(error)?;
    let index = nl.index(name).map_err(error)?;
    ignore(
        nl.add_address(index, gateway, subnet.prefix()),
        Errno::EEXIST,
    )
    .map_err(error)?;
    nl.set_up(index).map_err(error)?;
    forwarding_on()?;
    Ok(index)
}

/// `sysctl net.ipv4.ip_forward=1`, in the caller's network namespace.
fn forwarding_on() -> Result<(), EndpointError> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(path, "1").map_err(EndpointError::Forwarding)
}

/// Deletes the bridge of `network` (when the network is removed), if it is there.
pub fn remove_bridge(nl: &mut Netlink, network: &Network) -> Result<(), EndpointError> {
    let Some(name) = &network.bridge else {
        return Ok(());
    };
    let error = |source| EndpointError::Netlink {
        network: network.name.clone(),
        source,
    };
    if let Some(link) = nl.link(name).map_err(error)? {
        ignore(nl.delete(link.index), Errno::ENODEV).map_err(error)?;
    }
    Ok(())
}

fn ignore(result: Result<(), NetlinkError>, errno: Errno) -> Result<(), NetlinkError> {
    match result {
        Err(e) if e.errno() == Some(errno) => Ok(()),
        other => other,
    }
}

// ANCHOR: attach
/// Puts the container whose PID 1 is `pid` on the endpoint's network: a veth pair with one
/// end on the bridge and the other in the container's namespace, its address, and (with
/// `default_route`) the route out via the gateway. `bridge` is the bridge's index.
pub fn attach(
    nl: &mut Netlink,
    endpoint: &Endpoint,
    bridge: i32,
    pid: i32,
    default_route: bool,
) -> Result<(), EndpointError> {
    let error = endpoint.netlink_error();
    // The host end is made up, and every round trip to the kernel counts (issue 16's budget
    // is 5 ms for all of a container's network): no lookup first, and no `set_up` after.
    let make = |nl: &mut Netlink| {
        nl.add_veth(
            &endpoint.host_veth,
            Some(bridge),
            &endpoint.ifname,
            Some(endpoint.mac()),
            Some(Namespace::Pid(pid)),
        )
    };
    match make(nl) {
        // A host end left by an earlier start whose container is still being torn down:
        // deleted, then made again.
        Err(e) if e.errno() == Some(Errno::EEXIST) => {
            delete_veth(nl, &endpoint.host_veth).map_err(&error)?;
            make(nl).map_err(&error)?;
        }
        other => other.map_err(&error)?,
    }

    let ns = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let mut inside = Netlink::open_in(&ns).map_err(&error)?;
    let eth = inside.index(&endpoint.ifname).map_err(&error)?;
    inside
        .add_address(eth, endpoint.address, endpoint.subnet.prefix())
        .map_err(&error)?;
    inside.set_up(eth).map_err(&error)?;
    if default_route {
        inside.add_default_route(endpoint.gateway).map_err(&error)?;
    }
    Ok(())
}
// ANCHOR_END: attach

/// Takes a running container off the endpoint's network: deleting the host end of the veth
/// deletes the container's end too. Nothing to do if it is gone already.
pub fn detach(nl: &mut Netlink, endpoint: &Endpoint) -> Result<(), EndpointError> {
    delete_veth(nl, &endpoint.host_veth).map_err(endpoint.netlink_error())
}

/// Deletes the host veth named `name`, if it is there.
pub fn delete_veth(nl: &mut Netlink, name: &str) -> Result<(), NetlinkError> {
    if let Some(link) = nl.link(name)? {
        ignore(nl.delete(link.index), Errno::ENODEV)?;
    }
    Ok(())
}

/// The name of the next interface for a container whose namespace already has `names`:
/// `eth0`, then `eth1`, ...
pub fn next_ifname<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    (0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !names.contains(&n.as_str()))
        .unwrap_or_else(|| "eth0".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_veth_names_fit_the_kernel() {
        let name = host_veth(&"a".repeat(64), &"b".repeat(64));
        assert_eq!(name, "vethaaaaaaabbbb");
        assert!(name.len() <= 15);
    }

    #[test]
    fn interfaces_are_numbered() {
        assert_eq!(next_ifname(["lo"]), "eth0");
        assert_eq!(next_ifname(["lo", "eth0"]), "eth1");
        assert_eq!(next_ifname(["lo", "eth1"]), "eth0");
    }
}
