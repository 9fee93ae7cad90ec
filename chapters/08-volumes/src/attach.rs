//! A container's mounts: what `docker create` decides and what each start does with it.
//!
//! At create, Docker turns the container's mount flags and its image's `VOLUME`s into a list
//! of mount points (`docker inspect`'s `Mounts`): a named volume is made if it does not exist,
//! an anonymous one is made for each `VOLUME` or `-v /path` that nothing else covers, a bind
//! source given with `-v` is made if missing. That list is the container's and is kept with
//! it, in the `"mounts"` slot of its record (chapter 2's `ContainerRecord::slots`), written
//! once at create like everything else in the record: so the list is decided *before* the
//! record is written, and the image's files are copied into new volumes just after (that
//! needs the container's overlay). Containers created before the slot existed kept the list
//! in a `mounts.json` beside the record; it is still read. At each start, every entry becomes a chapter 1 child
//! step ([`crate::inroot::InRootMount`]), with the bind sources resolved on the host again,
//! once, so that a symlink there is followed as it is *now* and never again in the child.
//!
//! Which containers use a volume is found by reading these lists: that is how `volume rm`
//! knows it must refuse, and `rm -v` which anonymous volumes go with their container.

use std::fs;
use std::path::{Path, PathBuf};

use berth_namespaces::namespaces::IdMaps;
use berth_namespaces::{ContainerConfig, RootfsMount};
use nix::mount::MsFlags;
use serde::{Deserialize, Serialize};

use crate::inroot::{InRootMount, MountSource, PrepareError, ReadonlyRoot};
use crate::spec::{MountKind, MountSpec};
use crate::volume::{Volume, VolumeError, Volumes};

/// The name of the record's slot that lists a container's mounts.
pub const SLOT: &str = "mounts";

/// Where containers created before the slot existed kept their mount list, beside the record.
pub const LEGACY_MOUNTS_FILE: &str = "mounts.json";

/// Why a container's mounts could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(transparent)]
    Volume(#[from] VolumeError),
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error("bind source {path}: {source}")]
    BindSource {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Copy(#[from] crate::copyup::CopyError),
    #[error("the mount list {path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
}

// ANCHOR: attached
/// One mount point of a container, decided at create (an entry of inspect's `Mounts`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attached {
    /// Volume, bind or tmpfs.
    pub kind: MountKind,
    /// The volume's name, for a volume.
    pub name: Option<String>,
    /// The host path as given (a bind's source) or the volume's directory.
    pub source: PathBuf,
    /// Where it appears in the container.
    pub destination: String,
    /// Mounted read-only.
    pub readonly: bool,
    /// For tmpfs: the kernel's options; `noexec` as `--tmpfs` sets it.
    pub tmpfs_options: String,
    /// For tmpfs: mounted `noexec`.
    pub noexec: bool,
    /// The volume was made for this container (removed with it by `rm -v`).
    pub anonymous: bool,
    /// Not to be filled with the image's files (`nocopy`).
    #[serde(default)]
    pub nocopy: bool,
}
// ANCHOR_END: attached

/// Everything a container mounts, and whether its root is read-only (`--read-only`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerMounts {
    /// Its mount points, in the order they are mounted (shorter destinations first).
    pub mounts: Vec<Attached>,
    /// `--read-only`: the root is remounted read-only after the mounts.
    pub readonly_root: bool,
    /// The `-v` values as the user gave them (`HostConfig.Binds` in inspect). A list saved
    /// before this field existed reads as none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binds: Vec<String>,
    /// The `--tmpfs` values as the user gave them, destination to options
    /// (`HostConfig.Tmpfs` in inspect). A list saved before this field existed reads as none.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tmpfs: std::collections::BTreeMap<String, String>,
}

impl ContainerMounts {
    // ANCHOR: resolve
    /// Decides a new container's mounts, before it exists: volumes made or found, anonymous
    /// ones made for `image_volumes` (the image's `VOLUME`s) not covered by a spec, `-v` bind
    /// sources made. On error, the anonymous volumes already made are removed again. The
    /// list goes into the record's slot ([`ContainerMounts::slot`]); once the container
    /// exists, [`ContainerMounts::populate`] fills its new volumes.
    pub fn create(
        volumes: &Volumes,
        specs: &[MountSpec],
        image_volumes: &[String],
        readonly_root: bool,
    ) -> Result<ContainerMounts, AttachError> {
        let mut made = ContainerMounts {
            mounts: Vec::new(),
            readonly_root,
            binds: Vec::new(),
            tmpfs: Default::default(),
        };
        let mut specs = specs.to_vec();
        for destination in image_volumes {
            let covered = specs
                .iter()
                .any(|s| same_destination(&s.destination, destination));
            if !covered {
                specs.extend(crate::spec::parse_volume_flag(destination).ok());
            }
        }
        // A mount inside another (`/data` and `/data/logs`) must come after it.
        specs.sort_by_key(|s| Path::new(&s.destination).components().count());
        for spec in &specs {
            match made.attach(volumes, spec) {
                Ok(attached) => made.mounts.push(attached),
                Err(error) => {
                    made.undo(volumes);
                    return Err(error);
                }
            }
        }
        Ok(made)
    }

    /// Removes the anonymous volumes that [`ContainerMounts::create`] made, when the
    /// container they were made for could not be created after all: nothing else can use
    /// them yet.
    pub fn undo(&self, volumes: &Volumes) {
        for name in self.anonymous_volumes() {
            let _ = volumes.remove(name, &[], true);
        }
    }

    /// Fills each new, empty volume with the image's files at its destination, from the
    /// container's `rootfs` overlay (see [`crate::copyup`]), unless `nocopy`. Once the
    /// container exists: its overlay needs its directories. `maps`: the container's remapped
    /// root (chapter 6), which then owns the new volumes and what was copied into them.
    pub fn populate(
        &self,
        volumes: &Volumes,
        rootfs: &RootfsMount,
        maps: Option<&IdMaps>,
    ) -> Result<(), AttachError> {
        for attached in self.mounts.iter().filter(|m| !m.nocopy) {
            populate(volumes, rootfs, attached, maps)?;
        }
        Ok(())
    }

    /// The list as the record's [`SLOT`] holds it.
    pub fn slot(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("mount lists always serialise")
    }
    // ANCHOR_END: resolve

    fn attach(&self, volumes: &Volumes, spec: &MountSpec) -> Result<Attached, AttachError> {
        let mut attached = Attached {
            kind: spec.kind,
            name: None,
            source: PathBuf::new(),
            destination: spec.destination.clone(),
            readonly: spec.readonly,
            tmpfs_options: spec.tmpfs_options.clone(),
            noexec: spec.noexec,
            anonymous: false,
            nocopy: spec.nocopy,
        };
        match spec.kind {
            MountKind::Volume => {
                let volume = volumes.create(
                    spec.source.as_deref(),
                    Default::default(),
                    Default::default(),
                )?;
                // Made for this container, not found by name (`--volumes-from` names another's).
                attached.anonymous = volume.anonymous && spec.source.is_none();
                attached.source = volume.mountpoint;
                attached.name = Some(volume.name);
            }
            MountKind::Bind => {
                let source = PathBuf::from(spec.source.as_deref().unwrap_or_default());
                if spec.create_source && !source.exists() {
                    fs::create_dir_all(&source).map_err(|e| AttachError::BindSource {
                        path: source.clone(),
                        source: e,
                    })?;
                }
                fs::metadata(&source).map_err(|e| AttachError::BindSource {
                    path: source.clone(),
                    source: e,
                })?;
                attached.source = source;
            }
            MountKind::Tmpfs => attached.source = PathBuf::from("tmpfs"),
        }
        Ok(attached)
    }

    /// The anonymous volumes of this container, by name.
    pub fn anonymous_volumes(&self) -> impl Iterator<Item = &str> {
        self.mounts
            .iter()
            .filter(|m| m.anonymous)
            .filter_map(|m| m.name.as_deref())
    }

    /// Removes this container's anonymous volumes (`rm -v`, `--rm`), best effort: one that
    /// is gone already is not an error, and one that another container of `containers_dir`
    /// still uses (through `--volumes-from`) stays.
    pub fn remove_anonymous(&self, volumes: &Volumes, containers_dir: &Path) {
        for name in self.anonymous_volumes() {
            if users(containers_dir, name).is_empty() {
                let _ = volumes.remove(name, &[], true);
            }
        }
    }

    /// `--volumes-from`: this container's volumes and bind mounts as specs for another
    /// container, read-only if `readonly` says so, else as they are here (tmpfs is not shared).
    pub fn inherited(&self, readonly: Option<bool>) -> Vec<MountSpec> {
        self.mounts
            .iter()
            .filter(|m| m.kind != MountKind::Tmpfs)
            .map(|m| MountSpec {
                kind: m.kind,
                source: match m.kind {
                    MountKind::Volume => m.name.clone(),
                    _ => Some(m.source.display().to_string()),
                },
                destination: m.destination.clone(),
                readonly: readonly.unwrap_or(m.readonly),
                nocopy: true,
                tmpfs_options: String::new(),
                noexec: false,
                create_source: false,
            })
            .collect()
    }

    /// Whether this container uses the volume `name`.
    pub fn uses(&self, name: &str) -> bool {
        self.mounts.iter().any(|m| m.name.as_deref() == Some(name))
    }

    /// The list of the container whose directory is `container_dir`: its record's slot, or
    /// for a container created before the slot existed, its `mounts.json`; none if it has no
    /// mounts.
    pub fn load(container_dir: &Path) -> Result<ContainerMounts, AttachError> {
        let record = container_dir.join("config.json");
        let damaged = |path: &Path, reason: String| AttachError::Damaged {
            path: path.to_owned(),
            reason,
        };
        #[derive(Deserialize)]
        struct Slots {
            #[serde(default)]
            slots: std::collections::BTreeMap<String, serde_json::Value>,
        }
        match fs::read(&record) {
            Ok(bytes) => {
                let slots: Slots =
                    serde_json::from_slice(&bytes).map_err(|e| damaged(&record, e.to_string()))?;
                if let Some(slot) = slots.slots.get(SLOT) {
                    return serde_json::from_value(slot.clone())
                        .map_err(|e| damaged(&record, format!("slot {SLOT:?}: {e}")));
                }
            }
            // A create that did not finish: no record, no mounts of its own.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(AttachError::Io {
                    action: "reading",
                    path: record,
                    source,
                });
            }
        }
        let legacy = container_dir.join(LEGACY_MOUNTS_FILE);
        match fs::read(&legacy) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| damaged(&legacy, e.to_string()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ContainerMounts::default()),
            Err(source) => Err(AttachError::Io {
                action: "reading",
                path: legacy,
                source,
            }),
        }
    }

    // ANCHOR: add_steps
    /// Adds the child steps that mount everything on the container's root (`config.rootfs`),
    /// at a start. Bind sources are resolved on the host here, once.
    pub fn add_steps(
        &self,
        volumes: &Volumes,
        config: &mut ContainerConfig,
    ) -> Result<(), AttachError> {
        for mount in &self.mounts {
            let (source, extra) = self.source_of(volumes, mount)?;
            let destination = Path::new(&mount.destination);
            let step =
                InRootMount::new(&config.rootfs, &source, destination, mount.readonly, extra)?;
            config.steps.add_child(step);
        }
        if self.readonly_root {
            config.steps.add_child(ReadonlyRoot::new(&config.rootfs)?);
        }
        Ok(())
    }
    // ANCHOR_END: add_steps

    fn source_of(
        &self,
        volumes: &Volumes,
        mount: &Attached,
    ) -> Result<(MountSource, MsFlags), AttachError> {
        let noexec = if mount.noexec {
            MsFlags::MS_NOEXEC
        } else {
            MsFlags::empty()
        };
        let bind = |path: &Path| -> Result<MountSource, AttachError> {
            // Resolved on the host, once: the child refuses any symlink left after this.
            let resolved = fs::canonicalize(path).map_err(|e| AttachError::BindSource {
                path: path.to_owned(),
                source: e,
            })?;
            let dir = resolved.is_dir();
            Ok(MountSource::Bind {
                path: resolved,
                dir,
            })
        };
        match mount.kind {
            MountKind::Bind => Ok((bind(&mount.source)?, MsFlags::empty())),
            MountKind::Tmpfs => Ok((
                MountSource::Tmpfs {
                    options: mount.tmpfs_options.clone(),
                },
                noexec,
            )),
            MountKind::Volume => {
                let name = mount.name.as_deref().unwrap_or_default();
                let volume: Volume = volumes.get(name)?;
                match volume.options.get("type").map(String::as_str) {
                    Some("tmpfs") => Ok((
                        MountSource::Tmpfs {
                            options: volume.options.get("o").cloned().unwrap_or_default(),
                        },
                        MsFlags::empty(),
                    )),
                    Some("none") => {
                        let device = volume.options.get("device").cloned().unwrap_or_default();
                        Ok((bind(Path::new(&device))?, MsFlags::empty()))
                    }
                    _ => Ok((bind(&volume.mountpoint)?, MsFlags::empty())),
                }
            }
        }
    }
}

/// Copies the image's files into a plain local volume, once (see [`crate::copyup`]).
fn populate(
    volumes: &Volumes,
    rootfs: &RootfsMount,
    attached: &Attached,
    maps: Option<&IdMaps>,
) -> Result<(), AttachError> {
    let Some(name) = attached.name.as_deref() else {
        return Ok(()); // Binds and tmpfs hide the image's files instead.
    };
    if attached
        .source
        .with_file_name(crate::copyup::POPULATED)
        .exists()
    {
        return Ok(()); // Filled (or found empty) once already.
    }
    if volumes.get(name)?.options.contains_key("type") {
        return Ok(()); // A tmpfs or a host device: nothing of ours to fill.
    }
    let scratch = volumes.scratch_dir()?;
    let destination = &attached.destination;
    let copied =
        crate::copyup::populate_once(rootfs, &scratch, destination, &attached.source, maps);
    let _ = fs::remove_dir(&scratch);
    Ok(copied?)
}

fn same_destination(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// The containers (ids, from their directories under `containers_dir`) that use the volume
/// `name`.
pub fn users(containers_dir: &Path, name: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(containers_dir) else {
        return Vec::new();
    };
    let mut users: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| ContainerMounts::load(&e.path()).is_ok_and(|mounts| mounts.uses(name)))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    users.sort();
    users
}

/// The image's `VOLUME`s: the keys of `config.Volumes` in its config (JSON).
pub fn image_volumes(image_config: &[u8]) -> Vec<String> {
    let config: serde_json::Value = serde_json::from_slice(image_config).unwrap_or_default();
    let mut volumes: Vec<String> = config
        .pointer("/config/Volumes")
        .and_then(|v| v.as_object())
        .map(|map| map.keys().cloned().collect())
        .unwrap_or_default();
    volumes.sort();
    volumes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(destination: &str) -> ContainerMounts {
        ContainerMounts {
            mounts: vec![Attached {
                kind: MountKind::Tmpfs,
                name: None,
                source: "tmpfs".into(),
                destination: destination.into(),
                readonly: false,
                tmpfs_options: String::new(),
                noexec: true,
                anonymous: false,
                nocopy: false,
            }],
            readonly_root: false,
            binds: Vec::new(),
            tmpfs: Default::default(),
        }
    }

    #[test]
    fn the_list_is_read_from_the_record_slot_or_an_old_mounts_json() {
        let dir = berth_tests::test_dir("attach-load");
        let container = dir.path();
        assert_eq!(
            ContainerMounts::load(container).unwrap(),
            Default::default()
        );
        // A container made before the slot existed: only `mounts.json`, without `nocopy`.
        let mut old = listed("/old").slot();
        old["mounts"][0].as_object_mut().unwrap().remove("nocopy");
        fs::write(container.join(LEGACY_MOUNTS_FILE), old.to_string()).unwrap();
        fs::write(container.join("config.json"), r#"{"id":"x"}"#).unwrap();
        assert_eq!(ContainerMounts::load(container).unwrap(), listed("/old"));
        // The record's slot wins.
        let record = serde_json::json!({"id": "x", "slots": {SLOT: listed("/new").slot()}});
        fs::write(container.join("config.json"), record.to_string()).unwrap();
        assert_eq!(ContainerMounts::load(container).unwrap(), listed("/new"));
        fs::write(container.join("config.json"), r#"{"slots":{"mounts":7}}"#).unwrap();
        let damaged = ContainerMounts::load(container).unwrap_err();
        assert!(damaged.to_string().contains("slot \"mounts\""), "{damaged}");
    }
}
