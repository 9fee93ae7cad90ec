//! The client side: what `docker` does when you type a command.
//!
//! Every CLI command is a handful of HTTP requests on the daemon's socket. This client opens a
//! new connection per request and says `Connection: close` (a CLI command is short; keep-alive
//! would save a `connect` of a few microseconds on a UNIX socket), writes the request in one
//! piece, and reads the response head with `httparse`. The body is handed over *unread*, as a
//! [`ResponseBody`]: a fixed body can be read to the end, but a stream (`logs -f`, pull
//! progress) must be consumed as it arrives, chunk by chunk, while the daemon is still writing.
//!
//! [`Client::hijack`] is the client half of Docker's upgrade (see [`upgrade`](super::upgrade)):
//! it sends `Connection: Upgrade` and `Upgrade: tcp`, insists on `101`, and returns the raw
//! socket together with any output that arrived in the same read as the head.
//!
//! The same client speaks to `tcp://HOST:PORT` (and so to any HTTP/1.1 server: `berth doctor`
//! asks a registry for `GET /v2/` with it). TLS is added by a [`Connector`] that the caller
//! provides (the engine's client wraps the TCP stream in rustls there), so this chapter stays
//! free of a TLS library. A CLI waits for its daemon as long as it takes (a pull can be slow);
//! a probe that must not hang gives the client a [`timeout`](Client::with_timeout).

use std::fmt;
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::body::{BodyError, ChunkedDecoder};
use super::conn::Conn;
use super::headers::Headers;
use super::host::Host;
use super::percent;
use super::transport::Transport;
use super::upgrade::Upgraded;

/// The most bytes in a response head we accept.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// The most header fields in a response we accept.
const MAX_RESPONSE_HEADERS: usize = 100;

/// Why a call to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nobody listens at the socket (no file, or a stale one).
    #[error(
        "cannot connect to the berth daemon at unix://{}: {source}. Is the daemon running?",
        socket.display()
    )]
    Connect { socket: PathBuf, source: io::Error },
    /// Nobody answers at a TCP address.
    #[error(
        "cannot connect to the berth daemon at tcp://{address}: {source}. Is the daemon running?"
    )]
    ConnectTcp { address: String, source: io::Error },
    /// The socket exists but this user may not connect to it.
    #[error(
        "permission denied while trying to connect to the berth daemon socket at unix://{} \
         (root, or a member of the socket's group, may connect)",
        socket.display()
    )]
    PermissionDenied { socket: PathBuf },
    /// The connection broke (or timed out) while sending or receiving.
    #[error("lost the connection to the daemon at {host}: {source}")]
    Io { host: Host, source: io::Error },
    /// The daemon did not speak HTTP/1.1 as expected.
    #[error("the daemon sent a malformed response: {reason}")]
    Malformed { reason: String },
    /// A `Content-Length` that is not a number.
    #[error("the daemon at {host} sent an invalid Content-Length {value:?}: {source}")]
    BadContentLength {
        host: Host,
        value: String,
        source: std::num::ParseIntError,
    },
    /// The response head does not parse (`httparse` says why).
    #[error("the daemon at {host} sent a malformed response head: {source}")]
    BadHead { host: Host, source: httparse::Error },
    /// The daemon answered 4xx or 5xx; `message` is its `{"message": ...}`.
    #[error("Error response from daemon: {message}")]
    Api { status: u16, message: String },
    /// A hijack was answered with something other than `101`.
    #[error("the daemon did not upgrade the connection (status {status}): {message}")]
    NotUpgraded { status: u16, message: String },
    /// A body that should be JSON is not (or not the expected shape).
    #[error("invalid JSON from the daemon: {0}")]
    Json(#[source] serde_json::Error),
    /// The request body could not be serialised.
    #[error("cannot encode the request body: {0}")]
    Encode(#[source] serde_json::Error),
    /// The response body was cut short or badly chunked.
    #[error("reading the response body: {0}")]
    Body(#[from] BodyError),
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Headers,
    body: Option<Vec<u8>>,
}

impl ClientRequest {
    /// A request for `path` (already encoded; image names may keep their `/` and `:`).
    pub fn new(method: &str, path: &str) -> Self {
        ClientRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            query: Vec::new(),
            headers: Headers::new(),
            body: None,
        }
    }

    /// A `GET`.
    pub fn get(path: &str) -> Self {
        ClientRequest::new("GET", path)
    }

    /// A `POST` (sent with `Content-Length: 0` when it has no body, as Go's client does).
    pub fn post(path: &str) -> Self {
        ClientRequest::new("POST", path)
    }

    /// A `DELETE`.
    pub fn delete(path: &str) -> Self {
        ClientRequest::new("DELETE", path)
    }

    /// A `HEAD`.
    pub fn head(path: &str) -> Self {
        ClientRequest::new("HEAD", path)
    }

    /// Adds a query parameter (percent-encoded when sent).
    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }

    /// Adds a header field (CR and LF in the value become spaces, so a value taken from user
    /// input cannot add fields of its own).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers
            .push(name, value.into().replace(['\r', '\n'], " "));
        self
    }

    /// Sets a body of `content_type`.
    pub fn body(self, content_type: &str, body: Vec<u8>) -> Self {
        let mut request = self.raw_body(body);
        request.headers.set("Content-Type", content_type);
        request
    }

    /// Sets a body and leaves its `Content-Type` to the caller's own header (or none: a test
    /// of how a server answers a body without one).
    pub fn raw_body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    /// Sets a JSON body.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, ClientError> {
        let body = serde_json::to_vec(value).map_err(ClientError::Encode)?;
        Ok(self.body("application/json", body))
    }

    /// The request target: the path and the encoded query.
    pub fn target(&self) -> String {
        let mut target = self.path.clone();
        for (i, (name, value)) in self.query.iter().enumerate() {
            target.push(if i == 0 { '?' } else { '&' });
            target.push_str(&percent::encode(name));
            target.push('=');
            target.push_str(&percent::encode(value));
        }
        target
    }

    /// The request as bytes, ready for one write: `Connection: close`, or the upgrade headers.
    /// `Host` names a TCP server as the URL did (a registry behind a name-based virtual host
    /// needs it); a UNIX socket has no name, and `localhost` is what Docker's clients send.
    fn to_bytes(&self, host: &Host, upgrade: bool) -> Vec<u8> {
        self.head_and_body(host, upgrade, false)
    }

    /// The request's bytes; with `chunked`, only the head, announcing a chunked body that
    /// the caller streams after it.
    fn head_and_body(&self, host: &Host, upgrade: bool, chunked: bool) -> Vec<u8> {
        let name = host.tcp_address().unwrap_or_else(|| "localhost".to_owned());
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {name}\r\n",
            self.method,
            self.target()
        );
        for (name, value) in self.headers.iter() {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(if upgrade {
            "Connection: Upgrade\r\nUpgrade: tcp\r\n"
        } else {
            "Connection: close\r\n"
        });
        let body = self.body.as_deref().unwrap_or_default();
        if chunked {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            return head.into_bytes();
        }
        if self.body.is_some() || self.method == "POST" || self.method == "PUT" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }
}

/// Writes each buffer it is given as one HTTP/1.1 chunk (an empty buffer would end the body,
/// so none is written).
struct ChunkedWriter<'a> {
    inner: &'a mut Box<dyn Transport>,
}

impl Write for ChunkedWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut chunk = format!("{:x}\r\n", buf.len()).into_bytes();
        chunk.extend_from_slice(buf);
        chunk.extend_from_slice(b"\r\n");
        self.inner.write_all(&chunk)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

// ANCHOR: connector
/// Turns a connected TCP stream into the transport requests go over: the place where TLS
/// (with a client certificate) wraps the connection.
pub trait Connector: Send + Sync + fmt::Debug {
    /// Wraps `stream`, connected to `host`; a failed handshake is an error.
    fn wrap(&self, stream: TcpStream, host: &Host) -> io::Result<Box<dyn Transport>>;
}
// ANCHOR_END: connector

/// A client for one daemon.
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
    connector: Option<Arc<dyn Connector>>,
    timeout: Option<Duration>,
}

impl Client {
    /// A client for the daemon listening at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Client {
            host: Host::Unix(socket.into()),
            connector: None,
            timeout: None,
        }
    }

    /// A client for a `-H` host (`tcp://` hosts in plain text until
    /// [`with_connector`](Self::with_connector) adds TLS).
    pub fn for_host(host: &Host) -> Self {
        Client {
            host: host.clone(),
            connector: None,
            timeout: None,
        }
    }

    /// Wraps every TCP connection with `connector` (TLS). UNIX sockets are not wrapped.
    pub fn with_connector(mut self, connector: Arc<dyn Connector>) -> Self {
        self.connector = Some(connector);
        self
    }

    /// Gives up when connecting, or any one read or write, takes longer than `timeout` (a
    /// timed-out read is [`ClientError::Io`] with kind `WouldBlock` or `TimedOut`). Without it
    /// the client waits as long as the daemon takes, which a `logs -f` or an attached terminal
    /// needs (a [`hijack`](Self::hijack)ed stream keeps the timeout too).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The daemon's address.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// `GET target`.
    pub fn get(&self, target: &str) -> Result<ClientResponse, ClientError> {
        self.send(&ClientRequest::get(target))
    }

    /// Sends `request` and reads the response head; the body is left to the caller.
    pub fn send(&self, request: &ClientRequest) -> Result<ClientResponse, ClientError> {
        let mut conn = self.connect()?;
        conn.stream
            .write_all(&request.to_bytes(&self.host, false))
            .map_err(|source| self.lost(source))?;
        let head = self.read_head(&mut conn)?;
        self.response(conn, &request.method, head)
    }

    /// The response whose head has been read from `conn`, its body framed as the head says.
    fn response(
        &self,
        conn: Conn<Box<dyn Transport>>,
        method: &str,
        (status, reason, headers): (u16, String, Headers),
    ) -> Result<ClientResponse, ClientError> {
        let framing = Framing::of(method, status, &headers).map_err(|(value, source)| {
            ClientError::BadContentLength {
                host: self.host.clone(),
                value,
                source,
            }
        })?;
        Ok(ClientResponse {
            status,
            reason,
            headers,
            body: ResponseBody::new(conn, framing),
        })
    }

    /// Sends `request` with a body that `write_body` writes as it goes, sent in chunks
    /// (`Transfer-Encoding: chunked`, as Go's client sends an `io.Reader`), then reads the
    /// response head. `docker cp`, `load` and `import` bodies can weigh gigabytes: they are
    /// never held in memory. A daemon may refuse before reading the body (no such container)
    /// and close: then the write fails, and its answer, when there is one, is what is returned.
    pub fn send_streaming(
        &self,
        request: &ClientRequest,
        write_body: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<ClientResponse, ClientError> {
        let mut conn = self.connect()?;
        let written = conn
            .stream
            .write_all(&request.head_and_body(&self.host, false, true))
            .and_then(|()| {
                // Chunks of at least 64 KiB: a chunk header per small tar write would be waste.
                let mut chunks = io::BufWriter::with_capacity(
                    64 * 1024,
                    ChunkedWriter {
                        inner: &mut conn.stream,
                    },
                );
                write_body(&mut chunks)?;
                chunks.flush()?;
                drop(chunks);
                conn.stream.write_all(b"0\r\n\r\n")
            });
        let head = self.read_head(&mut conn);
        match (written, head) {
            (_, Ok(head)) => self.response(conn, &request.method, head),
            (Err(source), Err(_)) => Err(self.lost(source)),
            (Ok(()), Err(e)) => Err(e),
        }
    }

    /// Sends `request` asking to upgrade the connection, and returns the raw stream after the
    /// daemon's `101`. Any other answer is an error carrying the daemon's message.
    pub fn hijack(&self, request: &ClientRequest) -> Result<Hijacked, ClientError> {
        let mut conn = self.connect()?;
        conn.stream
            .write_all(&request.to_bytes(&self.host, true))
            .map_err(|source| self.lost(source))?;
        let (status, _reason, headers) = self.read_head(&mut conn)?;
        if status != 101 {
            // The refusal's body is only its message: a bad one leaves the message empty.
            let body = Framing::of(&request.method, status, &headers)
                .ok()
                .and_then(|framing| ResponseBody::new(conn, framing).read_all().ok())
                .unwrap_or_default();
            return Err(ClientError::NotUpgraded {
                status,
                message: error_message(&body),
            });
        }
        let (stream, early) = conn.into_parts();
        Ok(Hijacked {
            headers,
            stream: Upgraded::new(stream, early, None),
        })
    }

    /// The error for a connection that broke after it was made.
    fn lost(&self, source: io::Error) -> ClientError {
        ClientError::Io {
            host: self.host.clone(),
            source,
        }
    }

    fn connect(&self) -> Result<Conn<Box<dyn Transport>>, ClientError> {
        let transport = match &self.host {
            Host::Unix(socket) => self.connect_unix(socket)?,
            Host::Tcp { .. } => self.connect_tcp()?,
        };
        transport
            .set_read_timeout(self.timeout)
            .and_then(|()| transport.set_write_timeout(self.timeout))
            .map_err(|source| self.lost(source))?;
        Ok(Conn::new(transport))
    }

    fn connect_unix(&self, socket: &PathBuf) -> Result<Box<dyn Transport>, ClientError> {
        match UnixStream::connect(socket) {
            Ok(stream) => Ok(Box::new(stream)),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                Err(ClientError::PermissionDenied {
                    socket: socket.clone(),
                })
            }
            Err(source) => Err(ClientError::Connect {
                socket: socket.clone(),
                source,
            }),
        }
    }

    fn connect_tcp(&self) -> Result<Box<dyn Transport>, ClientError> {
        let address = self.host.tcp_address().unwrap_or_default();
        let failed = |source| ClientError::ConnectTcp {
            address: address.clone(),
            source,
        };
        let stream = match self.timeout {
            None => TcpStream::connect(&address).map_err(failed)?,
            Some(timeout) => connect_within(&address, timeout).map_err(failed)?,
        };
        // Requests are written in one piece; Nagle's delay would only slow small ones.
        stream.set_nodelay(true).map_err(failed)?;
        // A TLS handshake is reads and writes too: the timeout must bound it as well.
        stream
            .set_read_timeout(self.timeout)
            .and_then(|()| stream.set_write_timeout(self.timeout))
            .map_err(failed)?;
        match &self.connector {
            Some(connector) => connector.wrap(stream, &self.host).map_err(failed),
            None => Ok(Box::new(stream)),
        }
    }

    /// Reads a response head, skipping `100 Continue` (but not `101`).
    fn read_head(
        &self,
        conn: &mut Conn<Box<dyn Transport>>,
    ) -> Result<(u16, String, Headers), ClientError> {
        loop {
            let mut fields = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
            let mut response = httparse::Response::new(&mut fields);
            match response.parse(conn.buffered()) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = response.code.unwrap_or(0);
                    let reason = response.reason.unwrap_or("").to_owned();
                    let mut headers = Headers::new();
                    for field in response.headers.iter() {
                        headers.push(field.name, String::from_utf8_lossy(field.value).trim());
                    }
                    conn.consume(len);
                    if status == 100 {
                        continue;
                    }
                    return Ok((status, reason, headers));
                }
                Ok(httparse::Status::Partial) => {
                    if conn.buffered().len() >= MAX_RESPONSE_HEAD {
                        return Err(ClientError::Malformed {
                            reason: format!("response head larger than {MAX_RESPONSE_HEAD} bytes"),
                        });
                    }
                    if conn.read_more().map_err(|source| self.lost(source))? == 0 {
                        return Err(ClientError::Malformed {
                            reason: "the connection closed before the response head was complete"
                                .to_owned(),
                        });
                    }
                }
                Err(source) => {
                    return Err(ClientError::BadHead {
                        host: self.host.clone(),
                        source,
                    });
                }
            }
        }
    }
}

/// Connects to `address` (`HOST:PORT`), trying each address the name resolves to within
/// `timeout` each: `localhost` may resolve to `::1` first while the server listens on
/// `127.0.0.1` only. The last failure is the one reported.
fn connect_within(address: &str, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name has no address");
    for resolved in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&resolved, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// An upgraded connection: the `101`'s headers (Docker's `Content-Type` says whether output is
/// multiplexed) and the raw stream.
pub struct Hijacked {
    /// The `101` response's header fields.
    pub headers: Headers,
    /// The raw connection: write stdin, read output, [`Upgraded::shutdown_write`] at the end of
    /// stdin.
    pub stream: Upgraded,
}

/// The `message` of a Docker error body, or the body itself if it is not one.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) => error.message,
        Err(_) => String::from_utf8_lossy(body).trim().to_owned(),
    }
}

/// A response whose head has been read.
pub struct ClientResponse {
    status: u16,
    reason: String,
    headers: Headers,
    body: ResponseBody,
}

impl ClientResponse {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Turns a 4xx or 5xx into [`ClientError::Api`] with the daemon's message.
    pub fn error_for_status(self) -> Result<Self, ClientError> {
        if self.status < 400 {
            return Ok(self);
        }
        let status = self.status;
        let body = self.body.read_all()?;
        Err(ClientError::Api {
            status,
            message: error_message(&body),
        })
    }

    /// The body, to read as it arrives.
    pub fn into_body(self) -> ResponseBody {
        self.body
    }

    /// The whole body.
    pub fn bytes(self) -> Result<Vec<u8>, ClientError> {
        self.body.read_all()
    }

    /// The whole body as text (invalid UTF-8 replaced).
    pub fn text(self) -> Result<String, ClientError> {
        Ok(String::from_utf8_lossy(&self.bytes()?).into_owned())
    }

    /// The whole body as JSON.
    pub fn json<T: DeserializeOwned>(self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.bytes()?).map_err(ClientError::Json)
    }

    /// The body as a stream of JSON messages, each yielded as soon as it is complete: Docker's
    /// progress format (objects one after another, whitespace between).
    pub fn json_stream<T: DeserializeOwned>(self) -> JsonStream<T> {
        JsonStream {
            inner: serde_json::Deserializer::from_reader(self.body).into_iter(),
            marker: PhantomData,
        }
    }
}

/// An iterator over the JSON messages of a streamed body.
pub struct JsonStream<T> {
    inner: serde_json::StreamDeserializer<'static, serde_json::de::IoRead<ResponseBody>, T>,
    marker: PhantomData<T>,
}

impl<T: DeserializeOwned> Iterator for JsonStream<T> {
    type Item = Result<T, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner
            .next()
            .map(|item| item.map_err(ClientError::Json))
    }
}

/// How a response body is delimited.
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

impl Framing {
    /// The framing of the response to a `method` request with `status` and `headers`
    /// (RFC 9112 §6.3): none for HEAD, 1xx, 204 and 304; chunked before a length; else to the
    /// end of the connection, which the client closes after one request anyway. A bad
    /// `Content-Length` comes back with the parse error.
    fn of(
        method: &str,
        status: u16,
        headers: &Headers,
    ) -> Result<Framing, (String, std::num::ParseIntError)> {
        if method == "HEAD" || status < 200 || status == 204 || status == 304 {
            Ok(Framing::Empty)
        } else if headers.has_token("transfer-encoding", "chunked") {
            Ok(Framing::Chunked)
        } else if let Some(length) = headers.get("content-length") {
            let length = length
                .parse()
                .map_err(|source| (length.to_owned(), source))?;
            Ok(Framing::Length(length))
        } else {
            Ok(Framing::UntilClose)
        }
    }
}

/// Where the body reader is.
enum BodyState {
    Done,
    Length {
        conn: Conn<Box<dyn Transport>>,
        remaining: u64,
    },
    Chunked(ChunkedDecoder<Conn<Box<dyn Transport>>>),
    UntilClose(Conn<Box<dyn Transport>>),
}

/// A response body, read from the socket as it arrives. Implements [`Read`];
/// [`next_chunk`](ResponseBody::next_chunk) gives a streamed body one message at a time.
pub struct ResponseBody {
    state: BodyState,
}

impl ResponseBody {
    fn new(conn: Conn<Box<dyn Transport>>, framing: Framing) -> Self {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => BodyState::Done,
            Framing::Length(remaining) => BodyState::Length { conn, remaining },
            Framing::Chunked => BodyState::Chunked(ChunkedDecoder::new(conn)),
            Framing::UntilClose => BodyState::UntilClose(conn),
        };
        ResponseBody { state }
    }

    /// The next piece of the body: for a chunked body, exactly one chunk as the daemon sent it
    /// (one progress message, one log write); otherwise whatever one read returns. `None` at the
    /// end.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        if let BodyState::Chunked(decoder) = &mut self.state {
            return Ok(decoder.next_chunk()?);
        }
        let mut buf = vec![0u8; 16 * 1024];
        let n = self.read(&mut buf).map_err(BodyError::from)?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some(buf))
    }

    /// Everything that is left.
    pub fn read_all(mut self) -> Result<Vec<u8>, ClientError> {
        let mut body = Vec::new();
        self.read_to_end(&mut body).map_err(BodyError::from)?;
        Ok(body)
    }
}

impl Read for ResponseBody {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.state {
            BodyState::Done => return Ok(0),
            BodyState::Length { conn, remaining } => {
                let want = out
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                let n = conn.read(&mut out[..want])?;
                if n == 0 && want > 0 {
                    return Err(BodyError::UnexpectedEof.into());
                }
                *remaining -= n as u64;
                if *remaining > 0 {
                    return Ok(n);
                }
                n
            }
            BodyState::Chunked(decoder) => {
                let n = decoder.read(out)?;
                if n > 0 || out.is_empty() {
                    return Ok(n);
                }
                0
            }
            BodyState::UntilClose(conn) => {
                let n = conn.read(out)?;
                if n > 0 || out.is_empty() {
                    return Ok(n);
                }
                0
            }
        };
        // The end of the body: drop the connection now rather than when the reader is dropped.
        self.state = BodyState::Done;
        Ok(n)
    }
}
