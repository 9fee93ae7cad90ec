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
        let path = format!("/run/netns/{}", self.name);
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
