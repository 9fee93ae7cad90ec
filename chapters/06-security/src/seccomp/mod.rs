//! seccomp: the system calls a container may make at all.
//!
//! Capabilities decide what root may do; seccomp decides which system calls reach the kernel
//! in the first place. Docker loads a filter into every container that allows about 300
//! syscalls and fails the rest with `EPERM`: the ones that manage the machine (`reboot`,
//! `kexec_load`, modules, the clock), the ones with a history of kernel bugs
//! (`userfaultfd`, `bpf`, `keyctl`), the ones that leave the container (`mount`, `setns`,
//! `unshare`, `clone` with namespace flags, `open_by_handle_at`), each allowed again when the
//! container was given the capability that goes with it. A filter is inherited by every child
//! and can never be removed, only made stricter.
//!
//! Berth builds the filter itself: `profile.rs` reads Docker's JSON format, `bpf.rs` compiles
//! it to a BPF program of ~700 instructions in a layout you can read, and [`Seccomp`] loads it.
//! (The crates `seccompiler` and `libseccomp` do this too; a generator of our own is a page of
//! code and shows what a filter is. And the child must not allocate: the program is built in
//! the parent, the child makes one system call.)
//!
//! **When it is loaded.** Installing a filter needs either `no_new_privs` or `CAP_SYS_ADMIN`
//! (so that a setuid program cannot be run under a filter that makes it misbehave). With
//! `no_new_privs`, the filter is the very last step (`BeforeExec`). Without it, runc loads the
//! filter *before* dropping capabilities and switching user, and so does Berth (first step of
//! `BeforeUser`); the profile allows the few calls that remain (`capset`, `prctl`, `setuid`,
//! `close_range`, `execve`).

pub mod bpf;
pub mod profile;
mod syscalls;

use berth_namespaces::{ChildPhase, ChildStep};
use nix::errno::Errno;

/// The child step that loads a compiled filter.
#[derive(Debug)]
pub struct Seccomp {
    program: Vec<libc::sock_filter>,
    phase: ChildPhase,
}

impl Seccomp {
    /// Prepares the step; `last` when `no_new_privs` is set (see the module docs).
    pub fn new(program: Vec<libc::sock_filter>, last: bool) -> Seccomp {
        let phase = if last {
            ChildPhase::BeforeExec
        } else {
            ChildPhase::BeforeUser
        };
        Seccomp { program, phase }
    }
}

// ANCHOR: load
impl ChildStep for Seccomp {
    fn name(&self) -> &str {
        "loading the seccomp filter"
    }

    fn phase(&self) -> ChildPhase {
        self.phase
    }

    fn run(&self) -> Result<(), Errno> {
        let prog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr().cast_mut(),
        };
        // SAFETY: the kernel copies the program, which lives as long as the step.
        let done = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if done != 0 {
            Err(Errno::last())
        } else {
            Ok(())
        }
    }
}
// ANCHOR_END: load
