//! A terminal for the container: `docker run -t`.
//!
//! A shell behaves differently on a terminal: it prints a prompt, Ctrl-C becomes SIGINT, and
//! the window size reaches full-screen programs. The terminal must be the container's own:
//! its devpts instance is private (see `devices.rs`), so a pty opened on the host would be
//! invisible inside (`tty` would say "not a tty"). runc's answer, which we copy: the child
//! opens `/dev/ptmx` *after* `pivot_root`, makes the other end (the "slave") its controlling
//! terminal and its stdin, stdout and stderr, and sends the master end to the parent over a
//! UNIX socket (`SCM_RIGHTS`), the "console socket". The parent then reads and writes the
//! terminal from outside.
//!
//! Like everything between `clone` and `exec`, this code makes no memory allocation.

use std::os::fd::RawFd;

use nix::errno::Errno;

use crate::failure::{Failure, Step};

/// How the command gets a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Console {
    /// Our end of a UNIX socket pair: the master end of the new pty is sent over it.
    pub socket: RawFd,
    /// The window size to start with, `(rows, cols)`.
    pub size: Option<(u16, u16)>,
}

/// [`Failure::item`] values of [`Step::Console`].
pub(crate) mod item {
    pub const OPEN_PTMX: u16 = 0;
    pub const UNLOCK: u16 = 1;
    pub const OPEN_PEER: u16 = 2;
    pub const WINSIZE: u16 = 3;
    pub const SEND: u16 = 4;
    pub const SETSID: u16 = 5;
    pub const CONTROLLING: u16 = 6;
    pub const STDIO: u16 = 7;
}

/// What item `item` of the console step was doing, for error messages.
pub(crate) fn describe(item: u16) -> &'static str {
    match item {
        item::OPEN_PTMX => "opening /dev/ptmx for the terminal",
        item::UNLOCK => "unlocking the new pty",
        item::OPEN_PEER => "opening the terminal end of the pty",
        item::WINSIZE => "setting the terminal's window size",
        item::SEND => "sending the pty to the parent over the console socket",
        item::SETSID => "starting a new session (setsid)",
        item::CONTROLLING => "making the pty the controlling terminal",
        _ => "installing the pty as stdin, stdout and stderr",
    }
}

// ANCHOR: console
/// In the child, after `pivot_root`: opens a pty in the container's devpts, sends its master
/// end to the parent, and makes the other end the controlling terminal and fds 0, 1 and 2.
pub(crate) fn set_up(console: &Console) -> Result<(), Failure> {
    let fail = |item| move |errno| Failure::new(Step::Console, item, errno);
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: plain system calls on a constant path and descriptors we own; no allocation.
    let master = unsafe { libc::open(c"/dev/ptmx".as_ptr(), flags) };
    let master = check(master).map_err(fail(item::OPEN_PTMX))?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int.
    check(unsafe { libc::ioctl(master, libc::TIOCSPTLCK, &unlock) }).map_err(fail(item::UNLOCK))?;
    // TIOCGPTPEER (Linux 4.13) opens the slave without a path, so no name lookup can race.
    // SAFETY: the ioctl takes open flags as its argument.
    let peer = unsafe { libc::ioctl(master, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY) };
    let peer = check(peer).map_err(fail(item::OPEN_PEER))?;
    if let Some((rows, cols)) = console.size {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize.
        check(unsafe { libc::ioctl(peer, libc::TIOCSWINSZ, &size) })
            .map_err(fail(item::WINSIZE))?;
    }
    send_fd(console.socket, master).map_err(fail(item::SEND))?;
    // SAFETY: our own descriptors; the parent has its copy of the master now.
    unsafe {
        libc::close(master);
        libc::close(console.socket);
    }
    // A new session with the pty as its controlling terminal: the kernel then turns a 0x03
    // typed on the master into SIGINT for the foreground process group.
    // SAFETY: setsid and ioctl take no pointers we do not own.
    check(unsafe { libc::setsid() }).map_err(fail(item::SETSID))?;
    check(unsafe { libc::ioctl(peer, libc::TIOCSCTTY, 0) }).map_err(fail(item::CONTROLLING))?;
    for target in 0..3 {
        // SAFETY: dup2 onto the standard descriptors.
        check(unsafe { libc::dup2(peer, target) }).map_err(fail(item::STDIO))?;
    }
    if peer > 2 {
        // SAFETY: the copies on 0, 1 and 2 stay open.
        unsafe { libc::close(peer) };
    }
    Ok(())
}
// ANCHOR_END: console

fn check(ret: libc::c_int) -> Result<libc::c_int, Errno> {
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

/// Sends one descriptor over a UNIX socket, with a stack buffer for the control message.
fn send_fd(socket: RawFd, fd: RawFd) -> Result<(), Errno> {
    // Room for one cmsghdr carrying one int, aligned as the kernel wants.
    let mut control = [0u64; 4];
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<RawFd>() as u32) } as usize;
    // SAFETY: the control buffer is large enough for one cmsg with one int (checked above
    // by CMSG_SPACE fitting in 32 bytes), and CMSG_FIRSTHDR points into it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as usize;
        std::ptr::copy_nonoverlapping(&fd, libc::CMSG_DATA(cmsg).cast::<RawFd>(), 1);
    }
    loop {
        // SAFETY: msg points to live buffers.
        let sent = unsafe { libc::sendmsg(socket, &msg, libc::MSG_NOSIGNAL) };
        match check(sent as libc::c_int) {
            Err(Errno::EINTR) => continue,
            other => return other.map(drop),
        }
    }
}

/// In the parent: receives the master end of the container's pty from the console socket.
/// Blocks until the child has sent it (it does so before it execs).
pub fn receive_master(socket: RawFd) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let mut control = [0u64; 4];
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: as in send_fd.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control);
    loop {
        // SAFETY: msg points to live buffers; MSG_CMSG_CLOEXEC keeps the fd from leaking.
        let n = unsafe { libc::recvmsg(socket, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        break;
    }
    // SAFETY: CMSG_FIRSTHDR checks msg_controllen before pointing into the buffer.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    // SAFETY: a non-null cmsg points into `control`; SCM_RIGHTS carries ints.
    unsafe {
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            return Err(std::io::Error::other(
                "the container closed its console socket without sending a terminal",
            ));
        }
        let mut fd: RawFd = -1;
        std::ptr::copy_nonoverlapping(libc::CMSG_DATA(cmsg).cast::<RawFd>(), &mut fd, 1);
        Ok(std::os::fd::OwnedFd::from_raw_fd(fd))
    }
}
