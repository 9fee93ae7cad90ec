//! A container's own cgroup: made, limited, joined, read and removed.
//!
//! Docker's `cgroupfs` driver (what runc does when no systemd manages the machine) makes one
//! directory per container, `docker/<id>`, at the root of every hierarchy it uses, writes the
//! limits into it, and moves the container's first process in by writing its pid to
//! `cgroup.procs`: every process it forks after that is born in the same cgroup. The `systemd`
//! driver asks systemd over D-Bus for a transient scope (`docker-<id>.scope`) instead, so that
//! systemd, which believes it owns the tree, is not surprised. We use the `cgroupfs` way, under
//! `berth/<id>`: it works the same on every machine (these have no systemd running), needs no
//! D-Bus client, and it is the file-level view this chapter teaches. The cost: on a systemd
//! host, systemd does not know about our cgroups (as with Docker's `cgroupfs` driver).
//!
//! Two rules shape the code. The pid is moved in *before* the container runs one instruction
//! (a chapter 1 parent step, [`JoinStep`]), or a fork bomb could start outside its limit. And
//! `rmdir` of a cgroup fails with `EBUSY` while any process is in it, so removing one means
//! killing what is left first, then retrying while the kernel finishes tearing them down.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::devices::{self, DeviceRule};
use crate::layout::{Layout, Version};
use crate::resources::{Resources, Setting};

/// Why a cgroup could not be made, limited, joined or removed. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("creating cgroup {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{flag}: writing {value:?} to {path}: {source}")]
    Limit {
        flag: &'static str,
        path: PathBuf,
        value: String,
        source: std::io::Error,
    },
    #[error(
        "{flag} needs the {controller} controller, which this machine does not have in a \
         hierarchy we can use (see `ch05 cgroups`)"
    )]
    NoController {
        flag: &'static str,
        controller: &'static str,
    },
    #[error("{flag}: {path} does not exist: {why}")]
    Unsupported {
        flag: &'static str,
        path: PathBuf,
        why: &'static str,
    },
    #[error("moving pid {pid} into {path}: {source}")]
    Join {
        pid: i32,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("removing cgroup {path}: still busy after killing pids {pids:?}: {source}")]
    Busy {
        path: PathBuf,
        pids: Vec<i32>,
        source: std::io::Error,
    },
    #[error("removing cgroup {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no cgroup hierarchy is mounted: nothing can be limited")]
    NoHierarchy,
    #[error("the device allowlist of cgroup {path}: {source}")]
    Devices {
        path: PathBuf,
        source: crate::devices::DeviceError,
    },
}

/// One container's cgroup: a directory in each hierarchy it uses. One made by
/// [`Cgroup::create`] and dropped without [`Cgroup::remove`] or [`Cgroup::keep`] removes
/// itself (best effort), so a failed start leaves nothing; one from [`Cgroup::open`] does not.
#[derive(Debug)]
pub struct Cgroup {
    /// `berth/<id>`, relative to each hierarchy's root.
    name: PathBuf,
    dirs: Vec<Dir>,
    /// The directory whose device allowlist applies: in v1's `devices` hierarchy, or the
    /// v2 one (where the allowlist is a BPF program); `None` where neither exists.
    devices: Option<Dir>,
    /// Whether dropping it removes it: made by us, not yet removed or kept.
    remove_on_drop: bool,
}

/// The cgroup's directory in one hierarchy.
#[derive(Clone, Debug)]
pub(crate) struct Dir {
    pub(crate) version: Version,
    pub(crate) controllers: Vec<String>,
    pub(crate) path: PathBuf,
}

/// How long [`Cgroup::remove`] keeps retrying `rmdir` after killing what was left.
const REMOVE_PATIENCE: Duration = Duration::from_secs(2);

/// How long [`Cgroup::freeze`] waits for every task to be frozen.
const FREEZE_PATIENCE: Duration = Duration::from_secs(5);

impl Cgroup {
    /// The cgroup `parent/id` in every hierarchy `layout` uses, whether it exists or not:
    /// for reading or removing one a previous run made.
    pub fn open(layout: &Layout, parent: &str, id: &str) -> Cgroup {
        let name = Path::new(parent).join(id);
        let dirs = layout
            .used()
            .into_iter()
            .map(|h| Dir {
                version: h.version,
                controllers: h.controllers.clone(),
                path: h.mount_point.join(&name),
            })
            .collect();
        let devices = layout.find("devices").map(|h| Dir {
            version: h.version,
            controllers: h.controllers.clone(),
            path: h.mount_point.join(&name),
        });
        Cgroup {
            name,
            dirs,
            devices,
            remove_on_drop: false,
        }
    }

    // ANCHOR: create
    /// Makes the cgroup `parent/id` in every hierarchy the layout uses.
    pub fn create(layout: &Layout, parent: &str, id: &str) -> Result<Cgroup, CgroupError> {
        let mut cgroup = Cgroup::open(layout, parent, id);
        // From here on, a failure drops what was made so far.
        cgroup.remove_on_drop = true;
        if cgroup.dirs.is_empty() {
            return Err(CgroupError::NoHierarchy);
        }
        for h in layout.used() {
            let mut dir = h.mount_point.clone();
            for part in cgroup.name.components() {
                if h.version == Version::V2 {
                    // v2 hands a controller down one level at a time: each parent must list
                    // it in `cgroup.subtree_control` for its children to have its files.
                    enable_controllers(&dir, &h.controllers)?;
                }
                let parent_dir = dir.clone();
                dir.push(part);
                make_dir(&dir)?;
                if h.version == Version::V1 && h.controllers.iter().any(|c| c == "cpuset") {
                    inherit_cpuset(&parent_dir, &dir)?;
                }
            }
        }
        Ok(cgroup)
    }
    // ANCHOR_END: create

    /// Keeps the cgroup after `self` is dropped: for a daemon, which removes it later by
    /// [`Cgroup::open`] and [`Cgroup::remove`].
    pub fn keep(mut self) {
        self.remove_on_drop = false;
    }

    /// `berth/<id>`.
    pub fn name(&self) -> &Path {
        &self.name
    }

    /// The cgroup's directories, one per hierarchy.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.path.clone()).collect()
    }

    /// The directory that holds `controller` (a v1 name).
    pub(crate) fn dir_of(&self, controller: &str) -> Option<&Dir> {
        self.dirs.iter().find(|d| match d.version {
            Version::V1 => d.controllers.iter().any(|c| c == controller),
            Version::V2 => d
                .controllers
                .iter()
                .any(|c| c == crate::layout::v2_name(controller)),
        })
    }

    // ANCHOR: apply
    /// Writes the limits, before any process is in the cgroup.
    pub fn apply(&self, resources: &Resources) -> Result<(), CgroupError> {
        // A limit whose controller lives nowhere we can write is refused, never ignored, and
        // before anything is written. (Both spellings name the same controllers.)
        for setting in resources.settings(Version::V1) {
            if self.dir_of(setting.controller).is_none() {
                return Err(CgroupError::NoController {
                    flag: setting.flag,
                    controller: setting.controller,
                });
            }
        }
        // Each limit in the spelling of the hierarchy that holds its controller.
        for dir in &self.dirs {
            for setting in resources.settings(dir.version) {
                if self.dir_of(setting.controller).map(|d| &d.path) == Some(&dir.path) {
                    write_setting(&dir.path, &setting)?;
                }
            }
        }
        Ok(())
    }
    // ANCHOR_END: apply

    // ANCHOR: apply_devices
    /// Puts the device allowlist in place, before any process is in the cgroup: v1's
    /// `devices.deny`/`devices.allow`, or v2's BPF program.
    pub fn apply_devices(&self, rules: &[DeviceRule]) -> Result<(), CgroupError> {
        let dir = self.devices.as_ref().ok_or(CgroupError::NoController {
            flag: "the device allowlist",
            controller: "devices",
        })?;
        let applied = match dir.version {
            Version::V1 => devices::apply_v1(&dir.path, rules),
            Version::V2 => devices::apply_v2(&dir.path, rules),
        };
        applied.map_err(|source| CgroupError::Devices {
            path: dir.path.clone(),
            source,
        })
    }
    // ANCHOR_END: apply_devices

    /// Moves `pid` (and so everything it will fork) into the cgroup, in every hierarchy.
    pub fn join(&self, pid: Pid) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            join(&dir.path, pid)?;
        }
        Ok(())
    }

    /// The parent-side step of chapter 1's start that moves the child in.
    pub fn join_step(&self) -> JoinStep {
        JoinStep {
            name: format!("moving the pid into cgroup {}", self.name.display()),
            dirs: self.paths(),
        }
    }

    /// The pids in the cgroup (in any of its hierarchies).
    pub fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self.dirs.iter().flat_map(|d| procs(&d.path)).collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    // ANCHOR: oom
    /// How many processes of this cgroup the kernel's OOM killer has killed since it was
    /// made: `oom_kill` in v2's `memory.events`, or in v1's `memory.oom_control` (kernels
    /// since 4.13; older ones only count hits of the limit, `memory.failcnt`, which we take
    /// then). The counter only grows: a daemon that starts a container again in the same
    /// cgroup compares it with its value at the start.
    pub fn oom_kills(&self) -> Result<u64, CgroupError> {
        let Some(dir) = self.dir_of("memory") else {
            return Ok(0);
        };
        let file = match dir.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        let text = read(&dir.path.join(file))?;
        match counter(&text, "oom_kill") {
            Some(kills) => Ok(kills),
            None if dir.version == Version::V1 => Ok(read(&dir.path.join("memory.failcnt"))?
                .trim()
                .parse()
                .unwrap_or(0)),
            None => Ok(0),
        }
    }

    /// Whether the kernel's OOM killer killed a process of this cgroup since it was made.
    pub fn oom_killed(&self) -> Result<bool, CgroupError> {
        Ok(self.oom_kills()? > 0)
    }
    // ANCHOR_END: oom

    /// The directory holding the freezer: v1's `freezer` hierarchy, or on v2 the cgroup
    /// itself (every v2 cgroup but the root has `cgroup.freeze`, kernels since 5.2).
    fn freezer_dir(&self) -> Result<&Dir, CgroupError> {
        self.dirs
            .iter()
            .find(|d| d.version == Version::V1 && d.controllers.iter().any(|c| c == "freezer"))
            .or_else(|| {
                self.dirs
                    .iter()
                    .find(|d| d.version == Version::V2 && d.path.join("cgroup.freeze").exists())
            })
            .ok_or(CgroupError::NoController {
                flag: "pause",
                controller: "freezer",
            })
    }

    // ANCHOR: freeze
    /// Freezes every process of the cgroup (`docker pause`), and returns once the kernel says
    /// they all are. Freezing is not instant: the kernel stops each task at its next return
    /// to user space, and v1 reports `FREEZING` until the last one has stopped (a task in an
    /// uninterruptible sleep can hold it there); v2 reports `frozen 1` in `cgroup.events`.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        let dir = self.freezer_dir()?;
        let (file, value) = match dir.version {
            Version::V1 => ("freezer.state", "FROZEN"),
            Version::V2 => ("cgroup.freeze", "1"),
        };
        let deadline = Instant::now() + FREEZE_PATIENCE;
        loop {
            // v1: writing FROZEN again nudges tasks that were busy at the first write (runc
            // does the same).
            write(&dir.path.join(file), value)?;
            if self.is_frozen_now(dir)? {
                return Ok(());
            }
            if Instant::now() > deadline {
                // Half-frozen helps nobody: let them go, and say so.
                let _ = self.thaw();
                return Err(CgroupError::Write {
                    path: dir.path.join(file),
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the processes did not all freeze in time",
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // ANCHOR_END: freeze

    /// Thaws the cgroup's processes (`docker unpause`).
    pub fn thaw(&self) -> Result<(), CgroupError> {
        let dir = self.freezer_dir()?;
        match dir.version {
            Version::V1 => write(&dir.path.join("freezer.state"), "THAWED"),
            Version::V2 => write(&dir.path.join("cgroup.freeze"), "0"),
        }
    }

    /// Whether the cgroup is frozen, or being frozen (v1's `FREEZING` counts: its
    /// processes are held). A cgroup that does not exist is not.
    pub fn is_frozen(&self) -> bool {
        let Ok(dir) = self.freezer_dir() else {
            return false;
        };
        match dir.version {
            Version::V1 => read(&dir.path.join("freezer.state"))
                .is_ok_and(|state| matches!(state.trim(), "FROZEN" | "FREEZING")),
            Version::V2 => read(&dir.path.join("cgroup.freeze")).is_ok_and(|v| v.trim() == "1"),
        }
    }

    /// Whether the kernel reports every task frozen: v1 `FROZEN`, v2 `frozen 1`.
    fn is_frozen_now(&self, dir: &Dir) -> Result<bool, CgroupError> {
        Ok(match dir.version {
            Version::V1 => read(&dir.path.join("freezer.state"))?.trim() == "FROZEN",
            Version::V2 => counter(&read(&dir.path.join("cgroup.events"))?, "frozen") == Some(1),
        })
    }

    /// The CPU time the cgroup's processes used, in nanoseconds: v1's `cpuacct.usage`, v2's
    /// `usage_usec` in `cpu.stat`.
    pub fn cpu_usage_ns(&self) -> Result<u64, CgroupError> {
        let Some(dir) = self.dir_of("cpuacct") else {
            return Err(CgroupError::NoController {
                flag: "cpu usage",
                controller: "cpuacct",
            });
        };
        let (file, scale) = match dir.version {
            Version::V1 => ("cpuacct.usage", 1),
            Version::V2 => ("cpu.stat", 1000),
        };
        let path = dir.path.join(file);
        let text = std::fs::read_to_string(&path).map_err(|source| CgroupError::Read {
            path: path.clone(),
            source,
        })?;
        let value = match dir.version {
            Version::V1 => text.trim().parse().ok(),
            Version::V2 => counter(&text, "usage_usec"),
        };
        value.map(|v| v * scale).ok_or(CgroupError::Read {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "no usage counter"),
        })
    }

    // ANCHOR: remove
    /// Removes the cgroup from every hierarchy: kills what is still in it, then `rmdir`s,
    /// retrying while the kernel finishes with the dead (`EBUSY`). Gone already is fine.
    pub fn remove(mut self) -> Result<(), CgroupError> {
        self.remove_on_drop = false;
        // A frozen process does not even die of SIGKILL (v1) until it is thawed.
        if self.is_frozen() {
            let _ = self.thaw();
        }
        let mut first_error = None;
        for dir in &self.dirs {
            if let Err(e) = remove_dir(&dir.path)
                && first_error.is_none()
            {
                first_error = Some(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
    // ANCHOR_END: remove
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if self.remove_on_drop {
            for dir in &self.dirs {
                let _ = remove_dir(&dir.path);
            }
        }
    }
}

/// Removes one cgroup directory (see [`Cgroup::remove`]).
pub(crate) fn remove_dir(path: &Path) -> Result<(), CgroupError> {
    let deadline = Instant::now() + REMOVE_PATIENCE;
    let mut killed = Vec::new();
    loop {
        let source = match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => e,
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        if Instant::now() > deadline {
            return Err(CgroupError::Busy {
                path: path.to_owned(),
                pids: killed,
                source,
            });
        }
        // v2 (5.14+) kills the whole subtree at once; elsewhere, one pid at a time. A process
        // forking while we kill would escape a single pass, hence the loop.
        let kill_file = path.join("cgroup.kill");
        if !(kill_file.exists() && std::fs::write(&kill_file, "1").is_ok()) {
            for pid in procs(path) {
                if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() && !killed.contains(&pid) {
                    killed.push(pid);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `mkdir` of one level of a cgroup; there already is fine. A parent removed meanwhile (the
/// engine removes its empty parent when its last container goes) is made again.
fn make_dir(dir: &Path) -> Result<(), CgroupError> {
    let mut attempts = 0;
    loop {
        match std::fs::create_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 3 => {
                attempts += 1;
                if let Some(parent) = dir.parent() {
                    make_dir(parent)?;
                }
            }
            Err(source) => {
                return Err(CgroupError::Create {
                    path: dir.to_owned(),
                    source,
                });
            }
        }
    }
}

/// Removes `parent` (relative to each hierarchy the layout uses) where it is empty: a cgroup
/// with children is `EBUSY` and stays.
pub fn remove_parent_if_empty(layout: &Layout, parent: &str) {
    for h in layout.used() {
        let _ = std::fs::remove_dir(h.mount_point.join(parent));
    }
}

/// The pids listed in a cgroup directory's `cgroup.procs` (none if unreadable).
fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// A cgroup file's text.
pub(crate) fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Writes a cgroup file.
fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(|source| CgroupError::Write {
        path: path.to_owned(),
        source,
    })
}

/// `name value` lines, as in `memory.events`, `memory.oom_control` and `cpu.stat`.
pub(crate) fn counter(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok())?
    })
}

fn join(dir: &Path, pid: Pid) -> Result<(), CgroupError> {
    let path = dir.join("cgroup.procs");
    std::fs::write(&path, pid.as_raw().to_string()).map_err(|source| CgroupError::Join {
        pid: pid.as_raw(),
        path,
        source,
    })
}

fn write_setting(dir: &Path, setting: &Setting) -> Result<(), CgroupError> {
    let path = dir.join(setting.file);
    if !path.exists() {
        // The controller is there, the file is not: a kernel or scheduler without the knob.
        let why = match setting.file {
            "blkio.weight" | "io.weight" => "the block IO scheduler has no weights (needs BFQ)",
            "memory.memsw.limit_in_bytes" | "memory.swap.max" => {
                "swap accounting is off (boot with swapaccount=1)"
            }
            _ => "this kernel has no such knob",
        };
        return Err(CgroupError::Unsupported {
            flag: setting.flag,
            path,
            why,
        });
    }
    std::fs::write(&path, &setting.value).map_err(|source| CgroupError::Limit {
        flag: setting.flag,
        path,
        value: setting.value.clone(),
        source,
    })
}

/// v2: lets the children of `dir` use `controllers` (`+memory +pids` to
/// `cgroup.subtree_control`). One at a time, so that one the kernel refuses names itself.
fn enable_controllers(dir: &Path, controllers: &[String]) -> Result<(), CgroupError> {
    let path = dir.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&path).map_err(|source| CgroupError::Read {
        path: path.clone(),
        source,
    })?;
    // Only those our limits use: enabling one changes the parent for all its children.
    let ours = |c: &&String| {
        crate::layout::LIMITED
            .iter()
            .any(|l| crate::layout::v2_name(l) == c.as_str())
    };
    for controller in controllers.iter().filter(ours) {
        if enabled.split_whitespace().any(|c| c == controller) {
            continue;
        }
        std::fs::write(&path, format!("+{controller}")).map_err(|source| {
            // EBUSY here is v2's "no internal processes" rule: a cgroup with processes of
            // its own cannot hand controllers to children (the root is exempt).
            CgroupError::Write {
                path: path.clone(),
                source,
            }
        })?;
    }
    Ok(())
}

/// v1 cpuset: a new cgroup starts with *empty* `cpuset.cpus` and `cpuset.mems`, and a process
/// cannot join it (`ENOSPC`) until they are set. Copy the parent's, as runc does.
fn inherit_cpuset(parent: &Path, dir: &Path) -> Result<(), CgroupError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let path = dir.join(file);
        let current = std::fs::read_to_string(&path).map_err(|source| CgroupError::Read {
            path: path.clone(),
            source,
        })?;
        if current.trim().is_empty() {
            let from = parent.join(file);
            let value = std::fs::read_to_string(&from)
                .map_err(|source| CgroupError::Read { path: from, source })?;
            std::fs::write(&path, value.trim()).map_err(|source| CgroupError::Write {
                path: path.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

// ANCHOR: join_step
/// Chapter 1's parent-side step: writes the child's pid into `cgroup.procs` of every
/// hierarchy, while the child still waits on its pipe, so its first instruction already runs
/// under the limits.
#[derive(Debug)]
pub struct JoinStep {
    name: String,
    dirs: Vec<PathBuf>,
}

impl berth_namespaces::ParentStep for JoinStep {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, child: Pid) -> Result<(), berth_namespaces::steps::StepError> {
        for dir in &self.dirs {
            join(dir, child)?;
        }
        Ok(())
    }
}
// ANCHOR_END: join_step

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_by_name() {
        let oom_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
        assert_eq!(counter(oom_control, "oom_kill"), Some(1));
        assert_eq!(counter(oom_control, "oom"), None);
        let events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\noom_group_kill 0\n";
        assert_eq!(counter(events, "oom_kill"), Some(0));
    }

    /// Limits are written into a directory laid out as the real one: tempdirs stand in for
    /// the hierarchies, so no root is needed to see which file each flag writes.
    #[test]
    fn limits_land_in_the_right_hierarchy() {
        let root = tempfile::tempdir().expect("tempdir");
        let mountinfo = format!(
            "1 0 0:1 / {0}/memory rw - cgroup cgroup rw,memory\n\
             2 0 0:2 / {0}/pids rw - cgroup cgroup rw,pids\n",
            root.path().display()
        );
        let layout = Layout::parse(&mountinfo, "", None);
        for sub in ["memory/berth/x", "pids/berth/x"] {
            std::fs::create_dir_all(root.path().join(sub)).expect("mkdir");
        }
        for file in [
            "memory/berth/x/memory.limit_in_bytes",
            "pids/berth/x/pids.max",
        ] {
            std::fs::write(root.path().join(file), "").expect("write");
        }
        let cgroup = Cgroup::open(&layout, "berth", "x");
        let resources = Resources {
            memory: Some(64 << 20),
            pids_limit: Some(20),
            ..Resources::default()
        };
        cgroup.apply(&resources).expect("apply");
        let read = |f: &str| std::fs::read_to_string(root.path().join(f)).expect("read");
        assert_eq!(read("memory/berth/x/memory.limit_in_bytes"), "67108864");
        assert_eq!(read("pids/berth/x/pids.max"), "20");
        // No cpu hierarchy: --cpus is refused with the controller's name.
        let cpus = Resources {
            nano_cpus: Some(500_000_000),
            ..Resources::default()
        };
        let err = cgroup.apply(&cpus).expect_err("no cpu controller");
        assert!(
            matches!(
                err,
                CgroupError::NoController {
                    controller: "cpu",
                    ..
                }
            ),
            "{err}"
        );
        // A knob the kernel lacks names its file.
        let swap = Resources {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            ..Resources::default()
        };
        let err = cgroup.apply(&swap).expect_err("no memsw file");
        assert!(
            err.to_string().contains("memory.memsw.limit_in_bytes"),
            "{err}"
        );
    }
}
