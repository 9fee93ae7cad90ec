//! `--device /dev/loop3:/dev/xvdc:r`: one host device given to a container.
//!
//! Docker does two things for it at each start: it reads the host node's type, numbers,
//! mode and owner (dockerd fails the start if it cannot: "error gathering device
//! information while adding custom device"), has runc `mknod` the same node at the path in
//! the container, and adds an allow rule with the permissions (`rwm` unless given) to the
//! container's device allowlist. The node alone would open nothing; the rule alone would
//! find no node.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::devices::rules::{Access, DeviceRule, DeviceType};

/// A `--device` as `HostConfig.Devices` holds it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceMapping {
    /// The host's node (`PathOnHost`).
    pub path_on_host: PathBuf,
    /// Where the container sees it (`PathInContainer`): the same path if not given.
    pub path_in_container: PathBuf,
    /// `CgroupPermissions`: `rwm` unless given.
    pub permissions: String,
}

/// A host node's identity, read at each start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostDevice {
    /// Character or block.
    pub kind: DeviceType,
    /// Its numbers.
    pub major: u32,
    pub minor: u32,
    /// Its permission bits (`0o660`).
    pub mode: u32,
    /// Its owner and group, which the container's node gets too.
    pub uid: u32,
    pub gid: u32,
}

/// Why a `--device` cannot be given. The messages are dockerd's and the docker CLI's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MappingError {
    #[error("error gathering device information while adding custom device {path:?}: {why}")]
    Gather { path: PathBuf, why: String },
    #[error("bad mode specified: {0}")]
    Mode(String),
    #[error("{0} is not an absolute path")]
    Relative(String),
}

impl DeviceMapping {
    /// A mapping with Docker's defaults filled in, checked: absolute paths, a mode of `rwm`.
    pub fn new(
        on_host: &str,
        in_container: &str,
        permissions: &str,
    ) -> Result<DeviceMapping, MappingError> {
        let in_container = if in_container.is_empty() {
            on_host
        } else {
            in_container
        };
        let permissions = if permissions.is_empty() {
            "rwm"
        } else {
            permissions
        };
        for path in [on_host, in_container] {
            if !path.starts_with('/') {
                return Err(MappingError::Relative(path.to_owned()));
            }
        }
        if Access::parse(permissions).is_none() {
            return Err(MappingError::Mode(permissions.to_owned()));
        }
        Ok(DeviceMapping {
            path_on_host: on_host.into(),
            path_in_container: in_container.into(),
            permissions: permissions.to_owned(),
        })
    }

    /// Parses the docker CLI's `--device` value: `HOST`, `HOST:CONTAINER`, `HOST:MODE` or
    /// `HOST:CONTAINER:MODE`.
    pub fn parse(text: &str) -> Result<DeviceMapping, MappingError> {
        let parts: Vec<&str> = text.split(':').collect();
        match parts[..] {
            [host] => DeviceMapping::new(host, "", ""),
            [host, mode] if Access::parse(mode).is_some() => DeviceMapping::new(host, "", mode),
            [host, container] => DeviceMapping::new(host, container, ""),
            [host, container, mode] => DeviceMapping::new(host, container, mode),
            _ => Err(MappingError::Mode(text.to_owned())),
        }
    }

    /// Reads the host node, as dockerd does at each start.
    pub fn gather(&self) -> Result<HostDevice, MappingError> {
        let fail = |why: String| MappingError::Gather {
            path: self.path_on_host.clone(),
            why,
        };
        let meta = std::fs::metadata(&self.path_on_host).map_err(|e| {
            let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0));
            // Go's wording, lower case: "no such file or directory".
            fail(errno.desc().to_lowercase())
        })?;
        let kind = if meta.file_type().is_block_device() {
            DeviceType::Block
        } else if meta.file_type().is_char_device() {
            DeviceType::Char
        } else {
            return Err(fail("not a device node".into()));
        };
        let rdev = meta.rdev();
        Ok(HostDevice {
            kind,
            major: libc::major(rdev),
            minor: libc::minor(rdev),
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        })
    }

    /// The allow rule for the device found on the host.
    pub fn rule(&self, device: &HostDevice) -> DeviceRule {
        let access = Access::parse(&self.permissions).unwrap_or(Access::ALL);
        DeviceRule::allow(
            device.kind,
            Some(device.major),
            Some(device.minor),
            access.0,
        )
    }

    /// The chapter 1 step that makes the node in the container's `/dev`.
    pub fn node(
        &self,
        device: &HostDevice,
    ) -> Result<berth_namespaces::devices::DeviceNode, berth_namespaces::devices::NodeError> {
        berth_namespaces::devices::DeviceNode::new(
            Path::new(&self.path_in_container),
            device.kind == DeviceType::Block,
            (device.major, device.minor),
            device.mode,
            (device.uid, device.gid),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clis_forms_parse() {
        let m = DeviceMapping::parse("/dev/loop3:/dev/xvdc:r").unwrap();
        assert_eq!(m.path_in_container, Path::new("/dev/xvdc"));
        assert_eq!(m.permissions, "r");
        let m = DeviceMapping::parse("/dev/loop3:rw").unwrap();
        assert_eq!(m.path_in_container, Path::new("/dev/loop3"));
        assert_eq!(m.permissions, "rw");
        assert_eq!(
            DeviceMapping::parse("/dev/loop3").unwrap().permissions,
            "rwm"
        );
        assert_eq!(
            DeviceMapping::parse("/dev/loop0:/dev/xvdc:rq")
                .unwrap_err()
                .to_string(),
            "bad mode specified: rq"
        );
        assert_eq!(
            DeviceMapping::parse("/dev/loop0:xvdc")
                .unwrap_err()
                .to_string(),
            "xvdc is not an absolute path"
        );
    }

    #[test]
    fn gathering_names_the_device_as_dockerd() {
        let null = DeviceMapping::parse("/dev/null").unwrap();
        let device = null.gather().unwrap();
        assert_eq!(
            (device.kind, device.major, device.minor),
            (DeviceType::Char, 1, 3)
        );
        assert_eq!(null.rule(&device).to_string(), "c 1:3 rwm");
        let err = DeviceMapping::parse("/dev/nope")
            .unwrap()
            .gather()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "error gathering device information while adding custom device \"/dev/nope\": \
             no such file or directory"
        );
        let err = DeviceMapping::parse("/etc/hostname")
            .unwrap()
            .gather()
            .unwrap_err();
        assert!(err.to_string().ends_with("not a device node"), "{err}");
    }
}
