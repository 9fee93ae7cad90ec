//! Volumes in the engine: chapter 8 as an extension of chapter 4's daemon.
//!
//! In Docker the daemon owns the volumes: it makes them when a container is created, mounts
//! them at each start, and removes a container's anonymous volumes when the container is
//! removed with `-v`, or by itself after an exit with `--rm`. Chapter 4's engine has a seam
//! for that ([`Extension`]): this module fills it. A container's mounts are decided when it is
//! created (by the API, with [`crate::ContainerMounts::create`], kept in its record's
//! `"mounts"` slot); at each
//! start the monitor adds the child steps that mount them ([`Extension::configure`]); when the
//! container is gone, the anonymous volumes marked to go with it go ([`Extension::release`]),
//! also after a daemon that was killed meanwhile starts again ([`Extension::sweep_orphans`]).

use std::path::{Path, PathBuf};

use berth_daemon::engine::{Extension, ExtensionError};
use berth_images::container::ContainerRecord;
use berth_namespaces::ContainerConfig;

use crate::attach::ContainerMounts;
use crate::volume::{VolumeError, Volumes};

// ANCHOR: extension
/// Chapter 8's part of a container's life in the engine of the store at `root`.
#[derive(Debug)]
pub struct VolumeExtension {
    root: PathBuf,
}

impl VolumeExtension {
    /// The extension for the data root `root` (volumes under `root/volumes`).
    pub fn for_store(root: &Path) -> VolumeExtension {
        VolumeExtension {
            root: root.to_owned(),
        }
    }

    fn volumes(&self) -> Result<Volumes, VolumeError> {
        Volumes::open(&self.root)
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// Removes the volumes marked to go with a container for which `gone` is true.
    fn remove_marked(&self, gone: &dyn Fn(&str) -> bool) -> Result<(), ExtensionError> {
        let volumes = self.volumes()?;
        for volume in volumes.list()? {
            let marked = volume.remove_with.as_deref().is_some_and(gone);
            // Still used through `--volumes-from`: it stays.
            let containers = self.root.join("containers");
            if marked && crate::attach::users(&containers, &volume.name).is_empty() {
                volumes.remove(&volume.name, &[], true)?;
            }
        }
        Ok(())
    }
}

impl Extension for VolumeExtension {
    fn name(&self) -> &str {
        "volumes"
    }

    fn prepare(&self, record: &ContainerRecord, dir: &Path) -> Result<(), ExtensionError> {
        // Made at create; a start only checks that every volume is still there.
        let volumes = self.volumes()?;
        for mount in ContainerMounts::load(dir)?.mounts {
            if let Some(name) = &mount.name {
                volumes
                    .get(name)
                    .map_err(|e| format!("container {}: {e}", record.id))?;
            }
        }
        Ok(())
    }

    fn configure(
        &self,
        record: &ContainerRecord,
        config: &mut ContainerConfig,
    ) -> Result<(), ExtensionError> {
        let mounts = ContainerMounts::load(&self.container_dir(&record.id))?;
        mounts.add_steps(&self.volumes()?, config)?;
        Ok(())
    }

    fn release(&self, id: &str) -> Result<(), ExtensionError> {
        // Called after a failed start too: only a container that is gone loses its volumes.
        if self.container_dir(id).exists() {
            return Ok(());
        }
        self.remove_marked(&|owner| owner == id)
    }

    fn sweep_orphans(&self, exists: &dyn Fn(&str) -> bool) -> Result<(), ExtensionError> {
        self.remove_marked(&|owner| !exists(owner))
    }
}
// ANCHOR_END: extension
