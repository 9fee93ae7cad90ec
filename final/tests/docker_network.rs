//! The real docker CLI drives berthd's networks (chapter 7): the default bridge, `--network
//! none|host|container:NAME|NAME`, `docker network create/ls/inspect/rm/prune/connect/
//! disconnect`, a daemon killed with containers running, a hundred containers at once.
//!
//! Each test runs its berthd in a network namespace of its own (`Daemon::builder().in_netns`),
//! with a subnet of its own: the bridge, the veths and `ip_forward` are made there, and the
//! namespace is deleted with the daemon, also on failure. The busybox image is loaded into
//! the store directly: a daemon in its own namespace cannot reach a registry on the host's
//! loopback.

mod support;

use std::time::{Duration, Instant};

use support::{Daemon, daemon_in_netns_with_busybox as daemon};

/// `docker inspect -f FORMAT NAME`, trimmed.
fn inspect(daemon: &Daemon, format: &str, name: &str) -> String {
    let out = daemon.docker(&["inspect", "-f", format, name]);
    out.ok().trim().to_owned()
}

/// The host ends of veth pairs in the daemon's namespace.
fn veths(daemon: &Daemon) -> Vec<String> {
    daemon
        .links()
        .into_iter()
        .filter(|l| l.starts_with("veth"))
        .collect()
}

/// A shell loop that retries `wget` for up to five seconds (busybox's `wget -T` crashes).
fn fetch(url: &str) -> String {
    format!("(for i in $(seq 50); do wget -q -O- {url} && exit 0; sleep 0.1; done; exit 1)")
}

/// Waits until `name` runs (a `run -d` returns once it started; an exec needs no more).
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn containers_on_the_default_bridge_reach_each_other() {
    let daemon = daemon("net-bridge", 71);
    daemon
        .docker(&[
            "run", "-d", "--name", "web", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
        ])
        .ok();
    let address = inspect(&daemon, "{{.NetworkSettings.IPAddress}}", "web");
    assert_eq!(address, "10.71.0.2");
    assert_eq!(
        inspect(&daemon, "{{.NetworkSettings.Gateway}}", "web"),
        "10.71.0.1"
    );
    assert_eq!(
        inspect(&daemon, "{{.NetworkSettings.MacAddress}}", "web"),
        "02:42:0a:47:00:02"
    );
    assert_eq!(
        inspect(&daemon, "{{.HostConfig.NetworkMode}}", "web"),
        "default"
    );
    let hostname = inspect(&daemon, "{{.Config.Hostname}}", "web");
    let url = format!("http://{address}/hostname");
    let out = daemon.docker(&["run", "--rm", "busybox", "sh", "-c", &fetch(&url)]);
    assert_eq!(
        out.ok().trim(),
        hostname,
        "web answered with its /etc/hostname"
    );
    let hosts = daemon.docker(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(
        hosts.ok().contains(&format!("10.71.0.2\t{hostname}\n")),
        "{hosts:?}"
    );
    assert_eq!(veths(&daemon).len(), 1, "the client's veth went with it");
    daemon.docker(&["rm", "-f", "web"]).ok();
    until("web's veth to go", || veths(&daemon).is_empty());
}

#[test]
fn none_host_and_container_modes() {
    let daemon = daemon("net-modes", 72);
    let none = daemon.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(none.ok(), "lo\n");
    daemon
        .in_netns(&["ip", "link", "add", "marker0", "type", "bridge"])
        .ok();
    let host = daemon.docker(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert!(
        host.ok().contains("marker0\n"),
        "the test namespace's devices: {host:?}"
    );
    daemon
        .docker(&[
            "run", "-d", "--name", "web", "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc",
        ])
        .ok();
    let shared = daemon.docker(&[
        "run",
        "--rm",
        "--network",
        "container:web",
        "busybox",
        "sh",
        "-c",
        &format!(
            "{} >/dev/null && ip -4 -o addr show eth0",
            fetch("http://127.0.0.1:8080/hostname")
        ),
    ]);
    assert!(
        shared.ok().contains("inet 10.72.0.2/24"),
        "web's stack: {shared:?}"
    );
    assert_eq!(
        inspect(&daemon, "{{.HostConfig.NetworkMode}}", "web"),
        "default"
    );
    let missing = daemon.docker(&[
        "run",
        "--rm",
        "--network",
        "container:nope",
        "busybox",
        "true",
    ]);
    missing.expect_code(125);
    assert!(
        missing.stderr.contains("no such container: nope"),
        "{missing:?}"
    );
}

#[test]
fn user_networks_connect_and_refuse_as_docker() {
    let daemon = daemon("net-user", 73);
    let id = daemon.docker(&[
        "network",
        "create",
        "--subnet",
        "10.173.0.0/24",
        "--label",
        "tier=db",
        "front",
    ]);
    assert_eq!(id.ok().trim().len(), 64);
    let overlap = daemon.docker(&["network", "create", "--subnet", "10.173.0.0/16", "other"]);
    overlap.expect_code(1);
    assert!(
        overlap
            .stderr
            .contains("Pool overlaps with other one on this address space"),
        "{overlap:?}"
    );
    let twice = daemon.docker(&["network", "create", "front"]);
    assert!(
        twice
            .stderr
            .contains("network with name front already exists"),
        "{twice:?}"
    );
    let unknown = daemon.docker(&["run", "--rm", "--network", "nope", "busybox", "true"]);
    assert!(
        unknown.stderr.contains("network nope not found"),
        "{unknown:?}"
    );
    let ls = daemon.docker(&[
        "network",
        "ls",
        "--filter",
        "label=tier=db",
        "--format",
        "{{.Name}} {{.Driver}}",
    ]);
    assert_eq!(ls.ok(), "front bridge\n");

    daemon
        .docker(&[
            "run",
            "-d",
            "--name",
            "db",
            "--network",
            "front",
            "--ip",
            "10.173.0.9",
            "busybox",
            "sleep",
            "300",
        ])
        .ok();
    assert_eq!(
        inspect(
            &daemon,
            "{{.NetworkSettings.Networks.front.IPAddress}}",
            "db"
        ),
        "10.173.0.9"
    );
    let containers = inspect(
        &daemon,
        "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
        "front",
    );
    assert_eq!(containers, "db 10.173.0.9/24");
    let in_use = daemon.docker(&["network", "rm", "front"]);
    in_use.expect_code(1);
    assert!(in_use.stderr.contains("has active endpoints"), "{in_use:?}");

    // A running container on the default bridge joins `front` at once, as its eth1.
    daemon
        .docker(&["run", "-d", "--name", "app", "busybox", "sleep", "300"])
        .ok();
    daemon
        .docker(&["network", "connect", "--ip", "10.173.0.20", "front", "app"])
        .ok();
    let links = daemon.docker(&["exec", "app", "ls", "/sys/class/net"]);
    assert_eq!(links.ok(), "eth0\neth1\nlo\n");
    let ping = daemon.docker(&["exec", "app", "ping", "-c", "1", "-W", "2", "10.173.0.9"]);
    ping.ok();
    let again = daemon.docker(&["network", "connect", "front", "app"]);
    assert!(
        again.stderr.contains("already exists in network front"),
        "{again:?}"
    );
    daemon
        .docker(&["network", "disconnect", "front", "app"])
        .ok();
    let links = daemon.docker(&["exec", "app", "ls", "/sys/class/net"]);
    assert_eq!(links.ok(), "eth0\nlo\n");

    daemon.docker(&["rm", "-f", "db", "app"]).ok();
    daemon.docker(&["network", "rm", "front"]).ok();
    assert!(
        !daemon.links().iter().any(|l| l.starts_with("br-")),
        "{:?}",
        daemon.links()
    );
    daemon.docker(&["network", "create", "spare"]).ok();
    let pruned = daemon.docker(&["network", "prune", "-f"]);
    assert!(pruned.ok().contains("spare"), "{pruned:?}");
    let names = daemon.docker(&["network", "ls", "--format", "{{.Name}}"]);
    let mut names: Vec<&str> = names.ok().lines().collect();
    names.sort();
    assert_eq!(names, ["bridge", "host", "none"]);
}

#[test]
fn a_daemon_killed_with_containers_running_leaves_nothing_doubled() {
    let mut daemon = daemon("net-kill9", 74);
    for name in ["c1", "c2", "c3"] {
        daemon
            .docker(&["run", "-d", "--name", name, "busybox", "sleep", "300"])
            .ok();
    }
    // Two that publish ports: `web` keeps running, `gone` ends while no daemon runs.
    let httpd = ["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"];
    for (name, port) in [("web", "8080:80"), ("gone", "8081:80")] {
        let mut args = vec!["run", "-d", "--name", name, "-p", port];
        args.extend_from_slice(&httpd);
        daemon.docker(&args).ok();
    }
    let gone_pid = inspect(&daemon, "{{.State.Pid}}", "gone");
    assert_eq!(veths(&daemon).len(), 5);
    daemon.kill9();
    daemon.in_netns(&["kill", "-9", &gone_pid]).ok();
    daemon.restart();
    let ps = daemon.docker(&["ps", "--format", "{{.Names}}"]);
    assert_eq!(ps.ok().lines().count(), 4, "gone ended meanwhile");
    assert_eq!(
        veths(&daemon).len(),
        4,
        "nothing made twice, gone's veth went"
    );
    // web's port still answers, through its rule and its monitor's proxy; gone's rule went.
    let hostname = inspect(&daemon, "{{.Config.Hostname}}", "web");
    for url in [
        "http://10.74.0.1:8080/hostname",
        "http://127.0.0.1:8080/hostname",
    ] {
        assert_eq!(curl_in_netns(&daemon, url).trim(), hostname, "{url}");
    }
    let rules = ruleset(&daemon);
    assert_eq!(rules.matches("dnat to").count(), 1, "{rules}");
    assert!(rules.contains("tcp dport 8080 dnat to"), "{rules}");
    assert_eq!(daemon.docker(&["port", "gone"]).ok(), "");
    // A new container gets a new address, not one of the running ones'; gone's port is free.
    daemon
        .docker(&[
            "run", "-d", "--name", "c4", "-p", "8081:80", "busybox", "sleep", "300",
        ])
        .ok();
    let d_ip = inspect(&daemon, "{{.NetworkSettings.IPAddress}}", "c4");
    let mut running: Vec<String> = ["c1", "c2", "c3", "web"]
        .iter()
        .map(|n| inspect(&daemon, "{{.NetworkSettings.IPAddress}}", n))
        .collect();
    assert!(
        !running.contains(&d_ip),
        "{d_ip} handed out twice: {running:?}"
    );
    running.sort();
    running.dedup();
    assert_eq!(running.len(), 4, "{running:?}");
    daemon
        .docker(&["rm", "-f", "c1", "c2", "c3", "c4", "web", "gone"])
        .ok();
    assert_nothing_left(&daemon);
}

/// The issue's figure: a hundred `docker run --rm -p 80` at once leave no veth, address or
/// rule. It took 5.2 to 5.8 s here with the load average at 12 on two cores (twenty took
/// 1.7 s), so the default run does the full hundred.
#[test]
fn a_hundred_containers_at_once_leave_no_veth_or_address() {
    let daemon = daemon("net-many", 75);
    at_once(&daemon, 100, "inet 10.75.0.");
    assert_nothing_left(&daemon);
}

/// `n` `docker run --rm -p 80` at once, each printing its address, which must be in
/// `subnet` (so each got a veth, an address and a DNAT rule, all removed with it).
fn at_once(daemon: &Daemon, n: usize, subnet: &str) {
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(|| {
                    daemon.docker(&[
                        "run",
                        "--rm",
                        "-p",
                        "80",
                        "busybox",
                        "sh",
                        "-c",
                        "ip -4 -o addr show eth0",
                    ])
                })
            })
            .collect();
        for run in runs {
            let out = run.join().expect("thread");
            assert!(out.ok().contains(subnet), "{out:?}");
        }
    });
}

/// A namespace outside the daemon's, joined to it by a veth (`10.250.<n>.1` on the daemon's
/// side, `.2` on the peer's), with an HTTP server on `.2:9000`; all removed when dropped.
struct Peer {
    name: String,
    server: Option<std::process::Child>,
    _www: tempfile::TempDir,
}

impl Peer {
    fn new(daemon: &Daemon, n: u8) -> Peer {
        let name = format!("berth-test-final-peer-{}-{n}", std::process::id());
        let www = berth_tests::test_dir("final-net-peer");
        std::fs::write(www.path().join("marker"), "outside\n").expect("marker");
        let mut peer = Peer {
            name: name.clone(),
            server: None,
            _www: www,
        };
        let ok =
            |c: &mut std::process::Command| assert!(c.status().is_ok_and(|s| s.success()), "{c:?}");
        ok(std::process::Command::new("ip").args(["netns", "add", &name]));
        let near = format!("10.250.{n}.1/24");
        let far = format!("10.250.{n}.2/24");
        daemon
            .in_netns(&[
                "ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns", &name,
            ])
            .ok();
        daemon
            .in_netns(&["ip", "addr", "add", &near, "dev", "up0"])
            .ok();
        daemon.in_netns(&["ip", "link", "set", "up0", "up"]).ok();
        let inside = |args: &[&str]| {
            let mut c = std::process::Command::new("nsenter");
            c.arg(format!("--net=/run/netns/{name}"))
                .arg("--")
                .args(args);
            c
        };
        ok(&mut inside(&["ip", "addr", "add", &far, "dev", "up1"]));
        ok(&mut inside(&["ip", "link", "set", "up1", "up"]));
        ok(&mut inside(&["ip", "link", "set", "lo", "up"]));
        // No route back to the containers' subnet: only masquerade brings an answer back.
        let www = peer._www.path().to_str().expect("utf-8").to_owned();
        let server = inside(&["busybox", "httpd", "-f", "-p", "9000", "-h", &www])
            .spawn()
            .expect("httpd in the peer");
        peer.server = Some(server);
        peer
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn containers_go_out_through_nat_but_not_from_an_internal_network() {
    let daemon = daemon("net-nat", 76);
    let _peer = Peer::new(&daemon, 76);
    let out = daemon.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "timeout 10 wget -q -O- http://10.250.76.2:9000/marker",
    ]);
    assert_eq!(
        out.ok(),
        "outside\n",
        "through the daemon's namespace, masqueraded"
    );
    let ruleset = daemon.in_netns(&["nft", "list", "table", "ip", "berth"]);
    assert!(ruleset.ok().contains("masquerade"), "{ruleset:?}");

    daemon
        .docker(&[
            "network",
            "create",
            "--internal",
            "--subnet",
            "10.176.0.0/24",
            "closed",
        ])
        .ok();
    let closed = daemon.docker(&[
        "run",
        "--rm",
        "--network",
        "closed",
        "busybox",
        "sh",
        "-c",
        "ip route; wget -q -O- http://10.250.76.2:9000/marker || echo no way out",
    ]);
    let text = closed.ok();
    assert!(
        !text.contains("default"),
        "no default route on an internal network: {text}"
    );
    assert!(text.ends_with("no way out\n"), "{text}");
    daemon.docker(&["network", "rm", "closed"]).ok();
    let ruleset = daemon.in_netns(&["nft", "list", "table", "ip", "berth"]);
    assert!(
        !ruleset.stdout.contains("br-"),
        "the network's rules went with it: {ruleset:?}"
    );
}

/// `curl` from the daemon's namespace (where the host ports are), retried for five seconds
/// while the container's server starts; the body, or the last error.
fn curl_in_netns(daemon: &Daemon, url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = daemon.in_netns(&["curl", "-sS", "--max-time", "2", url]);
        if out.code == Some(0) || Instant::now() > deadline {
            return if out.code == Some(0) {
                out.stdout
            } else {
                out.stderr
            };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// After every container was removed: no veth, no address of the default bridge in use, no
/// DNAT rule.
fn assert_nothing_left(daemon: &Daemon) {
    until("every veth to go", || veths(daemon).is_empty());
    let bridge = daemon.docker(&["network", "inspect", "-f", "{{len .Containers}}", "bridge"]);
    assert_eq!(bridge.ok().trim(), "0", "every address released");
    let rules = ruleset(daemon);
    assert!(!rules.contains("dnat to"), "{rules}");
}

/// Berth's nftables rules in the daemon's namespace (empty if there is no table).
fn ruleset(daemon: &Daemon) -> String {
    daemon
        .in_netns(&["nft", "list", "table", "ip", "berth"])
        .stdout
}

#[test]
fn published_ports_answer_on_loopback_and_the_hosts_address() {
    let daemon = daemon("net-ports", 77);
    let httpd = ["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"];
    let run = |name: &str, publish: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(publish);
        args.extend_from_slice(&httpd);
        daemon.docker(&args)
    };
    // On the namespace's loopback only: the userland proxy in the container's monitor.
    run("web", &["-p", "127.0.0.1:8080:80"]).ok();
    let hostname = inspect(&daemon, "{{.Config.Hostname}}", "web");
    assert_eq!(
        curl_in_netns(&daemon, "http://127.0.0.1:8080/hostname").trim(),
        hostname
    );
    assert_eq!(
        inspect(&daemon, "{{json .HostConfig.PortBindings}}", "web"),
        r#"{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]}"#
    );
    assert_eq!(
        inspect(&daemon, "{{json .NetworkSettings.Ports}}", "web"),
        r#"{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]}"#
    );
    let ps = daemon.docker(&["ps", "--format", "{{.Names}} {{.Ports}}"]);
    assert_eq!(ps.ok().trim(), "web 127.0.0.1:8080->80/tcp");

    // A taken port: dockerd's refusal at start, and nothing of the second container left
    // in the network (its address, veth and rules).
    let taken = run("late", &["-p", "127.0.0.1:8080:80"]);
    assert_ne!(taken.code, Some(0));
    assert!(
        taken
            .stderr
            .contains("Bind for 127.0.0.1:8080 failed: port is already allocated"),
        "{taken:?}"
    );
    assert_eq!(veths(&daemon).len(), 1, "only web's veth");
    daemon.docker(&["rm", "late"]).ok();

    // `-p 80`: a random port, shown by `docker port`, reached through the DNAT rule on the
    // namespace's own address (the bridge's) and through the proxy on loopback.
    run("any", &["-p", "80"]).ok();
    let port = daemon.docker(&["port", "any", "80"]);
    let port = port.ok().trim().to_owned();
    let host_port = port
        .strip_prefix("0.0.0.0:")
        .unwrap_or_else(|| panic!("docker port any 80: {port:?}"))
        .to_owned();
    let number: u16 = host_port.parse().expect("a port number");
    assert!(number >= 1024, "from the ephemeral range: {number}");
    assert!(
        ruleset(&daemon).contains(&format!("tcp dport {host_port} dnat to 10.77.0.3:80")),
        "{}",
        ruleset(&daemon)
    );
    let any_hostname = inspect(&daemon, "{{.Config.Hostname}}", "any");
    for host in ["10.77.0.1", "127.0.0.1"] {
        let url = format!("http://{host}:{host_port}/hostname");
        assert_eq!(curl_in_netns(&daemon, &url).trim(), any_hostname, "{url}");
    }

    // `-P` publishes what the container exposes (here `--expose`; an image's EXPOSE too).
    daemon
        .docker(&[
            "run", "-d", "--name", "all", "--expose", "90", "-P", "busybox", "sleep", "300",
        ])
        .ok();
    let all = daemon.docker(&["port", "all"]);
    assert!(all.ok().starts_with("90/tcp -> 0.0.0.0:"), "{all:?}");

    // A stopped container holds no port and no rule; its port is anyone's again.
    daemon.docker(&["stop", "-t", "0", "any", "all"]).ok();
    assert!(
        !ruleset(&daemon).contains(&format!("dport {host_port} ")),
        "{}",
        ruleset(&daemon)
    );
    assert_eq!(daemon.docker(&["port", "any"]).ok(), "");
    assert_eq!(
        inspect(&daemon, "{{json .NetworkSettings.Ports}}", "any"),
        "{}"
    );
    daemon.docker(&["rm", "-f", "web", "any", "all"]).ok();
    assert_nothing_left(&daemon);
}

/// `-p 5353:53/udp`: a datagram to the namespace's own address goes through the DNAT rule,
/// one to its loopback through the UDP proxy in the container's monitor, and the answer
/// comes back the same way. busybox has no UDP server (its `nc` lacks `-u`), so the server is
/// a socket the test opens in the container's network namespace (chapter 7's
/// `open_in_netns`, the embedded DNS server's way in): the path under test is the network's,
/// not the program's.
#[test]
fn a_published_udp_port_answers_on_the_hosts_address_and_on_loopback() {
    use std::net::{SocketAddr, UdpSocket};
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};

    use berth_network::dns::open_in_netns;

    let daemon = daemon("net-udp", 80);
    daemon
        .docker(&[
            "run",
            "-d",
            "--name",
            "udp",
            "-p",
            "5353:53/udp",
            "busybox",
            "sleep",
            "300",
        ])
        .ok();
    let ps = daemon.docker(&["ps", "--format", "{{.Ports}}"]);
    assert_eq!(ps.ok().trim(), "0.0.0.0:5353->53/udp");
    let rules = ruleset(&daemon);
    assert!(
        rules.contains("udp dport 5353 dnat to 10.80.0.2:53"),
        "{rules}"
    );

    let pid = inspect(&daemon, "{{.State.Pid}}", "udp");
    let any: SocketAddr = "0.0.0.0:53".parse().expect("address");
    let container_ns = format!("/proc/{pid}/ns/net");
    let mut server = open_in_netns(Path::new(&container_ns), &[any]).expect("a socket in udp");
    let server: UdpSocket = server.remove(0);
    server
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let client_at: SocketAddr = "0.0.0.0:0".parse().expect("address");
    let mut client = open_in_netns(&daemon.netns_file(), &[client_at]).expect("a client socket");
    let client: UdpSocket = client.remove(0);
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");

    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        // The server answers every datagram with where it came from: the proxy's address
        // for loopback, the bridge's (the namespace's own, masqueraded) for the DNAT path.
        s.spawn(|| {
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = server.recv_from(&mut buf) {
                    let answer =
                        format!("{} from {}", String::from_utf8_lossy(&buf[..n]), from.ip());
                    let _ = server.send_to(answer.as_bytes(), from);
                }
            }
        });
        let ask = |host: &str| -> String {
            let to: SocketAddr = format!("{host}:5353").parse().expect("address");
            let mut buf = [0u8; 512];
            // UDP may lose the first datagram while a neighbour entry is resolved: retry.
            for _ in 0..25 {
                client.send_to(host.as_bytes(), to).expect("send");
                if let Ok((n, from)) = client.recv_from(&mut buf) {
                    assert_eq!(from, to, "the answer comes from where the question went");
                    return String::from_utf8_lossy(&buf[..n]).into_owned();
                }
            }
            format!("no answer from {to}")
        };
        let via_dnat = ask("10.80.0.1");
        let via_proxy = ask("127.0.0.1");
        stop.store(true, Ordering::Relaxed);
        assert_eq!(via_dnat, "10.80.0.1 from 10.80.0.1");
        assert_eq!(via_proxy, "127.0.0.1 from 10.80.0.1");
    });
    // A socket keeps its namespace alive, and with it the container's end of the veth.
    drop(server);
    daemon.docker(&["rm", "-f", "udp"]).ok();
    assert_nothing_left(&daemon);
}

/// `docker stats`' `networks`: the counters of the container's own interfaces (read from its
/// network namespace), by name, `lo` left out; `container:NAME` gets the other's; absent for
/// `--network none` and `host`, as from dockerd. Three pings from the daemon's namespace are three packets each way.
#[test]
fn stats_count_the_traffic_of_a_containers_own_interfaces() {
    let daemon = daemon("net-stats", 81);
    for (name, network) in [
        ("on", "bridge"),
        ("none", "none"),
        ("host", "host"),
        ("joined", "container:on"),
    ] {
        daemon
            .docker(&[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                network,
                "busybox",
                "sleep",
                "300",
            ])
            .ok();
    }
    let stats = |name: &str| {
        let path = format!("/containers/{name}/stats?stream=false&one-shot=true");
        let answer =
            support::api::request(&daemon.socket(), "GET", &path, &[], b"").expect("stats");
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()
    };
    let before = stats("on")["networks"]["eth0"].clone();
    daemon
        .in_netns(&["busybox", "ping", "-c", "3", "-i", "0.2", "10.81.0.2"])
        .ok();
    let after = stats("on");
    let networks = after["networks"].as_object().expect("networks");
    assert_eq!(networks.keys().collect::<Vec<_>>(), ["eth0"], "{after}");
    let eth0 = &networks["eth0"];
    for field in ["rx_packets", "tx_packets"] {
        let (was, is) = (before[field].as_u64(), eth0[field].as_u64());
        let grew = is.zip(was).map(|(is, was)| is - was);
        assert!(grew >= Some(3), "{field} {was:?} -> {is:?}");
    }
    for field in [
        "rx_bytes",
        "rx_errors",
        "rx_dropped",
        "tx_bytes",
        "tx_errors",
        "tx_dropped",
    ] {
        assert!(eth0[field].is_u64(), "{field}: {eth0}");
    }
    // `container:on` shares on's stack, so its counters are on's (dockerd follows it too).
    let joined = stats("joined");
    let rx = |stats: &serde_json::Value| stats["rx_packets"].as_u64();
    assert!(rx(&joined["networks"]["eth0"]) >= rx(eth0), "{joined}");
    for name in ["none", "host"] {
        let stats = stats(name);
        assert!(stats.get("networks").is_none(), "{name}: {stats}");
        assert!(
            stats["pids_stats"]["current"].as_u64() >= Some(1),
            "{name} runs"
        );
    }
    // The docker CLI sums them into NET I/O.
    let net_io = daemon.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.NetIO}}",
        "on",
        "none",
    ]);
    let lines: Vec<&str> = net_io.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{net_io:?}");
    assert_ne!(lines[0], "0B / 0B", "{net_io:?}");
    assert_eq!(lines[1], "0B / 0B", "{net_io:?}");
    daemon
        .docker(&["rm", "-f", "joined", "on", "none", "host"])
        .ok();
    assert_nothing_left(&daemon);
}

#[test]
fn on_a_user_network_names_and_aliases_resolve_also_after_connect_and_disconnect() {
    let daemon = daemon("net-dns", 79);
    daemon
        .docker(&["network", "create", "--subnet", "10.179.0.0/24", "front"])
        .ok();
    daemon
        .docker(&[
            "run",
            "-d",
            "--name",
            "db",
            "--network",
            "front",
            "--network-alias",
            "database",
            "busybox",
            "sleep",
            "300",
        ])
        .ok();
    // A client on the same network: the embedded server, by name and by alias.
    let client = daemon.docker(&[
        "run",
        "--rm",
        "--network",
        "front",
        "busybox",
        "sh",
        "-c",
        "cat /etc/resolv.conf; nslookup db; ping -c1 -W2 database",
    ]);
    let text = client.ok();
    assert!(text.contains("nameserver 127.0.0.11"), "{text}");
    assert!(text.contains("Name:\tdb\nAddress: 10.179.0.2"), "{text}");
    assert!(text.contains("PING database (10.179.0.2)"), "{text}");
    assert!(text.contains("1 packets received"), "{text}");

    // On the default bridge: the host's resolvers, and no name of another container.
    let plain = daemon.docker(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]);
    assert!(!plain.ok().contains("127.0.0.11"), "{plain:?}");

    // A running container connected with an alias answers to it there; not once disconnected.
    daemon
        .docker(&["run", "-d", "--name", "late", "busybox", "sleep", "300"])
        .ok();
    daemon
        .docker(&["network", "connect", "--alias", "cache", "front", "late"])
        .ok();
    let late_ip = inspect(
        &daemon,
        "{{(index .NetworkSettings.Networks \"front\").IPAddress}}",
        "late",
    );
    let lookup = daemon.docker(&["exec", "db", "nslookup", "cache"]);
    assert!(
        lookup.ok().contains(&format!("Address: {late_ip}")),
        "{lookup:?}"
    );
    daemon
        .docker(&["network", "disconnect", "front", "late"])
        .ok();
    let gone = daemon.docker(&["exec", "db", "nslookup", "cache"]);
    assert_ne!(gone.code, Some(0), "{gone:?}");
    daemon.docker(&["rm", "-f", "db", "late"]).ok();
    daemon.docker(&["network", "rm", "front"]).ok();
    until("every veth to go", || veths(&daemon).is_empty());
}
