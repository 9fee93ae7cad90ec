//! The user's terminal during `run -it` and `exec -it`.
//!
//! With `-t` the container has a pseudo-terminal of its own, and *its* line discipline does
//! the echoing, the line editing and the Ctrl-C → SIGINT. Ours must step aside: in **raw
//! mode** every key goes to the container as typed, and nothing is echoed twice. Raw mode is a
//! setting of the terminal, not of the process, so it outlives us: a client that exits
//! without restoring it leaves the shell with no echo and no line editing (`stty sane` to
//! fix). [`RawMode`] therefore restores it on every exit path: when the guard is dropped
//! (normal return, `?`), from a panic hook, and from the signal thread before exiting on
//! SIGTERM or SIGHUP. Only SIGKILL cannot be helped.
//!
//! Two more terminal duties: the container's terminal must have our window's size (sent at
//! start and on each SIGWINCH), and Ctrl-P Ctrl-Q *detaches*: the client leaves, the container
//! keeps running. The keys are Docker's; [`DetachKeys`](crate::detach::DetachKeys) spots them in
//! the typed bytes.

use std::io::{self, IsTerminal};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::{Mutex, Once};

use nix::sys::termios::{self, SetArg, Termios};

/// The terminal's settings before raw mode, with the descriptor they belong to: read by the
/// guard, the panic hook and the signal thread, whichever comes first.
static SAVED: Mutex<Option<(i32, Termios)>> = Mutex::new(None);

/// Puts the terminal back as it was, if raw mode is on. Safe to call from anywhere, any
/// number of times.
pub fn restore() {
    let saved = match SAVED.lock() {
        Ok(mut saved) => saved.take(),
        // A thread panicked while holding the lock: the settings are still there.
        Err(poisoned) => poisoned.into_inner().take(),
    };
    if let Some((fd, settings)) = saved {
        // SAFETY: `fd` is 0, 1 or 2, open for the life of the process.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        // TCSADRAIN: let pending output reach the screen first, as `stty` does.
        let _ = termios::tcsetattr(fd, SetArg::TCSADRAIN, &settings);
    }
}

/// Raw mode on stdin while alive.
#[derive(Debug)]
pub struct RawMode {
    _private: (),
}

impl RawMode {
    /// Switches stdin to raw mode, or does nothing (`Ok(None)`) if stdin is not a terminal.
    pub fn enable() -> io::Result<Option<RawMode>> {
        let stdin = io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        install_panic_hook();
        let original = termios::tcgetattr(&stdin)?;
        let mut raw = original.clone();
        termios::cfmakeraw(&mut raw);
        // cfmakeraw also clears OPOST; keep output processing as it was, so that messages we
        // print ourselves (errors) still start at column 0. The container's terminal sends
        // "\r\n" itself.
        raw.output_flags = original.output_flags;
        *SAVED.lock().unwrap_or_else(|p| p.into_inner()) = Some((stdin.as_raw_fd(), original));
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw)?;
        Ok(Some(RawMode { _private: () }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

/// Chains a hook that restores the terminal before the default panic message is printed (so
/// the message is readable too).
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// The size of our terminal (rows, columns): stdout's, else stdin's; `None` off a terminal.
pub fn size() -> Option<(u16, u16)> {
    [1, 0].into_iter().find_map(|fd| {
        let mut size = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we pass.
        let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0;
        (ok && size.ws_row > 0 && size.ws_col > 0).then_some((size.ws_row, size.ws_col))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_without_raw_mode_does_nothing() {
        restore();
        restore();
    }
}
