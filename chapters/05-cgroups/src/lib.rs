//! # Chapter 5: resource limits with cgroups
//!
//! Namespaces (chapter 1) decide what a container *sees*; control groups decide how much it
//! may *use*: memory, CPU time, processes, block IO. The kernel accounts every process to one
//! cgroup per hierarchy and enforces the limits written in that cgroup's files. Docker (runc)
//! gives each container a cgroup of its own, writes the limits of `docker run --memory 64m
//! --cpus 0.5 --pids-limit 20` into it, and moves the container's first process in before it
//! runs. This crate does the same, on cgroup v1, v2, and the hybrid of the two:
//!
//! 1. [`layout`]: where each controller lives on this machine (`ch05 cgroups` prints it);
//! 2. [`resources`]: the limits, and the file each one becomes in v1 and in v2;
//! 3. [`cgroup`]: make the container's cgroup, write the limits, join it from chapter 1's
//!    parent-side step, read the OOM and CPU counters, remove it;
//! 4. [`owner`]: who owns a cgroup, so the next start removes those of a killed `ch05`;
//! 5. [`namespace`]: a cgroup namespace, so the container sees its cgroup as `/`;
//! 6. [`devices`]: the device allowlist, v1's files or v2's BPF program;
//! 7. [`engine`]: the same for every container of chapter 4's engine, as an extension;
//! 8. [`usage`], [`top`]: what a running container uses (`docker stats`) and which processes
//!    it has (`docker top`), read from its cgroup; the freezer (`docker pause`) is in
//!    [`cgroup`].

pub mod cgroup;
pub mod devices;
pub mod engine;
pub mod layout;
pub mod namespace;
pub mod owner;
pub mod resources;
pub mod top;
pub mod usage;

pub use cgroup::{Cgroup, CgroupError, JoinStep};
pub use devices::{DeviceMapping, DeviceRule, DeviceSettings};
pub use engine::{CgroupExtension, UpdateError};
pub use layout::{Hierarchy, Kind, Layout, LayoutError, Version};
pub use namespace::{CgroupNs, UnshareCgroupNs};
pub use owner::{OwnerError, OwnerLock, sweep};
pub use resources::{ResourceError, Resources, Setting, parse_cpus, parse_size};
pub use top::{Table, TopError};
pub use usage::Usage;
