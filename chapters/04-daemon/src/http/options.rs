//! How a server behaves: its limits, its timeouts, who may connect.
//!
//! `dockerd` has the same knobs as flags and `daemon.json` keys (`--group`, the API's
//! timeouts are fixed in Go's `http.Server`). They live in a module of their own because two
//! parts read them: the listener ([`server`](super::server)) takes the socket's group and the
//! shutdown grace, and each connection (`connection`) takes the limits, the timeouts and the
//! default headers. Neither of the two has to know the other to find them.

use std::time::Duration;

use super::headers::Headers;
use super::request::Limits;

/// The group allowed to connect to the socket, besides root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketGroup {
    /// A group name from `/etc/group`, such as `berth`.
    Name(String),
    /// A numeric group id.
    Gid(u32),
}

/// How the server behaves; `ServerOptions::default()` suits a daemon.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Size limits on requests.
    pub limits: Limits,
    /// How long a connection may stay silent: between requests (idle keep-alive), for a whole
    /// request head (slow-loris protection), and between two reads of a body. Then it closes.
    pub read_timeout: Duration,
    /// How long a write may block on a client that does not read. `None` by default: `docker
    /// logs -f web | less` stops reading while the user scrolls, and that is not an error.
    pub write_timeout: Option<Duration>,
    /// The socket's group (mode `0660`); `None` leaves the creator's group (root's, as root).
    pub socket_group: Option<SocketGroup>,
    /// Header fields added to every response unless the handler set them, such as Docker's
    /// `Api-Version` and `Server`.
    pub default_headers: Headers,
    /// How long after a `101` head the first output byte waits (docker-py loses output that
    /// arrives with the head; docker-api.md trap 7).
    pub upgrade_pause: Duration,
    /// How long [`ServerHandle::shutdown`] waits for open connections to finish.
    pub shutdown_grace: Duration,
}

// ANCHOR: server_options
impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            limits: Limits::default(),
            read_timeout: Duration::from_secs(30),
            write_timeout: None,
            socket_group: None,
            default_headers: Headers::new(),
            upgrade_pause: Duration::from_millis(2),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}
// ANCHOR_END: server_options
