//! Docker's multiplexed stream: stdout and stderr on one socket.
//!
//! A container without a terminal has two output streams, and an HTTP connection has one. So
//! the daemon cuts output into frames, each with an 8-byte header: the stream (1 = stdout,
//! 2 = stderr; 0 = stdin echoed, shown as stdout; 3 = an error from the daemon itself), three
//! zero bytes, and the payload's length as a big-endian `u32`. Attach, exec and `logs` of a
//! non-TTY container all use it. With a terminal there is one stream, the terminal's, and the
//! bytes come raw: the client must know which (Docker's CLI goes by its own `Tty` flag).

use std::io::{self, Read, Write};

/// The largest frame we accept: a daemon sends at most a pipe's worth at a time, and a
/// corrupt header must not make us allocate gigabytes.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Why a framed stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Reading from the daemon or writing to our stdout/stderr failed.
    #[error("copying the container's output: {0}")]
    Io(#[from] io::Error),
    /// The stream ended inside a frame.
    #[error("the daemon's output stream ended in the middle of a frame")]
    Truncated,
    /// A header announced an absurd length: the stream is not framed.
    #[error("invalid frame header {header:02x?} in the daemon's output stream")]
    BadHeader {
        /// The 8 bytes read.
        header: [u8; 8],
    },
    /// The daemon reported an error on stream 3.
    #[error("error from daemon in stream: {0}")]
    Daemon(String),
}

/// Copies a framed stream into `stdout` and `stderr` until it ends; flushes after each frame,
/// so interactive output appears as it is produced.
pub fn demux(
    mut input: impl Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), StreamError> {
    let mut header = [0u8; 8];
    let mut payload = Vec::new();
    loop {
        if !read_full(&mut input, &mut header)? {
            return Ok(());
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if len > MAX_FRAME || header[0] > 3 {
            return Err(StreamError::BadHeader { header });
        }
        payload.resize(len, 0);
        if len > 0 && !read_full(&mut input, &mut payload)? {
            return Err(StreamError::Truncated);
        }
        match header[0] {
            2 => {
                stderr.write_all(&payload)?;
                stderr.flush()?;
            }
            3 => {
                return Err(StreamError::Daemon(
                    String::from_utf8_lossy(&payload).trim().to_owned(),
                ));
            }
            _ => {
                stdout.write_all(&payload)?;
                stdout.flush()?;
            }
        }
    }
}

/// Copies a raw (TTY) stream into `out` until it ends.
pub fn copy_raw(mut input: impl Read, out: &mut dyn Write) -> Result<(), StreamError> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        out.write_all(&buf[..n])?;
        out.flush()?;
    }
}

/// Fills `buf`; `Ok(false)` if the stream ended before the first byte, an error if it ended
/// after it.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> Result<bool, StreamError> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(StreamError::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// One frame, as a daemon writes it (for tests, and for anyone building a fake daemon).
pub fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![stream, 0, 0, 0];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per read, as a slow socket might.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), out.first_mut()) {
                (Some((&byte, rest)), Some(slot)) => {
                    *slot = byte;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn splits_stdout_and_stderr_even_byte_by_byte() {
        let mut input = frame(1, b"out 1\n");
        input.extend(frame(2, b"err\n"));
        input.extend(frame(0, b"stdin echo\n"));
        input.extend(frame(1, b""));
        input.extend(frame(1, b"out 2\n"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        demux(Trickle(&input), &mut out, &mut err).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "out 1\nstdin echo\nout 2\n"
        );
        assert_eq!(String::from_utf8(err).unwrap(), "err\n");
    }

    #[test]
    fn a_cut_frame_is_an_error_but_a_clean_end_is_not() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        demux(&b""[..], &mut out, &mut err).unwrap();
        let mut input = frame(1, b"hello");
        input.truncate(10);
        assert!(matches!(
            demux(&input[..], &mut out, &mut err),
            Err(StreamError::Truncated)
        ));
        assert!(matches!(
            demux(&input[..4], &mut out, &mut err),
            Err(StreamError::Truncated)
        ));
    }

    #[test]
    fn unframed_bytes_are_refused() {
        // What a raw TTY stream looks like to a demuxer: "hello wo" as a header.
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(matches!(
            demux(&b"hello world\n"[..], &mut out, &mut err),
            Err(StreamError::BadHeader { .. })
        ));
    }

    #[test]
    fn daemon_errors_end_the_stream() {
        let mut input = frame(1, b"a");
        input.extend(frame(3, b"boom\n"));
        input.extend(frame(1, b"never"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let error = demux(&input[..], &mut out, &mut err).unwrap_err();
        assert_eq!(error.to_string(), "error from daemon in stream: boom");
        assert_eq!(out, b"a");
    }

    #[test]
    fn raw_streams_are_copied_as_they_are() {
        let mut out = Vec::new();
        copy_raw(Trickle(b"\x1b[1mbold\r\n"), &mut out).unwrap();
        assert_eq!(out, b"\x1b[1mbold\r\n");
    }
}
