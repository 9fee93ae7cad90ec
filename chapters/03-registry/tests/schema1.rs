//! Docker schema 1 manifests are refused with a message that says why.
//!
//! The reference registry no longer accepts schema 1 pushes, so no real server can hold one
//! here: this is the one place a stand-in server is used. It answers like an old registry
//! (`/v2/` and one manifest with the schema 1 media type); the client code path is the same one
//! every other test exercises against the real registry.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use support::Ch03;

#[test]
fn schema1_is_refused_clearly() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        // The first connection is a TLS handshake (loopback is tried over HTTPS first): it is
        // not HTTP, and is dropped.
        for stream in listener.incoming().take(4).flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let (content_type, body) = if request_line.contains("/manifests/") {
                (
                    "application/vnd.docker.distribution.manifest.v1+prettyjws",
                    "{\"schemaVersion\":1}",
                )
            } else {
                ("application/json", "{}")
            };
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let ch03 = Ch03::new("schema1");
    let out = ch03.run(&["pull", &format!("{host}/old/image")]);
    assert_eq!(out.code, 125);
    assert!(
        out.stderr
            .contains("is a Docker schema 1 image, a format deprecated since 2017"),
        "{}",
        out.stderr
    );
    drop(server); // The thread ends with the test process.
}
