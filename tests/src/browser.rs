//! A headless Chromium, driven over the Chrome DevTools Protocol, for testing the book as its
//! readers see it.
//!
//! The link checker in `tests/tests/book.rs` reads HTML; it cannot see that a diagram failed
//! to draw, that a script threw, or that search finds nothing. A real browser can. Chromium
//! with `--remote-debugging-port=0` picks a free port and prints
//! `DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID` on stderr; over that
//! WebSocket ([`crate::websocket`]) we send JSON commands (`{"id": 1, "method":
//! "Page.navigate", "params": {...}}`) and receive their replies (same `id`) and events
//! (`{"method": "Runtime.exceptionThrown", ...}`), which Chromium sends whenever they happen.
//!
//! A tab is a *target*; we attach to it in "flat" mode, so commands for the tab go over the
//! same WebSocket with a `sessionId` beside the `id`.
//!
//! The flags in [`CHROMIUM_FLAGS`] matter on a test machine: without a network, Chromium's
//! background services (component updates, sync, field trials) keep retrying and slow or
//! confuse it, and as root it refuses to start with its sandbox. Each browser gets a fresh
//! profile directory, and dropping [`Chromium`] kills its whole process group and removes the
//! profile, also when the test panics.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::websocket::{WebSocket, WebSocketError};

/// The command line every browser starts with (plus `--user-data-dir` and the debugging port).
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    // Root cannot use Chromium's sandbox; the pages are our own book.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    // With no network, these services retry forever and slow every page down.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
];

/// How long the browser may take to start and print its DevTools address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one DevTools command may take. Generous: two busy cores can stall a renderer.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Why driving the browser failed.
#[derive(Debug)]
pub enum BrowserError {
    /// Chromium could not be started, or did not print its DevTools address.
    Start { binary: PathBuf, reason: String },
    /// The DevTools WebSocket failed: usually Chromium crashed. `log` is the end of what it
    /// printed on stderr.
    Socket { error: WebSocketError, log: String },
    /// Chromium answered a command with an error.
    Command { method: String, error: String },
    /// Nothing came back in time.
    Timeout { waiting_for: String },
    /// Script we evaluated in the page threw.
    Script { expression: String, error: String },
}

impl std::fmt::Display for BrowserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BrowserError::Start { binary, reason } => write!(
                f,
                "cannot start {}: {reason} (install it with `apt-get install chromium`, which \
                 scripts/install-deps.sh does, or point $BERTH_CHROMIUM at a Chromium)",
                binary.display()
            ),
            BrowserError::Socket { error, log } => {
                write!(
                    f,
                    "devtools connection: {error}; the end of Chromium's log:\n{log}"
                )
            }
            BrowserError::Command { method, error } => write!(f, "{method} failed: {error}"),
            BrowserError::Timeout { waiting_for } => {
                write!(f, "timed out waiting for {waiting_for}")
            }
            BrowserError::Script { expression, error } => {
                write!(f, "evaluating `{expression}` threw: {error}")
            }
        }
    }
}

impl std::error::Error for BrowserError {}

/// The Chromium to run: `$BERTH_CHROMIUM`, or Debian's.
pub fn chromium_binary() -> PathBuf {
    std::env::var_os("BERTH_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// One tab, attached in flat mode: its commands carry `session`.
#[derive(Debug, Clone)]
pub struct Tab {
    session: String,
}

/// A headless Chromium and the DevTools connection to it.
pub struct Chromium {
    child: Child,
    socket: WebSocket,
    next_id: u64,
    /// Events that arrived while we waited for something else, oldest first.
    events: VecDeque<Value>,
    /// Everything Chromium printed on stderr, for the message when something fails.
    log: Arc<Mutex<Vec<String>>>,
    // Declared last so it is removed after the process is gone (fields drop in order, and
    // `Drop::drop` below runs before all of them).
    profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts a headless Chromium with a fresh profile and connects to its DevTools.
    pub fn launch() -> Result<Chromium, BrowserError> {
        let binary = chromium_binary();
        let start_error = |reason: String| BrowserError::Start {
            binary: binary.clone(),
            reason,
        };
        let profile = tempfile::Builder::new()
            .prefix("berth-test-chromium-")
            .tempdir()
            .map_err(|e| start_error(format!("creating a profile directory: {e}")))?;
        // Chromium makes its own directories in $TMPDIR (`org.chromium.Chromium.*`, for the
        // singleton socket), and a killed browser leaves them there: keep them in the profile.
        let tmp = profile.path().join("tmp");
        std::fs::create_dir(&tmp)
            .map_err(|e| start_error(format!("creating {}: {e}", tmp.display())))?;
        let mut child = Command::new(&binary)
            .args(CHROMIUM_FLAGS)
            .env("TMPDIR", &tmp)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--remote-debugging-port=0")
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // A process group of its own, so that drop can kill the renderers and helpers too.
            .process_group(0)
            .spawn()
            .map_err(|e| start_error(e.to_string()))?;

        // Read stderr in a thread until it closes: the address comes early, and a pipe that
        // nobody drains would block Chromium once it fills.
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(url) = line.strip_prefix("DevTools listening on ") {
                        let _ = address_tx.send(url.trim().to_owned());
                    }
                    if let Ok(mut log) = log.lock() {
                        log.push(line);
                    }
                }
            });
        }
        let address = match address_rx.recv_timeout(START_TIMEOUT) {
            Ok(address) => address,
            Err(_) => {
                kill_group(&mut child);
                let log = log.lock().map(|l| l.join("\n")).unwrap_or_default();
                return Err(start_error(format!(
                    "it printed no `DevTools listening on` line within {START_TIMEOUT:?}; its \
                     stderr:\n{log}"
                )));
            }
        };
        let socket = match WebSocket::connect(&address) {
            Ok(socket) => socket,
            Err(error) => {
                kill_group(&mut child);
                let log = log.lock().map(|l| l.join("\n")).unwrap_or_default();
                return Err(BrowserError::Socket { error, log });
            }
        };
        Ok(Chromium {
            child,
            socket,
            next_id: 0,
            events: VecDeque::new(),
            log,
            profile,
        })
    }

    /// The browser's profile directory (removed on drop).
    pub fn profile_dir(&self) -> &Path {
        self.profile.path()
    }

    /// What Chromium printed on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// A socket error, with the last lines Chromium printed: they say why it went away.
    fn socket_error(&self, error: WebSocketError) -> BrowserError {
        let log = self
            .log
            .lock()
            .map(|l| l[l.len().saturating_sub(20)..].join("\n"))
            .unwrap_or_default();
        BrowserError::Socket { error, log }
    }

    /// Opens a new tab of `width` × `height` CSS pixels, with the page, runtime and log
    /// domains enabled so their events (exceptions, console calls, log entries) reach us.
    pub fn open_tab(&mut self, width: u32, height: u32) -> Result<Tab, BrowserError> {
        let target = self.call(
            None,
            "Target.createTarget",
            json!({ "url": "about:blank", "newWindow": false }),
        )?;
        let target_id = target["targetId"].as_str().unwrap_or_default().to_owned();
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        )?;
        let tab = Tab {
            session: attached["sessionId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        for domain in ["Page", "Runtime", "Log"] {
            self.call(Some(&tab), &format!("{domain}.enable"), json!({}))?;
        }
        self.call(
            Some(&tab),
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )?;
        Ok(tab)
    }

    /// Loads `url` in `tab` and waits for its `load` event (scripts, styles and images done).
    pub fn navigate(
        &mut self,
        tab: &Tab,
        url: &str,
        timeout: Duration,
    ) -> Result<(), BrowserError> {
        self.events
            .retain(|event| !is_for(event, tab) || event["method"] != "Page.loadEventFired");
        let navigated = self.call(Some(tab), "Page.navigate", json!({ "url": url }))?;
        if let Some(error) = navigated["errorText"].as_str() {
            return Err(BrowserError::Command {
                method: format!("Page.navigate to {url}"),
                error: error.to_owned(),
            });
        }
        self.wait_for_event(tab, "Page.loadEventFired", timeout)
            .map(|_| ())
            .map_err(|_| BrowserError::Timeout {
                waiting_for: format!("the load event of {url}"),
            })
    }

    /// Evaluates `expression` in the page and returns its value (a promise is awaited).
    pub fn evaluate(&mut self, tab: &Tab, expression: &str) -> Result<Value, BrowserError> {
        let reply = self.call(
            Some(tab),
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        )?;
        if let Some(details) = reply.get("exceptionDetails") {
            let error = details["exception"]["description"]
                .as_str()
                .or(details["text"].as_str())
                .unwrap_or("an exception")
                .to_owned();
            return Err(BrowserError::Script {
                expression: expression.to_owned(),
                error,
            });
        }
        Ok(reply["result"]["value"].clone())
    }

    /// Evaluates `expression` until it returns something truthy, and returns that. Between
    /// tries it listens for events, so nothing is lost while it waits.
    pub fn wait_until(
        &mut self,
        tab: &Tab,
        expression: &str,
        timeout: Duration,
    ) -> Result<Value, BrowserError> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.evaluate(tab, expression)?;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(_) | Value::Object(_) => true,
            };
            if truthy {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(BrowserError::Timeout {
                    waiting_for: format!("`{expression}` to become true"),
                });
            }
            self.receive(Duration::from_millis(100))?;
        }
    }

    /// Types `text` into whatever has the focus, one key press per character, as a person
    /// would: each character sends keydown, keypress (with the text) and keyup.
    pub fn type_text(&mut self, tab: &Tab, text: &str) -> Result<(), BrowserError> {
        for c in text.chars() {
            let text = c.to_string();
            self.call(
                Some(tab),
                "Input.dispatchKeyEvent",
                json!({ "type": "keyDown", "text": text, "key": text, "unmodifiedText": text }),
            )?;
            self.call(
                Some(tab),
                "Input.dispatchKeyEvent",
                json!({ "type": "keyUp", "key": text }),
            )?;
        }
        Ok(())
    }

    /// A PNG of the tab: of the viewport, or of `clip` (page coordinates, in CSS pixels) even
    /// when it lies outside the viewport.
    pub fn screenshot(&mut self, tab: &Tab, clip: Option<Clip>) -> Result<Vec<u8>, BrowserError> {
        let mut params = json!({ "format": "png" });
        if let Some(clip) = clip {
            params["clip"] = json!({
                "x": clip.x, "y": clip.y, "width": clip.width, "height": clip.height, "scale": 1
            });
            params["captureBeyondViewport"] = json!(true);
        }
        let reply = self.call(Some(tab), "Page.captureScreenshot", params)?;
        let data = reply["data"].as_str().unwrap_or_default();
        crate::http::base64_decode(data).ok_or_else(|| BrowserError::Command {
            method: "Page.captureScreenshot".into(),
            error: "the image is not valid base64".into(),
        })
    }

    /// Takes the problems the tab reported since the last call: uncaught exceptions,
    /// `console.error` and `console.assert` calls, and log entries at level error (failed
    /// loads, blocked resources). Each is one line of text.
    pub fn take_problems(&mut self, tab: &Tab) -> Result<Vec<String>, BrowserError> {
        // Let the events already on their way arrive first.
        while self.receive(Duration::from_millis(50))? {}
        let mut problems = Vec::new();
        self.events.retain(|event| {
            if !is_for(event, tab) {
                return true;
            }
            match problem(event) {
                Some(text) => {
                    problems.push(text);
                    false
                }
                None => true,
            }
        });
        Ok(problems)
    }

    /// Sends one command and waits for its reply, keeping the events that arrive meanwhile.
    pub fn call(
        &mut self,
        tab: Option<&Tab>,
        method: &str,
        params: Value,
    ) -> Result<Value, BrowserError> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(tab) = tab {
            message["sessionId"] = json!(tab.session);
        }
        self.socket
            .send_text(&message.to_string())
            .map_err(|e| self.socket_error(e))?;
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(BrowserError::Timeout {
                    waiting_for: format!("the reply to {method}"),
                });
            }
            let received = self.socket.receive_text(left);
            let Some(text) = received.map_err(|e| self.socket_error(e))? else {
                continue;
            };
            let Ok(reply) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if reply["id"] == json!(id) {
                if let Some(error) = reply.get("error") {
                    return Err(BrowserError::Command {
                        method: method.to_owned(),
                        error: error.to_string(),
                    });
                }
                return Ok(reply["result"].clone());
            }
            self.keep_event(reply);
        }
    }

    /// Waits for the event `method` from `tab`, taking it out of the queue.
    fn wait_for_event(
        &mut self,
        tab: &Tab,
        method: &str,
        timeout: Duration,
    ) -> Result<Value, BrowserError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(index) = self
                .events
                .iter()
                .position(|event| is_for(event, tab) && event["method"] == method)
            {
                return Ok(self.events.remove(index).unwrap_or_default());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(BrowserError::Timeout {
                    waiting_for: method.to_owned(),
                });
            }
            self.receive(left.min(Duration::from_millis(500)))?;
        }
    }

    /// Receives at most one message within `timeout` and queues it if it is an event worth
    /// keeping. Returns whether a message came.
    fn receive(&mut self, timeout: Duration) -> Result<bool, BrowserError> {
        let received = self.socket.receive_text(timeout);
        match received.map_err(|e| self.socket_error(e))? {
            Some(text) => {
                if let Ok(event) = serde_json::from_str::<Value>(&text) {
                    self.keep_event(event);
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Queues the events a test may ask about; the rest (network chatter, frame lifecycle)
    /// would only fill memory.
    fn keep_event(&mut self, event: Value) {
        let wanted = event["method"] == "Page.loadEventFired" || problem(&event).is_some();
        if wanted {
            self.events.push_back(event);
        }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Closing politely first lets Chromium flush its profile; killing the group follows
        // anyway, so a browser that hangs cannot outlive the test.
        let _ = self
            .socket
            .send_text(r#"{"id":0,"method":"Browser.close"}"#);
        kill_group(&mut self.child);
    }
}

/// A rectangle of the page, in CSS pixels, for [`Chromium::screenshot`].
#[derive(Debug, Clone, Copy)]
pub struct Clip {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// Whether `event` came from `tab`.
fn is_for(event: &Value, tab: &Tab) -> bool {
    event["sessionId"].as_str() == Some(tab.session.as_str())
}

/// The problem an event reports, as one line, or `None` if it reports none.
fn problem(event: &Value) -> Option<String> {
    let params = &event["params"];
    match event["method"].as_str()? {
        "Runtime.exceptionThrown" => {
            let details = &params["exceptionDetails"];
            let text = details["exception"]["description"]
                .as_str()
                .or(details["text"].as_str())
                .unwrap_or("an exception");
            Some(format!(
                "uncaught exception at {}:{}: {text}",
                details["url"].as_str().unwrap_or("?"),
                details["lineNumber"]
            ))
        }
        "Runtime.consoleAPICalled" => {
            let kind = params["type"].as_str()?;
            if kind != "error" && kind != "assert" {
                return None;
            }
            let args: Vec<String> = params["args"]
                .as_array()
                .map(|args| {
                    args.iter()
                        .map(|arg| {
                            arg["value"]
                                .as_str()
                                .map(str::to_owned)
                                .or_else(|| arg["description"].as_str().map(str::to_owned))
                                .unwrap_or_else(|| arg["value"].to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(format!("console.{kind}: {}", args.join(" ")))
        }
        "Log.entryAdded" => {
            let entry = &params["entry"];
            if entry["level"] != "error" {
                return None;
            }
            Some(format!(
                "log error ({}): {} {}",
                entry["source"].as_str().unwrap_or("?"),
                entry["text"].as_str().unwrap_or_default(),
                entry["url"].as_str().unwrap_or_default()
            ))
        }
        _ => None,
    }
}

/// Kills `child`'s whole process group (Chromium's renderers, GPU and zygote processes are in
/// it), reaps `child`, and waits a little for the others to go, so that the profile directory
/// is no longer in use when it is removed.
fn kill_group(child: &mut Child) {
    let group = child.id();
    // `kill -KILL -- -PGID` signals every process of the group; the group id is the pid of
    // the child we made its leader with `process_group(0)`, and only our own processes are in
    // it.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while group_alive(group) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether any process is still in the process group `group`.
fn group_alive(group: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| {
                // Fields after the command name, which is in parentheses and may hold spaces:
                // state, ppid, pgrp, ...
                // A zombie is gone but for its exit status, which nobody may collect soon.
                let mut fields = stat[stat.rfind(')')? + 2..].split(' ');
                let state = fields.next()?;
                let pgrp = fields.nth(1)?.parse::<u32>().ok()?;
                Some(state != "Z" && pgrp == group)
            })
            .unwrap_or(false)
    })
}
