//! Attach sessions: a client's stdio joined to a container's, through its monitor.
//!
//! `docker run` attaches *before* it starts the container, and must still see the first
//! byte the container prints. So an attach to a created container is counted as *pending*
//! in the container's [`Watch`]; `start` passes the count to the new monitor, which holds the
//! container until that many sessions have connected to its socket. A session's `pump`
//! waits for the socket to be ready, connects, and copies: the client's stdin to the
//! monitor as messages, the monitor's output messages to the client, until the monitor says
//! the container has ended. A client that goes away leaves the container running.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;

use super::detach::{DetachKeys, Keys};

use super::follow::Lines;
use super::protocol::{self, ATTACH, END, STDERR, STDIN, STDIN_CLOSE, STDOUT};
use super::watch::Watch;
use super::{AttachOptions, EngineError, LogOptions, StreamKind};

/// A session with a container, made by `Engine::attach`.
pub struct ContainerSession {
    /// The container's directory: its log, and the monitor's attach socket, are there.
    pub dir: PathBuf,
    /// The container's watch: the session sleeps on it until the monitor listens.
    pub watch: Arc<Watch>,
    /// The streams the client asked for, and whether to replay the log first.
    pub options: AttachOptions,
    /// Made before the start it waits for.
    pub before_start: bool,
    /// Counted in the watch's `pending_attachers` until it connects or is dropped.
    pub pending: bool,
    /// The exits seen when it was made: one more means the start it waited for failed.
    pub exits_at: u64,
    /// The container has a terminal: the detach keys apply.
    pub tty: bool,
    /// The detach keys, checked when the session was made.
    pub detach_keys: DetachKeys,
}

impl Drop for ContainerSession {
    fn drop(&mut self) {
        self.uncount();
    }
}

impl ContainerSession {
    fn uncount(&mut self) {
        if std::mem::take(&mut self.pending) {
            self.watch
                .update(|l| l.pending_attachers = l.pending_attachers.saturating_sub(1));
        }
    }

    /// Runs the session; see `Session::pump`.
    pub fn pump(
        mut self,
        input: Box<dyn Read + Send>,
        output: &mut dyn FnMut(StreamKind, &[u8]) -> std::io::Result<()>,
    ) -> Result<(), EngineError> {
        if self.options.logs {
            let options = LogOptions {
                stdout: self.options.stdout,
                stderr: self.options.stderr,
                ..LogOptions::default()
            };
            let path = super::logs::path(&self.dir);
            let lines = Lines::open(&path, options, Arc::clone(&self.watch))
                .map_err(EngineError::io("opening the log", &path))?;
            for line in lines {
                let line = line.map_err(EngineError::io("reading the log", &path))?;
                if output(line.stream, &line.bytes).is_err() {
                    return Ok(());
                }
            }
        }
        // Before the start: wait until the monitor listens (or the start failed, or the
        // container went away). After it: connect at once.
        let exits_at = self.exits_at;
        let connectable = if self.before_start {
            let live = self
                .watch
                .wait_until(None, |l| l.socket_ready || l.removed || l.exits > exits_at);
            live.socket_ready && !live.removed && live.exits == exits_at
        } else {
            let live = self.watch.lock();
            live.run.status == super::state::Status::Running
        };
        if !connectable {
            return Ok(());
        }
        let (_dir_handle, path) = protocol::short_path(&self.dir).map_err(EngineError::io(
            "opening the container directory",
            &self.dir,
        ))?;
        let mut stream = match UnixStream::connect(&path) {
            Ok(stream) => stream,
            // The container ended meanwhile: the session has nothing more to say.
            Err(_) => return Ok(()),
        };
        let wants = [self.options.stdin, self.options.stdout, self.options.stderr];
        let socket_error = |what| EngineError::io(what, &path);
        protocol::write_message(&mut stream, ATTACH, &wants.map(u8::from))
            .map_err(socket_error("attaching through the socket"))?;
        self.uncount();

        if self.options.stdin {
            let writer = stream
                .try_clone()
                .map_err(socket_error("sharing the attach socket"))?;
            let keys = self.tty.then(|| std::mem::take(&mut self.detach_keys));
            std::thread::spawn(move || forward_stdin(input, writer, keys));
        }
        let result = copy_output(&mut stream, output);
        // Shut the socket down, not just our handle: the stdin thread holds a copy, and the
        // monitor must see this client gone, or it would fill the socket and then block
        // the container's output on a client that no longer reads.
        let _ = stream.shutdown(std::net::Shutdown::Both);
        result
    }
}

/// Delivers the monitor's output messages to the client until the end.
fn copy_output(
    stream: &mut UnixStream,
    output: &mut dyn FnMut(StreamKind, &[u8]) -> std::io::Result<()>,
) -> Result<(), EngineError> {
    loop {
        let (kind, data) = match protocol::read_message(stream) {
            Ok(Some(message)) => message,
            // The monitor is gone (killed): the session is over.
            Ok(None) | Err(_) => return Ok(()),
        };
        let stream_kind = match kind {
            STDOUT => StreamKind::Stdout,
            STDERR => StreamKind::Stderr,
            END => return Ok(()),
            _ => continue,
        };
        if output(stream_kind, &data).is_err() {
            // The client went away; the caller shuts the socket, and the container runs on.
            return Ok(());
        }
    }
}

/// Copies the client's stdin to the monitor until it ends; its end is a half-close, which
/// the monitor turns into closing the container's stdin when it was created with StdinOnce.
/// On a terminal (`keys` given), the detach keys (Ctrl-P Ctrl-Q unless the client chose
/// others) end the session instead, and the container runs on.
fn forward_stdin(
    mut input: Box<dyn Read + Send>,
    mut monitor: UnixStream,
    mut keys: Option<DetachKeys>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let (data, detach) = match keys.as_mut().map(|k| k.feed(&buf[..n])) {
                    None => (buf[..n].to_vec(), false),
                    Some(Keys::Forward(data)) => (data, false),
                    Some(Keys::Detach(data)) => (data, true),
                };
                if !data.is_empty() && protocol::write_message(&mut monitor, STDIN, &data).is_err()
                {
                    return;
                }
                if detach {
                    // Ends the session's output loop too; the container's stdin stays open.
                    let _ = monitor.shutdown(std::net::Shutdown::Both);
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let _ = protocol::write_message(&mut monitor, STDIN_CLOSE, &[]);
}
