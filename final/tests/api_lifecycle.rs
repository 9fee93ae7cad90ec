//! What happens around a container's life at the API: a TTY session with stdin, resize and
//! `AutoRemove` (`wait?condition=removed` answers after the removal), follow-logs that end when
//! the container does (docker-py relies on it), and a daemon that stops (SIGTERM) or dies
//! (SIGKILL) without taking its containers along.

mod api_support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use api_support::Berthd;
use serde_json::{Value, json};

/// Sends a request on a new connection and returns it once the response head has arrived:
/// (connection, head, bytes read past the head).
fn open(daemon: &Berthd, request: &str) -> (UnixStream, String, Vec<u8>) {
    let mut stream = UnixStream::connect(daemon.socket()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            return (stream, head, buf[end + 4..].to_vec());
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed before the head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn create(daemon: &Berthd, body: Value) -> String {
    let r = daemon.post_json("/v1.50/containers/create", &body);
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["Id"].as_str().unwrap().to_owned()
}

#[test]
fn tty_session_with_stdin_resize_and_auto_remove() {
    let daemon = Berthd::with_busybox("tty");
    let id = create(
        &daemon,
        json!({"Image": "busybox", "Tty": true, "OpenStdin": true, "StdinOnce": true,
               "AttachStdin": true, "AttachStdout": true, "AttachStderr": true,
               "Cmd": ["sh", "-c", "read line; echo got $line; exit 5"],
               "HostConfig": {"AutoRemove": true, "ConsoleSize": [30, 100]}}),
    );
    let (mut attach, head, early) = open(
        &daemon,
        &format!(
            "POST /v1.50/containers/{id}/attach?stderr=1&stdin=1&stdout=1&stream=1 HTTP/1.1\r\n\
             Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
        ),
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("Content-Type: application/vnd.docker.raw-stream"),
        "{head}"
    );
    let (mut wait, wait_head, _) = open(
        &daemon,
        &format!(
            "POST /v1.50/containers/{id}/wait?condition=removed HTTP/1.1\r\nHost: x\r\n\
             Connection: close\r\nContent-Length: 0\r\n\r\n"
        ),
    );
    assert!(wait_head.starts_with("HTTP/1.1 200"), "{wait_head}");
    let start = daemon.request("POST", &format!("/v1.50/containers/{id}/start"), &[], b"");
    assert_eq!(start.status, 204, "{}", start.text());
    let resize = daemon.request(
        "POST",
        &format!("/v1.50/containers/{id}/resize?h=40&w=120"),
        &[],
        b"",
    );
    // The shell is waiting for its line: a live TTY. (Resized before the line is typed: once
    // it has its line the shell may exit before a resize arrives, and then answers 409.)
    assert_eq!(resize.status, 200, "{}", resize.text());
    let bad = daemon.request(
        "POST",
        &format!("/v1.50/containers/{id}/resize?h=x&w=1"),
        &[],
        b"",
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    // Typed on the terminal once it runs. (Bytes sent on a TTY attach *before* start are lost
    // today: see the engine issue; the non-TTY case below covers early stdin.)
    attach.write_all(b"hello\n").unwrap();

    let mut output = early;
    if let Err(e) = attach.read_to_end(&mut output) {
        panic!(
            "{e}: the session did not end; output so far: {:?}",
            String::from_utf8_lossy(&output)
        );
    }
    let text = String::from_utf8_lossy(&output);
    assert!(text.contains("got hello"), "{text:?}");
    // Raw TTY bytes: no frame headers.
    assert!(!output.starts_with(&[1, 0, 0, 0]), "{output:?}");

    let mut rest = Vec::new();
    wait.read_to_end(&mut rest).unwrap();
    let body = String::from_utf8_lossy(&rest);
    assert!(body.contains(r#"{"StatusCode":5}"#), "{body}");
    // Removed before the answer.
    assert_eq!(
        daemon.get(&format!("/v1.50/containers/{id}/json")).status,
        404
    );
}

#[test]
fn early_stdin_reaches_a_non_tty_process() {
    let daemon = Berthd::with_busybox("tty");
    let id = create(
        &daemon,
        json!({"Image": "busybox", "Tty": false, "OpenStdin": true, "StdinOnce": true,
               "AttachStdin": true, "AttachStdout": true, "AttachStderr": true,
               "Cmd": ["sh", "-c", "read line; echo got $line; exit 5"],
               "HostConfig": {"AutoRemove": true, "ConsoleSize": [30, 100]}}),
    );
    let (mut attach, head, early) = open(
        &daemon,
        &format!(
            "POST /v1.50/containers/{id}/attach?stderr=1&stdin=1&stdout=1&stream=1 HTTP/1.1\r\n\
             Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
        ),
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("Content-Type: application/vnd.docker.multiplexed-stream"),
        "{head}"
    );
    let (mut wait, wait_head, _) = open(
        &daemon,
        &format!(
            "POST /v1.50/containers/{id}/wait?condition=removed HTTP/1.1\r\nHost: x\r\n\
             Connection: close\r\nContent-Length: 0\r\n\r\n"
        ),
    );
    assert!(wait_head.starts_with("HTTP/1.1 200"), "{wait_head}");
    // `echo hello | docker run -i`: stdin arrives before start, and must be kept.
    attach.write_all(b"hello\n").unwrap();
    let start = daemon.request("POST", &format!("/v1.50/containers/{id}/start"), &[], b"");
    assert_eq!(start.status, 204, "{}", start.text());

    let mut output = early;
    if let Err(e) = attach.read_to_end(&mut output) {
        panic!(
            "{e}: the session did not end; output so far: {:?}",
            String::from_utf8_lossy(&output)
        );
    }
    let text = String::from_utf8_lossy(&output);
    assert!(text.contains("got hello"), "{text:?}");
    // Framed: stdout is stream 1.
    assert_eq!(&output[..4], &[1, 0, 0, 0], "{output:?}");

    let mut rest = Vec::new();
    wait.read_to_end(&mut rest).unwrap();
    let body = String::from_utf8_lossy(&rest);
    assert!(body.contains(r#"{"StatusCode":5}"#), "{body}");
    // Removed before the answer.
    assert_eq!(
        daemon.get(&format!("/v1.50/containers/{id}/json")).status,
        404
    );
}

#[test]
fn follow_logs_end_when_the_container_exits() {
    let daemon = Berthd::with_busybox("follow");
    let id = create(
        &daemon,
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo a; sleep 1; echo b"]}),
    );
    assert_eq!(
        daemon
            .request("POST", &format!("/v1.50/containers/{id}/start"), &[], b"")
            .status,
        204
    );
    // docker-py's request for `containers.run`: it reads until the stream ends.
    let logs = daemon.get(&format!(
        "/v1.50/containers/{id}/logs?stderr=0&stdout=1&timestamps=0&follow=1&tail=all"
    ));
    assert_eq!(logs.status, 200);
    let mut out = Vec::new();
    let mut rest = &logs.body[..];
    while rest.len() >= 8 {
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        out.extend_from_slice(&rest[8..8 + len]);
        rest = &rest[8 + len..];
    }
    assert_eq!(String::from_utf8_lossy(&out), "a\nb\n");
    let state = daemon.get(&format!("/v1.50/containers/{id}/json")).json();
    assert_eq!(state["State"]["Status"], "exited");
}

#[test]
fn containers_outlive_a_stopped_or_killed_daemon() {
    let mut daemon = Berthd::with_busybox("survive");
    let id = create(
        &daemon,
        json!({"Image": "busybox", "Cmd": ["sleep", "120"]}),
    );
    assert_eq!(
        daemon
            .request("POST", &format!("/v1.50/containers/{id}/start"), &[], b"")
            .status,
        204
    );
    let pid = daemon.get(&format!("/v1.50/containers/{id}/json")).json()["State"]["Pid"]
        .as_i64()
        .unwrap();
    assert!(pid > 0);

    // SIGTERM: the daemon exits, the container runs on and is found again.
    let status = daemon.terminate().unwrap();
    assert!(status.success(), "{status}");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    daemon.spawn(&[]);
    let state = daemon.get(&format!("/v1.50/containers/{id}/json")).json();
    assert_eq!(state["State"]["Running"], true, "{state}");
    assert_eq!(state["State"]["Pid"], pid);

    // SIGKILL: nothing lost either.
    daemon.kill9();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    daemon.spawn(&[]);
    let state = daemon.get(&format!("/v1.50/containers/{id}/json")).json();
    assert_eq!(state["State"]["Running"], true, "{state}");
    assert_eq!(state["State"]["Pid"], pid);

    // And it can still be stopped through the new daemon.
    let stop = daemon.request(
        "POST",
        &format!("/v1.50/containers/{id}/stop?t=1"),
        &[],
        b"",
    );
    assert_eq!(stop.status, 204, "{}", stop.text());
    assert_eq!(
        daemon.get(&format!("/v1.50/containers/{id}/json")).json()["State"]["Running"],
        false
    );
}
