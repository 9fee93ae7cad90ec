//! The monitor zygote: a small process that forks monitors, so that a start does not exec one.
//!
//! Every start needs a monitor (`monitor.rs`). Running `berthd monitor ...` costs an `execve`,
//! the dynamic loader's relocations and glibc's start-up (its CPU feature probing traps to the
//! hypervisor on virtual machines): about a millisecond of CPU, and 1.1 to 1.4 ms before the
//! monitor's first line runs, measured on a 2-core VM where a whole `docker run --rm` takes
//! about 20 ms. The zygote pays that once: the engine starts it with the daemon
//! (`berthd monitor --zygote ROOT`), and for each start it only forks a copy of itself, which
//! runs the monitor's code as an exec'd monitor would.
//!
//! The conversation, on a `SOCK_SEQPACKET` socket pair (the zygote's end is its stdin), one
//! message each way per start:
//!
//! - the engine sends `ID ATTACHERS`, with the write end of the monitor's report pipe
//!   attached (`SCM_RIGHTS`): it becomes the monitor's stdout, as with an exec'd monitor;
//! - the zygote answers the monitor's pid, or minus an errno. The monitor is the zygote's
//!   child, not the daemon's: the engine learns of the container's end from the monitor's
//!   last report line (or the end of the pipe), never by waiting for the process.
//!
//! The zygote is single-threaded (a fork copies only the calling thread: a lock held by
//! another thread would stay locked forever in the child), ignores SIGCHLD so that the kernel
//! reaps the monitors it forked, and exits when the engine's end of the socket closes: when
//! the daemon ends, even by SIGKILL. Monitors outlive it, as they outlive the daemon.

use std::fs::File;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};

use berth_daemon::engine::{ExecLauncher, Launched, MonitorLauncher, pipes};

/// The engine's handle on its zygote.
pub struct Zygote {
    /// The engine's end of the socket; one start at a time talks on it.
    socket: Mutex<OwnedFd>,
    /// Kept so that the process is ours to reap; it exits when `socket` closes.
    process: Mutex<Child>,
}

impl Zygote {
    /// Starts `PROGRAM monitor --zygote ROOT`.
    pub fn spawn(program: &Path, root: &Path) -> std::io::Result<Zygote> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let process = Command::new(program)
            .arg("monitor")
            .arg("--zygote")
            .arg(root)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, as each monitor has: a Ctrl-C meant for the daemon's
            // terminal is not for it.
            .process_group(0)
            .spawn()?;
        Ok(Zygote {
            socket: Mutex::new(ours),
            process: Mutex::new(process),
        })
    }

    /// Ends the zygote and reaps it (the monitors it forked run on). Without this, a daemon
    /// that exits leaves it to exit alone, as an orphan that the machine's init must reap.
    pub fn stop(&self) {
        let socket = lock(&self.socket);
        // Its next read returns end-of-file, as when the daemon is gone.
        let _ = nix::sys::socket::shutdown(socket.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        drop(socket);
        let _ = lock(&self.process).wait();
    }

    /// Has a monitor forked for container `id`, to wait for `attachers` sessions; returns the
    /// read end of its report pipe (its stdout).
    pub fn fork_monitor(&self, id: &str, attachers: usize) -> std::io::Result<OwnedFd> {
        let (report, report_write) = pipes::pipe()?;
        let request = format!("{id} {attachers}");
        let socket = lock(&self.socket);
        let fd = socket.as_raw_fd();
        let fds = [report_write.as_raw_fd()];
        sendmsg::<()>(
            fd,
            &[IoSlice::new(request.as_bytes())],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )?;
        // The monitor holds its copy now: ours must go, or its end would never be seen.
        drop(report_write);
        let (answer, _) = receive(fd)?;
        drop(socket);
        match answer
            .get(..4)
            .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
        {
            Some(pid) if pid > 0 => Ok(report),
            Some(errno) if errno < 0 => Err(std::io::Error::from_raw_os_error(-errno)),
            // No answer: the zygote is gone.
            _ => Err(std::io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

/// berthd's [`MonitorLauncher`]: forks monitors from its zygote, and exec's them (chapter 4's
/// [`ExecLauncher`]) if the zygote could not be started or has died.
pub struct ZygoteLauncher {
    /// `None` if it could not be started.
    zygote: Option<Zygote>,
    exec: ExecLauncher,
}

impl ZygoteLauncher {
    /// Starts a zygote of `program` for the store at `root`.
    pub fn new(program: PathBuf, root: &Path) -> ZygoteLauncher {
        ZygoteLauncher {
            zygote: Zygote::spawn(&program, root).ok(),
            exec: ExecLauncher::new(program),
        }
    }
}

impl MonitorLauncher for ZygoteLauncher {
    fn launch(&self, root: &Path, id: &str, attachers: usize) -> std::io::Result<Launched> {
        if let Some(Ok(report)) = self.zygote.as_ref().map(|z| z.fork_monitor(id, attachers)) {
            // The monitor is the zygote's child: the engine hears of its end from its report.
            return Ok(Launched {
                report: report.into(),
                child: None,
            });
        }
        self.exec.launch(root, id, attachers)
    }

    fn shutdown(&self) {
        if let Some(zygote) = &self.zygote {
            zygote.stop();
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Receives one message and the descriptor attached to it, if any (close-on-exec).
fn receive(socket: RawFd) -> std::io::Result<(Vec<u8>, Option<OwnedFd>)> {
    let mut buf = [0u8; 512];
    let mut space = nix::cmsg_space!(RawFd);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let message = loop {
        match recvmsg::<()>(
            socket,
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other?,
        }
    };
    let mut fd = None;
    for cmsg in message.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            for raw in fds {
                // SAFETY: the kernel just installed this descriptor for us; nothing else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                fd.get_or_insert(owned);
            }
        }
    }
    let len = message.bytes;
    Ok((buf[..len].to_vec(), fd))
}

/// The zygote's main loop (`berthd monitor --zygote ROOT`); fd 0 is its socket.
pub fn serve(root: &Path) -> i32 {
    // SAFETY: setting a disposition, before any thread exists (and none ever will).
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let Ok(null) = File::open("/dev/null") else {
        return 1;
    };
    loop {
        let Ok((request, report)) = receive(0) else {
            return 1;
        };
        if request.is_empty() {
            return 0; // The engine's end closed: the daemon is gone.
        }
        let text = String::from_utf8_lossy(&request);
        let mut words = text.split(' ');
        let (Some(id), Some(attachers), Some(report)) = (words.next(), words.next(), report) else {
            answer(-libc::EINVAL);
            continue;
        };
        let args = [
            root.display().to_string(),
            id.to_owned(),
            attachers.to_owned(),
        ];
        // SAFETY: this process is single-threaded, so the child is a whole copy of it.
        match unsafe { libc::fork() } {
            0 => std::process::exit(monitor(&args, &report, &null)),
            -1 => answer(-nix::errno::Errno::last_raw()),
            pid => answer(pid),
        }
    }
}

/// Answers a request: the monitor's pid, or minus an errno.
fn answer(pid: i32) {
    let bytes = pid.to_ne_bytes();
    let _ = sendmsg::<()>(
        0,
        &[IoSlice::new(&bytes)],
        &[],
        MsgFlags::MSG_NOSIGNAL,
        None,
    );
}

/// In the forked child: becomes what an exec'd monitor would be, runs it, returns its code.
fn monitor(args: &[String], report: &OwnedFd, null: &File) -> i32 {
    // SAFETY: plain syscalls on our own descriptors and dispositions, in a single-threaded
    // process. The monitor reaps its container itself: SIGCHLD back to its default; stdout
    // the report pipe; stdin /dev/null (it was the zygote's socket, which must not outlive
    // the zygote in us); a process group of its own.
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
        if libc::dup2(report.as_raw_fd(), 1) < 0 || libc::dup2(null.as_raw_fd(), 0) < 0 {
            return 125;
        }
        libc::setpgid(0, 0);
    }
    super::monitor_main(args)
}
