//! Killing a process at one exact system call, as a crash would, with `strace`.
//!
//! A test that kills a process after a sleep proves little: the kill lands wherever the process
//! happens to be. `strace` can make a chosen system call fail and send a signal at that very
//! call (`-e inject=SET:error=EIO:signal=KILL:when=N`), optionally counting only the calls made
//! on one path (`-P PATH`): a pull killed at the 20th `openat2`, or at the rename that would make
//! an image's record visible, dies at exactly that point every time.

use std::ffi::OsString;
use std::path::Path;

/// The arguments that make `strace` follow every thread and child, fail the `when`th call of
/// `syscalls` (a comma list, such as `rename,renameat,renameat2`) made on `path` if given with
/// `EIO`, and kill the caller there with SIGKILL. The program to run (or `-p PID`) follows
/// them. strace then ends as the traced process did: killed by SIGKILL.
pub fn strace_kill_args(syscalls: &str, path: Option<&Path>, when: u32) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["-f", "-qq", "-o", "/dev/null"]
        .into_iter()
        .map(OsString::from)
        .collect();
    if let Some(path) = path {
        args.push("-P".into());
        args.push(path.into());
    }
    args.push("-e".into());
    args.push(format!("trace={syscalls}").into());
    args.push("-e".into());
    args.push(format!("inject={syscalls}:error=EIO:signal=KILL:when={when}").into());
    args
}

/// The names in `dir`, sorted: what a test compares after a kill (`tmp/`, `layers/`, `blobs/`).
/// Panics, naming the directory, if it cannot be read.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}
