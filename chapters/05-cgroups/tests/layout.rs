//! The detection table on recorded machines: `/proc/self/mountinfo`, `/proc/self/cgroup` and
//! the v2 root's `cgroup.controllers` of a v1 host (CentOS 7), a hybrid one (these machines)
//! and a v2 one (Ubuntu 22.04), kept in `tests/recorded/`. The book's "Check your work" shows
//! the hybrid snapshot: what `ch05 cgroups` prints here.

use std::path::Path;

use berth_cgroups::Layout;

fn recorded(machine: &str) -> Layout {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/recorded")
        .join(machine);
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).ok();
    let mountinfo = read("mountinfo").expect("recorded mountinfo");
    let cgroup = read("cgroup").expect("recorded /proc/self/cgroup");
    Layout::parse(&mountinfo, &cgroup, read("cgroup.controllers").as_deref())
}

/// The table, and the directories a container `berth/ID` gets on that machine.
fn report(machine: &str) -> String {
    let layout = recorded(machine);
    let mut out = layout.table();
    out.push_str("\na container's cgroup berth/ID is made in:\n");
    for h in layout.used() {
        out.push_str(&format!("  {}\n", h.mount_point.join("berth/ID").display()));
    }
    out
}

#[test]
fn detection_on_a_v1_host() {
    insta::assert_snapshot!("v1", report("v1"));
}

#[test]
fn detection_on_a_hybrid_host() {
    insta::assert_snapshot!("hybrid", report("hybrid"));
}

#[test]
fn detection_on_a_v2_host() {
    insta::assert_snapshot!("v2", report("v2"));
}
