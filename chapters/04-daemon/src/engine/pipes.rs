//! Pipes for a container's stdio, closed on exec.
//!
//! Every pipe end the engine or a monitor holds must be close-on-exec. The cloned container
//! process starts with a copy of all our descriptors, and whatever survives its `execve` is
//! held by the container for its whole life: a container that kept the write end of its own
//! stdin pipe would never read end-of-file (`cat` would hang after the client's EOF), and one
//! that kept another container's output pipe would hold that one's stream open. The child
//! installs the ends it needs as 0, 1 and 2 with `dup2`, which clears the flag on the copy.

use std::os::fd::OwnedFd;

/// A pipe whose two ends close on exec: `(read, write)`.
pub fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}
