//! Seams: steps that later chapters add to a start without editing this chapter.
//!
//! Between `clone` and `execve`, Docker's runtime (runc) does much more than this chapter: it
//! puts the child in a cgroup and moves a network device into its namespace (from the parent,
//! with the child's pid in hand), and it bind-mounts volumes, masks parts of `/proc`, drops
//! capabilities and loads a seccomp filter (in the child, just before `execve`). Each of those
//! is a later chapter of this book. Rather than have every chapter edit `start` and `child.rs`,
//! the start has two kinds of seam, and a chapter plugs its steps into them:
//!
//! - a [`ParentStep`] runs in the parent after [`crate::spawn`] (and after a rootless child's
//!   id maps), before [`crate::Spawned::release`], with the child's host pid: chapter 5 moves
//!   the pid into its cgroup there, chapter 7 moves a veth into its network namespace;
//! - a [`ChildStep`] runs in the child at one of the fixed [`ChildPhase`]s: chapter 8 binds
//!   volumes before `pivot_root`, chapter 6 masks paths after it and drops capabilities and
//!   loads seccomp last.
//!
//! ## The order is the contract
//!
//! In the parent: spawn → id maps (rootless) → parent steps, in the order added → release.
//! In the child, after the parent released it:
//!
//! 1. make every mount private; **[`ChildPhase::BeforeRootfs`]** (what the root's filesystem
//!    is made from: chapter 6's idmapped layers); mount the root filesystem, bind it onto
//!    itself;
//! 2. **[`ChildPhase::Mounts`]**: the root is mounted at its host path and the host's files are
//!    still visible (a bind mount's source is reachable, its target is under the root);
//! 3. `/proc`, `/sys`, `/dev`, `pivot_root`;
//! 4. **[`ChildPhase::AfterPivot`]**: paths are the container's own (`/proc/kcore`), the host's
//!    are gone;
//! 5. hostname, `lo`, working directory, stdio, terminal;
//! 6. **[`ChildPhase::BeforeUser`]**: still root with every capability (dropping the bounding
//!    set and setting `no_new_privs` need that);
//! 7. become the configured user;
//! 8. **[`ChildPhase::BeforeExec`]**: the very last (a seccomp filter, which would otherwise
//!    forbid the set-up's own system calls), then `execve`.
//!
//! Within a phase, steps run in the order they were added.
//!
//! ## The child's rule still holds
//!
//! A child step runs in the cloned child, which must not allocate memory (see `child.rs`). So
//! a step is *prepared* in the parent, when it is made (paths turned into `CString`s, files
//! looked at), and its [`ChildStep::run`] only makes system calls on that prepared data. A
//! failure is an errno: the parent reports it with the step's [`ChildStep::name`].

use std::ffi::CString;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::unistd::Pid;

// ANCHOR: contract
// The order of a start, in the parent and in the child, with the five phases of child steps:
//
//   parent: spawn -> id maps (rootless) -> parent steps, in order -> release
//   child:  private mounts
//           -> [BeforeRootfs] what the root is made from (idmapped layers)
//           -> mount the root -> bind it onto itself
//           -> [Mounts]      host paths visible, the root at its host path
//           -> /proc, /sys, /dev -> pivot_root
//           -> [AfterPivot]  the container's own paths
//           -> hostname, lo, workdir, stdio, terminal
//           -> [BeforeUser]  still root, every capability
//           -> become the user
//           -> [BeforeExec]  the very last -> execve
// ANCHOR_END: contract

/// Why a parent-side step failed: the step's own error, kept as the cause.
pub type StepError = Box<dyn std::error::Error + Send + Sync>;

/// A step the parent takes with the child's pid, between spawn and release.
pub trait ParentStep: Send + Sync + fmt::Debug {
    /// What the step does, for error messages ("moving the pid into cgroup berth/abc").
    fn name(&self) -> &str;
    /// Does it; the child is waiting and runs nothing of its own yet.
    fn run(&self, child: Pid) -> Result<(), StepError>;
}

/// When, in the child's set-up, a [`ChildStep`] runs (see the module docs for the order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChildPhase {
    /// Mounts are private; the root's own filesystem is not mounted yet. For what it is
    /// mounted from (chapter 6's idmapped layers).
    BeforeRootfs,
    /// The root is mounted at its host path; host files still visible. For mounts into it.
    Mounts,
    /// After `pivot_root`: paths are the container's. For masking and read-only paths.
    AfterPivot,
    /// Still root, with every capability. For capabilities and `no_new_privs`.
    BeforeUser,
    /// The very last thing before `execve`. For the seccomp filter.
    BeforeExec,
}

/// A step the child takes before `execve`. Prepared in the parent, run in the child, where
/// [`ChildStep::run`] must not allocate memory: system calls on prepared data only.
pub trait ChildStep: Send + Sync + fmt::Debug {
    /// What the step does, for error messages ("bind-mounting /srv/data on /data").
    fn name(&self) -> &str;
    /// When it runs.
    fn phase(&self) -> ChildPhase;
    /// Does it, in the child.
    fn run(&self) -> Result<(), Errno>;
}

/// The steps later chapters added to one container's start.
#[derive(Clone, Debug, Default)]
pub struct Steps {
    parent: Vec<Arc<dyn ParentStep>>,
    child: Vec<Arc<dyn ChildStep>>,
}

impl Steps {
    /// Adds a parent-side step, after those already added.
    pub fn add_parent(&mut self, step: impl ParentStep + 'static) {
        self.parent.push(Arc::new(step));
    }

    /// Adds a child-side step, after those already added to its phase.
    pub fn add_child(&mut self, step: impl ChildStep + 'static) {
        self.child.push(Arc::new(step));
    }

    /// The parent-side steps, in order.
    pub fn parent(&self) -> &[Arc<dyn ParentStep>] {
        &self.parent
    }

    /// The child-side steps, in the order added (each runs in its phase).
    pub fn child(&self) -> &[Arc<dyn ChildStep>] {
        &self.child
    }

    /// The names of every step, for comparing and printing configurations.
    fn names(&self) -> impl Iterator<Item = &str> {
        let parent = self.parent.iter().map(|s| s.name());
        parent.chain(self.child.iter().map(|s| s.name()))
    }
}

/// Two configurations are the same if they add the same steps (by name, in order).
impl PartialEq for Steps {
    fn eq(&self, other: &Steps) -> bool {
        self.parent.len() == other.parent.len()
            && self.child.len() == other.child.len()
            && self.names().eq(other.names())
    }
}

impl Eq for Steps {}

// ANCHOR: run_phase
/// Runs, in the child, the steps of `phase` in the order added. On failure, the index of the
/// step in [`Steps::child`] and its errno: all the parent needs to name it.
pub(crate) fn run_phase(
    steps: &[Arc<dyn ChildStep>],
    phase: ChildPhase,
) -> Result<(), (u16, Errno)> {
    for (index, step) in steps.iter().enumerate() {
        if step.phase() == phase {
            step.run().map_err(|errno| (index as u16, errno))?;
        }
    }
    Ok(())
}
// ANCHOR_END: run_phase

/// Why a [`BindMount`] could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum BindMountError {
    #[error("bind mount target {0:?} must be an absolute path inside the container")]
    RelativeTarget(PathBuf),
    #[error("bind mount source {path}: {source}")]
    Source {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("path {0:?} contains a NUL byte")]
    Nul(PathBuf),
}

// ANCHOR: bind_mount
/// A child step of phase [`ChildPhase::Mounts`]: makes a host file or directory appear at a
/// path inside the container, like `docker run -v /host/path:/path`, optionally read-only.
///
/// The target is created (empty) if missing, in the child, once the root filesystem is
/// mounted: on an image's overlay that lands in the container's own writable layer; on a
/// plain directory (`ch01 run --rootfs`) it writes into that directory. A target whose path
/// goes through a symbolic link is refused with `ELOOP`: the child still sees the host's
/// files, so the kernel would follow `/data -> /etc` in an image to the *host's* `/etc`.
/// (Chapter 8 resolves targets inside the root with `openat2` instead.)
#[derive(Debug)]
pub struct BindMount {
    name: String,
    source: CString,
    /// The target's path under the root, and each directory on the way to it, outermost
    /// first: all that the child needs to check and create them without allocating.
    ancestors: Vec<CString>,
    target: CString,
    source_is_dir: bool,
    readonly: bool,
}

impl BindMount {
    /// Prepares the mount of `source` (a host path, which must exist) at `target` (absolute,
    /// inside the container whose root filesystem is mounted at `rootfs`).
    pub fn new(
        source: &Path,
        rootfs: &Path,
        target: &Path,
        readonly: bool,
    ) -> Result<BindMount, BindMountError> {
        let relative = target
            .strip_prefix("/")
            .map_err(|_| BindMountError::RelativeTarget(target.to_owned()))?;
        let normal = relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if !normal || relative.as_os_str().is_empty() {
            return Err(BindMountError::RelativeTarget(target.to_owned()));
        }
        let meta = std::fs::metadata(source).map_err(|e| BindMountError::Source {
            path: source.to_owned(),
            source: e,
        })?;
        let c = |p: &Path| {
            CString::new(p.as_os_str().as_encoded_bytes())
                .map_err(|_| BindMountError::Nul(p.to_owned()))
        };
        let mut ancestors = Vec::new();
        let mut path = rootfs.to_owned();
        let mut components = relative.components().peekable();
        while let Some(component) = components.next() {
            path.push(component);
            if components.peek().is_some() {
                ancestors.push(c(&path)?);
            }
        }
        Ok(BindMount {
            name: format!("bind-mounting {} on {}", source.display(), target.display()),
            source: c(source)?,
            ancestors,
            target: c(&path)?,
            source_is_dir: meta.is_dir(),
            readonly,
        })
    }
}

/// `lstat`s `path`: `Ok(true)` if it exists (and is no symlink), `Ok(false)` if missing.
pub(crate) fn exists_not_a_link(path: &CString) -> Result<bool, Errno> {
    match nix::sys::stat::lstat(path.as_c_str()) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => Err(Errno::ELOOP),
        Ok(_) => Ok(true),
        Err(Errno::ENOENT) => Ok(false),
        Err(errno) => Err(errno),
    }
}

impl ChildStep for BindMount {
    fn name(&self) -> &str {
        &self.name
    }

    fn phase(&self) -> ChildPhase {
        ChildPhase::Mounts
    }

    fn run(&self) -> Result<(), Errno> {
        use nix::sys::stat::Mode;
        for dir in &self.ancestors {
            if !exists_not_a_link(dir)? {
                nix::unistd::mkdir(dir.as_c_str(), Mode::from_bits_truncate(0o755))?;
            }
        }
        if !exists_not_a_link(&self.target)? {
            if self.source_is_dir {
                nix::unistd::mkdir(self.target.as_c_str(), Mode::from_bits_truncate(0o755))?;
            } else {
                let flags = nix::fcntl::OFlag::O_CREAT
                    | nix::fcntl::OFlag::O_WRONLY
                    | nix::fcntl::OFlag::O_NOFOLLOW
                    | nix::fcntl::OFlag::O_CLOEXEC;
                let fd = nix::fcntl::open(
                    self.target.as_c_str(),
                    flags,
                    Mode::from_bits_truncate(0o644),
                )?;
                drop(fd);
            }
        }
        let none = None::<&str>;
        let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
        mount(
            Some(self.source.as_c_str()),
            self.target.as_c_str(),
            none,
            bind,
            none,
        )?;
        if self.readonly {
            // A bind mount takes its flags from the first call only: read-only needs a remount.
            let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
            mount(none, self.target.as_c_str(), none, flags, none)?;
        }
        Ok(())
    }
}
// ANCHOR_END: bind_mount

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_mount_targets_must_be_absolute_and_plain() {
        let root = tempfile::tempdir().expect("tempdir");
        let source = tempfile::NamedTempFile::new().expect("source");
        let prepare =
            |target: &str| BindMount::new(source.path(), root.path(), Path::new(target), false);
        for bad in ["data/passwd", "/../x", "/a/../../b", "/"] {
            assert!(
                matches!(prepare(bad), Err(BindMountError::RelativeTarget(_))),
                "{bad} must be refused"
            );
        }
        let made = prepare("/srv/app/marker").expect("a plain target is prepared");
        assert_eq!(made.phase(), ChildPhase::Mounts);
        assert_eq!(made.ancestors.len(), 2, "srv and srv/app");
        assert!(
            !root.path().join("srv").exists(),
            "nothing is created in the parent"
        );
        let missing = BindMount::new(
            Path::new("/nonexistent/x"),
            root.path(),
            Path::new("/x"),
            false,
        );
        assert!(matches!(missing, Err(BindMountError::Source { .. })));
    }

    #[test]
    fn steps_compare_by_name() {
        #[derive(Debug)]
        struct Named(&'static str);
        impl ParentStep for Named {
            fn name(&self) -> &str {
                self.0
            }
            fn run(&self, _: Pid) -> Result<(), StepError> {
                Ok(())
            }
        }
        let mut a = Steps::default();
        a.add_parent(Named("cgroup"));
        let mut b = Steps::default();
        assert_ne!(a, b);
        b.add_parent(Named("cgroup"));
        assert_eq!(a, b);
    }
}
