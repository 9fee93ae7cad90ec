//! The hijack: after `101 UPGRADED`, the connection is a raw byte pipe.
//!
//! `docker attach`, `docker run` without `-d`, and `docker exec` need a two-way stream between
//! the terminal and the container's process, and HTTP's request/response shape cannot express
//! one. Docker's answer is the HTTP upgrade mechanism (RFC 9110 §7.8): the client sends
//! `Connection: Upgrade` and `Upgrade: tcp`, the daemon answers `HTTP/1.1 101 UPGRADED`, and
//! from the empty line after that head on, HTTP is over. The bytes are stdin one way and the
//! process's output the other, until one side closes.
//!
//! Three details make or break it (docker-api.md §3):
//!
//! * **Bytes that came early.** The CLI starts pumping stdin right after its request, so stdin
//!   can arrive in the same read as the request head. Those bytes are in the connection's
//!   buffer, not in the socket: [`Upgraded`] yields them first. Drop them and the first line of
//!   `echo hi | docker run -i` vanishes.
//! * **Half-close.** At the end of stdin the client calls `shutdown(SHUT_WR)`: our reads return
//!   EOF, but the client is still reading. EOF on the read side is "no more input", not "the
//!   client left": keep writing output. Symmetrically, the end of *our* output is signalled by
//!   shutting down our write side; [`UpgradedWriter`] does that when dropped, even while another
//!   thread is still blocked reading stdin (otherwise that thread keeps the socket open and the
//!   client waits forever for an EOF).
//! * **The head alone.** docker-py reads the 101 head through a buffered reader and then reads
//!   the raw socket, so output that arrives in the same read as the head is lost. The head is
//!   flushed as its own write, and the first output write on the server side waits until a
//!   short pause (2 ms by default, [`ServerOptions::upgrade_pause`]) has passed since the head
//!   *and*, on a Unix socket, until the client has read the head (at most half a second): on a
//!   busy machine the client may not read for longer than any fixed pause, and then head and
//!   output would reach it in one read.
//!
//! [`ServerOptions::upgrade_pause`]: super::options::ServerOptions::upgrade_pause

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use super::transport::Transport;

/// A hijacked connection: read stdin (buffered early bytes first), write output.
pub struct Upgraded {
    stream: Box<dyn Transport>,
    early: Early,
    not_before: Option<Instant>,
}

/// Bytes that arrived with the request head, served before the socket is read.
struct Early {
    bytes: Vec<u8>,
    pos: usize,
}

impl Early {
    fn read(&mut self, out: &mut [u8]) -> Option<usize> {
        let rest = &self.bytes[self.pos..];
        if rest.is_empty() || out.is_empty() {
            return None;
        }
        let n = rest.len().min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Some(n)
    }
}

impl Upgraded {
    /// Wraps a socket whose HTTP part is over. `early` holds bytes already read past the
    /// request (or response) head; the first write waits until `not_before`, if given.
    pub(crate) fn new(
        stream: Box<dyn Transport>,
        early: Vec<u8>,
        not_before: Option<Instant>,
    ) -> Self {
        Upgraded {
            stream,
            early: Early {
                bytes: early,
                pos: 0,
            },
            not_before,
        }
    }

    /// The bytes that arrived with the request and have not been read yet.
    pub fn early_bytes(&self) -> &[u8] {
        &self.early.bytes[self.early.pos..]
    }

    /// Half-closes: the peer reads EOF, and we can still read what it sends.
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    /// The socket itself, to set timeouts or shut it down.
    pub fn transport(&self) -> &dyn Transport {
        &*self.stream
    }

    /// Two halves on the same socket, for a thread that reads stdin and one that writes
    /// output. Dropping the writer half-closes the connection (see the module docs).
    pub fn split(self) -> io::Result<(UpgradedReader, UpgradedWriter)> {
        let writer = UpgradedWriter {
            stream: self.stream.try_clone_boxed()?,
            not_before: self.not_before,
        };
        let reader = UpgradedReader {
            stream: self.stream,
            early: self.early,
        };
        Ok((reader, writer))
    }

    /// The socket and the unread early bytes.
    pub fn into_parts(self) -> (Box<dyn Transport>, Vec<u8>) {
        let mut early = self.early.bytes;
        early.drain(..self.early.pos);
        (self.stream, early)
    }
}

impl Read for Upgraded {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self.early.read(out) {
            Some(n) => Ok(n),
            None => self.stream.read(out),
        }
    }
}

impl Write for Upgraded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        wait_until(&mut self.not_before, &*self.stream);
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// The reading half of a split [`Upgraded`].
pub struct UpgradedReader {
    stream: Box<dyn Transport>,
    early: Early,
}

impl Read for UpgradedReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self.early.read(out) {
            Some(n) => Ok(n),
            None => self.stream.read(out),
        }
    }
}

/// The writing half of a split [`Upgraded`]; dropping it half-closes the connection.
pub struct UpgradedWriter {
    stream: Box<dyn Transport>,
    not_before: Option<Instant>,
}

impl UpgradedWriter {
    /// Sends EOF to the peer now (dropping the writer does the same).
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }
}

impl Write for UpgradedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        wait_until(&mut self.not_before, &*self.stream);
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl Drop for UpgradedWriter {
    fn drop(&mut self) {
        // The peer may already be gone (ENOTCONN): nothing left to tell it.
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// The longest the first write waits for the client to read the head.
const HEAD_READ_WAIT: Duration = Duration::from_millis(500);

/// The first time it is called: sleeps until `not_before`, then until the peer has read what
/// was sent before (the head), where `stream` can tell, for at most [`HEAD_READ_WAIT`]. Then
/// never again.
fn wait_until(not_before: &mut Option<Instant>, stream: &dyn Transport) {
    if let Some(when) = not_before.take() {
        let now = Instant::now();
        if when > now {
            std::thread::sleep(when - now);
        }
        let deadline = Instant::now() + HEAD_READ_WAIT;
        while stream.peer_has_unread() == Some(true) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}
