//! Message bodies: where one ends and the next message begins.
//!
//! HTTP/1.1 keeps a connection open for many requests, so each body must say where it ends.
//! There are two ways (RFC 9112 §6):
//!
//! * `Content-Length: 42`: exactly 42 bytes follow. Simple, but the sender must know the size
//!   before it starts, which a build context streamed from disk or a log that is still being
//!   written do not.
//! * `Transfer-Encoding: chunked`: the body is a series of chunks, each a size in hex, CRLF, that
//!   many bytes, CRLF, ended by a chunk of size 0 and an (almost always empty) trailer section:
//!
//!   ```text
//!   5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n
//!   ```
//!
//! A request with neither has no body. A request with both is refused, since two parsers
//! (a proxy and us) could disagree on where it ends: that disagreement is "request smuggling".
//! Every length read from the wire is bounded before it is trusted: a chunk size of `ffffffff`
//! must not make us allocate 4 GiB.

use std::io::{self, BufRead, Read};

/// The longest chunk-size line (size and extensions) we accept.
const MAX_CHUNK_LINE: u64 = 4 * 1024;
/// The most trailer bytes after the last chunk we accept (and ignore).
const MAX_TRAILERS: u64 = 16 * 1024;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Writing a body to its file failed (a full disk): our fault, not the client's.
    #[error("writing the request body: {0}")]
    Write(#[source] io::Error),
    /// A chunk-size line that is not 1 to 16 hex digits (optionally with extensions).
    #[error("invalid chunk size line {line:?}")]
    BadChunkSize { line: String },
    /// A chunk-size line that never ends.
    #[error("chunk size line longer than {limit} bytes")]
    ChunkLineTooLong { limit: u64 },
    /// Chunk data longer than its announced size.
    #[error("chunk data is not followed by CRLF")]
    MissingCrlf,
    /// A trailer section that never ends.
    #[error("chunked trailer section longer than {limit} bytes")]
    TrailersTooLarge { limit: u64 },
    /// The peer closed before the body was complete.
    #[error("the connection closed in the middle of the body")]
    UnexpectedEof,
    /// More body than the limit allows (answered 413).
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The socket failed (or timed out) while reading.
    #[error("reading the body: {0}")]
    Io(#[source] io::Error),
}

impl From<io::Error> for BodyError {
    /// The decoder's errors travel through [`Read`] as `io::Error`s (see the conversion below);
    /// this unwraps them again, so that a caller reading through `Read` still learns that the
    /// body was too large or badly chunked rather than "some I/O error".
    fn from(error: io::Error) -> Self {
        if error.get_ref().is_some_and(|inner| inner.is::<BodyError>()) {
            let kind = error.kind();
            return match error
                .into_inner()
                .map(|inner| inner.downcast::<BodyError>())
            {
                Some(Ok(body)) => *body,
                _ => BodyError::Io(kind.into()),
            };
        }
        BodyError::Io(error)
    }
}

impl From<BodyError> for io::Error {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::Io(e) => e,
            BodyError::UnexpectedEof => io::Error::new(io::ErrorKind::UnexpectedEof, error),
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

/// Where the decoder is in the chunked stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk, with this many data bytes to go.
    Data(u64),
    /// After a chunk's data, expecting its CRLF.
    DataEnd,
    /// The last chunk and the trailers have been read.
    Done,
}

/// Decodes a chunked body from a buffered reader, leaving the reader just past the body (so
/// the next request on a keep-alive connection starts in the right place).
#[derive(Debug)]
pub struct ChunkedDecoder<R> {
    inner: R,
    state: State,
}

impl<R: BufRead> ChunkedDecoder<R> {
    /// Starts decoding at the first chunk-size line.
    pub fn new(inner: R) -> Self {
        ChunkedDecoder {
            inner,
            state: State::Size,
        }
    }

    /// Whether the terminating chunk has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes into `out`, at most one chunk's worth at a time; `Ok(0)` at the end.
    pub fn read_data(&mut self, out: &mut [u8]) -> Result<usize, BodyError> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match self.state {
                State::Done => return Ok(0),
                State::Size => self.start_chunk()?,
                State::DataEnd => self.end_chunk()?,
                State::Data(remaining) => {
                    let available = self.inner.fill_buf()?;
                    if available.is_empty() {
                        return Err(BodyError::UnexpectedEof);
                    }
                    let n = available
                        .len()
                        .min(out.len())
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    out[..n].copy_from_slice(&available[..n]);
                    self.inner.consume(n);
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    return Ok(n);
                }
            }
        }
    }

    /// The next whole chunk as the sender wrote it (or the rest of a chunk partly read through
    /// [`Read`]); `None` at the end of the body. A streaming client uses this to print each
    /// message as soon as it arrives.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, BodyError> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Size => self.start_chunk()?,
                State::DataEnd => self.end_chunk()?,
                State::Data(remaining) => {
                    // Grow as data arrives instead of trusting `remaining` for an allocation.
                    let mut data = Vec::new();
                    let got = (&mut self.inner).take(remaining).read_to_end(&mut data)?;
                    if (got as u64) < remaining {
                        return Err(BodyError::UnexpectedEof);
                    }
                    self.state = State::DataEnd;
                    return Ok(Some(data));
                }
            }
        }
    }

    /// Gives back the reader, positioned after what was decoded.
    pub fn into_inner(self) -> R {
        self.inner
    }

    // ANCHOR: chunk_size
    /// Reads a chunk-size line; a size of 0 also reads the trailers and ends the body.
    // EXERCISE: read the chunk-size line, ignore ';' extensions, accept 1 to 16 hex digits only; size 0 means: read the trailer lines up to the empty one and the body is Done
    fn start_chunk(&mut self) -> Result<(), BodyError> {
        let line = self
            .read_line(MAX_CHUNK_LINE)?
            .ok_or(BodyError::ChunkLineTooLong {
                limit: MAX_CHUNK_LINE,
            })?;
        let text = String::from_utf8_lossy(&line);
        // chunk-size [ BWS ";" chunk-ext ]: only the hex size matters; extensions are ignored.
        let size = text
            .split(';')
            .next()
            .unwrap_or("")
            .trim_end_matches([' ', '\t']);
        // `from_str_radix` would accept "+5": check the digits ourselves, and at most 16 of
        // them so the size fits in a u64.
        if size.is_empty() || size.len() > 16 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BodyError::BadChunkSize {
                line: text.into_owned(),
            });
        }
        let size = u64::from_str_radix(size, 16).map_err(|_| BodyError::BadChunkSize {
            line: text.to_string(),
        })?;
        if size > 0 {
            self.state = State::Data(size);
            return Ok(());
        }
        let mut budget = MAX_TRAILERS;
        loop {
            let line = self.read_line(budget)?.ok_or(BodyError::TrailersTooLarge {
                limit: MAX_TRAILERS,
            })?;
            if line.is_empty() {
                self.state = State::Done;
                return Ok(());
            }
            budget = budget.saturating_sub(line.len() as u64 + 2);
        }
    }
    // ANCHOR_END: chunk_size

    /// Reads the CRLF after a chunk's data.
    fn end_chunk(&mut self) -> Result<(), BodyError> {
        let mut crlf = [0u8; 2];
        self.inner
            .read_exact(&mut crlf)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => BodyError::UnexpectedEof,
                _ => BodyError::Io(e),
            })?;
        if &crlf != b"\r\n" {
            return Err(BodyError::MissingCrlf);
        }
        self.state = State::Size;
        Ok(())
    }

    /// One CRLF-terminated line without its CRLF, or `None` if it is longer than `limit`.
    fn read_line(&mut self, limit: u64) -> Result<Option<Vec<u8>>, BodyError> {
        let mut line = Vec::new();
        (&mut self.inner)
            .take(limit + 2)
            .read_until(b'\n', &mut line)?;
        if line.last() != Some(&b'\n') {
            return if line.len() as u64 >= limit + 2 {
                Ok(None)
            } else {
                Err(BodyError::UnexpectedEof)
            };
        }
        // A bare LF is refused: lenient line endings are another smuggling vector.
        if line.len() < 2 || line[line.len() - 2] != b'\r' {
            return Err(BodyError::BadChunkSize {
                line: String::from_utf8_lossy(&line).into_owned(),
            });
        }
        line.truncate(line.len() - 2);
        Ok(Some(line))
    }
}

impl<R: BufRead> Read for ChunkedDecoder<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        Ok(self.read_data(out)?)
    }
}

/// Reads a whole body from `reader`, refusing more than `limit` bytes.
pub fn read_limited(mut reader: impl Read, limit: u64) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    // One byte past the limit tells "exactly the limit" from "too much".
    let got = (&mut reader).take(limit + 1).read_to_end(&mut body)?;
    if got as u64 > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(body)
}

/// Reads exactly `length` body bytes (a `Content-Length` body).
pub fn read_exact_length(reader: impl Read, length: u64) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    let got = reader.take(length).read_to_end(&mut body)?;
    if (got as u64) < length {
        return Err(BodyError::UnexpectedEof);
    }
    Ok(body)
}

/// Copies a whole body from `reader` into `out`, refusing more than `limit` bytes.
pub fn copy_limited(
    reader: impl Read,
    limit: u64,
    out: &mut impl io::Write,
) -> Result<(), BodyError> {
    let got = copy(reader.take(limit + 1), out)?;
    if got > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(())
}

/// Copies exactly `length` body bytes (a `Content-Length` body) into `out`.
pub fn copy_exact_length(
    reader: impl Read,
    length: u64,
    out: &mut impl io::Write,
) -> Result<(), BodyError> {
    if copy(reader.take(length), out)? < length {
        return Err(BodyError::UnexpectedEof);
    }
    Ok(())
}

/// `io::copy` that tells a failed read (the client's fault, or gone) from a failed write
/// (ours: a full disk), which deserve different answers.
fn copy(mut reader: impl Read, out: &mut impl io::Write) -> Result<u64, BodyError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BodyError::Io(e)),
        };
        out.write_all(&buf[..n]).map_err(BodyError::Write)?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(wire: &[u8]) -> Result<Vec<u8>, BodyError> {
        let mut decoder = ChunkedDecoder::new(wire);
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            let n = decoder.read_data(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers() {
        assert_eq!(
            decode(b"5\r\nhello\r\n6;name=v\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT").unwrap(),
            b"hello world"
        );
        assert_eq!(decode(b"0\r\n\r\n").unwrap(), b"");
        assert_eq!(
            decode(b"A\r\n0123456789\r\n0\r\n\r\n").unwrap(),
            b"0123456789"
        );
    }

    #[test]
    fn stops_at_the_end_of_the_body() {
        let wire: &[u8] = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
        let mut decoder = ChunkedDecoder::new(wire);
        assert_eq!(decoder.next_chunk().unwrap().unwrap(), b"abc");
        assert!(decoder.next_chunk().unwrap().is_none());
        assert_eq!(decoder.into_inner(), b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn refuses_malformed_chunks() {
        for wire in [
            &b"zz\r\nhello\r\n0\r\n\r\n"[..],
            b"+5\r\nhello\r\n0\r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"11111111111111111\r\n",
        ] {
            assert!(
                matches!(decode(wire), Err(BodyError::BadChunkSize { .. })),
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
        assert!(matches!(
            decode(b"5\r\nhelloXX0\r\n\r\n"),
            Err(BodyError::MissingCrlf)
        ));
        assert!(matches!(decode(b"5\r\nhel"), Err(BodyError::UnexpectedEof)));
        let long = format!("1;{}\r\n", "x".repeat(5000));
        assert!(matches!(
            decode(long.as_bytes()),
            Err(BodyError::ChunkLineTooLong { .. })
        ));
    }

    #[test]
    fn limits() {
        assert!(matches!(
            read_limited(&b"12345"[..], 4),
            Err(BodyError::TooLarge { limit: 4 })
        ));
        assert_eq!(read_limited(&b"1234"[..], 4).unwrap(), b"1234");
        assert!(matches!(
            read_exact_length(&b"12"[..], 4),
            Err(BodyError::UnexpectedEof)
        ));
    }
}
