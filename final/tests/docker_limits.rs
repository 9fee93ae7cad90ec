//! `docker run`'s resource flags, honoured by berthd through chapter 5's cgroups extension.
//!
//! Each test starts its own daemon, whose containers' cgroups live under a parent of their
//! own (`berth-<hash of the data root>`): the test reads the limits there, from the host, and
//! checks that removing the container removes its cgroup. A guard removes the parent, and
//! anything left in it, also when the test fails (`support::cgroups`).

mod support;

use std::path::PathBuf;

use support::cgroups::daemon_with_busybox;

#[test]
fn docker_run_memory_64m_oom_kills_a_hog_that_completes_without_it() {
    let t = daemon_with_busybox("limits-oom");
    let hog = "head -c 128m /dev/zero | tail";
    let limited = t
        .daemon
        .docker(&["run", "--rm", "-m", "64m", &t.image, "sh", "-c", hog]);
    assert_eq!(limited.code, Some(137), "stderr: {}", limited.stderr);
    let free = t.daemon.docker(&["run", "--rm", &t.image, "sh", "-c", hog]);
    assert_eq!(free.code, Some(0), "stderr: {}", free.stderr);
    assert_eq!(
        t.cgroups.children(),
        Vec::<PathBuf>::new(),
        "--rm left a cgroup"
    );
}

#[test]
fn docker_run_pids_limit_20_stops_the_21st_process() {
    let t = daemon_with_busybox("limits-pids");
    let script = "i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); echo $i; done";
    let run = t.daemon.docker(&[
        "run",
        "--rm",
        "--pids-limit",
        "20",
        &t.image,
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(
        run.stdout.lines().last(),
        Some("19"),
        "stderr: {}",
        run.stderr
    );
    assert!(run.stderr.contains("can't fork"), "{}", run.stderr);
    assert_eq!(t.cgroups.children(), Vec::<PathBuf>::new());
}

/// The limits are in the container's cgroup while it runs, and the cgroup goes with it.
#[test]
fn the_cgroup_holds_the_limits_and_goes_with_the_container() {
    let t = daemon_with_busybox("limits-cgroup");
    let flags = [
        "-m",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "20",
        "--cpu-shares",
        "512",
    ];
    let mut args = vec!["run", "-d"];
    args.extend(flags);
    args.extend([t.image.as_str(), "sleep", "60"]);
    let run = t.daemon.docker(&args);
    let id = run.ok().trim().to_owned();
    assert_eq!(id.len(), 64, "{id}");
    let read = |controller: &str, v1: &str, v2: &str| t.cgroups.read(controller, &id, v1, v2);
    assert_eq!(
        read("memory", "memory.limit_in_bytes", "memory.max"),
        "67108864"
    );
    assert_eq!(read("pids", "pids.max", "pids.max"), "20");
    let cpu = read("cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(cpu == "50000" || cpu == "50000 100000", "{cpu}");
    let shares = read("cpu", "cpu.shares", "cpu.weight");
    assert!(shares == "512" || shares == "20", "{shares}");
    // Its process is in it.
    let procs = read("memory", "cgroup.procs", "cgroup.procs");
    assert!(!procs.is_empty(), "no process in the container's cgroup");
    t.daemon.docker(&["rm", "-f", &id]).ok();
    assert_eq!(
        t.cgroups.children(),
        Vec::<PathBuf>::new(),
        "rm -f left a cgroup"
    );
}

/// A berthd killed with -9 leaves its containers' cgroups; the next start sweeps those of
/// containers that are gone.
#[test]
fn a_restarted_daemon_sweeps_the_cgroups_of_vanished_containers() {
    let mut t = daemon_with_busybox("limits-sweep");
    let id = t
        .daemon
        .docker(&["run", "-d", "-m", "64m", &t.image, "sleep", "60"])
        .ok()
        .trim()
        .to_owned();
    let dir = t.cgroups.dir("memory", &id);
    assert!(dir.exists());
    t.daemon.kill9();
    // The container vanishes from the store while no daemon runs (its record removed by
    // hand, as a crash between removal steps would leave it).
    let record = t.daemon.data_root().join("containers").join(&id);
    for pid in std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
    {
        if let Ok(pid) = pid.trim().parse::<i32>() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    // The container's monitor outlived the daemon and writes its exit into the record's
    // directory as the container dies: remove until nothing comes back.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while let Err(e) = std::fs::remove_dir_all(&record) {
        assert!(
            std::time::Instant::now() < deadline,
            "removing the record: {e}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    t.daemon.restart();
    assert!(
        !dir.exists(),
        "the orphan's cgroup {} is still there",
        dir.display()
    );
}

/// `--cgroupns private`: the container sees its cgroup as `/`; `host`: the host's path.
#[test]
fn docker_run_cgroupns_private_and_host() {
    let t = daemon_with_busybox("limits-cgroupns");
    let probe = ["grep", "pids", "/proc/self/cgroup"];
    let run = |mode: &str| {
        let mut args = vec!["run", "--rm", "--cgroupns", mode, t.image.as_str()];
        args.extend(probe);
        let out = t.daemon.docker(&args);
        out.ok().trim().rsplit(':').next().unwrap_or("").to_owned()
    };
    assert_eq!(run("private"), "/");
    let host = run("host");
    assert!(
        host.starts_with(&format!("/{}/", t.cgroups.parent)),
        "{host}"
    );
    assert_eq!(t.cgroups.children(), Vec::<PathBuf>::new());
}
