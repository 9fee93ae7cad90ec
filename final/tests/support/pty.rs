//! A command under a pseudo-terminal, typed at like a person would: `docker run -it`.
//!
//! `docker run -it` and `docker exec -it` refuse to start unless their stdin is a terminal
//! ("the input device is not a TTY"), and once started they put that terminal into raw mode
//! and forward every byte. So the test opens a pty pair, gives the slave side to the client as
//! stdin, stdout and stderr, and plays the user on the master side: it waits for the shell's
//! prompt, types a line, and reads everything the client prints until the client exits (the
//! master then reads EIO: no process holds the slave any more).

use std::fs::File;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::pty::{Winsize, openpty};

/// A client running on a pty; see the module documentation.
pub struct PtySession {
    described: String,
    child: Child,
    master: File,
    output: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

/// How the session ended: the client's exit code and everything the terminal showed.
#[derive(Debug)]
pub struct PtyOutput {
    pub code: Option<i32>,
    pub output: String,
}

impl PtySession {
    /// Starts `command` with a fresh 24x80 pty as its stdin, stdout and stderr.
    pub fn spawn(mut command: Command, described: &str) -> PtySession {
        let size = Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(&size, None).expect("opening a pseudo-terminal");
        let slave = File::from(pty.slave);
        command
            .stdin(Stdio::from(slave.try_clone().expect("duplicating the pty")))
            .stdout(Stdio::from(slave.try_clone().expect("duplicating the pty")))
            .stderr(Stdio::from(slave));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting `{described}` on a pty: {e}"));
        // The parent's copies of the slave must go, or the master never sees the end.
        drop(command);
        let master = File::from(pty.master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reading = master.try_clone().expect("duplicating the pty master");
        let sink = Arc::clone(&output);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO (or 0) once every holder of the slave side has exited.
            while let Ok(n) = reading.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&buf[..n]);
            }
        });
        PtySession {
            described: described.to_owned(),
            child,
            master,
            output,
            reader: Some(reader),
        }
    }

    /// What the terminal has shown so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Waits until the terminal shows `needle`; panics with the screen so far after `limit`.
    #[track_caller]
    pub fn expect(&mut self, needle: &str, limit: Duration) {
        let started = Instant::now();
        while !self.output().contains(needle) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "`{}` exited with {status} before showing {needle:?}; it showed:\n{}",
                    self.described,
                    self.output()
                );
            }
            assert!(
                started.elapsed() < limit,
                "`{}` did not show {needle:?} within {limit:?}; it showed:\n{}",
                self.described,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Types `text` (as raw bytes: `\r` is the Enter key of a terminal in raw mode).
    pub fn type_text(&mut self, text: &str) {
        self.master
            .write_all(text.as_bytes())
            .expect("typing into the pty");
    }

    /// Waits for the client to exit (panics after `limit`) and returns all it showed.
    #[track_caller]
    pub fn wait(mut self, limit: Duration) -> PtyOutput {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the pty client") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "`{}` did not exit within {limit:?}; it showed:\n{}",
                    self.described,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // The reader ends with EIO now that the client is gone; a process that inherited the
        // slave and lingers must not hang the test, so the wait is bounded.
        let reader = self.reader.take();
        let deadline = Instant::now() + Duration::from_secs(5);
        if let Some(reader) = reader {
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        PtyOutput {
            code: status.code(),
            output: self.output(),
        }
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
