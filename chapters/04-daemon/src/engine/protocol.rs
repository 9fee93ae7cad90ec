//! The attach protocol between the daemon and a container's monitor.
//!
//! Docker's daemon talks to `containerd-shim` over ttrpc and hands it FIFOs for the stdio; we
//! need less: one UNIX socket per container (`attach.sock` in its directory), served by the
//! monitor, and small framed messages on it, `[kind: u8][length: u32 BE][payload]`.
//!
//! A connection opens with a hello: [`ATTACH`] (payload: three bytes, whether the client
//! wants stdin, stdout, stderr) or [`RESIZE`] (rows and columns as u16 BE). An attached
//! client then sends [`STDIN`] data and at most one [`STDIN_CLOSE`]; the monitor sends output
//! chunks ([`STDOUT`], [`STDERR`]) and, once the container has exited and everything was
//! delivered, [`END`] with the exit code (i32 BE).

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Output on the container's stdout (or its terminal); numbered as in Docker's framing.
pub const STDOUT: u8 = 1;
/// Output on the container's stderr.
pub const STDERR: u8 = 2;
/// The container has exited; the payload is its exit code.
pub const END: u8 = b'E';
/// Hello: an attach session.
pub const ATTACH: u8 = b'A';
/// Hello (or a message of an attached client): a new terminal size.
pub const RESIZE: u8 = b'R';
/// Client's stdin data for the container.
pub const STDIN: u8 = b'I';
/// The client's stdin reached end-of-file.
pub const STDIN_CLOSE: u8 = b'C';

/// The largest payload we accept: bigger means a confused peer.
const MAX_PAYLOAD: u32 = 1 << 20;

/// The socket's name in the container's directory.
pub const SOCKET_NAME: &str = "attach.sock";

/// Writes one message (one `write` per message, so messages from two threads that share a
/// socket under a lock never interleave).
pub fn write_message(out: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    let mut message = Vec::with_capacity(5 + payload.len());
    message.push(kind);
    message.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    message.extend_from_slice(payload);
    out.write_all(&message)
}

/// Reads one message; `None` at a clean end-of-file between messages.
pub fn read_message(input: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match input.read(&mut head[..1])? {
        0 => return Ok(None),
        _ => input.read_exact(&mut head[1..])?,
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    if len > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("attach message of {len} bytes is too large"),
        ));
    }
    let mut payload = vec![0u8; len as usize];
    input.read_exact(&mut payload)?;
    Ok(Some((head[0], payload)))
}

/// The payload of a [`RESIZE`] message.
pub fn resize_payload(rows: u16, cols: u16) -> [u8; 4] {
    let mut payload = [0u8; 4];
    payload[..2].copy_from_slice(&rows.to_be_bytes());
    payload[2..].copy_from_slice(&cols.to_be_bytes());
    payload
}

/// Reads a [`RESIZE`] payload.
pub fn parse_resize(payload: &[u8]) -> Option<(u16, u16)> {
    match payload {
        [r0, r1, c0, c1] => Some((
            u16::from_be_bytes([*r0, *r1]),
            u16::from_be_bytes([*c0, *c1]),
        )),
        _ => None,
    }
}

/// A short path to the socket in `dir`, however long `dir` is.
///
/// A UNIX socket's path must fit in 108 bytes (`sun_path`), and a data root under a test's
/// temp dir plus a 64-digit id does not. `/proc/self/fd/N/attach.sock`, where N is an
/// `O_PATH` descriptor of the directory, names the same file in about 30 bytes. The
/// descriptor must stay open while the path is used: keep the returned guard.
pub fn short_path(dir: &Path) -> io::Result<(OwnedFd, PathBuf)> {
    use std::os::unix::fs::OpenOptionsExt;
    let handle = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(dir)?;
    let fd = OwnedFd::from(handle);
    let path = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET_NAME}", fd.as_raw_fd()));
    Ok((fd, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let mut wire = Vec::new();
        write_message(&mut wire, STDOUT, b"hello").unwrap();
        write_message(&mut wire, END, &137i32.to_be_bytes()).unwrap();
        let mut input = &wire[..];
        assert_eq!(
            read_message(&mut input).unwrap(),
            Some((STDOUT, b"hello".to_vec()))
        );
        assert_eq!(
            read_message(&mut input).unwrap(),
            Some((END, 137i32.to_be_bytes().to_vec()))
        );
        assert_eq!(read_message(&mut input).unwrap(), None);
        assert_eq!(parse_resize(&resize_payload(24, 80)), Some((24, 80)));
    }

    #[test]
    fn refuses_huge_messages() {
        let wire = [STDIN, 0xff, 0xff, 0xff, 0xff];
        assert!(read_message(&mut &wire[..]).is_err());
    }
}
