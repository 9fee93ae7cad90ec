//! The cgroup namespace: the container sees its own cgroup as the root.
//!
//! Without one, `/proc/self/cgroup` inside the container reads `memory:/berth/3f2a...`: the
//! host's path, telling the container where it is and what the host calls it. With a cgroup
//! namespace it reads `memory:/`. Docker gives every container one by default on cgroup v2
//! (`--cgroupns private`) and shares the host's on v1 (`--cgroupns host`), because on v1 tools
//! inside containers expected the host's paths.
//!
//! A cgroup namespace's root is the cgroup its creator is in *when it creates it*. So it is
//! made by the child itself with `unshare(CLONE_NEWCGROUP)`, after the parent moved it into
//! its cgroup (a parent step runs before the child is released), as runc's init does, rather
//! than by `clone(2)` in chapter 1, when the child is still in the parent's cgroup.

use berth_namespaces::{ChildPhase, ChildStep};
use nix::errno::Errno;
use nix::sched::{CloneFlags, unshare};

/// `--cgroupns`: a namespace of the container's own, or the host's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupNs {
    /// The container's own: it sees its cgroup as `/`.
    Private,
    /// The host's: it sees the host's paths.
    Host,
}

impl CgroupNs {
    /// Docker's default: private on a pure v2 machine, the host's otherwise.
    pub fn default_for(kind: crate::Kind) -> CgroupNs {
        match kind {
            crate::Kind::V2 => CgroupNs::Private,
            _ => CgroupNs::Host,
        }
    }
}

// ANCHOR: unshare
/// A child step (first phase, after the parent moved the child into its cgroup) that gives
/// the container a cgroup namespace rooted at its own cgroup.
#[derive(Debug)]
pub struct UnshareCgroupNs;

impl ChildStep for UnshareCgroupNs {
    fn name(&self) -> &str {
        "unsharing the cgroup namespace"
    }

    fn phase(&self) -> ChildPhase {
        ChildPhase::Mounts
    }

    fn run(&self) -> Result<(), Errno> {
        unshare(CloneFlags::CLONE_NEWCGROUP)
    }
}
// ANCHOR_END: unshare
