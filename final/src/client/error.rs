//! How a command fails: a message for the user and an exit code for scripts.
//!
//! Docker's exit codes are part of its interface: `docker run` exits with the container's code,
//! 125 when the daemon refused (a bad flag, a missing image), 126 when the command cannot be
//! executed and 127 when it does not exist; every other verb exits 1 on any error. A
//! [`Failure`] carries both, and [`main`](super::main) prints it as `berth: <message>`.

use std::fmt;

use berth_daemon::http::ClientError;

/// Exit code of `run` when the daemon refused (Docker's).
pub const EXIT_DAEMON: u8 = 125;
/// Exit code of `run` when the command exists but cannot be executed.
pub const EXIT_CANNOT_EXECUTE: u8 = 126;
/// Exit code of `run` when the command was not found.
pub const EXIT_NOT_FOUND: u8 = 127;

/// A failed command: what to tell the user and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The message, without the `berth: ` prefix.
    pub message: String,
    /// The exit code.
    pub code: u8,
}

impl Failure {
    /// A failure with exit code 1.
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 1,
        }
    }

    /// The same failure with another exit code.
    pub fn with_code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }

    /// Prints `berth: <message>` on stderr.
    pub fn print(&self) {
        eprintln!("berth: {}", self.message);
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ClientError> for Failure {
    /// `ClientError::Api` already reads "Error response from daemon: ...", as Docker's does.
    fn from(error: ClientError) -> Self {
        Failure::new(error.to_string())
    }
}

/// The exit code `docker run` gives a container that failed to start, read from the daemon's
/// message: the same strings moby's runtime reports.
pub fn start_failure_code(message: &str) -> u8 {
    let message = message.to_ascii_lowercase();
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
    {
        EXIT_NOT_FOUND
    } else if message.contains("permission denied") {
        EXIT_CANNOT_EXECUTE
    } else {
        EXIT_DAEMON
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_map_to_dockers_codes() {
        assert_eq!(
            start_failure_code(
                "failed to create task: exec: \"nope\": executable file not found in $PATH"
            ),
            127
        );
        assert_eq!(
            start_failure_code("open /bin/x: no such file or directory"),
            127
        );
        assert_eq!(
            start_failure_code("exec /etc/passwd: permission denied"),
            126
        );
        assert_eq!(start_failure_code("cgroup setup failed"), 125);
    }

    #[test]
    fn daemon_errors_read_like_dockers() {
        let failure = Failure::from(ClientError::Api {
            status: 404,
            message: "No such container: web".into(),
        });
        assert_eq!(failure.code, 1);
        assert_eq!(
            failure.message,
            "Error response from daemon: No such container: web"
        );
    }
}
