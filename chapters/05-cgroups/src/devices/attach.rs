//! Loading a device filter into the kernel and attaching it to a cgroup: two `bpf(2)` calls.
//!
//! `BPF_PROG_LOAD` hands the kernel the instructions; its verifier checks them (every path
//! ends in `exit` with `r0` set, loads stay inside the 12-byte context) and answers with a
//! file descriptor for the program. `BPF_PROG_ATTACH` attaches it to a cgroup, given as an
//! open directory, at the `BPF_CGROUP_DEVICE` hook. The attachment lives with the cgroup, not
//! with our descriptor: we close it, and the program is released when the cgroup is removed.
//! runc attaches with `BPF_F_ALLOW_MULTI`, so that a program attached below (a container
//! runtime inside the container) runs *in addition to* ours, never instead: we do the same.
//! glibc has no wrapper for `bpf(2)`, and the `libc` crate has only its number; the attribute
//! structures are written out here from `linux/bpf.h`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::devices::asm::Insn;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// Why a filter could not be loaded or attached.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("loading the device filter ({insns} instructions) into the kernel: {source}{log}")]
    Load {
        insns: usize,
        source: std::io::Error,
        /// The verifier's explanation, if it gave one.
        log: String,
    },
    #[error("opening cgroup {path} to attach the device filter: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} the device filter of cgroup {path}: {source}")]
    Attach {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The part of `union bpf_attr` that `BPF_PROG_LOAD` reads, up to `expected_attach_type`
/// (the kernel takes a shorter structure than its own, as long as what it lacks is zero).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The part of `union bpf_attr` that `BPF_PROG_ATTACH` and `BPF_PROG_DETACH` read.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// The part of `union bpf_attr` that `BPF_PROG_QUERY` reads and fills.
#[repr(C)]
#[derive(Default)]
struct ProgQueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
}

/// The part of `union bpf_attr` that `BPF_PROG_GET_FD_BY_ID` reads.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, fully initialised `repr(C)` structure of the layout the
    // kernel expects for `cmd`, and its size is passed with it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

// ANCHOR: load
/// Loads `program` as a cgroup device program; the verifier's log is in the error.
pub fn load(program: &[Insn]) -> Result<OwnedFd, AttachError> {
    // Without a log first: the verifier writing its log of every instruction costs more
    // than the verification (1.2 ms against 0.3 here). Asked again with one if it refuses.
    match load_with_log(program, &mut []) {
        Ok(fd) => Ok(fd),
        Err(_) => {
            let mut log = vec![0u8; 64 * 1024];
            load_with_log(program, &mut log).map_err(|source| {
                let end = log.iter().position(|b| *b == 0).unwrap_or(0);
                let text = String::from_utf8_lossy(&log[..end]).trim().to_owned();
                AttachError::Load {
                    insns: program.len(),
                    source,
                    log: if text.is_empty() {
                        String::new()
                    } else {
                        format!("; the verifier says:\n{text}")
                    },
                }
            })
        }
    }
}

/// `BPF_PROG_LOAD`, with the verifier's log written to `log` if it is not empty.
fn load_with_log(program: &[Insn], log: &mut [u8]) -> std::io::Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..13].copy_from_slice(b"berth_devices");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: program.len() as u32,
        insns: program.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: u32::from(!log.is_empty()),
        log_size: log.len() as u32,
        log_buf: if log.is_empty() {
            0
        } else {
            log.as_mut_ptr() as u64
        },
        prog_name: name,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..ProgLoadAttr::default()
    };
    let fd = bpf(BPF_PROG_LOAD, &mut attr)?;
    // SAFETY: a successful BPF_PROG_LOAD returns a new descriptor that only we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attaches a loaded device program to the cgroup directory `dir` (a v2 cgroup), in place
/// of the device programs an earlier start of the same container attached there: the new
/// one first, so that the cgroup is never without a filter.
pub fn attach(program: &OwnedFd, dir: &Path) -> Result<(), AttachError> {
    let cgroup = std::fs::File::open(dir).map_err(|source| AttachError::Open {
        path: dir.to_owned(),
        source,
    })?;
    let fail = |what| {
        move |source| AttachError::Attach {
            what,
            path: dir.to_owned(),
            source,
        }
    };
    let earlier = attached(&cgroup).map_err(fail("listing"))?;
    let mut attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(fail("attaching"))?;
    for old in earlier {
        let mut attr = ProgAttachAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: old.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            attach_flags: 0,
        };
        bpf(BPF_PROG_DETACH, &mut attr).map_err(fail("detaching an earlier"))?;
    }
    Ok(())
}

/// The device programs attached to `cgroup` itself (not its parents'), as descriptors.
fn attached(cgroup: &std::fs::File) -> std::io::Result<Vec<OwnedFd>> {
    let mut ids = [0u32; 64];
    let mut query = ProgQueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..ProgQueryAttr::default()
    };
    bpf(BPF_PROG_QUERY, &mut query)?;
    let count = (query.prog_cnt as usize).min(ids.len());
    let mut fds = Vec::with_capacity(count);
    for id in &ids[..count] {
        let mut attr = GetFdAttr {
            prog_id: *id,
            ..GetFdAttr::default()
        };
        let fd = bpf(BPF_PROG_GET_FD_BY_ID, &mut attr)?;
        // SAFETY: a new descriptor for the program, owned by us alone.
        fds.push(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    }
    Ok(fds)
}
// ANCHOR_END: load
