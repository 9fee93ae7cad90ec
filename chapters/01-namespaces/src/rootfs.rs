//! The container's root filesystem: private mounts, `/proc`, `/sys`, and `pivot_root`.
//!
//! `chroot` only changes where path lookups start; the host's root is still mounted, still in
//! the mount table, and a root process can walk back out of a chroot. `pivot_root` instead
//! *moves* the process's root mount: the rootfs becomes `/`, the old root is stacked where we
//! say, and we unmount it. After that no path, `..` or otherwise, leads to the host's files.
//! This is what runc does, and why Docker containers are not chroots.

use std::ffi::CString;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, mkdir, pivot_root};

use crate::config::RootfsMount;
use crate::failure::{At, Failure, Step};

/// The paths the child needs for its root filesystem, prepared by the parent.
#[derive(Debug)]
pub(crate) struct RootfsPlan {
    rootfs: CString,
    /// (fstype, source, options) of a filesystem to mount on the rootfs first.
    mount: Option<(CString, CString, CString)>,
    proc_dir: CString,
    sys_dir: CString,
}

/// Which mount of [`Step::MountSys`] failed, as reported in [`Failure::item`].
pub(crate) mod sys_item {
    pub const SYSFS: u16 = 0;
    pub const BIND_HOST_SYS: u16 = 1;
    pub const REMOUNT_READ_ONLY: u16 = 2;
}

impl RootfsPlan {
    /// Prepares the paths under `rootfs`. The rootfs must already be validated.
    pub fn new(rootfs: &Path, mount: Option<&RootfsMount>) -> Self {
        RootfsPlan {
            rootfs: crate::cstring(rootfs),
            mount: mount.map(|m| {
                let c = crate::cstring;
                (c(&m.fstype), c(&m.source), c(&m.options))
            }),
            proc_dir: crate::cstring(&rootfs.join("proc")),
            sys_dir: crate::cstring(&rootfs.join("sys")),
        }
    }

    // ANCHOR: private
    /// Makes every mount in our new mount namespace private.
    ///
    /// A new mount namespace starts as a copy of the parent's, *including propagation*: on a
    /// systemd host `/` is a shared mount, so a mount we make under it would appear on the
    /// host too, and `pivot_root` refuses with EINVAL when the new root's parent is shared.
    /// Turning the whole tree private, recursively, first is what makes the rest safe.
    pub fn make_mounts_private(&self) -> Result<(), Failure> {
        let flags = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
        mount(None::<&str>, "/", None::<&str>, flags, None::<&str>).at(Step::MakeMountsPrivate)
    }
    // ANCHOR_END: private

    /// Mounts the rootfs's own filesystem, when it has one: chapter 2 passes an overlay of the
    /// image's layers here. Mounted in our private mount namespace, it vanishes with us.
    ///
    /// `nodev`: an image may carry device nodes, and root in the container could open a node
    /// for the host's disk through one. Docker lets a device cgroup decide which devices may be
    /// opened; until chapter 5 brings cgroups, device nodes on the rootfs are simply inert.
    /// The container's `/dev` is our own tmpfs, mounted afterwards, and is not affected.
    pub fn mount_rootfs(&self) -> Result<(), Failure> {
        let Some((fstype, source, options)) = &self.mount else {
            return Ok(());
        };
        mount(
            Some(source.as_c_str()),
            self.rootfs.as_c_str(),
            Some(fstype.as_c_str()),
            MsFlags::MS_NODEV,
            Some(options.as_c_str()),
        )
        .at(Step::MountRootfs)
    }

    /// Bind-mounts the rootfs onto itself: `pivot_root` needs the new root to be a mount
    /// point, and a plain directory is not one.
    pub fn bind_rootfs(&self) -> Result<(), Failure> {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
        mount(
            Some(self.rootfs.as_c_str()),
            self.rootfs.as_c_str(),
            None::<&str>,
            flags,
            None::<&str>,
        )
        .at(Step::BindRootfs)
    }

    /// Mounts a new proc filesystem. Because we are in a new PID namespace, it lists only the
    /// container's processes: `ps` inside shows the command as PID 1 and nothing of the host.
    pub fn mount_proc(&self) -> Result<(), Failure> {
        ensure_dir(&self.proc_dir).at(Step::MountProc)?;
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(
            Some("proc"),
            self.proc_dir.as_c_str(),
            Some("proc"),
            flags,
            None::<&str>,
        )
        .at(Step::MountProc)
    }

    /// Mounts `/sys` read-only: the container may look at the kernel's devices, not change them.
    ///
    /// The kernel lets a user namespace mount sysfs only if it owns the network namespace too,
    /// which ours does; some kernels and security modules still refuse. Rootless, we then fall
    /// back to a read-only bind mount of the host's `/sys`, as rootless Podman does.
    pub fn mount_sys(&self, rootless: bool) -> Result<(), Failure> {
        use sys_item::*;
        let fail = |item, errno| Failure::new(Step::MountSys, item, errno);
        ensure_dir(&self.sys_dir).map_err(|e| fail(SYSFS, e))?;
        let read_only =
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let sys = self.sys_dir.as_c_str();
        match mount(Some("sysfs"), sys, Some("sysfs"), read_only, None::<&str>) {
            Ok(()) => Ok(()),
            Err(Errno::EPERM) if rootless => {
                let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
                mount(Some("/sys"), sys, None::<&str>, bind, None::<&str>)
                    .map_err(|e| fail(BIND_HOST_SYS, e))?;
                let remount = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | read_only;
                mount(None::<&str>, sys, None::<&str>, remount, None::<&str>)
                    .map_err(|e| fail(REMOUNT_READ_ONLY, e))
            }
            Err(errno) => Err(fail(SYSFS, errno)),
        }
    }

    // ANCHOR: pivot_root
    /// Makes the rootfs our `/` and detaches the host's root.
    ///
    /// `pivot_root(".", ".")` is the trick from the man page that runc uses: it needs no
    /// directory for the old root inside the rootfs (which might be read-only). The old root
    /// ends up stacked on top of the new one, at the same place, and `umount2(MNT_DETACH)`
    /// takes it away. Detaching (rather than a plain unmount) is needed because the old root
    /// is still busy: it holds every host mount beneath it.
    // EXERCISE: chdir into the rootfs, pivot_root(".", "."), detach the old root with umount2(".", MNT_DETACH), chdir("/"); tag each error with .at(Step::PivotRoot)
    pub fn pivot_root(&self) -> Result<(), Failure> {
        chdir(self.rootfs.as_c_str()).at(Step::PivotRoot)?;
        pivot_root(".", ".").at(Step::PivotRoot)?;
        umount2(".", MntFlags::MNT_DETACH).at(Step::PivotRoot)?;
        chdir("/").at(Step::PivotRoot)
    }
    // ANCHOR_END: pivot_root

    /// The rootfs path, for error messages.
    pub fn describe(&self, step: Step, item: u16) -> String {
        let root = self.rootfs.to_string_lossy();
        match step {
            Step::MakeMountsPrivate => "making the mounts private (mount / with MS_PRIVATE)".into(),
            Step::MountRootfs => match &self.mount {
                Some((fstype, _, options)) => format!(
                    "mounting {} on {root} with options {}",
                    fstype.to_string_lossy(),
                    options.to_string_lossy()
                ),
                None => format!("mounting {root}"),
            },
            Step::BindRootfs => format!("bind-mounting {root} onto itself"),
            Step::MountProc => format!("mounting proc on {}", self.proc_dir.to_string_lossy()),
            Step::MountSys => {
                let sys = self.sys_dir.to_string_lossy();
                match item {
                    sys_item::BIND_HOST_SYS => format!("bind-mounting the host's /sys on {sys}"),
                    sys_item::REMOUNT_READ_ONLY => format!("making {sys} read-only"),
                    _ => format!("mounting sysfs read-only on {sys}"),
                }
            }
            Step::PivotRoot => format!("pivot_root into {root}"),
            _ => format!("setting up {root}"),
        }
    }
}

/// Creates a directory unless it exists: runc creates missing mount points too.
pub(crate) fn ensure_dir(path: &CString) -> Result<(), Errno> {
    match mkdir(path.as_c_str(), Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(errno) => Err(errno),
    }
}
