//! Chapter 5 in the engine: every container gets its cgroup, with the limits it was created
//! with.
//!
//! dockerd does with each container what `ch05 run` does: it makes `docker/<id>` before the
//! start (runc, through containerd), moves the container's init in before it runs, and
//! removes the cgroup with the container. The engine of chapter 4 has a seam for exactly
//! this, an [`Extension`]: `prepare` in the daemon before each start, `configure` in the
//! monitor (our parent-side step joins the child to the cgroup), `release` after a failed
//! start or a removal, `sweep_orphans` when the daemon opens. The limits and the cgroup
//! namespace mode come from the record's `"limits"` slot ([`Settings`]), written at create
//! from `HostConfig`.
//!
//! Each store gets a parent cgroup of its own ([`parent_for_store`]): the default store's is
//! `berth`, as dockerd's is `docker`; another store (a test's, a second daemon's) gets
//! `berth-<hash of its path>`, so that one daemon's orphan sweep never takes another daemon's
//! containers for orphans. A sweep only considers names that are container ids (64 hex
//! digits), so `ch05`'s containers (12 digits) under the same parent are never touched.

use std::path::Path;

use berth_daemon::engine::{Extension, ExtensionError, Freezer};
use berth_images::container::{ContainerError, ContainerRecord};
use berth_images::state::RunState;
use berth_images::store::Store;
use berth_namespaces::ContainerConfig;

use crate::cgroup::{Cgroup, CgroupError};
use crate::devices::DeviceSettings;
use crate::layout::{Layout, LayoutError};
use crate::namespace::{CgroupNs, UnshareCgroupNs};
use crate::resources::{ResourceError, Resources};
use crate::top::{Table, TopError};
use crate::usage::Usage;

/// The file in a container's directory that holds its cgroup's OOM kill counter as it was
/// at the last start: the counter only grows, and the cgroup lives across restarts.
const OOM_BASELINE: &str = "oom-kills-at-start";

/// Why `docker update` could not change a container's limits.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The new limits are refused (as at create): 400.
    #[error(transparent)]
    Invalid(#[from] ResourceError),
    /// The running container's cgroup could not take them (nothing was recorded).
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// Where the cgroups are could not be read.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The record could not be read or written.
    #[error(transparent)]
    Record(#[from] ContainerError),
    /// The record's slot does not parse.
    #[error("the container's \"{SLOT}\" slot: {0}")]
    Slot(#[from] serde_json::Error),
}

/// The record's slot that holds a container's [`Resources`].
pub const SLOT: &str = "limits";

/// The store a daemon uses when given none (`berthd`'s default `--data-root`).
pub const DEFAULT_STORE: &str = "/var/lib/berth";

/// The parent cgroup of the containers of the store at `root`.
pub fn parent_for_store(root: &Path) -> String {
    if root == Path::new(DEFAULT_STORE) {
        return "berth".to_owned();
    }
    // FNV-1a: stable across runs and builds, unlike the standard library's hasher.
    let hash = root
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("berth-{hash:016x}")
}

/// What a container's record keeps in its `"limits"` slot: `HostConfig`'s limits, its
/// `CgroupnsMode`, and what changes its device allowlist (`Privileged`, `Devices`,
/// `DeviceCgroupRules`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// The limits.
    #[serde(flatten)]
    pub resources: Resources,
    /// `--cgroupns`; `None`: Docker's default for the machine (private on pure v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroupns: Option<CgroupNs>,
    /// `--privileged`, `--device`, `--device-cgroup-rule`; Docker's allowlist if empty.
    #[serde(default, skip_serializing_if = "DeviceSettings::is_empty")]
    pub devices: DeviceSettings,
}

impl Settings {
    /// Whether nothing is asked for (no slot is written then).
    pub fn is_empty(&self) -> bool {
        *self == Settings::default()
    }
}

/// The settings in a record's slot (the defaults if it has no slot).
pub fn settings(record: &ContainerRecord) -> Result<Settings, ExtensionError> {
    match record.slots.get(SLOT) {
        None => Ok(Settings::default()),
        Some(value) => Ok(serde_json::from_value(value.clone())?),
    }
}

/// Whether a cgroup's name is an engine container's id: 64 lower-case hex digits.
fn is_container_id(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

// ANCHOR: extension
/// The cgroups extension of the engine.
#[derive(Debug)]
pub struct CgroupExtension {
    parent: String,
}

impl CgroupExtension {
    /// The extension for the store at `root`.
    pub fn for_store(root: &Path) -> CgroupExtension {
        CgroupExtension {
            parent: parent_for_store(root),
        }
    }

    /// Its parent cgroup's name.
    pub fn parent(&self) -> &str {
        &self.parent
    }

    /// Container `id`'s cgroup (it exists from its first start to its removal).
    pub fn cgroup(&self, id: &str) -> Result<Cgroup, LayoutError> {
        Ok(Cgroup::open(&Layout::detect()?, &self.parent, id))
    }

    /// `docker stats`: container `id`'s counters now.
    pub fn usage(&self, id: &str) -> Result<Usage, ExtensionError> {
        Ok(self.cgroup(id)?.usage()?)
    }

    /// `docker top`: `ps ps_args`, the rows of container `id`'s processes.
    pub fn top(&self, id: &str, ps_args: &str) -> Result<Table, TopError> {
        let pids = self.cgroup(id).map(|c| c.pids()).unwrap_or_default();
        crate::top::top(&pids, ps_args)
    }

    // ANCHOR: update
    /// `docker update`: merges `changes` into container `id`'s limits, writes them into its
    /// cgroup if it has one (a running or stopped container; a created one has none yet),
    /// then into its record, so that the next start applies them too. The new limits are
    /// checked as at create, and nothing is recorded if the cgroup refused them.
    pub fn update(
        &self,
        store: &Store,
        id: &str,
        changes: &Resources,
    ) -> Result<Settings, UpdateError> {
        let record = berth_images::container::find(store, id)?;
        let mut settings: Settings = match record.slots.get(SLOT) {
            None => Settings::default(),
            Some(value) => serde_json::from_value(value.clone())?,
        };
        settings.resources = settings.resources.merged(changes);
        settings.resources.validate()?;
        let cgroup = self.cgroup(&record.id)?;
        if cgroup.paths().iter().any(|p| p.is_dir()) {
            cgroup.apply(&settings.resources)?;
        }
        berth_images::container::set_slot(
            store,
            &record.id,
            SLOT,
            serde_json::to_value(&settings)?,
        )?;
        Ok(settings)
    }
    // ANCHOR_END: update
}

impl Freezer for CgroupExtension {
    fn freeze(&self, id: &str) -> Result<(), ExtensionError> {
        Ok(self.cgroup(id)?.freeze()?)
    }

    fn thaw(&self, id: &str) -> Result<(), ExtensionError> {
        Ok(self.cgroup(id)?.thaw()?)
    }

    fn is_frozen(&self, id: &str) -> bool {
        self.cgroup(id).is_ok_and(|c| c.is_frozen())
    }
}

impl Extension for CgroupExtension {
    fn name(&self) -> &str {
        "cgroups"
    }

    fn prepare(&self, record: &ContainerRecord, dir: &Path) -> Result<(), ExtensionError> {
        let settings = settings(record)?;
        // The `--device` nodes are read on the host first: a missing one fails the start
        // before anything is made, as dockerd's does.
        let allowlist = settings.devices.allowlist()?;
        let layout = Layout::detect()?;
        let cgroup = Cgroup::create(&layout, &self.parent, &record.id)?;
        // Written at every start: the same limits, into a cgroup made now or by a start before.
        cgroup.apply(&settings.resources)?;
        cgroup.apply_devices(&allowlist)?;
        // The OOM counter of a cgroup made by an earlier start still counts that run's kills.
        let baseline = dir.join(OOM_BASELINE);
        berth_images::store::atomic::write_fast(
            &baseline,
            cgroup.oom_kills()?.to_string().as_bytes(),
        )
        .map_err(|source| CgroupError::Write {
            path: baseline,
            source,
        })?;
        cgroup.keep();
        Ok(())
    }

    // ANCHOR: exited
    fn exited(&self, record: &ContainerRecord, dir: &Path, state: &mut RunState) {
        let Ok(cgroup) = self.cgroup(&record.id) else {
            return;
        };
        let baseline: u64 = std::fs::read_to_string(dir.join(OOM_BASELINE))
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        // Unreadable counters say nothing: not OOM-killed, as dockerd would show it.
        state.oom_killed = cgroup.oom_kills().is_ok_and(|kills| kills > baseline);
    }
    // ANCHOR_END: exited

    fn freezer(&self) -> Option<&dyn Freezer> {
        Some(self)
    }

    fn configure(
        &self,
        record: &ContainerRecord,
        config: &mut ContainerConfig,
    ) -> Result<(), ExtensionError> {
        let layout = Layout::detect()?;
        let settings = settings(record)?;
        config
            .steps
            .add_parent(Cgroup::open(&layout, &self.parent, &record.id).join_step());
        for node in settings.devices.nodes()? {
            config.steps.add_child(node);
        }
        let cgroupns = settings
            .cgroupns
            .unwrap_or_else(|| CgroupNs::default_for(layout.kind()));
        if cgroupns == CgroupNs::Private {
            config.steps.add_child(UnshareCgroupNs);
        }
        Ok(())
    }

    fn release(&self, id: &str) -> Result<(), ExtensionError> {
        let layout = Layout::detect()?;
        Cgroup::open(&layout, &self.parent, id).remove()?;
        // The last container gone, the parent goes too: a test daemon's store leaves nothing.
        crate::cgroup::remove_parent_if_empty(&layout, &self.parent);
        Ok(())
    }

    fn sweep_orphans(&self, exists: &dyn Fn(&str) -> bool) -> Result<(), ExtensionError> {
        let layout = Layout::detect()?;
        let mut orphans = Vec::new();
        for hierarchy in layout.used() {
            let Ok(entries) = std::fs::read_dir(hierarchy.mount_point.join(&self.parent)) else {
                continue; // no parent yet in this hierarchy: nothing to sweep
            };
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().into_owned();
                if is_container_id(&name) && !exists(&name) && !orphans.contains(&name) {
                    orphans.push(name);
                }
            }
        }
        for id in orphans {
            Cgroup::open(&layout, &self.parent, &id).remove()?;
        }
        crate::cgroup::remove_parent_if_empty(&layout, &self.parent);
        Ok(())
    }
}
// ANCHOR_END: extension

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_store_has_its_own_parent() {
        assert_eq!(parent_for_store(Path::new("/var/lib/berth")), "berth");
        let a = parent_for_store(Path::new("/tmp/a"));
        assert_ne!(a, parent_for_store(Path::new("/tmp/b")));
        assert_eq!(a, parent_for_store(Path::new("/tmp/a")), "stable");
        assert!(a.starts_with("berth-") && a.len() == 22, "{a}");
    }

    #[test]
    fn only_container_ids_are_swept() {
        assert!(is_container_id(&"ab".repeat(32)));
        assert!(!is_container_id("41e798710433"), "a ch05 container");
        assert!(!is_container_id(&"AB".repeat(32)));
    }
}
