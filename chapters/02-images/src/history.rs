//! An image's history: which step of its build made which layer, and how big each is.
//!
//! `docker history busybox` reads it from the image config, whose `history` array has one
//! entry per build step, oldest first. Steps that changed only metadata (`ENV`, `CMD`) are
//! marked `empty_layer` and own no layer; each of the others owns the next layer of
//! `rootfs.diff_ids`, in order. Docker pairs them that way and shows each step's layer size,
//! newest step first. A config whose history claims more layers than the image has is
//! damaged, and said so, as dockerd does.

use crate::spec::{self, ImageConfig};
use crate::store::{ImageRecord, Store, StoreError, disk_usage};

/// One line of `docker history`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// When the step ran (RFC 3339), if the config says.
    pub created: Option<String>,
    /// What ran.
    pub created_by: String,
    pub comment: String,
    /// The unpacked size of the layer the step made; 0 for a step that made none.
    pub size: u64,
}

/// Why an image's history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the config of image {image} cannot be read: {reason}")]
    Config { image: String, reason: String },
    #[error(
        "the config of image {image} is damaged: its history has more steps with a layer than \
         the image's {layers} layers"
    )]
    TooManyLayers { image: String, layers: usize },
}

// ANCHOR: history
/// The steps of `record`'s history, newest first, each with the size of its layer.
pub fn history(store: &Store, record: &ImageRecord) -> Result<Vec<Step>, HistoryError> {
    let bytes = store.read_blob(&record.id)?;
    let config: ImageConfig =
        spec::parse("the image config", &bytes).map_err(|reason| HistoryError::Config {
            image: record.id.to_string(),
            reason,
        })?;
    let mut layers = record.layers.iter();
    let mut steps = Vec::new();
    for step in &config.history {
        let size = if step.empty_layer {
            0
        } else {
            let layer = layers.next().ok_or_else(|| HistoryError::TooManyLayers {
                image: record.id.to_string(),
                layers: record.layers.len(),
            })?;
            disk_usage(&store.layer_path(&layer.diff_id))
        };
        steps.push(Step {
            created: step.created.clone(),
            created_by: step.created_by.clone().unwrap_or_default(),
            comment: step.comment.clone().unwrap_or_default(),
            size,
        });
    }
    steps.reverse();
    Ok(steps)
}
// ANCHOR_END: history
