//! The cgroups of a test daemon's containers (chapter 5): a daemon with busybox, and a guard
//! that removes its parent cgroup, and anything left in it, also when the test fails.

use std::path::PathBuf;

use berth_cgroups::{Cgroup, Layout};

use super::Daemon;
use super::registry::BusyboxRegistry;

/// A daemon with busybox pulled, and the guard of its cgroups (dropped first).
pub struct Limited {
    /// The guard of the daemon's cgroups.
    pub cgroups: CgroupGuard,
    /// The daemon.
    pub daemon: Daemon,
    _registry: BusyboxRegistry,
    /// The busybox image's reference.
    pub image: String,
}

/// A daemon labelled `label`, with busybox pulled from a registry of its own.
pub fn daemon_with_busybox(label: &str) -> Limited {
    let registry = BusyboxRegistry::start();
    let daemon = Daemon::builder().label(label).start();
    let image = registry.image();
    daemon.docker(&["pull", "-q", &image]).ok();
    Limited {
        cgroups: CgroupGuard::for_daemon(&daemon),
        daemon,
        _registry: registry,
        image,
    }
}

/// The daemon's parent cgroup in every hierarchy; on drop, what is left in it is killed and
/// removed, then the parent itself.
pub struct CgroupGuard {
    /// This machine's cgroup layout.
    pub layout: Layout,
    /// The daemon's parent cgroup.
    pub parent: String,
}

impl CgroupGuard {
    /// The guard of `daemon`'s parent cgroup.
    pub fn for_daemon(daemon: &Daemon) -> CgroupGuard {
        CgroupGuard {
            layout: Layout::detect().expect("this machine's cgroup layout"),
            parent: berth_cgroups::engine::parent_for_store(&daemon.data_root()),
        }
    }

    /// The containers' cgroups under the parent, in any hierarchy.
    pub fn children(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for h in self.layout.used() {
            if let Ok(entries) = std::fs::read_dir(h.mount_point.join(&self.parent)) {
                found.extend(
                    entries
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.is_dir()),
                );
            }
        }
        found
    }

    /// The text of container `id`'s cgroup file `v1` (or `v2` where the controller is in
    /// the v2 hierarchy), in the hierarchy holding `controller`, trimmed.
    pub fn read(&self, controller: &str, id: &str, v1: &str, v2: &str) -> String {
        let dir = self.dir(controller, id);
        let file = if dir.join(v1).exists() { v1 } else { v2 };
        std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
            .trim()
            .to_owned()
    }

    /// The directory of container `id`'s cgroup in the hierarchy holding `controller`.
    pub fn dir(&self, controller: &str, id: &str) -> PathBuf {
        let h = self
            .layout
            .find(controller)
            .expect("the controller is mounted");
        h.mount_point.join(&self.parent).join(id)
    }
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        for dir in self.children() {
            if let Some(id) = dir.file_name().and_then(|n| n.to_str()) {
                let cgroup = Cgroup::open(&self.layout, &self.parent, id);
                // A test that failed while its container was paused: frozen, it would not die.
                let _ = cgroup.thaw();
                let _ = cgroup.remove();
            }
        }
        for h in self.layout.used() {
            let _ = std::fs::remove_dir(h.mount_point.join(&self.parent));
        }
    }
}
