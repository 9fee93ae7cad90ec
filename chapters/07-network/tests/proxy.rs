//! The userland proxy answers published ports on the host's loopback, in a namespace of the
//! test's own (the DNAT rules never see loopback connections: see `firewall.rs`).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use berth_network::ports;
use berth_network::proxy::Proxy;
use common::lab::{fetch, fetch_eventually, lab, udp_echo};

fn start(spec: &str, target: &str) -> Proxy {
    let mapping = ports::parse_publish(spec).unwrap();
    let mut held = ports::allocate(&mapping, (40000, 40100), 40000).unwrap();
    Proxy::start(held.remove(0).socket, target.parse().unwrap()).unwrap()
}

#[test]
fn loopback_connections_reach_the_container_over_tcp_and_udp_until_the_proxy_stops() {
    let lab = lab("proxy");
    // Without the proxy, nothing answers on loopback (and no DNAT rule would help).
    assert_eq!(lab.host.run(|| fetch("127.0.0.1:8080")), None);
    let (tcp, udp) = lab.host.run(|| {
        (
            start("8080:80", "10.77.1.2:80"),
            start("5353:53/udp", "10.77.1.2:53"),
        )
    });
    // The container sees the proxy, from the host's address on its bridge.
    let got = lab.host.run(|| fetch_eventually("127.0.0.1:8080"));
    assert_eq!(got.as_deref(), Some("ctr to 10.77.1.1"));
    let got = lab.host.run(|| {
        let first = udp_echo("127.0.0.1:5353");
        let second = udp_echo("127.0.0.1:5353");
        (first, second)
    });
    assert_eq!(got.0.as_deref(), Some(&b"ping"[..]));
    assert_eq!(got.1.as_deref(), Some(&b"ping"[..]));

    // Stopped: the ports are let go.
    drop(tcp);
    drop(udp);
    lab.host.run(|| {
        TcpListener::bind("0.0.0.0:8080").expect("8080 still held after the proxy stopped");
        std::net::UdpSocket::bind("0.0.0.0:5353").expect("5353 still held");
    });
}

#[test]
fn a_half_close_is_passed_on() {
    let lab = lab("proxy-half");
    // A server that reads the whole request (to EOF) before it answers, like `nc -q`.
    let listener = lab.ctr.run(|| TcpListener::bind("0.0.0.0:7").unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let _ = stream.read_to_end(&mut request);
            let _ = stream.write_all(&[b"got ".as_slice(), &request].concat());
        }
    });
    let _proxy = lab.host.run(|| start("8007:7", "10.77.1.2:7"));
    let answer = lab.host.run(|| {
        let mut stream = TcpStream::connect("127.0.0.1:8007").unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(b"hello").unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    });
    assert_eq!(answer, "got hello");
}
