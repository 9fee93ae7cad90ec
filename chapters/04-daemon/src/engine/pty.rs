//! Terminal sizes: `docker run -t` sends the window size at start and on every change.
//!
//! `TIOCSWINSZ` on a pty's master end sets the size the program on the other end reads with
//! `TIOCGWINSZ` (`stty size`), and the kernel sends its foreground process group SIGWINCH,
//! which is how a full-screen program learns it must redraw.

use std::fs::File;
use std::os::fd::AsRawFd;

/// Sets the window size of the terminal whose master end is `master`.
pub fn set_size(master: &File, rows: u16, cols: u16) -> std::io::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
