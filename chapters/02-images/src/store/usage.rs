//! What the images take on disk, counted as `docker system df` counts it.
//!
//! Layers are shared by content, so an image's size (all its layers) overstates what removing
//! it would free. Docker reports three figures: each image's `Size`, its `SharedSize` (the
//! part in layers that other images use too), and `LayersSize`, every layer once. The
//! reclaimable space of unused images follows from those.

use std::collections::BTreeMap;

use super::{Store, StoreError, disk_usage};
use crate::digest::Digest;

/// Disk use of the store's images.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DiskUse {
    /// Every layer counted once, in bytes.
    pub layers_size: u64,
    /// Per image: its size, and how much of it is in layers other images use too.
    pub images: BTreeMap<Digest, ImageUse>,
}

/// One image's share of [`DiskUse`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImageUse {
    pub size: u64,
    pub shared_size: u64,
}

impl Store {
    // ANCHOR: disk_use
    /// Measures every layer once and shares the figures out to the images.
    pub fn disk_use(&self) -> Result<DiskUse, StoreError> {
        let images = self.images()?;
        let mut layers: BTreeMap<Digest, (u64, usize)> = BTreeMap::new();
        for image in &images {
            // An image that repeats a layer uses it once.
            let mut own: Vec<Digest> = image.record.layers.iter().map(|l| l.diff_id).collect();
            own.sort();
            own.dedup();
            for diff_id in own {
                let entry = layers
                    .entry(diff_id)
                    .or_insert_with(|| (disk_usage(&self.layer_path(&diff_id)), 0));
                entry.1 += 1;
            }
        }
        let mut usage = DiskUse {
            layers_size: layers.values().map(|(size, _)| size).sum(),
            ..DiskUse::default()
        };
        for image in &images {
            let mut own: Vec<Digest> = image.record.layers.iter().map(|l| l.diff_id).collect();
            own.sort();
            own.dedup();
            let (mut size, mut shared_size) = (0, 0);
            for diff_id in own {
                let (bytes, users) = layers[&diff_id];
                size += bytes;
                if users > 1 {
                    shared_size += bytes;
                }
            }
            usage
                .images
                .insert(image.record.id, ImageUse { size, shared_size });
        }
        Ok(usage)
    }
    // ANCHOR_END: disk_use
}
