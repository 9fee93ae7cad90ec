//! The device allowlist: which devices a container may open, in v1 and in v2.
//!
//! A container's root may `mknod` any device node (CAP_MKNOD is one of Docker's 14
//! capabilities), and an image's layers may carry nodes too. What stops `mknod /dev/sda b 8
//! 0; cat /dev/sda` from reading the host's disk is the cgroup's device allowlist, checked by
//! the kernel at every open: Docker allows a handful of harmless character devices
//! ([`rules::docker_defaults`]) and denies the rest. How the list reaches the kernel depends
//! on the cgroup version:
//!
//! - **v1**: the `devices` controller has files: `a` written to `devices.deny` denies
//!   everything, then each rule written to `devices.allow` makes an exception
//!   ([`apply_v1`]); `devices.list` shows the result.
//! - **v2**: there are no files. A small eBPF program ([`filter`], built by our own
//!   assembler, [`asm`]) is loaded into the kernel and attached to the cgroup ([`attach`]);
//!   the kernel runs it at every device access of the cgroup's processes.
//!
//! Either way the rules are in place before the container's first process joins the cgroup
//! (chapter 1's parent step), so not one instruction of it runs without them.

pub mod asm;
pub mod attach;
pub mod filter;
pub mod mapping;
pub mod rules;

use std::path::{Path, PathBuf};

pub use mapping::{DeviceMapping, HostDevice, MappingError};
pub use rules::{Access, DeviceRule, DeviceType, RuleError};

/// Why the allowlist could not be put in place.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("writing {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Bpf(#[from] attach::AttachError),
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error(transparent)]
    Node(#[from] berth_namespaces::devices::NodeError),
}

/// What a container asks for: `--privileged`, `--device`, `--device-cgroup-rule`. The
/// default is Docker's allowlist and no extra device.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DeviceSettings {
    /// `--privileged`: every device (`a *:* rwm`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// `--device`, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceMapping>,
    /// `--device-cgroup-rule`, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<DeviceRule>,
}

impl DeviceSettings {
    /// Whether nothing beyond Docker's default is asked for.
    pub fn is_empty(&self) -> bool {
        *self == DeviceSettings::default()
    }

    /// The rules for the cgroup (reading each `--device`'s host node).
    pub fn allowlist(&self) -> Result<Vec<DeviceRule>, DeviceError> {
        let mut extra = Vec::new();
        for mapping in &self.devices {
            extra.push(mapping.rule(&mapping.gather()?));
        }
        extra.extend_from_slice(&self.rules);
        Ok(rules::allowlist(self.privileged, &extra))
    }

    /// The chapter 1 steps that make each `--device`'s node in the container.
    pub fn nodes(&self) -> Result<Vec<berth_namespaces::devices::DeviceNode>, DeviceError> {
        let mut nodes = Vec::new();
        for mapping in &self.devices {
            nodes.push(mapping.node(&mapping.gather()?)?);
        }
        Ok(nodes)
    }
}

// ANCHOR: apply_v1
/// v1: deny everything, then allow each rule's devices, in the cgroup directory `dir` of
/// the `devices` hierarchy. (A first rule `a *:* rwm` that allows is `--privileged`.)
pub fn apply_v1(dir: &Path, rules: &[DeviceRule]) -> Result<(), DeviceError> {
    let write = |file: &str, value: String| {
        let path = dir.join(file);
        std::fs::write(&path, &value).map_err(|source| DeviceError::Write {
            path,
            value,
            source,
        })
    };
    write("devices.deny", "a".to_owned())?;
    for rule in rules {
        let file = if rule.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        // The denial of everything is written already.
        if *rule != DeviceRule::everything(false) {
            write(file, rule.to_string())?;
        }
    }
    Ok(())
}
// ANCHOR_END: apply_v1

// ANCHOR: apply_v2
/// v2: load the rules' program and attach it to the cgroup directory `dir`.
pub fn apply_v2(dir: &Path, rules: &[DeviceRule]) -> Result<(), DeviceError> {
    let program = attach::load(&filter::program(rules))?;
    attach::attach(&program, dir)?;
    Ok(())
}
// ANCHOR_END: apply_v2
