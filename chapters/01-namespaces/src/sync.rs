//! The two pipes that hold the child back and bring its news.
//!
//! * The **go** pipe: the child blocks reading it until the parent writes one byte, which it
//!   does after phase 2 (id maps now; cgroups and network devices in later chapters). If the
//!   parent dies or gives up instead, the child reads end-of-file and exits quietly.
//! * The **report** pipe: the child writes a [`Failure`] if a step fails. Both ends are
//!   close-on-exec, so a successful `execve` closes the child's end and the parent reads
//!   end-of-file: "started".
//!
//! runc does the same with a socket pair and a JSON protocol; one byte and one fixed-size record
//! are all we need.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::unistd::pipe2;

use crate::failure::Failure;

/// The parent's ends of the two pipes.
#[derive(Debug)]
pub(crate) struct ParentEnds {
    go: Option<File>,
    report: File,
}

/// The child's ends of the two pipes.
#[derive(Debug)]
pub(crate) struct ChildEnds {
    go: OwnedFd,
    report: OwnedFd,
}

/// Creates both pipes, close-on-exec.
pub(crate) fn pipes() -> Result<(ParentEnds, ChildEnds), Errno> {
    let (go_read, go_write) = pipe2(OFlag::O_CLOEXEC)?;
    let (report_read, report_write) = pipe2(OFlag::O_CLOEXEC)?;
    let parent = ParentEnds {
        go: Some(File::from(go_write)),
        report: File::from(report_read),
    };
    let child = ChildEnds {
        go: go_read,
        report: report_write,
    };
    Ok((parent, child))
}

impl ParentEnds {
    /// Lets the child go on with phase 3. Sending twice is harmless.
    pub fn release(&mut self) -> std::io::Result<()> {
        match self.go.take() {
            Some(mut go) => go.write_all(b"1"),
            None => Ok(()),
        }
    }

    /// The raw descriptors, which the child closes first thing: if it kept a copy of the
    /// go pipe's write end, it could never see the parent go away.
    pub fn raw_fds(&self) -> [i32; 2] {
        let go = self.go.as_ref().map_or(-1, |f| f.as_raw_fd());
        [go, self.report.as_raw_fd()]
    }

    /// Waits for the child's news: `None` once it has exec'd (the pipe closed empty), or
    /// the failure it reported. A report cut short counts as no report.
    pub fn read_report(&mut self) -> std::io::Result<Option<Failure>> {
        let mut bytes = [0u8; Failure::SIZE];
        let mut filled = 0;
        while filled < bytes.len() {
            match self.report.read(&mut bytes[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(if filled == bytes.len() {
            Failure::decode(&bytes)
        } else {
            None
        })
    }
}

impl ChildEnds {
    /// In the child: blocks until the parent says go (`true`) or goes away (`false`).
    pub fn wait_for_parent(&self) -> Result<bool, Errno> {
        let mut byte = [0u8; 1];
        loop {
            match nix::unistd::read(&self.go, &mut byte) {
                Ok(n) => return Ok(n == 1),
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno),
            }
        }
    }

    /// The report pipe's write end: a child hands it over when it closes everything else.
    pub fn report_fd(&self) -> std::os::fd::RawFd {
        self.report.as_raw_fd()
    }

    /// In the child: sends a failure report. Nothing more can be done if this write fails.
    pub fn report(&self, failure: &Failure) {
        let _ = nix::unistd::write(&self.report, &failure.encode());
    }
}
