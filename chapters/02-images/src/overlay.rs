//! The container's root: an overlay of the image's layers plus one writable layer.
//!
//! overlayfs merges directories. The image's layers are *lower* directories, read-only and
//! shared by every container of the image; each container gets its own *upper* directory
//! where every change lands, and a *work* directory overlayfs needs for atomic copy-ups.
//!
//! ```text
//!   merged (the container's /)   what the container sees
//!   ───────────────────────────
//!   upper  (containers/<id>/upper)   its writes, new files, whiteouts for its deletions
//!   lower  layers/<top>              the image's newest layer
//!          layers/...                ...
//!          layers/<bottom>           the base layer
//! ```
//!
//! Reading a path looks from the top down and takes the first layer that has it; a whiteout
//! (a 0:0 character device) hides the path in all lower layers, and an *opaque* directory
//! (xattr `trusted.overlay.opaque=y`) hides the lower layers' contents of that directory.
//! Writing to a file of a lower layer first copies it up. Starting a container is therefore
//! one `mount(2)`, whatever the image's size: no copy, no unpack.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::store::{ImageRecord, Store};
use crate::unpack::OPAQUE_XATTR;

/// The most mount options the kernel takes in one `mount(2)` call: one page.
const MAX_OPTIONS: usize = 4095;

/// Why an overlay could not be described.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OverlayError {
    #[error("image {0} has no layers: there is nothing to mount")]
    NoLayers(String),
    #[error(
        "image {image} has too many layers for one overlay mount: the options take {len} bytes, \
         the kernel takes at most {MAX_OPTIONS}"
    )]
    TooManyLayers { image: String, len: usize },
}

// ANCHOR: options
/// The options of the overlay mount for `image` with the container's `upper` and `work`.
// EXERCISE: lowerdir lists the layers' directories top layer first, joined by ':'; then upperdir and workdir; refuse an image without layers and options longer than MAX_OPTIONS
pub fn mount_options(
    store: &Store,
    image: &ImageRecord,
    upper: &Path,
    work: &Path,
) -> Result<String, OverlayError> {
    if image.layers.is_empty() {
        return Err(OverlayError::NoLayers(image.id.short()));
    }
    // lowerdir lists the layers top first: the opposite of the manifest's order.
    let lower: Vec<String> = image
        .layers
        .iter()
        .rev()
        .map(|layer| store.layer_path(&layer.diff_id).display().to_string())
        .collect();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    if options.len() > MAX_OPTIONS {
        return Err(OverlayError::TooManyLayers {
            image: image.id.short(),
            len: options.len(),
        });
    }
    Ok(options)
}
// ANCHOR_END: options

// ANCHOR: lookup
/// Finds `path` (like `etc/passwd`) in the image as the container will see it, without
/// mounting anything: for each name, the top layer that has it wins, unless a whiteout or an
/// opaque directory above hides it; symlinks are followed inside the image, never out of it.
pub fn find_in_image(store: &Store, image: &ImageRecord, path: &str) -> Option<PathBuf> {
    let mut pending: Vec<String> = components(path).rev().map(str::to_owned).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut links_followed = 0;
    while let Some(name) = pending.pop() {
        match name.as_str() {
            "." => continue,
            ".." => {
                resolved.pop(); // `..` at the root stays at the root, as in the kernel.
                continue;
            }
            _ => {}
        }
        resolved.push(name);
        let (host_path, meta) = merged_entry(store, image, &resolved)?;
        if meta.file_type().is_symlink() {
            links_followed += 1;
            if links_followed > 40 {
                return None; // ELOOP
            }
            let target = fs::read_link(&host_path).ok()?;
            let target = target.to_string_lossy();
            resolved.pop();
            if target.starts_with('/') {
                resolved.clear();
            }
            pending.extend(
                components(&target)
                    .rev()
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            );
        } else if pending.is_empty() {
            return meta.is_file().then_some(host_path);
        } else if !meta.is_dir() {
            return None;
        }
    }
    None
}

/// The entry `components` names in the merged view: the layer directory entry that provides
/// it, top layer first, unless hidden by a whiteout or an opaque directory on the way.
fn merged_entry(
    store: &Store,
    image: &ImageRecord,
    components: &[String],
) -> Option<(PathBuf, fs::Metadata)> {
    for layer in image.layers.iter().rev() {
        let mut path = store.layer_path(&layer.diff_id);
        let mut hides_lower = false;
        for (i, name) in components.iter().enumerate() {
            path.push(name);
            let Ok(meta) = fs::symlink_metadata(&path) else {
                break; // Not in this layer: look in the next one down.
            };
            if is_whiteout(&meta) {
                return None; // Deleted here: the layers below do not count.
            }
            if i + 1 == components.len() {
                return Some((path, meta));
            }
            if !meta.is_dir() {
                return None; // A file (or link) here hides the path in the layers below.
            }
            hides_lower |= is_opaque(&path);
        }
        if hides_lower {
            return None;
        }
    }
    None
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}
// ANCHOR_END: lookup

fn is_whiteout(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let (Ok(path), Ok(name)) = (
        std::ffi::CString::new(dir.as_os_str().as_bytes()),
        std::ffi::CString::new(OPAQUE_XATTR),
    ) else {
        return false;
    };
    let mut value = [0u8; 1];
    // SAFETY: NUL-terminated strings and a buffer of the size we pass.
    let len = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    len == 1 && value[0] == b'y'
}
