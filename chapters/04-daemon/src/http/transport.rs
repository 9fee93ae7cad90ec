//! What a connection must be able to do.
//!
//! HTTP/1.1 only needs a reliable, ordered byte stream in each direction: that is why the same
//! protocol runs over TCP and over a UNIX socket, and why `dockerd` serves both. On top of
//! reading and writing, a server needs three more things from the socket, and they are the whole
//! of this trait: timeouts on reads and writes (so a silent or stalled client cannot hold a thread
//! forever), `shutdown` (half-close: "I will send nothing more, but keep reading", which Docker's
//! attach relies on), and a second handle on the same socket (so one thread can read a hijacked
//! connection while another writes to it).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A connected, bidirectional byte stream: a UNIX socket now, TCP later.
///
/// Object safe, so that a hijacked connection can be handed to a handler as
/// `Box<dyn Transport>` whatever socket it came from.
pub trait Transport: Read + Write + Send + 'static {
    /// Makes a read that waits longer than `timeout` fail with `WouldBlock`/`TimedOut`; `None`
    /// waits forever.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Makes a write that blocks longer than `timeout` (a client that stopped reading) fail.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Closes one or both directions; `Shutdown::Write` sends EOF while reads go on.
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    /// A second handle on the same socket (a `dup` of its file descriptor).
    fn try_clone_boxed(&self) -> io::Result<Box<dyn Transport>>;
    /// Whether bytes written to this socket still wait for the peer to read them, where the
    /// kernel can tell; `None` where it cannot (TCP counts bytes not yet *acknowledged*, which
    /// the peer's kernel does before its program reads them).
    fn peer_has_unread(&self) -> Option<bool> {
        None
    }
}

impl Transport for UnixStream {
    fn peer_has_unread(&self) -> Option<bool> {
        use std::os::fd::AsRawFd;
        let mut queued: libc::c_int = 0;
        // On a Unix socket, TIOCOUTQ (SIOCOUTQ) is the memory of what we sent that the peer's
        // program has not read yet: the kernel frees it only when the peer reads.
        // SAFETY: TIOCOUTQ writes one int, for a socket this stream holds open.
        let rc = unsafe { libc::ioctl(self.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
        (rc == 0).then_some(queued > 0)
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_write_timeout(self, timeout)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        UnixStream::shutdown(self, how)
    }
    fn try_clone_boxed(&self) -> io::Result<Box<dyn Transport>> {
        Ok(Box::new(self.try_clone()?))
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        TcpStream::shutdown(self, how)
    }
    fn try_clone_boxed(&self) -> io::Result<Box<dyn Transport>> {
        Ok(Box::new(self.try_clone()?))
    }
}

impl Transport for Box<dyn Transport> {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_write_timeout(timeout)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        (**self).shutdown(how)
    }
    fn try_clone_boxed(&self) -> io::Result<Box<dyn Transport>> {
        (**self).try_clone_boxed()
    }
    fn peer_has_unread(&self) -> Option<bool> {
        (**self).peer_has_unread()
    }
}

/// Whether an I/O error is a read or write timeout (`SO_RCVTIMEO` reports `EAGAIN`, which std
/// calls `WouldBlock`; other platforms say `TimedOut`).
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
