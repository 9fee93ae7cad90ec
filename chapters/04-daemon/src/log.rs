//! A daemon's log lines, which must never kill it.
//!
//! A daemon writes its log to stderr, and stderr is often a pipe to whatever started it: a
//! terminal that was closed, a supervisor that went away. Writing to a pipe nobody reads fails
//! with `EPIPE` (Rust ignores the `SIGPIPE` that would otherwise kill the process), and
//! `eprintln!` turns that failure into a panic: the daemon would die of a log line, with exit
//! code 101 and every client cut off. [`say`] writes the line and forgets a failure.

use std::io::Write;

/// Writes one line to stderr; a failure to write is ignored.
pub fn say(line: std::fmt::Arguments) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `eprintln!` for daemons: `daemon_log!("accept failed: {e}")` never panics.
#[macro_export]
macro_rules! daemon_log {
    ($($arg:tt)*) => {
        $crate::log::say(format_args!($($arg)*))
    };
}
