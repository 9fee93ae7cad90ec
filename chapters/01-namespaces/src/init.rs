//! `--init`: a small init program as PID 1, like `docker run --init`.
//!
//! Docker's `--init` bind-mounts `docker-init` (tini) from the host, read-only, at
//! `/sbin/docker-init` in the container and runs `/sbin/docker-init -- CMD ARG...` instead of
//! the command: PID 1 is then a program that forwards signals and reaps zombies, and the
//! command is PID 2 (what init does and why: `init_program.rs`). We do the same with our own
//! `berth-init`, which this crate's build script links statically so it runs in any image.
//!
//! Why a separate program and not a fork of the process that starts the container: PID 1
//! lives as long as the container, and every process inside can open `/proc/1/exe`, the file
//! PID 1 runs. A fork of `berthd`'s monitor would hand them the engine's own binary, the
//! target of runc's CVE-2019-5736 (chapter 6). Here `/proc/1/exe` is a small file on a
//! read-only bind mount: opening it for writing fails with `EROFS`, whatever the path taken.
//!
//! Where the program is looked for, first found wins: the path in `BERTH_INIT_PATH` (berthd
//! sets it from `--init-path` or daemon.json's `init-path`, for its monitors); `berth-init`
//! next to the running program (how it is installed, and where the build puts it); the copy
//! this build made.

use std::borrow::Cow;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::Mode;

use crate::config::ContainerConfig;

// ANCHOR: in_container
/// Where the init program appears in the container, as in Docker.
pub const IN_CONTAINER: &str = "/sbin/docker-init";
// ANCHOR_END: in_container

/// The environment variable that names the init program on the host, if set.
pub const PATH_VARIABLE: &str = "BERTH_INIT_PATH";

/// The program's name next to the binaries that run containers.
pub const PROGRAM: &str = "berth-init";

/// The copy of the program the build script made (in Cargo's build directory).
pub const BUILT: &str = concat!(env!("OUT_DIR"), "/berth-init");

/// Why the init program could not be found.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("--init: the init program {path} named by {PATH_VARIABLE} is not a file")]
    Variable { path: PathBuf },
    #[error("--init: no init program found (looked at {})", list(.looked))]
    NotFound { looked: Vec<PathBuf> },
}

fn list(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

// ANCHOR: locate
/// Finds the init program on the host (see the module's documentation for the order).
pub fn locate() -> Result<PathBuf, InitError> {
    if let Some(path) = std::env::var_os(PATH_VARIABLE).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return match path.is_file() {
            true => Ok(path),
            false => Err(InitError::Variable { path }),
        };
    }
    // The running program, and argv[0]: a sealed binary (chapter 6) runs from a view whose
    // /proc/self/exe no longer names the directory it was installed in.
    let programs = [
        std::env::current_exe().ok(),
        std::env::args_os().next().map(PathBuf::from),
    ];
    let next_to = programs
        .into_iter()
        .flatten()
        .filter(|p| p.is_absolute() || p.components().count() > 1)
        .filter_map(|p| Some(p.parent()?.join(PROGRAM)));
    let looked: Vec<PathBuf> = next_to.chain([PathBuf::from(BUILT)]).collect();
    match looked.iter().find(|p| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(InitError::NotFound { looked }),
    }
}
// ANCHOR_END: locate

// ANCHOR: command_of
/// What the container execs: with `--init`, init, with the command as its arguments (init
/// searches the container's `PATH` for it: it runs with the same environment).
pub(crate) fn command_of(config: &ContainerConfig) -> Cow<'_, ContainerConfig> {
    if !config.init {
        return Cow::Borrowed(config);
    }
    let mut wrapped = config.clone();
    let init = [IN_CONTAINER.to_owned(), "--".to_owned()];
    wrapped.args = init
        .into_iter()
        .chain(config.args.iter().cloned())
        .collect();
    Cow::Owned(wrapped)
}
// ANCHOR_END: command_of

// ANCHOR: init_mount
/// The read-only bind of the init program at [`IN_CONTAINER`], made by the child once the root
/// is mounted (before `pivot_root`, so the host's program is still in sight).
///
/// `/sbin` is resolved *inside* the root (`openat2(RESOLVE_IN_ROOT)`): in most images today it
/// is a symbolic link, `/sbin -> usr/sbin`, and the child still sees the host's files, so a
/// plain path would follow an absolute link to the host's `/usr/sbin`. The mount point is made
/// there and mounted on through its descriptor (`/proc/self/fd/N`), never by path.
#[derive(Debug)]
pub(crate) struct InitMount {
    program: PathBuf,
    source: CString,
    rootfs: CString,
}

impl InitMount {
    /// Prepares the mount of `program` (on the host) in the root filesystem at `rootfs`.
    pub(crate) fn new(program: &Path, rootfs: &Path) -> InitMount {
        InitMount {
            program: program.to_owned(),
            source: crate::cstring(program),
            rootfs: crate::cstring(rootfs),
        }
    }

    /// What failed, for the parent's message; `item` is the sub-step [`InitMount::run`] gave.
    pub(crate) fn describe(&self, item: u16) -> String {
        let what = match item {
            0 => "opening the root filesystem",
            1 => "resolving /sbin inside the root (making it if missing)",
            2 => "making the mount point /sbin/docker-init",
            3 => "bind-mounting the init program on /sbin/docker-init",
            _ => "making /sbin/docker-init read-only",
        };
        format!(
            "--init: {what} (the init program is {})",
            self.program.display()
        )
    }

    /// Makes the mount, in the child: system calls on prepared data only. On failure, the
    /// sub-step (see [`InitMount::describe`]) and the errno.
    pub(crate) fn run(&self) -> Result<(), (u16, Errno)> {
        let dir = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let root = nix::fcntl::open(self.rootfs.as_c_str(), dir, Mode::empty()).map_err(at(0))?;
        let in_root = OpenHow::new()
            .flags(dir)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let sbin = match openat2(&root, c"sbin", in_root) {
            Err(Errno::ENOENT) => {
                nix::sys::stat::mkdirat(&root, c"sbin", Mode::from_bits_truncate(0o755))
                    .map_err(at(1))?;
                openat2(&root, c"sbin", in_root).map_err(at(1))?
            }
            opened => opened.map_err(at(1))?,
        };
        // A regular file to mount on; one that is there already (a symlink included) stays.
        let file = nix::sys::stat::SFlag::S_IFREG;
        match nix::sys::stat::mknodat(
            &sbin,
            c"docker-init",
            file,
            Mode::from_bits_truncate(0o755),
            0,
        ) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(errno) => return Err((2, errno)),
        }
        let target = open_file(&sbin).map_err(at(2))?;
        let none = None::<&str>;
        let mut buf = [0u8; 32];
        let path = crate::fds::fd_path(target.as_raw_fd(), &mut buf);
        let source = Some(self.source.as_c_str());
        mount(source, path, none, MsFlags::MS_BIND, none).map_err(at(3))?;
        // The descriptor still names the file under the mount: look again to get the mount's
        // own, and make that read-only (a bind takes its flags from a remount only).
        let mounted = open_file(&sbin).map_err(at(4))?;
        let read_only = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        let path = crate::fds::fd_path(mounted.as_raw_fd(), &mut buf);
        mount(none, path, none, read_only, none).map_err(at(4))
    }
}
// ANCHOR_END: init_mount

/// Tags an errno with the sub-step of [`InitMount::run`] that got it.
fn at(step: u16) -> impl Fn(Errno) -> (u16, Errno) {
    move |errno| (step, errno)
}

/// `sbin/docker-init` as a path descriptor, refused (`ELOOP`) if it is a symbolic link: a link
/// there could lead a mount anywhere on the host.
fn open_file(sbin: &OwnedFd) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::openat(sbin, c"docker-init", flags, Mode::empty())?;
    let kind = nix::sys::stat::fstat(&fd)?.st_mode & libc::S_IFMT;
    match kind == libc::S_IFREG {
        true => Ok(fd),
        false => Err(Errno::ELOOP),
    }
}
