//! A small laboratory: a "host" namespace with a bridge, a stand-in container on it that
//! serves TCP 80 and UDP 53 (echo), and a peer outside; and the clients the tests use.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_network::firewall::Firewall;

use super::netns::Netns;

/// Answers every connection with `greeting` and the address it came from.
pub fn serve_tcp(listener: TcpListener, greeting: &'static str) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let from = stream
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            let _ = write!(stream, "{greeting} to {from}");
        }
    });
}

/// Like [`fetch`], retried for up to five seconds: for what must answer, on a busy machine.
pub fn fetch_eventually(addr: &str) -> Option<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = fetch(addr);
        if got.is_some() || std::time::Instant::now() > deadline {
            return got;
        }
    }
}

/// Connects, reads what the server says; `None` when nothing answers within a second.
pub fn fetch(addr: &str) -> Option<String> {
    let addr: SocketAddr = addr.parse().unwrap();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}

/// The host, one bridge `br-a` (10.77.1.0/24) with a container at .2 serving TCP 80 and
/// UDP 53 (echo), and a peer outside at 10.99.0.2 (the host is 10.99.0.1 there).
pub struct Lab {
    pub host: Netns,
    pub ctr: Netns,
    pub peer: Netns,
    pub state: tempfile::TempDir,
    /// Who sent the container's UDP server a datagram.
    pub udp_senders: Arc<Mutex<Vec<IpAddr>>>,
}

pub fn lab(tag: &str) -> Lab {
    let host = Netns::new(&format!("{tag}-h"));
    host.sysctl("net.ipv4.ip_forward", "1");
    host.bridge("br-a", "10.77.1.1");
    let ctr = host.container(
        &format!("{tag}-c"),
        "br-a",
        "veth-a",
        "10.77.1.2",
        "10.77.1.1",
    );
    let peer = host.peer(&format!("{tag}-p"), "veth-p", "10.99.0.1", "10.99.0.2");
    serve_tcp(ctr.run(|| TcpListener::bind("0.0.0.0:80").unwrap()), "ctr");
    let udp = ctr.run(|| UdpSocket::bind("0.0.0.0:53").unwrap());
    let udp_senders = Arc::new(Mutex::new(Vec::new()));
    let senders = udp_senders.clone();
    std::thread::spawn(move || {
        let mut buf = [0; 512];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            senders.lock().unwrap().push(from.ip());
            let _ = udp.send_to(&buf[..n], from);
        }
    });
    Lab {
        host,
        ctr,
        peer,
        state: tempfile::tempdir().unwrap(),
        udp_senders,
    }
}

/// Sends one datagram to `addr` and waits up to two seconds for its echo.
pub fn udp_echo(addr: &str) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket.send_to(b"ping", addr).unwrap();
    let mut buf = [0; 16];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    Some(buf[..n].to_vec())
}

impl Lab {
    /// The firewall, opened in the host namespace (where it then acts, from any thread).
    pub fn firewall(&self) -> Firewall {
        let path = self.state.path().join("firewall.json");
        self.host.run(|| Firewall::open(&path, "berth").unwrap())
    }

    pub fn ruleset(&self) -> String {
        String::from_utf8(self.host.exec(&["nft", "list", "ruleset"]).stdout).unwrap()
    }
}
