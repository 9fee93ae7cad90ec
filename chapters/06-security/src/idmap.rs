//! Idmapped layers: the image's files, owned by the container's root without a chown.
//!
//! With `userns-remap`, root in the container is, say, host uid 100000. The image's layers were
//! unpacked by the daemon as host root, so in the container they would belong to nobody (an id
//! its map leaves out), and its root could not even write its own upper directory. Docker's
//! classic answer is to unpack every image again, chowned into the range, under
//! `/var/lib/docker/100000.100000/`. The kernel's newer answer (Linux 5.12) is an *idmapped
//! mount*: a bind mount that shows the files through a user namespace's map, so host uid 0 reads
//! as 100000, which the container's namespace maps back to 0; and a file the container creates
//! as its root lands on the disk as 100000. Nothing is copied, nothing chowned.
//!
//! The kernel does not let overlayfs idmap its *own* mount (EINVAL, seen on 6.18), but since
//! Linux 5.19 it takes idmapped mounts as its lower layers. So the parent makes, for each
//! image layer, a detached clone
//! (`open_tree(OPEN_TREE_CLONE)`) idmapped with `mount_setattr(MOUNT_ATTR_IDMAP)`; the child,
//! in its own mount namespace, moves each onto the directory it shows (`move_mount`) just
//! before it mounts the overlay, whose options then name the very same paths. The host's mount
//! table never sees them; they go with the container's mount namespace. The upper and work
//! directories are not idmapped but given to the container's root (they are new and empty:
//! two `chown`s): an idmap works both ways and would store what root writes as host uid 0.
//!
//! Only real root may do this: `mount_setattr` wants `CAP_SYS_ADMIN` over the filesystem.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_namespaces::namespaces::{IdMaps, write_remap};
use berth_namespaces::{ChildPhase, ChildStep};
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;

/// Why an idmapped view of a directory could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IdmapError {
    #[error("making a user namespace to carry the map: {0}")]
    Namespace(Errno),
    #[error("writing the map of the user namespace that carries it")]
    Map(#[from] berth_namespaces::namespaces::IdMapError),
    #[error("opening {path}")]
    Open { path: PathBuf, source: io::Error },
    #[error(
        "idmapping {path} (mount_setattr MOUNT_ATTR_IDMAP; needs Linux 5.12 and a filesystem \
         that supports it, such as ext4, xfs or btrfs)"
    )]
    Idmap { path: PathBuf, source: io::Error },
    #[error("giving {path} to the container's root")]
    Chown { path: PathBuf, source: io::Error },
}

// ANCHOR: carrier
/// A user namespace with `maps`, to hand to `mount_setattr`: only its map matters. It is made by
/// a child that does nothing (it waits, killed once its namespace is open), as containerd does.
pub fn map_carrier(maps: &IdMaps) -> Result<OwnedFd, IdmapError> {
    let mut stack = vec![0u8; 64 * 1024];
    let body = Box::new(|| {
        // SAFETY: pause only waits; the child allocates nothing and is killed below.
        loop {
            unsafe { libc::pause() };
        }
    });
    // SAFETY: the child runs only `pause`, a system call, until it is killed.
    let pid = unsafe {
        nix::sched::clone(
            body,
            &mut stack,
            CloneFlags::CLONE_NEWUSER,
            Some(libc::SIGCHLD),
        )
    }
    .map_err(IdmapError::Namespace)?;
    let opened = write_remap(pid, maps)
        .map_err(IdmapError::from)
        .and_then(|()| {
            let path = PathBuf::from(format!("/proc/{pid}/ns/user"));
            std::fs::File::open(&path)
                .map(OwnedFd::from)
                .map_err(|source| IdmapError::Open { path, source })
        });
    let _ = kill(pid, Signal::SIGKILL);
    let _ = waitpid(pid, None);
    opened
}
// ANCHOR_END: carrier

// ANCHOR: idmapped
/// A detached clone of the mount at `path`, showing its files through `userns`'s map.
pub fn idmapped_view(path: &Path, userns: &OwnedFd) -> Result<OwnedFd, IdmapError> {
    let fd = crate::detached::clone_tree(path).map_err(|source| IdmapError::Open {
        path: path.to_owned(),
        source,
    })?;
    crate::detached::set_attr(&fd, libc::MOUNT_ATTR_IDMAP, Some(userns)).map_err(|source| {
        IdmapError::Idmap {
            path: path.to_owned(),
            source,
        }
    })?;
    Ok(fd)
}
// ANCHOR_END: idmapped

/// A chapter 1 child step of phase [`ChildPhase::BeforeRootfs`]: moves an idmapped view onto
/// the directory it shows, in the container's mount namespace only.
#[derive(Debug)]
pub struct IdmappedDir {
    view: OwnedFd,
    target: CString,
    name: String,
}

impl IdmappedDir {
    /// Prepares the idmapped view of `dir` (in the parent: this allocates and may fail).
    pub fn new(dir: &Path, userns: &OwnedFd) -> Result<Self, IdmapError> {
        let view = idmapped_view(dir, userns)?;
        let target =
            CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|e| IdmapError::Open {
                path: dir.to_owned(),
                source: e.into(),
            })?;
        Ok(IdmappedDir {
            view,
            target,
            name: format!("mounting an idmapped view of {}", dir.display()),
        })
    }
}

impl ChildStep for IdmappedDir {
    fn name(&self) -> &str {
        &self.name
    }

    fn phase(&self) -> ChildPhase {
        ChildPhase::BeforeRootfs
    }

    fn run(&self) -> Result<(), Errno> {
        // SAFETY: move_mount on our descriptor and a NUL-terminated path prepared by the parent.
        let done = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                self.view.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_FDCWD,
                self.target.as_ptr(),
                libc::MOVE_MOUNT_F_EMPTY_PATH,
            )
        };
        if done < 0 { Err(Errno::last()) } else { Ok(()) }
    }
}

// ANCHOR: remap_layers
/// Prepares a remapped container's layers: `lowers` (the image's layers, read-only) are seen
/// through idmapped views, so host root's files are the container root's; `owned` (the upper
/// and work directories, new and empty) are given to the container root's host ids, so what it
/// writes lands on the host as that id, as under Docker's remapped root. (An idmapped upper
/// would store its files back as host uid 0: the map works both ways.)
pub fn remap_layers(
    lowers: &[PathBuf],
    owned: &[PathBuf],
    maps: &IdMaps,
    steps: &mut berth_namespaces::Steps,
) -> Result<(), IdmapError> {
    let (uid, gid) = (host_root(&maps.uid), host_root(&maps.gid));
    for dir in owned {
        std::os::unix::fs::chown(dir, uid, gid).map_err(|source| IdmapError::Chown {
            path: dir.clone(),
            source,
        })?;
    }
    let carrier = map_carrier(maps)?;
    for dir in lowers {
        steps.add_child(IdmappedDir::new(dir, &carrier)?);
    }
    Ok(())
}
// ANCHOR_END: remap_layers

/// The directories of an overlay's mount options: its lower layers, and its upper and work
/// directories (`lowerdir=A:B,upperdir=U,workdir=W`, as chapter 2 writes them).
pub fn overlay_dirs(options: &str) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut lowers, mut owned) = (Vec::new(), Vec::new());
    for option in options.split(',') {
        match option.split_once('=') {
            Some(("lowerdir", dirs)) => lowers.extend(dirs.split(':').map(PathBuf::from)),
            Some(("upperdir" | "workdir", dir)) => owned.push(PathBuf::from(dir)),
            _ => {}
        }
    }
    (lowers, owned)
}

/// The host id that id 0 of the container is, if the map maps 0.
pub fn host_root(map: &[berth_namespaces::namespaces::IdMap]) -> Option<u32> {
    map.iter()
        .find(|line| line.inside == 0)
        .map(|line| line.outside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overlays_directories_are_read_from_its_options() {
        let (lowers, owned) = overlay_dirs("lowerdir=/l/b:/l/a,upperdir=/c/upper,workdir=/c/work");
        assert_eq!(lowers, [PathBuf::from("/l/b"), PathBuf::from("/l/a")]);
        assert_eq!(owned, [PathBuf::from("/c/upper"), PathBuf::from("/c/work")]);
    }
}
