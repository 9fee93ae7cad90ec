//! Container endpoints at the protocol level, in the order `docker run` sends them: create,
//! attach (hijack), wait (whose head must come at once), start; then inspect, logs, ps
//! filters, stop, kill, exec and rm. A real `berthd` with a real engine and busybox.

mod api_support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use api_support::Berthd;
use serde_json::{Value, json};

/// A connection that stays open: for hijacks and for `wait`.
struct Open {
    stream: UnixStream,
    /// Bytes read past the response head.
    rest: Vec<u8>,
    head: String,
}

impl Open {
    /// Sends a request and reads the response head only.
    fn send(daemon: &Berthd, request: &str, body: &[u8]) -> Open {
        let mut stream = UnixStream::connect(daemon.socket()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            let n = stream.read(&mut chunk).expect("reading a response head");
            assert!(
                n > 0,
                "closed before a head: {}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        };
        Open {
            head: String::from_utf8_lossy(&buf[..end]).into_owned(),
            rest: buf[end + 4..].to_vec(),
            stream,
        }
    }

    fn hijack(daemon: &Berthd, target: &str, body: &str) -> Open {
        let request = format!(
            "POST {target} HTTP/1.1\r\nHost: api.moby.localhost\r\nConnection: Upgrade\r\n\
             Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        Open::send(daemon, &request, body.as_bytes())
    }

    fn status(&self) -> u16 {
        self.head.split(' ').nth(1).unwrap().parse().unwrap()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// Everything until the daemon closes.
    fn read_to_end(mut self) -> Vec<u8> {
        let mut out = self.rest;
        let _ = self.stream.read_to_end(&mut out);
        out
    }
}

/// Splits Docker's framed stream into (stdout, stderr).
fn demux(mut bytes: &[u8]) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while bytes.len() >= 8 {
        let len = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        let payload = &bytes[8..8 + len];
        match bytes[0] {
            1 => out.extend_from_slice(payload),
            2 => err.extend_from_slice(payload),
            other => panic!("unexpected stream {other}"),
        }
        bytes = &bytes[8 + len..];
    }
    assert!(bytes.is_empty(), "a partial frame at the end");
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

fn create(daemon: &Berthd, name: &str, body: Value) -> String {
    let r = daemon.post_json(&format!("/v1.50/containers/create?name={name}"), &body);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["Warnings"], json!([]));
    r.json()["Id"].as_str().unwrap().to_owned()
}

fn unique(label: &str) -> String {
    format!("api-{label}-{}", std::process::id())
}

fn filter_count(daemon: &Berthd, filters: &str) -> usize {
    let encoded: String = filters
        .chars()
        .map(|c| match c {
            '{' => "%7B".to_owned(),
            '}' => "%7D".to_owned(),
            '"' => "%22".to_owned(),
            '[' => "%5B".to_owned(),
            ']' => "%5D".to_owned(),
            c => c.to_string(),
        })
        .collect();
    let r = daemon.get(&format!("/v1.50/containers/json?all=1&filters={encoded}"));
    assert_eq!(r.status, 200, "{filters}: {}", r.text());
    r.json().as_array().unwrap().len()
}

#[test]
fn run_sequence_attach_wait_start_then_inspect_logs_and_remove() {
    let daemon = Berthd::with_busybox("run");
    let name = unique("run");
    let id = create(
        &daemon,
        &name,
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"],
               "AttachStdout": true, "AttachStderr": true, "Labels": {"team": "api"},
               "HostConfig": {"NetworkMode": "default", "LogConfig": {"Type": ""}}}),
    );
    assert_eq!(id.len(), 64);

    // attach before start: 101, multiplexed (no TTY).
    let attach = Open::hijack(
        &daemon,
        &format!("/v1.50/containers/{id}/attach?stderr=1&stdout=1&stream=1"),
        "",
    );
    assert_eq!(attach.status(), 101, "{}", attach.head);
    assert_eq!(
        attach.header("content-type").as_deref(),
        Some("application/vnd.docker.multiplexed-stream")
    );
    assert_eq!(attach.header("upgrade").as_deref(), Some("tcp"));

    // wait: the head arrives before start is sent (Open::send blocks until it has it).
    let wait = Open::send(
        &daemon,
        &format!(
            "POST /v1.50/containers/{id}/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        b"",
    );
    assert_eq!(wait.status(), 200);
    assert_eq!(
        wait.header("content-type").as_deref(),
        Some("application/json")
    );

    let start = daemon.request("POST", &format!("/v1.50/containers/{id}/start"), &[], b"");
    assert_eq!(start.status, 204, "{}", start.text());

    let (out, err) = demux(&attach.read_to_end());
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    let raw = wait.read_to_end();
    let body = api_support::parse(
        &[
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".as_slice(),
            &raw,
        ]
        .concat(),
        false,
    )
    .unwrap();
    assert_eq!(body.json(), json!({"StatusCode": 3}), "no Error key");

    // inspect: what the CLI and docker-py read.
    let inspect = daemon.get(&format!("/v1.50/containers/{name}/json"));
    assert_eq!(inspect.status, 200, "{}", inspect.text());
    let c = inspect.json();
    assert_eq!(c["Id"], id.as_str());
    assert_eq!(c["Name"], format!("/{name}"));
    assert_eq!(c["State"]["Status"], "exited");
    assert_eq!(c["State"]["Running"], false);
    assert_eq!(c["State"]["ExitCode"], 3);
    assert_eq!(c["Path"], "sh");
    assert_eq!(c["Args"], json!(["-c", "echo out; echo err >&2; exit 3"]));
    assert_eq!(c["Config"]["Tty"], false);
    assert_eq!(c["Config"]["Image"], "busybox");
    assert_eq!(c["Config"]["Labels"]["team"], "api");
    assert_eq!(c["HostConfig"]["LogConfig"]["Type"], "json-file");
    assert_eq!(c["Mounts"], json!([]));
    assert_eq!(c["Driver"], "overlay2");
    assert!(c["Image"].as_str().unwrap().starts_with("sha256:"));
    assert!(c["State"]["FinishedAt"].as_str().unwrap().starts_with("20"));
    // By unique id prefix, and with a leading slash, too.
    assert_eq!(
        daemon
            .get(&format!("/v1.50/containers/{}/json", &id[..12]))
            .json()["Id"],
        id.as_str()
    );

    // logs, framed; one stream only when asked.
    let logs = daemon.get(&format!(
        "/v1.50/containers/{id}/logs?stdout=1&stderr=1&tail=all"
    ));
    assert_eq!(logs.status, 200);
    assert_eq!(
        logs.header("content-type"),
        Some("application/vnd.docker.multiplexed-stream")
    );
    assert_eq!(demux(&logs.body), ("out\n".into(), "err\n".into()));
    let only_out = daemon.get(&format!("/v1.50/containers/{id}/logs?stdout=1"));
    assert_eq!(demux(&only_out.body), ("out\n".into(), String::new()));
    let stamped = daemon.get(&format!(
        "/v1.50/containers/{id}/logs?stdout=1&timestamps=1"
    ));
    let (out, _) = demux(&stamped.body);
    assert!(out.starts_with("20") && out.ends_with(" out\n"), "{out:?}");
    assert_eq!(
        daemon.get(&format!("/v1.50/containers/{id}/logs")).status,
        400
    );
    assert_eq!(
        daemon
            .get(&format!("/v1.50/containers/{id}/logs?stdout=1&tail=x"))
            .status,
        400
    );

    // ps: stopped containers only with all=1 or a status filter, in both filter forms.
    let running = daemon.get("/v1.50/containers/json").json();
    assert!(
        running
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["Id"] != id.as_str())
    );
    let listed = daemon.get("/v1.50/containers/json?all=1").json();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Id"] == id.as_str())
        .expect("listed with all=1")
        .clone();
    assert_eq!(entry["Names"], json!([format!("/{name}")]));
    assert_eq!(entry["State"], "exited");
    assert!(
        entry["Status"].as_str().unwrap().starts_with("Exited (3)"),
        "{entry}"
    );
    assert!(entry["Created"].is_u64());
    assert_eq!(filter_count(&daemon, r#"{"status":{"exited":true}}"#), 1);
    assert_eq!(filter_count(&daemon, r#"{"status":["exited"]}"#), 1);
    assert_eq!(filter_count(&daemon, r#"{"status":["running"]}"#), 0);
    assert_eq!(
        filter_count(&daemon, &format!(r#"{{"name":["{name}"]}}"#)),
        1
    );
    assert_eq!(filter_count(&daemon, r#"{"label":["team=api"]}"#), 1);
    assert_eq!(filter_count(&daemon, r#"{"label":["team=web"]}"#), 0);
    assert_eq!(filter_count(&daemon, r#"{"ancestor":["busybox"]}"#), 1);
    assert_eq!(
        filter_count(&daemon, &format!(r#"{{"id":["{}"]}}"#, &id[..10])),
        1
    );
    let bad = daemon.get("/v1.50/containers/json?filters=%7B%22status%22%3A%5B%22sleepy%22%5D%7D");
    assert_eq!(bad.status, 400);

    // stop of a stopped container: 304; kill: 409; bad signal: 400; bad condition: 400.
    let stop = daemon.request("POST", &format!("/v1.50/containers/{id}/stop"), &[], b"");
    assert_eq!(stop.status, 304, "{}", stop.text());
    let kill = daemon.request(
        "POST",
        &format!("/v1.50/containers/{id}/kill?signal=INT"),
        &[],
        b"",
    );
    assert_eq!(kill.status, 409, "{}", kill.text());
    let bad_signal = daemon.request(
        "POST",
        &format!("/v1.50/containers/{id}/kill?signal=NOPE"),
        &[],
        b"",
    );
    assert_eq!(bad_signal.status, 400);
    let bad_condition = daemon.request(
        "POST",
        &format!("/v1.50/containers/{id}/wait?condition=soon"),
        &[],
        b"",
    );
    assert_eq!(bad_condition.status, 400);
    // not-running on an exited container answers at once.
    let now = daemon.request("POST", &format!("/v1.50/containers/{id}/wait"), &[], b"");
    assert_eq!(now.json(), json!({"StatusCode": 3}));

    // A name in use: 409, not 404.
    let again = daemon.post_json(
        &format!("/v1.50/containers/create?name={name}"),
        &json!({"Image": "busybox", "Cmd": ["true"]}),
    );
    assert_eq!(again.status, 409, "{}", again.text());

    // The image is in use by the container: rmi is a conflict, even forced.
    let rmi = daemon.request("DELETE", "/v1.50/images/busybox?force=1", &[], b"");
    assert_eq!(rmi.status, 409, "{}", rmi.text());
    let rm = daemon.request(
        "DELETE",
        &format!("/v1.50/containers/{id}?v=False&link=False&force=False"),
        &[],
        b"",
    );
    assert_eq!(rm.status, 204, "{}", rm.text());
    let gone = daemon.get(&format!("/v1.50/containers/{id}/json"));
    assert_eq!(gone.status, 404);
    assert_eq!(gone.header("content-type"), Some("application/json"));
    assert_eq!(
        daemon
            .request("DELETE", &format!("/v1.50/containers/{id}"), &[], b"")
            .status,
        404
    );
}

#[test]
fn exec_in_a_running_container_and_its_lifecycle() {
    let daemon = Berthd::with_busybox("exec");
    let name = unique("exec");
    let id = create(
        &daemon,
        &name,
        json!({"Image": "busybox", "Cmd": ["sleep", "60"]}),
    );
    assert_eq!(
        daemon
            .request("POST", &format!("/v1.50/containers/{id}/start"), &[], b"")
            .status,
        204
    );
    assert_eq!(
        daemon
            .request("POST", &format!("/v1.50/containers/{id}/start"), &[], b"")
            .status,
        304
    );
    let running = daemon.get(&format!("/v1.50/containers/{id}/json")).json();
    assert_eq!(running["State"]["Running"], true);
    assert!(running["State"]["Pid"].as_i64().unwrap() > 0);
    assert_eq!(filter_count(&daemon, r#"{"status":["running"]}"#), 1);

    // An exec, as the CLI sends it.
    let exec = daemon.post_json(
        &format!("/v1.50/containers/{name}/exec"),
        &json!({"User": "", "Privileged": false, "Tty": false, "AttachStdin": false,
                "AttachStdout": true, "AttachStderr": true, "Detach": false,
                "Env": ["GREETING=hi"], "WorkingDir": "/tmp",
                "Cmd": ["sh", "-c", "echo $GREETING from $(pwd); echo oops >&2; exit 7"]}),
    );
    assert_eq!(exec.status, 201, "{}", exec.text());
    let exec_id = exec.json()["Id"].as_str().unwrap().to_owned();
    let session = Open::hijack(
        &daemon,
        &format!("/v1.50/exec/{exec_id}/start"),
        r#"{"Detach":false,"Tty":false}"#,
    );
    assert_eq!(session.status(), 101, "{}", session.head);
    assert_eq!(
        session.header("content-type").as_deref(),
        Some("application/vnd.docker.multiplexed-stream")
    );
    let (out, err) = demux(&session.read_to_end());
    assert_eq!((out.as_str(), err.as_str()), ("hi from /tmp\n", "oops\n"));
    // The exit code is final by the time the stream has closed.
    let state = daemon.get(&format!("/v1.50/exec/{exec_id}/json")).json();
    assert_eq!(state["ExitCode"], 7, "{state}");
    assert_eq!(state["Running"], false);
    assert_eq!(state["ContainerID"], id.as_str());

    // The stream is framed as the *start* asks, whatever the exec was created with (moby's
    // rule, which docker-py's `exec_start(socket=True)` relies on).
    let framed_by_start = |created_tty: bool, started_tty: bool| {
        let exec = daemon.post_json(
            &format!("/v1.50/containers/{id}/exec"),
            &json!({"Tty": created_tty, "AttachStdout": true, "AttachStderr": true,
                    "Cmd": ["echo", "framed"]}),
        );
        let exec_id = exec.json()["Id"].as_str().unwrap().to_owned();
        let session = Open::hijack(
            &daemon,
            &format!("/v1.50/exec/{exec_id}/start"),
            &json!({"Detach": false, "Tty": started_tty}).to_string(),
        );
        assert_eq!(session.status(), 101, "{}", session.head);
        let content_type = session
            .header("content-type")
            .unwrap_or_default()
            .to_owned();
        (content_type, session.read_to_end())
    };
    let (content_type, bytes) = framed_by_start(true, false);
    assert_eq!(content_type, "application/vnd.docker.multiplexed-stream");
    let (out, _) = demux(&bytes);
    assert_eq!(out, "framed\r\n", "a terminal's output, in stdout frames");
    let (content_type, bytes) = framed_by_start(false, true);
    assert_eq!(content_type, "application/vnd.docker.raw-stream");
    assert_eq!(bytes, b"framed\n");

    // A client slow to read the head (docker-py on a busy machine) must still get it alone in
    // its first read: docker-py reads the head through a buffer and loses whatever came with
    // it. The output waits until the head is read (a fixed 2 ms pause lost it here).
    let exec = daemon.post_json(
        &format!("/v1.50/containers/{id}/exec"),
        &json!({"AttachStdout": true, "AttachStderr": true, "Cmd": ["echo", "slow reader"]}),
    );
    let exec_id = exec.json()["Id"].as_str().unwrap().to_owned();
    let body = r#"{"Detach":false,"Tty":true}"#;
    let mut stream = UnixStream::connect(daemon.socket()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let request = format!(
        "POST /v1.50/exec/{exec_id}/start HTTP/1.1\r\nHost: api.moby.localhost\r\n\
         Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut first = vec![0u8; 65536];
    let n = stream.read(&mut first).unwrap();
    let first = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(
        first.starts_with("HTTP/1.1 101") && first.ends_with("\r\n\r\n"),
        "the head alone in the first read: {first:?}"
    );
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert_eq!(rest, b"slow reader\n");

    // A program that does not exist: the hijack still happens, the error is in the stream, and
    // the exit code is 127 as for `docker run` (Docker answers the same; a 500 here made the
    // CLI print "unable to upgrade to tcp, received 500").
    let missing = daemon.post_json(
        &format!("/v1.50/containers/{id}/exec"),
        &json!({"AttachStdout": true, "AttachStderr": true, "Cmd": ["no-such-program"]}),
    );
    let missing_id = missing.json()["Id"].as_str().unwrap().to_owned();
    let session = Open::hijack(
        &daemon,
        &format!("/v1.50/exec/{missing_id}/start"),
        r#"{"Detach":false,"Tty":false}"#,
    );
    assert_eq!(session.status(), 101, "{}", session.head);
    let (out, _) = demux(&session.read_to_end());
    assert!(out.contains("no-such-program"), "{out:?}");
    assert!(out.ends_with("\r\n"), "{out:?}");
    let state = daemon.get(&format!("/v1.50/exec/{missing_id}/json")).json();
    assert_eq!(state["ExitCode"], 127, "{state}");

    // Bad execs.
    let no_cmd = daemon.post_json(&format!("/v1.50/containers/{id}/exec"), &json!({"Cmd": []}));
    assert_eq!(no_cmd.status, 400);
    // `exec --privileged` is honoured (chapter 6), and said so.
    let privileged = daemon.post_json(
        &format!("/v1.50/containers/{id}/exec"),
        &json!({"Cmd": ["true"], "Privileged": true}),
    );
    assert_eq!(privileged.status, 201, "{}", privileged.text());
    let privileged_id = privileged.json()["Id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let state = daemon
        .get(&format!("/v1.50/exec/{privileged_id}/json"))
        .json();
    assert_eq!(state["ProcessConfig"]["privileged"], true, "{state}");
    assert_eq!(daemon.get("/v1.50/exec/nosuchexec/json").status, 404);

    // rm of a running container: 409 without force.
    let rm = daemon.request("DELETE", &format!("/v1.50/containers/{id}"), &[], b"");
    assert_eq!(rm.status, 409, "{}", rm.text());

    // stop: SIGTERM, then SIGKILL after t seconds (sleep as PID 1 ignores SIGTERM).
    let stop = daemon.request(
        "POST",
        &format!("/v1.50/containers/{id}/stop?t=1"),
        &[],
        b"",
    );
    assert_eq!(stop.status, 204, "{}", stop.text());
    let stopped = daemon.get(&format!("/v1.50/containers/{id}/json")).json();
    assert_eq!(stopped["State"]["Running"], false);

    // Exec into a stopped container: 409.
    let late = daemon.post_json(
        &format!("/v1.50/containers/{id}/exec"),
        &json!({"Cmd": ["true"]}),
    );
    assert_eq!(late.status, 409, "{}", late.text());

    let rm = daemon.request("DELETE", &format!("/v1.50/containers/{id}"), &[], b"");
    assert_eq!(rm.status, 204, "{}", rm.text());
}
