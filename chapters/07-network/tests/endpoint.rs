//! A container's endpoint against the real kernel: a test namespace plays the host (a thread
//! that unshared its network namespace: it goes when the thread ends), an `unshare -n sleep`
//! plays the container (killed at the end, also on failure).

use std::net::Ipv4Addr;
use std::process::{Child, Command};

use berth_network::endpoint::{self, Endpoint};
use berth_network::netlink::Netlink;
use berth_network::network::{DefaultBridge, Networks};

/// A process in a network namespace of its own; killed when dropped.
struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn busybox(args: &[&str]) -> std::process::Output {
    Command::new("busybox")
        .args(args)
        .output()
        .expect("busybox")
}

#[test]
fn a_container_on_the_bridge_reaches_the_gateway_and_is_detached() {
    let store = tempfile::tempdir().expect("tempdir");
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
        let networks = Networks::open(store.path()).expect("store");
        let subnet = "10.77.0.0/24".parse().expect("subnet");
        networks
            .ensure_predefined(Some(&DefaultBridge::on(subnet)))
            .expect("predefined");
        let id = "c0ffee".repeat(10) + "abcd";
        let (bridge_net, address) = networks.allocate("bridge", &id, None).expect("address");
        assert_eq!(address, Ipv4Addr::new(10, 77, 0, 2));

        // Forked from this thread: in the test's namespace, then a new one of its own.
        let sleeper = Sleeper(
            Command::new("unshare")
                .args(["-n", "sleep", "30"])
                .spawn()
                .expect("unshare"),
        );
        let pid = sleeper.0.id() as i32;
        // `unshare` execs sleep once the namespace is made.
        let ours = std::fs::read_link("/proc/thread-self/ns/net").expect("ns");
        while std::fs::read_link(format!("/proc/{pid}/ns/net")).ok() == Some(ours.clone()) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }

        let mut nl = Netlink::open().expect("netlink");
        let bridge = endpoint::ensure_bridge(&mut nl, &bridge_net).expect("bridge");
        assert_eq!(
            endpoint::ensure_bridge(&mut nl, &bridge_net).expect("twice"),
            bridge
        );
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
            "1\n"
        );
        let ep = Endpoint::new(&bridge_net, &id, address, "eth0").expect("endpoint");
        // A host end left by an earlier start whose container is still being torn down:
        // attach makes its veth anyway (the name is taken: EEXIST, deleted, made again).
        nl.add_veth(&ep.host_veth, None, "stale0", None, None)
            .expect("a stale host end");
        endpoint::attach(&mut nl, &ep, bridge, pid, true).expect("attach");
        assert!(
            nl.link("stale0").expect("lookup").is_none(),
            "the stale pair went"
        );

        let ping = busybox(&["ping", "-c1", "-W2", "10.77.0.2"]);
        assert!(ping.status.success(), "{ping:?}");
        let inside = Command::new("nsenter")
            .args(["-t", &pid.to_string(), "-n", "ip", "-o", "route"])
            .output()
            .expect("nsenter");
        let routes = String::from_utf8_lossy(&inside.stdout);
        assert!(
            routes.contains("default via 10.77.0.1 dev eth0"),
            "{routes}"
        );
        let link = Command::new("nsenter")
            .args([
                "-t",
                &pid.to_string(),
                "-n",
                "ip",
                "-o",
                "link",
                "show",
                "eth0",
            ])
            .output()
            .expect("nsenter");
        let link = String::from_utf8_lossy(&link.stdout);
        assert!(link.contains("02:42:0a:4d:00:02"), "Docker's MAC: {link}");

        endpoint::detach(&mut nl, &ep).expect("detach");
        assert!(nl.link(&ep.host_veth).expect("lookup").is_none());
        let ping = busybox(&["ping", "-c1", "-W1", "10.77.0.2"]);
        assert!(!ping.status.success(), "detached: no answer");
        endpoint::detach(&mut nl, &ep).expect("detaching twice is nothing");
        endpoint::remove_bridge(&mut nl, &bridge_net).expect("bridge removed");
        assert!(nl.link("berth0").expect("lookup").is_none());
    })
    .join()
    .expect("test thread");
}
