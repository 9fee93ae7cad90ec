//! The embedded DNS server: containers on a user-defined network find each other by name.
//!
//! On a user-defined network, Docker writes `nameserver 127.0.0.11` in a container's
//! `/etc/resolv.conf`, and answers there from inside dockerd: a name (or a network alias)
//! of a container on one of the asker's networks gets that container's address; any other
//! name is forwarded to the host's own resolvers, from inside the container's network
//! namespace (so a resolver on the host's loopback, such as systemd-resolved's 127.0.0.53,
//! cannot be used: Docker leaves those out). The default `bridge` network has no such
//! server: there, containers know each other only by address (or by `--link`).
//!
//! The server's socket must be *inside* the container's network namespace, where
//! `127.0.0.11` is, while the server runs in the daemon. A socket belongs to the namespace
//! it was created in, whoever uses it later: so [`open_in_netns`] starts a thread that joins
//! the container's namespace (`setns`), creates the sockets there, and hands them back; the
//! daemon then serves them from any thread of its own.
//!
//! The DNS messages are parsed and built here by hand (RFC 1035, section 4): the server
//! needs only a header, one question and A records, which is about a hundred lines and
//! shows what a DNS packet is; a DNS crate would hide exactly that. Only UDP is served: the
//! answers are a few A records, far below the 512 bytes that would need TCP.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

/// Where Docker's embedded DNS server listens in every container on a user-defined network.
pub const EMBEDDED_DNS: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11)), 53);
/// The time to live of the answers, in seconds (Docker's is 600).
const TTL: u32 = 600;
/// How long an upstream resolver may take to answer a forwarded query.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the server looks whether it is being stopped.
const POLL: Duration = Duration::from_millis(200);
/// At most this many addresses in one answer: 12 + a question + 16 per record stays far
/// below UDP's 512 bytes.
const MAX_ANSWERS: usize = 16;

/// Why the DNS server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The container's network namespace could not be joined.
    #[error("cannot join the network namespace {path}")]
    Netns {
        /// The namespace file (`/proc/PID/ns/net`).
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A socket could not be made in it.
    #[error("cannot open the DNS socket {addr} in {netns}")]
    Socket {
        /// The address asked for.
        addr: SocketAddr,
        /// The namespace file.
        netns: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

// ANCHOR: message
/// The types and codes this server uses (RFC 1035 3.2.2, 4.1.1).
const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;
const RCODE_FORMERR: u16 = 1;
const RCODE_SERVFAIL: u16 = 2;
const RCODE_NXDOMAIN: u16 = 3;
const RCODE_NOTIMP: u16 = 4;

/// The parts of a query the server looks at.
#[derive(Debug, PartialEq, Eq)]
pub struct Query {
    /// The asker's id, copied into the answer.
    pub id: u16,
    /// The "recursion desired" bit, copied too.
    pub recursion_desired: bool,
    /// The name asked about, lower-case, without the final dot (`web`, `db.example.com`).
    pub name: String,
    /// The record type (1 = A, 28 = AAAA).
    pub qtype: u16,
    /// The class (1 = IN).
    pub qclass: u16,
    /// Where the question ends in the packet: the answer repeats the question's bytes.
    pub question_end: usize,
}

/// Why a packet is not a query this server can read.
#[derive(Debug, PartialEq, Eq)]
pub enum BadQuery {
    /// Too short, a label past the end, compression in a question: FORMERR.
    Malformed,
    /// A response, another opcode than QUERY, or not exactly one question: NOTIMP.
    NotImplemented,
}

fn u16_at(packet: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]))
}

/// Reads a query: a 12-byte header (id, flags, four counts), then one question (a name as
/// length-prefixed labels ending in a zero length, a type, a class).
pub fn parse_query(packet: &[u8]) -> Result<Query, BadQuery> {
    let id = u16_at(packet, 0).ok_or(BadQuery::Malformed)?;
    let flags = u16_at(packet, 2).ok_or(BadQuery::Malformed)?;
    let questions = u16_at(packet, 4).ok_or(BadQuery::Malformed)?;
    let is_response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    if is_response || opcode != 0 || questions != 1 {
        return Err(BadQuery::NotImplemented);
    }
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*packet.get(at).ok_or(BadQuery::Malformed)?);
        at += 1;
        if len == 0 {
            break;
        }
        // 0xC0: a compression pointer; a question is the first name, it has nothing to
        // point back to. 0x40 and 0x80 are reserved.
        if len & 0xc0 != 0 {
            return Err(BadQuery::Malformed);
        }
        let label = packet.get(at..at + len).ok_or(BadQuery::Malformed)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16_at(packet, at).ok_or(BadQuery::Malformed)?;
    let qclass = u16_at(packet, at + 2).ok_or(BadQuery::Malformed)?;
    Ok(Query {
        id,
        recursion_desired: flags & 0x0100 != 0,
        name: labels.join("."),
        qtype,
        qclass,
        question_end: at + 4,
    })
}

/// Builds the answer to `query` (whose packet is `packet`): the header with QR (a response)
/// and RA (recursion available) set and `rcode`, the question repeated, and one A record per
/// address. Each record names the question by a compression pointer, `0xC00C`: "the name
/// at offset 12", where the question's name starts.
pub fn build_answer(packet: &[u8], query: &Query, rcode: u16, addresses: &[Ipv4Addr]) -> Vec<u8> {
    let addresses = &addresses[..addresses.len().min(MAX_ANSWERS)];
    let mut flags = 0x8000 | 0x0080 | rcode;
    if query.recursion_desired {
        flags |= 0x0100;
    }
    let mut out = Vec::with_capacity(query.question_end + 16 * addresses.len());
    out.extend_from_slice(&query.id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    // One question, the answers, no authority or additional records.
    let answers = addresses.len() as u16; // at most MAX_ANSWERS
    for count in [1, answers, 0, 0] {
        out.extend_from_slice(&count.to_be_bytes());
    }
    out.extend_from_slice(&packet[12..query.question_end]);
    for address in addresses {
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&address.octets());
    }
    out
}

/// The answer to a packet that could not be read: its id (if there is one) and an error
/// code, nothing else.
fn error_answer(packet: &[u8], rcode: u16) -> Option<Vec<u8>> {
    let id = packet.get(0..2)?;
    let mut out = id.to_vec();
    out.extend_from_slice(&(0x8000 | rcode).to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    Some(out)
}
// ANCHOR_END: message

/// What the server knows: the addresses of a name, if it is a container's name or alias on
/// one of the asker's networks (lower-case, without the final dot), or `None`.
pub type Lookup = dyn Fn(&str) -> Option<Vec<Ipv4Addr>> + Send + Sync;

/// A running DNS server for one container; dropping it stops it.
pub struct DnsServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer").finish_non_exhaustive()
    }
}

// ANCHOR: open_in_netns
/// Opens UDP sockets bound to each of `addrs` inside the network namespace `netns` (a
/// `/proc/PID/ns/net` or `/run/netns/NAME` file), on a thread that joins it and ends.
pub fn open_in_netns(netns: &Path, addrs: &[SocketAddr]) -> Result<Vec<UdpSocket>, DnsError> {
    let file = File::open(netns).map_err(|source| DnsError::Netns {
        path: netns.to_path_buf(),
        source,
    })?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // Only this short-lived thread changes namespace; the daemon's threads stay.
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| DnsError::Netns {
                    path: netns.to_path_buf(),
                    source: e.into(),
                })?;
                addrs
                    .iter()
                    .map(|addr| {
                        UdpSocket::bind(addr).map_err(|source| DnsError::Socket {
                            addr: *addr,
                            netns: netns.to_path_buf(),
                            source,
                        })
                    })
                    .collect()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
// ANCHOR_END: open_in_netns

impl DnsServer {
    /// Starts the server of the container whose network namespace is `netns`: listening on
    /// [`EMBEDDED_DNS`] (or `listen`, for tests), answering from `lookup`, forwarding every
    /// other name to `upstreams` in turn (from inside the namespace), and answering NXDOMAIN
    /// when there are none.
    pub fn start(
        netns: &Path,
        listen: SocketAddr,
        upstreams: Vec<SocketAddr>,
        lookup: Arc<Lookup>,
    ) -> Result<DnsServer, DnsError> {
        let any = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        let mut sockets = open_in_netns(netns, &[listen, any])?.into_iter();
        let (Some(server), Some(forward)) = (sockets.next(), sockets.next()) else {
            unreachable!("open_in_netns returns one socket per address");
        };
        let setup = |source| DnsError::Socket {
            addr: listen,
            netns: netns.to_path_buf(),
            source,
        };
        server.set_read_timeout(Some(POLL)).map_err(setup)?;
        forward
            .set_read_timeout(Some(UPSTREAM_TIMEOUT))
            .map_err(setup)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, client)) = server.recv_from(&mut buf) else {
                        continue;
                    };
                    let answer = answer(&buf[..n], &*lookup, &forward, &upstreams);
                    if let Some(answer) = answer {
                        let _ = server.send_to(&answer, client);
                    }
                }
            })
        };
        Ok(DnsServer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ANCHOR: answer
/// The answer to one packet: from `lookup` for a container's name, from an upstream for
/// any other, an error code for what cannot be read.
fn answer(
    packet: &[u8],
    lookup: &Lookup,
    forward: &UdpSocket,
    upstreams: &[SocketAddr],
) -> Option<Vec<u8>> {
    let query = match parse_query(packet) {
        Ok(query) => query,
        Err(BadQuery::Malformed) => return error_answer(packet, RCODE_FORMERR),
        Err(BadQuery::NotImplemented) => return error_answer(packet, RCODE_NOTIMP),
    };
    if query.qclass == CLASS_IN
        && let Some(addresses) = lookup(&query.name)
    {
        // A container's name: its IPv4 addresses for A; for any other type (AAAA) the name
        // exists but has no such record: NOERROR and no answer, as Docker does.
        let addresses = if query.qtype == TYPE_A {
            addresses
        } else {
            Vec::new()
        };
        return Some(build_answer(packet, &query, 0, &addresses));
    }
    if upstreams.is_empty() {
        return Some(build_answer(packet, &query, RCODE_NXDOMAIN, &[]));
    }
    for upstream in upstreams {
        if let Some(reply) = ask_upstream(forward, *upstream, packet, query.id) {
            return Some(reply);
        }
    }
    Some(build_answer(packet, &query, RCODE_SERVFAIL, &[]))
}
// ANCHOR_END: answer

/// Sends the query as it came, and waits for the upstream's reply to it (same source, same
/// id); late replies to earlier queries are skipped. One query at a time: a lesson's
/// simplicity, paid for by a slow upstream holding up the container's other lookups.
fn ask_upstream(
    forward: &UdpSocket,
    upstream: SocketAddr,
    packet: &[u8],
    id: u16,
) -> Option<Vec<u8>> {
    forward.send_to(packet, upstream).ok()?;
    let deadline = Instant::now() + UPSTREAM_TIMEOUT;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let (n, from) = forward.recv_from(&mut buf).ok()?;
        if from == upstream && u16_at(&buf[..n], 0) == Some(id) {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as `dig web` sends it: id 0x1234, RD, one question `web IN A`.
    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    #[test]
    fn a_query_is_read_and_answered_byte_for_byte() {
        let packet = query("Web.Net", TYPE_A);
        let q = parse_query(&packet).unwrap();
        assert_eq!(q.name, "web.net");
        assert_eq!((q.id, q.qtype, q.question_end), (0x1234, 1, packet.len()));
        let answer = build_answer(&packet, &q, 0, &[Ipv4Addr::new(10, 0, 0, 2)]);
        let mut want = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        want.extend_from_slice(&packet[12..]);
        want.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x02, 0x58, 0, 4, 10, 0, 0, 2]);
        assert_eq!(answer, want);
    }

    #[test]
    fn bad_packets_get_error_codes_not_panics() {
        assert_eq!(parse_query(&[1, 2, 3]), Err(BadQuery::Malformed));
        let mut truncated = query("web", TYPE_A);
        truncated.truncate(15);
        assert_eq!(parse_query(&truncated), Err(BadQuery::Malformed));
        let mut pointer = query("web", TYPE_A);
        pointer[12] = 0xc0;
        assert_eq!(parse_query(&pointer), Err(BadQuery::Malformed));
        let mut response = query("web", TYPE_A);
        response[2] |= 0x80;
        assert_eq!(parse_query(&response), Err(BadQuery::NotImplemented));
        assert_eq!(
            error_answer(&response, RCODE_NOTIMP).unwrap(),
            [0x12, 0x34, 0x80, 0x04, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(error_answer(&[7], RCODE_FORMERR), None);
    }
}
