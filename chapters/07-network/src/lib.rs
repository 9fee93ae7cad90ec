//! Chapter 7: networks.
//!
//! Until this chapter a container has a network namespace of its own with nothing in it but
//! `lo`. Docker gives it a place on a network: a bridge on the host, a veth pair whose one end
//! becomes the container's `eth0`, an address, a default route, NAT out, published ports in,
//! and on user-defined networks a DNS server that knows the other containers by name.
//!
//! The modules, in the order the chapter teaches them (each opens with what it is in Docker):
//!
//! - [`netlink`]: talking to the kernel's routing socket, the way `ip link`/`ip addr` do;
//! - [`ipam`]: addresses handed out from a subnet, kept across daemon restarts;
//! - [`network`]: networks (the default `bridge` and user-defined ones) and their store;
//! - [`endpoint`]: one container on one network: its veth pair, address and route;
//! - [`files`]: the container's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`;
//! - [`ports`]: published ports (`-p`, `-P`) as the user types them and as Docker's API sends them;
//! - [`firewall`]: masquerade, DNAT and isolation rules, in a table of Berth's own;
//! - [`proxy`]: the userland proxy for connections to the host's loopback (as docker-proxy);
//! - [`dns`]: the embedded DNS server on user-defined networks (Docker's 127.0.0.11);
//! - [`counters`]: each interface's traffic counters, for `docker stats`;
//! - [`engine`]: all of it plugged into chapter 4's engine as an extension.

pub mod counters;
pub mod dns;
pub mod endpoint;
pub mod engine;
pub mod files;
pub mod firewall;
pub mod ipam;
pub mod netlink;
pub mod network;
pub mod ports;
pub mod proxy;
