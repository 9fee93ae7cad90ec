//! Raw HTTP/1.1 on the daemon's UNIX socket: for the requests no well-behaved client sends.
//!
//! The docker CLI and docker-py only ever send good requests; a daemon must also survive bad
//! ones. [`request`] sends a good request (with chapter 4's client) and reads the whole answer;
//! [`send_raw`] writes arbitrary bytes and returns whatever comes back, so a test can check
//! the status line of an answer to garbage.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use berth_daemon::http::{Client, ClientRequest};

/// How long a raw exchange may wait for the daemon's answer.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// An answer: status, headers (names lower-cased) and the body, de-chunked.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Sends `METHOD PATH` with `headers` and `body` with chapter 4's client (a well-formed
/// request needs no hand-written one), and reads the answer to the end.
pub fn request(
    socket: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    request_within(IO_TIMEOUT, socket, method, path, headers, body)
}

/// [`request`], waiting up to `timeout` for each read or write (a `wait` call may take long).
pub fn request_within(
    timeout: Duration,
    socket: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut request = ClientRequest::new(method, path);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    if !body.is_empty() {
        request = request.raw_body(body.to_vec());
    }
    let response = Client::new(socket)
        .with_timeout(timeout)
        .send(&request)
        .map_err(io::Error::other)?;
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect();
    let body = response.bytes().map_err(io::Error::other)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Writes `bytes` to a fresh connection, half-closes it and reads until the daemon closes its
/// side (or [`IO_TIMEOUT`]); returns whatever came back.
pub fn send_raw(socket: &Path, bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    // The daemon may answer (and close) before it read everything we send: not our error.
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if answer.is_empty() => return Err(e),
            Err(_) => break, // a reset after the answer: keep what we have
        }
    }
    Ok(answer)
}

/// The status code of a raw answer (`HTTP/1.1 400 Bad Request…` → 400), if it has one.
pub fn status_of(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&b| b == b'\n').next()?;
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}
