//! Persistent connections, request bodies, and HEAD: the everyday HTTP/1.1 the Docker CLI uses.

mod common;

use common::{RawConn, basic_router, start};

#[test]
fn several_requests_on_one_connection() {
    let daemon = start(basic_router());
    let mut conn = RawConn::connect(&daemon.socket);
    for id in ["a", "b", "c"] {
        conn.send(
            format!("GET /v1.50/containers/{id}/json HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        );
        let response = conn.read_response();
        assert_eq!(response.status, 200);
        assert_eq!(
            response.header("connection"),
            None,
            "keep-alive is the default"
        );
        assert_eq!(response.text(), format!(r#"{{"Id":"{id}"}}"#));
    }
    conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(conn.read_response().text(), r#"{"body":"hello","len":5}"#);
    assert_eq!(daemon.handle().active_connections(), 1);
}

#[test]
fn pipelined_requests_in_one_write() {
    let daemon = start(basic_router());
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
          GET /images/localhost:5000/a/b:1/json HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(conn.read_response().text(), r#"{"body":"abc","len":3}"#);
    assert_eq!(
        conn.read_response().text(),
        r#"{"Name":"localhost:5000/a/b:1"}"#
    );
    let last = conn.read_response();
    assert_eq!(last.text(), "OK");
    assert_eq!(last.header("connection"), Some("close"));
    assert!(conn.at_eof());
}

#[test]
fn connection_close_and_http_1_0_end_the_connection() {
    let daemon = start(basic_router());
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(conn.read_response().status, 200);
    assert!(conn.at_eof());

    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(b"GET /_ping HTTP/1.0\r\n\r\n");
    let response = conn.read_response();
    assert_eq!((response.status, response.text()), (200, "OK".into()));
    assert_eq!(response.header("connection"), Some("close"));
    assert!(conn.at_eof());
}

#[test]
fn chunked_request_body() {
    let daemon = start(basic_router());
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: ignored\r\n\r\n",
    );
    assert_eq!(
        conn.read_response().text(),
        r#"{"body":"hello world","len":11}"#
    );
    // The connection is positioned right after the body: the next request works.
    conn.send(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().text(), "OK");
}

#[test]
fn a_chunked_body_arriving_in_pieces() {
    let daemon = start(basic_router());
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r");
    std::thread::sleep(std::time::Duration::from_millis(50));
    conn.send(b"\nab");
    std::thread::sleep(std::time::Duration::from_millis(50));
    conn.send(b"c\r\n0\r\n\r\n");
    assert_eq!(conn.read_response().text(), r#"{"body":"abc","len":3}"#);
}

#[test]
fn expect_100_continue() {
    let daemon = start(basic_router());
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
    );
    let interim = conn.read_response_to(true);
    assert_eq!(interim.status, 100);
    conn.send(b"hi");
    assert_eq!(conn.read_response().text(), r#"{"body":"hi","len":2}"#);

    // Too large: answered at once, without the 100 and without reading the body.
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(conn.read_response().status, 413);
}

#[test]
fn head_sends_the_get_head_without_a_body() {
    let daemon = start(basic_router());
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = conn.read_response_to(true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("2"));
    assert_eq!(
        head.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    // Had a body been sent, this response would be read as garbage.
    conn.send(b"GET /containers/x/json HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().text(), r#"{"Id":"x"}"#);
}

#[test]
fn default_headers_go_on_every_response() {
    let mut options = common::test_options();
    options.default_headers.push("Api-Version", "1.50");
    options.default_headers.push("Ostype", "linux");
    let daemon = common::start_with(
        basic_router().get("/custom", |_: &mut berth_daemon::http::Request| {
            berth_daemon::http::Response::new(204).header("Api-Version", "1.24")
        }),
        options,
    );
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
    let response = conn.read_response();
    assert_eq!(response.status, 404);
    assert_eq!(response.header("api-version"), Some("1.50"));
    assert_eq!(response.header("ostype"), Some("linux"));
    conn.send(b"GET /custom HTTP/1.1\r\nHost: x\r\n\r\n");
    let response = conn.read_response();
    assert_eq!(response.status, 204);
    assert_eq!(response.header("api-version"), Some("1.24"));
    assert_eq!(response.header("content-length"), None, "204 has no length");
}
