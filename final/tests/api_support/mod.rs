//! A real `berthd` per test, on its own data root and socket, stopped and cleaned up on drop;
//! its requests go through chapter 4's client, and [`send_raw`] sends the bytes no client
//! would (a malformed head, half a request).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Chapter 4's client for well-formed requests, `send_raw` for the others: shared with the
/// other end-to-end tests (`tests/client.rs` loads both supports, so it compiles this file
/// twice, harmlessly: the two copies never meet).
#[allow(clippy::duplicate_mod)]
#[path = "../support/api.rs"]
mod api;

pub const BERTHD: &str = env!("CARGO_BIN_EXE_berthd");

/// A `berthd` process with its own directory: `root/` (data root), `berthd.sock`,
/// `daemon.json` ([`NO_BRIDGE`] unless a test writes one), `berthd.log` (its stderr).
pub struct Berthd {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// A JSON stream (one object after another), as pull and push send.
    pub fn json_stream(&self) -> Vec<serde_json::Value> {
        serde_json::Deserializer::from_slice(&self.body)
            .into_iter::<serde_json::Value>()
            .map(|v| v.unwrap_or_else(|e| panic!("bad JSON stream ({e}): {}", self.text())))
            .collect()
    }

    /// The error message of a JSON error body.
    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// The `daemon.json` of a test daemon: no default bridge network (dockerd's `--bridge none`),
/// so that its containers, which get only `lo`, never change the host's network.
pub const NO_BRIDGE: &str = r#"{"bridge":"none"}"#;

impl Berthd {
    /// Starts a daemon with extra arguments, and waits until it answers `/_ping`.
    pub fn start(label: &str, extra: &[&str]) -> Berthd {
        let dir = berth_tests::test_dir(&format!("berthd-{label}"));
        std::fs::write(dir.path().join("daemon.json"), NO_BRIDGE).unwrap();
        let mut daemon = Berthd { dir, child: None };
        daemon.spawn(extra);
        daemon
    }

    /// Starts a daemon whose store already holds `busybox:latest` (the fixture image).
    pub fn with_busybox(label: &str) -> Berthd {
        Berthd::with_busybox_and(label, &[])
    }

    /// [`Berthd::with_busybox`] with extra daemon arguments.
    pub fn with_busybox_and(label: &str, extra: &[&str]) -> Berthd {
        let dir = berth_tests::test_dir(&format!("berthd-{label}"));
        std::fs::write(dir.path().join("daemon.json"), NO_BRIDGE).unwrap();
        let store = berth_images::store::Store::open(dir.path().join("root")).unwrap();
        let busybox = berth_tests::fixtures_dir().join("images/busybox-oci");
        berth_images::load::load(&store, &busybox).expect("loading busybox");
        let mut daemon = Berthd { dir, child: None };
        daemon.spawn(extra);
        daemon
    }

    /// Removes every container (force), so none outlives the test.
    pub fn remove_all_containers(&self) {
        let Ok(list) = self.try_request("GET", "/v1.50/containers/json?all=1", &[], b"") else {
            return;
        };
        if list.status != 200 {
            return;
        }
        let ids: Vec<String> = serde_json::from_slice::<serde_json::Value>(&list.body)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c["Id"].as_str().map(str::to_owned))
            .collect();
        for id in ids {
            let _ = self.try_request(
                "DELETE",
                &format!("/v1.50/containers/{id}?force=1"),
                &[],
                b"",
            );
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("berthd.sock")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    /// The command line of this daemon, without spawning it.
    pub fn command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(BERTHD);
        command
            .arg("--data-root")
            .arg(self.root())
            .arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .arg("--config-file")
            .arg(self.dir.path().join("daemon.json"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        command
    }

    /// Starts the daemon process and waits for it to answer.
    pub fn spawn(&mut self, extra: &[&str]) {
        let log = std::fs::File::create(self.dir.path().join("berthd.log")).unwrap();
        let child = self
            .command(extra)
            .stderr(log)
            .spawn()
            .expect("starting berthd");
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if self.try_request("GET", "/_ping", &[], b"").is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("berthd exited with {status} at start:\n{}", self.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "berthd never answered:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The TCP address the daemon reported for a `-H tcp://127.0.0.1:0` (the port the
    /// kernel chose: no race with other tests for a "free" port).
    /// The daemon binds its hosts one after the other, and `spawn` returns as soon as the
    /// UNIX socket answers, so the TCP line may not be in the log yet: wait for it.
    pub fn tcp_address(&self) -> String {
        let started = Instant::now();
        loop {
            let log = self.log();
            if let Some(address) = log
                .lines()
                .find_map(|l| l.strip_prefix("berthd: API listening on tcp://"))
            {
                return address.to_owned();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no TCP listener in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the daemon with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for the exit; the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// One request on a fresh connection, `Connection: close`, read to the end.
    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Raw {
        self.try_request(method, target, headers, body)
            .unwrap_or_else(|e| panic!("{method} {target}: {e}\n{}", self.log()))
    }

    pub fn get(&self, target: &str) -> Raw {
        self.request("GET", target, &[], b"")
    }

    pub fn post_json(&self, target: &str, body: &serde_json::Value) -> Raw {
        self.request(
            "POST",
            target,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    }

    pub fn try_request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Raw> {
        // A well-formed request: chapter 4's client sends it (`send_raw` is for the others).
        let timeout = Duration::from_secs(120);
        let api::Response {
            status,
            headers,
            body,
        } = api::request_within(timeout, &self.socket(), method, target, headers, body)?;
        Ok(Raw {
            status,
            headers,
            body,
        })
    }
}

impl Drop for Berthd {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.remove_all_containers();
        }
        self.terminate();
        if std::thread::panicking() {
            eprintln!("--- berthd log ---\n{}", self.log());
        }
    }
}

// Not every test file sends raw bytes.
#[allow(unused_imports)]
pub use api::send_raw;

/// Parses one response (the whole connection's bytes).
pub fn parse(raw: &[u8], head_only: bool) -> std::io::Result<Raw> {
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no complete response head"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("head not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head_only {
        Vec::new()
    } else if chunked {
        dechunk(rest).ok_or_else(|| bad("bad chunked body"))?
    } else {
        rest.to_vec()
    };
    Ok(Raw {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// base64url of a JSON auth config, as the docker CLI sends in `X-Registry-Auth`.
pub fn registry_auth(user: &str, password: &str, server: &str) -> String {
    use base64::Engine;
    let json = serde_json::json!({"username": user, "password": password, "serveraddress": server});
    base64::engine::general_purpose::URL_SAFE.encode(json.to_string())
}
