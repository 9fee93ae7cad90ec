//! Where each controller lives: cgroup v1, v2, or the hybrid in between.
//!
//! A cgroup is a directory in a special filesystem; a *controller* (memory, cpu, pids...) is
//! the kernel part that accounts and limits what the processes of that directory use. In
//! cgroup v1 every controller (or a few, co-mounted) has a hierarchy of its own, mounted at
//! `/sys/fs/cgroup/<controller>`, so one container has one directory per hierarchy. In cgroup
//! v2 there is one hierarchy (`cgroup2`, at `/sys/fs/cgroup`) and a controller is switched on
//! for a subtree by writing `+memory` to the parent's `cgroup.subtree_control`. A controller
//! can be bound to only one of them at a time, so a machine may be *hybrid*: v1 hierarchies for
//! cpu, memory, pids..., and a v2 tree (`/sys/fs/cgroup/unified`) holding whatever is left.
//!
//! Docker (through runc's `libcontainer/cgroups`) reads the same two files we do, the mount
//! table (`/proc/self/mountinfo`) and the process's own cgroups (`/proc/self/cgroup`), and
//! decides from them. [`Layout::parse`] takes their text, so it can be tested on what v1, v2 and
//! hybrid machines record; [`Layout::detect`] reads this machine's.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Which cgroup version a hierarchy is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `cgroup`: one hierarchy per controller (or per co-mounted group of them).
    V1,
    /// `cgroup2`: the unified hierarchy.
    V2,
}

/// One mounted cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// v1 or v2.
    pub version: Version,
    /// Where it is mounted (`/sys/fs/cgroup/memory`).
    pub mount_point: PathBuf,
    /// The controllers it holds: v1 from the mount options, v2 from the root's
    /// `cgroup.controllers`. A v1 named hierarchy (`name=systemd`) has none.
    pub controllers: Vec<String>,
    /// The cgroup this process is in, in this hierarchy (from `/proc/self/cgroup`).
    pub own: Option<String>,
}

/// Every cgroup hierarchy of a machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// In the order of the mount table.
    pub hierarchies: Vec<Hierarchy>,
    /// Controllers that are mounted but lack a knob a limit writes, and what the table says
    /// ([`Layout::detect_in`] looks; a parsed layout assumes every knob is there).
    pub missing: Vec<(String, String)>,
}

/// What kind of machine the layout describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only a `cgroup2` mount: most current distributions.
    V2,
    /// Only `cgroup` (v1) mounts.
    V1,
    /// v1 hierarchies for the controllers, and a v2 tree beside them.
    Hybrid,
    /// No cgroup filesystem is mounted at all.
    None,
}

/// Why the layout could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading {path}: {source}")]
pub struct LayoutError {
    path: PathBuf,
    source: std::io::Error,
}

/// The controllers a container's limits use, with the flags that need them, in v1 names.
/// (`cpuacct` only exists in v1; in v2 its counters are in `cpu.stat`.)
pub const CONTROLLERS: &[(&str, &str)] = &[
    ("memory", "--memory --memory-swap --memory-reservation"),
    ("cpu", "--cpus --cpu-shares --cpu-quota --cpu-period"),
    ("cpuacct", "CPU usage counters"),
    ("cpuset", "--cpuset-cpus --cpuset-mems"),
    ("pids", "--pids-limit"),
    ("blkio", "--blkio-weight"),
    ("freezer", "docker pause"),
    ("devices", "the device allowlist, --device"),
    ("hugetlb", "(not limited by Berth)"),
];

/// The controllers whose limits a container's cgroup writes or whose counters it reads (and
/// `devices`, its allowlist, which on v2 is no controller but a BPF program).
pub const LIMITED: &[&str] = &[
    "memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices",
];

/// The controllers a container's cgroup is made for without limiting anything: the freezer,
/// which `docker pause` uses (built into every cgroup on v2, a hierarchy of its own on v1).
pub const UNLIMITED: &[&str] = &["freezer"];

/// The v2 name of a v1 controller: `blkio` became `io`, `cpuacct` folded into `cpu`.
pub fn v2_name(controller: &str) -> &str {
    match controller {
        "blkio" => "io",
        "cpuacct" => "cpu",
        other => other,
    }
}

// ANCHOR: parse
impl Layout {
    /// Reads a layout from the text of `/proc/self/mountinfo` and `/proc/self/cgroup`, and
    /// the v2 root's `cgroup.controllers` (if a v2 hierarchy is mounted).
    pub fn parse(mountinfo: &str, proc_cgroup: &str, v2_controllers: Option<&str>) -> Layout {
        let mut hierarchies = Vec::new();
        for line in mountinfo.lines() {
            // `36 25 0:32 / /sys/fs/cgroup/memory rw,relatime shared:15 - cgroup cgroup rw,memory`:
            // the fields after ` - ` are the type, the source and the superblock's options.
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            let (Some(root), Some(mount_point), Some(fstype)) =
                (left.get(3), left.get(4), right.first())
            else {
                continue;
            };
            // A bind mount of a sub-cgroup (root != "/") is how a container sees its own
            // cgroup; our cgroups are made from a hierarchy's root.
            if *root != "/" {
                continue;
            }
            let mount_point = PathBuf::from(unescape_mount_field(mount_point));
            let (version, controllers) = match *fstype {
                "cgroup" => {
                    let options = right.get(2).copied().unwrap_or("");
                    let known = |o: &&str| CONTROLLERS.iter().any(|(c, _)| c == o);
                    let names: Vec<String> =
                        options.split(',').filter(known).map(String::from).collect();
                    // `name=systemd`, `net_cls`...: hierarchies that limit nothing of ours.
                    if names.is_empty() {
                        continue;
                    }
                    (Version::V1, names)
                }
                "cgroup2" => {
                    let names = v2_controllers.unwrap_or("").split_whitespace();
                    (Version::V2, names.map(String::from).collect())
                }
                _ => continue,
            };
            // The same hierarchy mounted twice: the first mount is enough.
            if hierarchies
                .iter()
                .any(|h: &Hierarchy| h.version == version && h.controllers == controllers)
                && version == Version::V1
            {
                continue;
            }
            hierarchies.push(Hierarchy {
                version,
                mount_point,
                controllers,
                own: None,
            });
        }
        // `/proc/self/cgroup`: `4:memory:/docker/abc` for v1, `0::/user.slice` for v2.
        for line in proc_cgroup.lines() {
            let mut fields = line.splitn(3, ':');
            let (Some(id), Some(names), Some(path)) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let names: Vec<&str> = names.split(',').collect();
            for h in &mut hierarchies {
                let matches = match h.version {
                    Version::V2 => id == "0" && names == [""],
                    Version::V1 => h.controllers.iter().all(|c| names.contains(&c.as_str())),
                };
                if matches {
                    h.own = Some(path.to_owned());
                }
            }
        }
        Layout {
            hierarchies,
            missing: Vec::new(),
        }
    }
    // ANCHOR_END: parse

    /// Reads this machine's layout from `proc` (normally `/proc/self`).
    pub fn detect_in(proc: &Path) -> Result<Layout, LayoutError> {
        let read = |path: PathBuf| {
            std::fs::read_to_string(&path).map_err(|source| LayoutError { path, source })
        };
        let mountinfo = read(proc.join("mountinfo"))?;
        let cgroup = read(proc.join("cgroup"))?;
        let first = Layout::parse(&mountinfo, &cgroup, None);
        let v2 = first
            .hierarchies
            .iter()
            .find(|h| h.version == Version::V2)
            .map(|h| read(h.mount_point.join("cgroup.controllers")))
            .transpose()?;
        let mut layout = Layout::parse(&mountinfo, &cgroup, v2.as_deref());
        layout.missing = layout.missing_knobs();
        Ok(layout)
    }

    /// v1 knobs that exist only with some kernels or schedulers, looked for at the root of
    /// their hierarchy. (v2 puts them in non-root cgroups only; there a write names the file.)
    fn missing_knobs(&self) -> Vec<(String, String)> {
        let knobs = [
            ("blkio", "blkio.weight", "no: no weights (needs BFQ)"),
            (
                "memory",
                "memory.memsw.limit_in_bytes",
                "yes, but no swap accounting",
            ),
        ];
        knobs
            .iter()
            .filter(|(controller, file, _)| {
                self.find(controller)
                    .is_some_and(|h| h.version == Version::V1 && !h.mount_point.join(file).exists())
            })
            .map(|(controller, _, why)| (controller.to_string(), why.to_string()))
            .collect()
    }

    /// Reads this machine's layout.
    pub fn detect() -> Result<Layout, LayoutError> {
        Layout::detect_in(Path::new("/proc/self"))
    }

    /// A layout of one v2 hierarchy mounted at `mount_point` (for a private `cgroup2` mount).
    pub fn v2_at(mount_point: &Path) -> Result<Layout, LayoutError> {
        let path = mount_point.join("cgroup.controllers");
        let controllers =
            std::fs::read_to_string(&path).map_err(|source| LayoutError { path, source })?;
        Ok(Layout {
            hierarchies: vec![Hierarchy {
                version: Version::V2,
                mount_point: mount_point.to_owned(),
                controllers: controllers.split_whitespace().map(String::from).collect(),
                own: None,
            }],
            missing: Vec::new(),
        })
    }

    /// v1, v2, hybrid or none.
    pub fn kind(&self) -> Kind {
        let v1 = self.hierarchies.iter().any(|h| h.version == Version::V1);
        let v2 = self.hierarchies.iter().any(|h| h.version == Version::V2);
        match (v1, v2) {
            (true, true) => Kind::Hybrid,
            (true, false) => Kind::V1,
            (false, true) => Kind::V2,
            (false, false) => Kind::None,
        }
    }

    // ANCHOR: find
    /// The hierarchy that holds `controller` (a v1 name): a v1 hierarchy mounted with it, or
    /// the v2 one if it lists the controller's v2 name. A controller is bound to one at most.
    // EXERCISE: first a v1 hierarchy mounted with the controller; else the v2 one listing its v2 name (v2_name), or, on a pure v2 machine, holding freezer and devices built in
    pub fn find(&self, controller: &str) -> Option<&Hierarchy> {
        let v1 = self
            .hierarchies
            .iter()
            .find(|h| h.version == Version::V1 && h.controllers.iter().any(|c| c == controller));
        v1.or_else(|| {
            // On v2, freezer and devices are no controllers: they are built into every cgroup
            // (`cgroup.freeze`, a BPF program), so the v2 hierarchy holds them.
            let builtin = matches!(controller, "freezer" | "devices");
            self.hierarchies.iter().find(|h| {
                h.version == Version::V2
                    && (h.controllers.iter().any(|c| c == v2_name(controller))
                        || (builtin && self.kind() == Kind::V2))
            })
        })
    }
    // ANCHOR_END: find

    /// The hierarchies a container's cgroup is made in: every one that holds a controller
    /// its limits use or the freezer, and the v2 hierarchy of a pure v2 machine (where the cgroup is also
    /// what `docker top` and the OOM counters read), without repeats.
    pub fn used(&self) -> Vec<&Hierarchy> {
        let mut used: Vec<&Hierarchy> = Vec::new();
        for controller in LIMITED.iter().chain(UNLIMITED) {
            if let Some(h) = self.find(controller)
                && !used.contains(&h)
            {
                used.push(h);
            }
        }
        if let Some(h) = self.hierarchies.iter().find(|h| h.version == Version::V2)
            && self.kind() == Kind::V2
            && !used.contains(&h)
        {
            used.push(h);
        }
        used
    }

    // ANCHOR: table
    /// The table `ch05 cgroups` prints: for each controller, where it lives, whether a
    /// container's limit using it would apply (and why not), and this process's cgroup there.
    pub fn table(&self) -> String {
        let kind = match self.kind() {
            Kind::V2 => "cgroup v2 (unified)",
            Kind::V1 => "cgroup v1",
            Kind::Hybrid => "hybrid: cgroup v1 controllers, and a v2 tree beside them",
            Kind::None => "no cgroup filesystem mounted",
        };
        let mut rows = vec![[
            "CONTROLLER".to_owned(),
            "VERSION".into(),
            "MOUNTED AT".into(),
            "APPLIES".into(),
            "FOR".into(),
            "OUR CGROUP".into(),
        ]];
        for (controller, flags) in CONTROLLERS {
            let row = match self.find(controller) {
                Some(h) => {
                    let missing = self.missing.iter().find(|(c, _)| c == controller);
                    [
                        controller.to_string(),
                        match h.version {
                            Version::V1 => "v1".into(),
                            Version::V2 => "v2".into(),
                        },
                        h.mount_point.display().to_string(),
                        match missing {
                            Some((_, why)) => why.clone(),
                            None => "yes".into(),
                        },
                        flags.to_string(),
                        h.own.clone().unwrap_or_else(|| "?".into()),
                    ]
                }
                None => [
                    controller.to_string(),
                    "-".into(),
                    "-".into(),
                    "no: not mounted".into(),
                    flags.to_string(),
                    "-".into(),
                ],
            };
            rows.push(row);
        }
        let mut widths = [0; 6];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.len());
            }
        }
        let mut out = format!("cgroups: {kind}\n");
        for row in &rows {
            let mut line = String::new();
            for (cell, w) in row.iter().zip(widths) {
                let _ = write!(line, "{cell:<w$}  ");
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        // A v2 tree that holds none of the controllers we use still deserves a line: it is
        // where a hybrid machine's surprises come from.
        for h in &self.hierarchies {
            if h.version == Version::V2 && self.kind() == Kind::Hybrid {
                let holds = if h.controllers.is_empty() {
                    "no controller".to_owned()
                } else {
                    h.controllers.join(" ")
                };
                let _ = writeln!(
                    out,
                    "the v2 tree at {} holds only: {holds}",
                    h.mount_point.display()
                );
            }
        }
        out
    }
    // ANCHOR_END: table
}

/// Mount points in `mountinfo` escape space, tab, newline and backslash as `\ooo`: the
/// field as the path it stands for.
pub fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value =
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(unescape_mount_field(r"/a\040b"), "/a b");
        assert_eq!(unescape_mount_field(r"/plain"), "/plain");
        assert_eq!(unescape_mount_field(r"/end\04"), r"/end\04");
    }

    #[test]
    fn kinds() {
        let v1 = "1 0 0:1 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
        let v2 = "2 0 0:2 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(Layout::parse(v1, "", None).kind(), Kind::V1);
        assert_eq!(Layout::parse(v2, "", None).kind(), Kind::V2);
        let both = format!("{v1}{v2}");
        assert_eq!(Layout::parse(&both, "", None).kind(), Kind::Hybrid);
        assert_eq!(Layout::parse("", "", None).kind(), Kind::None);
    }

    #[test]
    fn a_controller_is_found_where_it_is_bound() {
        let text = "1 0 0:1 / /cg/pids rw - cgroup cgroup rw,pids\n\
                    2 0 0:2 / /cg/unified rw - cgroup2 cgroup2 rw\n";
        let layout = Layout::parse(text, "", Some("hugetlb io"));
        assert_eq!(
            layout.find("pids").unwrap().mount_point,
            Path::new("/cg/pids")
        );
        assert_eq!(layout.find("blkio").unwrap().version, Version::V2);
        assert!(layout.find("memory").is_none());
        // On a hybrid machine, freezer is not built into the v2 tree we do not use.
        assert!(layout.find("freezer").is_none());
    }
}
