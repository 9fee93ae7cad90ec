//! The same probe in a default berthd container and in a default container of a real dockerd.
//!
//! Chapter 6 claims Docker's default profile: the 14 capabilities in every set, a seccomp
//! filter, the masked and read-only paths, the mounts, no descriptor beyond 0–2. The way to
//! check such a claim is to ask Docker: the test starts Debian's `dockerd` (20.10, with the
//! containerd it manages) with a data root, exec root and socket of its own, inside a network
//! namespace the test makes (`unshare --net`), with its bridge and iptables off, loads the
//! busybox fixture into it, and runs the same probe script in a container of each engine. The
//! answers are compared line by line; the differences Berth makes on purpose are listed in
//! one place, [`DELIBERATE`], each with its reason, and a listed difference that disappears
//! fails the test too, so the list cannot rot. Without dockerd the test says why and passes.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::registry::BusyboxRegistry;
use support::{Daemon, Output};

/// What the probe prints, one `key value` line each: the capability sets, seccomp and
/// no_new_privs from `/proc/self/status`; each masked path as what it looks like (`null`: a
/// bind of `/dev/null`; `empty-dir:N`; `absent`: this kernel has none); every mount point
/// with its type and read-only or not; the open descriptors.
const PROBE: &str = r#"
grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|Seccomp|NoNewPrivs):' /proc/self/status | tr -d '\t' | sed 's/:/ /'
for p in /proc/acpi /proc/kcore /proc/keys /proc/latency_stats /proc/timer_list /proc/timer_stats /proc/sched_debug /proc/scsi /sys/firmware /sys/devices/virtual/powercap; do
  if [ ! -e $p ]; then s=absent; elif [ -c $p ]; then s=null; elif [ -d $p ]; then s="empty-dir:$(ls -A $p | wc -l)"; else s=file; fi
  echo "masked:$p $s"
done
awk '{split($6,o,","); print "mount:" $5, $9, o[1]}' /proc/self/mountinfo
echo "fds $(ls /proc/self/fd | tr '\n' ' ')"
"#;

// ANCHOR: differences
/// Every line where berthd differs from dockerd 20.10, in one place: `(key, berthd's value,
/// dockerd's value, why)`, `-` for "no such line". "On purpose" is a choice; "not yet" is
/// work a later chapter does. Nothing else may differ.
const DELIBERATE: &[(&str, &str, &str, &str)] = &[
    (
        "mount:/dev/mqueue",
        "-",
        "mqueue rw",
        "not yet: chapter 1 mounts no mqueue (the file view of the IPC namespace's POSIX queues)",
    ),
    (
        "mount:/sys/fs/cgroup",
        "-",
        "tmpfs rw",
        "not yet: chapter 5 gives a cgroup namespace but mounts no cgroupfs in the container",
    ),
    (
        "mount:/sys/fs/cgroup/blkio",
        "-",
        "cgroup ro",
        "not yet: chapter 5 (this host's v1 hierarchies, read-only in Docker's containers)",
    ),
    (
        "mount:/sys/fs/cgroup/cpu",
        "-",
        "cgroup ro",
        "not yet: chapter 5 (this host's v1 hierarchies, read-only in Docker's containers)",
    ),
    (
        "mount:/sys/fs/cgroup/cpuacct",
        "-",
        "cgroup ro",
        "not yet: chapter 5 (this host's v1 hierarchies, read-only in Docker's containers)",
    ),
    (
        "mount:/sys/fs/cgroup/cpuset",
        "-",
        "cgroup ro",
        "not yet: chapter 5 (this host's v1 hierarchies, read-only in Docker's containers)",
    ),
    (
        "mount:/sys/fs/cgroup/devices",
        "-",
        "cgroup ro",
        "not yet: chapter 5 (this host's v1 hierarchies, read-only in Docker's containers)",
    ),
    (
        "mount:/sys/fs/cgroup/freezer",
        "-",
        "cgroup ro",
        "not yet: chapter 5 (this host's v1 hierarchies, read-only in Docker's containers)",
    ),
    (
        "mount:/sys/fs/cgroup/memory",
        "-",
        "cgroup ro",
        "not yet: chapter 5 (this host's v1 hierarchies, read-only in Docker's containers)",
    ),
    (
        "mount:/sys/fs/cgroup/pids",
        "-",
        "cgroup ro",
        "not yet: chapter 5 (this host's v1 hierarchies, read-only in Docker's containers)",
    ),
    (
        "mount:/sys/fs/cgroup/systemd",
        "-",
        "cgroup ro",
        "not yet: chapter 5 (this host's v1 hierarchies, read-only in Docker's containers)",
    ),
];
// ANCHOR_END: differences

/// A real dockerd of the test's own, stopped and cleaned up on drop.
struct RealDockerd {
    dir: tempfile::TempDir,
    child: Child,
}

impl RealDockerd {
    /// Starts `dockerd` in a network namespace of its own, or says why it cannot.
    fn start() -> Result<RealDockerd, String> {
        for tool in ["dockerd", "docker-init", "unshare"] {
            if which(tool).is_none() {
                return Err(format!("{tool} is not installed"));
            }
        }
        let dir = berth_tests::test_dir("dockerd-probe");
        let path = |name: &str| dir.path().join(name).display().to_string();
        let log = std::fs::File::create(dir.path().join("dockerd.log"))
            .map_err(|e| format!("creating dockerd.log: {e}"))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        // docker-init -s: a subreaper for containerd's exited shims (the machine's PID 1
        // reaps late; see /work/shared/peers-notes.md).
        let child = Command::new("unshare")
            .args([
                "--net",
                "--fork",
                "--",
                "docker-init",
                "-s",
                "--",
                "dockerd",
            ])
            .args(["--data-root", &path("root"), "--exec-root", &path("exec")])
            .args([
                "--pidfile",
                &path("dockerd.pid"),
                "-H",
                &format!("unix://{}", path("d.sock")),
            ])
            .args([
                "--iptables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("starting dockerd: {e}"))?;
        let dockerd = RealDockerd { dir, child };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if dockerd.docker(&["version"]).code == Some(0) {
                return Ok(dockerd);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "dockerd did not answer within 60 s: {}",
            dockerd.log()
        ))
    }

    fn docker(&self, args: &[&str]) -> Output {
        let mut command = Command::new(support::DOCKER);
        command
            .args(args)
            .stdin(Stdio::null())
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.path().join("d.sock").display()),
            )
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env("DOCKER_CLI_HINTS", "false");
        support::run(
            command,
            &format!("docker (dockerd) {}", args.join(" ")),
            None,
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for RealDockerd {
    fn drop(&mut self) {
        // SIGTERM to dockerd itself (unshare does not pass signals on): it stops its
        // containers and containerd, then docker-init and unshare exit. Whatever is left
        // after that is killed, and every mount detached.
        let pidfile = self.dir.path().join("dockerd.pid");
        if let Some(pid) = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        support::cleanup::kill_processes_of(self.dir.path());
        support::cleanup::unmount_under(self.dir.path());
    }
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(tool))
        .find(|p| p.is_file())
}

/// The probe's lines as a map; mounts that say where the engine keeps its files (the
/// `/etc/hosts` family, which dockerd binds from its container directory) are kept, as they
/// are part of what a container sees.
fn lines(output: &str) -> BTreeMap<String, String> {
    output
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn the_default_profile_matches_a_real_dockerds() {
    let dockerd = match RealDockerd::start() {
        Ok(d) => d,
        Err(why) => {
            eprintln!("SKIPPED: no reference dockerd: {why}");
            return;
        }
    };
    let fixture = "/var/cache/berth/fixtures/images/busybox.tar";
    dockerd.docker(&["load", "-i", fixture]).ok();
    let theirs = dockerd.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        PROBE,
    ]);

    let registry = BusyboxRegistry::start();
    let berthd = Daemon::builder().label("probe").start();
    let image = registry.image();
    berthd.docker(&["pull", "-q", &image]).ok();
    let ours = berthd.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        PROBE,
    ]);

    let (ours, theirs) = (lines(ours.ok()), lines(theirs.ok()));
    let mut unexplained = Vec::new();
    let keys: std::collections::BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    for key in keys {
        let a = ours.get(key).map_or("-", String::as_str);
        let b = theirs.get(key).map_or("-", String::as_str);
        let listed = DELIBERATE.iter().find(|(k, ..)| k == key);
        match listed {
            Some((_, berth, docker, why)) => assert!(
                (a, b) == (*berth, *docker),
                "{key}: listed as deliberate ({why}) as berthd {berth:?} / dockerd {docker:?}, \
                 but now berthd {a:?} / dockerd {b:?}"
            ),
            None if a != b => unexplained.push(format!("{key}: berthd {a:?}, dockerd {b:?}")),
            None => {}
        }
    }
    assert!(
        unexplained.is_empty(),
        "differences from dockerd not listed in DELIBERATE:\n{}",
        unexplained.join("\n")
    );
}
