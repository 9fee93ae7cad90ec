//! Filling a new volume with the image's files: Docker's "copy-up".
//!
//! When a container mounts an empty volume on `/var/lib/mysql` and its image has files there,
//! Docker first copies those files into the volume, owners and modes kept, so the program
//! finds what its image put there. People are surprised by it in both directions: it happens
//! only for a volume that is new and empty (a bind mount hides the image's files instead, and
//! a volume that already holds data is left alone), and it happens once: a volume the program
//! emptied is not filled again. `nocopy` (`-v data:/x:nocopy`) turns it off.
//!
//! The image's files at the destination are its *merged* view: every layer, whiteouts
//! applied. The kernel already knows how to compute that, so we ask it: a forked process
//! enters a mount namespace of its own, mounts the container's overlay read-only there,
//! resolves the destination inside it with `openat2(RESOLVE_IN_ROOT)` (an image's
//! `/data -> /etc` must not make us copy the host's `/etc`), and copies. When it exits its
//! namespace goes, and the mount with it: nothing is ever mounted on the host.
//!
//! Under `userns-remap` (chapter 6) the container's root is an unprivileged id of the host, and
//! the image's files are root's only through the idmapped view of its layers. A volume is a
//! plain directory, no view: as dockerd does, its `_data` is given to the remapped root, and
//! the copied files get the owners the container sees, shifted into the range (`maps`).

use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_namespaces::RootfsMount;
use berth_namespaces::namespaces::{IdMap, IdMaps};
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

/// The marker, next to a volume's `_data`, that says its copy-up was done (or not needed).
pub const POPULATED: &str = "populated";

/// Why the image's files could not be copied into a volume.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("copying the image's {destination} into volume {volume}: {reason}")]
    Failed {
        destination: String,
        volume: PathBuf,
        reason: String,
    },
}

/// Copies the image's files at `destination` into `data` (a volume's `_data`) unless the
/// volume was populated before, then marks it populated. `rootfs` is the container's overlay
/// (chapter 2's [`RootfsMount`]), `scratch` an empty directory to mount it on. `maps`: the
/// container's remapped root (chapter 6), whose ids the volume's files then get.
pub fn populate_once(
    rootfs: &RootfsMount,
    scratch: &Path,
    destination: &str,
    data: &Path,
    maps: Option<&IdMaps>,
) -> Result<(), CopyError> {
    let failed = |reason: String| CopyError::Failed {
        destination: destination.to_owned(),
        volume: data.to_owned(),
        reason,
    };
    let marker = data.with_file_name(POPULATED);
    if marker.exists() {
        return Ok(());
    }
    let empty = fs::read_dir(data)
        .map_err(|e| failed(e.to_string()))?
        .next()
        .is_none();
    if empty {
        copy_in_namespace(rootfs, scratch, destination, data, maps).map_err(failed)?;
    }
    if let Some(maps) = maps {
        // Nothing was copied onto it (the image has nothing there): still host root's, so
        // the remapped root could not write it.
        let meta = fs::metadata(data).map_err(|e| failed(e.to_string()))?;
        if (meta.uid(), meta.gid()) == (0, 0) {
            let (uid, gid) = (shifted(&maps.uid, 0), shifted(&maps.gid, 0));
            std::os::unix::fs::chown(data, Some(uid), Some(gid))
                .map_err(|e| failed(e.to_string()))?;
        }
    }
    fs::write(&marker, b"").map_err(|e| failed(e.to_string()))
}

// ANCHOR: shifted
/// The host id that `id` inside the container stands for, under `map`; unmapped ids (none
/// in a remap of a whole 65536-id range) are kept.
fn shifted(map: &[IdMap], id: u32) -> u32 {
    map.iter()
        .find(|line| id >= line.inside && id - line.inside < line.count)
        .map_or(id, |line| line.outside + (id - line.inside))
}
// ANCHOR_END: shifted

fn c(text: &str) -> Result<CString, String> {
    CString::new(text).map_err(|_| format!("{text:?} contains a NUL byte"))
}

// ANCHOR: fork
/// Forks a process that mounts the overlay in its own mount namespace and copies; its error,
/// if any, comes back through a pipe.
fn copy_in_namespace(
    rootfs: &RootfsMount,
    scratch: &Path,
    destination: &str,
    data: &Path,
    maps: Option<&IdMaps>,
) -> Result<(), String> {
    let relative = destination.trim_start_matches('/');
    let (options, relative) = (c(&rootfs.options)?, c(relative)?);
    let (fstype, source) = (c(&rootfs.fstype)?, c(&rootfs.source)?);
    let (mut reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    // SAFETY: the child only makes system calls and copies files before it `_exit`s; it
    // never returns into the caller's code.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(reader);
            let result = (|| -> Result<(), String> {
                unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare: {e}"))?;
                // Private first: our mount must not propagate back to the host.
                let none = None::<&str>;
                let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
                mount(none, "/", none, private, none).map_err(|e| format!("private: {e}"))?;
                mount(
                    Some(source.as_c_str()),
                    scratch,
                    Some(fstype.as_c_str()),
                    MsFlags::MS_RDONLY,
                    Some(options.as_c_str()),
                )
                .map_err(|e| format!("mounting the image: {e}"))?;
                let root = nix::fcntl::open(
                    scratch,
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| e.to_string())?;
                let how = OpenHow::new()
                    .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
                    .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
                let dir = match openat2(&root, relative.as_c_str(), how) {
                    Ok(dir) => dir,
                    // Nothing there in the image (or not a directory): nothing to copy.
                    Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(()),
                    Err(e) => return Err(format!("resolving {destination}: {e}")),
                };
                let from = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
                copy_tree(&from, data, maps).map_err(|e| e.to_string())?;
                // The volume's top takes the owner and mode of the image's directory too.
                copy_owner_and_mode(&from, data, maps).map_err(|e| e.to_string())
            })();
            let code = match result {
                Ok(()) => 0,
                Err(message) => {
                    let mut writer = writer;
                    let _ = writer.write_all(message.as_bytes());
                    1
                }
            };
            // SAFETY: `_exit` ends the forked process without running the parent's atexit
            // handlers or destructors twice.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(writer);
            let mut message = String::new();
            let _ = reader.read_to_string(&mut message);
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => Ok(()),
                Ok(_) if !message.is_empty() => Err(message),
                Ok(status) => Err(format!("the copying process ended with {status:?}")),
                Err(e) => Err(format!("waiting for the copying process: {e}")),
            }
        }
    }
}
// ANCHOR_END: fork

/// Copies the tree `from` (its entries, not itself) into `to`, keeping owners, modes and
/// symlinks as they are (never following one).
fn copy_tree(from: &Path, to: &Path, maps: Option<&IdMaps>) -> std::io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let meta = fs::symlink_metadata(&source)?;
        let kind = meta.file_type();
        if kind.is_dir() {
            fs::create_dir(&target)?;
            copy_tree(&source, &target, maps)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&source)?, &target)?;
        } else if kind.is_file() {
            fs::copy(&source, &target)?;
        } else {
            continue; // Devices, fifos and sockets are not copied, as in Docker.
        }
        copy_owner_and_mode(&source, &target, maps)?;
    }
    Ok(())
}

/// Gives `target` the owner (shifted by `maps`, if given) and (unless a symlink) the mode of
/// `source`.
fn copy_owner_and_mode(source: &Path, target: &Path, maps: Option<&IdMaps>) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(source)?;
    let (uid, gid) = match maps {
        Some(maps) => (
            shifted(&maps.uid, meta.uid()),
            shifted(&maps.gid, meta.gid()),
        ),
        None => (meta.uid(), meta.gid()),
    };
    std::os::unix::fs::lchown(target, Some(uid), Some(gid))?;
    if !meta.file_type().is_symlink() {
        fs::set_permissions(target, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_shift_into_the_range_line_by_line() {
        let line = |inside, outside, count| IdMap {
            inside,
            outside,
            count,
        };
        let map = [line(0, 100_000, 1000), line(1000, 500_000, 10)];
        assert_eq!(shifted(&map, 0), 100_000);
        assert_eq!(shifted(&map, 999), 100_999);
        assert_eq!(shifted(&map, 1000), 500_000);
        assert_eq!(shifted(&map, 1009), 500_009);
        assert_eq!(shifted(&map, 1010), 1010, "unmapped ids are kept");
        assert_eq!(shifted(&[], 7), 7);
    }
}
