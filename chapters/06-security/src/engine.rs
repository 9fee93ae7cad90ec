//! Chapter 6 in the engine: every container gets Docker's default profile, exec included.
//!
//! dockerd writes the profile into each container's OCI spec (capabilities, seccomp,
//! `maskedPaths`/`readonlyPaths`, `noNewPrivileges`) and runc applies it in the container's
//! init, and again in every `docker exec`'s process (`runc exec` reads the same spec). Here
//! the profile is chapter 1 child steps ([`SecurityOptions::add_steps`]), added by an engine
//! [`Extension`]: `configure` in the monitor for the container's first process,
//! `configure_exec` in the daemon for each exec, so an exec has the same capabilities and
//! seccomp filter as its container's PID 1 (chapter 1's `enter` runs only the steps of the
//! phases an entering process has: the masked paths are already in the container's mounts).
//!
//! The knobs come from the record's `"security"` slot ([`Settings`]), written at create from
//! `HostConfig` (`Privileged`, `CapAdd`, `CapDrop`, `SecurityOpt`). A container without the
//! slot gets the default profile: confinement is never opted into. A seccomp profile given
//! at create is kept as its text, as dockerd keeps it in the container's config.
//!
//! The profile holds no resource outside the container's processes, so `prepare`, `release`
//! and `sweep_orphans` have nothing to do. A second extension, [`UsernsExtension`], runs every
//! container remapped when the daemon was started with `userns-remap`.

use std::path::{Path, PathBuf};

use berth_daemon::engine::{Extension, ExtensionError};
use berth_images::container::ContainerRecord;
use berth_namespaces::namespaces::IdMaps;
use berth_namespaces::{ContainerConfig, Steps};

use crate::userns::Remap;
use crate::{SecurityError, SecurityOptions};

/// The record's slot that holds a container's [`Settings`].
pub const SLOT: &str = "security";

/// What a container's record keeps in its `"security"` slot.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// The knobs, as the profile applies them.
    #[serde(flatten)]
    pub options: SecurityOptions,
    /// `HostConfig.SecurityOpt` as it was sent, for inspect (Docker reports it unchanged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// `HostConfig.UsernsMode`: `"host"` opts out of the daemon's `userns-remap`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub userns_mode: String,
}

impl Settings {
    /// The settings of `docker run --privileged --cap-add .. --cap-drop .. --security-opt ..`,
    /// checked as the start would use them (a capability's name, a seccomp profile's JSON and
    /// rules), so that a bad value is refused at create, never at start.
    pub fn new(
        privileged: bool,
        cap_add: Vec<String>,
        cap_drop: Vec<String>,
        security_opt: Vec<String>,
    ) -> Result<Settings, SecurityError> {
        let mut options = SecurityOptions {
            privileged,
            cap_add,
            cap_drop,
            ..SecurityOptions::default()
        };
        for opt in &security_opt {
            options.security_opt(opt)?;
        }
        // As the start will build it (the filter compiled for these capabilities); and,
        // as dockerd does, the names and the profile are checked even when privileged makes
        // them moot.
        let unprivileged = SecurityOptions {
            privileged: false,
            ..options.clone()
        };
        unprivileged.add_steps(&mut Steps::default())?;
        Ok(Settings {
            options,
            security_opt,
            userns_mode: String::new(),
        })
    }

    /// Whether nothing is asked for: the default profile (no slot is written then).
    pub fn is_empty(&self) -> bool {
        *self == Settings::default()
    }
}

/// The settings in a record's slot (the default profile's if it has no slot).
pub fn settings(record: &ContainerRecord) -> Result<Settings, ExtensionError> {
    match record.slots.get(SLOT) {
        None => Ok(Settings::default()),
        Some(value) => Ok(serde_json::from_value(value.clone())?),
    }
}

// ANCHOR: extension
/// The security extension of the engine: Docker's default profile, or what the container
/// was created with.
#[derive(Debug, Default)]
pub struct SecurityExtension;

impl Extension for SecurityExtension {
    fn name(&self) -> &str {
        "security"
    }

    fn prepare(&self, _record: &ContainerRecord, _dir: &Path) -> Result<(), ExtensionError> {
        Ok(())
    }

    fn configure(
        &self,
        record: &ContainerRecord,
        config: &mut ContainerConfig,
    ) -> Result<(), ExtensionError> {
        settings(record)?.options.add_steps(&mut config.steps)?;
        Ok(())
    }

    fn configure_exec(
        &self,
        record: &ContainerRecord,
        privileged: bool,
        config: &mut ContainerConfig,
    ) -> Result<(), ExtensionError> {
        let mut options = settings(record)?.options;
        // `docker exec --privileged` lifts the profile for this process only.
        options.privileged |= privileged;
        options.add_steps(&mut config.steps)?;
        Ok(())
    }

    fn release(&self, _id: &str) -> Result<(), ExtensionError> {
        Ok(())
    }

    fn sweep_orphans(&self, _exists: &dyn Fn(&str) -> bool) -> Result<(), ExtensionError> {
        Ok(())
    }
}
// ANCHOR_END: extension

// ANCHOR: userns_extension
/// `userns-remap` in the engine: every container of a daemon started with the setting runs in a
/// user namespace with the maps berthd resolved at start (`userns::Remap::store`), on idmapped
/// layers (`idmap.rs`), unless it was created with `--userns host`. Nothing outlives the
/// container's processes (the views go with its mount namespace), so there is nothing to release.
#[derive(Debug)]
pub struct UsernsExtension {
    data_root: PathBuf,
}

impl UsernsExtension {
    /// The extension of the daemon whose data root is `data_root`.
    pub fn for_store(data_root: &Path) -> Self {
        UsernsExtension {
            data_root: data_root.to_owned(),
        }
    }

    /// The maps of the container `record`'s remapped root: none without `userns-remap` or
    /// with `--userns host`. What else the container owns on the host follows them (chapter
    /// 8's new volumes, as dockerd's).
    pub fn maps_of(&self, record: &ContainerRecord) -> Result<Option<IdMaps>, ExtensionError> {
        let Some(remap) = Remap::stored(&self.data_root)? else {
            return Ok(None);
        };
        if settings(record)?.userns_mode == "host" {
            return Ok(None);
        }
        Ok(Some(remap.id_maps()))
    }
}

impl Extension for UsernsExtension {
    fn name(&self) -> &str {
        "userns-remap"
    }

    fn prepare(&self, _record: &ContainerRecord, _dir: &Path) -> Result<(), ExtensionError> {
        Ok(())
    }

    fn configure(
        &self,
        record: &ContainerRecord,
        config: &mut ContainerConfig,
    ) -> Result<(), ExtensionError> {
        let Some(maps) = self.maps_of(record)? else {
            return Ok(());
        };
        let mount = config
            .rootfs_mount
            .as_ref()
            .ok_or("userns-remap needs the container's overlay, and it has none")?;
        let (lowers, owned) = crate::idmap::overlay_dirs(&mount.options);
        crate::idmap::remap_layers(&lowers, &owned, &maps, &mut config.steps)?;
        config.id_maps = Some(maps);
        Ok(())
    }

    fn release(&self, _id: &str) -> Result<(), ExtensionError> {
        Ok(())
    }

    fn sweep_orphans(&self, _exists: &dyn Fn(&str) -> bool) -> Result<(), ExtensionError> {
        Ok(())
    }
}
// ANCHOR_END: userns_extension

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeccompChoice;

    #[test]
    fn bad_values_are_refused_at_create() {
        let err = Settings::new(false, vec!["NET_BOGUS".into()], vec![], vec![]).unwrap_err();
        assert!(err.to_string().contains("NET_BOGUS"), "{err}");
        // Even when privileged makes the profile moot, as dockerd's checks do.
        let err = Settings::new(true, vec![], vec!["NOPE".into()], vec![]).unwrap_err();
        assert!(err.to_string().contains("NOPE"), "{err}");
        let err = Settings::new(false, vec![], vec![], vec!["seccomp={not json".into()]);
        assert!(err.unwrap_err().to_string().contains("seccomp"));
        let err = Settings::new(false, vec![], vec![], vec!["bogus=1".into()]).unwrap_err();
        assert!(err.to_string().contains("bogus=1"), "{err}");
    }

    #[test]
    fn the_slot_keeps_a_profile_as_text() {
        let json = r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#;
        let opt = format!("seccomp={json}");
        let settings = Settings::new(false, vec![], vec![], vec![opt.clone()]).unwrap();
        assert_eq!(settings.options.seccomp, SeccompChoice::Json(json.into()));
        let value = serde_json::to_value(&settings).unwrap();
        let back: Settings = serde_json::from_value(value).unwrap();
        assert_eq!(back, settings);
        assert_eq!(back.security_opt, [opt]);
        assert!(
            Settings::new(false, vec![], vec![], vec![])
                .unwrap()
                .is_empty()
        );
    }
}
