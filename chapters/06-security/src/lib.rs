//! # Chapter 6: locking the container down
//!
//! Chapters 1 to 5 build a container that *looks* separate: its own pids, mounts, network,
//! limits. But its PID 1 is root with every capability of the host's root, and the kernel's
//! interfaces are all there: it can mount the host's disks, load kernel modules, read the
//! host's files by inode (`open_by_handle_at`), write `/proc/sys`. Docker closes that with a
//! default **profile**, three layers each of which covers the others' gaps:
//!
//! 1. [`caps`]: 14 of the ~40 capabilities, none of the dangerous ones;
//! 2. [`paths`]: parts of `/proc` and `/sys` masked or read-only;
//! 3. [`seccomp`]: a filter that refuses the system calls containers do not need.
//!
//! A fourth is chapter 5's device allowlist, which refuses to open any device node but a
//! harmless few, whoever made the node: `ch06 run` and the engine put every container under it.
//!
//! Each is a chapter 1 child step (`steps.rs`) in its phase; [`SecurityOptions`] holds the
//! knobs users have (`--privileged`, `--cap-add`, `--cap-drop`, `--security-opt`,
//! `--read-only`) and adds the steps to a start.

pub mod caps;
mod detached;
pub mod engine;
pub mod exe;
pub mod idmap;
pub mod paths;
pub mod seccomp;
pub mod userns;

use std::path::{Path, PathBuf};

use berth_namespaces::Steps;

use caps::{CapSet, Capabilities, UnknownCapability};
use paths::{ReadOnlyRoot, SystemPaths};
use seccomp::Seccomp;
use seccomp::bpf::{self, BpfError};
use seccomp::profile::{Profile, ProfileError};

/// Why a profile could not be made from the options.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error(transparent)]
    Capability(#[from] UnknownCapability),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Bpf(#[from] BpfError),
    #[error(
        "unknown --security-opt {0:?} (expected seccomp=unconfined, seccomp=PATH, \
         no-new-privileges[=true|false] or systempaths=unconfined)"
    )]
    Option(String),
    #[error(
        "--security-opt {0:?}: berth applies no AppArmor or SELinux profile (only \
         apparmor=unconfined and label=disable, which ask for none, are accepted)"
    )]
    Lsm(String),
}

/// Which seccomp profile a container gets.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeccompChoice {
    /// Berth's default, with Docker's semantics.
    #[default]
    Default,
    /// No filter (`--security-opt seccomp=unconfined`).
    Unconfined,
    /// A profile file in Docker's format.
    File(PathBuf),
    /// A profile's text in Docker's format: what the docker CLI sends for
    /// `--security-opt seccomp=PATH` (it reads the file), kept as text in the container's
    /// record so that changing the file later does not change a created container.
    Json(String),
}

impl SeccompChoice {
    /// The profile to load; `None` for no filter.
    pub fn profile(&self) -> Result<Option<Profile>, ProfileError> {
        Ok(match self {
            SeccompChoice::Default => Some(Profile::docker_default()),
            SeccompChoice::Unconfined => None,
            SeccompChoice::File(path) => Some(Profile::load(path)?),
            SeccompChoice::Json(text) => {
                Some(Profile::parse(text, Path::new("from --security-opt"))?)
            }
        })
    }
}

/// The security knobs of `docker run`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SecurityOptions {
    /// `--privileged`: every capability, no filter, no masked paths.
    pub privileged: bool,
    /// `--cap-add`, in order.
    pub cap_add: Vec<String>,
    /// `--cap-drop`, in order.
    pub cap_drop: Vec<String>,
    /// `--security-opt no-new-privileges`.
    pub no_new_privs: bool,
    /// `--security-opt seccomp=...`.
    pub seccomp: SeccompChoice,
    /// `--security-opt systempaths=unconfined`: no masked or read-only paths.
    pub system_paths_unconfined: bool,
    /// `--read-only`.
    pub read_only: bool,
}

impl SecurityOptions {
    /// Takes one `--security-opt` value.
    pub fn security_opt(&mut self, opt: &str) -> Result<(), SecurityError> {
        let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt, ""));
        match (key, value) {
            ("seccomp", "unconfined") => self.seccomp = SeccompChoice::Unconfined,
            ("seccomp", "") => return Err(SecurityError::Option(opt.to_owned())),
            // The docker CLI sends a profile's content, a JSON object; `ch06` a path.
            ("seccomp", json) if json.trim_start().starts_with('{') => {
                self.seccomp = SeccompChoice::Json(json.to_owned());
            }
            ("seccomp", path) => self.seccomp = SeccompChoice::File(path.into()),
            ("no-new-privileges", "" | "true") => self.no_new_privs = true,
            ("no-new-privileges", "false") => self.no_new_privs = false,
            ("systempaths", "unconfined") => self.system_paths_unconfined = true,
            // What dockerd does on a host without AppArmor or SELinux: nothing to lift.
            ("apparmor", "unconfined") | ("label", "disable") => {}
            ("apparmor" | "label", _) => return Err(SecurityError::Lsm(opt.to_owned())),
            _ => return Err(SecurityError::Option(opt.to_owned())),
        }
        Ok(())
    }

    /// The capabilities the container keeps: Docker's defaults, plus the added, minus the
    /// dropped (a drop wins, except that `--cap-drop ALL --cap-add X` keeps X, as Docker's).
    pub fn capabilities(&self) -> Result<CapSet, UnknownCapability> {
        if self.privileged {
            return Ok(CapSet::ALL);
        }
        let mut set = CapSet::docker_defaults();
        let drops_all = self.cap_drop.iter().any(|c| c.eq_ignore_ascii_case("ALL"));
        for name in &self.cap_drop {
            set.drop(name)?;
        }
        for name in &self.cap_add {
            let mut added = CapSet(0);
            added.add(name)?;
            if drops_all || !self.cap_drop.iter().any(|d| CapSet(added.0).has(d)) {
                set.0 |= added.0;
            }
        }
        Ok(set)
    }

    // ANCHOR: add_steps
    /// Adds the profile's child steps to a start, each in its phase.
    pub fn add_steps(&self, steps: &mut Steps) -> Result<(), SecurityError> {
        if self.read_only {
            steps.add_child(ReadOnlyRoot);
        }
        if self.privileged {
            return Ok(()); // chapter 1's container, as before: everything allowed
        }
        if !self.system_paths_unconfined {
            steps.add_child(SystemPaths::docker_defaults());
        }
        let caps = self.capabilities()?;
        let profile = self.seccomp.profile()?;
        // Without no_new_privs the filter goes first, while we still have CAP_SYS_ADMIN.
        if let Some(profile) = profile {
            let program = bpf::compile(&profile.resolve(caps)?, profile.default()?)?;
            steps.add_child(Seccomp::new(program, self.no_new_privs));
        }
        steps.add_child(Capabilities::new(caps, self.no_new_privs));
        Ok(())
    }
    // ANCHOR_END: add_steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_opts_parse_as_dockers() {
        let mut o = SecurityOptions::default();
        o.security_opt("no-new-privileges").unwrap();
        o.security_opt("seccomp=unconfined").unwrap();
        o.security_opt("systempaths=unconfined").unwrap();
        assert!(o.no_new_privs && o.system_paths_unconfined);
        assert_eq!(o.seccomp, SeccompChoice::Unconfined);
        o.security_opt("seccomp=/p.json").unwrap();
        assert_eq!(o.seccomp, SeccompChoice::File("/p.json".into()));
        o.security_opt("seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}")
            .unwrap();
        assert!(
            matches!(o.seccomp, SeccompChoice::Json(_)),
            "{:?}",
            o.seccomp
        );
        let err = o.security_opt("apparmor=x").unwrap_err();
        assert!(err.to_string().contains("\"apparmor=x\""), "{err}");
        o.security_opt("apparmor=unconfined").unwrap();
        o.security_opt("label=disable").unwrap();
        let err = o.security_opt("label=type:svirt_t").unwrap_err();
        assert!(err.to_string().contains("SELinux"), "{err}");
        let err = o.security_opt("bogus").unwrap_err();
        assert!(err.to_string().contains("\"bogus\""), "{err}");
    }

    #[test]
    fn cap_add_and_drop() {
        let mut o = SecurityOptions {
            cap_add: vec!["NET_ADMIN".into()],
            cap_drop: vec!["CAP_CHOWN".into()],
            ..Default::default()
        };
        let set = o.capabilities().unwrap();
        assert!(set.has("NET_ADMIN") && !set.has("CHOWN") && set.has("KILL"));
        o.cap_drop = vec!["ALL".into()];
        assert_eq!(o.capabilities().unwrap().names(), ["CAP_NET_ADMIN"]);
        o.privileged = true;
        assert_eq!(o.capabilities().unwrap(), CapSet::ALL);
    }

    #[test]
    fn the_default_profile_compiles() {
        let profile = Profile::docker_default();
        let rules = profile.resolve(CapSet::docker_defaults()).unwrap();
        assert!(rules.len() > 250, "{}", rules.len());
        let program = bpf::compile(&rules, profile.default().unwrap()).unwrap();
        assert!(program.len() < 4096);
    }
}
