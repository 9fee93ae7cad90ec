//! Berth's nftables table at work, in namespaces of the test's own: a "host" namespace with
//! bridges, stand-in containers (namespaces on veths) and a peer outside (another namespace).

mod common;

use std::net::{IpAddr, Ipv4Addr, TcpListener};

use berth_network::firewall::{ContainerRules, NetworkRules};
use berth_network::ports::{self, PortMapping};
use common::lab::{fetch, fetch_eventually, lab, serve_tcp, udp_echo};

fn network(bridge: &str, subnet: [u8; 3], internal: bool) -> NetworkRules {
    NetworkRules {
        bridge: bridge.into(),
        subnet: Ipv4Addr::new(subnet[0], subnet[1], subnet[2], 0),
        prefix_len: 24,
        internal,
    }
}

fn published(spec: &str) -> Vec<PortMapping> {
    ports::parse_publish(spec).unwrap()
}

/// The lab's container (10.77.1.2 on `br-a`) publishing `ports`.
fn lab_container(ports: Vec<PortMapping>) -> ContainerRules {
    ContainerRules {
        bridge: "br-a".into(),
        address: "10.77.1.2".parse().unwrap(),
        ports,
    }
}

#[test]
fn a_published_port_answers_from_outside_and_on_the_hosts_own_address_and_udp_too() {
    let lab = lab("fw-dnat");
    let fw = lab.firewall();
    let mut ports = published("8080:80");
    ports.extend(published("5353:53/udp"));
    lab.host.run(|| {
        fw.add_network("a", network("br-a", [10, 77, 1], false))
            .unwrap();
        fw.add_container("c1", lab_container(ports.clone()))
            .unwrap();
    });
    // From the peer, through prerouting's DNAT; the container sees the peer's own address.
    let got = lab.peer.run(|| fetch_eventually("10.99.0.1:8080"));
    assert_eq!(got.as_deref(), Some("ctr to 10.99.0.2"));
    // From the host itself, to its own address, through output's DNAT.
    let got = lab.host.run(|| fetch_eventually("10.99.0.1:8080"));
    assert_eq!(got.as_deref(), Some("ctr to 10.99.0.1"));
    // UDP.
    let echoed = lab.peer.run(|| udp_echo("10.99.0.1:5353"));
    assert_eq!(echoed.as_deref(), Some(&b"ping"[..]));

    // Removed with the container: the port no longer answers, the network's rules stay.
    lab.host.run(|| fw.remove_container("c1").unwrap());
    assert_eq!(lab.peer.run(|| fetch("10.99.0.1:8080")), None);
    assert!(lab.ruleset().contains("masquerade comment \"a\""));
    lab.host.run(|| fw.remove_network("a").unwrap());
    assert!(
        !lab.ruleset().contains("table ip berth"),
        "{}",
        lab.ruleset()
    );
}

#[test]
fn containers_go_out_masqueraded_but_not_from_an_internal_network() {
    let lab = lab("fw-masq");
    serve_tcp(
        lab.peer.run(|| TcpListener::bind("0.0.0.0:9000").unwrap()),
        "peer",
    );
    let fw = lab.firewall();
    // The peer has no route back to 10.77.1.0/24: without masquerade nothing answers.
    assert_eq!(lab.ctr.run(|| fetch("10.99.0.2:9000")), None);
    lab.host
        .run(|| fw.add_network("a", network("br-a", [10, 77, 1], false)))
        .unwrap();
    let got = lab.ctr.run(|| fetch_eventually("10.99.0.2:9000"));
    assert_eq!(got.as_deref(), Some("peer to 10.99.0.1"));
    lab.host
        .run(|| fw.add_network("a", network("br-a", [10, 77, 1], true)))
        .unwrap();
    assert_eq!(lab.ctr.run(|| fetch("10.99.0.2:9000")), None);
    // Give the peer a route back: the internal network still gets nothing out.
    lab.peer
        .ip(&["route", "add", "10.77.1.0/24", "via", "10.99.0.1"]);
    assert_eq!(lab.ctr.run(|| fetch("10.99.0.2:9000")), None);
    lab.host.run(|| fw.sweep(&|_| false, &|_| false)).unwrap();
}

#[test]
fn networks_are_isolated_also_through_a_published_port() {
    let lab = lab("fw-iso");
    lab.host.bridge("br-b", "10.77.2.1");
    let other = lab
        .host
        .container("fw-iso-o", "br-b", "veth-b", "10.77.2.2", "10.77.2.1");
    // Routed by the host, the two networks reach each other until the rules say no.
    assert!(other.run(|| fetch_eventually("10.77.1.2:80")).is_some());
    let fw = lab.firewall();
    lab.host.run(|| {
        fw.add_network("a", network("br-a", [10, 77, 1], false))
            .unwrap();
        fw.add_network("b", network("br-b", [10, 77, 2], true))
            .unwrap();
        fw.add_container(
            "c1",
            lab_container([published("8080:80"), published("5353:53/udp")].concat()),
        )
        .unwrap();
    });
    assert_eq!(other.run(|| fetch("10.77.1.2:80")), None);
    // Not even one way: a datagram to the published UDP port never reaches the container.
    assert_eq!(other.run(|| udp_echo("10.99.0.1:5353")), None);
    assert_eq!(*lab.udp_senders.lock().unwrap(), Vec::<IpAddr>::new());
    // The internal network's container must not reach the other network through the
    // host's published port either (DNAT'd packets are forwarded from br-b to br-a).
    assert_eq!(other.run(|| fetch("10.99.0.1:8080")), None);
    // The peer outside still does.
    assert!(
        lab.peer
            .run(|| fetch_eventually("10.99.0.1:8080"))
            .is_some()
    );
    lab.host.run(|| fw.sweep(&|_| false, &|_| false)).unwrap();
}

#[test]
fn sweep_removes_only_what_no_longer_exists_and_never_a_foreign_rule() {
    let lab = lab("fw-sweep");
    // Someone else's rules: a table of their own, and an iptables rule.
    let foreign = "table ip foreign { chain input { type filter hook input priority 0; tcp dport 1 accept; }; }";
    assert!(lab.host.exec(&["nft", foreign]).status.success());
    let out = lab.host.exec(&[
        "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "2", "-j", "ACCEPT",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fw = lab.firewall();
    let rules = |port: &str| lab_container(published(port));
    lab.host.run(|| {
        fw.add_network("a", network("br-a", [10, 77, 1], false))
            .unwrap();
        fw.add_container("gone", rules("8080:80")).unwrap();
        fw.add_container("kept", rules("8081:80")).unwrap();
    });
    let before = lab.ruleset();
    assert!(before.contains("comment \"gone\"") && before.contains("comment \"kept\""));

    // A daemon killed and started again: it reads what it wanted, and sweeps.
    drop(fw);
    let fw = lab.firewall();
    lab.host
        .run(|| fw.sweep(&|id| id == "a", &|id| id == "kept"))
        .unwrap();
    let after = lab.ruleset();
    assert!(!after.contains("\"gone\""), "{after}");
    assert!(
        after.contains("dport 8081 dnat to 10.77.1.2:80 comment \"kept\""),
        "{after}"
    );
    assert!(after.contains("table ip foreign"), "{after}");
    assert!(after.contains("tcp dport 2"), "{after}");
    assert_eq!(
        lab.peer
            .run(|| fetch_eventually("10.99.0.1:8081"))
            .as_deref(),
        Some("ctr to 10.99.0.2")
    );
    assert_eq!(lab.peer.run(|| fetch("10.99.0.1:8080")), None);

    // Adding the kept container again (a start after the restart) doubles nothing.
    lab.host
        .run(|| fw.add_container("kept", rules("8081:80")))
        .unwrap();
    assert_eq!(lab.ruleset(), after);

    // Everything gone: Berth's table is gone, the foreign rules are not.
    lab.host.run(|| fw.sweep(&|_| false, &|_| false)).unwrap();
    let last = lab.ruleset();
    assert!(!last.contains("table ip berth"), "{last}");
    assert!(
        last.contains("table ip foreign") && last.contains("tcp dport 2"),
        "{last}"
    );
}

#[test]
fn a_taken_port_leaves_no_rule() {
    let lab = lab("fw-taken");
    let fw = lab.firewall();
    let result: Result<(), ports::PortError> = lab.host.run(|| {
        let _someone = TcpListener::bind("0.0.0.0:8080").unwrap();
        let mut mappings = published("8081:81");
        mappings.extend(published("8080:80"));
        // What the engine does: allocate, and only then add rules.
        let held = ports::allocate(&mappings, (40000, 40100), 40000)?;
        fw.add_container(
            "c1",
            lab_container(held.iter().map(|h| h.mapping).collect()),
        )
        .unwrap();
        Ok(())
    });
    let err = result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Bind for 0.0.0.0:8080 failed: port is already allocated"
    );
    assert!(!lab.ruleset().contains("table ip berth"));
    assert!(!lab.state.path().join("firewall.json").exists());
    drop(lab.ctr);
}
