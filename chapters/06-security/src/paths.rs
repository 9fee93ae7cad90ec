//! Masked and read-only paths: the parts of `/proc` and `/sys` a container must not use.
//!
//! `/proc` and `/sys` are the kernel's own interfaces, and a fresh `/proc` in a new PID
//! namespace still shows the whole machine in places: `/proc/kcore` is its memory,
//! `/proc/keys` the kernel's keyrings, `/proc/sys` its tunables (`kernel/core_pattern` names a
//! program the *host* runs on every crash), `/proc/sysrq-trigger` reboots it. Docker (runc, from
//! the OCI config's `maskedPaths` and `readonlyPaths`) hides the first kind and freezes the
//! second, after `pivot_root`, when the paths are the container's own:
//!
//! - a **masked** file gets `/dev/null` bind-mounted over it (reads give nothing); a masked
//!   directory gets an empty read-only tmpfs;
//! - a **read-only** path is bind-mounted onto itself, then that bind is remounted read-only.
//!
//! A process with `CAP_SYS_ADMIN` could unmount them again, which is why they come with the
//! capability drop and the seccomp filter: each layer closes the others' gaps.

use std::ffi::CString;

use berth_namespaces::{ChildPhase, ChildStep};
use nix::errno::Errno;
use nix::mount::{MsFlags, mount};

// ANCHOR: lists
/// Docker's masked paths (moby's `oci/defaults.go`).
pub const MASKED: [&str; 10] = [
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READ_ONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];
// ANCHOR_END: lists

/// The child step: masks and freezes the paths, each one that exists.
#[derive(Debug)]
pub struct SystemPaths {
    masked: Vec<CString>,
    read_only: Vec<CString>,
}

impl SystemPaths {
    /// Docker's lists.
    pub fn docker_defaults() -> SystemPaths {
        let c = |p: &&str| CString::new(*p).expect("constant paths have no NUL");
        SystemPaths {
            masked: MASKED.iter().map(c).collect(),
            read_only: READ_ONLY.iter().map(c).collect(),
        }
    }
}

// ANCHOR: step
impl ChildStep for SystemPaths {
    fn name(&self) -> &str {
        "masking /proc and /sys paths"
    }

    fn phase(&self) -> ChildPhase {
        ChildPhase::AfterPivot
    }

    fn run(&self) -> Result<(), Errno> {
        let none = None::<&str>;
        for path in &self.masked {
            match nix::sys::stat::stat(path.as_c_str()) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
                    mount(Some("tmpfs"), path.as_c_str(), Some("tmpfs"), flags, none)?;
                }
                Ok(_) => {
                    mount(
                        Some("/dev/null"),
                        path.as_c_str(),
                        none,
                        MsFlags::MS_BIND,
                        none,
                    )?;
                }
                // Not on this kernel (or already hidden): nothing to mask.
                Err(Errno::ENOENT) => {}
                Err(errno) => return Err(errno),
            }
        }
        for path in &self.read_only {
            match mount(
                Some(path.as_c_str()),
                path.as_c_str(),
                none,
                bind_rec(),
                none,
            ) {
                Ok(()) => {}
                Err(Errno::ENOENT) => continue,
                Err(errno) => return Err(errno),
            }
            // The flags a bind keeps from its source (nosuid, nodev, noexec on /proc) must be
            // repeated in the remount: in a user namespace they are locked, and dropping one
            // is refused with EPERM.
            let kept = nix::sys::statvfs::statvfs(path.as_c_str())?.flags();
            let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
            for (vfs, ms) in [
                (nix::sys::statvfs::FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
                (nix::sys::statvfs::FsFlags::ST_NODEV, MsFlags::MS_NODEV),
                (nix::sys::statvfs::FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            ] {
                if kept.contains(vfs) {
                    flags |= ms;
                }
            }
            mount(none, path.as_c_str(), none, flags, none)?;
        }
        Ok(())
    }
}
// ANCHOR_END: step

fn bind_rec() -> MsFlags {
    MsFlags::MS_BIND | MsFlags::MS_REC
}

/// `--read-only`: the container's root filesystem, remounted read-only after `pivot_root`.
/// `/proc`, `/sys` and `/dev` are mounts of their own and stay as they are.
#[derive(Debug)]
pub struct ReadOnlyRoot;

impl ChildStep for ReadOnlyRoot {
    fn name(&self) -> &str {
        "making the root filesystem read-only"
    }

    fn phase(&self) -> ChildPhase {
        ChildPhase::AfterPivot
    }

    fn run(&self) -> Result<(), Errno> {
        let none = None::<&str>;
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(none, c"/", none, flags, none)
    }
}
