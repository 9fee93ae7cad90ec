//! Host ports chosen and held as dockerd does, in a network namespace of the test's own.

mod common;

use std::net::{Ipv4Addr, TcpListener, UdpSocket};

use berth_network::ports::{self, HeldSocket, HostPort, PortError};
use common::netns::Netns;

#[test]
fn a_taken_port_is_refused_with_dockerds_message_and_nothing_is_left_held() {
    let ns = Netns::new("ports-taken");
    ns.run(|| {
        // Someone else (another container's proxy, or any program) holds 8080.
        let _other = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 8080)).unwrap();
        let mut mappings = ports::parse_publish("9090:90").unwrap();
        mappings.extend(ports::parse_publish("8080:80").unwrap());
        let err = ports::allocate(&mappings, (40000, 40010), 40000).unwrap_err();
        assert!(matches!(
            err,
            PortError::AlreadyAllocated { port: 8080, .. }
        ));
        assert_eq!(
            err.to_string(),
            "Bind for 0.0.0.0:8080 failed: port is already allocated"
        );
        // 9090, held before 8080 failed, was let go: the port can be bound again.
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, 9090)).expect("9090 was left held");
    });
}

#[test]
fn random_ports_come_from_the_range_skip_taken_ones_and_are_held() {
    let ns = Netns::new("ports-any");
    ns.run(|| {
        let _taken = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 40001)).unwrap();
        let mut mappings = ports::parse_publish("80").unwrap();
        mappings.extend(ports::parse_publish("53/udp").unwrap());
        mappings.extend(ports::parse_publish("8000-8001:81").unwrap());
        let held = ports::allocate(&mappings, (40000, 40003), 40001).unwrap();
        let got: Vec<_> = held.iter().map(|h| h.host_port()).collect();
        // The cursor starts at 40001 (taken): TCP gets 40002; UDP's 40001 is free; the
        // range 8000-8001 gives its first port.
        assert_eq!(got, [40002, 40001, 8000]);
        assert!(
            held.iter()
                .all(|h| matches!(h.mapping.host_port, HostPort::Fixed(_)))
        );
        assert!(matches!(held[1].socket, HeldSocket::Udp(_)));
        // Held means held: nobody else can bind them now.
        assert!(TcpListener::bind((Ipv4Addr::UNSPECIFIED, 40002)).is_err());
        assert!(UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 40001)).is_err());
        drop(held);
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, 40002)).expect("released on drop");
    });
}

#[test]
fn an_exhausted_range_says_which() {
    let ns = Netns::new("ports-full");
    ns.run(|| {
        let _a = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 40000)).unwrap();
        let _b = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 40001)).unwrap();
        let mappings = ports::parse_publish("80").unwrap();
        let err = ports::allocate(&mappings, (40000, 40001), 40000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no free tcp port in 40000-40001 on 0.0.0.0"
        );
    });
}
