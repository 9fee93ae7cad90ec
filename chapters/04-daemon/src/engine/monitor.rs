//! The monitor: one small process per running container, between the daemon and the container.
//!
//! Why not let the daemon be the container's parent? Because then the container's life hangs
//! on the daemon's: only a parent can `wait` for a process and learn its exit code, and when
//! the daemon is restarted (an upgrade, a crash, `kill -9`), its children are orphaned and
//! their exit codes lost. Docker solves this with `containerd-shim`, Podman with `conmon`: a
//! tiny process that starts the container, stays its parent, copies its output to the log
//! file, and writes down how it ended. The daemon can come and go; the monitor stays.
//!
//! The Docker API also lets clients attach and detach at any time, and a container with a
//! terminal or an open stdin outlives every client: so the monitor also serves the
//! container's stdio to attach sessions over a UNIX socket (see `protocol.rs`). The socket,
//! the log and `state.json` are all a restarted daemon needs to take over again.
//!
//! The monitor is the daemon's own binary, run as `ch04 monitor ROOT ID ATTACHERS` (or
//! `berthd monitor ...`, or forked by `final/`'s zygote: see `launcher.rs`). Its report to the
//! daemon, on its stdout, is one JSON line per event: `{"listening":true}` once the socket
//! accepts attach sessions and the container is cloned but held; then, after waiting (a
//! bounded time) until ATTACHERS sessions are connected, so that sessions made before `start`
//! see every byte, it lets the container run and prints `{"pid":N}` or
//! `{"error":..,"code":..}`; once the container has ended and everything about it is
//! recorded, `{"exited":CODE}`.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::logs::{self, Stream};
use berth_images::container;
use berth_images::store::Store;
use berth_namespaces::console::{self, Console};
use berth_namespaces::signals::{self, BlockedSignals};
use berth_namespaces::{Stdio, spawn};
use serde::{Deserialize, Serialize};

use super::protocol::{self, ATTACH, END, RESIZE, STDERR, STDIN, STDIN_CLOSE, STDOUT};
use super::state::{RunState, Status as RunStatus, now_rfc3339};
use super::{Extension, pipes, pty};

/// How long a start waits for the attach sessions made before it: a client that attached
/// and vanished must not hold the container back for long.
const ATTACH_WAIT: Duration = Duration::from_secs(5);
/// How long a client may not read its output before it is detached (see `session`).
const STALLED_CLIENT: Duration = Duration::from_secs(10);

/// The monitor's messages to the daemon, one JSON line each.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Report {
    /// The socket accepts sessions; the container is cloned and held.
    Listening { listening: bool },
    /// The container runs.
    Started { pid: i32 },
    /// It could not be started.
    Failed { error: String, code: i32 },
    /// It ended, its state is on disk and its sessions are closed: all the monitor does after
    /// this line is exit. The daemon acts on the line rather than on the monitor's exit, which
    /// comes a quarter of a millisecond later (a whole process torn down) and would delay
    /// every `docker run --rm` by as much.
    Exited { exited: i32 },
}

/// One attached client.
struct Client {
    stream: UnixStream,
    stdout: bool,
    stderr: bool,
}

/// What the monitor's threads share.
struct Shared {
    clients: Mutex<Clients>,
    attached: Condvar,
    /// Where stdin data goes: the pipe or the terminal, or a buffer until the terminal exists.
    stdin: Mutex<StdinTarget>,
    /// The terminal's master end, for resizes; and a size asked before it existed.
    terminal: Mutex<Terminal>,
    stdin_once: bool,
}

/// Where the clients' stdin goes.
enum StdinTarget {
    /// A terminal container whose terminal does not exist yet: `docker run -it` sends stdin
    /// right after attaching, before the start, and the terminal is made by the container's
    /// child during the start. Keep the bytes (and whether the client already ended them)
    /// until then. A pipe needs no such care: it exists from the start and buffers itself.
    Pending { early: Vec<u8>, closed: bool },
    /// The pipe, or the terminal's master end.
    Open(File),
    /// Closed (StdinOnce), or never open (no OpenStdin): data is dropped.
    Closed,
}

/// How much stdin is kept for a terminal that does not exist yet; beyond, it is dropped.
const EARLY_STDIN_LIMIT: usize = 1 << 20;

/// The terminal's master end (once received) and a size asked for before that.
type Terminal = (Option<File>, Option<(u16, u16)>);

struct Clients {
    list: Vec<Client>,
    /// How many attach sessions connected so far.
    count: usize,
    /// The exit code, once everything was delivered: late sessions get it at once.
    ended: Option<i32>,
}

impl Shared {
    /// Sends an output chunk to every client that wants it; forgets those that went away
    /// (their container runs on).
    fn broadcast(&self, kind: u8, data: &[u8]) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.list.retain_mut(|client| {
            let wanted = match kind {
                STDOUT => client.stdout,
                STDERR => client.stderr,
                _ => true,
            };
            !wanted || protocol::write_message(&mut client.stream, kind, data).is_ok()
        });
    }

    fn resize(&self, rows: u16, cols: u16) {
        let mut terminal = self.terminal.lock().unwrap_or_else(|p| p.into_inner());
        match &terminal.0 {
            Some(master) => {
                let _ = pty::set_size(master, rows, cols);
            }
            None => terminal.1 = Some((rows, cols)),
        }
    }

    fn write_stdin(&self, data: &[u8]) {
        let mut stdin = self.stdin.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *stdin {
            StdinTarget::Pending {
                early,
                closed: false,
            } => {
                let room = EARLY_STDIN_LIMIT.saturating_sub(early.len());
                early.extend_from_slice(&data[..data.len().min(room)]);
            }
            StdinTarget::Open(pipe) => {
                if pipe.write_all(data).is_err() {
                    // The container closed its stdin: nothing more will be read.
                    *stdin = StdinTarget::Closed;
                }
            }
            StdinTarget::Pending { .. } | StdinTarget::Closed => {}
        }
    }

    /// The first client's stdin ended and the container has StdinOnce: close its stdin.
    fn close_stdin(&self) {
        let mut stdin = self.stdin.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *stdin {
            StdinTarget::Pending { closed, .. } => *closed = true,
            _ => *stdin = StdinTarget::Closed,
        }
    }

    /// The terminal exists now: give it what was typed before, and keep it for what follows.
    fn open_terminal_stdin(&self, mut writer: File) {
        let mut stdin = self.stdin.lock().unwrap_or_else(|p| p.into_inner());
        let (early, closed) = match std::mem::replace(&mut *stdin, StdinTarget::Closed) {
            StdinTarget::Pending { early, closed } => (early, closed),
            _ => (Vec::new(), false),
        };
        if writer.write_all(&early).is_ok() && !closed {
            *stdin = StdinTarget::Open(writer);
        }
    }
}

/// Runs the monitor; returns its exit code. `args`: ROOT ID ATTACHERS. `extensions` must be
/// the daemon's own list: each adds its chapter 1 steps to the container's start.
pub fn main(args: &[String], extensions: &[std::sync::Arc<dyn Extension>]) -> i32 {
    let mut report = std::io::stdout();
    let [root, id, attachers] = args else {
        crate::daemon_log!("usage: monitor ROOT ID ATTACHERS");
        return 2;
    };
    let attachers: usize = attachers.parse().unwrap_or(0);
    match run(Path::new(root), id, attachers, extensions, &mut report) {
        Ok(()) => 0,
        Err((dir, error, code)) => {
            if let Some(dir) = dir {
                let state = RunState {
                    status: RunStatus::Exited,
                    exit_code: Some(code),
                    finished_at: Some(now_rfc3339()),
                    error: Some(error.clone()),
                    ..RunState::default()
                };
                let _ = state.save(&dir);
            }
            say(&mut report, &Report::Failed { error, code });
            0
        }
    }
}

fn say(report: &mut impl Write, message: &Report) {
    let line = serde_json::to_string(message).unwrap_or_default();
    let _ = writeln!(report, "{line}");
    let _ = report.flush();
}

/// A failure before the container ran: where to record it, what, and the exit code.
type Failure = (Option<std::path::PathBuf>, String, i32);

// ANCHOR: monitor
fn run(
    root: &Path,
    id: &str,
    attachers: usize,
    extensions: &[std::sync::Arc<dyn Extension>],
    report: &mut impl Write,
) -> Result<(), Failure> {
    // Before any thread exists: the signals we forward and SIGCHLD must be blocked in all.
    let blocked = BlockedSignals::block().map_err(|e| (None, format!("signals: {e}"), 125))?;
    let store = Store::open_in_use(root).map_err(|e| (None, e.to_string(), 125))?;
    let record = container::find(&store, id).map_err(|e| (None, e.to_string(), 125))?;
    let dir = record.dir(&store);
    let fail =
        |what: &str, e: &dyn std::fmt::Display| (Some(dir.clone()), format!("{what}: {e}"), 125);
    let spec = &record.options.settings;
    let mut config = container::runtime_config(&store, &record)
        .map_err(|e| (Some(dir.clone()), e.to_string(), 125))?;
    // What later chapters add: steps in the parent (with the pid) and in the child.
    for extension in extensions {
        extension
            .configure(&record, &mut config)
            .map_err(|e| fail(extension.name(), &e))?;
    }

    // The container's stdio: a terminal of its own, or pipes (stdin: a pipe with OpenStdin,
    // else /dev/null, as in Docker).
    let null = File::open("/dev/null").map_err(|e| fail("opening /dev/null", &e))?;
    let mut console_socket = None;
    let mut outputs: Vec<(Stream, u8, OwnedFd)> = Vec::new();
    let mut stdin_writer = None;
    let mut child_ends: Vec<OwnedFd> = Vec::new();
    if spec.tty {
        let (ours, theirs) = UnixStream::pair().map_err(|e| fail("console socket", &e))?;
        config.console = Some(Console {
            socket: theirs.as_raw_fd(),
            size: spec.console_size.map(|[rows, cols]| (rows, cols)),
        });
        config.stdio = Stdio {
            stdin: Some(null.as_raw_fd()),
            stdout: Some(null.as_raw_fd()),
            stderr: Some(null.as_raw_fd()),
        };
        console_socket = Some(ours);
        child_ends.push(theirs.into());
    } else {
        let (out_read, out_write) = pipes::pipe().map_err(|e| fail("pipe", &e))?;
        let (err_read, err_write) = pipes::pipe().map_err(|e| fail("pipe", &e))?;
        let stdin_fd = if spec.open_stdin {
            let (in_read, in_write) = pipes::pipe().map_err(|e| fail("pipe", &e))?;
            stdin_writer = Some(File::from(in_write));
            let fd = in_read.as_raw_fd();
            child_ends.push(in_read);
            fd
        } else {
            null.as_raw_fd()
        };
        config.stdio = Stdio {
            stdin: Some(stdin_fd),
            stdout: Some(out_write.as_raw_fd()),
            stderr: Some(err_write.as_raw_fd()),
        };
        child_ends.push(out_write);
        child_ends.push(err_write);
        outputs.push((Stream::Stdout, STDOUT, out_read));
        outputs.push((Stream::Stderr, STDERR, err_read));
    }
    let log = logs::Writer::open(&logs::path(&dir)).map_err(|e| fail("opening the log", &e))?;

    // Phase 1: the container exists, held before its command runs.
    let spawned = spawn(&config).map_err(|e| (Some(dir.clone()), e.to_string(), e.exit_code()))?;
    // Phase 2: the maps of its user namespace, when an extension gave it one (chapter 6's
    // remapped root), then the later chapters' parent-side steps, with the child's pid (a
    // failure drops `spawned`, which kills the held child).
    spawned
        .write_maps(&config)
        .and_then(|()| spawned.run_parent_steps(&config.steps))
        .map_err(|e| (Some(dir.clone()), e.to_string(), e.exit_code()))?;

    let shared = Arc::new(Shared {
        clients: Mutex::new(Clients {
            list: Vec::new(),
            count: 0,
            ended: None,
        }),
        attached: Condvar::new(),
        stdin: Mutex::new(match stdin_writer {
            Some(pipe) => StdinTarget::Open(pipe),
            None if spec.tty && spec.open_stdin => StdinTarget::Pending {
                early: Vec::new(),
                closed: false,
            },
            None => StdinTarget::Closed,
        }),
        terminal: Mutex::new((None, None)),
        stdin_once: spec.stdin_once,
    });
    let (_dir_handle, socket_path) =
        protocol::short_path(&dir).map_err(|e| fail("opening the container directory", &e))?;
    let _ = std::fs::remove_file(&socket_path);
    let listener =
        UnixListener::bind(&socket_path).map_err(|e| fail("listening on the attach socket", &e))?;
    {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || serve(listener, shared));
    }
    say(report, &Report::Listening { listening: true });

    // Sessions made before the start see everything: wait for them, a bounded time.
    let deadline = Instant::now() + ATTACH_WAIT;
    let mut clients = shared.clients.lock().unwrap_or_else(|p| p.into_inner());
    while clients.count < attachers {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        clients = shared
            .attached
            .wait_timeout(clients, left)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
    drop(clients);

    // Phase 3: let it run.
    let started = spawned.release();
    drop(child_ends);
    drop(null);
    let running = match started {
        Ok(running) => running,
        Err(e) => {
            let code = e.exit_code();
            let message = e.to_string();
            let _ = std::fs::remove_file(&socket_path);
            end_sessions(&shared, code);
            return Err((Some(dir), message, code));
        }
    };
    if let Some(socket) = console_socket {
        let terminal = console::receive_master(socket.as_raw_fd()).and_then(|master| {
            let master = File::from(master);
            Ok((master.try_clone()?, master.try_clone()?, master))
        });
        let (reader, writer, master) = match terminal {
            Ok(ends) => ends,
            Err(e) => {
                // It runs, but nobody could ever read its terminal: end it rather than
                // leave it unwatched.
                let _ = nix::sys::signal::kill(running.pid(), nix::sys::signal::Signal::SIGKILL);
                let _ = running.wait();
                let _ = std::fs::remove_file(&socket_path);
                end_sessions(&shared, 125);
                return Err(fail("receiving the container's terminal", &e));
            }
        };
        {
            let mut terminal = shared.terminal.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((rows, cols)) = terminal.1.take() {
                let _ = pty::set_size(&master, rows, cols);
            }
            terminal.0 = Some(master);
        }
        if spec.open_stdin {
            shared.open_terminal_stdin(writer);
        }
        outputs.push((Stream::Stdout, STDOUT, reader.into()));
    }

    let pid = running.pid().as_raw();
    // Held until we return: when the container's last process exits, the kernel tears down its
    // mount namespace (unmounting the overlay, /proc, /sys, /dev...) before that exit can be
    // reaped, about a third of a millisecond measured. With this reference the teardown
    // happens at our own exit instead, after the daemon has read our last line.
    let _mount_namespace = File::open(format!("/proc/{pid}/ns/mnt"));
    let me = std::process::id() as i32;
    let mut state = RunState {
        status: RunStatus::Running,
        pid: Some(pid),
        pid_start: super::state::process_start(pid),
        monitor_pid: Some(me),
        monitor_start: super::state::process_start(me),
        started_at: Some(now_rfc3339()),
        ..RunState::default()
    };
    let _ = state.save(&dir);
    say(report, &Report::Started { pid });

    let code = std::thread::scope(|scope| {
        let readers: Vec<_> = outputs
            .into_iter()
            .map(|(stream, kind, fd)| {
                let (log, shared) = (&log, &shared);
                scope.spawn(move || copy_output(File::from(fd), stream, kind, log, shared))
            })
            .collect();
        let status = signals::forward_until_exit(&running, &blocked);
        // PID 1 is gone, so the kernel killed the rest: the pipes (or the pty) close.
        for reader in readers {
            let _ = reader.join();
        }
        status.map(|s| s.code()).unwrap_or(255)
    });
    // The exit code is on disk before any session hears of the end.
    state.status = RunStatus::Exited;
    state.exit_code = Some(code);
    state.finished_at = Some(now_rfc3339());
    for extension in extensions {
        extension.exited(&record, &dir, &mut state);
    }
    let _ = state.save(&dir);
    let _ = std::fs::remove_file(&socket_path);
    end_sessions(&shared, code);
    // The daemon may have been restarted since the start, and no longer read the pipe: then
    // this fails (EPIPE), harmlessly, and the new daemon learns of the end from our exit.
    say(report, &Report::Exited { exited: code });
    Ok(())
}
// ANCHOR_END: monitor

/// Copies one output stream of the container to the log and to the attached clients.
fn copy_output(mut from: File, stream: Stream, kind: u8, log: &logs::Writer, shared: &Shared) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let _ = log.copy(stream, &buf[..n]);
                shared.broadcast(kind, &buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO: the terminal's last user closed it.
            Err(_) => return,
        }
    }
}

/// Tells every session the exit code and closes them.
fn end_sessions(shared: &Shared, code: i32) {
    let mut clients = shared.clients.lock().unwrap_or_else(|p| p.into_inner());
    clients.ended = Some(code);
    for mut client in clients.list.drain(..) {
        let _ = protocol::write_message(&mut client.stream, END, &code.to_be_bytes());
        let _ = client.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Accepts connections on the attach socket, a thread each.
fn serve(listener: UnixListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || session(stream, &shared));
    }
}

/// One connection: its hello, then (for an attach) the client's stdin until it ends.
fn session(mut stream: UnixStream, shared: &Shared) {
    let Ok(Some((kind, payload))) = protocol::read_message(&mut stream) else {
        return;
    };
    match kind {
        RESIZE => {
            if let Some((rows, cols)) = protocol::parse_resize(&payload) {
                shared.resize(rows, cols);
            }
            let _ = protocol::write_message(&mut stream, RESIZE, &[]);
        }
        ATTACH => {
            let wants = |i: usize| payload.get(i).is_some_and(|b| *b != 0);
            let stdin = wants(0);
            let Ok(writer) = stream.try_clone() else {
                return;
            };
            // Output goes to every client from one thread per stream, under one lock: a client
            // that stops reading (a paused terminal, a stalled network) must not hold up the
            // container, its log and the other clients. After this long without progress, its
            // write fails and `broadcast` drops it; the container runs on.
            let _ = writer.set_write_timeout(Some(STALLED_CLIENT));
            {
                let mut clients = shared.clients.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(code) = clients.ended {
                    drop(clients);
                    let _ = protocol::write_message(&mut stream, END, &code.to_be_bytes());
                    return;
                }
                clients.list.push(Client {
                    stream: writer,
                    stdout: wants(1),
                    stderr: wants(2),
                });
                clients.count += 1;
            }
            shared.attached.notify_all();
            while let Ok(Some((kind, data))) = protocol::read_message(&mut stream) {
                match kind {
                    STDIN if stdin => shared.write_stdin(&data),
                    // With StdinOnce the container's stdin ends with the first client's.
                    STDIN_CLOSE if stdin && shared.stdin_once => shared.close_stdin(),
                    RESIZE => {
                        if let Some((rows, cols)) = protocol::parse_resize(&data) {
                            shared.resize(rows, cols);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}
