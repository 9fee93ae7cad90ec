//! What one container's rules cost (a measurement, not a timed test: run it with
//! `cargo nextest run -p berth-network --test bench_firewall --run-ignored only --no-capture`).

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use berth_network::firewall::{ContainerRules, Firewall, NetworkRules};
use berth_network::ports;
use common::netns::Netns;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[test]
#[ignore = "a measurement: run it on purpose"]
fn cost_of_one_containers_rules() {
    let ns = Netns::new("fw-bench");
    let state = tempfile::tempdir().unwrap();
    ns.run(|| {
        let fw = Firewall::open(&state.path().join("fw.json"), "berth").unwrap();
        fw.add_network(
            "bridge",
            NetworkRules {
                bridge: "berth0".into(),
                subnet: Ipv4Addr::new(172, 17, 0, 0),
                prefix_len: 16,
                internal: false,
            },
        )
        .unwrap();
        let rules = |i: u16| ContainerRules {
            bridge: "berth0".into(),
            address: Ipv4Addr::new(172, 17, (i >> 8) as u8, i as u8),
            ports: ports::parse_publish(&format!("{}:80", 10000 + i)).unwrap(),
        };
        for present in [0u16, 100] {
            for i in 0..present {
                fw.add_container(&format!("bg{i}"), rules(i + 1000))
                    .unwrap();
            }
            let mut add = Vec::new();
            let mut remove = Vec::new();
            for i in 0..30 {
                let t = Instant::now();
                fw.add_container("c", rules(i)).unwrap();
                add.push(t.elapsed());
                let t = Instant::now();
                fw.remove_container("c").unwrap();
                remove.push(t.elapsed());
            }
            println!(
                "with {present} other containers: add {:?}, remove {:?} (medians of 30)",
                median(add),
                median(remove)
            );
        }
        fw.sweep(&|_| false, &|_| false).unwrap();
    });
    // The parts: spawning nft with a one-rule batch, and the durable write of the state file.
    let batch =
        "table ip probe {}\ndelete table ip probe\nadd table ip probe\nadd chain ip probe c\n";
    let batch_file = state.path().join("probe.nft").display().to_string();
    std::fs::write(&batch_file, batch).unwrap();
    let nft: Vec<_> = (0..30)
        .map(|_| {
            let t = Instant::now();
            let out = ns.exec(&["nft", "-f", &batch_file]);
            assert!(out.status.success());
            t.elapsed()
        })
        .collect();
    let true_: Vec<_> = (0..30)
        .map(|_| {
            let t = Instant::now();
            ns.exec(&["true"]);
            t.elapsed()
        })
        .collect();
    let write: Vec<_> = (0..30)
        .map(|_| {
            let t = Instant::now();
            berth_images::store::atomic::write(&state.path().join("x.json"), b"{}").unwrap();
            t.elapsed()
        })
        .collect();
    println!(
        "ip netns exec nft -f (1 chain): {:?}; ip netns exec true: {:?}; durable state write: {:?}",
        median(nft),
        median(true_),
        median(write)
    );
}
