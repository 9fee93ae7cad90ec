//! Handing a batch to nftables: in-process through `libnftables`, or by running `nft -f -`.
//!
//! `nft` is a thin program over `libnftables`, the library that parses the rule language and
//! sends the kernel one netlink transaction. Running the program for each change costs a
//! process spawn and its start-up, and closing its netlink socket at exit took another
//! 5-24 ms on this (busy) machine: 13-16 ms per change in all. The same batch through a
//! library context that stays open costs 0.5-0.9 ms (measured with
//! `tests/bench_firewall.rs`). So Berth loads the library at run time (`dlopen`: building
//! Berth needs no nftables headers) and keeps one context, with its socket, per
//! [`Nft`]; where the library is missing it falls back to the program.
//!
//! A netlink socket belongs to the network namespace it was opened in, so an [`Nft`] acts in
//! the namespace of the thread that made it, whichever thread applies a batch later; the
//! program fallback joins that same namespace before it runs `nft`.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Why a batch was not applied: nothing of it was.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// `nft` could not be run.
    #[error("cannot run {nft}")]
    Spawn {
        /// The program.
        nft: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// nftables refused the batch.
    #[error("{by} refused the batch: {message}")]
    Refused {
        /// `libnftables` or the `nft` program.
        by: String,
        /// What it said.
        message: String,
    },
}

type CtxNew = unsafe extern "C" fn(u32) -> *mut c_void;
type CtxFree = unsafe extern "C" fn(*mut c_void);
type CtxFlag = unsafe extern "C" fn(*mut c_void) -> c_int;
type CtxBuffer = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type Run = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;

/// The few functions of `libnftables.so.1` Berth calls (see `libnftables(3)`).
struct Library {
    ctx_new: CtxNew,
    ctx_free: CtxFree,
    buffer_output: CtxFlag,
    buffer_error: CtxFlag,
    error_buffer: CtxBuffer,
    run: Run,
}

fn library() -> Option<&'static Library> {
    static LIBRARY: OnceLock<Option<Library>> = OnceLock::new();
    LIBRARY
        .get_or_init(|| {
            // SAFETY: dlopen and dlsym with NUL-terminated names; each symbol is cast to the
            // signature libnftables(3) documents for it. The handle is never closed, so the
            // function pointers stay valid for the life of the process.
            unsafe {
                let handle = libc::dlopen(c"libnftables.so.1".as_ptr(), libc::RTLD_NOW);
                if handle.is_null() {
                    return None;
                }
                let symbol = |name: &CStr| {
                    let f = libc::dlsym(handle, name.as_ptr());
                    (!f.is_null()).then_some(f)
                };
                use std::mem::transmute;
                Some(Library {
                    ctx_new: transmute::<*mut c_void, CtxNew>(symbol(c"nft_ctx_new")?),
                    ctx_free: transmute::<*mut c_void, CtxFree>(symbol(c"nft_ctx_free")?),
                    buffer_output: transmute::<*mut c_void, CtxFlag>(symbol(
                        c"nft_ctx_buffer_output",
                    )?),
                    buffer_error: transmute::<*mut c_void, CtxFlag>(symbol(
                        c"nft_ctx_buffer_error",
                    )?),
                    error_buffer: transmute::<*mut c_void, CtxBuffer>(symbol(
                        c"nft_ctx_get_error_buffer",
                    )?),
                    run: transmute::<*mut c_void, Run>(symbol(c"nft_run_cmd_from_buffer")?),
                })
            }
        })
        .as_ref()
}

/// A way to apply batches in one network namespace (the creating thread's).
pub struct Nft {
    how: How,
}

enum How {
    /// An open `libnftables` context (its netlink socket is open too).
    Library(&'static Library, *mut c_void),
    /// No library: run `nft` in the namespace kept open here.
    Program(std::fs::File),
}

// SAFETY: the context is only used through `&mut self` (one thread at a time), and
// libnftables keeps no thread-local state in it.
unsafe impl Send for Nft {}

impl Nft {
    /// Opens a context in the calling thread's network namespace.
    pub fn open() -> Result<Nft, NftError> {
        if let Some(lib) = library() {
            // SAFETY: nft_ctx_new(NFT_CTX_DEFAULT) has no preconditions; buffering makes
            // nothing print on the daemon's stdout or stderr.
            let ctx = unsafe { (lib.ctx_new)(0) };
            if !ctx.is_null() {
                unsafe {
                    (lib.buffer_output)(ctx);
                    (lib.buffer_error)(ctx);
                }
                return Ok(Nft {
                    how: How::Library(lib, ctx),
                });
            }
        }
        let netns =
            std::fs::File::open("/proc/thread-self/ns/net").map_err(|source| NftError::Spawn {
                nft: PathBuf::from("/proc/thread-self/ns/net"),
                source,
            })?;
        Ok(Nft {
            how: How::Program(netns),
        })
    }

    /// Applies `batch` as one transaction: all of it, or (with an error) none of it.
    pub fn apply(&mut self, batch: &str) -> Result<(), NftError> {
        match &self.how {
            How::Library(lib, ctx) => apply_in_process(lib, *ctx, batch),
            How::Program(netns) => apply_with_program(Some(netns), batch),
        }
    }
}

impl Drop for Nft {
    fn drop(&mut self) {
        if let How::Library(lib, ctx) = self.how {
            // SAFETY: the context was made by nft_ctx_new and is freed once, here.
            unsafe { (lib.ctx_free)(ctx) }
        }
    }
}

impl std::fmt::Debug for Nft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.how {
            How::Library(..) => "Nft(libnftables)",
            How::Program(_) => "Nft(nft program)",
        })
    }
}

fn apply_in_process(lib: &Library, ctx: *mut c_void, batch: &str) -> Result<(), NftError> {
    let refused = |message: String| NftError::Refused {
        by: "libnftables".into(),
        message,
    };
    let batch = CString::new(batch).map_err(|_| refused("the batch holds a NUL byte".into()))?;
    // SAFETY: `ctx` is an open context used by one thread at a time (see `Nft`); the error
    // buffer it returns is valid until the next call on it, and copied before that.
    unsafe {
        let rc = (lib.run)(ctx, batch.as_ptr());
        // Read (and so empty) the error buffer after every run, or the next run's errors
        // would follow this one's.
        let message = (lib.error_buffer)(ctx);
        let message = if message.is_null() {
            String::new()
        } else {
            CStr::from_ptr(message).to_string_lossy().trim().to_string()
        };
        if rc == 0 {
            Ok(())
        } else if message.is_empty() {
            Err(refused(format!("error {rc}")))
        } else {
            Err(refused(message))
        }
    }
}

fn apply_with_program(netns: Option<&std::fs::File>, batch: &str) -> Result<(), NftError> {
    let nft = PathBuf::from("nft");
    let spawn_error = |source| NftError::Spawn {
        nft: nft.clone(),
        source,
    };
    let mut command = Command::new(&nft);
    command
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(netns) = netns {
        let fd = netns.as_raw_fd();
        // SAFETY: between fork and exec only setns is called, which is async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let mut child = command.spawn().map_err(spawn_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(batch.as_bytes()).map_err(spawn_error)?;
    }
    let out = child.wait_with_output().map_err(spawn_error)?;
    if !out.status.success() {
        return Err(NftError::Refused {
            by: nft.display().to_string(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_refused_batch_says_why_and_both_paths_agree() {
        // A check-only syntax error: refused before the kernel is asked anything.
        let bad = "table ip berth { chain c { nonsense } }\n";
        let err = super::Nft::open()
            .unwrap()
            .apply(bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("syntax error"), "{err}");
        let err = super::apply_with_program(None, bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("syntax error"), "{err}");
    }
}
