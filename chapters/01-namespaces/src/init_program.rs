//! `berth-init`: the small program that `--init` runs as the container's PID 1 (Docker's is
//! tini, bind-mounted read-only at `/sbin/docker-init`).
//!
//! The first process of a PID namespace has two duties most programs never expect:
//!
//! * **Orphans become its children.** When a process dies, its children are re-parented to
//!   the namespace's PID 1, and when they exit they stay zombies until PID 1 waits for them.
//!   A shell does that; `sleep`, a Python script or a JVM do not, and their zombies pile up.
//! * **Signals without a handler are dropped.** The kernel protects init: a SIGTERM to a PID 1
//!   that installed no handler does nothing, so `docker stop` waits its full timeout.
//!
//! `berth-init -- CMD ARG...` does what tini does: it starts the command as its child (PID 2,
//! an ordinary process for which SIGTERM means "terminate"), then loops: every signal it
//! receives is passed on to the command, every child that exits is reaped. When the command
//! exits, init exits with the same code (128 + N if signal N killed it), and the kernel ends
//! whatever is left in the namespace.
//!
//! Why a program of its own and not a fork of the engine: this process lives as long as the
//! container, and its `/proc/1/exe` is a way to the file it runs, for every process inside.
//! A fork of the engine would make that file the engine's binary (CVE-2019-5736's target),
//! and would keep whatever else the engine had mapped. This one is a few hundred kilobytes,
//! statically linked so it runs in any image (the build script of this crate links it against
//! the C library's static archive), and the engine binds it read-only: a write through
//! `/proc/1/exe` fails with `EROFS`.
//!
//! It uses only the standard library and a handful of C library calls declared below, so
//! that the build script can compile it with `rustc` alone (see `init/berth-init.rs`); the
//! crate's tests check those declarations against the `libc` crate.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;

/// glibc's `sigset_t`: 1024 bits, manipulated only through the C library's functions.
#[repr(C)]
pub struct SigSet([u64; 16]);

// The values the kernel gives these names on Linux (x86-64 and arm64 alike).
const SIG_BLOCK: i32 = 0;
const SIG_SETMASK: i32 = 2;
/// `SIGCHLD`: a child exited.
pub const SIGCHLD: i32 = 17;
const WNOHANG: i32 = 1;
const ECHILD: i32 = 10;

/// Signals the kernel sends a process for its own faults: never forwarded (tini's list).
pub const SYNCHRONOUS: [i32; 7] = [4, 5, 6, 7, 8, 11, 31]; // ILL TRAP ABRT BUS FPE SEGV SYS

unsafe extern "C" {
    fn sigfillset(set: *mut SigSet) -> i32;
    fn sigdelset(set: *mut SigSet, signal: i32) -> i32;
    fn sigprocmask(how: i32, set: *const SigSet, old: *mut SigSet) -> i32;
    fn sigwaitinfo(set: *const SigSet, info: *mut [u8; 128]) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn kill(pid: i32, signal: i32) -> i32;
    fn tcsetpgrp(fd: i32, pgrp: i32) -> i32;
    fn getpid() -> i32;
}

/// What went wrong, printed as `berth-init: ...` before exiting like tini (1, or 127 when
/// the command could not be run).
fn fail(code: i32, message: std::fmt::Arguments) -> ! {
    eprintln!("berth-init: {message}");
    std::process::exit(code)
}

/// The command line after the program's name: `[--] CMD ARG...`.
pub fn command_line(mut args: Vec<OsString>) -> Option<Vec<OsString>> {
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    (!args.is_empty()).then_some(args)
}

/// The exit code a shell would report for a wait status: the code, or 128 + the signal.
pub fn exit_code(status: i32) -> i32 {
    let status = std::process::ExitStatus::from_raw(status);
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    }
}

// ANCHOR: main
/// The program: start the command, forward signals to it, reap every child, exit as it did.
pub fn main() -> ! {
    let Some(command) = command_line(std::env::args_os().skip(1).collect()) else {
        fail(1, format_args!("usage: berth-init [--] CMD [ARG...]"))
    };
    // Every signal is blocked first, so none is lost (or acted on by default) before the loop
    // waits for it. The synchronous ones stay deliverable: they are about our own faults.
    let mut all = SigSet([0; 16]);
    let mut before = SigSet([0; 16]);
    // SAFETY: the C library fills and reads sets we own.
    unsafe {
        sigfillset(&mut all);
        for signal in SYNCHRONOUS {
            sigdelset(&mut all, signal);
        }
        sigprocmask(SIG_BLOCK, &all, &mut before);
    }
    let on_terminal = std::io::stdin().is_terminal();
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]).process_group(0);
    // SAFETY: runs in the forked child before exec, and makes only system calls.
    unsafe {
        cmd.pre_exec(move || {
            // The command's own process group in the terminal's foreground, as tini does: a
            // Ctrl-C then reaches it once, from the terminal, not also forwarded by us.
            // (SIGTTOU, which a background group gets for this, is still blocked here.)
            if on_terminal {
                tcsetpgrp(0, getpid());
            }
            // The command starts with the mask we were given, not with everything blocked:
            // the standard library does not reset it.
            sigprocmask(SIG_SETMASK, &before, std::ptr::null_mut());
            Ok(())
        })
    };
    let child = match cmd.spawn() {
        Ok(child) => child.id() as i32,
        Err(e) => fail(
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                126
            } else {
                127
            },
            format_args!("exec {}: {e}", command[0].to_string_lossy()),
        ),
    };
    loop {
        let mut info = [0u8; 128];
        // SAFETY: waits for a signal of a set we own; the kernel fills `info`.
        let signal = unsafe { sigwaitinfo(&all, &mut info) };
        if signal < 0 {
            continue; // EINTR: a stop/continue of ours; nothing to do.
        }
        if signal != SIGCHLD {
            // SAFETY: kill takes integers. ESRCH: it exited meanwhile; SIGCHLD is on its way.
            unsafe { kill(child, signal) };
            continue;
        }
        // SIGCHLD is not queued: several children exiting at once raise it once.
        loop {
            let mut status = 0;
            // SAFETY: writes the status into our integer.
            let pid = unsafe { waitpid(-1, &mut status, WNOHANG) };
            if pid == child {
                std::process::exit(exit_code(status));
            }
            if pid == 0
                || (pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(ECHILD))
            {
                break;
            }
        }
    }
}
// ANCHOR_END: main

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declarations_match_the_c_library() {
        assert_eq!(size_of::<SigSet>(), size_of::<libc::sigset_t>());
        assert_eq!(
            [SIG_BLOCK, SIG_SETMASK, SIGCHLD, WNOHANG, ECHILD],
            [
                libc::SIG_BLOCK,
                libc::SIG_SETMASK,
                libc::SIGCHLD,
                libc::WNOHANG,
                libc::ECHILD
            ]
        );
        let synchronous = [
            libc::SIGILL,
            libc::SIGTRAP,
            libc::SIGABRT,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGSEGV,
            libc::SIGSYS,
        ];
        assert_eq!(SYNCHRONOUS, synchronous);
        assert!(size_of::<[u8; 128]>() >= size_of::<libc::siginfo_t>());
    }

    #[test]
    fn the_command_follows_an_optional_double_dash() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            command_line(args(&["--", "sleep", "1"])),
            Some(args(&["sleep", "1"]))
        );
        assert_eq!(command_line(args(&["sleep"])), Some(args(&["sleep"])));
        assert_eq!(command_line(args(&["--"])), None);
        assert_eq!(command_line(args(&[])), None);
    }

    #[test]
    fn exit_codes_are_the_shells() {
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(libc::SIGTERM), 128 + 15);
        assert_eq!(exit_code(libc::SIGKILL), 137);
    }
}
