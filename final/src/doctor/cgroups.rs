//! cgroups: which hierarchies are mounted (v1, v2, or both: "hybrid"), and where each
//! controller chapter 5 limits with lives, as chapter 5's own detection table says it
//! (`ch05 cgroups` prints the same table: one implementation, in `berth_cgroups::layout`).

use std::path::Path;

use berth_cgroups::layout::{Kind, LIMITED, UNLIMITED};
use berth_cgroups::{Layout, Version};

use super::report::{Check, Status};

/// The controllers without which chapter 5's basic limits cannot work.
const NEEDED_CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];

/// Where the cgroup controllers are, read from the `mountinfo` and `cgroup` files of `proc`
/// (normally `/proc/self`): a summary line, and chapter 5's table under it.
pub fn check_cgroups(proc: &Path) -> Check {
    let why = "chapter 5: cpu, memory and pids limits are cgroup controllers, in v1 or v2";
    let name = "cgroups";
    let layout = match Layout::detect_in(proc) {
        Ok(layout) => layout,
        Err(e) => return Check::new(name, Status::Fail, e.to_string(), why).fix("mount /proc"),
    };
    let summary = summary(&layout);
    if layout.kind() == Kind::None {
        return Check::new(name, Status::Fail, summary, why)
            .fix("sudo mount -t cgroup2 none /sys/fs/cgroup");
    }
    let missing: Vec<&str> = NEEDED_CONTROLLERS
        .iter()
        .copied()
        .filter(|c| layout.find(c).is_none())
        .collect();
    let table = layout.table().lines().map(str::to_owned).collect();
    if missing.is_empty() {
        Check::new(name, Status::Ok, summary, why).details(table)
    } else {
        Check::new(
            name,
            Status::Warn,
            format!("{summary}; missing: {}", missing.join(" ")),
            why,
        )
        .details(table)
        .fix("enable the controllers: on v2, `echo +cpu +memory +pids | sudo tee /sys/fs/cgroup/cgroup.subtree_control`; or boot with systemd.unified_cgroup_hierarchy=1")
    }
}

/// `hybrid; v1: cpu memory ...; v2: hugetlb`: the kind, and which controller of ours is in
/// which version.
fn summary(layout: &Layout) -> String {
    let kind = match layout.kind() {
        Kind::V2 => "v2",
        Kind::V1 => "v1",
        Kind::Hybrid => "hybrid",
        Kind::None => return "no cgroup filesystem is mounted".to_owned(),
    };
    let mut parts = vec![kind.to_owned()];
    for (version, label) in [(Version::V1, "v1"), (Version::V2, "v2")] {
        let here: Vec<&str> = LIMITED
            .iter()
            .chain(UNLIMITED)
            .copied()
            .filter(|c| layout.find(c).is_some_and(|h| h.version == version))
            .collect();
        if !here.is_empty() {
            parts.push(format!("{label}: {}", here.join(" ")));
        }
    }
    parts.join("; ")
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
        let layout = Layout::parse(mountinfo, "", Some("hugetlb pids\n"));
        assert_eq!(summary(&layout), "hybrid; v1: memory cpu; v2: pids");
    }

    #[test]
    fn an_unreadable_proc_fails_with_a_fix() {
        let check = check_cgroups(Path::new("/nonexistent/proc"));
        assert_eq!(check.status, Status::Fail);
        assert!(
            check.found.contains("/nonexistent/proc/mountinfo"),
            "{}",
            check.found
        );
        assert_eq!(check.fix.as_deref(), Some("mount /proc"));
    }
}
