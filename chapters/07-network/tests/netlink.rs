//! The rtnetlink client against the real kernel, in network namespaces made for the test
//! (by threads that `unshare(CLONE_NEWNET)`: the namespaces go when their last user does, so
//! nothing is left behind, also on failure).

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;

use berth_network::netlink::{Namespace, Netlink};

/// A new, empty network namespace, held open as a file.
fn new_namespace() -> File {
    std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
        File::open("/proc/thread-self/ns/net").expect("open ns")
    })
    .join()
    .expect("thread")
}

/// Runs `f` on a thread inside namespace `ns`.
fn inside<T: Send>(ns: &File, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("thread")
    })
}

#[test]
fn a_bridge_and_a_veth_into_another_namespace() {
    let host = new_namespace();
    let container = new_namespace();
    inside(&host, || {
        let mut nl = Netlink::open().expect("socket");
        nl.add_bridge("br-test").expect("bridge");
        let bridge = nl.index("br-test").expect("bridge index");
        nl.add_address(bridge, Ipv4Addr::new(10, 9, 0, 1), 24)
            .expect("address");
        nl.set_up(bridge).expect("up");
        let again = nl.add_bridge("br-test").expect_err("twice");
        assert_eq!(again.errno(), Some(nix::errno::Errno::EEXIST), "{again}");
        assert!(again.to_string().contains("br-test"), "{again}");

        nl.add_veth(
            "vethtest",
            Some(bridge),
            "eth0",
            Some([2, 0x42, 10, 9, 0, 2]),
            Some(Namespace::Fd(container.as_fd())),
        )
        .expect("veth");
        let veth = nl.link("vethtest").expect("lookup").expect("veth here");
        assert_eq!(veth.master, Some(bridge));
        assert!(veth.up, "the host end is made up");
        assert!(
            nl.link("eth0").expect("lookup").is_none(),
            "peer moved away"
        );
    });
    inside(&container, || {
        let mut nl = Netlink::open().expect("socket");
        let peer = nl
            .index("eth0")
            .expect("eth0 is in the container's namespace");
        nl.rename(peer, "net0").expect("a down link is renamed");
        assert_eq!(nl.index("net0").expect("renamed"), peer);
        nl.rename(peer, "eth0").expect("and back");
        let eth0 = peer;
        nl.add_address(eth0, Ipv4Addr::new(10, 9, 0, 2), 24)
            .expect("address");
        nl.set_up(eth0).expect("up");
        nl.add_default_route(Ipv4Addr::new(10, 9, 0, 1))
            .expect("route");
        let taken = nl.rename(eth0, "lo").expect_err("a taken name");
        assert_eq!(taken.errno(), Some(nix::errno::Errno::EEXIST), "{taken}");
    });
    let path = format!("/proc/self/fd/{}", {
        use std::os::fd::AsRawFd;
        container.as_raw_fd()
    });
    let mut from_outside = Netlink::open_in(std::path::Path::new(&path)).expect("open_in");
    let names: Vec<String> = from_outside
        .links()
        .expect("links")
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["lo", "eth0"]);
    inside(&host, || {
        let mut nl = Netlink::open().expect("socket");
        let veth = nl.index("vethtest").expect("veth");
        nl.delete(veth).expect("delete");
        assert!(nl.link("vethtest").expect("lookup").is_none());
    });
    assert_eq!(
        from_outside.links().expect("links").len(),
        1,
        "eth0 went with its peer"
    );
}
