//! Just enough HTTP/1.1, by hand, for the test servers and for tests that speak raw HTTP.
//!
//! The token issuer and the faulty proxy are servers of our own, and a test that proves a proxy
//! fault needs to see the bytes as they went over the wire: a truncated body, a `307` that a
//! client library would follow by itself, a connection closed without an answer. So this module
//! reads and writes message heads itself, on plain [`TcpStream`]s, and offers a raw client
//! ([`request`]) that hides nothing. It is not a general HTTP library: one request per
//! connection, `Connection: close` everywhere, and heads of at most 64 KiB.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The most a message head (start line and headers) may take.
const MAX_HEAD: usize = 64 * 1024;

/// How long the raw client waits for the server, so a test fails instead of hanging.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A message head: the start line (request line or status line) and the headers in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// `GET /v2/ HTTP/1.1` for a request, `HTTP/1.1 200 OK` for a response.
    pub start: String,
    /// Header names and values as received (names keep their case; compare without it).
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The head with every header `name` removed.
    pub(crate) fn without(mut self, name: &str) -> Head {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// The head with the header `name` set to `value` (replacing any earlier value).
    pub(crate) fn with(self, name: &str, value: &str) -> Head {
        let mut head = self.without(name);
        head.headers.push((name.to_owned(), value.to_owned()));
        head
    }

    /// For a request head: the method, target and version of its request line.
    pub(crate) fn request_line(&self) -> Option<(&str, &str, &str)> {
        let mut parts = self.start.split(' ');
        let method = parts.next()?;
        let target = parts.next()?;
        let version = parts.next()?;
        (parts.next().is_none() && version.starts_with("HTTP/1."))
            .then_some((method, target, version))
    }

    /// For a response head: the status code of its status line.
    pub(crate) fn status(&self) -> Option<u16> {
        let mut parts = self.start.splitn(3, ' ');
        parts
            .next()
            .filter(|version| version.starts_with("HTTP/1."))?;
        parts.next()?.parse().ok()
    }

    /// How the body that follows this head is delimited, for a message of a connection that
    /// will be closed after it (so a response without a length runs to the end of the stream).
    pub(crate) fn framing(&self, is_request: bool) -> Framing {
        if self
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
        {
            Framing::Chunked
        } else if let Some(length) = self.header("content-length") {
            Framing::Length(length.trim().parse().unwrap_or(0))
        } else if is_request {
            Framing::Length(0)
        } else {
            Framing::UntilClose
        }
    }

    /// The head as it goes on the wire, blank line included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start);
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

/// How a message body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length` bytes (0 for a request without a body).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// A response without a length: the body ends when the server closes.
    UntilClose,
}

/// What [`read_head`] found at the start of a connection.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A head, and the bytes read past it (the start of the body).
    Head(Head, Vec<u8>),
    /// The peer closed before sending anything.
    Closed,
    /// The first byte was a TLS handshake: a client trying HTTPS first, as skopeo does with
    /// `--tls-verify=false` before it falls back to plain HTTP.
    Tls,
}

/// Reads one message head from `stream`.
pub(crate) fn read_head(stream: &mut impl Read) -> io::Result<Incoming> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(Incoming::Closed)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in the middle of a message head",
                ))
            };
        }
        if buf.is_empty() && chunk[0] == 0x16 {
            return Ok(Incoming::Tls);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok(Incoming::Head(parse_head(&buf[..end])?, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(invalid("message head larger than 64 KiB"));
        }
    }
}

fn parse_head(bytes: &[u8]) -> io::Result<Head> {
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("message head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let start = lines.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(&format!("header line without a colon: {line:?}")))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Ok(Head { start, headers })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// Copies one body, delimited by `framing`, from `reader` to `out` exactly as it is on the
/// wire (chunk sizes included). Returns the number of bytes copied.
pub(crate) fn copy_raw_body(
    reader: &mut impl BufRead,
    framing: Framing,
    out: &mut impl Write,
) -> io::Result<u64> {
    match framing {
        Framing::Length(n) => io::copy(&mut reader.take(n), out),
        Framing::UntilClose => io::copy(reader, out),
        Framing::Chunked => {
            let mut copied = 0u64;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line)? == 0 {
                    return Err(invalid("chunked body ended early"));
                }
                out.write_all(line.as_bytes())?;
                copied += line.len() as u64;
                let size_text = line.trim_end().split(';').next().unwrap_or_default();
                let size = u64::from_str_radix(size_text.trim(), 16)
                    .map_err(|_| invalid(&format!("bad chunk size line {line:?}")))?;
                if size == 0 {
                    // Trailers, then the empty line that ends the body.
                    loop {
                        let mut trailer = String::new();
                        if reader.read_line(&mut trailer)? == 0 {
                            return Ok(copied);
                        }
                        out.write_all(trailer.as_bytes())?;
                        copied += trailer.len() as u64;
                        if trailer == "\r\n" || trailer == "\n" {
                            return Ok(copied);
                        }
                    }
                }
                // The chunk's data and its closing CRLF.
                copied += io::copy(&mut reader.take(size + 2), out)?;
            }
        }
    }
}

/// Decodes a complete chunked body (as [`copy_raw_body`] copies it) into its data.
pub(crate) fn decode_chunked(mut raw: &[u8]) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let eol = find(raw, b"\r\n").ok_or_else(|| invalid("chunk size line without CRLF"))?;
        let size_text = std::str::from_utf8(&raw[..eol]).map_err(|_| invalid("bad chunk size"))?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| invalid("bad chunk size"))?;
        raw = &raw[eol + 2..];
        if size == 0 {
            return Ok(data);
        }
        if raw.len() < size {
            return Err(invalid("chunk shorter than its size"));
        }
        data.extend_from_slice(&raw[..size]);
        raw = raw.get(size + 2..).unwrap_or_default();
    }
}

/// Reads the body of a request whose head was just read, `rest` being the bytes read past the
/// head. For the small requests a test server answers (token forms), not for streaming.
pub(crate) fn read_request_body(
    head: &Head,
    rest: Vec<u8>,
    stream: &mut impl Read,
) -> io::Result<Vec<u8>> {
    let framing = head.framing(true);
    let mut reader = BufReader::new(io::Cursor::new(rest).chain(stream));
    let mut raw = Vec::new();
    copy_raw_body(&mut reader, framing, &mut raw)?;
    if framing == Framing::Chunked {
        decode_chunked(&raw)
    } else {
        Ok(raw)
    }
}

/// Writes a complete response with a fixed body and `Connection: close`.
pub(crate) fn write_response(
    stream: &mut impl Write,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = Head {
        start: format!("HTTP/1.1 {status} {}", reason(status)),
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    };
    head = head
        .with("Content-Length", &body.len().to_string())
        .with("Connection", "close");
    stream.write_all(&head.to_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// The standard reason phrase of the status codes the test servers send.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        502 => "Bad Gateway",
        _ => "Unknown",
    }
}

/// A response as [`request`] read it off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    /// The response head: status line and headers.
    pub head: Head,
    /// The status code.
    pub status: u16,
    /// The body: every byte up to the end of the stream (decoded when chunked). Shorter than
    /// `Content-Length` when the server closed early, which is what [`Response::is_truncated`]
    /// reports.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// The body as text (lossy), for error bodies and JSON.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the body is shorter than the `Content-Length` the server announced.
    pub fn is_truncated(&self) -> bool {
        self.header("content-length")
            .and_then(|length| length.parse::<usize>().ok())
            .is_some_and(|length| self.body.len() < length)
    }
}

/// Sends one request over a fresh connection to `host` (`127.0.0.1:PORT`) and reads the whole
/// response, up to the server closing the connection, following nothing: a `307` is returned
/// as it is.
///
/// `target` is the request target (`/v2/`), `headers` are sent as given after `Host` and
/// `Connection: close`, and a non-empty `body` gets a `Content-Length`. A server that closes
/// without answering gives an error of kind [`io::ErrorKind::UnexpectedEof`]; a server that
/// closes in the middle of the body gives a [`Response`] whose body is short.
pub fn request(
    host: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let address = host
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| invalid(&format!("{host} resolves to no address")))?;
    let mut stream = TcpStream::connect_timeout(&address, CLIENT_TIMEOUT)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut head = Head {
        start: format!("{method} {target} HTTP/1.1"),
        headers: vec![
            ("Host".to_owned(), host.to_owned()),
            ("Connection".to_owned(), "close".to_owned()),
        ],
    };
    for (name, value) in headers {
        head.headers.push(((*name).to_owned(), (*value).to_owned()));
    }
    if !body.is_empty() {
        head = head.with("Content-Length", &body.len().to_string());
    }
    stream.write_all(&head.to_bytes())?;
    stream.write_all(body)?;
    let (head, rest) = match read_head(&mut stream)? {
        Incoming::Head(head, rest) => (head, rest),
        Incoming::Closed => {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{host} closed the connection without answering {method} {target}"),
            ));
        }
        Incoming::Tls => return Err(invalid("the server answered with TLS")),
    };
    let status = head
        .status()
        .ok_or_else(|| invalid(&format!("bad status line {:?}", head.start)))?;
    let mut raw = rest;
    // Read to the end of the stream, also for HEAD (we asked the server to close after the
    // answer): then the server is done with the request when this returns. A truncated body
    // is data for the test, not an error.
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => return Err(e),
    }
    if method == "HEAD" {
        raw.clear();
    }
    let body = if head.framing(false) == Framing::Chunked {
        decode_chunked(&raw).unwrap_or(raw)
    } else {
        raw
    };
    Ok(Response { head, status, body })
}

/// The value of an `Authorization: Basic` header for `user` and `password`.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64_encode(format!("{user}:{password}").as_bytes(), STANDARD)
    )
}

/// The standard base64 alphabet (RFC 4648 §4), with `=` padding.
pub(crate) const STANDARD: (&[u8; 64], bool) = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    true,
);
/// The URL-safe alphabet (RFC 4648 §5) without padding, as JSON Web Tokens use it.
pub(crate) const URL_SAFE: (&[u8; 64], bool) = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    false,
);

/// Encodes `data` in base64 with the given alphabet and padding rule.
pub(crate) fn base64_encode(data: &[u8], (alphabet, pad): (&[u8; 64], bool)) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let bytes = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        let symbols = group.len() + 1;
        for i in 0..4 {
            if i < symbols {
                out.push(char::from(alphabet[(n >> (18 - 6 * i)) as usize & 63]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` when it is not valid base64.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let value = STANDARD.0.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Decodes `%XX` escapes and `+` (a space, in forms and query strings).
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `name=value` pairs of a query string or form body, decoded, in order.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// Escapes `text` as a JSON string, quotes included.
pub(crate) fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(plain.as_bytes(), STANDARD), encoded);
            assert_eq!(base64_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base64_encode(&[0xfb, 0xff], URL_SAFE), "-_8");
    }

    #[test]
    fn query_strings_decode() {
        assert_eq!(
            parse_query("scope=repository%3Alibrary%2Fbusybox%3Apull&service=a+b&x"),
            vec![
                ("scope".into(), "repository:library/busybox:pull".into()),
                ("service".into(), "a b".into()),
                ("x".into(), String::new()),
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
    }

    #[test]
    fn chunked_bodies_copy_raw_and_decode() {
        let wire = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let mut reader = BufReader::new(&wire[..]);
        let mut raw = Vec::new();
        copy_raw_body(&mut reader, Framing::Chunked, &mut raw).unwrap();
        assert_eq!(raw, &wire[..wire.len() - 4]);
        assert_eq!(decode_chunked(&raw).unwrap(), b"Wikipedia");
    }
}
