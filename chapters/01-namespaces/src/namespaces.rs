//! Namespaces: what each one hides, and the user namespace's id maps.
//!
//! A container is not a thing the kernel knows about. It is an ordinary process that was
//! created with some `CLONE_NEW*` flags, so that a few of the kernel's global tables (process
//! ids, the mount table, the hostname, IPC objects, network devices, user ids) are private
//! copies for it and its children. Docker's runtime (runc) asks for exactly these, and so do
//! we. The list is kept as data, in the order the kernel needs them: the user namespace comes
//! first, because it is the one that *owns* the others and gives us the right to create them
//! when we are not real root.

use std::path::PathBuf;

use nix::sched::CloneFlags;
use nix::unistd::{Gid, Pid, Uid};

/// One kind of namespace: its clone flag and what it gives the container.
#[derive(Clone, Copy, Debug)]
pub struct Namespace {
    /// The short name the kernel uses in `/proc/PID/ns/`.
    pub name: &'static str,
    /// The flag that asks `clone(2)` for a new one.
    pub flag: CloneFlags,
    /// What the container gets from it, in one line.
    pub isolates: &'static str,
}

// ANCHOR: namespaces
/// The namespaces a container gets, in the order the kernel creates them. The user namespace
/// is first and only used when rootless or remapped: it owns every namespace created with it.
pub const NAMESPACES: &[Namespace] = &[
    Namespace {
        name: "user",
        flag: CloneFlags::CLONE_NEWUSER,
        isolates: "user and group ids: root inside, the caller outside",
    },
    Namespace {
        name: "pid",
        flag: CloneFlags::CLONE_NEWPID,
        isolates: "process ids: the command is PID 1 and sees only its descendants",
    },
    Namespace {
        name: "mnt",
        flag: CloneFlags::CLONE_NEWNS,
        isolates: "the mount table: our mounts and pivot_root stay invisible to the host",
    },
    Namespace {
        name: "uts",
        flag: CloneFlags::CLONE_NEWUTS,
        isolates: "the hostname and domain name",
    },
    Namespace {
        name: "ipc",
        flag: CloneFlags::CLONE_NEWIPC,
        isolates: "System V IPC objects and POSIX message queues",
    },
    Namespace {
        name: "net",
        flag: CloneFlags::CLONE_NEWNET,
        isolates: "network devices, addresses, routes and ports: only `lo` at first",
    },
];
// ANCHOR_END: namespaces

/// The flags for `clone(2)`: every namespace above, the user namespace only when asked for
/// (rootless, or a remapped root: [`IdMaps`]).
// EXERCISE: OR together the flag of every namespace in NAMESPACES; leave CLONE_NEWUSER out unless rootless
pub fn clone_flags(rootless: bool) -> CloneFlags {
    NAMESPACES
        .iter()
        .filter(|ns| rootless || ns.flag != CloneFlags::CLONE_NEWUSER)
        .fold(CloneFlags::empty(), |flags, ns| flags | ns.flag)
}

/// How ids inside a user namespace correspond to ids outside: one line of `uid_map`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMap {
    /// The first id as seen inside the namespace.
    pub inside: u32,
    /// The id it stands for outside.
    pub outside: u32,
    /// How many consecutive ids the line maps.
    pub count: u32,
}

impl IdMap {
    /// Maps `outside` alone to root inside: all an unprivileged user may write for itself.
    pub fn root_is(outside: u32) -> Self {
        IdMap {
            inside: 0,
            outside,
            count: 1,
        }
    }

    fn line(&self) -> String {
        format!("{self}\n")
    }
}

impl std::fmt::Display for IdMap {
    /// `inside outside count`: one line of `/proc/PID/uid_map`, as the kernel prints it back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.inside, self.outside, self.count)
    }
}

/// A user namespace's whole maps, one [`IdMap`] per line: what real root may give a container
/// so that its root is an unprivileged id of the host (Docker's `userns-remap`, chapter 6).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMaps {
    /// The lines of `uid_map`.
    pub uid: Vec<IdMap>,
    /// The lines of `gid_map`.
    pub gid: Vec<IdMap>,
}

/// The most lines the kernel takes in one id map (since Linux 4.15; 5 before).
pub const MAX_MAP_LINES: usize = 340;

/// Why the id maps of a new user namespace could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing {path} (the user namespace's id map): {source}")]
pub struct IdMapError {
    path: PathBuf,
    source: std::io::Error,
}

// ANCHOR: id_maps
/// Writes the child's uid and gid maps: the parent's part of a rootless start.
///
/// The child cannot do this itself: the kernel wants the map written by a process in the
/// *parent* user namespace. And `setgroups` must be denied first, or an unprivileged writer of
/// `gid_map` gets EPERM: otherwise the new root could drop supplementary groups that deny it
/// access to files, and gain access the caller never had.
pub fn write_id_maps(pid: Pid, uid: IdMap, gid: IdMap) -> Result<(), IdMapError> {
    write_maps(pid, true, &[uid], &[gid])
}
// ANCHOR_END: id_maps

// ANCHOR: remap
/// Writes whole maps, as only real root may: a remapped root (chapter 6's `userns-remap`).
///
/// Unlike [`write_id_maps`], `setgroups` stays allowed: the writer holds `CAP_SETGID` in the
/// parent namespace, so the kernel has no reason to forbid it, and the container's root needs
/// it to take an image user's supplementary groups (`docker run --group-add`), as in Docker.
/// Each map is written in one `write(2)`: the kernel takes a map once and refuses a second.
pub fn write_remap(pid: Pid, maps: &IdMaps) -> Result<(), IdMapError> {
    write_maps(pid, false, &maps.uid, &maps.gid)
}
// ANCHOR_END: remap

fn write_maps(
    pid: Pid,
    deny_setgroups: bool,
    uid: &[IdMap],
    gid: &[IdMap],
) -> Result<(), IdMapError> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let write = |file: &str, text: &str| {
        let path = proc_dir.join(file);
        std::fs::write(&path, text).map_err(|source| IdMapError { path, source })
    };
    if deny_setgroups {
        write("setgroups", "deny")?;
    }
    let lines = |map: &[IdMap]| map.iter().map(IdMap::line).collect::<String>();
    write("uid_map", &lines(uid))?;
    write("gid_map", &lines(gid))
}

/// The caller's own ids, which rootless mode maps to root inside the container.
pub fn caller_ids() -> (IdMap, IdMap) {
    (
        IdMap::root_is(Uid::current().as_raw()),
        IdMap::root_is(Gid::current().as_raw()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_namespace_comes_first_and_only_when_rootless() {
        assert_eq!(NAMESPACES[0].flag, CloneFlags::CLONE_NEWUSER);
        assert!(clone_flags(true).contains(CloneFlags::CLONE_NEWUSER));
        assert!(!clone_flags(false).contains(CloneFlags::CLONE_NEWUSER));
        let rootful = CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWNET;
        assert_eq!(clone_flags(false), rootful);
    }

    #[test]
    fn map_line_is_what_the_kernel_reads() {
        assert_eq!(IdMap::root_is(1000).line(), "0 1000 1\n");
        let remap = IdMap {
            inside: 0,
            outside: 100000,
            count: 65536,
        };
        assert_eq!(remap.to_string(), "0 100000 65536");
    }
}
