//! Bad input, byte by byte: every malformed request gets the right 4xx (or 5xx) as Docker's JSON
//! error, and the daemon keeps answering everyone else, including a keep-alive connection that
//! was open all along.

mod common;

use std::thread;

use common::{RawConn, basic_router, ping, start};

/// How the test client sends a case.
enum Send {
    /// Write the bytes and read the answer.
    Bytes(Vec<u8>),
    /// Write the bytes, then half-close: the server sees EOF mid-message.
    ThenEof(Vec<u8>),
    /// Write from another thread (the server answers before it has read everything).
    Flood(Vec<u8>),
}

fn cases() -> Vec<(&'static str, Send)> {
    let get = |target: &str| format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes();
    let big_header = format!(
        "GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let many_headers: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let mut chunked_flood =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..40 {
        chunked_flood.extend_from_slice(b"8000\r\n");
        chunked_flood.extend_from_slice(&[b'x'; 0x8000]);
        chunked_flood.extend_from_slice(b"\r\n");
    }
    chunked_flood.extend_from_slice(b"0\r\n\r\n");
    let post = |headers: &str, body: &str| {
        format!("POST /echo HTTP/1.1\r\nHost: x\r\n{headers}\r\n{body}").into_bytes()
    };
    use Send::*;
    vec![
        (
            "truncated head",
            ThenEof(b"GET /_ping HTTP/1.1\r\nHost: x\r\n".to_vec()),
        ),
        ("oversized head", Flood(big_header.into_bytes())),
        (
            "too many headers",
            Bytes(format!("GET /_ping HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes()),
        ),
        (
            "oversized body (Content-Length)",
            Bytes(post("Content-Length: 2000000\r\n", "")),
        ),
        ("oversized body (chunked)", Flood(chunked_flood)),
        (
            "truncated body",
            ThenEof(post("Content-Length: 10\r\n", "abc")),
        ),
        (
            "bad chunk size",
            Bytes(post(
                "Transfer-Encoding: chunked\r\n",
                "zz\r\nhello\r\n0\r\n\r\n",
            )),
        ),
        (
            "chunk data without CRLF",
            Bytes(post(
                "Transfer-Encoding: chunked\r\n",
                "5\r\nhelloXX0\r\n\r\n",
            )),
        ),
        (
            "Content-Length and Transfer-Encoding",
            Bytes(post(
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            )),
        ),
        (
            "Content-Length not a number",
            Bytes(post("Content-Length: abc\r\n", "")),
        ),
        (
            "unknown transfer coding",
            Bytes(post("Transfer-Encoding: gzip, chunked\r\n", "")),
        ),
        (
            "invalid method",
            Bytes(b"G@T /_ping HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ),
        (
            "header without colon",
            Bytes(b"GET /_ping HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".to_vec()),
        ),
        (
            "header value not UTF-8",
            Bytes(b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Name: \xff\xfe\r\n\r\n".to_vec()),
        ),
        (
            "missing Host",
            Bytes(b"GET /_ping HTTP/1.1\r\n\r\n".to_vec()),
        ),
        (
            "HTTP/2.0 request line",
            Bytes(b"GET /_ping HTTP/2.0\r\nHost: x\r\n\r\n".to_vec()),
        ),
        ("absolute-form target", Bytes(get("http://x/_ping"))),
        ("dot-dot segment", Bytes(get("/containers/../x/json"))),
        ("encoded dot-dot", Bytes(get("/containers/%2e%2E/json"))),
        (
            "encoded slash in a name",
            Bytes(get("/containers/a%2Fb/json")),
        ),
        (
            "encoded slash in an image name",
            Bytes(get("/images/a%2F..%2Fb/json")),
        ),
        ("encoded NUL", Bytes(get("/containers/a%00b/json"))),
        ("bad percent-escape", Bytes(get("/containers/%zz/json"))),
        ("bad query escape", Bytes(get("/query?all=%g1"))),
        ("bad query boolean", Bytes(get("/query?all=maybe"))),
        ("bad query integer", Bytes(get("/query?limit=ten"))),
        (
            "invalid JSON body",
            Bytes(b"POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{\"a\":}x".to_vec()),
        ),
        ("unknown route", Bytes(get("/containers"))),
        ("empty name segment", Bytes(get("/containers//json"))),
        (
            "wrong method",
            Bytes(b"DELETE /_ping HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ),
        (
            "lower-case method",
            Bytes(b"get /_ping HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ),
        ("panicking handler", Bytes(get("/panic"))),
    ]
}

#[test]
fn malformed_requests_get_json_errors_and_the_daemon_keeps_serving() {
    let daemon = start(basic_router());
    // A client that was connected before all this and stays connected throughout.
    let mut bystander = RawConn::connect(&daemon.socket);
    let mut table = String::new();
    for (name, send) in cases() {
        let mut conn = RawConn::connect(&daemon.socket);
        let flood = match send {
            Send::Bytes(bytes) => {
                conn.send(&bytes);
                None
            }
            Send::ThenEof(bytes) => {
                conn.send(&bytes);
                conn.shutdown_write();
                None
            }
            Send::Flood(bytes) => {
                let mut writer = conn.writer.try_clone().expect("clone");
                Some(thread::spawn(move || {
                    // The server may stop reading and close: a write error is expected.
                    let _ = std::io::Write::write_all(&mut writer, &bytes);
                }))
            }
        };
        let response = conn.read_response();
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "{name}: {}",
            response.head
        );
        let message = response.message();
        assert!(!message.is_empty(), "{name}");
        table.push_str(&format!("{name:<38} {} {message}\n", response.status));
        if let Some(flood) = flood {
            flood.join().expect("flood thread");
        }

        bystander.send(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
        let answer = bystander.read_response();
        assert_eq!((answer.status, answer.text()), (200, "OK".into()), "{name}");
        assert_eq!(ping(&daemon.socket), 200, "after {name}");
    }
    insta::assert_snapshot!(table);
}

#[test]
fn http_errors_close_the_connection() {
    let daemon = start(basic_router());
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(
        b"GET /containers/../x HTTP/1.1\r\nHost: x\r\n\r\nGET /_ping HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let response = conn.read_response();
    assert_eq!(response.status, 400);
    assert_eq!(response.header("connection"), Some("close"));
    // After an HTTP-level error we no longer trust the stream: the pipelined ping is not served.
    assert!(conn.at_eof());
}

#[test]
fn method_not_allowed_lists_the_allowed_methods() {
    let daemon = start(basic_router());
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(b"POST /containers/web/json HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    let response = conn.read_response();
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("GET, HEAD"));
    // A 405 is an ordinary answer: the connection stays usable.
    conn.send(b"GET /containers/web/json HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().text(), r#"{"Id":"web"}"#);
}
