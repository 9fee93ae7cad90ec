//! # Creating one entry: files, directories, links and device nodes
//!
//! Each kind of tar entry becomes one `*at()` call on the entry's last component, in its parent
//! directory (already resolved beneath the root by `beneath.rs`):
//!
//! | tar type | call |
//! |---|---|
//! | regular file | `openat(O_CREAT \| O_EXCL \| O_NOFOLLOW)`, then the data |
//! | directory | `mkdirat` |
//! | symlink | `symlinkat` (the target is data: it is never followed here) |
//! | hard link | `linkat` to an earlier entry of the same layer |
//! | char/block device, fifo | `mknodat` |
//!
//! A tar may list the same path twice; the later entry wins, as in Docker: an existing file,
//! symlink or node is removed first. Two cases are refused instead. A directory is never
//! replaced by anything but a directory (two directory entries merge): removing a directory
//! would delete what earlier entries put in it, and a symlink in its place is the classic
//! first half of an escape. And the hard link target is resolved beneath the root like any
//! other path, so a link can only point at a file of this layer.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstatat, mkdirat, mknodat};
use nix::unistd::{UnlinkatFlags, linkat, symlinkat, unlinkat};

use super::beneath::{Root, show};
use super::metadata::{DirTimes, Metadata, open_dir_nofollow};
use super::name::EntryPath;
use super::{Failure, Refusal};

/// The buffer size for copying file data: large enough that the decompressor, the hasher
/// and `write(2)` each work on big chunks.
pub(crate) const COPY_BUFFER: usize = 256 * 1024;

// ANCHOR: create_replacing
/// Runs `create`, and if the name is taken, removes what is there (unless it is a
/// directory) and runs it again.
pub(crate) fn create_replacing<T>(
    parent: BorrowedFd<'_>,
    name: &[u8],
    what: &str,
    mut create: impl FnMut() -> nix::Result<T>,
) -> Result<T, Failure> {
    match create() {
        Err(Errno::EEXIST) => {}
        other => return other.map_err(|e| Failure::io(format!("creating the {what}"), e)),
    }
    let existing = fstatat(
        parent,
        std::ffi::OsStr::from_bytes(name),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| Failure::io("looking at what is already there", e))?;
    if SFlag::from_bits_truncate(existing.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
        return Err(Failure::Refused(Refusal::ReplacesDirectory));
    }
    unlinkat(
        parent,
        std::ffi::OsStr::from_bytes(name),
        UnlinkatFlags::NoRemoveDir,
    )
    .map_err(|e| Failure::io("removing the earlier entry of the same name", e))?;
    create().map_err(|e| Failure::io(format!("creating the {what}"), e))
}
// ANCHOR_END: create_replacing

/// A regular file: create it empty and private, write exactly `size` bytes of data, then
/// owner, mode, attributes and times. Returns how many bytes of data it read.
pub(crate) fn regular_file(
    root: &Root,
    path: &EntryPath,
    data: &mut impl Read,
    size: u64,
    metadata: &Metadata,
    buffer: &mut [u8],
) -> Result<u64, Failure> {
    let parent = root.open_or_create_dir(path.parent())?;
    let parent = parent.as_fd();
    let name = path.name();
    let name_os = std::ffi::OsStr::from_bytes(name);
    let fd: OwnedFd = create_replacing(parent, name, "file", || {
        openat(
            parent,
            name_os,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
    })?;
    let mut file = File::from(fd);
    let mut written = 0u64;
    loop {
        let n = data
            .read(buffer)
            .map_err(|e| Failure::io("reading its data from the layer", e))?;
        if n == 0 {
            break;
        }
        file.write_all(&buffer[..n])
            .map_err(|e| Failure::io("writing its data", e))?;
        written += n as u64;
    }
    if written != size {
        return Err(Failure::Truncated {
            expected: size,
            got: written,
        });
    }
    metadata.apply_to_fd(file.as_fd())?;
    metadata.set_times_fd(file.as_fd())?;
    Ok(written)
}

/// A directory: create it (or merge with the directory already there), set owner, mode and
/// attributes now and its times at the end.
pub(crate) fn directory(
    root: &Root,
    path: &EntryPath,
    metadata: &Metadata,
    dir_times: &mut DirTimes,
    replaces_files: bool,
) -> Result<(), Failure> {
    if path.is_root() {
        metadata.apply_to_fd(root.fd())?;
        dir_times.defer(b"", metadata);
        return Ok(());
    }
    let parent = root.open_or_create_dir(path.parent())?;
    let parent = parent.as_fd();
    let name = path.name();
    let name_os = std::ffi::OsStr::from_bytes(name);
    let initial = Mode::from_bits_truncate(0o700);
    match mkdirat(parent, name_os, initial) {
        Ok(()) => {}
        Err(Errno::EEXIST) => {
            let existing = fstatat(parent, name_os, AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(|e| Failure::io("looking at what is already there", e))?;
            if SFlag::from_bits_truncate(existing.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
                if !replaces_files {
                    return Err(Failure::Refused(Refusal::ReplacesNonDirectory));
                }
                // A file, symlink or node of the same name from an earlier entry: the
                // directory replaces it (a symlink is removed, never followed).
                unlinkat(parent, name_os, UnlinkatFlags::NoRemoveDir)
                    .map_err(|e| Failure::io("removing the earlier entry of the same name", e))?;
                mkdirat(parent, name_os, initial)
                    .map_err(|e| Failure::io("creating the directory", e))?;
            }
        }
        Err(e) => return Err(Failure::io("creating the directory", e)),
    }
    let dir = open_dir_nofollow(parent, name)?;
    metadata.apply_to_fd(dir.as_fd())?;
    dir_times.defer(path.as_bytes(), metadata);
    Ok(())
}

/// A symbolic link. Its target is stored as the archive says, absolute or with `..`: it is
/// resolved only inside the container, whose root is the image. Unpacking never follows it.
pub(crate) fn symlink(
    root: &Root,
    path: &EntryPath,
    target: &[u8],
    metadata: &Metadata,
) -> Result<(), Failure> {
    if target.contains(&0) {
        return Err(link_target(target, Refusal::NulByte));
    }
    if target.is_empty() {
        return Err(link_target(target, Refusal::EmptyName));
    }
    let parent = root.open_or_create_dir(path.parent())?;
    let parent = parent.as_fd();
    let name = path.name();
    create_replacing(parent, name, "symlink", || {
        symlinkat(
            std::ffi::OsStr::from_bytes(target),
            parent,
            std::ffi::OsStr::from_bytes(name),
        )
    })?;
    metadata.apply_at(parent, name, true)
}

/// A hard link to an earlier entry of this layer. The link shares the target's inode, so
/// its metadata is the target's (GNU tar does not apply a link's header either).
pub(crate) fn hard_link(root: &Root, path: &EntryPath, target: &[u8]) -> Result<(), Failure> {
    // Docker strips a leading `/` from a link target as from a name, so `/bin/sh` means this
    // layer's `bin/sh`. The same cleaning refuses `..`.
    let target_path = EntryPath::parse(target).map_err(|reason| link_target(target, reason))?;
    if target_path.is_root() {
        return Err(link_target(target, Refusal::ReplacesRoot));
    }
    let target_parent = match root.open_dir(target_path.parent()) {
        Ok(dir) => dir,
        Err(Failure::Refused(reason)) => return Err(link_target(target, reason)),
        Err(Failure::Io { action, source }) => {
            return Err(Failure::Io {
                action: format!("finding the link target {}: {action}", show(target)).into(),
                source,
            });
        }
        Err(other) => return Err(other),
    };
    let parent = root.open_or_create_dir(path.parent())?;
    let parent = parent.as_fd();
    let name = path.name();
    let what = format!("hard link to {}", show(target));
    // No AT_SYMLINK_FOLLOW: if the target is a symlink, the new name is a second link to
    // the symlink itself, never to whatever it points at.
    create_replacing(parent, name, &what, || {
        linkat(
            target_parent.as_fd(),
            std::ffi::OsStr::from_bytes(target_path.name()),
            parent,
            std::ffi::OsStr::from_bytes(name),
            AtFlags::empty(),
        )
    })
}

/// A character or block device or a fifo.
pub(crate) fn node(
    root: &Root,
    path: &EntryPath,
    kind: SFlag,
    device: libc::dev_t,
    metadata: &Metadata,
) -> Result<(), Failure> {
    let parent = root.open_or_create_dir(path.parent())?;
    let parent = parent.as_fd();
    let name = path.name();
    create_replacing(parent, name, "node", || {
        mknodat(
            parent,
            std::ffi::OsStr::from_bytes(name),
            kind,
            Mode::empty(),
            device,
        )
    })?;
    metadata.apply_at(parent, name, false)
}

/// A refusal about a link's target.
fn link_target(target: &[u8], reason: Refusal) -> Failure {
    Failure::Refused(Refusal::LinkTarget {
        target: String::from_utf8_lossy(target).into_owned(),
        reason: Box::new(reason),
    })
}
