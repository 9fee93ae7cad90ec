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

use std::ffi::CString;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Everything the chapters need is there.
    Ok,
    /// Something optional is missing (rootless mode, a later chapter, the daemon).
    Warn,
    /// A chapter will fail on this host until it is fixed.
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`, so that `{:<4}` aligns the report's first column.
        f.pad(match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        })
    }
}

/// The result of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked: `user namespace`, `overlay mount`, ...
    pub name: String,
    /// How it came out.
    pub status: Status,
    /// What was found: `6.8.0-45-generic`, `unshare: EPERM`, ...
    pub found: String,
    /// What it is needed for, in the book's terms.
    pub why: &'static str,
    /// The exact command (or step) that fixes it, when it is not ok.
    pub fix: Option<String>,
}

impl Check {
    fn new(
        name: impl Into<String>,
        status: Status,
        found: impl Into<String>,
        why: &'static str,
    ) -> Check {
        Check {
            name: name.into(),
            status,
            found: found.into(),
            why,
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        if self.status != Status::Ok {
            self.fix = Some(fix.into());
        }
        self
    }
}

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
    /// The mount table to read cgroup mounts from.
    pub mountinfo: PathBuf,
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
            mountinfo: PathBuf::from("/proc/self/mountinfo"),
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
    checks.push(check_cgroups(&host.mountinfo));
    checks.push(check_firewall(&host.path));
    checks.push(check_fixture(&host.fixture_dir));
    checks.push(check_registry(host.registry.as_deref()));
    checks.push(check_daemon(&host.socket));
    checks
}

/// Prints `checks` as an aligned table with the why and the fix under each; true if none
/// failed.
pub fn report(out: &mut dyn Write, checks: &[Check]) -> io::Result<bool> {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    writeln!(
        out,
        "berth doctor: can this host run everything in the book?\n"
    )?;
    for check in checks {
        writeln!(
            out,
            "{:<4}  {:<width$}  {}",
            check.status, check.name, check.found
        )?;
        let indent = " ".repeat(6 + width + 2);
        writeln!(out, "{indent}why: {}", check.why)?;
        if let Some(fix) = &check.fix {
            writeln!(out, "{indent}fix: {fix}")?;
        }
    }
    let count = |status| checks.iter().filter(|c| c.status == status).count();
    let failed = count(Status::Fail);
    writeln!(
        out,
        "\n{} checks: {} ok, {} warning(s), {} failed",
        checks.len(),
        count(Status::Ok),
        count(Status::Warn),
        failed
    )?;
    Ok(failed == 0)
}

/// Root: namespaces (but the user namespace), mounts and cgroups need it.
pub fn check_root() -> Check {
    // SAFETY: geteuid cannot fail and has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let status = if uid == 0 { Status::Ok } else { Status::Fail };
    Check::new(
        "root",
        status,
        format!("effective uid {uid}"),
        "mount, pivot_root, cgroups and network namespaces need root (chapter 1's rootless mode is the exception)",
    )
    .fix("run it with sudo: `sudo berth doctor`")
}

/// The kernel version: overlayfs is upstream since 3.18, and usable inside a user namespace
/// since 5.11 (rootless containers on overlay).
pub fn check_kernel() -> Check {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    let why = "overlayfs needs 3.18; overlayfs in a user namespace (rootless) needs 5.11";
    match kernel_version(&release) {
        Some(v) if v >= (5, 11) => Check::new("kernel", Status::Ok, release, why),
        Some(v) if v >= (3, 18) => Check::new("kernel", Status::Warn, release, why).fix(
            "rootless containers need kernel 5.11 or later: upgrade the kernel, or run as root",
        ),
        Some(_) => Check::new("kernel", Status::Fail, release, why)
            .fix("upgrade to a kernel of 5.11 or later (any current distribution has one)"),
        None => Check::new("kernel", Status::Warn, release, why)
            .fix("could not read the version: check `uname -r` by hand"),
    }
}

/// `6.8.0-45-generic` → `(6, 8)`.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The namespaces the chapters create, and the `unshare` flag of each.
const NAMESPACES: [(&str, libc::c_int, &str); 7] = [
    (
        "mount namespace",
        libc::CLONE_NEWNS,
        "chapter 1: the container's own mounts and root",
    ),
    (
        "uts namespace",
        libc::CLONE_NEWUTS,
        "chapter 1: the container's own hostname",
    ),
    (
        "ipc namespace",
        libc::CLONE_NEWIPC,
        "chapter 1: the container's own System V IPC",
    ),
    (
        "pid namespace",
        libc::CLONE_NEWPID,
        "chapter 1: the container's process is pid 1",
    ),
    (
        "net namespace",
        libc::CLONE_NEWNET,
        "chapters 1 and 6: the container's own network stack",
    ),
    (
        "cgroup namespace",
        libc::CLONE_NEWCGROUP,
        "chapter 5: the container sees its cgroup as the root",
    ),
    (
        "user namespace",
        libc::CLONE_NEWUSER,
        "chapter 1's rootless mode: root inside, an ordinary user outside",
    ),
];

/// Tries `unshare` of each namespace type in a forked child.
///
/// In a child because `unshare(CLONE_NEWUSER)` fails with EINVAL in a multi-threaded process
/// (this one may be a test binary), and because the new namespaces must not stick to us.
pub fn check_namespaces() -> Vec<Check> {
    NAMESPACES
        .iter()
        .map(|&(name, flag, why)| {
            let outcome = in_child(|| {
                // SAFETY: unshare has no memory-safety preconditions.
                if unsafe { libc::unshare(flag) } == 0 { 0 } else { errno() }
            });
            let (status, found) = match outcome {
                Ok(0) => (Status::Ok, "unshare works".to_owned()),
                Ok(code) => (
                    if flag == libc::CLONE_NEWUSER { Status::Warn } else { Status::Fail },
                    format!("unshare failed: {}", io::Error::from_raw_os_error(code)),
                ),
                Err(e) => (Status::Fail, format!("could not try: {e}")),
            };
            let fix = if flag == libc::CLONE_NEWUSER {
                "see the user namespace settings below; as root you can skip rootless mode"
            } else {
                "the kernel lacks this namespace: use a distribution kernel (CONFIG_NAMESPACES and its options)"
            };
            Check::new(name, status, found, why).fix(fix)
        })
        .collect()
}

/// The settings that can forbid user namespaces although the kernel has them.
pub fn check_userns_sysctls() -> Check {
    let why = "rootless mode needs user namespaces that an ordinary user may create";
    let read = |path: &str| fs::read_to_string(path).ok().map(|s| s.trim().to_owned());
    let mut found = Vec::new();
    let mut fixes = Vec::new();
    let mut status = Status::Ok;
    match read("/proc/sys/user/max_user_namespaces") {
        Some(max) if max == "0" => {
            status = Status::Warn;
            found.push("user.max_user_namespaces=0".to_owned());
            fixes.push("sudo sysctl -w user.max_user_namespaces=15000");
        }
        Some(max) => found.push(format!("user.max_user_namespaces={max}")),
        None => found.push("user.max_user_namespaces: not found".to_owned()),
    }
    // Debian and Ubuntu kernels carried this switch (0 = only root may).
    if let Some(value) = read("/proc/sys/kernel/unprivileged_userns_clone") {
        if value == "0" {
            status = Status::Warn;
            fixes.push("sudo sysctl -w kernel.unprivileged_userns_clone=1");
        }
        found.push(format!("kernel.unprivileged_userns_clone={value}"));
    }
    // Ubuntu 23.10 and later: AppArmor confines unprivileged user namespaces.
    if let Some(value) = read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") {
        if value == "1" {
            status = Status::Warn;
            fixes.push("sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0");
        }
        found.push(format!(
            "kernel.apparmor_restrict_unprivileged_userns={value}"
        ));
    }
    Check::new("user namespace settings", status, found.join(", "), why).fix(format!(
        "{} (add the setting to /etc/sysctl.d/99-berth.conf to keep it after a reboot)",
        fixes.join(" && ")
    ))
}

/// overlayfs is known to the kernel (built in, or its module loaded).
pub fn check_overlay_listed() -> Check {
    let why = "chapter 2: a container's root is an overlay of the image's layers";
    let listed = fs::read_to_string("/proc/filesystems").map(|text| {
        text.lines()
            .any(|l| l.split_whitespace().last() == Some("overlay"))
    });
    match listed {
        Ok(true) => Check::new("overlayfs", Status::Ok, "in /proc/filesystems", why),
        Ok(false) => Check::new("overlayfs", Status::Fail, "not in /proc/filesystems", why)
            .fix("sudo modprobe overlay (and add `overlay` to /etc/modules-load.d/berth.conf)"),
        Err(e) => Check::new(
            "overlayfs",
            Status::Fail,
            format!("reading /proc/filesystems: {e}"),
            why,
        )
        .fix("mount /proc"),
    }
}

/// The `f_type` of an overlayfs in `statfs(2)`.
const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;

/// A scratch directory for a check that tries something for real, or the failed check that
/// says the temporary directory is not writable.
fn scratch_dir(
    scratch: &Path,
    label: &str,
    name: &str,
    why: &'static str,
) -> Result<Scratch, Check> {
    Scratch::new(scratch, label).map_err(|e| {
        Check::new(
            name,
            Status::Fail,
            format!("making a directory in {}: {e}", scratch.display()),
            why,
        )
        .fix("make the temporary directory writable, or set TMPDIR to one that is")
    })
}

/// Mounts a real overlay in `scratch` (in a child with its own mount namespace) and writes
/// through it; also warns when `scratch` is itself on overlayfs (as in a Docker container),
/// where an overlay's upper directory is refused with EINVAL.
pub fn check_overlay_mount(scratch: &Path) -> Check {
    let why = "chapter 2: the store and the containers' layers must be on a filesystem overlayfs can stack on (ext4, xfs, btrfs, tmpfs)";
    let name = "overlay mount";
    let dir = match scratch_dir(scratch, "overlay", name, why) {
        Ok(dir) => dir,
        Err(failed) => return failed,
    };
    if on_overlay(&dir.0) {
        return Check::new(
            name,
            Status::Fail,
            format!("{} is on overlayfs: an overlay cannot use it as its upper directory", scratch.display()),
            why,
        )
        .fix("give the store a real filesystem: a volume (`docker run -v /var/lib/berth ...`) or a tmpfs mount, and TMPDIR=/that/dir");
    }
    let paths = ["lower", "upper", "work", "merged"].map(|p| dir.0.join(p));
    for path in &paths {
        if let Err(e) = fs::create_dir(path) {
            return Check::new(
                name,
                Status::Fail,
                format!("creating {}: {e}", path.display()),
                why,
            )
            .fix("check the permissions of the temporary directory");
        }
    }
    if let Err(e) = fs::write(paths[0].join("from-lower"), b"x") {
        return Check::new(
            name,
            Status::Fail,
            format!("writing into {}: {e}", paths[0].display()),
            why,
        )
        .fix("check the permissions of the temporary directory");
    }
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        paths[0].display(),
        paths[1].display(),
        paths[2].display()
    );
    let (Some(options), Some(merged), Some(copied)) = (
        cstring(options.as_bytes()),
        cstring(paths[3].as_os_str().as_bytes()),
        cstring(paths[3].join("from-lower").as_os_str().as_bytes()),
    ) else {
        return Check::new(name, Status::Fail, "a path contains a NUL byte", why)
            .fix("use another TMPDIR");
    };
    // Everything the child needs is allocated before the fork.
    let outcome = in_child(|| {
        if let Err(code) = private_mount_namespace() {
            return code;
        }
        // SAFETY: every pointer is a NUL-terminated string that outlives the call.
        let rc = unsafe {
            libc::mount(
                c"overlay".as_ptr(),
                merged.as_ptr(),
                c"overlay".as_ptr(),
                0,
                options.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return errno();
        }
        // A copy-up: opening the lower file for writing puts a copy in the upper directory.
        // SAFETY: `copied` is a NUL-terminated path.
        let fd = unsafe { libc::open(copied.as_ptr(), libc::O_WRONLY | libc::O_APPEND) };
        if fd < 0 {
            return errno();
        }
        // SAFETY: `fd` was just opened; the buffer is a 1-byte static.
        let written = unsafe { libc::write(fd, b"y".as_ptr().cast(), 1) };
        // SAFETY: `fd` is ours.
        unsafe { libc::close(fd) };
        if written == 1 { 0 } else { errno() }
    });
    let copied_up = fs::read(paths[1].join("from-lower")).ok();
    match outcome {
        Ok(0) if copied_up.as_deref() == Some(b"xy") => {
            Check::new(name, Status::Ok, "mounted an overlay and wrote through it (copy-up)", why)
        }
        Ok(0) => Check::new(name, Status::Fail, "mounted, but the write did not reach the upper directory", why)
            .fix("check that the filesystem of TMPDIR supports overlayfs upper directories (xattrs, d_type)"),
        Ok(code) => Check::new(
            name,
            Status::Fail,
            format!("mount -t overlay failed: {}", io::Error::from_raw_os_error(code)),
            why,
        )
        .fix("run as root, `sudo modprobe overlay`, and keep TMPDIR and the store off overlayfs"),
        Err(e) => Check::new(name, Status::Fail, format!("could not try: {e}"), why).fix("run as root"),
    }
}

/// The store's filesystem (of its nearest existing ancestor, before the first run): on
/// overlayfs, as in a container without a volume, every container start fails with EINVAL.
pub fn check_store_filesystem(store: &Path) -> Check {
    let why = "chapter 2: the store holds the layers and the containers' upper directories, which overlayfs cannot take from another overlay";
    let name = "store filesystem";
    let Some(existing) = store.ancestors().find(|p| p.exists()) else {
        return Check::new(
            name,
            Status::Fail,
            format!("no part of {} exists", store.display()),
            why,
        )
        .fix("check the --data-root path");
    };
    if on_overlay(existing) {
        Check::new(name, Status::Fail, format!("{} is on overlayfs", existing.display()), why).fix(format!(
            "mount a real filesystem there: `docker run -v berth-store:{} ...` in a container, or `sudo mount -t tmpfs tmpfs {}`",
            store.display(),
            store.display()
        ))
    } else {
        Check::new(
            name,
            Status::Ok,
            format!("{} is not on overlayfs", existing.display()),
            why,
        )
    }
}

/// Whether `path` is on an overlayfs.
fn on_overlay(path: &Path) -> bool {
    let Some(c_path) = cstring(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: an all-zero statfs is a valid value to be overwritten.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and `stat` is a valid out-pointer.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), &mut stat) };
    rc == 0 && stat.f_type as i64 == OVERLAYFS_SUPER_MAGIC
}

/// In a child with its own mount namespace: mount a tmpfs and `pivot_root` into it, as
/// chapter 1 does with the container's root. This fails with EINVAL when `/` is the
/// initramfs (rootfs), which cannot be pivoted away from, or when mounts are shared.
pub fn check_pivot_root(scratch: &Path) -> Check {
    let why = "chapter 1: the container's root becomes `/` with pivot_root, and the host's root is detached";
    let name = "pivot_root";
    let dir = match scratch_dir(scratch, "pivot", name, why) {
        Ok(dir) => dir,
        Err(failed) => return failed,
    };
    let Some(new_root) = cstring(dir.0.as_os_str().as_bytes()) else {
        return Check::new(name, Status::Fail, "a path contains a NUL byte", why)
            .fix("use another TMPDIR");
    };
    let outcome = in_child(|| {
        if let Err(code) = private_mount_namespace() {
            return code;
        }
        // SAFETY: NUL-terminated strings that outlive each call.
        unsafe {
            if libc::mount(
                c"tmpfs".as_ptr(),
                new_root.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            ) != 0
                || libc::chdir(new_root.as_ptr()) != 0
                || libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) != 0
                || libc::umount2(c".".as_ptr(), libc::MNT_DETACH) != 0
                || libc::chdir(c"/".as_ptr()) != 0
            {
                return errno();
            }
        }
        0
    });
    match outcome {
        Ok(0) => Check::new(
            name,
            Status::Ok,
            "pivoted into a tmpfs in a new mount namespace",
            why,
        ),
        Ok(code) => {
            let error = io::Error::from_raw_os_error(code);
            let fix = if code == libc::EINVAL {
                "`/` is probably the initramfs (rootfs), which pivot_root cannot leave: boot from a real root filesystem (a VM image rather than a live/initramfs system)"
            } else {
                "run as root"
            };
            Check::new(name, Status::Fail, format!("failed: {error}"), why).fix(fix)
        }
        Err(e) => {
            Check::new(name, Status::Fail, format!("could not try: {e}"), why).fix("run as root")
        }
    }
}

/// The controllers chapter 5 limits.
const NEEDED_CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];

/// Which cgroup hierarchies are mounted (v1, v2 or both: "hybrid") and where each controller
/// is, read from `mountinfo` (normally `/proc/self/mountinfo`).
pub fn check_cgroups(mountinfo: &Path) -> Check {
    let why = "chapter 5: cpu, memory and pids limits are cgroup controllers, in v1 or v2";
    let name = "cgroups";
    let text = match fs::read_to_string(mountinfo) {
        Ok(text) => text,
        Err(e) => {
            return Check::new(
                name,
                Status::Fail,
                format!("reading {}: {e}", mountinfo.display()),
                why,
            )
            .fix("mount /proc");
        }
    };
    let layout = cgroup_layout(&text, |path| fs::read_to_string(path).ok());
    let kind = match (layout.v1.is_empty(), layout.v2.is_some()) {
        (true, true) => "v2",
        (false, false) => "v1",
        (false, true) => "hybrid",
        (true, false) => {
            return Check::new(name, Status::Fail, "no cgroup filesystem is mounted", why)
                .fix("sudo mount -t cgroup2 none /sys/fs/cgroup");
        }
    };
    let mut found = vec![kind.to_owned()];
    if !layout.v1.is_empty() {
        let v1: Vec<&str> = layout.v1.iter().map(|(c, _)| c.as_str()).collect();
        found.push(format!("v1: {}", v1.join(" ")));
    }
    if let Some((mount_point, controllers)) = &layout.v2 {
        found.push(format!(
            "v2 at {mount_point}: {}",
            if controllers.is_empty() {
                "no controllers".to_owned()
            } else {
                controllers.join(" ")
            }
        ));
    }
    let missing: Vec<&str> = NEEDED_CONTROLLERS
        .iter()
        .copied()
        .filter(|c| {
            !layout.v1.iter().any(|(v1, _)| v1 == c)
                && !layout
                    .v2
                    .as_ref()
                    .is_some_and(|(_, v2)| v2.iter().any(|v| v == c))
        })
        .collect();
    if missing.is_empty() {
        Check::new(name, Status::Ok, found.join("; "), why)
    } else {
        found.push(format!("missing: {}", missing.join(" ")));
        Check::new(name, Status::Warn, found.join("; "), why)
            .fix("enable the controllers: on v2, `echo +cpu +memory +pids | sudo tee /sys/fs/cgroup/cgroup.subtree_control`; or boot with systemd.unified_cgroup_hierarchy=1")
    }
}

/// Where the cgroup controllers are.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CgroupLayout {
    /// Each v1 controller and the directory its hierarchy is mounted on.
    pub v1: Vec<(String, String)>,
    /// The v2 mount point and the controllers it offers, if v2 is mounted.
    pub v2: Option<(String, Vec<String>)>,
}

/// Reads the cgroup mounts from a `mountinfo` text; `read` gives the contents of a v2
/// `cgroup.controllers` file (a parameter so the layout of any host can be tested).
pub fn cgroup_layout(mountinfo: &str, read: impl Fn(&Path) -> Option<String>) -> CgroupLayout {
    let mut layout = CgroupLayout::default();
    for line in mountinfo.lines() {
        // `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPER_OPTIONS`
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let mount_point = before.split(' ').nth(4).unwrap_or_default();
        let mut after = after.split(' ');
        let fstype = after.next().unwrap_or_default();
        let super_options = after.nth(1).unwrap_or_default();
        match fstype {
            "cgroup2" if layout.v2.is_none() => {
                let controllers = read(&Path::new(mount_point).join("cgroup.controllers"))
                    .map(|text| text.split_whitespace().map(str::to_owned).collect())
                    .unwrap_or_default();
                layout.v2 = Some((mount_point.to_owned(), controllers));
            }
            "cgroup" => {
                for option in super_options.split(',') {
                    // `name=systemd` is a named hierarchy without a controller.
                    if !matches!(
                        option,
                        "rw" | "ro" | "xattr" | "clone_children" | "noprefix"
                    ) && !option.contains('=')
                    {
                        layout.v1.push((option.to_owned(), mount_point.to_owned()));
                    }
                }
            }
            _ => {}
        }
    }
    layout.v1.sort();
    layout
}

/// `iptables` or `nft` for chapter 6's NAT and published ports.
pub fn check_firewall(path: &[PathBuf]) -> Check {
    let why =
        "chapter 6: NAT for the containers' traffic and published ports (-p) are firewall rules";
    let found: Vec<String> = ["iptables", "nft"]
        .iter()
        .filter_map(|tool| {
            path.iter()
                .map(|dir| dir.join(tool))
                .find(|candidate| is_executable(candidate))
                .map(|p| p.display().to_string())
        })
        .collect();
    if found.is_empty() {
        Check::new(
            "iptables / nftables",
            Status::Warn,
            "neither iptables nor nft found",
            why,
        )
        .fix("sudo apt-get install iptables (or nftables; dnf install iptables-nft on Fedora)")
    } else {
        Check::new("iptables / nftables", Status::Ok, found.join(", "), why)
    }
}

/// The busybox root filesystem the chapters' examples and tests run in.
pub fn check_fixture(fixture_dir: &Path) -> Check {
    let why = "chapter 1's containers run in this root filesystem; the images of chapters 2 and 3 are built from it";
    let busybox = fixture_dir.join("bin/busybox");
    if is_executable(&busybox) {
        Check::new(
            "busybox fixture",
            Status::Ok,
            busybox.display().to_string(),
            why,
        )
    } else {
        let state = if busybox.exists() {
            "not executable"
        } else {
            "missing"
        };
        Check::new(
            "busybox fixture",
            Status::Fail,
            format!("{} is {state}", busybox.display()),
            why,
        )
        .fix("sudo scripts/fixtures.sh (from the Berth checkout)")
    }
}

/// How long to wait for a registry or the daemon before calling it unreachable.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(3);

/// A registry at `HOST:PORT` answers `GET /v2/` with 200 (open) or 401 (wants a login).
pub fn check_registry(registry: Option<&str>) -> Check {
    let why =
        "chapter 3: pull and push talk to a registry (the tests start their own on a free port)";
    let name = "registry";
    let Some(registry) = registry else {
        return Check::new(name, Status::Warn, "not checked: no registry given", why)
            .fix("berth doctor --registry HOST:PORT (e.g. localhost:5000)");
    };
    let fix = format!(
        "start one: `docker-registry serve /etc/docker/registry/config.yml`, or check {registry} (plain HTTP)"
    );
    match http_status(
        || {
            // `localhost` may resolve to ::1 first while the registry listens on 127.0.0.1
            // only: try each address, and report the last failure.
            let mut last = io::Error::new(io::ErrorKind::NotFound, "the name has no address");
            for address in registry.to_socket_addrs()? {
                match TcpStream::connect_timeout(&address, NETWORK_TIMEOUT) {
                    Ok(stream) => return Ok(stream),
                    Err(e) => last = e,
                }
            }
            Err(last)
        },
        registry,
        "/v2/",
    ) {
        Ok(status @ (200 | 401)) => Check::new(
            name,
            Status::Ok,
            format!("GET http://{registry}/v2/ answered {status}"),
            why,
        ),
        Ok(status) => Check::new(
            name,
            Status::Fail,
            format!("GET http://{registry}/v2/ answered {status}: not a registry"),
            why,
        )
        .fix(fix),
        Err(e) => Check::new(name, Status::Fail, format!("{registry}: {e}"), why).fix(fix),
    }
}

/// The daemon answers `GET /_ping` on its socket; a warning if not (most chapters need none).
pub fn check_daemon(socket: &Path) -> Check {
    let why = "chapter 4 and the engine: `berth` and `docker` talk to berthd over this socket";
    let name = "berthd socket";
    let shown = socket.display().to_string();
    match http_status(|| UnixStream::connect(socket), "localhost", "/_ping") {
        Ok(200) => Check::new(
            name,
            Status::Ok,
            format!("{shown}: /_ping answered 200"),
            why,
        ),
        Ok(status) => Check::new(
            name,
            Status::Warn,
            format!("{shown}: /_ping answered {status}"),
            why,
        )
        .fix("restart the daemon: sudo berthd"),
        Err(e) => Check::new(name, Status::Warn, format!("{shown}: {e}"), why).fix(
            if socket == Path::new(SOCKET) {
                "start the daemon: `sudo berthd &`".to_owned()
            } else {
                format!("start the daemon: `sudo berthd -H unix://{shown} &`")
            },
        ),
    }
}

/// Sends `GET path` over the stream `connect` opens and returns the response's status code.
fn http_status<S: Read + Write + SetTimeout>(
    connect: impl FnOnce() -> io::Result<S>,
    host: &str,
    path: &str,
) -> io::Result<u16> {
    let mut stream = connect()?;
    stream.set_timeouts(NETWORK_TIMEOUT)?;
    // One write: `write!` on an unbuffered stream would send the request in pieces.
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut head = [0u8; 64];
    let mut len = 0;
    // The status line is within the first bytes: read until we have it (or the peer stops).
    while len < head.len() && !head[..len].contains(&b'\n') {
        let n = stream.read(&mut head[len..])?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let line = String::from_utf8_lossy(&head[..len]);
    line.strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "not an HTTP answer: {:?}",
                    line.lines().next().unwrap_or("")
                ),
            )
        })
}

/// Read and write timeouts, for [`http_status`] over TCP and UNIX sockets alike.
trait SetTimeout {
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()>;
}

impl SetTimeout for TcpStream {
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
}

impl SetTimeout for UnixStream {
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
}

/// Whether `path` is a regular file with an execute bit.
fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A directory of our own under the scratch directory, removed on drop (also on a panic).
struct Scratch(PathBuf);

impl Scratch {
    fn new(parent: &Path, what: &str) -> io::Result<Scratch> {
        let dir = parent.join(format!("berth-doctor-{what}-{}", std::process::id()));
        // A leftover of a killed run with the same pid would make create_dir fail.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `bytes` as a C string, or `None` if it contains a NUL.
fn cstring(bytes: &[u8]) -> Option<CString> {
    CString::new(bytes).ok()
}

/// The calling thread's errno.
fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// In a new mount namespace, makes every mount private, so nothing we mount reaches the host
/// (and `pivot_root` accepts the tree: it refuses shared mounts with EINVAL).
fn private_mount_namespace() -> Result<(), i32> {
    // SAFETY: plain syscalls with static NUL-terminated strings.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(errno());
        }
        if libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(errno());
        }
    }
    Ok(())
}

/// Runs `trial` in a forked child and returns its result: 0 for success, else an errno.
///
/// The child of a multi-threaded process may only make async-signal-safe calls: `trial` must
/// not allocate or take locks, which is why the callers prepare their C strings first, call
/// libc directly, and the child leaves with `_exit`.
fn in_child(trial: impl FnOnce() -> i32) -> io::Result<i32> {
    // SAFETY: the child runs only `trial` (syscalls on prepared data) and `_exit`.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            let code = trial();
            // SAFETY: ends the child without running the parent's destructors or atexit.
            unsafe { libc::_exit(code.clamp(0, 255)) }
        }
        pid => {
            let mut status = 0;
            loop {
                // SAFETY: `status` is a valid out-pointer; `pid` is our child.
                let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
                if rc == pid {
                    break;
                }
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            if libc::WIFEXITED(status) {
                Ok(libc::WEXITSTATUS(status))
            } else {
                Err(io::Error::other("the trial process was killed by a signal"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.8.0-45-generic"), Some((6, 8)));
        assert_eq!(kernel_version("5.10"), Some((5, 10)));
        assert_eq!(kernel_version("garbage"), None);
    }

    #[test]
    fn a_hybrid_layout_says_which_controller_is_where() {
        let mountinfo = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:5 - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        let layout = cgroup_layout(mountinfo, |path| {
            (path == Path::new("/sys/fs/cgroup/unified/cgroup.controllers"))
                .then(|| "hugetlb pids\n".to_owned())
        });
        assert_eq!(
            layout.v1,
            [
                ("cpu".to_owned(), "/sys/fs/cgroup/cpu".to_owned()),
                ("memory".to_owned(), "/sys/fs/cgroup/memory".to_owned())
            ]
        );
        assert_eq!(
            layout.v2,
            Some((
                "/sys/fs/cgroup/unified".to_owned(),
                vec!["hugetlb".to_owned(), "pids".to_owned()]
            ))
        );
    }
}
