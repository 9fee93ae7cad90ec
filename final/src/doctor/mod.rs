//! # `berth doctor`: can this host run everything in the book?
//!
//! A container engine is a thin layer over kernel features, and a workshop loses its first hour
//! to the machines where one of them is missing: a kernel built without user namespaces, an
//! AppArmor policy that forbids them, a store directory that is itself on overlayfs (where
//! overlayfs refuses to stack), a root filesystem that cannot be pivoted away from (an
//! initramfs), cgroup controllers split between v1 and v2. Docker has `check-config.sh` for
//! the kernel config; we check what the chapters actually *do*, by doing it: each namespace
//! is really unshared, an overlay really mounted, a `pivot_root` really made, each time in a
//! forked child with its own mount namespace, so nothing is left on the host.
//!
//! Each check is a small function that returns a [`Check`]: what it found, what that is needed
//! for, and, when it is not ok, the exact command that fixes it. [`run`] prints them aligned;
//! [`run_checks`] returns them, for tests and for other front ends. The host paths are the
//! fields of [`Host`], so a test can point a check at a fixture or a port that does not exist.
//!
//! The checks, one room each, in the order the report shows them:
//!
//! | module         | checks                                                                 |
//! |----------------|------------------------------------------------------------------------|
//! | [`kernel`]     | root, the kernel version                                               |
//! | [`namespaces`] | each namespace of chapter 1's table, really unshared; user namespace settings |
//! | [`overlay`]    | overlayfs known, an overlay really mounted, the store not on overlayfs |
//! | [`pivot`]      | a `pivot_root` really made                                             |
//! | [`cgroups`]    | which cgroup controllers are mounted where (v1, v2, hybrid)            |
//! | [`programs`]   | `iptables`/`nft`, the busybox fixture                                  |
//! | [`services`]   | a registry and the daemon answer, asked with chapter 4's HTTP client  |
//!
//! [`report`] is the model and the printed table; `trial` is the forked child and the scratch
//! directory the kernel trials run in.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub mod cgroups;
pub mod kernel;
pub mod namespaces;
pub mod overlay;
pub mod pivot;
pub mod programs;
pub mod report;
pub mod services;
mod trial;

pub use cgroups::check_cgroups;
pub use kernel::{check_kernel, check_root, kernel_version};
pub use namespaces::{check_namespaces, check_userns_sysctls};
pub use overlay::{check_overlay_listed, check_overlay_mount, check_store_filesystem};
pub use pivot::check_pivot_root;
pub use programs::{check_firewall, check_fixture};
pub use report::{Check, Status, report};
pub use services::{check_daemon, check_registry};

/// Where the checks look. [`Host::default`] is this machine as the book sets it up.
#[derive(Clone, Debug)]
pub struct Host {
    /// The busybox root filesystem the chapter 1 examples run in.
    pub fixture_dir: PathBuf,
    /// A registry to try (`HOST:PORT`), if any.
    pub registry: Option<String>,
    /// The daemon's socket.
    pub socket: PathBuf,
    /// A directory for the overlay and `pivot_root` trials (a temporary one is made inside).
    pub scratch: PathBuf,
    /// The process directory whose `mountinfo` and `cgroup` say where the cgroups are.
    pub proc: PathBuf,
    /// The directories searched for `iptables` and `nft`.
    pub path: Vec<PathBuf>,
    /// The image store (`--data-root`), which must not be on overlayfs.
    pub store: PathBuf,
}

/// The busybox root filesystem that `scripts/fixtures.sh` builds.
pub const FIXTURE_DIR: &str = "/var/cache/berth/fixtures/busybox-rootfs";

/// The daemon's default socket.
pub const SOCKET: &str = "/run/berth.sock";

impl Default for Host {
    fn default() -> Host {
        let mut path: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        // sudo's secure_path usually has these, a user's PATH often does not.
        for dir in ["/usr/sbin", "/sbin", "/usr/local/sbin"] {
            if !path.iter().any(|p| p == Path::new(dir)) {
                path.push(PathBuf::from(dir));
            }
        }
        Host {
            fixture_dir: PathBuf::from(FIXTURE_DIR),
            registry: None,
            socket: PathBuf::from(SOCKET),
            scratch: std::env::temp_dir(),
            proc: PathBuf::from("/proc/self"),
            path,
            store: PathBuf::from(crate::config::DEFAULT_DATA_ROOT),
        }
    }
}

/// Runs every check and prints the report to `out`; true if none failed (warnings allowed).
///
/// `registry` is a registry to try (`HOST:PORT`), as `berth doctor --registry` passes it.
pub fn run(out: &mut dyn Write, registry: Option<&str>) -> io::Result<bool> {
    let host = Host {
        registry: registry.map(str::to_owned),
        ..Host::default()
    };
    report(out, &run_checks(&host))
}

/// Every check, in the order the chapters need them.
pub fn run_checks(host: &Host) -> Vec<Check> {
    let mut checks = vec![check_root(), check_kernel()];
    checks.extend(check_namespaces());
    checks.push(check_userns_sysctls());
    checks.push(check_overlay_listed());
    checks.push(check_overlay_mount(&host.scratch));
    checks.push(check_store_filesystem(&host.store));
    checks.push(check_pivot_root(&host.scratch));
    checks.push(check_cgroups(&host.proc));
    checks.push(check_firewall(&host.path));
    checks.push(check_fixture(&host.fixture_dir));
    checks.push(check_registry(host.registry.as_deref()));
    checks.push(check_daemon(&host.socket));
    checks
}
