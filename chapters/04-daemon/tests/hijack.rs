//! The hijack of `docker attach`/`exec`: `101 UPGRADED`, then raw bytes both ways, with stdin
//! that may arrive before the handler reads and a client that half-closes at the end of stdin.

mod common;

use std::io::{Read, Write};
use std::thread;
use std::time::Duration;

use berth_daemon::http::{Client, ClientError, ClientRequest, Request, Response, Router};
use common::{RawConn, start_with, test_options};

/// `attach` to "missing" is a 404; otherwise the handler waits a little (so stdin arrives
/// first), reads stdin to EOF (the client's half-close), then answers with it in upper case.
fn attach_router() -> Router {
    Router::new().post("/containers/{id}/attach", |req: &mut Request| {
        if req.param("id") == Some("missing") {
            return Response::error(404, "No such container: missing");
        }
        Response::upgrade("application/vnd.docker.raw-stream", |upgraded| {
            let (mut stdin, mut stdout) = upgraded.split().expect("split");
            thread::sleep(Duration::from_millis(100));
            let mut input = Vec::new();
            if stdin.read_to_end(&mut input).is_err() {
                return;
            }
            // Read-EOF is not the end: the client is still listening.
            let _ = stdout.write_all(b"got: ");
            let _ = stdout.write_all(&input.to_ascii_uppercase());
            // Dropping `stdout` half-closes: the client's read ends.
        })
    })
}

#[test]
fn raw_hijack_with_early_stdin_and_half_close() {
    let mut options = test_options();
    // Shorter than the pause below: the upgraded stream must not inherit the read timeout.
    options.read_timeout = Duration::from_millis(300);
    let daemon = start_with(attach_router(), options);
    let mut conn = RawConn::connect(&daemon.socket);
    // stdin in the same write as the request, as the CLI's pump can do.
    conn.send(
        b"POST /v1.50/containers/web/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\
          Content-Type: text/plain\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nhello ",
    );
    let head = conn.read_response();
    assert_eq!(head.status, 101);
    assert!(
        head.head.starts_with("HTTP/1.1 101 UPGRADED\r\n"),
        "{}",
        head.head
    );
    assert_eq!(
        head.header("content-type"),
        Some("application/vnd.docker.raw-stream")
    );
    assert_eq!(head.header("connection"), Some("Upgrade"));
    assert_eq!(head.header("upgrade"), Some("tcp"));
    assert_eq!(head.header("content-length"), None);
    assert_eq!(head.header("transfer-encoding"), None);
    thread::sleep(Duration::from_millis(500));
    conn.send(b"world");
    conn.shutdown_write();
    let mut output = Vec::new();
    conn.reader.read_to_end(&mut output).unwrap();
    assert_eq!(String::from_utf8_lossy(&output), "got: HELLO WORLD");
}

#[test]
fn client_hijack() {
    let daemon = start_with(attach_router(), test_options());
    let client = Client::new(&daemon.socket);
    let mut hijacked = client
        .hijack(
            &ClientRequest::post("/containers/web/attach")
                .query("stdin", "1")
                .query("stream", "1"),
        )
        .expect("hijack");
    assert_eq!(
        hijacked.headers.get("content-type"),
        Some("application/vnd.docker.raw-stream")
    );
    hijacked.stream.write_all(b"echo hi\n").unwrap();
    hijacked.stream.shutdown_write().unwrap();
    let mut output = String::new();
    hijacked.stream.read_to_string(&mut output).unwrap();
    assert_eq!(output, "got: ECHO HI\n");
}

#[test]
fn errors_before_the_upgrade_are_plain_json() {
    let daemon = start_with(attach_router(), test_options());
    let error = Client::new(&daemon.socket)
        .hijack(&ClientRequest::post("/containers/missing/attach"))
        .err()
        .expect("no upgrade");
    match error {
        ClientError::NotUpgraded { status, message } => {
            assert_eq!(
                (status, message.as_str()),
                (404, "No such container: missing")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn the_101_head_travels_alone() {
    // A handler that writes output the moment it has the socket, like an exec whose process
    // prints at once. docker-py loses output that shares a read with the head.
    let router = Router::new().post("/exec/{id}/start", |_: &mut Request| {
        Response::upgrade(
            "application/vnd.docker.multiplexed-stream",
            |mut upgraded| {
                let _ = upgraded.write_all(b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n");
            },
        )
    });
    let mut options = test_options();
    // Generous, so the test does not depend on how fast this machine wakes the reader.
    options.upgrade_pause = Duration::from_millis(200);
    let daemon = start_with(router, options);
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(
        b"POST /exec/e1/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\
          Content-Type: application/json\r\nContent-Length: 29\r\n\r\n{\"Detach\":false,\"Tty\":false}\n",
    );
    // One raw read, as docker-py's buffered reader does: it must hold the head and nothing else.
    let mut first = vec![0u8; 64 * 1024];
    let n = conn.writer.read(&mut first).unwrap();
    let first = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(first.starts_with("HTTP/1.1 101 UPGRADED\r\n"), "{first}");
    assert!(
        first.ends_with("\r\n\r\n"),
        "output arrived with the head: {first:?}"
    );
    let mut output = Vec::new();
    conn.writer.read_to_end(&mut output).unwrap();
    assert_eq!(output, b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n");
}

#[test]
fn output_continues_after_the_client_stops_sending() {
    // The client half-closes at once (no stdin attached); output keeps coming for a while.
    let router = Router::new().post("/containers/{id}/attach", |_: &mut Request| {
        Response::upgrade("application/vnd.docker.raw-stream", |upgraded| {
            let (mut stdin, mut stdout) = upgraded.split().expect("split");
            let mut nothing = Vec::new();
            let _ = stdin.read_to_end(&mut nothing);
            for i in 0..3 {
                thread::sleep(Duration::from_millis(30));
                let _ = writeln!(stdout, "tick {i}");
            }
        })
    });
    let daemon = start_with(router, test_options());
    let mut hijacked = Client::new(&daemon.socket)
        .hijack(&ClientRequest::post("/containers/web/attach"))
        .unwrap();
    hijacked.stream.shutdown_write().unwrap();
    let mut output = String::new();
    hijacked.stream.read_to_string(&mut output).unwrap();
    assert_eq!(output, "tick 0\ntick 1\ntick 2\n");
}

#[test]
fn dropping_the_writer_ends_the_session_while_stdin_is_still_read() {
    // The stdin pump is blocked in a read that will never return on its own (the client keeps
    // its sending side open); dropping the output half must still end the client's read.
    let router = Router::new().post("/containers/{id}/attach", |_: &mut Request| {
        Response::upgrade("application/vnd.docker.raw-stream", |upgraded| {
            let (mut stdin, mut stdout) = upgraded.split().expect("split");
            let pump = thread::spawn(move || {
                let mut sink = Vec::new();
                let _ = stdin.read_to_end(&mut sink);
                sink
            });
            let _ = stdout.write_all(b"bye\n");
            drop(stdout);
            let _ = pump.join();
        })
    });
    let daemon = start_with(router, test_options());
    let mut hijacked = Client::new(&daemon.socket)
        .hijack(&ClientRequest::post("/containers/web/attach"))
        .unwrap();
    let mut output = String::new();
    hijacked.stream.read_to_string(&mut output).unwrap();
    assert_eq!(output, "bye\n");
    // Now the client closes; the server's pump sees EOF and the connection thread ends.
    drop(hijacked);
    assert_eq!(daemon.shutdown(), 0);
}

#[test]
fn bytes_sent_with_the_request_are_handed_over() {
    let router = Router::new().post("/containers/{id}/attach", |_: &mut Request| {
        Response::upgrade("application/vnd.docker.raw-stream", |mut upgraded| {
            let early = upgraded.early_bytes().to_vec();
            let _ = upgraded.write_all(&early);
        })
    });
    let daemon = start_with(router, test_options());
    let mut conn = RawConn::connect(&daemon.socket);
    // One write: the server's first read takes the head and these bytes together.
    conn.send(
        b"POST /containers/web/attach HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n\
          Upgrade: tcp\r\n\r\nearly stdin",
    );
    assert_eq!(conn.read_response().status, 101);
    let mut output = Vec::new();
    conn.reader.read_to_end(&mut output).unwrap();
    assert_eq!(output, b"early stdin");
}
