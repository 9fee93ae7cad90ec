//! `scripts/cleanup` removes what Berth made, and only that.
//!
//! The test builds, in a data root of its own, what a crashed run leaves behind: a container
//! whose daemon died (a process whose root is an overlay of the busybox fixture, with its upper
//! layer in the data root), the overlay mount itself with a tmpfs inside it, a container's
//! state directory, a veth pair and a cgroup named with a prefix of its own. Beside it, things
//! the script must not touch: an overlay and a directory outside the root, a process of no
//! interest, a veth pair and a cgroup with another name. It runs the script with `--dry-run`
//! (nothing may change) and then for real, and checks both lists.
//!
//! `--root` and `--prefix` keep the script to this test's names, so it can run on a shared
//! machine beside other tests. Every guard below undoes its part on drop, whatever the script
//! did, so a failing test leaves nothing behind either.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_tests::{busybox_rootfs, host_mounts_mentioning, test_dir, workspace_root};

#[test]
fn cleanup_removes_our_leftovers_and_nothing_else() {
    let work = test_dir("cleanup");
    let root = work.path().join("data");
    let outside = work.path().join("outside");
    // Linux limits network device names to 15 characters: the prefix is 3 letters and a pid.
    let prefix = format!("bcl{}", std::process::id() % 1_000_000);
    let other = format!("bcx{}", std::process::id() % 1_000_000);

    // Ours: a container's directories and its overlay of the busybox fixture.
    let container = root.join("containers/c0ffee");
    let rootfs = container.join("rootfs");
    for dir in ["upper", "work", "rootfs"] {
        mkdir(&container.join(dir));
    }
    std::fs::write(container.join("config.json"), "{}").expect("writing a container record");
    let _our_mounts = Mounts::new(&[&rootfs]);
    mount_overlay(&busybox_rootfs(), &container, &rootfs);
    // Something mounted inside the container's root, as a volume would be.
    mount(&["-t", "tmpfs", "tmpfs"], &rootfs.join("tmp"));

    // Ours: a container whose monitor died: its own mount namespace, its root our overlay.
    let orphan = spawn_container(&busybox_rootfs(), &root.join("containers/dead"));

    // Not ours: an overlay and a directory outside the data root, and a plain process.
    let keep_dir = outside.join("keep");
    mkdir(&keep_dir);
    std::fs::write(keep_dir.join("file"), "mine").expect("writing a file to keep");
    let outside_merged = outside.join("merged");
    for dir in ["upper", "work", "merged"] {
        mkdir(&outside.join(dir));
    }
    let _outside_mounts = Mounts::new(&[&outside_merged]);
    mount_overlay(&busybox_rootfs(), &outside, &outside_merged);
    let bystander = Guarded(
        Command::new("sleep")
            .arg("600")
            .spawn()
            .expect("starting a bystander process"),
    );

    // Machine-wide names: one pair with our prefix, one with another.
    let _links = Links(vec![format!("{prefix}a"), format!("{other}a")]);
    for name in [&prefix, &other] {
        run(&[
            "ip",
            "link",
            "add",
            &format!("{name}a"),
            "type",
            "veth",
            "peer",
            "name",
            &format!("{name}b"),
        ]);
    }
    // A cgroup hierarchy to make them in: a v1 controller on a hybrid host, else the v2 tree.
    let hierarchy = [
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|dir| dir.join("cgroup.procs").is_file());
    let cgroups = Cgroups(
        hierarchy
            .iter()
            .flat_map(|h| {
                [
                    h.join(format!("{prefix}-c0ffee")),
                    h.join(format!("{other}-c0ffee")),
                ]
            })
            .collect(),
    );
    for group in &cgroups.0 {
        mkdir(&group.join("child"));
    }
    let have_cgroups = !cgroups.0.is_empty();

    let root_arg = root.to_string_lossy().into_owned();
    let cleanup = |extra: &[&str]| {
        let mut args = vec!["--root", &root_arg, "--prefix", &prefix];
        args.extend_from_slice(extra);
        script(&args)
    };

    // A dry run says what it would do, and does nothing.
    let dry = cleanup(&["--dry-run"]);
    let said = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.status.success(), "the dry run failed:\n{}", show(&dry));
    for expected in [
        format!("would run: kill -KILL {}", orphan.0.id()),
        format!("would run: umount {}", rootfs.join("tmp").display()),
        format!("would run: umount {}", rootfs.display()),
        format!("would run: ip link delete {prefix}a"),
        format!("would run: rm -rf --one-file-system -- {}", root.display()),
    ] {
        assert!(
            said.contains(&expected),
            "the dry run did not say {expected:?}:\n{said}"
        );
    }
    assert!(
        !said.contains(&other) && !said.contains(&outside.to_string_lossy().into_owned()),
        "the dry run plans to touch what is not ours:\n{said}"
    );
    assert!(
        rootfs.join("bin/busybox").is_file(),
        "the dry run unmounted the overlay"
    );
    assert!(
        container.join("config.json").is_file(),
        "the dry run removed the state"
    );
    assert!(
        process_alive(orphan.0.id()),
        "the dry run killed the container"
    );

    // The real thing.
    let real = cleanup(&[]);
    assert!(
        real.status.success(),
        "the cleanup failed:\n{}",
        show(&real)
    );

    // Ours is gone.
    assert!(
        !root.exists(),
        "the data root {} is still there",
        root.display()
    );
    assert!(
        host_mounts_mentioning(&root_arg).is_empty(),
        "mounts in the data root remain: {:?}",
        host_mounts_mentioning(&root_arg)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while process_alive(orphan.0.id()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !process_alive(orphan.0.id()),
        "the orphaned container still runs"
    );
    assert!(!link_exists(&format!("{prefix}a")) && !link_exists(&format!("{prefix}b")));
    if have_cgroups {
        assert!(
            !cgroups.0[0].exists(),
            "the cgroup {} remains",
            cgroups.0[0].display()
        );
    }

    // What is not ours is untouched.
    assert_eq!(
        std::fs::read_to_string(keep_dir.join("file"))
            .ok()
            .as_deref(),
        Some("mine")
    );
    assert!(
        outside_merged.join("bin/busybox").is_file(),
        "the overlay outside the data root was unmounted"
    );
    assert!(process_alive(bystander.0.id()), "the bystander was killed");
    assert!(
        link_exists(&format!("{other}a")),
        "another prefix's veth was deleted"
    );
    if have_cgroups {
        assert!(cgroups.0[1].is_dir(), "another prefix's cgroup was removed");
    }
}

#[test]
fn cleanup_refuses_bad_roots_and_changes_nothing() {
    let work = test_dir("cleanup-refuse");
    for (args, message) in [
        (vec!["--root", "/"], "refusing to clean a system directory"),
        (
            vec!["--root", "/var/lib/"],
            "refusing to clean a system directory",
        ),
        (vec!["--root", "relative/dir"], "give an absolute path"),
        (vec!["--root"], "--root needs a value"),
        (vec!["--prefix", "x"], "--prefix x: use at least 3"),
        (vec!["--frobnicate"], "unknown argument: --frobnicate"),
    ] {
        let output = script(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}:\n{}",
            show(&output)
        );
        assert!(
            stderr.contains(message),
            "{args:?} should say {message:?}:\n{stderr}"
        );
    }
    assert!(work.path().is_dir());
}

/// Runs `scripts/cleanup ARGS`.
fn script(args: &[&str]) -> Output {
    Command::new(workspace_root().join("scripts/cleanup"))
        .args(args)
        .output()
        .expect("running scripts/cleanup")
}

fn show(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn mkdir(path: &Path) {
    std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
}

fn run(command: &[&str]) {
    let output = Command::new(command[0])
        .args(&command[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(output.status.success(), "{command:?}:\n{}", show(&output));
}

fn mount(how: &[&str], target: &Path) {
    let mut command = vec!["mount"];
    command.extend_from_slice(how);
    let target = target.to_string_lossy();
    command.push(&target);
    run(&command);
}

/// Mounts an overlay of `lower` at `merged`, with `dir/upper` and `dir/work`.
fn mount_overlay(lower: &Path, dir: &Path, merged: &Path) {
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        dir.join("upper").display(),
        dir.join("work").display()
    );
    mount(&["-t", "overlay", "overlay", "-o", &options], merged);
}

/// Starts what a container whose monitor died looks like: `sleep` in a mount namespace of its
/// own, after `pivot_root` into an overlay whose upper layer is in `container`.
fn spawn_container(lower: &Path, container: &Path) -> Guarded {
    for dir in ["upper", "work", "rootfs"] {
        mkdir(&container.join(dir));
    }
    let script = format!(
        "set -e; mount -t overlay overlay -o lowerdir={lower},upperdir={c}/upper,workdir={c}/work \
         {c}/rootfs; cd {c}/rootfs; pivot_root . tmp; exec /bin/sleep 600",
        lower = lower.display(),
        c = container.display()
    );
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .expect("starting a container with unshare");
    let guarded = Guarded(child);
    // Wait until it runs busybox's sleep in its new root (its /proc/PID/root then shows
    // the busybox binary), or fail with what went wrong.
    let pid = guarded.0.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !Path::new(&format!("/proc/{pid}/root/bin/busybox")).exists() {
        assert!(
            process_alive(pid) && Instant::now() < deadline,
            "the test container did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    guarded
}

/// Whether `pid` runs (a zombie does not count: it only waits to be reaped).
fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after = stat.rfind(')')?;
            Some(!stat[after + 1..].trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A child process, killed and reaped on drop.
struct Guarded(Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Mount points unmounted on drop (lazily, with whatever is mounted below them).
struct Mounts(Vec<PathBuf>);

impl Mounts {
    fn new(points: &[&Path]) -> Mounts {
        Mounts(points.iter().map(|p| p.to_path_buf()).collect())
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        for point in &self.0 {
            let _ = Command::new("umount")
                .args(["-R", "-l"])
                .arg(point)
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Network devices deleted on drop (deleting a veth deletes its peer).
struct Links(Vec<String>);

impl Drop for Links {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("ip")
                .args(["link", "delete", name])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Cgroup directories removed on drop, children first.
struct Cgroups(Vec<PathBuf>);

impl Drop for Cgroups {
    fn drop(&mut self) {
        for group in &self.0 {
            let _ = std::fs::remove_dir(group.join("child"));
            let _ = std::fs::remove_dir(group);
        }
    }
}
