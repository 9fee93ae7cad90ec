//! Talking to the kernel's routing socket: what `ip link add` sends.
//!
//! Docker's daemon (through its `libnetwork` and the `vishvananda/netlink` library) makes its
//! bridge, veth pairs, addresses and routes the way `ip` does: not with a program, but with
//! messages on a `NETLINK_ROUTE` socket. A netlink message is a fixed header followed by a
//! fixed struct for the kind of object (a link, an address, a route) and then a list of
//! attributes, each a small type-length-value record, some of them nested:
//!
//! ```text
//! nlmsghdr   { len: u32, type: u16 (RTM_NEWLINK), flags: u16 (REQUEST|ACK|CREATE|EXCL),
//!              seq: u32, pid: u32 }                                   16 bytes
//! ifinfomsg  { family: u8, pad: u8, type: u16, index: i32, flags: u32, change: u32 }  16
//! rtattr     { len: u16, type: u16 (IFLA_IFNAME) } "veth1a2b3c\0" (padded to 4 bytes)
//! rtattr     { IFLA_LINKINFO }                                        nested:
//!   rtattr   { IFLA_INFO_KIND } "veth\0"
//!   rtattr   { IFLA_INFO_DATA }                                       nested:
//!     rtattr { VETH_INFO_PEER } ifinfomsg + rtattr { IFLA_IFNAME } "eth0\0" ...
//! ```
//!
//! The kernel answers every request that asks for an acknowledgement (`NLM_F_ACK`) with an
//! `NLMSG_ERROR` message whose error is 0 on success or a negative errno. This module writes
//! those messages by hand, on a blocking socket: the whole of a container's network set-up is
//! a handful of round trips of a few microseconds each, where running `ip` would cost a
//! fork and an exec (milliseconds) per call.
//!
//! A netlink socket belongs to the network namespace its creator was in when it was made.
//! [`Netlink::open_in`] makes one inside another namespace (a container's) from a short-lived
//! thread that enters it: `setns` changes only the calling thread's namespace, so the rest of
//! the process stays where it was.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use nix::errno::Errno;

/// Why a netlink request failed.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("opening a netlink socket: {0}")]
    Socket(#[source] Errno),
    #[error("{what}: {source}")]
    Request {
        what: String,
        #[source]
        source: Errno,
    },
    #[error("{what}: the kernel's answer is malformed")]
    Malformed { what: String },
    #[error("entering network namespace {path}: {source}")]
    EnterNamespace {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no network device named {0:?}")]
    NoSuchLink(String),
}

impl NetlinkError {
    /// The errno the kernel answered, if it was the kernel that refused.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            NetlinkError::Request { source, .. } | NetlinkError::Socket(source) => Some(*source),
            _ => None,
        }
    }
}

// The constants of <linux/rtnetlink.h> and <linux/if_link.h> that libc does not have (or
// has only for some targets).
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_PID: u16 = 19;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_GATEWAY: u16 = 5;
const NLA_F_NESTED: u16 = 1 << 15;

/// The size of `struct nlmsghdr`.
const HEADER: usize = 16;

/// Where a link is to be moved: the network namespace of a process, or one open as a file
/// (`/proc/<pid>/ns/net`, `/run/netns/<name>`).
#[derive(Clone, Copy, Debug)]
pub enum Namespace<'a> {
    /// The namespace of the process with this pid.
    Pid(i32),
    /// The namespace open as this descriptor.
    Fd(std::os::fd::BorrowedFd<'a>),
}

/// One network device, as `ip link show` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Its index in its namespace.
    pub index: i32,
    /// Its name.
    pub name: String,
    /// The index of the bridge it is a port of, if any.
    pub master: Option<i32>,
    /// Whether it is up (`IFF_UP`).
    pub up: bool,
}

/// A message being built: the header, the fixed struct, then attributes, each padded to 4.
struct Message {
    buf: Vec<u8>,
    /// The offsets of the nested attributes still open (their length is written at close).
    open: Vec<usize>,
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

impl Message {
    fn new(kind: u16, flags: u16) -> Message {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, written by `finish`
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | libc::NLM_F_REQUEST as u16).to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // sequence number, written by `send`
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: 0, the kernel
        Message {
            buf,
            open: Vec::new(),
        }
    }

    fn pad(&mut self) {
        self.buf.resize(align(self.buf.len()), 0);
    }

    /// `struct ifinfomsg`: which link (0: a new one), its flags and which of them to change.
    fn ifinfo(&mut self, index: i32, flags: u32, change: u32) -> &mut Message {
        self.buf.push(libc::AF_UNSPEC as u8);
        self.buf.push(0);
        self.buf.extend_from_slice(&0u16.to_ne_bytes()); // device type
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
        self
    }

    fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Message {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    fn attr_str(&mut self, kind: u16, value: &str) -> &mut Message {
        let mut data = Vec::with_capacity(value.len() + 1);
        data.extend_from_slice(value.as_bytes());
        data.push(0);
        self.attr(kind, &data)
    }

    fn attr_u32(&mut self, kind: u16, value: u32) -> &mut Message {
        self.attr(kind, &value.to_ne_bytes())
    }

    /// Opens a nested attribute: those added until [`Message::end`] are inside it.
    fn begin(&mut self, kind: u16) -> &mut Message {
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    fn end(&mut self) -> &mut Message {
        if let Some(start) = self.open.pop() {
            let len = (self.buf.len() - start) as u16;
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    fn finish(&mut self, seq: u32) -> &[u8] {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        &self.buf
    }
}

/// `struct ifaddrmsg` + `struct rtmsg` helpers for IPv4.
fn ifaddr(message: &mut Message, prefix: u8, index: i32) {
    message.buf.push(libc::AF_INET as u8);
    message.buf.push(prefix);
    message.buf.push(0); // flags
    message.buf.push(libc::RT_SCOPE_UNIVERSE);
    message.buf.extend_from_slice(&(index as u32).to_ne_bytes());
}

/// A `NETLINK_ROUTE` socket, bound to the network namespace it was opened in.
#[derive(Debug)]
pub struct Netlink {
    socket: OwnedFd,
    seq: u32,
}

impl Netlink {
    /// A socket in the caller's network namespace.
    pub fn open() -> Result<Netlink, NetlinkError> {
        // SAFETY: socket(2) with constant arguments; the descriptor is owned at once.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(NetlinkError::Socket(Errno::last()));
        }
        // SAFETY: `raw` is a descriptor we just made and nobody else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Netlink { socket, seq: 0 })
    }

    /// A socket inside the network namespace at `path` (`/proc/<pid>/ns/net`): made by a
    /// thread that enters the namespace and ends, so this process stays where it is.
    pub fn open_in(path: &std::path::Path) -> Result<Netlink, NetlinkError> {
        let ns = std::fs::File::open(path).map_err(|source| NetlinkError::EnterNamespace {
            path: path.to_owned(),
            source,
        })?;
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(
                        |e| NetlinkError::EnterNamespace {
                            path: path.to_owned(),
                            source: e.into(),
                        },
                    )?;
                    Netlink::open()
                })
                .join()
                .unwrap_or(Err(NetlinkError::Socket(Errno::EINTR)))
        })
    }

    /// Sends `message` and reads the kernel's answers until the acknowledgement (or, for a
    /// dump, `NLMSG_DONE`), calling `each` with every data message's payload.
    fn request(
        &mut self,
        what: &dyn Fn() -> String,
        message: &mut Message,
        mut each: impl FnMut(u16, &[u8]),
    ) -> Result<(), NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = message.finish(seq);
        let fd = self.socket.as_raw_fd();
        // SAFETY: send(2) of a buffer we own; the kernel is the destination (no address).
        let sent = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), 0) };
        if sent < 0 {
            return Err(NetlinkError::Request {
                what: what(),
                source: Errno::last(),
            });
        }
        let malformed = || NetlinkError::Malformed { what: what() };
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            // SAFETY: recv(2) into a buffer we own, of its length.
            let got = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if got < 0 {
                let errno = Errno::last();
                if errno == Errno::EINTR {
                    continue;
                }
                return Err(NetlinkError::Request {
                    what: what(),
                    source: errno,
                });
            }
            let mut rest = &buf[..got as usize];
            while rest.len() >= HEADER {
                let len =
                    u32::from_ne_bytes(rest[0..4].try_into().map_err(|_| malformed())?) as usize;
                let kind = u16::from_ne_bytes([rest[4], rest[5]]);
                let their_seq =
                    u32::from_ne_bytes(rest[8..12].try_into().map_err(|_| malformed())?);
                if len < HEADER || len > rest.len() {
                    return Err(malformed());
                }
                let payload = &rest[HEADER..len];
                rest = &rest[align(len).min(rest.len())..];
                if their_seq != seq {
                    continue; // an answer to an earlier request that gave up
                }
                match i32::from(kind) {
                    libc::NLMSG_DONE => return Ok(()),
                    libc::NLMSG_ERROR => {
                        let code = payload
                            .get(0..4)
                            .and_then(|b| b.try_into().ok())
                            .map(i32::from_ne_bytes)
                            .ok_or_else(malformed)?;
                        if code == 0 {
                            return Ok(());
                        }
                        return Err(NetlinkError::Request {
                            what: what(),
                            source: Errno::from_raw(-code),
                        });
                    }
                    _ => each(kind, payload),
                }
            }
        }
    }

    fn ack(
        &mut self,
        what: impl Fn() -> String,
        message: &mut Message,
    ) -> Result<(), NetlinkError> {
        self.request(&what, message, |_, _| {})
    }

    // ANCHOR: bridge
    /// `ip link add NAME type bridge`.
    pub fn add_bridge(&mut self, name: &str) -> Result<(), NetlinkError> {
        let create = (libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
        let mut message = Message::new(libc::RTM_NEWLINK, create);
        message
            .ifinfo(0, 0, 0)
            .attr_str(IFLA_IFNAME, name)
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "bridge")
            .end();
        self.ack(|| format!("creating bridge {name}"), &mut message)
    }
    // ANCHOR_END: bridge

    // ANCHOR: veth
    /// `ip link add HOST [master BRIDGE] up type veth peer name PEER [address MAC] netns NS`:
    /// a veth pair whose `host` end stays here (a port of bridge `master`, if given) and
    /// whose `peer` end is made directly in namespace `peer_ns` with the MAC address `mac`.
    /// The host end is created up (its `ifinfomsg` asks for `IFF_UP`: no lookup and no
    /// `set_up` after, two round trips fewer per container); the peer is created down, so
    /// that it can still be renamed or configured before it carries traffic.
    pub fn add_veth(
        &mut self,
        host: &str,
        master: Option<i32>,
        peer: &str,
        peer_mac: Option<[u8; 6]>,
        peer_ns: Option<Namespace<'_>>,
    ) -> Result<(), NetlinkError> {
        let create = (libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
        let up = libc::IFF_UP as u32;
        let mut message = Message::new(libc::RTM_NEWLINK, create);
        message.ifinfo(0, up, up).attr_str(IFLA_IFNAME, host);
        if let Some(master) = master {
            message.attr_u32(IFLA_MASTER, master as u32);
        }
        message
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "veth")
            .begin(IFLA_INFO_DATA)
            // The peer is described by a whole ifinfomsg + attributes of its own.
            .begin(VETH_INFO_PEER)
            .ifinfo(0, 0, 0)
            .attr_str(IFLA_IFNAME, peer);
        if let Some(mac) = peer_mac {
            message.attr(IFLA_ADDRESS, &mac);
        }
        match peer_ns {
            Some(Namespace::Pid(pid)) => message.attr_u32(IFLA_NET_NS_PID, pid as u32),
            Some(Namespace::Fd(fd)) => message.attr_u32(IFLA_NET_NS_FD, fd.as_raw_fd() as u32),
            None => &mut message,
        };
        message.end().end().end();
        self.ack(|| format!("creating veth pair {host}/{peer}"), &mut message)
    }
    // ANCHOR_END: veth

    /// `ip link set NAME netns NS`.
    pub fn move_to(&mut self, index: i32, ns: Namespace<'_>) -> Result<(), NetlinkError> {
        let mut message = Message::new(libc::RTM_NEWLINK, libc::NLM_F_ACK as u16);
        message.ifinfo(index, 0, 0);
        match ns {
            Namespace::Pid(pid) => message.attr_u32(IFLA_NET_NS_PID, pid as u32),
            Namespace::Fd(fd) => message.attr_u32(IFLA_NET_NS_FD, fd.as_raw_fd() as u32),
        };
        self.ack(
            || format!("moving link {index} to another namespace"),
            &mut message,
        )
    }

    /// `ip link set dev OLD name NEW` (the link must be down).
    pub fn rename(&mut self, index: i32, name: &str) -> Result<(), NetlinkError> {
        let mut message = Message::new(libc::RTM_NEWLINK, libc::NLM_F_ACK as u16);
        message.ifinfo(index, 0, 0).attr_str(IFLA_IFNAME, name);
        self.ack(|| format!("renaming link {index} to {name}"), &mut message)
    }

    /// `ip link set dev NAME mtu MTU`.
    pub fn set_mtu(&mut self, index: i32, mtu: u32) -> Result<(), NetlinkError> {
        let mut message = Message::new(libc::RTM_NEWLINK, libc::NLM_F_ACK as u16);
        message.ifinfo(index, 0, 0).attr_u32(IFLA_MTU, mtu);
        self.ack(|| format!("setting the mtu of link {index}"), &mut message)
    }

    /// `ip link set dev NAME up`.
    pub fn set_up(&mut self, index: i32) -> Result<(), NetlinkError> {
        let up = libc::IFF_UP as u32;
        let mut message = Message::new(libc::RTM_NEWLINK, libc::NLM_F_ACK as u16);
        message.ifinfo(index, up, up);
        self.ack(|| format!("bringing link {index} up"), &mut message)
    }

    /// `ip link del NAME` (a veth's peer goes with it).
    pub fn delete(&mut self, index: i32) -> Result<(), NetlinkError> {
        let mut message = Message::new(libc::RTM_DELLINK, libc::NLM_F_ACK as u16);
        message.ifinfo(index, 0, 0);
        self.ack(|| format!("deleting link {index}"), &mut message)
    }

    // ANCHOR: address
    /// `ip addr add ADDRESS/PREFIX dev INDEX`.
    pub fn add_address(
        &mut self,
        index: i32,
        address: std::net::Ipv4Addr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        let create = (libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
        let mut message = Message::new(libc::RTM_NEWADDR, create);
        ifaddr(&mut message, prefix, index);
        message
            .attr(IFA_LOCAL, &address.octets())
            .attr(IFA_ADDRESS, &address.octets());
        self.ack(
            || format!("adding address {address}/{prefix} to link {index}"),
            &mut message,
        )
    }
    // ANCHOR_END: address

    /// `ip route add default via GATEWAY`.
    pub fn add_default_route(&mut self, gateway: std::net::Ipv4Addr) -> Result<(), NetlinkError> {
        let create = (libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
        let mut message = Message::new(libc::RTM_NEWROUTE, create);
        // struct rtmsg: family, dst_len (0: default), src_len, tos, table, protocol, scope,
        // type, flags.
        message.buf.extend_from_slice(&[
            libc::AF_INET as u8,
            0,
            0,
            0,
            libc::RT_TABLE_MAIN,
            libc::RTPROT_BOOT,
            libc::RT_SCOPE_UNIVERSE,
            libc::RTN_UNICAST,
        ]);
        message.buf.extend_from_slice(&0u32.to_ne_bytes());
        message.attr(RTA_GATEWAY, &gateway.octets());
        self.ack(
            || format!("adding a default route via {gateway}"),
            &mut message,
        )
    }

    /// `ip link show`: every link of the socket's namespace.
    pub fn links(&mut self) -> Result<Vec<Link>, NetlinkError> {
        let mut message = Message::new(libc::RTM_GETLINK, libc::NLM_F_DUMP as u16);
        message.ifinfo(0, 0, 0);
        let mut links = Vec::new();
        self.request(
            &|| "listing links".to_owned(),
            &mut message,
            |kind, payload| {
                if kind == libc::RTM_NEWLINK
                    && let Some(link) = parse_link(payload)
                {
                    links.push(link);
                }
            },
        )?;
        Ok(links)
    }

    /// The link named `name`, if there is one.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>, NetlinkError> {
        let mut message = Message::new(libc::RTM_GETLINK, libc::NLM_F_ACK as u16);
        message.ifinfo(0, 0, 0).attr_str(IFLA_IFNAME, name);
        let mut found = None;
        let result = self.request(
            &|| format!("looking up link {name}"),
            &mut message,
            |kind, payload| {
                if kind == libc::RTM_NEWLINK {
                    found = parse_link(payload);
                }
            },
        );
        match result {
            // A missing name is the kernel's ENODEV.
            Err(e) if e.errno() == Some(Errno::ENODEV) => Ok(None),
            Err(e) => Err(e),
            Ok(()) => Ok(found),
        }
    }

    /// The index of the link named `name`, or [`NetlinkError::NoSuchLink`].
    pub fn index(&mut self, name: &str) -> Result<i32, NetlinkError> {
        self.link(name)?
            .map(|l| l.index)
            .ok_or_else(|| NetlinkError::NoSuchLink(name.to_owned()))
    }
}

/// A link from an `RTM_NEWLINK` answer: `ifinfomsg`, then attributes.
fn parse_link(payload: &[u8]) -> Option<Link> {
    let index = i32::from_ne_bytes(payload.get(4..8)?.try_into().ok()?);
    let flags = u32::from_ne_bytes(payload.get(8..12)?.try_into().ok()?);
    let mut name = None;
    let mut master = None;
    let mut rest = payload.get(16..)?;
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & !NLA_F_NESTED;
        if len < 4 || len > rest.len() {
            break;
        }
        let data = &rest[4..len];
        match kind {
            IFLA_IFNAME => {
                let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
                name = Some(String::from_utf8_lossy(&data[..end]).into_owned());
            }
            IFLA_MASTER => master = Some(i32::from_ne_bytes(data.get(0..4)?.try_into().ok()?)),
            _ => {}
        }
        rest = &rest[align(len).min(rest.len())..];
    }
    Some(Link {
        index,
        name: name?,
        master,
        up: flags & libc::IFF_UP as u32 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_carry_their_length() {
        let mut message = Message::new(libc::RTM_NEWLINK, 0);
        message
            .ifinfo(0, 0, 0)
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "veth")
            .end();
        let bytes = message.finish(7).to_vec();
        // header 16 + ifinfomsg 16 + linkinfo 4 + kind (4 + "veth\0" padded to 8) = 48
        assert_eq!(bytes.len(), 48);
        assert_eq!(u32::from_ne_bytes(bytes[0..4].try_into().unwrap()), 48);
        assert_eq!(u32::from_ne_bytes(bytes[8..12].try_into().unwrap()), 7);
        let linkinfo = &bytes[32..];
        assert_eq!(u16::from_ne_bytes([linkinfo[0], linkinfo[1]]), 16);
        assert_eq!(
            u16::from_ne_bytes([linkinfo[2], linkinfo[3]]),
            IFLA_LINKINFO | NLA_F_NESTED
        );
        assert_eq!(&linkinfo[8..13], b"veth\0");
    }

    #[test]
    fn a_link_is_read_from_its_attributes() {
        let mut message = Message::new(libc::RTM_NEWLINK, 0);
        message
            .ifinfo(5, libc::IFF_UP as u32, 0)
            .attr_str(IFLA_IFNAME, "eth0")
            .attr_u32(IFLA_MASTER, 3);
        let bytes = message.finish(1).to_vec();
        let link = parse_link(&bytes[HEADER..]).expect("a link");
        assert_eq!(
            link,
            Link {
                index: 5,
                name: "eth0".into(),
                master: Some(3),
                up: true
            }
        );
    }
}
