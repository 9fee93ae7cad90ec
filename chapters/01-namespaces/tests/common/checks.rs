//! What isolation means, checked from inside the container by a small busybox probe.
//!
//! Each check runs a command in a fresh container and returns `Err` with the evidence when
//! the container is not isolated as Docker's would be. They are plain functions so that the
//! same checks run against `ch01` (where they must pass) and against an `unshare` + `chroot`
//! stand-in (where they must fail: a test that passes everywhere tests nothing).

use super::Runner;

/// A check: `Ok` when the runner isolates this aspect properly, else the evidence.
pub type Check = fn(&Runner) -> Result<(), String>;

/// Every isolation check, by name.
pub const ALL: &[(&str, Check)] = &[
    ("pid_is_one", pid_is_one),
    (
        "proc_lists_only_the_container",
        proc_lists_only_the_container,
    ),
    ("host_root_is_unreachable", host_root_is_unreachable),
    ("mount_table_has_the_new_root", mount_table_has_the_new_root),
    (
        "network_has_only_lo_and_it_is_up",
        network_has_only_lo_and_it_is_up,
    ),
    ("dev_is_minimal_and_works", dev_is_minimal_and_works),
    ("sys_is_read_only", sys_is_read_only),
    ("environment_is_clean", environment_is_clean),
    ("hostname_is_the_given_one", hostname_is_the_given_one),
];

fn expect_lines(what: &str, got: &str, expected: &[&str]) -> Result<(), String> {
    let lines: Vec<&str> = got.lines().collect();
    if lines == expected {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected:?}, got {lines:?}"))
    }
}

/// The command is PID 1, and the container's `/proc` agrees.
pub fn pid_is_one(runner: &Runner) -> Result<(), String> {
    let out = runner
        .run(&[], &["sh", "-c", "echo $$; cat /proc/1/comm; true"])
        .success()?;
    expect_lines("PID of the shell, name of PID 1", &out.stdout, &["1", "sh"])
}

/// `/proc` lists the container's processes only: the probe shell and its `ls`.
pub fn proc_lists_only_the_container(runner: &Runner) -> Result<(), String> {
    let probe = "ls /proc | grep -E '^[0-9]+$' | sort -n";
    let out = runner.run(&[], &["sh", "-c", probe]).success()?;
    let pids: Vec<u32> = out.stdout.lines().filter_map(|l| l.parse().ok()).collect();
    if pids.first() == Some(&1) && pids.len() <= 4 && pids.iter().all(|&p| p < 10) {
        Ok(())
    } else {
        Err(format!(
            "/proc lists processes {pids:?}, not just the container's"
        ))
    }
}

/// `/..` is `/`, and no path leads back to the host's files.
pub fn host_root_is_unreachable(runner: &Runner) -> Result<(), String> {
    // A file that exists on the host but not in the rootfs.
    let marker = berth_tests::test_dir("ch01-marker");
    let marker_file = marker.path().join("host-only");
    std::fs::write(&marker_file, "host").map_err(|e| e.to_string())?;
    let probe = format!(
        "stat -c %i / /.. /../..; cd /../../..; pwd; \
         test -e {0} && echo host-visible; \
         grep -c . /proc/self/mountinfo >/dev/null && echo has-mountinfo",
        marker_file.display()
    );
    let out = runner.run(&[], &["sh", "-c", &probe]).success()?;
    let lines: Vec<&str> = out.stdout.lines().collect();
    let same_inode = lines.len() >= 3 && lines[0] == lines[1] && lines[1] == lines[2];
    if !same_inode || lines.get(3) != Some(&"/") {
        return Err(format!("`/..` is not `/`: {lines:?}"));
    }
    if lines.contains(&"host-visible") {
        return Err("a host file is visible inside the container".into());
    }
    if !lines.contains(&"has-mountinfo") {
        return Err(
            "the container has no /proc/self/mountinfo to prove the old root is gone".into(),
        );
    }
    Ok(())
}

/// The mount table starts at the new root and holds only the container's own mounts: the
/// host's root (and everything mounted under it) was unmounted after `pivot_root`. Rootless,
/// each device of `/dev` is a bind mount of the host's node, and those are expected too.
pub fn mount_table_has_the_new_root(runner: &Runner) -> Result<(), String> {
    let out = runner
        .run(&[], &["cat", "/proc/self/mountinfo"])
        .success()?;
    let mount_points: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| {
            let device = point.strip_prefix("/dev/").unwrap_or_default();
            !berth_namespaces::devices::DEVICES
                .iter()
                .any(|d| d.name == device)
        })
        .collect();
    let expected = ["/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm"];
    if mount_points == expected {
        Ok(())
    } else {
        Err(format!(
            "mount points {mount_points:?}, expected {expected:?}"
        ))
    }
}

/// The network namespace has only `lo`, and it is up.
pub fn network_has_only_lo_and_it_is_up(runner: &Runner) -> Result<(), String> {
    let out = runner
        .run(&[], &["sh", "-c", "ls /sys/class/net; ip -o link show lo"])
        .success()?;
    let mut lines = out.stdout.lines();
    if lines.next() != Some("lo") {
        return Err(format!("network devices: {:?}", out.stdout));
    }
    match lines.next() {
        Some(link) if link.contains("<LOOPBACK,UP") && lines.next().is_none() => Ok(()),
        other => Err(format!("lo is not up: {other:?}")),
    }
}

/// `/dev` holds Docker's few devices, and they behave.
pub fn dev_is_minimal_and_works(runner: &Runner) -> Result<(), String> {
    let probe = "ls /dev; echo discard > /dev/null && head -c 3 /dev/zero | od -An -tx1 \
                 && head -c 8 /dev/urandom | wc -c && echo x > /dev/full || echo full-is-full";
    let out = runner.run(&[], &["sh", "-c", probe]).success()?;
    let expected = [
        "fd",
        "full",
        "null",
        "ptmx",
        "pts",
        "random",
        "shm",
        "stderr",
        "stdin",
        "stdout",
        "tty",
        "urandom",
        "zero",
        " 00 00 00",
        "8",
        "full-is-full",
    ];
    expect_lines("/dev and its devices", &out.stdout, &expected)
}

/// `/sys` is mounted and read-only.
pub fn sys_is_read_only(runner: &Runner) -> Result<(), String> {
    let probe = "test -d /sys/kernel && echo mounted; \
                 echo 1 > /sys/kernel/profiling 2>/dev/null && echo writable || echo read-only";
    let out = runner.run(&[], &["sh", "-c", probe]).success()?;
    expect_lines("/sys", &out.stdout, &["mounted", "read-only"])
}

/// Nothing of the host's environment leaks in: only Docker's defaults and `--env`.
pub fn environment_is_clean(runner: &Runner) -> Result<(), String> {
    let out = runner
        .run(&["--hostname", "envbox", "--env", "GREETING=hi"], &["env"])
        .success()?;
    let mut vars: Vec<&str> = out.stdout.lines().collect();
    vars.sort();
    let expected = [
        "GREETING=hi",
        "HOME=/root",
        "HOSTNAME=envbox",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ];
    expect_lines("environment", &vars.join("\n"), &expected)
}

/// The hostname is the one given, and the host's is unchanged.
pub fn hostname_is_the_given_one(runner: &Runner) -> Result<(), String> {
    let before = nix::unistd::gethostname().map_err(|e| e.to_string())?;
    let out = runner
        .run(&["--hostname", "probe-host"], &["hostname"])
        .success()?;
    let after = nix::unistd::gethostname().map_err(|e| e.to_string())?;
    if before != after {
        return Err(format!(
            "the host's hostname changed: {before:?} -> {after:?}"
        ));
    }
    expect_lines("hostname", &out.stdout, &["probe-host"])
}
