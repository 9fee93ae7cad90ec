//! Hostile destinations: an image whose mount point is a symlink out of the root, and a
//! directory swapped for such a link while containers start. Each mount must land inside the
//! container's root, or the start must fail; the host is never touched.
//!
//! These run chapter 1's runtime directly with this chapter's child step, on a container root
//! of the test's own: an overlay of the busybox fixture whose writable layer holds the links,
//! mounted by the child in its own mount namespace; or, for the race, a plain copy of the
//! fixture, whose names a thread can swap while the child resolves them.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use berth_namespaces::{ContainerConfig, RootfsMount, Stdio};
use berth_volumes::{InRootMount, MountSource};
use nix::mount::MsFlags;

/// A container root over the busybox fixture, in a directory removed at the end.
struct Root {
    dir: tempfile::TempDir,
    overlay: bool,
}

impl Root {
    fn new(label: &str) -> Root {
        let dir = berth_tests::test_dir(&format!("ch08-{label}"));
        for sub in ["root", "upper", "work", "volume"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        std::fs::write(dir.path().join("volume/marker"), "from the volume\n").expect("marker");
        Root { dir, overlay: true }
    }

    /// A root that is a plain copy of the fixture (`root/`), changed in place.
    fn plain(label: &str) -> Root {
        let mut root = Root::new(label);
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", berth_tests::busybox_rootfs().display()))
            .arg(root.path("root"))
            .status()
            .expect("cp");
        assert!(copied.success());
        root.overlay = false;
        root
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// Runs `sh -c script` with the volume mounted on `destination`: its exit code and output,
    /// or the start's error.
    fn run(&self, destination: &str, script: &str) -> Result<(i32, String), String> {
        let (mut read, write) = std::io::pipe().expect("pipe");
        let args = ["/bin/sh", "-c", script].map(String::from).to_vec();
        let mut config = ContainerConfig::new(self.path("root"), args);
        config.rootless = false;
        config.rootfs_mount = self.overlay.then(|| RootfsMount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            options: format!(
                "lowerdir={},upperdir={},workdir={}",
                berth_tests::busybox_rootfs().display(),
                self.path("upper").display(),
                self.path("work").display()
            ),
        });
        config.stdio = Stdio {
            stdin: None,
            stdout: Some(write.as_raw_fd()),
            stderr: None,
        };
        let source = MountSource::Bind {
            path: self.path("volume"),
            dir: true,
        };
        let step = InRootMount::new(
            &self.path("root"),
            &source,
            Path::new(destination),
            false,
            MsFlags::empty(),
        )
        .expect("prepared");
        config.steps.add_child(step);
        let running = berth_namespaces::start(&config).map_err(|e| e.to_string());
        drop(write);
        let running = running?;
        let code = running.wait().expect("wait").code();
        let mut output = String::new();
        read.read_to_string(&mut output).expect("read");
        Ok((code, output))
    }
}

/// A host directory with one file, to prove that nothing was mounted on it or written in it.
fn host_dir(label: &str) -> tempfile::TempDir {
    let dir = berth_tests::test_dir(label);
    std::fs::write(dir.path().join("host-file"), "host\n").expect("host file");
    dir
}

fn assert_untouched(dir: &Path) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .expect("host dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        names,
        ["host-file"],
        "the host directory {dir:?} was written to"
    );
    let mounts = berth_tests::host_mounts_mentioning(&dir.display().to_string());
    assert!(mounts.is_empty(), "left on the host: {mounts:?}");
}

// ANCHOR: symlink_escape
/// `/data -> <a host directory>` and `/climb -> ../../../..<host directory>` in the image: the
/// volume is mounted where the link points *inside* the root, as if the root were `/`.
#[test]
fn a_destination_symlink_is_resolved_inside_the_root() {
    let root = Root::new("absolute-link");
    let host = host_dir("ch08-host-target");
    let host_path = host.path().display().to_string();
    // The image has a directory of the same name as the host's: the link must lead there.
    let in_image = root.path("upper").join(host_path.trim_start_matches('/'));
    std::fs::create_dir_all(&in_image).expect("the image's directory");
    std::os::unix::fs::symlink(&host_path, root.path("upper/data")).expect("symlink");
    let climb = format!("../../../../../../../..{host_path}");
    std::os::unix::fs::symlink(&climb, root.path("upper/climb")).expect("symlink");

    for destination in ["/data", "/climb", "/nothing/../data"] {
        let script = format!("cat {host_path}/marker");
        let (code, output) = root.run(destination, &script).expect("the start succeeds");
        assert_eq!(
            (code, output.as_str()),
            (0, "from the volume\n"),
            "{destination}: the volume is at the link's target inside the container"
        );
        assert_untouched(host.path());
    }
}
// ANCHOR_END: symlink_escape

/// `/data -> /` resolves to the root itself: refused, as Docker refuses a mount on `/`.
#[test]
fn a_destination_that_is_the_root_is_refused() {
    let root = Root::new("root-link");
    std::os::unix::fs::symlink("/", root.path("upper/data")).expect("symlink");
    std::os::unix::fs::symlink("../../../../..", root.path("upper/up")).expect("symlink");
    for destination in ["/data", "/up"] {
        let error = root.run(destination, "true").expect_err("refused");
        assert!(
            error.contains(&format!("on {destination}")) && error.contains("EBUSY"),
            "{error}"
        );
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("host passwd");
    assert!(passwd.contains("root:"));
}

/// A link to a host path that does not exist inside the root: refused, nothing made anywhere.
#[test]
fn a_dangling_destination_link_is_refused() {
    let root = Root::new("dangling-link");
    let host = host_dir("ch08-host-dangling");
    let target = host.path().join("sub");
    std::os::unix::fs::symlink(&target, root.path("upper/data")).expect("symlink");
    let error = root.run("/data", "true").expect_err("refused");
    assert!(
        error.contains("on /data") && error.contains("ENOENT"),
        "{error}"
    );
    assert_untouched(host.path());
}

/// The destination is a directory that a racing thread keeps swapping with a symlink to a
/// host directory (what CVE-2021-30465 did to runc). Every start either fails or shows the
/// volume inside the container; the host directory is never mounted on or written.
#[test]
fn a_destination_swapped_for_a_symlink_during_the_start_never_escapes() {
    let root = Root::plain("race");
    let host = host_dir("ch08-host-race");
    let host_path = host.path().display().to_string();
    let (dir, link) = (root.path("root/data"), root.path("root/link"));
    std::fs::create_dir(&dir).expect("data dir");
    std::os::unix::fs::symlink(&host_path, &link).expect("link");

    let racer = Racer::start(dir, link);
    let (mut inside, mut failed) = (0, 0);
    // Where the volume is mounted, as the container sees it: the directory it was mounted on
    // may have been renamed to `link` since. A mount outside the root would not be listed.
    let script = "cut -d' ' -f5 /proc/self/mountinfo | grep -x -e /data -e /link";
    for _ in 0..40 {
        match root.run("/data", script) {
            Ok((0, output)) if output == "/data\n" || output == "/link\n" => inside += 1,
            Ok((code, output)) => panic!("the volume was not in the container ({code}): {output}"),
            Err(_) => failed += 1,
        }
    }
    let swaps = racer.stop();
    assert!(swaps > 40, "the race did not run ({swaps} swaps)");
    assert!(inside > 0, "no start succeeded ({failed} failed)");
    assert_untouched(host.path());
}

/// A thread that exchanges two names until stopped, also when the test fails (it must stop
/// before the test's directory is removed).
struct Racer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Racer {
    fn start(dir: PathBuf, link: PathBuf) -> Racer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !flag.load(Ordering::Relaxed) {
                // Exchange the two names atomically: `data` is a directory, then the link.
                nix::fcntl::renameat2(
                    nix::fcntl::AT_FDCWD,
                    &dir,
                    nix::fcntl::AT_FDCWD,
                    &link,
                    nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                )
                .expect("exchange");
                swaps += 1;
            }
            swaps
        });
        Racer {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread: how many exchanges it made.
    fn stop(mut self) -> u64 {
        self.halt()
    }

    fn halt(&mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().expect("racer"))
            .unwrap_or(0)
    }
}

impl Drop for Racer {
    fn drop(&mut self) {
        self.halt();
    }
}
