//! Pruning: removing in one call every stopped container, or every unused image, that a
//! filter selects (`docker container prune`, `docker image prune`, `docker system prune`).
//!
//! dockerd answers each with what it removed and the space that freed (`SpaceReclaimed`),
//! so the sizes are measured here, at removal: a container's writable layer before it goes,
//! and for images the layers that no image uses any more (the ones chapter 2's garbage
//! collection moves aside), not the images' total sizes, which count shared layers. A
//! container that starts, or an image that a container starts using, between the choice and
//! the removal is skipped, not forced: pruning only ever takes what is unused.

use berth_images::container;
use berth_images::store::{Removed, StoreError, StoreImage, disk_usage};

use super::{ContainerView, Engine, EngineError, Status};

/// What a prune removed, and how many bytes that freed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned<T> {
    pub removed: Vec<T>,
    pub reclaimed: u64,
}

impl<T> Default for Pruned<T> {
    fn default() -> Self {
        Pruned {
            removed: Vec::new(),
            reclaimed: 0,
        }
    }
}

impl Engine {
    // ANCHOR: prune_containers
    /// Removes every container that is not running and that `select` accepts; returns their
    /// ids.
    pub fn prune_containers(
        &self,
        select: impl Fn(&ContainerView) -> bool,
    ) -> Result<Pruned<String>, EngineError> {
        let mut pruned = Pruned::default();
        for view in self.containers()? {
            if matches!(view.status, Status::Running | Status::Removing) || !select(&view) {
                continue;
            }
            // Its writable layer: what `docker ps -s` calls SizeRw.
            let size = disk_usage(&view.record.dir(&self.store).join("upper"));
            match self.remove(&view.record.id, false) {
                Ok(record) => {
                    pruned.removed.push(record.id);
                    pruned.reclaimed += size;
                }
                // Started, or removed by someone else, since we looked: not ours to take.
                Err(EngineError::RemoveRunning(_) | EngineError::NoSuchContainer(_)) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(pruned)
    }
    // ANCHOR_END: prune_containers

    // ANCHOR: prune_images
    /// Removes every image no container uses that `select` accepts, all its names with it;
    /// with `dangling_only`, only images without a name (`docker image prune` without `-a`).
    pub fn prune_images(
        &self,
        dangling_only: bool,
        select: impl Fn(&StoreImage) -> bool,
    ) -> Result<Pruned<Removed>, StoreError> {
        let store = &self.store;
        let mut pruned = Pruned::default();
        for image in store.images()? {
            if (dangling_only && !image.names.is_empty())
                || container::user_of(store, &image.record.id).is_some()
                || !select(&image)
            {
                continue;
            }
            let id = image.record.id.to_string();
            let removed = store.remove_image_later(&id, true, |id| container::user_of(store, id));
            match removed {
                Ok((removed, trash)) => {
                    pruned.removed.extend(removed);
                    if let Some(trash) = trash {
                        pruned.reclaimed += disk_usage(&trash.join("layers"));
                        std::thread::spawn(move || std::fs::remove_dir_all(trash));
                    }
                }
                // Used or removed since we looked.
                Err(StoreError::InUse { .. } | StoreError::NoSuchImage(_)) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(pruned)
    }
    // ANCHOR_END: prune_images
}
