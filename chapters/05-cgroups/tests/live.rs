//! The live verbs on a real cgroup: the counters `docker stats` reads, the freezer `docker
//! pause` uses, the pid list `docker top` filters `ps` with, and `docker update`'s write into
//! a cgroup that already holds a process.

mod common;

use std::process::{Child, Command};
use std::time::Duration;

use berth_cgroups::{Cgroup, Resources};
use common::Scope;
use nix::unistd::Pid;

/// A busy loop on the host, moved into cgroup `scope.parent/c1`; thawed and killed on drop
/// (also when a test fails: a frozen process would not die, and `wait` would hang).
struct Busy {
    child: Child,
    cgroup: Cgroup,
}

impl Busy {
    fn start_in(scope: &Scope) -> Busy {
        let child = Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .expect("starting a busy loop");
        let busy = Busy {
            child,
            cgroup: Cgroup::open(&scope.layout, &scope.parent, "c1"),
        };
        busy.cgroup
            .join(Pid::from_raw(busy.child.id() as i32))
            .expect("joining the cgroup");
        busy
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let _ = self.cgroup.thaw();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `counter` passes `threshold` within 10 s.
fn grows_past(counter: &dyn Fn() -> u64, threshold: u64) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if counter() > threshold {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn counters_grow_while_running_and_stand_still_while_frozen() {
    let scope = Scope::new("live-freeze");
    let cgroup = Cgroup::create(&scope.layout, &scope.parent, "c1").expect("cgroup");
    let busy = Busy::start_in(&scope);
    let pid = busy.child.id() as i32;

    // The machine is shared: wait for 20 ms of CPU time rather than for a fixed while.
    let cpu = || cgroup.usage().expect("usage").cpu.total_ns;
    assert!(grows_past(&cpu, 20_000_000), "the busy loop never ran");
    let usage = cgroup.usage().expect("usage");
    assert_eq!(usage.pids.current, 1, "{usage:?}");
    // (Memory is charged when a page is allocated: v1 does not move the pages of a process
    // that joins later, so this shell's usage may read 0. A container joins before it runs.)
    assert!(
        usage.memory.limit > 0,
        "the machine's memory when unlimited"
    );
    assert_eq!(cgroup.pids(), vec![pid]);
    let top = berth_cgroups::top::top(&cgroup.pids(), "-o pid,args").expect("ps");
    assert_eq!(top.titles, ["PID", "COMMAND"]);
    assert_eq!(
        top.processes,
        [[pid.to_string(), "sh -c while :; do :; done".into()]]
    );

    cgroup.freeze().expect("freeze");
    assert!(cgroup.is_frozen());
    let before = cpu();
    std::thread::sleep(Duration::from_millis(300));
    let after = cpu();
    // Frozen: not a millisecond of CPU time (running, it would have had tens of them).
    assert!(after - before < 1_000_000, "{before} -> {after}");

    cgroup.thaw().expect("thaw");
    assert!(!cgroup.is_frozen());
    assert!(
        grows_past(&cpu, after + 20_000_000),
        "thawed, it never ran again"
    );

    // Removal thaws what is frozen first: a frozen process would not die of SIGKILL (v1).
    cgroup.freeze().expect("freeze again");
    cgroup.remove().expect("remove a frozen cgroup");
    drop(busy);
    assert!(scope.leftovers().is_empty(), "{:?}", scope.leftovers());
}

#[test]
fn new_limits_go_into_a_cgroup_that_has_a_process() {
    let scope = Scope::new("live-update");
    let cgroup = Cgroup::create(&scope.layout, &scope.parent, "c1").expect("cgroup");
    let first = Resources {
        memory: Some(64 << 20),
        pids_limit: Some(20),
        ..Resources::default()
    };
    cgroup.apply(&first).expect("apply");
    let _busy = Busy::start_in(&scope);
    let changes = Resources {
        memory: Some(96 << 20),
        ..Resources::default()
    };
    let merged = first.merged(&changes);
    assert_eq!(merged.pids_limit, Some(20), "a limit not changed stays");
    cgroup.apply(&merged).expect("apply to a running cgroup");
    let usage = cgroup.usage().expect("usage");
    assert_eq!(usage.memory.limit, 96 << 20);
    assert_eq!(usage.pids.limit, Some(20));
}
