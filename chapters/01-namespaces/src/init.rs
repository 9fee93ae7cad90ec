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
use std::path::{Path, PathBuf};

use crate::config::ContainerConfig;
use crate::steps::{BindMount, BindMountError};

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

/// Why the init program could not be found or mounted.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("--init: the init program {path} named by {PATH_VARIABLE} is not a file")]
    Variable { path: PathBuf },
    #[error("--init: no init program found (looked at {})", list(.looked))]
    NotFound { looked: Vec<PathBuf> },
    #[error("--init: preparing the read-only mount of {path} at {IN_CONTAINER}")]
    Mount {
        path: PathBuf,
        source: BindMountError,
    },
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

/// The child step that binds `program` read-only at [`IN_CONTAINER`] under `rootfs`.
pub(crate) fn mount(program: &Path, rootfs: &Path) -> Result<BindMount, InitError> {
    BindMount::new(program, rootfs, Path::new(IN_CONTAINER), true).map_err(|source| {
        InitError::Mount {
            path: program.to_owned(),
            source,
        }
    })
}
