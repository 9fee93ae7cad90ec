//! `ch07 run -p` and names on user networks, as a learner runs them, in a network namespace
//! of the test's own (the "host"): a published port answered on the host's own address
//! through the DNAT rule and on its loopback through the userland proxy; a taken port refused
//! with nothing left behind; the rules gone with the container; containers on a user network
//! finding each other by name and alias through the embedded DNS server, not on the bridge.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_tests::Output;
use common::netns::Netns;

struct Lab {
    ns: Netns,
    root: tempfile::TempDir,
    bip: String,
    background: Vec<Child>,
}

impl Lab {
    fn new(label: &str, second: u8) -> Lab {
        let lab = Lab {
            ns: Netns::new(label),
            root: berth_tests::test_dir(&format!("ch07-{label}")),
            bip: format!("10.{second}.0.1/24"),
            background: Vec::new(),
        };
        let image = berth_tests::fixtures_dir().join("images/busybox-oci");
        lab.run(&["load", "-i", image.to_str().expect("utf-8 path")])
            .ok();
        lab
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns.name])
            .arg(env!("CARGO_BIN_EXE_ch07"))
            .arg("--root")
            .arg(self.root.path())
            .args(["--bip", &self.bip])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        Output::from(self.command(args).output().expect("running ch07"))
    }

    fn spawn(&mut self, args: &[&str]) {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        self.background.push(cmd.spawn().expect("ch07 run"));
    }

    /// `wget` from the test's namespace, retried for up to five seconds.
    fn fetch(&self, url: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let out = self.ns.exec(&["busybox", "wget", "-q", "-O-", url]);
            if out.status.success() {
                return Some(String::from_utf8_lossy(&out.stdout).into_owned());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    fn table(&self) -> String {
        let out = self.ns.exec(&["nft", "list", "table", "ip", "berth"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn veths(&self) -> usize {
        let out = self.ns.exec(&["ip", "-o", "link"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(": veth"))
            .count()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_all();
    }
}

impl Lab {
    /// SIGTERM to each `ch07 run` (which forwards it), SIGKILL after five seconds.
    fn stop_all(&mut self) {
        for mut child in self.background.drain(..) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_published_port_answers_on_the_hosts_address_and_loopback_and_goes_with_the_container() {
    let mut lab = Lab::new("ch07-publish", 71);
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
    let hostname = lab.fetch("http://10.71.0.1:8080/hostname");
    assert_eq!(
        hostname.map(|h| h.trim().len()),
        Some(12),
        "{}",
        lab.table()
    );
    // Its loopback: the proxy in `ch07 run`'s process.
    let hostname = lab.fetch("http://127.0.0.1:8080/hostname");
    assert_eq!(hostname.map(|h| h.trim().len()), Some(12));
    assert!(
        lab.table().contains("tcp dport 8080 dnat to 10.71.0.2:80"),
        "{}",
        lab.table()
    );

    // Stopped and removed: no rule, no veth; the port is free again.
    lab.stop_all();
    lab.run(&["rm", "web"]).ok();
    assert!(!lab.table().contains("dnat to"), "{}", lab.table());
    assert_eq!(lab.veths(), 0);
    lab.ns
        .run(|| TcpListener::bind("0.0.0.0:8080").expect("8080 still held"));
}

#[test]
fn a_taken_port_is_refused_with_dockerds_message_and_nothing_left() {
    let lab = Lab::new("ch07-taken", 72);
    // Someone in the "host" holds 8081.
    let _someone = lab.ns.run(|| TcpListener::bind("0.0.0.0:8081").unwrap());
    let out = lab.run(&["run", "--rm", "-p", "8081:80", "busybox", "true"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("Bind for 0.0.0.0:8081 failed: port is already allocated"),
        "{out:?}"
    );
    assert!(!lab.table().contains("dnat to"), "{}", lab.table());
    assert_eq!(lab.veths(), 0);
    let ps = std::fs::read_dir(lab.root.path().join("containers"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(ps, 0, "a container was left behind");
}

#[test]
fn a_bad_publish_value_says_what() {
    let lab = Lab::new("ch07-badp", 73);
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
    let mut lab = Lab::new("ch07-dns", 74);
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
    let get = |url: &str| {
        format!("for i in $(seq 50); do wget -q -O- {url} && exit 0; sleep 0.1; done; exit 1")
    };
    for name in ["web", "www"] {
        let out = lab.run(&[
            "run",
            "--rm",
            "--network",
            "front",
            "busybox",
            "sh",
            "-c",
            &get(&format!("http://{name}/hostname")),
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
