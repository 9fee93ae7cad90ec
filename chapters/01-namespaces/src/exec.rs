//! The last step: find the command inside the container and become it.
//!
//! `execvp(3)` searches the *caller's* `PATH`, which is the host's. The container has its own
//! environment and its own files, so we search the container's `PATH` ourselves, after
//! `pivot_root`, trying each candidate with `execve(2)` just as a shell does. The errno of the
//! last try tells the parent whether the command was missing (exit 127, like Docker) or not
//! executable (126).
//!
//! The working directory is resolved *inside* the root with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)`, never by a plain `chdir`: a path such as `/proc/self/fd/7` is a
//! "magic link" that the kernel follows to whatever descriptor 7 is, even a directory of the
//! host, and from there `..` leads anywhere (runc's CVE-2024-21626). After the `fchdir`, the
//! kernel is asked where we are; a working directory outside the root has no path from it.

use std::ffi::{CString, c_char};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::ptr;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::Mode;
use nix::unistd::AccessFlags;

use crate::config::{ContainerConfig, DEFAULT_PATH};
use crate::failure::{Failure, Step};

/// [`Failure::item`] of an `Exec` failure when no candidate in `PATH` existed.
pub(crate) const NOT_IN_PATH: u16 = u16::MAX;
/// Added to a candidate's index when `execve` said ENOENT although the file exists: what is
/// missing is its interpreter (`#!` line) or its dynamic loader, such as a host binary copied
/// into a rootfs without `/lib64/ld-linux-x86-64.so.2`.
pub(crate) const LOADER_MISSING: u16 = 0x8000;
/// [`Failure::item`] of a `Workdir` failure when the working directory is not under the root.
pub(crate) const OUTSIDE_ROOT: u16 = u16::MAX;

/// The command, its environment and working directory, prepared by the parent.
#[derive(Debug)]
pub(crate) struct ExecPlan {
    /// `/a`, `/a/b`, ... up to the working directory, created if missing, as Docker does.
    workdir_prefixes: Vec<CString>,
    /// The last component of each prefix: what `mkdirat` creates in the one before.
    workdir_names: Vec<CString>,
    workdir: CString,
    /// Where the command may be: itself if it contains a `/`, else each `PATH` entry + it.
    candidates: Vec<CString>,
    command: String,
    searched: bool,
    // The argv and envp arrays hold pointers into these strings' heap buffers, which stay put
    // when the vectors are moved.
    _argv: Vec<CString>,
    _env: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    env_ptrs: Vec<*const c_char>,
}

impl ExecPlan {
    /// Prepares the exec step from a validated configuration.
    // EXERCISE: a command without '/' is tried in each directory of the container's PATH (DEFAULT_PATH if unset), a path is used as is; then prepare argv, env and the workdir as C strings
    pub fn new(config: &ContainerConfig) -> Self {
        let command = config.args[0].clone();
        let searched = !command.contains('/');
        let candidates = if searched {
            let path = config.env_var("PATH").unwrap_or(DEFAULT_PATH);
            path.split(':')
                .filter(|dir| !dir.is_empty())
                .map(|dir| crate::cstring(&Path::new(dir).join(&command)))
                .collect()
        } else {
            vec![crate::cstring(Path::new(&command))]
        };
        let argv: Vec<CString> = config.args.iter().map(crate::cstring).collect();
        let env: Vec<CString> = config
            .env
            .iter()
            .map(|(k, v)| crate::cstring(&format!("{k}={v}")))
            .collect();
        let prefixes = prefixes(&config.workdir);
        ExecPlan {
            workdir_names: prefixes
                .iter()
                .filter_map(|p| p.file_name())
                .map(crate::cstring)
                .collect(),
            workdir_prefixes: prefixes.iter().map(crate::cstring).collect(),
            workdir: crate::cstring(&config.workdir),
            candidates,
            command,
            searched,
            argv_ptrs: null_terminated(&argv),
            env_ptrs: null_terminated(&env),
            _argv: argv,
            _env: env,
        }
    }

    // ANCHOR: workdir
    /// Creates the working directory if it is missing, and enters it, resolving every path
    /// inside the current root: symbolic links cannot lead out of it, magic links
    /// (`/proc/self/fd/N`) are refused. Checks afterwards that the kernel sees us under it.
    pub fn enter_workdir(&self) -> Result<(), Failure> {
        let last = self.workdir_prefixes.len() as u16; // one past the prefixes: the chdir
        let root = open_root().map_err(|errno| Failure::new(Step::Workdir, last, errno))?;
        let result = self.enter_workdir_under(&root);
        drop(root);
        result
    }

    fn enter_workdir_under(&self, root: &OwnedFd) -> Result<(), Failure> {
        for (i, name) in self.workdir_names.iter().enumerate() {
            let fail = |errno| Failure::new(Step::Workdir, i as u16, errno);
            let parent = match i.checked_sub(1) {
                Some(before) => {
                    Some(open_in_root(root, &self.workdir_prefixes[before]).map_err(fail)?)
                }
                None => None,
            };
            let at = parent.as_ref().unwrap_or(root);
            // SAFETY: mkdirat on a descriptor we hold and a C string the parent prepared.
            let made = unsafe { libc::mkdirat(at.as_raw_fd(), name.as_ptr(), 0o755) };
            if made < 0 && Errno::last() != Errno::EEXIST {
                return Err(fail(Errno::last()));
            }
        }
        let last = self.workdir_prefixes.len() as u16;
        let fail = |errno| Failure::new(Step::Workdir, last, errno);
        let dir = open_in_root(root, &self.workdir).map_err(fail)?;
        // SAFETY: fchdir on a descriptor we hold.
        if unsafe { libc::fchdir(dir.as_raw_fd()) } < 0 {
            return Err(fail(Errno::last()));
        }
        // The kernel's getcwd answers "(unreachable)/..." (not starting with '/') for a
        // directory that is not under our root. The buffer is on the stack: no allocation.
        // A path longer than PATH_MAX is refused too (ERANGE): we could not check it.
        let mut cwd = [0u8; libc::PATH_MAX as usize];
        // SAFETY: getcwd writes at most the buffer's length.
        let got = unsafe { libc::syscall(libc::SYS_getcwd, cwd.as_mut_ptr(), cwd.len()) };
        if got <= 0 || cwd[0] != b'/' {
            return Err(Failure::new(Step::Workdir, OUTSIDE_ROOT, Errno::EXDEV));
        }
        Ok(())
    }
    // ANCHOR_END: workdir

    // ANCHOR: exec
    /// Tries each candidate. Returns only if none could be executed.
    pub fn exec(&self) -> Failure {
        let mut denied = None;
        for (i, candidate) in self.candidates.iter().enumerate() {
            // SAFETY: both arrays are null-terminated and point into strings we own.
            unsafe {
                libc::execve(
                    candidate.as_ptr(),
                    self.argv_ptrs.as_ptr(),
                    self.env_ptrs.as_ptr(),
                )
            };
            match Errno::last() {
                // ENOENT for a file that exists: its loader or interpreter is what is missing.
                Errno::ENOENT
                    if nix::unistd::access(candidate.as_c_str(), AccessFlags::F_OK).is_ok() =>
                {
                    return Failure::new(Step::Exec, LOADER_MISSING + i as u16, Errno::ENOENT);
                }
                // Not here: try the next directory of PATH.
                Errno::ENOENT | Errno::ENOTDIR => {}
                // There but not executable: remember it, a later entry may still work.
                Errno::EACCES => denied = denied.or(Some(i as u16)),
                errno => return Failure::new(Step::Exec, i as u16, errno),
            }
        }
        match denied {
            Some(i) => Failure::new(Step::Exec, i, Errno::EACCES),
            None if self.searched => Failure::new(Step::Exec, NOT_IN_PATH, Errno::ENOENT),
            None => Failure::new(Step::Exec, 0, Errno::ENOENT),
        }
    }
    // ANCHOR_END: exec

    /// Says what a failure of the `Workdir` or `Exec` step was about, Docker's way.
    pub fn describe(&self, failure: &Failure) -> String {
        let command = &self.command;
        match (failure.step, failure.errno) {
            (Step::Workdir, _) if failure.item == OUTSIDE_ROOT => format!(
                "working directory {} is outside the container's root",
                self.workdir.to_string_lossy()
            ),
            (Step::Workdir, _) => {
                let dir = match self.workdir_prefixes.get(usize::from(failure.item)) {
                    Some(prefix) => prefix,
                    None => &self.workdir,
                };
                format!("working directory {}", dir.to_string_lossy())
            }
            (_, Errno::ENOENT) if failure.item >= LOADER_MISSING && failure.item != NOT_IN_PATH => {
                let index = usize::from(failure.item - LOADER_MISSING);
                let path = self
                    .candidates
                    .get(index)
                    .map_or_else(|| command.clone(), |c| c.to_string_lossy().into_owned());
                format!(
                    "exec: {path:?}: no such file or directory: the file exists, but its \
                     interpreter (#! line) or dynamic loader is missing from the container"
                )
            }
            (_, Errno::ENOENT | Errno::ENOTDIR) if self.searched => {
                format!("exec: {command:?}: executable file not found in $PATH")
            }
            (_, Errno::ENOENT | Errno::ENOTDIR) => {
                format!("exec: {command:?}: no such file or directory")
            }
            _ => {
                let path = self
                    .candidates
                    .get(usize::from(failure.item))
                    .map_or_else(|| command.clone(), |c| c.to_string_lossy().into_owned());
                format!("exec: {path:?}")
            }
        }
    }
}

/// The current root directory, opened as a path (for [`open_in_root`]).
fn open_root() -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    nix::fcntl::open(c"/", flags, Mode::empty())
}

/// Opens the directory `path` as if `root` were `/`: `..` and absolute symbolic links stop at
/// `root`, and magic links are refused with `ELOOP`. (A `&CStr` path: nothing is allocated.)
fn open_in_root(root: &OwnedFd, path: &CString) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(root, path.as_c_str(), how)
}

/// The directories from the top down to `dir`: `/a/b` gives `/a` and `/a/b`.
fn prefixes(dir: &Path) -> Vec<PathBuf> {
    let mut current = PathBuf::from("/");
    let mut out = Vec::new();
    for component in dir.components() {
        if let Component::Normal(name) = component {
            current.push(name);
            out.push(current.clone());
        }
    }
    out
}

fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(args: &[&str]) -> ExecPlan {
        let config = ContainerConfig::new("/", args.iter().map(|s| s.to_string()).collect());
        ExecPlan::new(&config)
    }

    #[test]
    fn searches_the_containers_path() {
        let p = plan(&["ls", "-l"]);
        let first = p.candidates[0].to_str().unwrap();
        assert_eq!(first, "/usr/local/sbin/ls");
        assert_eq!(p.candidates.len(), 6);
        assert_eq!(p.argv_ptrs.len(), 3);
        assert!(p.argv_ptrs[2].is_null());
    }

    #[test]
    fn a_path_is_not_searched() {
        let p = plan(&["/bin/true"]);
        assert_eq!(p.candidates, vec![CString::new("/bin/true").unwrap()]);
    }

    #[test]
    fn workdir_prefixes_go_top_down() {
        assert_eq!(
            prefixes(Path::new("/a/b/c")),
            vec![
                PathBuf::from("/a"),
                PathBuf::from("/a/b"),
                PathBuf::from("/a/b/c")
            ]
        );
        assert!(prefixes(Path::new("/")).is_empty());
    }

    #[test]
    fn describes_failures_as_docker_does() {
        let p = plan(&["nope"]);
        let f = Failure::new(Step::Exec, NOT_IN_PATH, Errno::ENOENT);
        assert_eq!(
            p.describe(&f),
            "exec: \"nope\": executable file not found in $PATH"
        );
    }
}
