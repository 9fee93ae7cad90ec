//! File descriptors: a child hands over only the ones it means to.
//!
//! Every descriptor a process has open survives `clone`, `fork` and (unless it is marked
//! close-on-exec) `execve`. A daemon has many: its listening socket, a directory another
//! thread is listing, whatever its own parent left it. If one of them reaches a container, the
//! container has a handle on the host that no namespace takes away: a directory descriptor
//! opened on the host is a door out of any `chroot` or `pivot_root` (`fchdir` to it, or name
//! it as `/proc/self/fd/N`). That is CVE-2024-21626 in runc, a leaked descriptor used as the
//! working directory.
//!
//! So each child ends its set-up by closing, or marking close-on-exec, everything it does not
//! hand over, with one system call: `close_range(2)` (Linux 5.9), which runc uses too. Marking
//! is enough for a process that nobody else can see before it execs (a container's PID 1);
//! a process entering a running container closes them for real, because a process already in
//! there could look at its `/proc/<pid>/fd` first (`enter.rs`).
//!
//! A daemon does the same to what *it* inherited: berthd marks every descriptor from 3 up
//! close-on-exec first thing at start ([`close_on_exec_from_3`]), so a descriptor its
//! parent left open (a shell's `exec 7</etc/hostname`, a supervisor's socket) reaches none
//! of the processes it runs: its zygote, monitors, registry helpers, containers.
//!
//! Like everything in the child, these functions allocate nothing.

use std::ffi::CStr;
use std::os::fd::RawFd;

use nix::errno::Errno;

/// `close_range(first, last, flags)`: closes (or, with `CLOSE_RANGE_CLOEXEC`, marks) a range.
fn close_range(first: u32, last: u32, flags: libc::c_uint) -> Result<(), Errno> {
    // SAFETY: close_range takes numbers only; the caller owns every descriptor in the range.
    let done = unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) };
    if done < 0 { Err(Errno::last()) } else { Ok(()) }
}

// ANCHOR: hygiene
/// Marks every descriptor from 3 up close-on-exec: the command gets 0, 1 and 2 only.
pub fn close_on_exec_from_3() -> Result<(), Errno> {
    close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC)
}

/// Closes every descriptor from 3 up except those in `keep`, which must be sorted (the
/// parent sorts them: the child cannot allocate).
pub(crate) fn close_all_but(keep: &[RawFd]) -> Result<(), Errno> {
    let mut first: u32 = 3;
    for &fd in keep {
        let Ok(fd) = u32::try_from(fd) else { continue };
        if fd > first {
            close_range(first, fd - 1, 0)?;
        }
        first = first.max(fd.saturating_add(1));
    }
    close_range(first, u32::MAX, 0)
}
// ANCHOR_END: hygiene

/// The descriptors to keep, sorted and without repeats, as [`close_all_but`] wants them.
pub(crate) fn keep_list(fds: impl IntoIterator<Item = RawFd>) -> Vec<RawFd> {
    let mut keep: Vec<RawFd> = fds.into_iter().filter(|fd| *fd >= 0).collect();
    keep.sort_unstable();
    keep.dedup();
    keep
}

/// `/proc/self/fd/N` for `fd`, written into `buf` without allocating (for a child between
/// `clone` and `execve`, which mounts on descriptors: chapter 8, and `--init`'s mount).
pub fn fd_path(fd: RawFd, buf: &mut [u8; 32]) -> &CStr {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 12];
    let mut n = fd.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[PREFIX.len() + i] = digits[len - 1 - i];
    }
    buf[PREFIX.len() + len] = 0;
    // The buffer holds one NUL, written just above.
    CStr::from_bytes_until_nul(&buf[..]).unwrap_or(c"/proc/self/fd/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn fd_paths_are_written_without_allocating() {
        let mut buf = [0u8; 32];
        assert_eq!(super::fd_path(7, &mut buf), c"/proc/self/fd/7");
        assert_eq!(super::fd_path(1234, &mut buf), c"/proc/self/fd/1234");
        assert_eq!(super::fd_path(0, &mut buf), c"/proc/self/fd/0");
    }

    #[test]
    fn keep_lists_are_sorted_and_unique() {
        assert_eq!(keep_list([9, -1, 4, 9, 0]), [0, 4, 9]);
    }

    #[test]
    fn closes_all_but_the_kept_ones_in_a_forked_child() {
        let a = std::fs::File::open("/").unwrap();
        let b = std::fs::File::open("/").unwrap();
        let c = std::fs::File::open("/").unwrap();
        let keep = keep_list([b.as_raw_fd()]);
        let alive = |fd: RawFd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
        // SAFETY: the child makes system calls only, then _exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let ok = close_all_but(&keep).is_ok()
                    && !alive(a.as_raw_fd())
                    && alive(b.as_raw_fd())
                    && !alive(c.as_raw_fd())
                    && alive(2);
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
