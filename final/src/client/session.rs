//! An attached session: our stdin, stdout and stderr wired to a container's process.
//!
//! After the hijack (see chapter 4's `upgrade` module) the socket is a two-way byte pipe.
//! Two things happen at once, so there are two threads:
//!
//! * **output** (this thread): read the socket until the daemon closes it, which it does
//!   when the process has exited and its output is flushed. Without a TTY the output is
//!   framed and [`demux`](super::stream::demux)ed; with one it is raw terminal bytes.
//! * **input** (a second thread, with `-i`): copy stdin into the socket. At the end of stdin
//!   it *half-closes* the socket (`shutdown(SHUT_WR)`): the daemon then closes the process's
//!   stdin, and we go on reading output. Without `-i` we half-close at once.
//!
//! On a terminal the input thread also watches for Ctrl-P Ctrl-Q: it then shuts the socket
//! down both ways, which wakes the output thread, and the session ends *detached*. The
//! container is not told anything: for the daemon a client that leaves is just a client
//! that left.
//!
//! Signals are the other input. Without a TTY, Ctrl-C reaches *us* as SIGINT; Docker forwards
//! it to the container (`kill?signal=INT`), so that `run` behaves like the program it runs.
//! With a TTY, Ctrl-C is the byte 0x03 in raw input and the container's terminal makes the
//! signal; we only watch SIGWINCH (to resize the container's terminal) and SIGTERM/SIGHUP (to
//! restore our terminal before leaving).

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use berth_daemon::http::Hijacked;
use nix::sys::signal::{SigSet, Signal};

use super::api::{Api, Target};
use super::stream::{self, StreamError};
use super::terminal;
use crate::detach::{DetachKeys, Keys};

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The daemon closed the stream: the process is done.
    Finished,
    /// The user typed Ctrl-P Ctrl-Q; the process runs on.
    Detached,
}

/// What to attach.
#[derive(Debug, Clone, Copy)]
pub struct Wiring {
    /// The process has a terminal: raw output, detach keys on.
    pub tty: bool,
    /// Copy our stdin to the process.
    pub stdin: bool,
}

/// Pumps the session until the process's output ends or the user detaches.
pub fn pump(hijacked: Hijacked, wiring: Wiring) -> Result<Ending, StreamError> {
    let stream = hijacked.stream;
    // A third handle, for the input thread to shut the socket down both ways on detach.
    let killer = stream.transport().try_clone_boxed()?;
    let (reader, mut writer) = stream.split()?;
    let detached = Arc::new(AtomicBool::new(false));

    if wiring.stdin {
        let detached = Arc::clone(&detached);
        // Detach keys only when a person types: piped input may contain any byte.
        let watch_keys = wiring.tty && io::IsTerminal::is_terminal(&io::stdin());
        std::thread::spawn(move || {
            let ended = copy_input(io::stdin(), &mut writer, watch_keys);
            if ended == InputEnd::Detach {
                detached.store(true, Ordering::SeqCst);
                let _ = killer.shutdown(Shutdown::Both);
            }
            // Dropping `writer` half-closes: the daemon sees the end of stdin.
        });
    } else {
        drop(writer);
    }

    let (mut out, mut err) = (io::stdout().lock(), io::stderr());
    let copied = if wiring.tty {
        stream::copy_raw(reader, &mut out)
    } else {
        stream::demux(reader, &mut out, &mut err)
    };
    if detached.load(Ordering::SeqCst) {
        return Ok(Ending::Detached);
    }
    copied.map(|()| Ending::Finished)
}

/// Why the input copy stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputEnd {
    /// End of stdin, or the socket went away.
    Eof,
    /// Ctrl-P Ctrl-Q.
    Detach,
}

/// Copies `input` into `socket`, watching for the detach keys if asked.
fn copy_input(mut input: impl Read, socket: &mut impl Write, watch_keys: bool) -> InputEnd {
    let mut keys = DetachKeys::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return InputEnd::Eof,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return InputEnd::Eof,
        };
        let (bytes, detach) = if watch_keys {
            match keys.feed(&buf[..n]) {
                Keys::Forward(bytes) => (bytes, false),
                Keys::Detach(bytes) => (bytes, true),
            }
        } else {
            (buf[..n].to_vec(), false)
        };
        if socket
            .write_all(&bytes)
            .and_then(|()| socket.flush())
            .is_err()
        {
            return InputEnd::Eof;
        }
        if detach {
            return InputEnd::Detach;
        }
    }
}

/// The signals a non-TTY `run` forwards to the container (Docker forwards all it can catch):
/// chapter 1's list but SIGWINCH, which only means something to a terminal, and a `run -t`
/// turns into a resize call instead.
fn forwarded() -> Vec<Signal> {
    berth_namespaces::signals::FORWARDED
        .iter()
        .copied()
        .filter(|&signal| signal != Signal::SIGWINCH)
        .collect()
}

/// How many SIGINTs before we stop forwarding and leave, in case the container ignores them
/// (or the daemon hangs) and the user insists.
const INTERRUPTS_BEFORE_LEAVING: u32 = 3;

/// Blocks the forwarded signals in this thread (call before spawning any other thread, which
/// inherits the mask) and forwards them from a thread of their own as `kill?signal=NAME`.
pub fn forward_signals(api: Api, id: String) {
    let set = signal_set(&forwarded());
    if set.thread_block().is_err() {
        return;
    }
    std::thread::spawn(move || {
        let mut interrupts = 0;
        while let Ok(signal) = set.wait() {
            if signal == Signal::SIGINT {
                interrupts += 1;
                if interrupts >= INTERRUPTS_BEFORE_LEAVING {
                    std::process::exit(128 + Signal::SIGINT as i32);
                }
            }
            let name = signal.as_str().trim_start_matches("SIG");
            let _ = api.kill(&id, Some(name));
        }
    });
}

/// For a TTY session: sends our window size on each SIGWINCH (the caller sends the first,
/// once the process exists); on SIGTERM,
/// SIGHUP, SIGINT or SIGQUIT (sent by `kill`, since raw mode turns the keys into bytes)
/// restores the terminal and exits. Call before spawning other threads.
pub fn watch_terminal(api: Api, target: OwnedTarget) {
    let set = signal_set(&[
        Signal::SIGWINCH,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
    ]);
    if set.thread_block().is_err() {
        return;
    }
    std::thread::spawn(move || {
        while let Ok(signal) = set.wait() {
            if signal == Signal::SIGWINCH {
                send_size(&api, &target);
                continue;
            }
            terminal::restore();
            std::process::exit(128 + signal as i32);
        }
    });
}

/// A resize target that can move to another thread.
#[derive(Debug, Clone)]
pub enum OwnedTarget {
    /// A container.
    Container(String),
    /// An exec.
    Exec(String),
}

fn send_size(api: &Api, target: &OwnedTarget) {
    let Some((rows, cols)) = terminal::size() else {
        return;
    };
    let target = match target {
        OwnedTarget::Container(id) => Target::Container(id),
        OwnedTarget::Exec(id) => Target::Exec(id),
    };
    // A resize that fails (the process already left) is not worth an error message.
    let _ = api.resize(target, rows, cols);
}

fn signal_set(signals: &[Signal]) -> SigSet {
    let mut set = SigSet::empty();
    for &signal in signals {
        set.add(signal);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_copied_until_eof() {
        let mut socket = Vec::new();
        assert_eq!(
            copy_input(&b"echo hi\n"[..], &mut socket, false),
            InputEnd::Eof
        );
        assert_eq!(socket, b"echo hi\n");
    }

    #[test]
    fn detach_keys_stop_the_copy_when_watched() {
        let mut socket = Vec::new();
        assert_eq!(
            copy_input(&b"ls\r\x10\x11after"[..], &mut socket, true),
            InputEnd::Detach
        );
        assert_eq!(socket, b"ls\r");
        // Piped input is never taken for keys.
        let mut socket = Vec::new();
        assert_eq!(
            copy_input(&b"\x10\x11"[..], &mut socket, false),
            InputEnd::Eof
        );
        assert_eq!(socket, b"\x10\x11");
    }
}
