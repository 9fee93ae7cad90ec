//! `ch07` as a learner runs it: in a network namespace the test makes (`ip netns add
//! berth-test-ch07-<pid>-<n>`), with a data root and a subnet of the test's own. Everything
//! is removed when the test ends, also on failure: the containers (stopped with SIGTERM
//! through their `ch07 run`), the namespace with its bridge, the data root.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use berth_tests::Output;
use common::netns::run_in;

/// A network namespace and a data root for one test.
struct Lab {
    netns: String,
    root: tempfile::TempDir,
    subnet: String,
    background: Vec<Child>,
}

impl Lab {
    /// `third` picks the test's own default subnet: `10.<third>.0.0/24` (`--bip 10.<third>.0.1/24`).
    fn new(label: &str, third: u8) -> Lab {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let netns = format!("berth-test-ch07-{}-{n}", std::process::id());
        let made = Command::new("ip")
            .args(["netns", "add", &netns])
            .status()
            .expect("ip netns add");
        assert!(made.success(), "ip netns add {netns}");
        let lab = Lab {
            netns,
            root: berth_tests::test_dir(&format!("ch07-{label}")),
            subnet: format!("10.{third}.0.1/24"),
            background: Vec::new(),
        };
        let image = berth_tests::fixtures_dir().join("images/busybox-oci");
        lab.run(&["load", "-i", image.to_str().expect("utf-8 path")])
            .ok();
        lab
    }

    /// `ip netns exec NS ch07 --root ROOT --bip SUBNET ARGS...`
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns])
            .arg(env!("CARGO_BIN_EXE_ch07"))
            .arg("--root")
            .arg(self.root.path())
            .args(["--bip", &self.subnet])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        Output::from(self.command(args).output().expect("running ch07"))
    }

    /// Starts `ch07 run ARGS...` in the background (stopped at the end).
    fn spawn(&mut self, args: &[&str]) {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        self.background.push(cmd.spawn().expect("ch07 run"));
    }

    /// A command in the test's namespace (not in a container).
    fn in_netns(&self, args: &[&str]) -> Output {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .args(args)
            .output()
            .expect("ip netns exec");
        Output::from(out)
    }

    /// The links of the test's namespace.
    fn links(&self) -> String {
        self.in_netns(&["ip", "-o", "link"]).ok().stdout
    }

    /// The address the test's default network gives its `n`th container (from 2).
    fn address(&self, n: u8) -> String {
        let base = self.subnet.trim_end_matches(".1/24");
        format!("{base}.{n}")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_all();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

impl Lab {
    /// Stops the `ch07 run`s started in the background: SIGTERM, which `ch07 run` forwards
    /// to the container, then SIGKILL after five seconds.
    fn stop_all(&mut self) {
        for child in &mut self.background {
            // ch07 run forwards SIGTERM to the container, and records its end.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        for mut child in self.background.drain(..) {
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A shell loop that retries `wget` for up to five seconds (without `-T`: this busybox's
/// `wget -T` crashes).
fn fetch(url: &str) -> String {
    format!("(for i in $(seq 50); do wget -q -O- {url} && exit 0; sleep 0.1; done; exit 1)")
}

#[test]
fn two_containers_on_the_default_bridge_reach_each_other() {
    let mut lab = Lab::new("bridge", 61);
    lab.spawn(&[
        "run", "--name", "web", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
    ]);
    // web first: it must have its address (the first, .2) before the client takes one.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lab.links().contains(": veth") {
        assert!(Instant::now() < deadline, "web never got its veth");
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("http://{}/hostname", lab.address(2));
    let out = lab
        .run(&["run", "--rm", "busybox", "sh", "-c", &fetch(&url)])
        .ok();
    assert_eq!(out.stdout.trim().len(), 12, "web's hostname: {out:?}");
    // The client's veth is gone with it; web's is still there.
    let veths = lab.links().lines().filter(|l| l.contains(": veth")).count();
    assert_eq!(veths, 1, "{}", lab.links());
}

#[test]
fn none_has_only_lo_and_host_sees_the_namespace() {
    let lab = Lab::new("modes", 62);
    let none = lab.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(none.ok().stdout, "lo\n");
    lab.in_netns(&["ip", "link", "add", "marker0", "type", "bridge"])
        .ok();
    let host = lab.run(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(
        host.ok().stdout,
        "lo\nmarker0\n",
        "the test namespace's devices"
    );
    let bridge = lab.run(&["run", "--rm", "busybox", "ls", "/sys/class/net"]);
    assert_eq!(bridge.ok().stdout, "eth0\nlo\n");
}

#[test]
fn container_mode_shares_the_other_containers_stack() {
    let mut lab = Lab::new("container", 63);
    lab.spawn(&[
        "run", "--name", "web", "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc",
    ]);
    let script = format!(
        "{} && ip -4 -o addr show eth0",
        fetch("http://127.0.0.1:8080/hostname")
    );
    let args = [
        "run",
        "--rm",
        "--network",
        "container:web",
        "busybox",
        "sh",
        "-c",
        &script,
    ];
    // web may not run yet: the background `ch07 run` was just started.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut out = lab.run(&args);
    let not_yet = |o: &Output| o.stderr.contains("non running") || o.stderr.contains("no such");
    while not_yet(&out) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        out = lab.run(&args);
    }
    let out = out.ok();
    assert!(
        out.stdout.contains(&lab.address(2)),
        "web's address: {out:?}"
    );
    let stopped = lab.run(&["run", "--network", "container:nope", "busybox", "true"]);
    assert_ne!(stopped.code, 0);
    assert!(
        stopped.stderr.contains("no such container: nope"),
        "{stopped:?}"
    );
}

#[test]
fn user_networks_refuse_what_docker_refuses() {
    let lab = Lab::new("errors", 64);
    lab.run(&["network", "create", "--subnet", "10.164.0.0/24", "front"])
        .ok();
    let overlap = lab.run(&["network", "create", "--subnet", "10.164.0.0/16", "other"]);
    assert_eq!(
        overlap.stderr,
        "ch07: Pool overlaps with other one on this address space\n"
    );
    let unknown = lab.run(&["run", "--network", "nope", "busybox", "true"]);
    assert_eq!(unknown.stderr, "ch07: network nope not found\n");
    let run = lab
        .run(&[
            "run",
            "--name",
            "c1",
            "--network",
            "front",
            "--ip",
            "10.164.0.9",
            "--alias",
            "db",
            "busybox",
            "sh",
            "-c",
            "ip -4 -o addr show eth0; tail -1 /etc/hosts",
        ])
        .ok();
    assert!(run.stdout.contains("inet 10.164.0.9/24"), "{run:?}");
    assert!(
        run.stdout.contains("\n10.164.0.9\t"),
        "its address in /etc/hosts: {run:?}"
    );
    let alias = lab.run(&["run", "--rm", "--alias", "x", "busybox", "true"]);
    assert_eq!(
        alias.stderr,
        "ch07: network-scoped alias is supported only for containers in user defined networks\n"
    );
    let in_use = lab.run(&["network", "rm", "front"]);
    assert!(in_use.stderr.contains("has active endpoints"), "{in_use:?}");
    let taken = lab.run(&[
        "run",
        "--rm",
        "--network",
        "front",
        "--ip",
        "10.164.0.9",
        "busybox",
        "true",
    ]);
    assert!(taken.stderr.contains("Address already in use"), "{taken:?}");
    lab.run(&["rm", "c1"]).ok();
    lab.run(&["network", "rm", "front"]).ok();
    let links = lab.links();
    assert!(!links.contains("br-") && !links.contains("veth"), "{links}");
    assert_eq!(lab.run(&["network", "ls"]).ok().stdout.lines().count(), 4);
}

/// `lines` with every word of 12 or 64 hex digits (ids, generated hostnames) replaced.
fn redact_ids(lines: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let hex = word
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        match word.len() {
            64 if hex => out.push_str("[id]"),
            12 if hex => out.push_str("[short id]"),
            _ => out.push_str(word),
        }
        word.clear();
    };
    for c in lines.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

// ANCHOR: transcript
/// The book's "Check your work": a user network, a container on each network, `none`.
#[test]
fn check_your_work() {
    let lab = Lab::new("transcript", 65);
    let steps: [&[&str]; 6] = [
        &["network", "create", "--subnet", "10.165.0.0/24", "front"],
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "ip -4 -o addr show eth0 | awk '{print $2, $4}'; ip route; tail -1 /etc/hosts",
        ],
        &[
            "run",
            "--rm",
            "--network",
            "front",
            "--ip",
            "10.165.0.9",
            "busybox",
            "sh",
            "-c",
            "ip -4 -o addr show eth0 | awk '{print $2, $4}'; ip route",
        ],
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "ls",
            "/sys/class/net",
        ],
        &["network", "ls"],
        &["network", "rm", "front"],
    ];
    let mut lines = String::new();
    for args in steps {
        let out = lab.run(args);
        let quoted: Vec<String> = args
            .iter()
            .map(|a| {
                if a.contains(' ') {
                    format!("\"{a}\"")
                } else {
                    a.to_string()
                }
            })
            .collect();
        lines.push_str(&format!("$ ch07 {}\n", quoted.join(" ")));
        lines.push_str(&out.stdout);
        lines.push_str(&out.stderr);
        if out.code != 0 {
            lines.push_str(&format!("[exit {}]\n", out.code));
        }
    }
    insta::assert_snapshot!("check_your_work", redact_ids(&lines));
    assert!(!lab.links().contains("veth"), "{}", lab.links());
}
// ANCHOR_END: transcript

/// `wget` run in the test's namespace (the "host", not a container), retried for up to five
/// seconds.
fn fetch_in_netns(lab: &Lab, url: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let out = lab.in_netns(&["busybox", "wget", "-q", "-O-", url]);
        if out.code == 0 {
            return Some(out.stdout);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Berth's nftables table in the test's namespace.
fn table(lab: &Lab) -> String {
    lab.in_netns(&["nft", "list", "table", "ip", "berth"])
        .stdout
}

fn veths(lab: &Lab) -> usize {
    lab.links().lines().filter(|l| l.contains(": veth")).count()
}

/// The veths left once the kernel has torn down the removed containers' namespaces, which it
/// does on a worker of its own after the last process is gone (waits up to 5 s for none).
fn veths_after_teardown(lab: &Lab) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let left = veths(lab);
        if left == 0 || std::time::Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_published_port_answers_on_the_hosts_address_and_loopback_and_goes_with_the_container() {
    let mut lab = Lab::new("publish", 71);
    // The "host"'s loopback, where the proxy answers (a new namespace's `lo` is down).
    lab.in_netns(&["ip", "link", "set", "lo", "up"]).ok();
    // A shell as PID 1 that ends on SIGTERM (PID 1 ignores signals it has no handler for).
    lab.spawn(&[
        "run",
        "--name",
        "web",
        "-p",
        "8080:80",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; httpd -f -p 80 -h /etc & wait",
    ]);
    // The host's own address (the bridge's): the output chain's DNAT.
    let hostname = fetch_in_netns(&lab, "http://10.71.0.1:8080/hostname");
    assert_eq!(
        hostname.map(|h| h.trim().len()),
        Some(12),
        "{}",
        table(&lab)
    );
    // Its loopback: the proxy in `ch07 run`'s process.
    let hostname = fetch_in_netns(&lab, "http://127.0.0.1:8080/hostname");
    assert_eq!(hostname.map(|h| h.trim().len()), Some(12));
    assert!(
        table(&lab).contains("tcp dport 8080 dnat to 10.71.0.2:80"),
        "{}",
        table(&lab)
    );

    // Stopped and removed: no rule, no veth; the port is free again.
    lab.stop_all();
    lab.run(&["rm", "web"]).ok();
    assert!(!table(&lab).contains("dnat to"), "{}", table(&lab));
    assert_eq!(veths_after_teardown(&lab), 0);
    run_in(&lab.netns, || {
        TcpListener::bind("0.0.0.0:8080").expect("8080 still held")
    });
}

#[test]
fn a_taken_port_is_refused_with_dockerds_message_and_nothing_left() {
    let lab = Lab::new("taken", 72);
    // Someone in the "host" holds 8081.
    let _someone = run_in(&lab.netns, || TcpListener::bind("0.0.0.0:8081").unwrap());
    let out = lab.run(&["run", "--rm", "-p", "8081:80", "busybox", "true"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("Bind for 0.0.0.0:8081 failed: port is already allocated"),
        "{out:?}"
    );
    assert!(!table(&lab).contains("dnat to"), "{}", table(&lab));
    assert_eq!(veths_after_teardown(&lab), 0);
    let ps = std::fs::read_dir(lab.root.path().join("containers"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(ps, 0, "a container was left behind");
}

#[test]
fn a_bad_publish_value_says_what() {
    let lab = Lab::new("badp", 73);
    let out = lab.run(&["run", "--rm", "-p", "80/icmp", "busybox", "true"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains(
            "invalid port specification \"80/icmp\": unknown protocol \"icmp\" (expected tcp or udp)"
        ),
        "{out:?}"
    );
}

#[test]
fn on_a_user_network_containers_resolve_each_other_by_name_and_alias_not_on_the_bridge() {
    let mut lab = Lab::new("dns", 74);
    lab.run(&["network", "create", "--subnet", "10.75.0.0/24", "front"])
        .ok();
    let serve = "trap 'exit 0' TERM; httpd -f -p 80 -h /etc & wait";
    lab.spawn(&[
        "run",
        "--name",
        "web",
        "--network",
        "front",
        "--alias",
        "www",
        "busybox",
        "sh",
        "-c",
        serve,
    ]);
    lab.spawn(&["run", "--name", "plain", "busybox", "sh", "-c", serve]);
    // Retried: the servers start in the background.
    for name in ["web", "www"] {
        let out = lab.run(&[
            "run",
            "--rm",
            "--network",
            "front",
            "busybox",
            "sh",
            "-c",
            &fetch(&format!("http://{name}/hostname")),
        ]);
        assert_eq!(out.code, 0, "{name}: {out:?}");
        assert_eq!(out.stdout.trim().len(), 12, "{name}: {out:?}");
    }
    // The resolver a container on a user network is given is the embedded one.
    let out = lab
        .run(&[
            "run",
            "--rm",
            "--network",
            "front",
            "busybox",
            "cat",
            "/etc/resolv.conf",
        ])
        .ok();
    assert!(out.stdout.contains("nameserver 127.0.0.11"), "{out:?}");
    // On the default bridge, names are not resolved (as Docker): not even `plain`'s.
    let out = lab.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "nslookup plain 127.0.0.11; wget -q -O- http://plain/",
    ]);
    assert_ne!(out.code, 0, "{out:?}");
}
