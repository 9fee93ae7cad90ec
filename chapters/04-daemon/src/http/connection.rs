//! One connection's life: read a request, answer it, and again, until one side closes.
//!
//! HTTP/1.1 connections are persistent by default: after a response the client may send
//! another request on the same socket, and the Docker CLI does (`HEAD /_ping`, then the real
//! call). The loop here is that rule made explicit:
//!
//! 1. wait for a request head, within the read timeout. Silence or EOF *between* requests is the
//!    normal end of a keep-alive connection: close without a word;
//! 2. check the body's framing, answer `100 Continue` if the client asked, read the body;
//! 3. call the handler, catching a panic so that one bad handler answers 500 instead of leaving
//!    its client waiting on a dead connection (the daemon survives either way: a panic only
//!    unwinds its own thread);
//! 4. write the response, fixed, streamed or upgraded;
//! 5. close if the client said `Connection: close`, spoke HTTP/1.0, or the response said so;
//!    otherwise go back to 1.
//!
//! Any error in the HTTP layer itself (a malformed head, a bad chunk) is answered with its
//! status and `Connection: close`, because after it we no longer know where the next request
//! would start. Closing then is done gracefully: shut down our sending side, then read and
//! discard what the client is still sending, briefly. Closing a socket that still has unread
//! input makes the kernel reset the connection (on TCP), and a reset can destroy the error
//! response before the client has read it.

use std::io::{self, Write};
use std::net::Shutdown;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::body::{self, BodyError, ChunkedDecoder};
use super::conn::Conn;
use super::headers::Headers;
use super::options::ServerOptions;
use super::request::{self, BodyFraming, Limits, RequestError};
use super::response::{self, Body, Response, UpgradeFn};
use super::router::Handler;
use super::stream::ChunkWriter;
use super::transport::Transport;
use super::upgrade::Upgraded;

/// How long a graceful close keeps reading what the client still sends.
const LINGER_TIME: Duration = Duration::from_secs(1);
/// How much a graceful close reads and discards at most.
const LINGER_BYTES: usize = 256 * 1024;

/// What to do after one request.
enum Next {
    /// Wait for the next request.
    KeepAlive,
    /// The peer is gone or silent: just drop the socket.
    Close,
    /// We answered and now end the connection: close gracefully.
    Finish,
    /// Hand the socket to the handler after a `101`.
    Upgrade {
        headers: Headers,
        take_over: UpgradeFn,
        requested: bool,
    },
}

// ANCHOR: keep_alive
/// Serves requests on `stream` until the connection ends.
pub(crate) fn serve<S: Transport>(stream: S, handler: &dyn Handler, options: &ServerOptions) {
    // A client that stops reading must not block a streaming handler forever.
    if stream.set_write_timeout(options.write_timeout).is_err() {
        return;
    }
    let mut conn = Conn::new(stream);
    loop {
        match serve_one(&mut conn, handler, options) {
            Next::KeepAlive => continue,
            Next::Close => return,
            Next::Finish => return finish(conn),
            Next::Upgrade {
                headers,
                take_over,
                requested,
            } => return upgrade(conn, headers, take_over, requested, options),
        }
    }
}
// ANCHOR_END: keep_alive

/// Reads one request and answers it.
fn serve_one<S: Transport>(
    conn: &mut Conn<S>,
    handler: &dyn Handler,
    options: &ServerOptions,
) -> Next {
    let mut request = match request::read_head(conn, &options.limits, options.read_timeout) {
        Ok(Some(request)) => request,
        Ok(None) => return Next::Close,
        Err(error) => return answer_error(conn, &error, options),
    };
    // A handler may take a large body (an image archive) on disk instead of in memory.
    let spool = handler.spool_body(&request);
    let limits = match spool {
        Some(_) => Limits {
            max_body: options.limits.max_spooled_body,
            ..options.limits
        },
        None => options.limits,
    };
    let framing = match request.body_framing(&limits) {
        Ok(framing) => framing,
        Err(error) => return answer_error(conn, &error, options),
    };
    if request.expects_continue() && framing != BodyFraming::Length(0) {
        // The client holds the body back until we say go (and would send it after a second
        // anyway). A 413 above was sent *instead*, which is the point of asking.
        if conn
            .stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .is_err()
        {
            return Next::Close;
        }
    }
    // From here each read may wait up to the timeout: a body must keep arriving.
    if conn
        .stream
        .set_read_timeout(Some(options.read_timeout))
        .is_err()
    {
        return Next::Close;
    }
    if let Some(dir) = spool {
        match spool_body(conn, framing, limits.max_body, &dir) {
            Ok(file) => request.set_spooled_body(file),
            Err(error) => return answer_error(conn, &error, options),
        }
    } else {
        let body = match framing {
            BodyFraming::Length(0) => Ok(Vec::new()),
            BodyFraming::Length(length) => body::read_exact_length(&mut *conn, length),
            BodyFraming::Chunked => {
                body::read_limited(ChunkedDecoder::new(&mut *conn), options.limits.max_body)
            }
        };
        match body {
            Ok(body) => request.set_body(body),
            Err(error) => return answer_error(conn, &RequestError::from(error), options),
        }
    }

    let mut close = request.wants_close();
    let response = match panic::catch_unwind(AssertUnwindSafe(|| handler.handle(&mut request))) {
        Ok(response) => response,
        Err(_) => {
            // The panic message is already on stderr (the default hook printed it).
            close = true;
            Response::error(500, "internal server error: the request handler panicked")
        }
    };
    let (status, handler_headers, body) = response.into_parts();
    close |= handler_headers.has_token("connection", "close");
    let mut headers = with_defaults(handler_headers, &options.default_headers);
    let head_only = request.method() == "HEAD";

    match body {
        Body::Fixed(bytes) => {
            if write_fixed(&mut conn.stream, status, headers, &bytes, head_only, close).is_err() {
                return Next::Close;
            }
        }
        // ANCHOR: stream
        Body::Stream(produce) => {
            // HTTP/1.0 knows no chunking: send raw bytes and mark the end by closing.
            let chunked = request.http_minor() == 1;
            close |= !chunked;
            headers.remove("content-length");
            if chunked {
                headers.set("Transfer-Encoding", "chunked");
            }
            if close {
                headers.set("Connection", "close");
            }
            // The head goes out now, before the body exists: `wait` depends on it.
            let reason = response::reason(status);
            if response::write_head(&mut conn.stream, status, reason, &headers).is_err() {
                return Next::Close;
            }
            if !head_only {
                let mut writer = ChunkWriter::new(&mut conn.stream, chunked);
                let produced = panic::catch_unwind(AssertUnwindSafe(|| produce(&mut writer)));
                // A failed or panicking producer ends the connection without the last chunk:
                // the client sees a truncated body, the only way to say "broken" mid-stream.
                if !matches!(produced, Ok(Ok(()))) || writer.finish().is_err() {
                    return Next::Close;
                }
            }
        }
        // ANCHOR_END: stream
        Body::Upgrade(take_over) => {
            return Next::Upgrade {
                headers,
                take_over,
                requested: request.wants_upgrade(),
            };
        }
    }
    if close { Next::Finish } else { Next::KeepAlive }
}

/// The server's default headers (such as Docker's `Api-Version`) that the handler did not set,
/// then the handler's own.
fn with_defaults(handler_headers: Headers, defaults: &Headers) -> Headers {
    let mut headers: Headers = defaults
        .iter()
        .filter(|(name, _)| !handler_headers.contains(name))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    for (name, value) in handler_headers.iter() {
        headers.push(name, value);
    }
    headers
}

/// Writes a response with a body of known length, head and body in one write.
fn write_fixed(
    out: &mut dyn Write,
    status: u16,
    mut headers: Headers,
    body: &[u8],
    head_only: bool,
    close: bool,
) -> io::Result<()> {
    // The length is ours to state, whatever the handler set.
    headers.remove("content-length");
    headers.remove("transfer-encoding");
    headers.remove("connection");
    // 1xx, 204 and 304 responses never have a body, nor a Content-Length (RFC 9110 §8.6).
    let bodiless = status < 200 || status == 204 || status == 304;
    if !bodiless {
        headers.push("Content-Length", body.len().to_string());
    }
    if close {
        headers.push("Connection", "close");
    }
    let mut message = Vec::with_capacity(256 + body.len());
    response::write_head(&mut message, status, response::reason(status), &headers)?;
    // HEAD gets the head a GET would get, Content-Length included, and no body.
    if !bodiless && !head_only {
        message.extend_from_slice(body);
    }
    out.write_all(&message)?;
    out.flush()
}

/// Answers an HTTP-level error with its status and closes.
fn answer_error<S: Transport>(
    conn: &mut Conn<S>,
    error: &RequestError,
    options: &ServerOptions,
) -> Next {
    if error.is_disconnect() {
        return Next::Close;
    }
    let response = Response::error(error.status(), error.to_string());
    let (status, headers, body) = response.into_parts();
    let bytes = match body {
        Body::Fixed(bytes) => bytes,
        _ => Vec::new(),
    };
    let headers = with_defaults(headers, &options.default_headers);
    match write_fixed(&mut conn.stream, status, headers, &bytes, false, true) {
        Ok(()) => Next::Finish,
        Err(_) => Next::Close,
    }
}

// ANCHOR: graceful_close
/// Ends a connection without destroying the response we just sent: half-close, then drain.
fn finish<S: Transport>(mut conn: Conn<S>) {
    if conn.stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_TIME;
    let mut drained = 0;
    let mut buf = [0u8; 8192];
    while drained < LINGER_BYTES {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() || conn.stream.set_read_timeout(Some(remaining)).is_err() {
            return;
        }
        match conn.stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}
// ANCHOR_END: graceful_close

// ANCHOR: upgrade
/// Writes the `101` head on its own, then gives the socket and the early bytes to the handler.
fn upgrade<S: Transport>(
    conn: Conn<S>,
    mut headers: Headers,
    take_over: UpgradeFn,
    requested: bool,
    options: &ServerOptions,
) {
    // The bytes buffered past the request are the client's first stdin: they go along.
    let (mut stream, early) = conn.into_parts();
    // moby answers an attach without `Upgrade` (very old clients) with 200 and hijacks anyway;
    // the raw stream then ends when the connection closes.
    let (status, reason) = if requested {
        headers.set("Connection", "Upgrade");
        headers.set("Upgrade", "tcp");
        (101, "UPGRADED")
    } else {
        headers.remove("connection");
        (200, "OK")
    };
    headers.remove("content-length");
    headers.remove("transfer-encoding");
    if response::write_head(&mut stream, status, reason, &headers).is_err() {
        return;
    }
    // An attached session can be silent for hours, and a paused terminal can stop reading:
    // neither is an error any more.
    if stream.set_read_timeout(None).is_err() || stream.set_write_timeout(None).is_err() {
        return;
    }
    let not_before = Instant::now() + options.upgrade_pause;
    let upgraded = Upgraded::new(Box::new(stream), early, Some(not_before));
    // As for handlers: a panic here must only end this connection (its message is on stderr).
    let _ = panic::catch_unwind(AssertUnwindSafe(move || take_over(upgraded)));
}
// ANCHOR_END: upgrade

/// Copies a body into a new temporary file in `dir`, at most `limit` bytes.
fn spool_body<S: Transport>(
    conn: &mut Conn<S>,
    framing: BodyFraming,
    limit: u64,
    dir: &std::path::Path,
) -> Result<tempfile::TempPath, RequestError> {
    let spool_error = |source: io::Error| RequestError::Spool {
        dir: dir.to_owned(),
        source,
    };
    let mut file = tempfile::Builder::new()
        .prefix("body-")
        .tempfile_in(dir)
        .map_err(spool_error)?;
    let copied = match framing {
        BodyFraming::Length(length) => {
            body::copy_exact_length(&mut *conn, length, file.as_file_mut())
        }
        BodyFraming::Chunked => {
            body::copy_limited(ChunkedDecoder::new(&mut *conn), limit, file.as_file_mut())
        }
    };
    match copied {
        Err(BodyError::Write(source)) => return Err(spool_error(source)),
        other => other?,
    }
    file.as_file_mut().flush().map_err(spool_error)?;
    Ok(file.into_temp_path())
}
