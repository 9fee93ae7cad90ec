//! Leaving the host as the test found it: the processes and mounts of one daemon's directory.
//!
//! Containers outlive their daemon on purpose (a daemon restart must not kill them), so
//! killing `berthd` is not enough. What belongs to a test's daemon is found without asking
//! the daemon, which may be the thing that failed:
//!
//! - a process whose command line names the test's directory (the daemon, its monitors run as
//!   `berthd monitor …` with the data root among their arguments);
//! - a process in *another* mount namespace whose mount table names the directory: a
//!   container (or an exec in one), whose overlay root lists its `lowerdir=`/`upperdir=` under
//!   the data root. Only other namespaces, because every process of the host's namespace sees
//!   the daemon's overlay mounts too;
//! - every descendant of those.
//!
//! All get SIGKILL, again until none is left (a dying monitor may have forked). Then every
//! mount under the directory is detached, deepest first.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

// `/proc/self/mountinfo` writes space, tab, newline and backslash in paths as `\ooo`.
use berth_cgroups::layout::unescape_mount_field as unescape_mount_path;
use nix::mount::{MntFlags, umount2};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long to keep killing before giving up (a process in uninterruptible sleep).
const KILL_PATIENCE: Duration = Duration::from_secs(10);

/// SIGKILLs every process that belongs to `dir` (see the module documentation) and waits
/// until they are gone. Never kills the calling process.
pub fn kill_processes_of(dir: &Path) {
    let started = Instant::now();
    loop {
        let pids = processes_of(dir);
        if pids.is_empty() {
            return;
        }
        for pid in &pids {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        if started.elapsed() > KILL_PATIENCE {
            eprintln!(
                "berth test harness: processes of {} survive SIGKILL: {pids:?}",
                dir.display()
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pids of the processes that belong to `dir`, descendants included (zombies excluded:
/// they are already dead, their parent reaps them).
pub fn processes_of(dir: &Path) -> Vec<i32> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id() as i32;
    let my_mount_ns = std::fs::read_link("/proc/self/ns/mnt").ok();
    let mut parent_of: HashMap<i32, i32> = HashMap::new();
    let mut roots = BTreeSet::new();
    for pid in all_pids() {
        let Some((ppid, state)) = parent_and_state(pid) else {
            continue;
        };
        if state == 'Z' {
            continue;
        }
        parent_of.insert(pid, ppid);
        if pid == me {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            roots.insert(pid);
            continue;
        }
        let mount_ns = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
        if mount_ns.is_some() && mount_ns != my_mount_ns {
            let mounts =
                std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
            if mounts.contains(&needle) {
                roots.insert(pid);
            }
        }
    }
    // Descendants: walk up from every process until a root (or pid 1) is met.
    let mut found = roots.clone();
    for &pid in parent_of.keys() {
        let mut current = pid;
        let mut hops = 0;
        while let Some(&parent) = parent_of.get(&current) {
            if roots.contains(&parent) {
                found.insert(pid);
                break;
            }
            if parent <= 1 || hops > 64 {
                break;
            }
            current = parent;
            hops += 1;
        }
    }
    found.remove(&me);
    found.into_iter().collect()
}

fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

/// The parent pid and state letter from `/proc/PID/stat`, whose second field (the command
/// name, in parentheses) may itself contain spaces and parentheses: parse after the last `)`.
fn parent_and_state(pid: i32) -> Option<(i32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// Mount points of the host (our mount namespace) at or under `dir`, deepest last.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter(|point| {
            point == &prefix
                || point
                    .strip_prefix(&prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .collect()
}

/// Overlay mount points at or under `dir` (the fs type follows the ` - ` separator).
pub fn overlay_mounts_under(dir: &Path) -> Vec<String> {
    let all = mounts_under(dir);
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    table
        .lines()
        .filter(|line| {
            line.split_once(" - ")
                .is_some_and(|(_, tail)| tail.starts_with("overlay "))
        })
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter(|point| all.contains(point))
        .collect()
}

/// Detaches every mount at or under `dir`, last mounted first, until none is left.
pub fn unmount_under(dir: &Path) {
    for _ in 0..10 {
        let mounts = mounts_under(dir);
        if mounts.is_empty() {
            return;
        }
        for point in mounts.iter().rev() {
            let _ = umount2(point.as_str(), MntFlags::MNT_DETACH);
        }
    }
    eprintln!(
        "berth test harness: mounts under {} survive umount: {:?}",
        dir.display(),
        mounts_under(dir)
    );
}

/// Removes cgroups the engine made for this directory's containers: any directory named
/// after one of the container ids found under the data root, in every cgroup hierarchy,
/// once its processes are gone; then the parent cgroup of the daemon's store (chapter 5's
/// `berth-<hash>`), which the engine keeps for the daemon's life.
pub fn remove_cgroups_of(dir: &Path) {
    let ids: Vec<String> = container_ids(&dir.join("root"));
    if !ids.is_empty() {
        let mut candidates = Vec::new();
        collect_cgroup_dirs(Path::new("/sys/fs/cgroup"), &ids, 0, &mut candidates);
        // Deepest first: a parent cgroup can only go once its children have.
        candidates.sort_by_key(|path| std::cmp::Reverse(path.components().count()));
        for path in candidates {
            let _ = std::fs::remove_dir(&path);
        }
    }
    let parent = berth_cgroups::engine::parent_for_store(&dir.join("root"));
    if let Ok(layout) = berth_cgroups::Layout::detect() {
        for hierarchy in layout.used() {
            let _ = std::fs::remove_dir(hierarchy.mount_point.join(&parent));
        }
    }
}

/// Ids of the containers under a data root: any 64-hex directory name within three levels.
fn container_ids(root: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                ids.push(name);
            } else if depth < 2 {
                stack.push((entry.path(), depth + 1));
            }
        }
    }
    ids
}

fn collect_cgroup_dirs(
    dir: &Path,
    ids: &[String],
    depth: usize,
    out: &mut Vec<std::path::PathBuf>,
) {
    if depth > 4 {
        return;
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if ids.iter().any(|id| name.contains(id.as_str())) {
            out.push(entry.path());
        }
        collect_cgroup_dirs(&entry.path(), ids, depth + 1, out);
    }
}
