//! Why an engine operation failed: one error type for the whole engine.
//!
//! dockerd answers every failure with an HTTP status and a message, and the docker CLI prints
//! the message and exits with a code (125 if the daemon failed, 126 or 127 if the container's
//! command could not run). Each variant here says which of those it is, and keeps its cause:
//! the chapter 2 error it came from, the file it concerns, or what the monitor reported.

use std::path::PathBuf;

use berth_images::container::ContainerError;
use berth_images::store::StoreError;

/// Why an engine operation failed; the API layers (`crate::api` here, the Docker API in
/// `final/`) map each variant to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Store or container errors from chapter 2 (no such image → 404, name in use → 409, ...).
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// Errors of chapter 2's image store (no such image → 404, image in use → 409, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// 404.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// 404.
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    /// 409 (exec into a stopped container, kill of a stopped one).
    #[error("container {0} is not running")]
    NotRunning(String),
    /// 409: `docker pause` of a paused container (its full id, as dockerd says it).
    #[error("Container {0} is already paused")]
    AlreadyPaused(String),
    /// 409: `docker unpause` of a container that is not paused (its full id).
    #[error("Container {0} is not paused")]
    NotPaused(String),
    /// 409: `docker exec` into a paused container, as dockerd refuses it.
    #[error("Container {0} is paused, unpause the container before exec")]
    Paused(String),
    /// 304 for start.
    #[error("container {0} is already running")]
    AlreadyRunning(String),
    /// 409.
    #[error(
        "cannot remove container {0}: container is running: stop the container before \
         removing or force remove"
    )]
    RemoveRunning(String),
    /// 409: moby's words for a container whose restart policy is about to start it again.
    #[error(
        "cannot remove container {0}: container is restarting: stop the container before \
         removing or force remove"
    )]
    RemoveRestarting(String),
    /// 400: a request the engine cannot honour (bad condition, bad signal, unsupported flag).
    #[error("{0}")]
    Invalid(String),
    /// An extension could not prepare or release the resources of container `id`, or could
    /// not sweep orphans at open (500).
    #[error("{extension} ({what} for container {id}): {source}")]
    Extension {
        /// The extension's name.
        extension: String,
        /// `preparing`, `releasing` or `sweeping orphans`.
        what: &'static str,
        /// The container's full id (empty for a sweep).
        id: String,
        /// The extension's own error.
        source: super::extension::ExtensionError,
    },
    /// The monitor of container `id` could not be launched (500, exit code 125).
    #[error("launching the monitor of container {id}: {source}")]
    Launch {
        /// The container's full id.
        id: String,
        /// Why the exec or the zygote's fork failed.
        source: std::io::Error,
    },
    /// The container's process could not be started: its monitor said why. The message is
    /// shown as the monitor wrote it (the docker CLI prints it as is); the code is what
    /// `docker run` exits with (125, 126, 127).
    #[error("{source}")]
    Start {
        /// The container's full id.
        id: String,
        /// The monitor's report.
        source: StartFailure,
    },
    /// A system call on a file of the engine (a container's directory, its log, its attach
    /// socket) failed: 500.
    #[error("{what} {path}: {source}", path = path.display())]
    Io {
        /// What the engine was doing (`opening the log`, `connecting to the attach socket`).
        what: &'static str,
        /// The file or directory it concerns.
        path: PathBuf,
        /// The system's answer.
        source: std::io::Error,
    },
    /// Setting up an exec's process (its stdio, its terminal) failed (500).
    #[error("exec {id}: {what}: {source}")]
    Exec {
        /// The exec instance's id.
        id: String,
        /// What failed (`a pipe for its stdin`, `receiving its terminal`).
        what: &'static str,
        /// The system's answer.
        source: std::io::Error,
    },
    /// Sending a signal to a container's process failed (500).
    #[error("signalling container {id}: {source}")]
    Signal {
        /// The container's name.
        id: String,
        /// The errno of `kill(2)`.
        source: nix::errno::Errno,
    },
}

/// Why a container's process did not start, as its monitor reported it (another process:
/// the chapter 1 error crosses the pipe as its message and exit code).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StartFailure {
    /// Chapter 1's message (`exec: "nope": executable file not found in $PATH`).
    pub message: String,
    /// The exit code `docker run` should exit with: 127 for a missing command, 126 for one
    /// that is not executable, 125 for everything else.
    pub code: i32,
}

impl EngineError {
    /// A failed start of container `id` with `code`.
    pub fn start(id: &str, message: impl Into<String>, code: i32) -> EngineError {
        EngineError::Start {
            id: id.to_owned(),
            source: StartFailure {
                message: message.into(),
                code,
            },
        }
    }

    /// An error of exec `id` while setting up `what`.
    pub fn exec(id: &str, what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        let id = id.to_owned();
        move |source| EngineError::Exec { id, what, source }
    }

    /// An I/O error on `path`, while doing `what`.
    pub fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| EngineError::Io { what, path, source }
    }
}
