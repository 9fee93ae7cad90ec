//! Streaming a response: chunked transfer encoding, one chunk per message, flushed at once.
//!
//! `docker logs -f`, `docker pull` and `docker build` print while the daemon works, so their
//! responses cannot carry a `Content-Length`: nobody knows the length yet. HTTP/1.1's answer is
//! `Transfer-Encoding: chunked` (see [`body`](super::body) for the format): each piece is sent
//! as its own chunk the moment it exists, and an empty chunk ends the body, after which the
//! connection can carry the next request.
//!
//! Two rules matter. First, every chunk is written to the socket immediately, never kept in a
//! buffer: a progress line that sits in a buffer is a frozen progress bar, and `POST
//! /containers/{id}/wait` depends on its *head* going out before the body exists at all (the
//! CLI will not start the container until it sees the head; see docker-api.md, trap 1).
//! Second, a zero-length chunk *is* the end of the body, so writing an empty slice must send
//! nothing, or a stray `write(b"")` would end the stream early and the next chunk would be
//! taken for the start of a new response.
//!
//! Docker's progress streams are one JSON object per message followed by `\r\n`;
//! [`ChunkWriter::send_json`] writes exactly that. An HTTP/1.0 client does not know chunking:
//! it gets the raw bytes, and the end of the body is the closing of the connection.

use std::io::{self, Write};

use serde::Serialize;

/// The body of a streamed response, handed to the handler's closure.
pub struct ChunkWriter<'a> {
    out: &'a mut dyn Write,
    chunked: bool,
    sent: u64,
}

impl<'a> ChunkWriter<'a> {
    /// Writes to `out`, in chunked framing if `chunked` (else raw, for HTTP/1.0).
    pub(crate) fn new(out: &'a mut dyn Write, chunked: bool) -> Self {
        ChunkWriter {
            out,
            chunked,
            sent: 0,
        }
    }

    // ANCHOR: chunk
    /// Sends `data` as one chunk, now. An empty `data` sends nothing.
    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if self.chunked {
            // Size line, data and CRLF in one write: one syscall, one piece on the wire.
            let mut chunk = Vec::with_capacity(data.len() + 20);
            chunk.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
            chunk.extend_from_slice(data);
            chunk.extend_from_slice(b"\r\n");
            self.out.write_all(&chunk)?;
        } else {
            self.out.write_all(data)?;
        }
        self.out.flush()?;
        self.sent += data.len() as u64;
        Ok(())
    }
    // ANCHOR_END: chunk

    /// Sends one JSON message followed by `\r\n`, the framing of Docker's progress streams.
    pub fn send_json<T: Serialize + ?Sized>(&mut self, message: &T) -> io::Result<()> {
        let mut line = serde_json::to_vec(message)?;
        line.extend_from_slice(b"\r\n");
        self.send(&line)
    }

    /// How many body bytes have been sent.
    pub fn bytes_sent(&self) -> u64 {
        self.sent
    }

    /// Ends the body with the last, empty chunk.
    pub(crate) fn finish(self) -> io::Result<()> {
        if self.chunked {
            self.out.write_all(b"0\r\n\r\n")?;
            self.out.flush()?;
        }
        Ok(())
    }
}

impl Write for ChunkWriter<'_> {
    /// Every `write` is a chunk of its own (so `write_all` of a message is one chunk).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_chunks_and_skips_empty_writes() {
        let mut wire = Vec::new();
        let mut w = ChunkWriter::new(&mut wire, true);
        w.send(b"hello").unwrap();
        w.send(b"").unwrap();
        w.send_json(&serde_json::json!({"status": "ok"})).unwrap();
        assert_eq!(w.bytes_sent(), 5 + 17);
        w.finish().unwrap();
        assert_eq!(
            String::from_utf8(wire).unwrap(),
            "5\r\nhello\r\n11\r\n{\"status\":\"ok\"}\r\n\r\n0\r\n\r\n"
        );
    }
}
