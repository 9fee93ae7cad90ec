//! `userns-remap`: root in the container is not root on the host.
//!
//! Everything else in this chapter takes powers *away* from a root that is still uid 0: a
//! bug in the kernel, or a file the profile forgot, and it is the host's root. dockerd's
//! `"userns-remap"` (in `daemon.json`) removes the identity itself: every container runs in a
//! user namespace whose uid 0 is, on the host, an unprivileged id taken from a subordinate
//! range, `/etc/subuid` and `/etc/subgid` (`name:first:count` lines, the files `newuidmap`
//! reads for rootless containers too). A file the container's root creates in a bind mount
//! belongs on the host to, say, uid 100000; a process that escapes is uid 100000.
//!
//! The setting names a user: `"default"` means `dockremap`, which dockerd creates (a system
//! user with no shell) together with a 65536-id range after the highest one in use, when the
//! files have none; any other name (`"user"`, `"user:group"`, or numeric ids) must already
//! have its ranges. Several ranges of one user are laid end to end: container ids 0.. map to
//! the first range, then the next, as dockerd's `idtools` does.
//!
//! This module resolves the setting to the two maps a user namespace needs. The code that
//! touches the host's files takes the directory that holds them (`/etc`) as a parameter.

use std::io;
use std::path::{Path, PathBuf};

use berth_namespaces::namespaces::IdMaps;

/// The file under the data root where berthd keeps the resolved maps for its monitors.
pub const STORE_FILE: &str = "userns-remap.json";

/// The user dockerd (and berthd) create for `"userns-remap": "default"`.
pub const DEFAULT_USER: &str = "dockremap";

/// How many ids a range made for [`DEFAULT_USER`] holds: a full 16-bit id space.
pub const DEFAULT_RANGE: u32 = 65536;

/// Where the first range made for [`DEFAULT_USER`] starts, when no range is in use yet.
pub const FIRST_ID: u32 = 100000;

/// One line of a user namespace's `uid_map` or `gid_map`: chapter 1's, which writes them.
pub use berth_namespaces::namespaces::IdMap;

/// The setting, resolved: the user and group whose ranges are used, and the maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remap {
    /// The user, as named in the setting (`dockremap` for `"default"`).
    pub user: String,
    /// The group, as named (the user's name when the setting names none).
    pub group: String,
    /// The `uid_map` of every container.
    pub uid_map: Vec<IdMap>,
    /// The `gid_map` of every container.
    pub gid_map: Vec<IdMap>,
}

/// Why the setting could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum RemapError {
    #[error("userns-remap {0:?}: expected \"default\", USER or USER:GROUP")]
    Spec(String),
    #[error("reading {path}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} line {line}: {text:?} is not NAME:FIRST:COUNT")]
    Line {
        path: PathBuf,
        line: usize,
        text: String,
    },
    #[error("userns-remap: {path} has no range for {name:?} (add a line {name}:FIRST:COUNT)")]
    NoRange { path: PathBuf, name: String },
    #[error("userns-remap: the ranges of {name:?} in {path} hold no uid 0..65535 of a container")]
    TooSmall { path: PathBuf, name: String },
    #[error("userns-remap: creating the user {DEFAULT_USER} with useradd: {0}")]
    AddUser(String),
    #[error("userns-remap: writing {path}")]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "userns-remap: {path} does not let the remapped root ({uid}:{gid}) through to the data \
         root {data_root}: allow it to search the directory (chmod o+x {path})"
    )]
    Unreachable {
        path: PathBuf,
        data_root: PathBuf,
        uid: u32,
        gid: u32,
    },
    #[error("userns-remap: {path} is not the maps berthd keeps")]
    Stored {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// One `name:first:count` line of `/etc/subuid` or `/etc/subgid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubRange {
    /// A user (or group) name, or a numeric id.
    pub name: String,
    /// The first host id of the range.
    pub first: u32,
    /// How many ids.
    pub count: u32,
}

// ANCHOR: ranges
/// Every range of a subordinate id file; a missing file has none.
pub fn read_ranges(path: &Path) -> Result<Vec<SubRange>, RemapError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RemapError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut ranges = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || RemapError::Line {
            path: path.to_owned(),
            line: index + 1,
            text: line.to_owned(),
        };
        let mut parts = line.split(':');
        let (Some(name), Some(first), Some(count), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        ranges.push(SubRange {
            name: name.to_owned(),
            first: first.parse().map_err(|_| bad())?,
            count: count.parse().map_err(|_| bad())?,
        });
    }
    Ok(ranges)
}

/// The map of the ranges of `names` (a name and its numeric id, either may be listed), laid
/// end to end from id 0 inside.
pub fn map_of(ranges: &[SubRange], names: &[&str]) -> Vec<IdMap> {
    let mut inside = 0u32;
    let mut map = Vec::new();
    for range in ranges.iter().filter(|r| names.contains(&r.name.as_str())) {
        map.push(IdMap {
            inside,
            outside: range.first,
            count: range.count,
        });
        inside = inside.saturating_add(range.count);
    }
    map
}
// ANCHOR_END: ranges

/// The first id after every range in use, and at least [`FIRST_ID`]: where a new range goes.
pub fn next_free(ranges: &[SubRange]) -> u32 {
    ranges
        .iter()
        .map(|r| r.first.saturating_add(r.count))
        .fold(FIRST_ID, u32::max)
}

impl Remap {
    /// Resolves a `userns-remap` setting with the files of `etc` (`/etc`): for `"default"`,
    /// creates the `dockremap` user and its ranges first if they are missing.
    pub fn resolve(setting: &str, etc: &Path) -> Result<Remap, RemapError> {
        let (user, group) = match setting.split_once(':') {
            _ if setting == "default" => (DEFAULT_USER, DEFAULT_USER),
            None if !setting.is_empty() => (setting, setting),
            Some((u, g)) if !u.is_empty() && !g.is_empty() => (u, g),
            _ => return Err(RemapError::Spec(setting.to_owned())),
        };
        if setting == "default" {
            ensure_default_user(etc)?;
        }
        let uid = id_of(&etc.join("passwd"), user)?;
        let gid = id_of(&etc.join("group"), group)?;
        let mut maps = Vec::new();
        for (file, name, id) in [("subuid", user, uid), ("subgid", group, gid)] {
            let path = etc.join(file);
            let id = id.map(|n| n.to_string());
            let names: Vec<&str> = [Some(name), id.as_deref()].into_iter().flatten().collect();
            let map = map_of(&read_ranges(&path)?, &names);
            let total: u64 = map.iter().map(|m| u64::from(m.count)).sum();
            if map.is_empty() {
                return Err(RemapError::NoRange {
                    path,
                    name: name.to_owned(),
                });
            }
            if total < u64::from(DEFAULT_RANGE) {
                return Err(RemapError::TooSmall {
                    path,
                    name: name.to_owned(),
                });
            }
            maps.push(map);
        }
        let gid_map = maps.pop().unwrap_or_default();
        let uid_map = maps.pop().unwrap_or_default();
        Ok(Remap {
            user: user.to_owned(),
            group: group.to_owned(),
            uid_map,
            gid_map,
        })
    }

    /// The maps as chapter 1 writes them for a container (`ContainerConfig::id_maps`).
    pub fn id_maps(&self) -> IdMaps {
        IdMaps {
            uid: self.uid_map.clone(),
            gid: self.gid_map.clone(),
        }
    }

    // ANCHOR: store
    /// Keeps the maps in `<data-root>/userns-remap.json` for the daemon's monitors, which build
    /// each container's start (dockerd resolves the setting once, at start, too). No setting:
    /// the file is removed, so a daemon restarted without it runs no container remapped.
    pub fn store(remap: Option<&Remap>, data_root: &Path) -> Result<(), RemapError> {
        let path = data_root.join(STORE_FILE);
        let Some(remap) = remap else {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    Err(RemapError::Write { path, source: e })
                }
                _ => Ok(()),
            };
        };
        let lines = |map: &[IdMap]| {
            map.iter()
                .map(|m| [m.inside, m.outside, m.count])
                .collect::<Vec<_>>()
        };
        let json = serde_json::json!({
            "user": remap.user,
            "group": remap.group,
            "uid_map": lines(&remap.uid_map),
            "gid_map": lines(&remap.gid_map),
        });
        write_atomically(&path, json.to_string().as_bytes())
    }

    /// The maps [`Remap::store`] kept under `data_root`, if any.
    pub fn stored(data_root: &Path) -> Result<Option<Remap>, RemapError> {
        let path = data_root.join(STORE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(RemapError::Read { path, source }),
        };
        #[derive(serde::Deserialize)]
        struct Stored {
            user: String,
            group: String,
            uid_map: Vec<[u32; 3]>,
            gid_map: Vec<[u32; 3]>,
        }
        let stored: Stored = serde_json::from_str(&text).map_err(|e| RemapError::Stored {
            path: path.clone(),
            source: e,
        })?;
        let map = |lines: Vec<[u32; 3]>| {
            lines
                .into_iter()
                .map(|[inside, outside, count]| IdMap {
                    inside,
                    outside,
                    count,
                })
                .collect()
        };
        Ok(Some(Remap {
            user: stored.user,
            group: stored.group,
            uid_map: map(stored.uid_map),
            gid_map: map(stored.gid_map),
        }))
    }
    // ANCHOR_END: store

    // ANCHOR: reachable
    /// Checks that the remapped root can walk to `data_root` (and so to the layers and upper
    /// directories under it): the overlay and every bind are mounted by the container's root,
    /// which is "other" to the host root's directories, so each directory above needs `o+x`.
    /// dockerd makes the same check at start, for the same reason, rather than fail each start.
    pub fn check_reachable(&self, data_root: &Path) -> Result<(), RemapError> {
        use std::os::unix::fs::MetadataExt;
        let (uid, gid) = (self.root_uid(), self.root_gid());
        for dir in data_root.ancestors() {
            let meta = std::fs::metadata(dir).map_err(|source| RemapError::Read {
                path: dir.to_owned(),
                source,
            })?;
            let search = if meta.uid() == uid {
                0o100
            } else if meta.gid() == gid {
                0o010
            } else {
                0o001
            };
            if meta.mode() & search == 0 {
                return Err(RemapError::Unreachable {
                    path: dir.to_owned(),
                    data_root: data_root.to_owned(),
                    uid,
                    gid,
                });
            }
        }
        Ok(())
    }
    // ANCHOR_END: reachable

    /// The host uid that is root in the container.
    pub fn root_uid(&self) -> u32 {
        self.uid_map.first().map_or(0, |m| m.outside)
    }

    /// The host gid that is root's group in the container.
    pub fn root_gid(&self) -> u32 {
        self.gid_map.first().map_or(0, |m| m.outside)
    }
}

/// The numeric id of `name` in a `passwd` or `group` file (`None`: not listed there, which is
/// fine when the ranges name the id or the name directly).
fn id_of(path: &Path, name: &str) -> Result<Option<u32>, RemapError> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(Some(id));
    }
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(RemapError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    Ok(text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some(name))
            .then(|| fields.nth(1).and_then(|id| id.parse().ok()))
            .flatten()
    }))
}

// ANCHOR: default_user
/// `"default"`: the `dockremap` user (created with `useradd --system`, no shell, no home, as
/// dockerd does) and a range of [`DEFAULT_RANGE`] ids after every range in use, in each of
/// `subuid` and `subgid` that has none for it. The files are rewritten atomically.
fn ensure_default_user(etc: &Path) -> Result<(), RemapError> {
    if id_of(&etc.join("passwd"), DEFAULT_USER)?.is_none() {
        let mut useradd = std::process::Command::new("useradd");
        if etc != Path::new("/etc") {
            // `--prefix DIR` edits DIR/etc/passwd: how the tests use a directory of their own.
            useradd.arg("--prefix").arg(etc.parent().unwrap_or(etc));
        }
        let done = useradd
            .args(["--system", "--no-create-home", "--shell", "/bin/false"])
            .arg(DEFAULT_USER)
            .output()
            .map_err(|e| RemapError::AddUser(e.to_string()))?;
        if !done.status.success() {
            let stderr = String::from_utf8_lossy(&done.stderr).trim().to_owned();
            return Err(RemapError::AddUser(format!("{}: {stderr}", done.status)));
        }
    }
    for file in ["subuid", "subgid"] {
        let path = etc.join(file);
        let ranges = read_ranges(&path)?;
        if ranges.iter().any(|r| r.name == DEFAULT_USER) {
            continue;
        }
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let separator = if old.is_empty() || old.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        let line = format!("{DEFAULT_USER}:{}:{DEFAULT_RANGE}\n", next_free(&ranges));
        write_atomically(&path, format!("{old}{separator}{line}").as_bytes())?;
    }
    Ok(())
}
// ANCHOR_END: default_user

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path` (mode 0644,
/// as shadow's tools leave these files).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RemapError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let failed = |source| RemapError::Write {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("berth-tmp");
    let mut file = std::fs::File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(failed)?;
    file.write_all(bytes).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    std::fs::rename(&tmp, path).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etc(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join("etc").join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn ranges_of_a_user_are_laid_end_to_end() {
        let dir = etc(&[
            (
                "passwd",
                "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/a:/bin/sh\n",
            ),
            ("group", "root:x:0:\nstaff:x:50:\n"),
            (
                "subuid",
                "bob:100000:65536\nalice:200000:1000\n# note\n1000:300000:65536\n",
            ),
            ("subgid", "staff:400000:70000\n"),
        ]);
        let remap = Remap::resolve("alice:staff", &dir.path().join("etc")).unwrap();
        let lines: Vec<String> = remap.uid_map.iter().map(ToString::to_string).collect();
        assert_eq!(lines, ["0 200000 1000", "1000 300000 65536"]);
        assert_eq!(remap.gid_map[0].to_string(), "0 400000 70000");
        assert_eq!((remap.root_uid(), remap.root_gid()), (200000, 400000));
    }

    #[test]
    fn bad_settings_and_files_are_named() {
        let dir = etc(&[("subuid", "alice:100000\n"), ("subgid", "")]);
        let etc = dir.path().join("etc");
        let err = Remap::resolve("alice", &etc).unwrap_err();
        assert!(err.to_string().contains("subuid line 1"), "{err}");
        std::fs::write(etc.join("subuid"), "alice:100000:65536\n").unwrap();
        let err = Remap::resolve("alice", &etc).unwrap_err();
        assert!(
            err.to_string()
                .contains("subgid has no range for \"alice\""),
            "{err}"
        );
        std::fs::write(etc.join("subgid"), "alice:100000:100\n").unwrap();
        let err = Remap::resolve("alice", &etc).unwrap_err();
        assert!(matches!(err, RemapError::TooSmall { .. }), "{err}");
        for bad in ["", ":g", "u:"] {
            assert!(matches!(
                Remap::resolve(bad, &etc),
                Err(RemapError::Spec(_))
            ));
        }
    }

    #[test]
    fn default_creates_dockremap_and_a_free_range() {
        let dir = etc(&[
            ("passwd", "root:x:0:0:root:/root:/bin/sh\n"),
            ("group", "root:x:0:\n"),
            ("shadow", "root:*:19000:0:99999:7:::\n"),
            ("gshadow", "root:*::\n"),
            ("subuid", "alice:100000:65536"),
        ]);
        let etc = dir.path().join("etc");
        let remap = Remap::resolve("default", &etc).unwrap();
        assert_eq!(remap.user, DEFAULT_USER);
        assert!(id_of(&etc.join("passwd"), DEFAULT_USER).unwrap().is_some());
        assert_eq!(
            std::fs::read_to_string(etc.join("subuid")).unwrap(),
            "alice:100000:65536\ndockremap:165536:65536\n"
        );
        assert_eq!(remap.uid_map[0].to_string(), "0 165536 65536");
        assert_eq!(remap.gid_map[0].to_string(), "0 100000 65536");
        // A second start finds everything in place and changes nothing.
        let again = Remap::resolve("default", &etc).unwrap();
        assert_eq!(again, remap);
    }

    #[test]
    fn a_directory_the_remapped_root_cannot_search_is_named() {
        use std::os::unix::fs::PermissionsExt;
        let line = IdMap {
            inside: 0,
            outside: 3_700_000,
            count: 65536,
        };
        let remap = Remap {
            user: "u".into(),
            group: "u".into(),
            uid_map: vec![line],
            gid_map: vec![line],
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a/root");
        std::fs::create_dir_all(&root).unwrap();
        let mode = |path: &Path, mode| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        mode(dir.path(), 0o711);
        mode(root.parent().unwrap(), 0o750);
        let error = remap.check_reachable(&root).unwrap_err().to_string();
        assert!(
            error.contains(&format!("chmod o+x {}/a", dir.path().display())),
            "{error}"
        );
        mode(root.parent().unwrap(), 0o751);
        remap.check_reachable(&root).unwrap();
    }
}
