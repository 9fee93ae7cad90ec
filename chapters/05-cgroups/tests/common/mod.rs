//! What every test of this chapter shares: a cgroup subtree of its own, removed on drop
//! (also when the test fails), and a way to run `ch05` in it.

#![allow(dead_code)] // each test file uses a part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use berth_cgroups::{Cgroup, Layout};
use nix::mount::{MntFlags, MsFlags, mount, umount2};

/// A parent cgroup for one test (`berth-test-<label>-<pid>-<n>` in every hierarchy) and a
/// state directory for `ch05`'s lock files. Dropping it kills whatever is still in the
/// subtree and removes it.
pub struct Scope {
    pub parent: String,
    pub state: tempfile::TempDir,
    pub layout: Layout,
}

impl Scope {
    pub fn new(label: &str) -> Scope {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Scope {
            parent: format!("berth-test-{label}-{}-{n}", std::process::id()),
            state: berth_tests::test_dir(label),
            layout: Layout::detect().expect("reading this machine's cgroup layout"),
        }
    }

    /// The parent's directory in each hierarchy a container's cgroup uses.
    pub fn parent_dirs(&self) -> Vec<PathBuf> {
        self.layout
            .used()
            .iter()
            .map(|h| h.mount_point.join(&self.parent))
            .collect()
    }

    /// The containers' cgroups left under the parent, in any hierarchy.
    pub fn leftovers(&self) -> Vec<PathBuf> {
        let mut left = Vec::new();
        for dir in self.parent_dirs() {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                left.extend(
                    entries
                        .filter_map(Result::ok)
                        .filter(|e| e.path().is_dir())
                        .map(|e| e.path()),
                );
            }
        }
        left
    }

    /// Runs `ch05 run --rootfs BUSYBOX --cgroup-parent P --state S FLAGS -- CMD`.
    pub fn ch05(&self, flags: &[&str], command: &[&str]) -> Run {
        Run::from(
            self.ch05_command(flags, command)
                .output()
                .expect("running ch05"),
        )
    }

    /// The same command, not started yet.
    pub fn ch05_command(&self, flags: &[&str], command: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ch05"));
        cmd.arg("run")
            .arg("--rootfs")
            .arg(berth_tests::busybox_rootfs())
            .args(["--cgroup-parent", &self.parent])
            .arg("--state")
            .arg(self.state.path())
            .args(flags)
            .arg("--")
            .args(command);
        cmd
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        for dir in self.leftovers() {
            if let Some(id) = dir.file_name().and_then(|n| n.to_str()) {
                let _ = Cgroup::open(&self.layout, &self.parent, id).remove();
            }
        }
        for dir in self.parent_dirs() {
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

/// What a run of `ch05` printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A `cgroup2` mount on a temporary directory, unmounted on drop (also on failure).
pub struct V2Mount {
    dir: tempfile::TempDir,
}

impl V2Mount {
    pub fn new() -> Result<V2Mount, String> {
        let dir = berth_tests::test_dir("cgroup2");
        let none = None::<&str>;
        mount(
            Some("cgroup2"),
            dir.path(),
            Some("cgroup2"),
            MsFlags::empty(),
            none,
        )
        .map_err(|e| format!("mounting cgroup2 on {}: {e}", dir.path().display()))?;
        Ok(V2Mount { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for V2Mount {
    fn drop(&mut self) {
        let _ = umount2(self.dir.path(), MntFlags::MNT_DETACH);
    }
}

/// Removes the test's parent cgroup in the v2 mount, whatever happened.
pub struct V2Parent(pub PathBuf);

impl Drop for V2Parent {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.0) {
            for entry in entries.filter_map(Result::ok).filter(|e| e.path().is_dir()) {
                // Killing is asynchronous: rmdir is EBUSY until the kernel is done.
                let _ = std::fs::write(entry.path().join("cgroup.kill"), "1");
                for _ in 0..200 {
                    if std::fs::remove_dir(entry.path()).is_ok() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// A private `cgroup2` mount with a parent cgroup for one test, on a machine whose
/// controllers are v1's; `None` (saying why) where the test must be skipped. Its fields drop
/// in order: the parent's cgroups first, then the mount.
pub struct V2Scope {
    _cleanup: V2Parent,
    pub parent: String,
    pub layout: Layout,
    pub mount: V2Mount,
}

impl V2Scope {
    pub fn new(label: &str) -> Option<V2Scope> {
        use berth_cgroups::Kind;
        if Layout::detect().expect("layout").kind() == Kind::V2 {
            eprintln!("skipped: this machine is pure cgroup v2, which the other tests use");
            return None;
        }
        let mount = match V2Mount::new() {
            Ok(mount) => mount,
            Err(why) => {
                eprintln!("skipped: the kernel does not let us mount cgroup v2 here: {why}");
                return None;
            }
        };
        let layout = Layout::v2_at(mount.path()).expect("the v2 root's cgroup.controllers");
        let parent = format!("berth-test-{label}-{}", std::process::id());
        Some(V2Scope {
            _cleanup: V2Parent(mount.path().join(&parent)),
            parent,
            layout,
            mount,
        })
    }
}
