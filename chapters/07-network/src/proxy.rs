//! The userland proxy: published ports on the host's loopback, as `docker-proxy` serves them.
//!
//! A DNAT rule rewrites a packet's destination as it arrives, in the `prerouting` and
//! `output` hooks (see [`crate::firewall`]). A connection to `127.0.0.1:8080` would need its
//! destination rewritten to the container's address while its source stays `127.0.0.1`, and
//! the kernel drops such a "martian" packet on the bridge unless `route_localnet` is set
//! (which opens the loopback network to anything that can route to the host, CVE-2020-8558).
//! So dockerd starts a small program per published port, `docker-proxy`, that listens on the
//! host port and copies each connection (or each client's datagrams) to the container: a
//! userland proxy. It also holds the port, so nothing else can take it.
//!
//! Berth's proxy is the same thing as a library: [`Proxy::start`] takes the socket
//! [`crate::ports::allocate`] bound, and serves it on threads of the calling process until
//! the [`Proxy`] is dropped. Where it should run: not in the daemon, since a published port
//! must keep answering while the daemon is killed and restarted. Docker pays for that with
//! one process per published port. Berth runs the proxies in the container's *monitor*
//! (chapter 4), the process that already lives exactly as long as the container runs,
//! survives a `kill -9` of the daemon, and is in the daemon's (the host's) network
//! namespace: no process to start, track or sweep per port, and when the container ends the
//! ports are let go with the monitor.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::ports::HeldSocket;

/// How long a connection to the container may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a UDP client may be silent before its flow is forgotten (docker-proxy: 90 s).
pub const UDP_IDLE: Duration = Duration::from_secs(90);
/// How often the accept and receive loops look whether the proxy is being stopped.
const POLL: Duration = Duration::from_millis(200);
/// The largest UDP datagram.
const DATAGRAM: usize = 65_535;

/// Why a proxy could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The held socket could not be prepared for serving.
    #[error("cannot serve {listen} for {target}")]
    Setup {
        /// The host address and port.
        listen: String,
        /// The container's address and port.
        target: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// A running proxy for one published port; dropping it stops it and lets the port go.
#[derive(Debug)]
pub struct Proxy {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    // ANCHOR: start
    /// Serves `socket` (a held host port), copying every TCP connection or every UDP
    /// client's datagrams to `target`, the container's address and port.
    pub fn start(socket: HeldSocket, target: SocketAddr) -> Result<Proxy, ProxyError> {
        let stop = Arc::new(AtomicBool::new(false));
        let setup_error = |listen: io::Result<SocketAddr>, source| ProxyError::Setup {
            listen: listen.map(|a| a.to_string()).unwrap_or_default(),
            target,
            source,
        };
        let thread = match socket {
            HeldSocket::Tcp(listener) => {
                // Non-blocking accept with a short sleep: the loop can see `stop` without
                // a second thread to wake it.
                listener
                    .set_nonblocking(true)
                    .map_err(|e| setup_error(listener.local_addr(), e))?;
                let stop = stop.clone();
                std::thread::spawn(move || serve_tcp(listener, target, &stop))
            }
            HeldSocket::Udp(socket) => {
                socket
                    .set_read_timeout(Some(POLL))
                    .map_err(|e| setup_error(socket.local_addr(), e))?;
                let stop = stop.clone();
                std::thread::spawn(move || serve_udp(socket, target, &stop, UDP_IDLE))
            }
        };
        Ok(Proxy {
            stop,
            thread: Some(thread),
        })
    }
    // ANCHOR_END: start
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The loop ends within one POLL; its socket closes with it. Connections already
        // copied on their own threads run to their end, as docker-proxy's do.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_tcp(listener: TcpListener, target: SocketAddr, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((client, _)) => {
                std::thread::spawn(move || {
                    // A container that does not answer: close the client's connection, as
                    // docker-proxy does, rather than leave it hanging.
                    if let Ok(backend) = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) {
                        splice_tcp(client, backend);
                    }
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL / 4),
            // EMFILE and the like: wait a little rather than spin.
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Copies both ways until both sides have finished; a side that ends its writing (a
/// half-close, `shutdown(SHUT_WR)`) is passed on as one, so request-then-EOF protocols work.
fn splice_tcp(client: TcpStream, backend: TcpStream) {
    let _ = client.set_nonblocking(false);
    let (Ok(client2), Ok(backend2)) = (client.try_clone(), backend.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || copy_then_half_close(client, backend));
    copy_then_half_close(backend2, client2);
    let _ = up.join();
}

fn copy_then_half_close(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

// ANCHOR: udp
/// UDP has no connections: the proxy keeps one *flow* per client address, a socket
/// connected to the container, and a thread that sends the container's answers back to that
/// client from the published port, until the flow has been idle for `idle`.
fn serve_udp(socket: UdpSocket, target: SocketAddr, stop: &Arc<AtomicBool>, idle: Duration) {
    let socket = Arc::new(socket);
    let flows: Arc<Mutex<HashMap<SocketAddr, UdpSocket>>> = Arc::default();
    let mut threads = Vec::new();
    let mut buf = vec![0u8; DATAGRAM];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, client)) = socket.recv_from(&mut buf) else {
            continue; // the poll timeout, or an ICMP error reported on the socket
        };
        let mut table = flows.lock().unwrap_or_else(|p| p.into_inner());
        let flow = match table.entry(client) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let Ok(flow) = open_flow(target) else {
                    continue;
                };
                let Ok(replies) = flow.try_clone() else {
                    continue;
                };
                let (socket, flows, stop) = (socket.clone(), flows.clone(), stop.clone());
                threads.push(std::thread::spawn(move || {
                    answer_flow(&replies, &socket, client, &stop, idle);
                    flows
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&client);
                }));
                entry.insert(flow)
            }
        };
        let _ = flow.send(&buf[..n]);
        drop(table);
        threads.retain(|t| !t.is_finished());
    }
    // Every flow thread holds the published socket: wait for them, so that the port is let
    // go when `Proxy` is dropped, not some time later.
    for thread in threads {
        let _ = thread.join();
    }
}
// ANCHOR_END: udp

/// Sends the container's answers on `flow` back to `client` until the flow is idle or the
/// proxy stops.
fn answer_flow(
    flow: &UdpSocket,
    socket: &UdpSocket,
    client: SocketAddr,
    stop: &AtomicBool,
    idle: Duration,
) {
    let mut buf = vec![0u8; DATAGRAM];
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) && last.elapsed() < idle {
        match flow.recv(&mut buf) {
            Ok(n) => {
                last = Instant::now();
                let _ = socket.send_to(&buf[..n], client);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            // ECONNREFUSED: nothing listens in the container (yet); keep the flow.
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

fn open_flow(target: SocketAddr) -> io::Result<UdpSocket> {
    let any: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().map_err(io::Error::other)?
    } else {
        "[::]:0".parse().map_err(io::Error::other)?
    };
    let flow = UdpSocket::bind(any)?;
    flow.connect(target)?;
    flow.set_read_timeout(Some(POLL))?;
    Ok(flow)
}
