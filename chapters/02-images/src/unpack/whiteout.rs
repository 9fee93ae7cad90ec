//! # Whiteouts: how a layer deletes files
//!
//! A layer is a diff: it adds and changes files, and it must also be able to *delete* files
//! of the layers below. A tar cannot say "delete", so Docker's layer format (inherited from
//! AUFS, now part of the OCI image spec) uses marker names:
//!
//! - `dir/.wh.NAME`: `dir/NAME` of the lower layers is deleted;
//! - `dir/.wh..wh..opq`: `dir` is *opaque*: nothing of the lower layers' `dir` shows through,
//!   only what this layer (and the ones above) put in it.
//!
//! overlayfs, which stacks the unpacked layers into a container's root, has its own markers
//! for the same two things, and Docker's overlay2 driver translates on unpack
//! (`overlayWhiteoutConverter`):
//!
//! - a whiteout is a character device with device number 0/0 named `NAME`;
//! - an opaque directory carries the extended attribute `trusted.overlay.opaque=y`.
//!
//! Berth does the same, so a layer directory is ready to be a `lowerdir` as is. A whiteout's
//! name is checked like any entry name: `.wh...` would name `..`, the parent, and is refused.
//! Other `.wh..wh.` names are AUFS's own bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`), which
//! no layer written since Docker 1.10 contains; they are refused rather than half-understood.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;

use nix::sys::stat::{Mode, SFlag, mknodat};
use nix::unistd::{Gid, Uid, fchownat};

use super::beneath::Root;
use super::entry::create_replacing;
use super::metadata::Metadata;
use super::name::EntryPath;
use super::{Failure, Refusal};

/// The prefix of a whiteout entry's last component.
pub const WHITEOUT_PREFIX: &str = ".wh.";

/// The name of the opaque-directory marker entry.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// The prefix of AUFS's metadata names.
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";

/// The extended attribute that makes a directory opaque to overlayfs (its value is `y`).
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// [`OPAQUE_XATTR`] for the kernel.
const OPAQUE_XATTR_C: &std::ffi::CStr = c"trusted.overlay.opaque";

/// What a `.wh.` entry asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Whiteout<'a> {
    /// Delete `name` of the lower layers, in the entry's directory.
    Delete(&'a [u8]),
    /// Make the entry's directory opaque.
    Opaque,
}

// ANCHOR: whiteout_classify
/// If `path` is a whiteout, what it asks for (or why it is refused).
// EXERCISE: None unless the name starts with WHITEOUT_PREFIX; OPAQUE_MARKER is Opaque; other .wh..wh. names are AufsMetadata; an empty, '.' or '..' name is BadWhiteout; else Delete(the hidden name)
pub(crate) fn classify(path: &EntryPath) -> Option<Result<Whiteout<'_>, Refusal>> {
    let name = path.name();
    let hidden = name.strip_prefix(WHITEOUT_PREFIX.as_bytes())?;
    Some(if name == OPAQUE_MARKER.as_bytes() {
        Ok(Whiteout::Opaque)
    } else if name.starts_with(AUFS_META_PREFIX) {
        Err(Refusal::AufsMetadata)
    } else if hidden.is_empty() || hidden == b"." || hidden == b".." {
        Err(Refusal::BadWhiteout)
    } else {
        Ok(Whiteout::Delete(hidden))
    })
}
// ANCHOR_END: whiteout_classify

// ANCHOR: whiteout_apply
/// Applies a whiteout as overlayfs understands it.
pub(crate) fn apply(
    root: &Root,
    path: &EntryPath,
    whiteout: Whiteout<'_>,
    metadata: &Metadata,
) -> Result<(), Failure> {
    // The directory holding the marker, resolved beneath the root like any other: a marker
    // under a symlink that points out is refused there (EXDEV), never applied outside.
    let parent = root.open_or_create_dir(path.parent())?;
    match whiteout {
        Whiteout::Opaque => {
            let name = OPAQUE_XATTR_C;
            // SAFETY: `name` is NUL-terminated, the value is a 1-byte static slice.
            let rc = unsafe {
                libc::fsetxattr(
                    parent.as_fd().as_raw_fd(),
                    name.as_ptr(),
                    b"y".as_ptr().cast(),
                    1,
                    0,
                )
            };
            if rc != 0 {
                return Err(Failure::io(
                    "marking its directory opaque (setting trusted.overlay.opaque needs root \
                     and a filesystem with trusted xattrs)",
                    std::io::Error::last_os_error(),
                ));
            }
            Ok(())
        }
        Whiteout::Delete(hidden) => {
            let parent = parent.as_fd();
            let hidden = OsStr::from_bytes(hidden);
            create_replacing(parent, hidden.as_bytes(), "whiteout device", || {
                mknodat(
                    parent,
                    hidden,
                    SFlag::S_IFCHR,
                    Mode::empty(),
                    libc::makedev(0, 0),
                )
            })?;
            // Docker keeps the marker's owner; mode and times mean nothing on a whiteout.
            fchownat(
                parent,
                hidden,
                Some(Uid::from_raw(metadata.uid)),
                Some(Gid::from_raw(metadata.gid)),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| Failure::io("setting the whiteout's owner", e))
        }
    }
}
// ANCHOR_END: whiteout_apply

#[cfg(test)]
mod tests {
    use super::*;

    /// The classification of `raw`, with a deleted name as a string.
    fn of(raw: &str) -> Option<Result<String, Refusal>> {
        let path = EntryPath::parse(raw.as_bytes()).unwrap();
        classify(&path).map(|result| {
            result.map(|whiteout| match whiteout {
                Whiteout::Delete(name) => String::from_utf8(name.to_vec()).unwrap(),
                Whiteout::Opaque => "<opaque>".to_owned(),
            })
        })
    }

    #[test]
    fn recognises_markers() {
        assert_eq!(of("etc/.wh.passwd"), Some(Ok("passwd".into())));
        assert_eq!(of(".wh..wh..opq"), Some(Ok("<opaque>".into())));
        assert_eq!(of("a/b/.wh..wh..opq"), Some(Ok("<opaque>".into())));
        assert_eq!(of("etc/passwd"), None);
        assert_eq!(of(".wh.dir/file"), None);
        assert_eq!(of("x/.wh..hidden"), Some(Ok(".hidden".into())));
    }

    #[test]
    fn refuses_markers_that_name_no_single_file() {
        for bad in [".wh.", "a/.wh..", "a/.wh..."] {
            assert_eq!(of(bad), Some(Err(Refusal::BadWhiteout)), "{bad}");
        }
        assert_eq!(of(".wh..wh.plnk"), Some(Err(Refusal::AufsMetadata)));
    }
}
