//! The volume store: named and anonymous volumes of the `local` driver.
//!
//! Docker's `local` driver is the simplest possible storage: a volume is a directory,
//! `/var/lib/docker/volumes/<name>/_data`, that the daemon made and will mount into any
//! container that asks for it by name. Its settings (labels, the options given to `docker
//! volume create`) sit next to it. A volume is made whole or not at all: it is put together
//! in a temporary directory and renamed into place, so a crash never leaves half a volume and
//! two creates of one name cannot both win. Names are checked as Docker checks them: a name is
//! a single directory entry, so `a/b` and `..` are refused before any path is made of them.
//!
//! A volume has no owner: the containers that use it are found by asking (see
//! [`crate::attach`]), so removing a container never removes a named volume by accident.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use berth_images::store::atomic;
use serde::{Deserialize, Serialize};

/// Why a volume could not be made, found or removed.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error(
        "invalid volume name {0:?}: use at least two letters, digits, '_', '.' or '-', \
         starting with a letter or digit"
    )]
    BadName(String),
    #[error("invalid volume option {option:?}: {reason}")]
    BadOption { option: String, reason: String },
    #[error("no such volume: {0}")]
    NoSuchVolume(String),
    #[error("volume {name} is in use by container(s) {containers}: remove them first")]
    InUse { name: String, containers: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("the metadata of volume {name} at {path} is damaged: {reason}")]
    Damaged {
        name: String,
        path: PathBuf,
        reason: String,
    },
}

fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> VolumeError + 'a {
    move |source| VolumeError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Checks a volume name as Docker does (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`): a single directory
/// entry, never `..` and never with a `/`.
pub fn validate_name(name: &str) -> Result<(), VolumeError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok =
        name.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(VolumeError::BadName(name.to_owned()))
    }
}

// ANCHOR: volume
/// A volume, as `docker volume inspect` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    /// Its name: typed, or 64 hex digits for an anonymous one.
    pub name: String,
    /// Always `local`.
    pub driver: String,
    /// The directory mounted into containers: `<data root>/volumes/<name>/_data`.
    pub mountpoint: PathBuf,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// `--label` pairs.
    pub labels: BTreeMap<String, String>,
    /// `--opt` pairs: `type=tmpfs|none`, `device=`, `o=`.
    pub options: BTreeMap<String, String>,
    /// `local`, as Docker says.
    pub scope: String,
    /// Made for one container (`VOLUME` in an image, `-v /path`): removed with it by
    /// `rm -v` and `--rm`, and by `volume prune` without `-a`.
    #[serde(default)]
    pub anonymous: bool,
    /// The container whose removal removes this volume too: an anonymous volume of a `--rm`
    /// container (the engine removes such a container by itself, after its exit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_with: Option<String>,
}
// ANCHOR_END: volume

impl Volume {
    /// The label Docker puts on anonymous volumes (`com.docker.volume.anonymous`).
    pub const ANONYMOUS_LABEL: &'static str = "com.docker.volume.anonymous";
}

/// The volumes of one data root: `<root>/volumes`.
#[derive(Clone, Debug)]
pub struct Volumes {
    dir: PathBuf,
}

/// The options `docker volume create --opt` takes for the `local` driver.
fn check_options(options: &BTreeMap<String, String>) -> Result<(), VolumeError> {
    let bad = |option: &str, reason: &str| VolumeError::BadOption {
        option: option.to_owned(),
        reason: reason.to_owned(),
    };
    for (key, value) in options {
        match key.as_str() {
            "type" if matches!(value.as_str(), "tmpfs" | "none") => {}
            "type" => return Err(bad(key, "the local driver takes type=tmpfs or type=none")),
            "device" | "o" => {}
            _ => return Err(bad(key, "the local driver takes type, device and o")),
        }
    }
    match options.get("type").map(String::as_str) {
        Some("none") => {
            let device = options.get("device").map(String::as_str).unwrap_or("");
            if !device.starts_with('/') {
                return Err(bad("device", "type=none needs device=/absolute/host/path"));
            }
            if !options
                .get("o")
                .is_some_and(|o| o.split(',').any(|o| o == "bind"))
            {
                return Err(bad("o", "type=none needs o=bind"));
            }
        }
        Some("tmpfs") => {
            for o in options.get("o").into_iter().flat_map(|o| o.split(',')) {
                if let Some(size) = o.strip_prefix("size=") {
                    crate::spec::tmpfs_size(size).map_err(|r| bad("o", &r))?;
                }
            }
        }
        _ if options.contains_key("device") || options.contains_key("o") => {
            return Err(bad("type", "device and o need a type"));
        }
        _ => {}
    }
    Ok(())
}

impl Volumes {
    /// The volumes under the data root `root` (the directory is made if missing).
    pub fn open(root: &Path) -> Result<Volumes, VolumeError> {
        let dir = root.join("volumes");
        fs::create_dir_all(&dir).map_err(io_error("creating", &dir))?;
        Ok(Volumes { dir })
    }

    /// A new empty directory beside the volumes, for a short-lived mount point (the
    /// copy-up's); the caller removes it.
    pub fn scratch_dir(&self) -> Result<PathBuf, VolumeError> {
        let dir = self
            .dir
            .join(format!(".scratch-{}", berth_images::container::random_id()));
        fs::create_dir(&dir).map_err(io_error("creating", &dir))?;
        Ok(dir)
    }

    fn meta_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("volume.json")
    }

    // ANCHOR: create
    /// Makes a volume (`docker volume create`); `None` makes an anonymous one. Creating a
    /// name that exists returns the existing volume, as Docker does.
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume, VolumeError> {
        let (name, anonymous) = match name {
            Some(name) => {
                validate_name(name)?;
                (name.to_owned(), false)
            }
            None => (berth_images::container::random_id(), true),
        };
        check_options(&options)?;
        if let Ok(existing) = self.get(&name) {
            return Ok(existing);
        }
        let mut labels = labels;
        if anonymous {
            labels.insert(Volume::ANONYMOUS_LABEL.into(), String::new());
        }
        let volume = Volume {
            mountpoint: self.dir.join(&name).join("_data"),
            name: name.clone(),
            driver: "local".into(),
            created_at: berth_images::state::now_rfc3339(),
            labels,
            options,
            scope: "local".into(),
            anonymous,
            remove_with: None,
        };
        // Put together aside, then one rename: a volume is whole or absent.
        let staging = self
            .dir
            .join(format!(".new-{}", berth_images::container::random_id()));
        let data = staging.join("_data");
        let json = serde_json::to_vec_pretty(&volume).expect("volumes always serialise");
        let staged = fs::create_dir_all(&data)
            .and_then(|()| atomic::write(&staging.join("volume.json"), &json))
            .map_err(io_error("creating", &staging));
        let target = self.dir.join(&name);
        let placed = staged
            .and_then(|()| fs::rename(&staging, &target).map_err(io_error("creating", &target)));
        if let Err(error) = placed {
            let _ = fs::remove_dir_all(&staging);
            // Another create of the same name won the race: that volume is the answer.
            return self.get(&name).map_err(|_| error);
        }
        Ok(volume)
    }
    // ANCHOR_END: create

    /// The volume called `name` (`docker volume inspect`).
    pub fn get(&self, name: &str) -> Result<Volume, VolumeError> {
        validate_name(name).map_err(|_| VolumeError::NoSuchVolume(name.to_owned()))?;
        let path = self.meta_path(name);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(VolumeError::NoSuchVolume(name.to_owned()));
            }
            Err(e) => return Err(io_error("reading", &path)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| VolumeError::Damaged {
            name: name.to_owned(),
            path,
            reason: e.to_string(),
        })
    }

    /// Marks `name` to be removed with the container `id` (see [`Volume::remove_with`]).
    pub fn remove_with(&self, name: &str, id: &str) -> Result<(), VolumeError> {
        let mut volume = self.get(name)?;
        volume.remove_with = Some(id.to_owned());
        let json = serde_json::to_vec_pretty(&volume).expect("volumes always serialise");
        let path = self.meta_path(name);
        atomic::write(&path, &json).map_err(io_error("writing", &path))
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>, VolumeError> {
        let entries = fs::read_dir(&self.dir).map_err(io_error("listing", &self.dir))?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| validate_name(name).is_ok())
            .collect();
        names.sort();
        Ok(names.iter().filter_map(|n| self.get(n).ok()).collect())
    }

    // ANCHOR: remove
    /// Removes a volume (`docker volume rm`). `users` are the containers that use it: a
    /// volume in use is refused, even with `force` (Docker's `-f` only forgives a missing
    /// volume).
    pub fn remove(&self, name: &str, users: &[String], force: bool) -> Result<(), VolumeError> {
        let volume = match self.get(name) {
            Ok(volume) => volume,
            Err(VolumeError::NoSuchVolume(_)) if force => return Ok(()),
            Err(error) => return Err(error),
        };
        if !users.is_empty() {
            return Err(VolumeError::InUse {
                name: volume.name,
                containers: users.join(", "),
            });
        }
        // One rename takes it out of the store; deleting the files may then take its time.
        let dir = self.dir.join(&volume.name);
        let trash = self
            .dir
            .join(format!(".gone-{}", berth_images::container::random_id()));
        fs::rename(&dir, &trash).map_err(io_error("removing", &dir))?;
        fs::remove_dir_all(&trash).map_err(io_error("removing", &trash))
    }
    // ANCHOR_END: remove

    /// Removes unused volumes (`docker volume prune`): anonymous ones only, unless `all`.
    /// `users` says which containers use a volume. Returns the names removed and the bytes
    /// freed.
    pub fn prune(
        &self,
        all: bool,
        users: &dyn Fn(&str) -> Vec<String>,
    ) -> Result<(Vec<String>, u64), VolumeError> {
        let mut removed = Vec::new();
        let mut freed = 0;
        for volume in self.list()? {
            if !(all || volume.anonymous) || !users(&volume.name).is_empty() {
                continue;
            }
            let size = berth_images::store::disk_usage(&volume.mountpoint);
            self.remove(&volume.name, &[], false)?;
            freed += size;
            removed.push(volume.name);
        }
        Ok((removed, freed))
    }
}

/// `docker volume ls --filter`: `dangling=true|false`, `name=PART`, `label=KEY[=VALUE]`.
pub fn matches_filter(volume: &Volume, in_use: bool, filter: &str) -> Result<bool, VolumeError> {
    let bad = |reason: &str| VolumeError::BadOption {
        option: filter.to_owned(),
        reason: reason.to_owned(),
    };
    let (key, value) = filter
        .split_once('=')
        .ok_or_else(|| bad("a filter is KEY=VALUE"))?;
    match key {
        "dangling" => match value {
            "true" | "1" => Ok(!in_use),
            "false" | "0" => Ok(in_use),
            _ => Err(bad("dangling takes true or false")),
        },
        "name" => Ok(volume.name.contains(value)),
        "label" => Ok(match value.split_once('=') {
            Some((k, v)) => volume.labels.get(k).is_some_and(|l| l == v),
            None => volume.labels.contains_key(value),
        }),
        _ => Err(bad("the filters are dangling, name and label")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_entries() {
        for good in ["data", "my-vol.1", "a_b"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "..", "../x", "a/b", "/abs", ".hidden", "-x", "a b"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_list_remove_and_prune() {
        let root = tempfile::tempdir().unwrap();
        let volumes = Volumes::open(root.path()).unwrap();
        let mut labels = BTreeMap::new();
        labels.insert("team".to_owned(), "a".to_owned());
        let named = volumes
            .create(Some("data"), labels, BTreeMap::new())
            .unwrap();
        assert!(named.mountpoint.is_dir());
        assert_eq!(
            volumes
                .create(Some("data"), BTreeMap::new(), BTreeMap::new())
                .unwrap(),
            named
        );
        let anonymous = volumes
            .create(None, BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert!(anonymous.anonymous);
        assert_eq!(volumes.list().unwrap().len(), 2);
        assert!(matches_filter(&named, false, "label=team=a").unwrap());
        assert!(!matches_filter(&named, true, "dangling=true").unwrap());
        let error = volumes.remove("data", &["web".into()], true).unwrap_err();
        assert_eq!(
            error.to_string(),
            "volume data is in use by container(s) web: remove them first"
        );
        let (pruned, _) = volumes.prune(false, &|_| Vec::new()).unwrap();
        assert_eq!(pruned, [anonymous.name]);
        volumes.remove("data", &[], false).unwrap();
        assert!(volumes.list().unwrap().is_empty());
        assert!(volumes.remove("data", &[], true).is_ok());
    }

    #[test]
    fn bad_options_and_names_make_nothing() {
        let root = tempfile::tempdir().unwrap();
        let volumes = Volumes::open(root.path()).unwrap();
        let opts = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        for bad in [
            opts(&[("type", "nfs")]),
            opts(&[("type", "none"), ("device", "rel"), ("o", "bind")]),
            opts(&[("type", "tmpfs"), ("o", "size=huge")]),
            opts(&[("colour", "red")]),
        ] {
            assert!(volumes.create(Some("v1"), BTreeMap::new(), bad).is_err());
        }
        assert!(
            volumes
                .create(Some("../escape"), BTreeMap::new(), BTreeMap::new())
                .is_err()
        );
        assert_eq!(
            fs::read_dir(root.path().join("volumes")).unwrap().count(),
            0
        );
    }
}
