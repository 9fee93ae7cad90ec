//! cgroups: which hierarchies are mounted (v1, v2, or both: "hybrid"), and where each
//! controller chapter 5 limits with lives.

use std::fs;
use std::path::Path;

use super::report::{Check, Status};

/// The controllers chapter 5 limits.
const NEEDED_CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];

/// Which cgroup hierarchies are mounted (v1, v2 or both: "hybrid") and where each controller
/// is, read from `mountinfo` (normally `/proc/self/mountinfo`).
pub fn check_cgroups(mountinfo: &Path) -> Check {
    let why = "chapter 5: cpu, memory and pids limits are cgroup controllers, in v1 or v2";
    let name = "cgroups";
    let text = match fs::read_to_string(mountinfo) {
        Ok(text) => text,
        Err(e) => {
            return Check::new(
                name,
                Status::Fail,
                format!("reading {}: {e}", mountinfo.display()),
                why,
            )
            .fix("mount /proc");
        }
    };
    let layout = cgroup_layout(&text, |path| fs::read_to_string(path).ok());
    let kind = match (layout.v1.is_empty(), layout.v2.is_some()) {
        (true, true) => "v2",
        (false, false) => "v1",
        (false, true) => "hybrid",
        (true, false) => {
            return Check::new(name, Status::Fail, "no cgroup filesystem is mounted", why)
                .fix("sudo mount -t cgroup2 none /sys/fs/cgroup");
        }
    };
    let mut found = vec![kind.to_owned()];
    if !layout.v1.is_empty() {
        let v1: Vec<&str> = layout.v1.iter().map(|(c, _)| c.as_str()).collect();
        found.push(format!("v1: {}", v1.join(" ")));
    }
    if let Some((mount_point, controllers)) = &layout.v2 {
        found.push(format!(
            "v2 at {mount_point}: {}",
            if controllers.is_empty() {
                "no controllers".to_owned()
            } else {
                controllers.join(" ")
            }
        ));
    }
    let missing: Vec<&str> = NEEDED_CONTROLLERS
        .iter()
        .copied()
        .filter(|c| {
            !layout.v1.iter().any(|(v1, _)| v1 == c)
                && !layout
                    .v2
                    .as_ref()
                    .is_some_and(|(_, v2)| v2.iter().any(|v| v == c))
        })
        .collect();
    if missing.is_empty() {
        Check::new(name, Status::Ok, found.join("; "), why)
    } else {
        found.push(format!("missing: {}", missing.join(" ")));
        Check::new(name, Status::Warn, found.join("; "), why)
            .fix("enable the controllers: on v2, `echo +cpu +memory +pids | sudo tee /sys/fs/cgroup/cgroup.subtree_control`; or boot with systemd.unified_cgroup_hierarchy=1")
    }
}

/// Where the cgroup controllers are.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CgroupLayout {
    /// Each v1 controller and the directory its hierarchy is mounted on.
    pub v1: Vec<(String, String)>,
    /// The v2 mount point and the controllers it offers, if v2 is mounted.
    pub v2: Option<(String, Vec<String>)>,
}

/// Reads the cgroup mounts from a `mountinfo` text; `read` gives the contents of a v2
/// `cgroup.controllers` file (a parameter so the layout of any host can be tested).
pub fn cgroup_layout(mountinfo: &str, read: impl Fn(&Path) -> Option<String>) -> CgroupLayout {
    let mut layout = CgroupLayout::default();
    for line in mountinfo.lines() {
        // `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPER_OPTIONS`
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let mount_point = before.split(' ').nth(4).unwrap_or_default();
        let mut after = after.split(' ');
        let fstype = after.next().unwrap_or_default();
        let super_options = after.nth(1).unwrap_or_default();
        match fstype {
            "cgroup2" if layout.v2.is_none() => {
                let controllers = read(&Path::new(mount_point).join("cgroup.controllers"))
                    .map(|text| text.split_whitespace().map(str::to_owned).collect())
                    .unwrap_or_default();
                layout.v2 = Some((mount_point.to_owned(), controllers));
            }
            "cgroup" => {
                for option in super_options.split(',') {
                    // `name=systemd` is a named hierarchy without a controller.
                    if !matches!(
                        option,
                        "rw" | "ro" | "xattr" | "clone_children" | "noprefix"
                    ) && !option.contains('=')
                    {
                        layout.v1.push((option.to_owned(), mount_point.to_owned()));
                    }
                }
            }
            _ => {}
        }
    }
    layout.v1.sort();
    layout
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hybrid_layout_says_which_controller_is_where() {
        let mountinfo = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:5 - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        let layout = cgroup_layout(mountinfo, |path| {
            (path == Path::new("/sys/fs/cgroup/unified/cgroup.controllers"))
                .then(|| "hugetlb pids\n".to_owned())
        });
        assert_eq!(
            layout.v1,
            [
                ("cpu".to_owned(), "/sys/fs/cgroup/cpu".to_owned()),
                ("memory".to_owned(), "/sys/fs/cgroup/memory".to_owned())
            ]
        );
        assert_eq!(
            layout.v2,
            Some((
                "/sys/fs/cgroup/unified".to_owned(),
                vec!["hugetlb".to_owned(), "pids".to_owned()]
            ))
        );
    }
}
