//! The read buffer in front of a socket, shared by the server and the client.
//!
//! A `read` on a socket returns whatever has arrived, which rarely lines up with HTTP's message
//! boundaries: one read can hold half a request head, or a whole head plus the start of the body,
//! or (with pipelining, or stdin sent right after an attach request) the next request or raw
//! bytes meant for whoever takes over the socket. So both ends read into a buffer, parse from
//! the buffer, [`consume`](Conn::consume) what they parsed, and hand any bytes left over to the
//! next step. Forgetting those leftover bytes is the classic hijack bug: the first keystrokes of
//! `docker run -i` vanish.

use std::io::{self, BufRead, Read};

/// How much to ask the kernel for at a time.
const READ_SIZE: usize = 8 * 1024;

/// A socket with a read buffer. Writes go straight to [`stream`](Conn::stream), unbuffered, so
/// that every response piece we write is on the wire when the write returns.
#[derive(Debug)]
pub struct Conn<S> {
    /// The socket; write to it directly.
    pub stream: S,
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    pos: usize,
}

impl<S: Read> Conn<S> {
    /// Wraps a socket with an empty buffer.
    pub fn new(stream: S) -> Self {
        Conn {
            stream,
            buf: Vec::with_capacity(READ_SIZE),
            pos: 0,
        }
    }

    /// The bytes read from the socket but not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Marks `n` buffered bytes as used.
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Reads once from the socket and *appends* to the buffered bytes (unlike
    /// [`BufRead::fill_buf`], which only reads when the buffer is empty): a request head is
    /// parsed again from its first byte each time more of it arrives. Returns how many bytes
    /// arrived; 0 means the peer closed its sending side (EOF).
    pub fn read_more(&mut self) -> io::Result<usize> {
        if self.pos > 0 {
            // Move the unconsumed bytes to the front rather than letting the buffer grow.
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_SIZE, 0);
        loop {
            match self.stream.read(&mut self.buf[old..]) {
                Ok(n) => {
                    self.buf.truncate(old + n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        }
    }

    /// Gives up the socket and the bytes buffered past what was consumed.
    pub fn into_parts(mut self) -> (S, Vec<u8>) {
        let leftover = self.buf.split_off(self.pos);
        (self.stream, leftover)
    }
}

impl<S: Read> Read for Conn<S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.buffered().is_empty() && out.len() >= READ_SIZE {
            // Nothing buffered and a big destination: skip the copy.
            return self.stream.read(out);
        }
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<S: Read> BufRead for Conn<S> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.buffered().is_empty() {
            self.read_more()?;
        }
        Ok(self.buffered())
    }

    fn consume(&mut self, n: usize) {
        Conn::consume(self, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftover_bytes_survive_into_parts() {
        let mut conn = Conn::new(&b"HEAD\r\n\r\nstdin"[..]);
        conn.read_more().unwrap();
        conn.consume(8);
        let (_, leftover) = conn.into_parts();
        assert_eq!(leftover, b"stdin");
    }

    #[test]
    fn read_more_appends() {
        let mut conn = Conn::new(io::Read::chain(&b"ab"[..], &b"cd"[..]));
        conn.read_more().unwrap();
        conn.read_more().unwrap();
        assert_eq!(conn.buffered(), b"abcd");
        let mut rest = String::new();
        conn.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "abcd");
    }
}
