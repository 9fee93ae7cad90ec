//! Limits enforced by the kernel, through `ch05 run` and through the library, in cgroups of
//! this machine. Each test works under a parent cgroup of its own and checks that no cgroup
//! is left behind; its `Scope` removes the subtree also when it fails.

mod common;

use std::time::{Duration, Instant};

use berth_cgroups::{Cgroup, Resources};
use berth_namespaces::{ContainerConfig, start};
use common::Scope;
use nix::sys::signal::{Signal, kill};

/// A memory hog: `tail` keeps the whole line in memory, and `/dev/zero` has no newline.
const HOG: &str = "head -c 300m /dev/zero | tail";

#[test]
fn a_memory_hog_is_oom_killed_under_64m_and_completes_without_a_limit() {
    let scope = Scope::new("oom");
    let limited = scope.ch05(&["--memory", "64m"], &["sh", "-c", HOG]);
    assert_eq!(limited.code, 137, "stderr: {}", limited.stderr);
    assert!(
        limited.stderr.contains("OOM killed"),
        "the OOM kill is reported: {}",
        limited.stderr
    );
    let free = scope.ch05(&[], &["sh", "-c", HOG]);
    assert_eq!(free.code, 0, "stderr: {}", free.stderr);
    assert!(!free.stderr.contains("OOM"), "{}", free.stderr);
    assert_eq!(scope.leftovers(), Vec::<std::path::PathBuf>::new());
}

/// Forks `sleep`s in the background until a fork fails, printing how many it has: with
/// `--pids-limit 20` the shell and 19 children are all there may be.
#[test]
fn a_fork_loop_cannot_fork_the_21st_process() {
    let scope = Scope::new("pids");
    let script = "i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); echo $i; done";
    let out = scope.ch05(&["--pids-limit", "20"], &["sh", "-c", script]);
    assert_eq!(
        out.stdout.lines().last(),
        Some("19"),
        "stderr: {}",
        out.stderr
    );
    assert!(out.stderr.contains("can't fork"), "{}", out.stderr);
    assert_ne!(out.code, 0);
    assert_eq!(scope.leftovers(), Vec::<std::path::PathBuf>::new());
}

/// `--cpus 0.5` through the library, measured by the cgroup's own CPU counter over 2 s of
/// a busy loop: between 30% and 70% of one CPU (a wide band: the machine is shared). The
/// loop's cgroup and the test's parent cgroup get the highest CPU weight, so that other work
/// on a busy machine (these 2 cores are shared) cannot starve it below its quota: what holds
/// it at half a CPU must be the quota.
#[test]
fn half_a_cpu_keeps_a_busy_loop_near_half_a_cpu() {
    let scope = Scope::new("cpu");
    let cgroup = Cgroup::create(&scope.layout, &scope.parent, "busy").expect("create");
    let resources = Resources {
        nano_cpus: Some(500_000_000),
        cpu_shares: Some(262_144),
        ..Resources::default()
    };
    cgroup.apply(&resources).expect("apply --cpus 0.5");
    // Weight competes level by level: the parent's, against the host's other work, too.
    if let Some(cpu) = scope.layout.find("cpu") {
        let (file, value) = match cpu.version {
            berth_cgroups::Version::V1 => ("cpu.shares", "262144"),
            berth_cgroups::Version::V2 => ("cpu.weight", "10000"),
        };
        let path = cpu.mount_point.join(&scope.parent).join(file);
        std::fs::write(&path, value).expect("raising the parent's weight");
    }
    let args = ["sh", "-c", "while :; do :; done"]
        .map(String::from)
        .to_vec();
    let mut config = ContainerConfig::new(berth_tests::busybox_rootfs(), args);
    config.steps.add_parent(cgroup.join_step());
    let container = start(&config).expect("start");
    let (before, t0) = (cgroup.cpu_usage_ns().expect("usage"), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let (after, wall) = (cgroup.cpu_usage_ns().expect("usage"), t0.elapsed());
    kill(container.pid(), Signal::SIGKILL).expect("kill");
    container.wait().expect("wait");
    let share = (after - before) as f64 / wall.as_nanos() as f64;
    eprintln!(
        "busy loop under --cpus 0.5: {:.1}% of one CPU",
        share * 100.0
    );
    assert!(
        (0.30..=0.70).contains(&share),
        "{:.1}% of one CPU",
        share * 100.0
    );
    cgroup.remove().expect("remove");
    assert_eq!(scope.leftovers(), Vec::<std::path::PathBuf>::new());
}

/// A start that fails (no such command) leaves no cgroup and no lock file.
#[test]
fn a_failed_start_leaves_nothing() {
    let scope = Scope::new("failed");
    let out = scope.ch05(&["--memory", "64m"], &["/no/such/command"]);
    assert_eq!(out.code, 127, "stderr: {}", out.stderr);
    assert_eq!(scope.leftovers(), Vec::<std::path::PathBuf>::new());
    let locks: Vec<_> = std::fs::read_dir(scope.state.path())
        .expect("state")
        .collect();
    assert!(locks.is_empty(), "lock files left: {locks:?}");
    // A limit this machine cannot apply is refused before anything is made, naming why.
    let out = scope.ch05(&["--blkio-weight", "500"], &["true"]);
    if !std::path::Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists() {
        assert_eq!(out.code, 125);
        assert!(out.stderr.contains("blkio.weight"), "{}", out.stderr);
    }
    assert_eq!(scope.leftovers(), Vec::<std::path::PathBuf>::new());
}

/// `--cgroupns private`: the container sees its cgroup as `/`; `host`: the host's path.
#[test]
fn a_private_cgroup_namespace_hides_the_hosts_paths() {
    let scope = Scope::new("cgroupns");
    let probe = ["sh", "-c", "grep pids /proc/self/cgroup"];
    let private = scope.ch05(&["--cgroupns", "private"], &probe);
    assert_eq!(
        private.stdout.trim_end().rsplit(':').next(),
        Some("/"),
        "{}",
        private.stderr
    );
    let host = scope.ch05(&["--cgroupns", "host"], &probe);
    let path = host
        .stdout
        .trim_end()
        .rsplit(':')
        .next()
        .unwrap_or("")
        .to_owned();
    assert!(
        path.starts_with(&format!("/{}/", scope.parent)),
        "{path} {}",
        host.stderr
    );
    assert_eq!(scope.leftovers(), Vec::<std::path::PathBuf>::new());
}

/// `kill -9` of `ch05` leaves its container running in its cgroup; the next `ch05 run`
/// finds the orphan by its unlocked lock file, kills what is in it and removes it.
#[test]
fn the_next_start_sweeps_the_cgroup_of_a_killed_ch05() {
    let scope = Scope::new("orphan");
    let mut ch05 = scope
        .ch05_command(&["--memory", "64m"], &["sleep", "300"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting ch05");
    // Wait until the container is in its cgroup.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (cgroup_dir, container_pid) = loop {
        let found = scope.leftovers().into_iter().find_map(|dir| {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).ok()?;
            let pid: i32 = procs.lines().next()?.trim().parse().ok()?;
            Some((dir, pid))
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "the container never joined its cgroup"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    ch05.kill().expect("kill -9 ch05");
    ch05.wait().expect("reaping ch05");
    let alive = |pid: i32| kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    assert!(
        cgroup_dir.exists() && alive(container_pid),
        "the orphan is there"
    );

    let next = scope.ch05(&[], &["true"]);
    assert_eq!(next.code, 0, "stderr: {}", next.stderr);
    assert!(
        next.stderr.contains("whose ch05 is gone"),
        "{}",
        next.stderr
    );
    assert_eq!(scope.leftovers(), Vec::<std::path::PathBuf>::new());
    // Killed, and reaped by init once its parent was gone: give that a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(container_pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !alive(container_pid),
        "the orphan's process {container_pid} was killed"
    );
}
