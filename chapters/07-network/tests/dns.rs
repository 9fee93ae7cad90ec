//! The embedded DNS server, in a stand-in container's namespace, asked by busybox's
//! `nslookup` (a client that is not ours), with a fake upstream resolver on that namespace's
//! loopback: no query leaves the test's namespaces.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_network::dns::{self, DnsServer, EMBEDDED_DNS};
use common::netns::Netns;

/// A resolver that answers every A query with 192.0.2.7 and remembers what it was asked.
fn fake_upstream(ns: &Netns) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let socket = ns.run(|| UdpSocket::bind("127.0.0.1:0").unwrap());
    let addr = socket.local_addr().unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let Ok(query) = dns::parse_query(&buf[..n]) else {
                continue;
            };
            seen.lock()
                .unwrap()
                .push(format!("{} {}", query.name, query.qtype));
            let addresses = if query.qtype == 1 {
                vec![Ipv4Addr::new(192, 0, 2, 7)]
            } else {
                vec![]
            };
            let _ = socket.send_to(&dns::build_answer(&buf[..n], &query, 0, &addresses), from);
        }
    });
    (addr, asked)
}

fn nslookup(ns: &Netns, name: &str) -> String {
    let out = ns.exec(&["busybox", "nslookup", "-type=a", name, "127.0.0.11"]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn lookup() -> Arc<dns::Lookup> {
    Arc::new(|name: &str| match name {
        "web" => Some(vec![Ipv4Addr::new(10, 0, 0, 2)]),
        // An alias (`--network-alias db`) of two containers: both addresses.
        "db" => Some(vec![Ipv4Addr::new(10, 0, 0, 3), Ipv4Addr::new(10, 0, 0, 4)]),
        _ => None,
    })
}

#[test]
fn names_and_aliases_are_answered_and_the_rest_forwarded() {
    let ctr = Netns::new("dns");
    let (upstream, asked) = fake_upstream(&ctr);
    let netns = PathBuf::from(format!("/run/netns/{}", ctr.name));
    let _server = DnsServer::start(&netns, EMBEDDED_DNS, vec![upstream], lookup()).unwrap();

    let web = nslookup(&ctr, "web");
    assert!(web.contains("Address: 10.0.0.2"), "{web}");
    let db = nslookup(&ctr, "DB");
    assert!(
        db.contains("Address: 10.0.0.3") && db.contains("Address: 10.0.0.4"),
        "{db}"
    );
    let other = nslookup(&ctr, "example.org");
    assert!(other.contains("Address: 192.0.2.7"), "{other}");
    // Only the name the server did not know went upstream.
    assert_eq!(*asked.lock().unwrap(), ["example.org 1"]);
}

#[test]
fn without_upstreams_an_unknown_name_does_not_exist_and_a_stopped_server_is_gone() {
    let ctr = Netns::new("dns-nx");
    let netns = PathBuf::from(format!("/run/netns/{}", ctr.name));
    let server = DnsServer::start(&netns, EMBEDDED_DNS, vec![], lookup()).unwrap();
    let other = nslookup(&ctr, "example.org");
    assert!(other.contains("NXDOMAIN"), "{other}");
    drop(server);
    // The address is free again in the container's namespace.
    ctr.run(|| UdpSocket::bind(EMBEDDED_DNS).expect("127.0.0.11:53 still held"));
}

#[test]
fn a_namespace_that_does_not_exist_is_named_in_the_error() {
    let err = DnsServer::start(
        std::path::Path::new("/run/netns/berth-test-no-such-ns"),
        EMBEDDED_DNS,
        vec![],
        lookup(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot join the network namespace /run/netns/berth-test-no-such-ns"
    );
}
