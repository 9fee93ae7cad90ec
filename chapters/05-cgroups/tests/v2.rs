//! cgroup v2 on a machine whose controllers are bound to v1: the unified hierarchy mounted
//! at a directory of the test's own. Every controller in use is v1's here, so v2's own
//! mechanics are what this tests: a container's cgroup made, joined from chapter 1's parent
//! step (`0::/...` in `/proc/PID/cgroup`), a limit whose controller is not in the v2 tree
//! refused by name, and removal of a busy cgroup through `cgroup.kill`.
//! On a pure v2 machine, the limits tests (`limits.rs`) run on v2 already.

mod common;

use berth_cgroups::{Cgroup, CgroupError, Kind, Resources};
use berth_namespaces::{ContainerConfig, start};
use common::V2Scope;

#[test]
fn a_container_in_a_private_cgroup2_mount() {
    let Some(v2) = V2Scope::new("v2") else {
        return;
    };
    let (mount, layout, parent) = (&v2.mount, &v2.layout, &v2.parent);
    assert_eq!(layout.kind(), Kind::V2);
    let root_control = mount.path().join("cgroup.subtree_control");
    let host_controls = std::fs::read_to_string(&root_control).expect("subtree_control");

    let cgroup = Cgroup::create(layout, parent, "c1").expect("creating the v2 cgroup");
    // pids lives in a v1 hierarchy here: v2 cannot have it, and the error says so.
    let pids = Resources {
        pids_limit: Some(20),
        ..Resources::default()
    };
    let err = cgroup.apply(&pids).expect_err("pids is bound to v1");
    assert!(
        matches!(
            err,
            CgroupError::NoController {
                controller: "pids",
                ..
            }
        ),
        "{err}"
    );

    let args = ["sleep", "300"].map(String::from).to_vec();
    let mut config = ContainerConfig::new(berth_tests::busybox_rootfs(), args);
    config.steps.add_parent(cgroup.join_step());
    let container = start(&config).expect("start");
    let line = std::fs::read_to_string(format!("/proc/{}/cgroup", container.pid()))
        .expect("/proc/PID/cgroup");
    assert!(
        line.lines().any(|l| l == format!("0::/{parent}/c1")),
        "the v2 line names our cgroup: {line}"
    );
    assert_eq!(cgroup.pids(), vec![container.pid().as_raw()]);
    // Busy: remove() kills the container (cgroup.kill) and retries rmdir until it is gone.
    let dir = mount.path().join(parent).join("c1");
    cgroup.remove().expect("removing a busy v2 cgroup");
    assert!(!dir.exists());
    let status = container.wait().expect("wait");
    assert_eq!(status.code(), 137, "killed by SIGKILL");
    // The root's subtree_control is the host's: only controllers our limits use may be
    // switched on there, and here (hugetlb only) none is.
    let after = std::fs::read_to_string(&root_control).expect("subtree_control");
    assert_eq!(
        after, host_controls,
        "the v2 root's subtree_control was changed"
    );
}
