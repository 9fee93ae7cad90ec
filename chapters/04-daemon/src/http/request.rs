//! Reading a request: the head, under limits of size and time.
//!
//! An HTTP/1.1 request starts with a *head*: the request line (`POST /containers/create
//! HTTP/1.1`), header fields (`Content-Type: application/json`), and an empty line. `httparse`
//! does the parsing; this module decides what is acceptable, because a daemon whose socket is
//! root-equivalent must survive any byte sequence a client sends:
//!
//! * the head may take at most [`Limits::max_head`] bytes (64 KiB) and
//!   [`Limits::max_headers`] fields (100), else `431 Request Header Fields Too Large`. Without a
//!   bound, a client that never sends the empty line makes the buffer grow until the daemon dies;
//! * the whole head must arrive within the read timeout, counted from when we start waiting, not
//!   per read: a "slow loris" client that sends one byte every few seconds would otherwise hold
//!   its thread forever while every single read succeeds;
//! * HTTP/1.1 requires a `Host` header (RFC 9112 §3.2): its absence is a 400;
//! * the body's framing (see [`body`](super::body)) is checked before a byte of it is read, so a
//!   `Content-Length` over [`Limits::max_body`] is answered `413` at once.
//!
//! What comes out is a [`Request`]: method, decoded path and query, headers, and the whole body.
//! The body is read into memory before the handler runs (bounded by `max_body`): Docker's
//! request bodies are small JSON documents, and the one big one, a build context, is read
//! completely before a build starts anyway.

use std::io;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::body::BodyError;
use super::conn::Conn;
use super::headers::Headers;
use super::query::Query;
use super::response::HttpError;
use super::target::{ApiVersion, Target, TargetError};
use super::transport::{Transport, is_timeout};

/// How big a request may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes in a request head (request line, headers, empty line).
    pub max_head: usize,
    /// The most header fields in a request.
    pub max_headers: usize,
    /// The most bytes in a request body, whether sized or chunked.
    pub max_body: u64,
    /// The most bytes in a body written to disk ([`Handler::spool_body`](super::Handler)).
    pub max_spooled_body: u64,
}

// ANCHOR: limits
impl Default for Limits {
    /// 64 KiB of head, 100 headers, 16 MiB of body in memory, 64 GiB on disk.
    fn default() -> Self {
        Limits {
            max_head: 64 * 1024,
            max_headers: 100,
            max_body: 16 * 1024 * 1024,
            max_spooled_body: 64 << 30,
        }
    }
}
// ANCHOR_END: limits

/// Why a request could not be read; [`status`](RequestError::status) says how to answer.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The head exceeds `max_head` (431).
    #[error("request head larger than {limit} bytes")]
    HeadTooLarge { limit: usize },
    /// More fields than `max_headers` (431).
    #[error("more than {limit} header fields")]
    TooManyHeaders { limit: usize },
    /// Not a valid request line or header field (`httparse` said why) (400).
    #[error("malformed request head: {0}")]
    Malformed(#[source] httparse::Error),
    /// A head `httparse` accepted without a method, target or version (400; it never does).
    #[error("malformed request head: incomplete request line")]
    IncompleteRequestLine,
    /// A version other than HTTP/1.0 or HTTP/1.1 (505).
    #[error("unsupported HTTP version (this server speaks HTTP/1.0 and HTTP/1.1)")]
    Version,
    /// EOF in the middle of a head (400).
    #[error("the connection closed before the request head was complete")]
    TruncatedHead,
    /// The head did not complete, or the body stalled, within the read timeout (408).
    #[error("timed out waiting for the rest of the request")]
    Timeout,
    /// A header value with bytes that are not UTF-8 (400).
    #[error("the value of header {name} is not valid UTF-8")]
    HeaderNotUtf8 { name: String },
    /// An HTTP/1.1 request without `Host` (400).
    #[error("missing Host header (HTTP/1.1 requires one)")]
    MissingHost,
    /// A `Content-Length` that is not a number, or several that disagree (400).
    #[error("invalid Content-Length {value:?}")]
    BadContentLength { value: String },
    /// Both `Content-Length` and `Transfer-Encoding` (400).
    #[error("both Content-Length and Transfer-Encoding are set: refusing an ambiguous body")]
    AmbiguousLength,
    /// A transfer coding other than plain `chunked` (501).
    #[error("unsupported Transfer-Encoding {value:?} (only chunked is implemented)")]
    UnsupportedTransferEncoding { value: String },
    /// A body over `max_body` (413).
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge { limit: u64 },
    /// A request target that is not a clean absolute path (400).
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A body that is badly chunked or cut short (400).
    #[error("bad request body: {0}")]
    Body(#[source] BodyError),
    /// The connection failed: nobody to answer.
    #[error("reading the request: {0}")]
    Io(#[source] io::Error),
    /// A body could not be written to its file in `dir` (500).
    #[error("storing the request body in {dir}: {source}")]
    Spool {
        dir: std::path::PathBuf,
        source: io::Error,
    },
}

impl From<BodyError> for RequestError {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::TooLarge { limit } => RequestError::BodyTooLarge { limit },
            // Only the spooling path writes; it maps this itself, naming its directory.
            BodyError::Write(e) => RequestError::Io(e),
            BodyError::Io(e) if is_timeout(&e) => RequestError::Timeout,
            BodyError::Io(e) => RequestError::Io(e),
            other => RequestError::Body(other),
        }
    }
}

impl RequestError {
    /// The status code that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::HeadTooLarge { .. } | RequestError::TooManyHeaders { .. } => 431,
            RequestError::Version => 505,
            RequestError::Timeout => 408,
            RequestError::BodyTooLarge { .. } => 413,
            RequestError::UnsupportedTransferEncoding { .. } => 501,
            RequestError::Spool { .. } => 500,
            _ => 400,
        }
    }

    /// Whether the connection is broken, so that writing an answer is pointless.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, RequestError::Io(_))
    }
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// Exactly this many bytes (0 when the request has no body).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// An HTTP request, head parsed and body read, as a handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    target: String,
    http_minor: u8,
    headers: Headers,
    parsed: Target,
    body: Vec<u8>,
    spooled: Option<SpooledBody>,
    params: Vec<(String, String)>,
}

/// A request body written to a temporary file rather than kept in memory; the file is
/// removed when the last clone of this is dropped.
#[derive(Debug, Clone)]
pub struct SpooledBody(std::sync::Arc<tempfile::TempPath>);

impl SpooledBody {
    /// The file that holds the body.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Request {
    /// Builds a request without a socket, to test a handler or a router directly.
    pub fn new(
        method: &str,
        target: &str,
        headers: Headers,
        body: Vec<u8>,
    ) -> Result<Request, TargetError> {
        Ok(Request {
            method: method.to_owned(),
            target: target.to_owned(),
            http_minor: 1,
            headers,
            parsed: Target::parse(target)?,
            body,
            spooled: None,
            params: Vec::new(),
        })
    }

    /// The method, exactly as sent (methods are case-sensitive: `get` is not `GET`).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request target as sent: `/v1.50/containers/json?all=1`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path as sent, still percent-encoded and with any version prefix: for logs.
    pub fn path(&self) -> &str {
        &self.parsed.raw_path
    }

    /// The decoded path segments after the version prefix, which routes match.
    pub fn segments(&self) -> &[String] {
        &self.parsed.segments
    }

    /// The API version from a `/v1.NN` path prefix; `None` for an unversioned path, which
    /// Docker serves at its newest version.
    pub fn api_version(&self) -> Option<ApiVersion> {
        self.parsed.api_version
    }

    /// The decoded query parameters.
    pub fn query(&self) -> &Query {
        &self.parsed.query
    }

    /// All header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub fn http_minor(&self) -> u8 {
        self.http_minor
    }

    /// The body (empty when there was none).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Moves the body out, leaving it empty.
    pub fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }

    /// Moves out the body the connection wrote to a file, if the handler asked for that
    /// ([`Handler::spool_body`](super::Handler::spool_body)).
    pub fn take_spooled_body(&mut self) -> Option<SpooledBody> {
        self.spooled.take()
    }

    /// The body as JSON; a 400 naming the problem if it is not a valid `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| HttpError::bad_request(format!("invalid JSON body: {e}")))
    }

    /// The value a route pattern's `{name}` matched.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every matched route parameter, in pattern order.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// Sets the route parameters (the router does this before calling the handler).
    pub fn set_params(&mut self, params: Vec<(String, String)>) {
        self.params = params;
    }

    /// Whether the client asked to take over the connection (`Connection: Upgrade` with an
    /// `Upgrade` header), as Docker's attach and exec do.
    pub fn wants_upgrade(&self) -> bool {
        self.headers.has_token("connection", "upgrade") && self.headers.contains("upgrade")
    }

    /// Whether the connection must close after this request: HTTP/1.0 (we do not implement its
    /// `keep-alive` extension), or `Connection: close`.
    pub fn wants_close(&self) -> bool {
        self.http_minor == 0 || self.headers.has_token("connection", "close")
    }

    /// Whether the client sent `Expect: 100-continue` and waits for our go-ahead before sending
    /// the body (curl does for bodies over 1 KiB).
    pub(crate) fn expects_continue(&self) -> bool {
        self.http_minor == 1 && self.headers.has_token("expect", "100-continue")
    }

    /// How the body is delimited, checked against the limits before any of it is read.
    pub(crate) fn body_framing(&self, limits: &Limits) -> Result<BodyFraming, RequestError> {
        let has_length = self.headers.contains("content-length");
        if self.headers.contains("transfer-encoding") {
            if has_length {
                return Err(RequestError::AmbiguousLength);
            }
            let codings: Vec<&str> = self
                .headers
                .get_all("transfer-encoding")
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .collect();
            return match codings.as_slice() {
                [only] if only.eq_ignore_ascii_case("chunked") => Ok(BodyFraming::Chunked),
                _ => Err(RequestError::UnsupportedTransferEncoding {
                    value: codings.join(", "),
                }),
            };
        }
        if !has_length {
            return Ok(BodyFraming::Length(0));
        }
        // Repeated or listed values ("5, 5") are allowed only if they all agree.
        let mut length = None;
        for value in self
            .headers
            .get_all("content-length")
            .flat_map(|v| v.split(','))
        {
            let value = value.trim();
            let bad = || RequestError::BadContentLength {
                value: value.to_owned(),
            };
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let n: u64 = value.parse().map_err(|_| bad())?;
            if length.is_some_and(|l| l != n) {
                return Err(bad());
            }
            length = Some(n);
        }
        let length = length.unwrap_or(0);
        if length > limits.max_body {
            return Err(RequestError::BodyTooLarge {
                limit: limits.max_body,
            });
        }
        Ok(BodyFraming::Length(length))
    }

    /// Attaches the body once the connection has read it.
    pub(crate) fn set_body(&mut self, body: Vec<u8>) {
        self.body = body;
    }

    /// Attaches a body the connection wrote to a file.
    pub(crate) fn set_spooled_body(&mut self, file: tempfile::TempPath) {
        self.spooled = Some(SpooledBody(std::sync::Arc::new(file)));
    }
}

// ANCHOR: read_head
/// Waits for and parses the next request head on `conn`, within `timeout` from now.
///
/// `Ok(None)` means the client went away (or stayed silent) *between* requests: the normal end
/// of a keep-alive connection, which deserves no answer.
pub(crate) fn read_head<S: Transport>(
    conn: &mut Conn<S>,
    limits: &Limits,
    timeout: Duration,
) -> Result<Option<Request>, RequestError> {
    let deadline = Instant::now() + timeout;
    // How much of the buffer has been searched for the blank line that ends a head. Parsing
    // only once that line is there keeps the work linear: re-parsing the whole buffer after
    // every read would let a client that sends its head a byte at a time cost us O(n²).
    let mut searched = 0;
    loop {
        if let Some(end) = find_blank_line(conn.buffered(), searched) {
            if let Some((request, len)) = parse_head(conn.buffered(), limits)? {
                conn.consume(len);
                return Ok(Some(request));
            }
            // Blank lines *before* a request line are allowed (RFC 9112 §2.2): keep reading.
            searched = end;
        } else {
            searched = conn.buffered().len();
        }
        if conn.buffered().len() >= limits.max_head {
            return Err(RequestError::HeadTooLarge {
                limit: limits.max_head,
            });
        }
        let idle = conn.buffered().is_empty();
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return if idle {
                Ok(None)
            } else {
                Err(RequestError::Timeout)
            };
        }
        conn.stream
            .set_read_timeout(Some(remaining))
            .map_err(RequestError::Io)?;
        match conn.read_more() {
            Ok(0) if idle => return Ok(None),
            Ok(0) => return Err(RequestError::TruncatedHead),
            Ok(_) => {}
            Err(e) if is_timeout(&e) && idle => return Ok(None),
            Err(e) if is_timeout(&e) => return Err(RequestError::Timeout),
            Err(e) => return Err(RequestError::Io(e)),
        }
    }
}
// ANCHOR_END: read_head

/// The offset just past the first blank line (`\n\n` or `\n\r\n`) in `buf` that ends after
/// `from`, if there is one. The search restarts a few bytes early, since the line may straddle
/// two reads.
fn find_blank_line(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    let tail = buf.get(start..)?;
    tail.iter().enumerate().find_map(|(i, &b)| {
        if b != b'\n' {
            return None;
        }
        let end = match &tail[i + 1..] {
            [b'\n', ..] => start + i + 2,
            [b'\r', b'\n', ..] => start + i + 3,
            _ => return None,
        };
        (end > from).then_some(end)
    })
}

/// Parses a complete head from `buf`: the request and the head's length, or `None` if more
/// bytes are needed.
fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<(Request, usize)>, RequestError> {
    let mut fields = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut parsed = httparse::Request::new(&mut fields);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(len)) => len,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(RequestError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        Err(httparse::Error::Version) => return Err(RequestError::Version),
        Err(e) => return Err(RequestError::Malformed(e)),
    };
    if len > limits.max_head {
        return Err(RequestError::HeadTooLarge {
            limit: limits.max_head,
        });
    }
    // A complete parse always sets these three; "missing" is unreachable but not worth a panic.
    let (Some(method), Some(target), Some(http_minor)) =
        (parsed.method, parsed.path, parsed.version)
    else {
        return Err(RequestError::IncompleteRequestLine);
    };
    let mut headers = Headers::new();
    for field in parsed.headers.iter() {
        let value = std::str::from_utf8(field.value).map_err(|_| RequestError::HeaderNotUtf8 {
            name: field.name.to_owned(),
        })?;
        headers.push(field.name, value.trim());
    }
    if http_minor == 1 && !headers.contains("host") {
        return Err(RequestError::MissingHost);
    }
    let request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        http_minor,
        headers,
        parsed: Target::parse(target)?,
        body: Vec::new(),
        spooled: None,
        params: Vec::new(),
    };
    Ok(Some((request, len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Option<(Request, usize)>, RequestError> {
        parse_head(raw.as_bytes(), &Limits::default())
    }

    #[test]
    fn parses_a_docker_request() {
        let raw = "POST /v1.50/containers/create?name=web HTTP/1.1\r\nHost: api.moby.localhost\r\n\
                   Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        let (req, len) = parse(raw).unwrap().unwrap();
        assert_eq!(len, raw.len() - 2);
        assert_eq!(req.method(), "POST");
        assert_eq!(req.api_version(), Some(ApiVersion::new(1, 50)));
        assert_eq!(req.segments(), ["containers", "create"]);
        assert_eq!(req.query().get("name"), Some("web"));
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(
            req.body_framing(&Limits::default()).unwrap(),
            BodyFraming::Length(2)
        );
    }

    #[test]
    fn blank_lines_end_heads() {
        assert_eq!(
            find_blank_line(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody", 0),
            Some(27)
        );
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\nHost: x\n\n", 0), Some(24));
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\r\nHost: x\r\n", 0), None);
        // Found even when an earlier search stopped in the middle of it.
        assert_eq!(find_blank_line(b"Host: x\r\n\r\n", 9), Some(11));
        // A blank line already seen is not found again.
        assert_eq!(find_blank_line(b"\r\n\r\nGET", 4), None);
    }

    #[test]
    fn partial_heads_ask_for_more() {
        assert!(
            parse("GET /_ping HTTP/1.1\r\nHost: x\r\n")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn status_for_each_error() {
        let status = |raw: &str| parse(raw).err().map(|e| e.status());
        assert_eq!(status("G@T / HTTP/1.1\r\nHost: x\r\n\r\n"), Some(400));
        assert_eq!(status("GET / HTTP/1.1\r\nno colon here\r\n\r\n"), Some(400));
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), Some(400));
        assert_eq!(status("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), Some(505));
        assert_eq!(status("GET /../x HTTP/1.1\r\nHost: x\r\n\r\n"), Some(400));
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            status(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")),
            Some(431)
        );
        // HTTP/1.0 needs no Host.
        assert!(parse("GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
    }

    #[test]
    fn body_framing_rules() {
        let framing = |headers: &[(&str, &str)]| {
            let headers = headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            let limits = Limits {
                max_body: 100,
                ..Limits::default()
            };
            Request::new("POST", "/x", headers, Vec::new())
                .unwrap()
                .body_framing(&limits)
                .map_err(|e| e.status())
        };
        assert_eq!(framing(&[]), Ok(BodyFraming::Length(0)));
        assert_eq!(
            framing(&[("Transfer-Encoding", "Chunked")]),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(
            framing(&[("Content-Length", "5"), ("Content-Length", "5")]),
            Ok(BodyFraming::Length(5))
        );
        assert_eq!(
            framing(&[("Content-Length", "5"), ("Content-Length", "6")]),
            Err(400)
        );
        assert_eq!(framing(&[("Content-Length", "+5")]), Err(400));
        assert_eq!(framing(&[("Content-Length", "101")]), Err(413));
        assert_eq!(
            framing(&[("Content-Length", "5"), ("Transfer-Encoding", "chunked")]),
            Err(400)
        );
        assert_eq!(framing(&[("Transfer-Encoding", "gzip, chunked")]), Err(501));
    }
}
