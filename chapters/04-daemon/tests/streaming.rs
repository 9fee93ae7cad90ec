//! Streamed responses: each chunk reaches the client when the handler writes it, and the head
//! goes out before the body exists (Docker's `wait`).

mod common;

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use berth_daemon::http::{Client, ClientRequest, Request, Response, Router};
use common::{RawConn, start};

/// A router whose `/logs` streams whatever the test sends on the channel, and whose `/wait`
/// answers only when the test says so. Also reports when a producer has finished.
fn channel_router() -> (Router, Sender<String>, Receiver<&'static str>) {
    let (to_handler, from_test) = mpsc::channel::<String>();
    let (done_tx, done_rx) = mpsc::channel();
    let from_test = Arc::new(Mutex::new(Some(from_test)));
    let done_tx = Arc::new(Mutex::new(done_tx));
    let (logs_rx, logs_done) = (Arc::clone(&from_test), Arc::clone(&done_tx));
    let router = Router::new()
        .get("/logs", move |_: &mut Request| {
            let rx = logs_rx.lock().unwrap().take().expect("one stream per test");
            let done = logs_done.lock().unwrap().clone();
            Response::stream(200, "application/json", move |body| {
                body.send_json(&serde_json::json!({ "status": "started" }))?;
                for line in rx {
                    body.send(line.as_bytes())?;
                }
                let _ = done.send("logs");
                Ok(())
            })
        })
        .post("/containers/{id}/wait", move |_: &mut Request| {
            let rx = from_test
                .lock()
                .unwrap()
                .take()
                .expect("one stream per test");
            let done = done_tx.lock().unwrap().clone();
            Response::stream(200, "application/json", move |body| {
                let code = rx.recv().unwrap_or_default();
                body.send_json(
                    &serde_json::json!({ "StatusCode": code.parse::<i32>().unwrap_or(-1) }),
                )?;
                let _ = done.send("wait");
                Ok(())
            })
        });
    (router, to_handler, done_rx)
}

#[test]
fn chunks_arrive_before_the_handler_finishes() {
    let (router, to_handler, done) = channel_router();
    let daemon = start(router);
    let client = Client::new(&daemon.socket);
    let response = client.get("/logs").expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    let mut body = response.into_body();
    assert_eq!(
        body.next_chunk().unwrap().unwrap(),
        b"{\"status\":\"started\"}\r\n"
    );
    for line in ["line 1\n", "line 2\n"] {
        to_handler.send(line.to_owned()).unwrap();
        // The producer is still running (blocked on the channel) when this chunk arrives.
        assert_eq!(body.next_chunk().unwrap().unwrap(), line.as_bytes());
        assert!(
            done.try_recv().is_err(),
            "the handler must still be running"
        );
    }
    drop(to_handler);
    assert_eq!(body.next_chunk().unwrap(), None);
    assert_eq!(done.recv_timeout(Duration::from_secs(5)), Ok("logs"));
}

#[test]
fn wait_sends_its_head_at_once() {
    let (router, to_handler, done) = channel_router();
    let daemon = start(router);
    let client = Client::new(&daemon.socket);
    let (head_tx, head_rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let response = client
            .send(
                &ClientRequest::post("/v1.50/containers/web/wait").query("condition", "next-exit"),
            )
            .expect("wait");
        head_tx.send(response.status()).unwrap();
        response.json::<serde_json::Value>().expect("json")
    });
    // The CLI calls start only after the wait's head arrived: it must come with no body yet.
    assert_eq!(head_rx.recv_timeout(Duration::from_secs(5)), Ok(200));
    assert!(done.try_recv().is_err());
    to_handler.send("137".to_owned()).unwrap();
    assert_eq!(
        waiter.join().unwrap(),
        serde_json::json!({ "StatusCode": 137 })
    );
}

#[test]
fn a_stream_then_another_request_on_the_same_connection() {
    let (router, to_handler, _done) = channel_router();
    let daemon = start(router.get("/_ping", |_: &mut Request| Response::text(200, "OK")));
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(b"GET /logs HTTP/1.1\r\nHost: x\r\n\r\n");
    to_handler.send("a".into()).unwrap();
    to_handler.send("b".into()).unwrap();
    drop(to_handler);
    let response = conn.read_response();
    assert_eq!(response.text(), "{\"status\":\"started\"}\r\nab");
    conn.send(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().text(), "OK");
}

#[test]
fn head_of_a_stream_does_not_run_it() {
    let (router, _to_handler, done) = channel_router();
    let daemon = start(router);
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(b"HEAD /logs HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = conn.read_response_to(true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert!(done.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn http_1_0_streams_end_with_the_connection() {
    let (router, to_handler, _done) = channel_router();
    let daemon = start(router);
    let mut conn = RawConn::connect(&daemon.socket);
    conn.send(b"GET /logs HTTP/1.0\r\n\r\n");
    to_handler.send("x".into()).unwrap();
    drop(to_handler);
    let response = conn.read_response();
    assert_eq!(response.header("transfer-encoding"), None);
    assert_eq!(response.text(), "{\"status\":\"started\"}\r\nx");
}

#[test]
fn a_failing_stream_is_cut_short() {
    let router = Router::new().get("/broken", |_: &mut Request| {
        Response::stream(200, "application/json", |body| {
            body.send(b"partial")?;
            Err(std::io::Error::other("the log file vanished"))
        })
    });
    let daemon = start(router);
    let response = Client::new(&daemon.socket).get("/broken").unwrap();
    let mut body = response.into_body();
    assert_eq!(body.next_chunk().unwrap().unwrap(), b"partial");
    // No terminating chunk: the client sees a truncated body, not a clean end.
    assert!(body.next_chunk().is_err());
}

#[test]
fn progress_messages_as_a_json_stream() {
    let router = Router::new().post("/images/create", |_: &mut Request| {
        Response::stream(200, "application/json", |body| {
            for status in ["Pulling fs layer", "Downloading", "Pull complete"] {
                body.send_json(&serde_json::json!({ "status": status, "id": "abc" }))?;
            }
            Ok(())
        })
    });
    let daemon = start(router);
    let response = Client::new(&daemon.socket)
        .send(&ClientRequest::post("/images/create").query("fromImage", "busybox"))
        .unwrap();
    let statuses: Vec<String> = response
        .json_stream::<serde_json::Value>()
        .map(|m| m.unwrap()["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        statuses,
        ["Pulling fs layer", "Downloading", "Pull complete"]
    );
}

/// A router whose `/upload` answers the length and a checksum of the body it received.
fn upload_router() -> Router {
    Router::new().post("/upload", |req: &mut Request| {
        let body = req.take_body();
        let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
        Response::json(200, &serde_json::json!({ "len": body.len(), "sum": sum }))
    })
}

#[test]
fn a_streamed_request_body_arrives_whole_in_chunks() {
    let daemon = start(upload_router());
    let client = Client::new(&daemon.socket);
    // 300 writes of 1000 bytes: the client gathers them into chunks of its own size.
    let mut writes = 0;
    let response = client
        .send_streaming(&ClientRequest::post("/upload"), &mut |out| {
            for i in 0..300u32 {
                out.write_all(&[(i % 251) as u8; 1000])?;
                writes += 1;
            }
            Ok(())
        })
        .expect("upload");
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().unwrap();
    let sum: u64 = (0..300u64).map(|i| (i % 251) * 1000).sum();
    assert_eq!(answer, serde_json::json!({ "len": 300_000, "sum": sum }));
    assert_eq!(writes, 300);
}

#[test]
fn a_refusal_while_the_body_is_sent_is_the_answer_not_a_broken_pipe() {
    // The test server takes at most 1 MiB: it answers 413 and closes while we still write.
    let daemon = start(upload_router());
    let client = Client::new(&daemon.socket);
    let response = client
        .send_streaming(&ClientRequest::post("/upload"), &mut |out| {
            for _ in 0..64 {
                out.write_all(&[b'x'; 64 * 1024])?;
            }
            Ok(())
        })
        .expect("the daemon's answer");
    assert_eq!(response.status(), 413);
}
