//! Bounded in time: a client that is silent or slow loses its connection, and nobody else
//! notices.

mod common;

use std::io::Read;
use std::thread;
use std::time::{Duration, Instant};

use common::{RawConn, basic_router, ping, start_with, test_options};

const TIMEOUT: Duration = Duration::from_millis(400);

fn short_timeout() -> berth_daemon::http::ServerOptions {
    let mut options = test_options();
    options.read_timeout = TIMEOUT;
    options
}

#[test]
fn a_slow_loris_times_out_while_others_are_served() {
    let daemon = start_with(basic_router(), short_timeout());
    let socket = daemon.socket.clone();
    let started = Instant::now();
    let loris = thread::spawn(move || {
        let mut conn = RawConn::connect(&socket);
        // One byte every 50 ms: every read succeeds, but the head never completes in time.
        for byte in b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Slow: "
            .iter()
            .cycle()
            .take(200)
        {
            if std::io::Write::write_all(&mut conn.writer, &[*byte]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
            if started.elapsed() > Duration::from_secs(3) {
                break;
            }
        }
        conn
    });
    // Meanwhile the daemon answers others promptly.
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(ping(&daemon.socket), 200);
        assert!(
            t.elapsed() < Duration::from_millis(200),
            "{:?}",
            t.elapsed()
        );
        thread::sleep(Duration::from_millis(50));
    }
    let mut conn = loris.join().unwrap();
    let response = conn.read_response();
    assert_eq!(response.status, 408);
    assert_eq!(response.header("content-type"), Some("application/json"));
    // The loris kept sending after the 408, so the close may come as a reset.
    assert!(conn.closed());
    // The total deadline: answered within the timeout (plus slack), not after 200 slow bytes.
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn an_idle_keep_alive_connection_is_closed_silently() {
    let daemon = start_with(basic_router(), short_timeout());
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().status, 200);
    let idle_since = Instant::now();
    // No answer, no error: just EOF, once the timeout has passed.
    let mut rest = Vec::new();
    conn.reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    let waited = idle_since.elapsed();
    assert!(waited >= TIMEOUT - Duration::from_millis(50), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    // Its thread is gone.
    let deadline = Instant::now() + Duration::from_secs(3);
    while daemon.handle().active_connections() > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(daemon.handle().active_connections(), 0);
}

#[test]
fn a_stalled_body_times_out() {
    let daemon = start_with(basic_router(), short_timeout());
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    let response = conn.read_response();
    assert_eq!(response.status, 408);
}

#[test]
fn a_connection_that_never_speaks_is_dropped() {
    let daemon = start_with(basic_router(), short_timeout());
    let mut conn = RawConn::connect(&daemon.socket);
    let t = Instant::now();
    assert!(conn.at_eof());
    assert!(t.elapsed() < Duration::from_secs(3));
}
