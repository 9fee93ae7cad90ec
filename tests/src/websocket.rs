//! A WebSocket client (RFC 6455), just enough to speak to Chromium's DevTools.
//!
//! The Chrome DevTools Protocol is JSON messages over one WebSocket. A WebSocket starts as an
//! HTTP/1.1 `GET` with `Upgrade: websocket`; the server answers `101 Switching Protocols`, and
//! from then on both sides send *frames*: a two-byte header (FIN bit, opcode, MASK bit, a 7-bit
//! length), an extended length when the 7 bits say 126 (16-bit) or 127 (64-bit), a 4-byte mask
//! key on frames from the client, and the payload. Three rules matter for a client:
//!
//! * every frame it sends is masked (XOR with the key), or the server closes the connection;
//! * a message may arrive split into fragments (opcode 0 continuations until FIN);
//! * a `ping` must be answered with a `pong` carrying the same payload.
//!
//! What we leave out on purpose: we do not check `Sec-WebSocket-Accept` (the peer is a local
//! Chromium we started, and the check needs SHA-1), and we offer no extensions, so frames are
//! never compressed.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::http::{Incoming, STANDARD, base64_encode, read_head};

/// Why the WebSocket failed.
#[derive(Debug)]
pub enum WebSocketError {
    /// The URL is not `ws://HOST:PORT/PATH`.
    BadUrl(String),
    /// Connecting, reading or writing failed.
    Io(io::Error),
    /// The server did not answer the upgrade with `101`.
    Refused(String),
    /// The server closed the WebSocket.
    Closed,
    /// A frame we cannot read: a reserved opcode, a masked frame from the server, text that
    /// is not UTF-8.
    Protocol(String),
}

impl std::fmt::Display for WebSocketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebSocketError::BadUrl(url) => write!(f, "not a ws:// URL: {url:?}"),
            WebSocketError::Io(e) => write!(f, "websocket i/o: {e}"),
            WebSocketError::Refused(status) => write!(f, "websocket upgrade refused: {status}"),
            WebSocketError::Closed => write!(f, "the server closed the websocket"),
            WebSocketError::Protocol(what) => write!(f, "websocket protocol error: {what}"),
        }
    }
}

impl std::error::Error for WebSocketError {}

impl From<io::Error> for WebSocketError {
    fn from(e: io::Error) -> Self {
        WebSocketError::Io(e)
    }
}

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// How long the rest of a frame may take once its first byte has arrived.
const FRAME_TIMEOUT: Duration = Duration::from_secs(60);

/// An open WebSocket over plain TCP.
pub struct WebSocket {
    stream: TcpStream,
    /// Bytes read past the `101` head: the first frames may arrive in the same packet.
    pending: Vec<u8>,
}

impl WebSocket {
    /// Connects to `url` (`ws://127.0.0.1:PORT/PATH`) and performs the upgrade handshake.
    pub fn connect(url: &str) -> Result<WebSocket, WebSocketError> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| WebSocketError::BadUrl(url.to_owned()))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { "/" } else { path };
        let mut stream = TcpStream::connect(authority)?;
        stream.set_nodelay(true)?;

        // Any 16 bytes will do as the key; the server only hashes it back to us.
        let key = base64_encode(&nonce(), STANDARD);
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes())?;
        match read_head(&mut stream)? {
            Incoming::Head(head, pending) if head.status() == Some(101) => {
                Ok(WebSocket { stream, pending })
            }
            Incoming::Head(head, _) => Err(WebSocketError::Refused(head.start)),
            Incoming::Closed | Incoming::Tls => Err(WebSocketError::Refused(
                "the connection closed during the handshake".into(),
            )),
        }
    }

    /// Sends one text message, in a single masked frame.
    pub fn send_text(&mut self, text: &str) -> Result<(), WebSocketError> {
        self.send_frame(OP_TEXT, text.as_bytes())
    }

    /// Waits at most `timeout` for the next text message. `Ok(None)` means the time ran out
    /// with no message; pings are answered on the way.
    pub fn receive_text(&mut self, timeout: Duration) -> Result<Option<String>, WebSocketError> {
        let deadline = std::time::Instant::now() + timeout;
        let mut message = Vec::new();
        loop {
            if message.is_empty() {
                // Between messages the caller's deadline holds (a zero timeout would mean
                // "block forever" to the socket: keep a millisecond at least).
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                self.stream
                    .set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            }
            let (fin, opcode, payload) = match self.read_frame() {
                Ok(frame) => frame,
                Err(WebSocketError::Io(e))
                    if message.is_empty()
                        && self.pending.is_empty()
                        && matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            match opcode {
                OP_PING => self.send_frame(OP_PONG, &payload)?,
                OP_PONG => {}
                OP_CLOSE => return Err(WebSocketError::Closed),
                OP_TEXT | OP_BINARY | OP_CONTINUATION => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return String::from_utf8(message).map(Some).map_err(|_| {
                            WebSocketError::Protocol("a text message is not UTF-8".into())
                        });
                    }
                    // The rest of a fragmented message is already on its way.
                    self.wait_for_the_rest()?;
                }
                other => {
                    return Err(WebSocketError::Protocol(format!(
                        "reserved opcode {other:#x}"
                    )));
                }
            }
        }
    }

    fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<(), WebSocketError> {
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x80 | opcode);
        // The high bit of the second byte says "masked"; clients must always set it.
        match payload.len() {
            len @ 0..=125 => frame.push(0x80 | len as u8),
            len @ 126..=0xFFFF => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        let nonce = nonce();
        let mask = [nonce[0], nonce[1], nonce[2], nonce[3]];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame)?;
        Ok(())
    }

    /// Reads one frame: (FIN, opcode, unmasked payload).
    fn read_frame(&mut self) -> Result<(bool, u8, Vec<u8>), WebSocketError> {
        let mut header = [0u8; 2];
        self.read_exact(&mut header)?;
        self.wait_for_the_rest()?;
        let fin = header[0] & 0x80 != 0;
        let opcode = header[0] & 0x0F;
        if header[1] & 0x80 != 0 {
            return Err(WebSocketError::Protocol(
                "the server masked a frame (only clients may)".into(),
            ));
        }
        let len = match header[1] & 0x7F {
            126 => {
                let mut b = [0u8; 2];
                self.read_exact(&mut b)?;
                u64::from(u16::from_be_bytes(b))
            }
            127 => {
                let mut b = [0u8; 8];
                self.read_exact(&mut b)?;
                u64::from_be_bytes(b)
            }
            len => u64::from(len),
        };
        // Chromium's largest messages are screenshots: a few MB. Refuse absurd lengths rather
        // than allocate them.
        if len > 256 * 1024 * 1024 {
            return Err(WebSocketError::Protocol(format!("a frame of {len} bytes")));
        }
        let mut payload = vec![0u8; len as usize];
        self.read_exact(&mut payload)?;
        Ok((fin, opcode, payload))
    }

    /// Once a frame has begun, waits for its end even if the caller's timeout was short:
    /// giving up half-way would lose our place in the stream.
    fn wait_for_the_rest(&mut self) -> io::Result<()> {
        self.stream.set_read_timeout(Some(FRAME_TIMEOUT))
    }

    /// `read_exact` that first drains the bytes read past the handshake.
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), WebSocketError> {
        let from_pending = buf.len().min(self.pending.len());
        buf[..from_pending].copy_from_slice(&self.pending[..from_pending]);
        self.pending.drain(..from_pending);
        let rest = &mut buf[from_pending..];
        if rest.is_empty() {
            return Ok(());
        }
        let mut read = 0;
        while read < rest.len() {
            match self.stream.read(&mut rest[read..]) {
                Ok(0) => return Err(WebSocketError::Closed),
                Ok(n) => {
                    read += n;
                    self.wait_for_the_rest()?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// Sixteen bytes that differ from call to call: enough for a handshake key and a mask, which
/// protect proxies from confused caches, not secrets.
fn nonce() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; 16];
    for half in out.chunks_mut(8) {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        half.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    out
}
