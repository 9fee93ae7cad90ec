//! A daemon per test on a socket in its own temporary directory, and a raw HTTP client that
//! hides nothing (it shares no code with the library, so it checks the bytes independently).

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use berth_daemon::http::{
    HttpError, Limits, Request, Response, Router, Server, ServerHandle, ServerOptions,
};

/// A test fails instead of hanging when the server goes silent.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A running server and the directory that holds its socket.
pub struct TestDaemon {
    pub socket: PathBuf,
    pub handle: Option<ServerHandle>,
    pub dir: tempfile::TempDir,
}

impl TestDaemon {
    /// Stops the server; returns how many connections were still running.
    pub fn shutdown(mut self) -> usize {
        self.handle.take().map_or(0, ServerHandle::shutdown)
    }

    pub fn handle(&self) -> &ServerHandle {
        self.handle.as_ref().expect("server running")
    }
}

/// Options for tests: small limits so that "too large" is cheap to send, short grace.
pub fn test_options() -> ServerOptions {
    ServerOptions {
        limits: Limits {
            max_body: 1024 * 1024,
            ..Limits::default()
        },
        read_timeout: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(2),
        ..ServerOptions::default()
    }
}

/// A fresh directory that other users can traverse (tempdirs are 0700), so that a permission
/// test exercises the socket's own mode.
pub fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod tempdir");
    dir
}

pub fn start(router: Router) -> TestDaemon {
    start_with(router, test_options())
}

pub fn start_with(router: Router, options: ServerOptions) -> TestDaemon {
    let dir = open_tempdir();
    let socket = dir.path().join("berth.sock");
    let server = Server::bind(&socket, options).expect("bind");
    let handle = server.spawn(router).expect("spawn");
    TestDaemon {
        socket,
        handle: Some(handle),
        dir,
    }
}

/// Routes most tests share.
pub fn basic_router() -> Router {
    Router::new()
        .get("/_ping", |_: &mut Request| Response::text(200, "OK"))
        .post("/echo", |req: &mut Request| {
            let body = req.take_body();
            Response::json(
                200,
                &serde_json::json!({
                    "len": body.len(),
                    "body": String::from_utf8_lossy(&body),
                }),
            )
        })
        .get("/containers/{id}/json", |req: &mut Request| {
            Response::json(200, &serde_json::json!({ "Id": req.param("id") }))
        })
        .get("/images/{name*}/json", |req: &mut Request| {
            Response::json(200, &serde_json::json!({ "Name": req.param("name") }))
        })
        .get(
            "/query",
            |req: &mut Request| -> Result<Response, HttpError> {
                let all = req.query().bool_or("all", false)?;
                let limit = req.query().get_as::<i64>("limit")?;
                Ok(Response::json(
                    200,
                    &serde_json::json!({ "all": all, "limit": limit }),
                ))
            },
        )
        .post(
            "/json",
            |req: &mut Request| -> Result<Response, HttpError> {
                let value: serde_json::Value = req.json()?;
                Ok(Response::json(201, &value))
            },
        )
        .get("/panic", |_: &mut Request| -> Response {
            panic!("a handler bug (this panic is expected by the test)")
        })
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `message` of a Docker error body.
    pub fn message(&self) -> String {
        let value: serde_json::Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {}", self.text()));
        value["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message in {value}"))
            .to_owned()
    }
}

/// One raw connection.
pub struct RawConn {
    pub reader: BufReader<UnixStream>,
    pub writer: UnixStream,
}

impl RawConn {
    pub fn connect(socket: &std::path::Path) -> RawConn {
        let stream = UnixStream::connect(socket).expect("connect");
        stream
            .set_read_timeout(Some(CLIENT_TIMEOUT))
            .expect("timeout");
        RawConn {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            writer: stream,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send");
    }

    pub fn shutdown_write(&self) {
        self.writer
            .shutdown(std::net::Shutdown::Write)
            .expect("shutdown");
    }

    /// Reads one response; `head_only` for an answer to HEAD (no body whatever the headers).
    pub fn read_response_to(&mut self, head_only: bool) -> RawResponse {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("read head");
            assert!(n > 0, "connection closed; head so far: {head:?}");
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').expect("header colon");
                (n.to_owned(), v.trim().to_owned())
            })
            .collect();
        let mut response = RawResponse {
            status,
            head,
            headers,
            body: Vec::new(),
        };
        if head_only || status == 101 || status == 204 || status == 304 {
            return response;
        }
        if response
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size).expect("chunk size");
                let size = usize::from_str_radix(size.trim_end(), 16).expect("hex size");
                let mut data = vec![0; size + 2];
                self.reader.read_exact(&mut data).expect("chunk");
                if size == 0 {
                    assert_eq!(data, b"\r\n");
                    break;
                }
                response.body.extend_from_slice(&data[..size]);
            }
        } else if let Some(length) = response.header("content-length") {
            let mut body = vec![0; length.parse().expect("length")];
            self.reader.read_exact(&mut body).expect("body");
            response.body = body;
        } else {
            self.reader.read_to_end(&mut response.body).expect("body");
        }
        response
    }

    pub fn read_response(&mut self) -> RawResponse {
        self.read_response_to(false)
    }

    /// Whether the server closed the connection with nothing more to say: EOF, or a reset (what
    /// the kernel reports when the server closes while our bytes are still unread on its side).
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    /// Whether the server closed the connection (EOF) with nothing more to say.
    pub fn at_eof(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(_) => false,
        }
    }
}

/// Sends `bytes` on a new connection and reads one response.
pub fn exchange(socket: &std::path::Path, bytes: &[u8]) -> RawResponse {
    let mut conn = RawConn::connect(socket);
    conn.send(bytes);
    conn.read_response()
}

/// `GET /_ping` on a new connection: is the server still answering?
pub fn ping(socket: &std::path::Path) -> u16 {
    exchange(socket, b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n").status
}
