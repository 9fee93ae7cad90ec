//! Answers: a status, header fields, and a body of one of three kinds.
//!
//! A response head is a status line (`HTTP/1.1 404 Not Found`), header fields and an empty line.
//! What follows depends on what the handler has to say, and Docker needs all three kinds:
//!
//! * a **fixed** body, known in full before the head is written: sent with `Content-Length`,
//!   which lets the connection carry the next request afterwards (most API calls);
//! * a **stream**, produced while it is sent (`logs -f`, pull progress, and `wait`, whose body is
//!   not known until the container exits but whose head the CLI needs *at once*): sent chunked,
//!   see [`stream`](super::stream);
//! * an **upgrade** (the hijack of `attach` and `exec`): a `101` head, then the socket belongs to
//!   the handler, see [`upgrade`](super::upgrade).
//!
//! A handler returns a [`Response`] describing one of these; the connection writes it. Errors
//! are JSON objects `{"message": "..."}` with `Content-Type: application/json`, *exactly*: the
//! Go client only decodes the message when the type has no parameters, and with
//! `; charset=utf-8` the user sees the raw JSON instead of the sentence.

use std::fmt;
use std::io::{self, Write};

use serde::Serialize;

use super::headers::Headers;
use super::query::QueryError;
use super::stream::ChunkWriter;
use super::upgrade::Upgraded;

/// What a streaming handler runs once the head is on the wire.
pub(crate) type StreamFn = Box<dyn FnOnce(&mut ChunkWriter<'_>) -> io::Result<()> + Send>;
/// What a hijacking handler runs once the `101` head is on the wire.
pub(crate) type UpgradeFn = Box<dyn FnOnce(Upgraded) + Send>;

/// The three kinds of body.
pub(crate) enum Body {
    Fixed(Vec<u8>),
    Stream(StreamFn),
    Upgrade(UpgradeFn),
}

/// An HTTP response, as a handler describes it.
pub struct Response {
    status: u16,
    headers: Headers,
    body: Body,
}

impl Response {
    /// A response with `status` and no body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Headers::new(),
            body: Body::Fixed(Vec::new()),
        }
    }

    /// `204 No Content`, the answer of `start`, `stop`, `kill` and `rm`.
    pub fn no_content() -> Response {
        Response::new(204)
    }

    /// A body of `content_type`.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            body: Body::Fixed(body),
            ..Response::new(status)
        }
        .header("Content-Type", content_type)
    }

    /// A JSON body (`application/json`); a 500 if `value` cannot be serialised.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response::bytes(status, "application/json", body),
            Err(e) => Response::error(500, format!("cannot encode the response: {e}")),
        }
    }

    /// A plain-text body.
    pub fn text(status: u16, text: impl Into<String>) -> Response {
        Response::bytes(
            status,
            "text/plain; charset=utf-8",
            text.into().into_bytes(),
        )
    }

    /// Docker's error shape: `{"message": "..."}`, `Content-Type: application/json` exactly.
    pub fn error(status: u16, message: impl Into<String>) -> Response {
        let body = serde_json::json!({ "message": message.into() });
        Response::bytes(status, "application/json", body.to_string().into_bytes())
    }

    /// A streamed body: the head (with `Transfer-Encoding: chunked`) is sent as soon as the
    /// handler returns, then `produce` writes the body piece by piece; each piece reaches the
    /// client when it is written. If `produce` fails, the connection is closed without the
    /// final empty chunk, which is how a client learns that the stream broke.
    pub fn stream<F>(status: u16, content_type: &str, produce: F) -> Response
    where
        F: FnOnce(&mut ChunkWriter<'_>) -> io::Result<()> + Send + 'static,
    {
        Response {
            body: Body::Stream(Box::new(produce)),
            ..Response::new(status)
        }
        .header("Content-Type", content_type)
    }

    /// A hijack: the connection answers `101 UPGRADED` with `Content-Type: content_type`,
    /// `Connection: Upgrade` and `Upgrade: tcp` (flushed as a write of its own), then calls
    /// `take_over` with the raw socket, including any bytes the client sent after the request.
    /// The socket closes when `take_over` drops it. Errors found before upgrading (no such
    /// container) must be ordinary responses: the Go client accepts nothing but a 101 here.
    pub fn upgrade<F>(content_type: &str, take_over: F) -> Response
    where
        F: FnOnce(Upgraded) + Send + 'static,
    {
        Response {
            body: Body::Upgrade(Box::new(take_over)),
            ..Response::new(101)
        }
        .header("Content-Type", content_type)
    }

    /// Adds a header field. CR, LF and NUL in the value become spaces: a value built from user
    /// input (a name, a message) must not be able to end the head and inject headers.
    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> Response {
        self.headers
            .push(name, value.as_ref().replace(['\r', '\n', '\0'], " "));
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The header fields set so far.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The body, when it is a fixed one.
    pub fn body(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Fixed(body) => Some(body),
            _ => None,
        }
    }

    /// Whether this is a streamed response.
    pub fn is_stream(&self) -> bool {
        matches!(self.body, Body::Stream(_))
    }

    /// Whether this is a hijack.
    pub fn is_upgrade(&self) -> bool {
        matches!(self.body, Body::Upgrade(_))
    }

    pub(crate) fn into_parts(self) -> (u16, Headers, Body) {
        (self.status, self.headers, self.body)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = match &self.body {
            Body::Fixed(b) => format!("{} bytes", b.len()),
            Body::Stream(_) => "stream".to_owned(),
            Body::Upgrade(_) => "upgrade".to_owned(),
        };
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &body)
            .finish()
    }
}

/// An error a handler answers with a status and a message, as `{"message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HttpError {
    /// The status code, 4xx or 5xx.
    pub status: u16,
    /// The sentence the user will read after "Error response from daemon: ".
    pub message: String,
}

impl HttpError {
    /// An error with any status.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        HttpError {
            status,
            message: message.into(),
        }
    }

    /// 400: the request is invalid.
    pub fn bad_request(message: impl Into<String>) -> Self {
        HttpError::new(400, message)
    }

    /// 404: no such thing. Careful with `POST /containers/create`: the Docker CLI reads any 404
    /// there as "image missing" and pulls.
    pub fn not_found(message: impl Into<String>) -> Self {
        HttpError::new(404, message)
    }

    /// 409: the request conflicts with the current state (a name in use, a running container).
    pub fn conflict(message: impl Into<String>) -> Self {
        HttpError::new(409, message)
    }

    /// 500: our fault.
    pub fn internal(message: impl Into<String>) -> Self {
        HttpError::new(500, message)
    }
}

impl From<QueryError> for HttpError {
    fn from(error: QueryError) -> Self {
        HttpError::bad_request(error.to_string())
    }
}

/// Anything a handler may return: a [`Response`], an [`HttpError`], or a `Result` of the two,
/// so a handler can use `?`.
pub trait IntoResponse {
    /// The response to send.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        Response::error(self.status, self.message)
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(ok) => ok.into_response(),
            Err(err) => err.into_response(),
        }
    }
}

/// The reason phrase for a status code (clients ignore it; humans reading a transcript don't).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Writes a response head in a single `write_all`, so it leaves as one piece.
pub(crate) fn write_head(
    out: &mut dyn Write,
    status: u16,
    reason: &str,
    headers: &Headers,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers.iter() {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_docker_json() {
        let r = Response::error(404, "No such container: web");
        assert_eq!(r.headers().get("content-type"), Some("application/json"));
        assert_eq!(
            r.body().unwrap(),
            br#"{"message":"No such container: web"}"#
        );
        let r: Result<Response, HttpError> = Err(HttpError::conflict("in use"));
        assert_eq!(r.into_response().status(), 409);
    }

    #[test]
    fn header_values_cannot_inject() {
        let r = Response::new(200).header("X-Name", "a\r\nSet-Cookie: x");
        assert_eq!(r.headers().get("x-name"), Some("a  Set-Cookie: x"));
    }
}
