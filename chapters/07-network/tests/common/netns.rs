//! A network namespace of the test's own, so no test touches the host's addresses, ports or
//! firewall: `ip netns add berth-test-…` (a name `scripts/cleanup` knows), deleted on drop,
//! also when the test fails.

use std::fs::File;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sched::{CloneFlags, setns};

/// One named network namespace, with `lo` up.
pub struct Netns {
    /// Its name under `/run/netns`.
    pub name: String,
}

impl Netns {
    /// Makes `berth-test-<tag>-<pid>-<n>` and brings its loopback up.
    pub fn new(tag: &str) -> Netns {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let name = format!("berth-test-{tag}-{}-{n}", std::process::id());
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `f` on a thread that has joined the namespace (threads and processes it starts
    /// are in the namespace too), and returns its result.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        run_in(&self.name, f)
    }

    /// `ip -n NAME ARGS…`, which must succeed.
    pub fn ip(&self, args: &[&str]) -> Output {
        run_ok(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// `ip netns exec NAME ARGS…`, whatever its outcome.
    pub fn exec(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("run ip netns exec")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes the devices in it (and a veth's peer with them).
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

/// Runs `f` on a thread that has joined the named namespace (`/run/netns/NAME`), and returns
/// its result.
pub fn run_in<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{name}");
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let file = File::open(&path).expect("open the test's netns");
                setns(&file, CloneFlags::CLONE_NEWNET).expect("join the test's netns");
                f()
            })
            .join()
            .expect("the thread in the test's netns panicked")
    })
}

/// Runs a command that must succeed, and says what it printed when it does not.
pub fn run_ok(command: &mut Command) -> Output {
    let out = command.output().expect("spawn a command");
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Netns {
    /// Runs `f` on a thread of its own that has joined the namespace, in the background.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = File::open(&path).expect("open the test's netns");
            setns(&file, CloneFlags::CLONE_NEWNET).expect("join the test's netns");
            f()
        })
    }

    /// `sysctl -w KEY=VALUE` inside the namespace (`net.*` sysctls are per namespace).
    pub fn sysctl(&self, key: &str, value: &str) {
        run_ok(
            Command::new("ip")
                .args(["netns", "exec", &self.name, "sysctl", "-qw"])
                .arg(format!("{key}={value}")),
        );
    }

    /// Makes a bridge `name` with address `gateway/24`, up.
    pub fn bridge(&self, name: &str, gateway: &str) {
        self.ip(&["link", "add", name, "type", "bridge"]);
        self.ip(&["addr", "add", &format!("{gateway}/24"), "dev", name]);
        self.ip(&["link", "set", name, "up"]);
    }

    /// A stand-in for a container: a new namespace whose `eth0` is a veth plugged into this
    /// namespace's `bridge` (its host end is `host_end`), with `address/24` and a default
    /// route through `gateway`.
    pub fn container(
        &self,
        tag: &str,
        bridge: &str,
        host_end: &str,
        address: &str,
        gateway: &str,
    ) -> Netns {
        let ctr = Netns::new(tag);
        self.ip(&[
            "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", &ctr.name,
        ]);
        self.ip(&["link", "set", host_end, "master", bridge, "up"]);
        ctr.ip(&["addr", "add", &format!("{address}/24"), "dev", "eth0"]);
        ctr.ip(&["link", "set", "eth0", "up"]);
        ctr.ip(&["route", "add", "default", "via", gateway]);
        ctr
    }

    /// A stand-in for a machine outside: a new namespace linked to this one by a veth,
    /// this end `local/24` (device `host_end`), the other `remote/24`.
    pub fn peer(&self, tag: &str, host_end: &str, local: &str, remote: &str) -> Netns {
        let peer = Netns::new(tag);
        self.ip(&[
            "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", &peer.name,
        ]);
        self.ip(&["addr", "add", &format!("{local}/24"), "dev", host_end]);
        self.ip(&["link", "set", host_end, "up"]);
        peer.ip(&["addr", "add", &format!("{remote}/24"), "dev", "eth0"]);
        peer.ip(&["link", "set", "eth0", "up"]);
        peer
    }
}
