//! A minimal `/dev`: the few device files every program expects, and nothing else.
//!
//! The host's `/dev` holds disks, the kernel's memory and every terminal. A container gets a
//! fresh tmpfs with only the harmless character devices Docker gives it, its own instance of
//! devpts (so its terminals are its own), a `/dev/shm` for POSIX shared memory, and the usual
//! symlinks.
//!
//! Creating a device node needs real root (CAP_MKNOD in the *initial* user namespace): the
//! kernel never lets a user namespace invent device numbers. Rootless, we instead create empty
//! files and bind-mount the host's own nodes onto them, which is allowed, and is what rootless
//! Podman and runc do.

use std::ffi::CString;
use std::path::Path;

use nix::fcntl::{AT_FDCWD, OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use nix::unistd::symlinkat;

use crate::failure::{Failure, Step};
use crate::rootfs::ensure_dir;

/// A character device the container gets.
#[derive(Clone, Copy, Debug)]
pub struct Device {
    /// Its name under `/dev`.
    pub name: &'static str,
    /// The kernel's major and minor numbers.
    pub major: u64,
    pub minor: u64,
}

// ANCHOR: devices
/// The devices of a Docker container's `/dev`, all with mode 0666.
pub const DEVICES: &[Device] = &[
    Device {
        name: "null",
        major: 1,
        minor: 3,
    },
    Device {
        name: "zero",
        major: 1,
        minor: 5,
    },
    Device {
        name: "full",
        major: 1,
        minor: 7,
    },
    Device {
        name: "random",
        major: 1,
        minor: 8,
    },
    Device {
        name: "urandom",
        major: 1,
        minor: 9,
    },
    Device {
        name: "tty",
        major: 5,
        minor: 0,
    },
];

/// The symlinks every Linux `/dev` has: (link, target).
pub const SYMLINKS: &[(&str, &str)] = &[
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];
// ANCHOR_END: devices

/// The numbering of [`Failure::item`] for [`Step::MountDev`].
mod item {
    pub const TMPFS: u16 = 0;
    pub const DEVICE: u16 = 100; // + index in DEVICES
    pub const DEVPTS: u16 = 200;
    pub const SHM: u16 = 201;
    pub const SYMLINK: u16 = 300; // + index in SYMLINKS
}

/// The paths the child needs to build `/dev`, prepared by the parent.
#[derive(Debug)]
pub(crate) struct DevPlan {
    dev: CString,
    /// For each of [`DEVICES`]: its path in the rootfs, and the host's node (rootless binds it).
    nodes: Vec<(CString, CString)>,
    pts: CString,
    shm: CString,
    /// For each of [`SYMLINKS`]: (target, link path in the rootfs).
    links: Vec<(CString, CString)>,
}

impl DevPlan {
    /// Prepares the paths under `rootfs/dev`.
    pub fn new(rootfs: &Path) -> Self {
        let dev = rootfs.join("dev");
        DevPlan {
            nodes: DEVICES
                .iter()
                .map(|d| {
                    let host = Path::new("/dev").join(d.name);
                    (crate::cstring(&dev.join(d.name)), crate::cstring(&host))
                })
                .collect(),
            pts: crate::cstring(&dev.join("pts")),
            shm: crate::cstring(&dev.join("shm")),
            links: SYMLINKS
                .iter()
                .map(|(link, target)| {
                    (
                        crate::cstring(Path::new(target)),
                        crate::cstring(&dev.join(link)),
                    )
                })
                .collect(),
            dev: crate::cstring(&dev),
        }
    }

    // ANCHOR: mount_dev
    /// Builds the container's `/dev` (in the child, before `pivot_root`).
    pub fn mount(&self, rootless: bool) -> Result<(), Failure> {
        let fail = |item, errno| Failure::new(Step::MountDev, item, errno);
        ensure_dir(&self.dev).map_err(|e| fail(item::TMPFS, e))?;
        let tmpfs_flags = MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME;
        mount(
            Some("tmpfs"),
            self.dev.as_c_str(),
            Some("tmpfs"),
            tmpfs_flags,
            Some("mode=755,size=65536k"),
        )
        .map_err(|e| fail(item::TMPFS, e))?;

        for (i, (path, host)) in self.nodes.iter().enumerate() {
            let device = &DEVICES[i];
            let made = if rootless {
                bind_host_node(path, host)
            } else {
                let mode = Mode::from_bits_truncate(0o666);
                mknod(
                    path.as_c_str(),
                    SFlag::S_IFCHR,
                    mode,
                    makedev(device.major, device.minor),
                )
            };
            made.map_err(|e| fail(item::DEVICE + i as u16, e))?;
        }

        // A devpts instance of our own: the container's ptys are numbered from 0 and invisible
        // to the host. gid=5 ("tty") exists only when we are real root; a user namespace has
        // no group 5 mapped, and the kernel would refuse the option.
        ensure_dir(&self.pts).map_err(|e| fail(item::DEVPTS, e))?;
        let pts_options = if rootless {
            "newinstance,ptmxmode=0666,mode=0620"
        } else {
            "newinstance,ptmxmode=0666,mode=0620,gid=5"
        };
        let pts_flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
        mount(
            Some("devpts"),
            self.pts.as_c_str(),
            Some("devpts"),
            pts_flags,
            Some(pts_options),
        )
        .map_err(|e| fail(item::DEVPTS, e))?;

        ensure_dir(&self.shm).map_err(|e| fail(item::SHM, e))?;
        let shm_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(
            Some("shm"),
            self.shm.as_c_str(),
            Some("tmpfs"),
            shm_flags,
            Some("mode=1777,size=65536k"),
        )
        .map_err(|e| fail(item::SHM, e))?;

        for (i, (target, link)) in self.links.iter().enumerate() {
            symlinkat(target.as_c_str(), AT_FDCWD, link.as_c_str())
                .map_err(|e| fail(item::SYMLINK + i as u16, e))?;
        }
        Ok(())
    }
    // ANCHOR_END: mount_dev

    /// What item `item` of [`Step::MountDev`] was doing, for error messages.
    pub fn describe(&self, item: u16, rootless: bool) -> String {
        let dev = self.dev.to_string_lossy();
        let nth = |base: u16| usize::from(item - base);
        match item {
            item::DEVICE..item::DEVPTS if nth(item::DEVICE) < self.nodes.len() => {
                let (path, host) = &self.nodes[nth(item::DEVICE)];
                if rootless {
                    format!(
                        "bind-mounting {} onto {}",
                        host.to_string_lossy(),
                        path.to_string_lossy()
                    )
                } else {
                    format!("creating device node {}", path.to_string_lossy())
                }
            }
            item::DEVPTS => format!("mounting devpts on {}", self.pts.to_string_lossy()),
            item::SHM => format!("mounting tmpfs on {}", self.shm.to_string_lossy()),
            item::SYMLINK.. if nth(item::SYMLINK) < self.links.len() => {
                let (target, link) = &self.links[nth(item::SYMLINK)];
                format!(
                    "linking {} to {}",
                    link.to_string_lossy(),
                    target.to_string_lossy()
                )
            }
            _ => format!("mounting tmpfs on {dev}"),
        }
    }
}

/// Rootless stand-in for `mknod`: an empty file with the host's node bind-mounted on it.
fn bind_host_node(path: &CString, host: &CString) -> Result<(), nix::Error> {
    let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
    drop(open(
        path.as_c_str(),
        flags,
        Mode::from_bits_truncate(0o666),
    )?);
    mount(
        Some(host.as_c_str()),
        path.as_c_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
}

/// Why a [`DeviceNode`] could not be prepared.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NodeError {
    #[error(
        "device path {0:?} in the container must be absolute, without `..`, and not `/dev` \
         itself"
    )]
    BadPath(std::path::PathBuf),
}

// ANCHOR: device_node
/// A child step of phase `ChildPhase::AfterPivot`: one more
/// device node in the container (`docker run --device /dev/loop3:/dev/xvdc`), with the
/// host node's type, numbers, mode and owner, made once `/dev` is the container's own.
/// Directories on the way are made (`/dev/snd/...`); a symbolic link on the way is refused
/// (`ELOOP`): `/dev/fd` leads into `/proc`. A node already there (`/dev/null` of the
/// defaults) is replaced. Whether the container may *open* it is the device allowlist's
/// business (chapter 5).
#[derive(Debug)]
pub struct DeviceNode {
    name: String,
    /// Each directory on the way, outermost first, then the node.
    ancestors: Vec<CString>,
    path: CString,
    kind: SFlag,
    dev: libc::dev_t,
    mode: Mode,
    owner: (u32, u32),
}

impl DeviceNode {
    /// Prepares the node `path` (absolute, in the container), a block device if `block`,
    /// else a character device, with `(major, minor)`, permission bits `mode` and owner
    /// `(uid, gid)`.
    pub fn new(
        path: &Path,
        block: bool,
        (major, minor): (u32, u32),
        mode: u32,
        owner: (u32, u32),
    ) -> Result<DeviceNode, NodeError> {
        let bad = || NodeError::BadPath(path.to_owned());
        let relative = path.strip_prefix("/").map_err(|_| bad())?;
        let plain = relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain || relative.as_os_str().is_empty() || path == Path::new("/dev") {
            return Err(bad());
        }
        if path.as_os_str().as_encoded_bytes().contains(&0) {
            return Err(bad());
        }
        let mut ancestors = Vec::new();
        let mut dir = Path::new("/").to_owned();
        let mut parts = relative.components().peekable();
        while let Some(part) = parts.next() {
            dir.push(part);
            if parts.peek().is_some() {
                ancestors.push(crate::cstring(&dir));
            }
        }
        Ok(DeviceNode {
            name: format!("creating device node {}", path.display()),
            ancestors,
            path: crate::cstring(path),
            kind: if block {
                SFlag::S_IFBLK
            } else {
                SFlag::S_IFCHR
            },
            dev: makedev(u64::from(major), u64::from(minor)),
            mode: Mode::from_bits_truncate(mode & 0o7777),
            owner,
        })
    }
}

impl crate::ChildStep for DeviceNode {
    fn name(&self) -> &str {
        &self.name
    }

    fn phase(&self) -> crate::ChildPhase {
        crate::ChildPhase::AfterPivot
    }

    fn run(&self) -> Result<(), nix::errno::Errno> {
        use nix::errno::Errno;
        for dir in &self.ancestors {
            if !crate::steps::exists_not_a_link(dir)? {
                nix::unistd::mkdir(dir.as_c_str(), Mode::from_bits_truncate(0o755))?;
            }
        }
        match mknod(self.path.as_c_str(), self.kind, self.mode, self.dev) {
            Err(Errno::EEXIST) => {
                nix::unistd::unlink(self.path.as_c_str())?;
                mknod(self.path.as_c_str(), self.kind, self.mode, self.dev)?;
            }
            made => made?,
        }
        // mknod's mode passed through the umask: set it exactly, as on the host.
        nix::sys::stat::fchmodat(
            AT_FDCWD,
            self.path.as_c_str(),
            self.mode,
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )?;
        let (uid, gid) = self.owner;
        nix::unistd::chown(
            self.path.as_c_str(),
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
    }
}
// ANCHOR_END: device_node

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_paths_must_be_plain_and_absolute() {
        for bad in ["dev/xvdc", "/dev/../etc/x", "/", "/dev"] {
            let made = DeviceNode::new(Path::new(bad), true, (7, 0), 0o600, (0, 0));
            assert!(made.is_err(), "{bad}");
        }
        let node = DeviceNode::new(Path::new("/dev/a/b/xvdc"), true, (7, 0), 0o600, (0, 0))
            .expect("a plain path");
        assert_eq!(node.ancestors.len(), 3, "/dev, /dev/a, /dev/a/b");
        assert_eq!(node.name, "creating device node /dev/a/b/xvdc");
    }
}
