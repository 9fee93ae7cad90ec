//! What a container is, before it runs: a root filesystem, a command, and a few settings.
//!
//! Docker keeps this as the container's "config" (`docker inspect` shows it). Chapter 1 needs
//! only the part that the kernel cares about: which directory becomes `/`, what to run, with
//! which environment, in which directory, under which hostname, and whether we have real root
//! or must make do with a user namespace. Everything is checked here, in the parent, so that the
//! child, which cannot report much, meets only input that already makes sense.

use std::path::{Path, PathBuf};

pub use crate::identity::User;

/// The `PATH` a container gets when nothing else says otherwise: Docker's default.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything needed to start one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerConfig {
    /// The directory that becomes the container's `/`.
    pub rootfs: PathBuf,
    /// The command and its arguments; the first is looked up in the container's `PATH`.
    pub args: Vec<String>,
    /// The container's hostname (its UTS namespace is its own, so this changes nothing outside).
    pub hostname: String,
    /// The environment, as `KEY=VALUE` pairs, already complete: nothing is inherited.
    pub env: Vec<(String, String)>,
    /// The working directory inside the container; absolute, created if missing.
    pub workdir: PathBuf,
    /// Run in a user namespace that maps the caller to root, so no real root is needed.
    pub rootless: bool,
    /// Run in a user namespace with these maps, written by the parent (which must be real
    /// root for any id but its own): root in the container is then an unprivileged id of the
    /// host, Docker's `userns-remap` (chapter 6). Takes the place of `rootless`'s one-line map.
    pub id_maps: Option<crate::namespaces::IdMaps>,
    /// Run a tiny init as PID 1 that forwards signals to the command and reaps zombies.
    pub init: bool,
    /// A filesystem to mount on `rootfs` first, inside the container's mount namespace
    /// (chapter 2 mounts the image's overlay this way). `None`: use the directory as it is.
    pub rootfs_mount: Option<RootfsMount>,
    /// Run the command as this user instead of root.
    pub user: Option<User>,
    /// Descriptors to give the command as its stdin, stdout and stderr, instead of ours: a
    /// daemon hands over pipes to capture a container's output (chapter 4).
    pub stdio: Stdio,
    /// Give the command a terminal of the container's own instead (`docker run -t`): its
    /// master end is sent over the console socket (see `console.rs`).
    pub console: Option<crate::console::Console>,
    /// Steps later chapters add to the start, in the parent and in the child (`steps.rs`).
    pub steps: crate::steps::Steps,
}

/// The command's standard streams: `None` keeps the one the starting process has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stdio {
    pub stdin: Option<std::os::fd::RawFd>,
    pub stdout: Option<std::os::fd::RawFd>,
    pub stderr: Option<std::os::fd::RawFd>,
}

/// A mount made on the rootfs directory before anything else, like `mount -t FSTYPE -o
/// OPTIONS SOURCE ROOTFS`. Made in the container's own mount namespace, so it disappears with
/// the container and nothing is left to clean up on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootfsMount {
    /// The filesystem type, for example `overlay`.
    pub fstype: String,
    /// The source, for example `overlay` (overlayfs ignores it but shows it in the mount table).
    pub source: String,
    /// The mount options, for example `lowerdir=...,upperdir=...,workdir=...`.
    pub options: String,
}

/// Why a configuration was refused, before anything was started.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("rootfs {0} does not exist")]
    RootfsMissing(PathBuf),
    #[error("rootfs {0} is not a directory")]
    RootfsNotDirectory(PathBuf),
    #[error("no command given: say what to run after `--`")]
    NoCommand,
    #[error("working directory {0:?} is relative: it must be an absolute path such as /tmp")]
    RelativeWorkdir(PathBuf),
    #[error("hostname {0:?} is invalid: use 1 to 64 letters, digits, '-' or '.'")]
    InvalidHostname(String),
    #[error("environment variable {0:?} is invalid: the name must be non-empty and without '='")]
    InvalidEnv(String),
    #[error("{what} {value:?} contains a NUL byte, which the kernel cannot take")]
    NulByte { what: &'static str, value: String },
    #[error(
        "the {which} map has {lines} lines: give 1 to {max} lines INSIDE OUTSIDE COUNT",
        max = crate::namespaces::MAX_MAP_LINES
    )]
    MapLines { which: &'static str, lines: usize },
    #[error("the {which} map line {line:?} maps no id (COUNT is 0) or runs past 2^32")]
    MapRange { which: &'static str, line: String },
}

impl ContainerConfig {
    /// A configuration with Docker's defaults: a random hostname, the default environment,
    /// `/` as working directory, and rootless exactly when we are not root.
    pub fn new(rootfs: impl Into<PathBuf>, args: Vec<String>) -> Self {
        let hostname = random_hostname();
        ContainerConfig {
            rootfs: rootfs.into(),
            args,
            env: default_env(&hostname),
            hostname,
            workdir: PathBuf::from("/"),
            rootless: !nix::unistd::geteuid().is_root(),
            id_maps: None,
            init: false,
            rootfs_mount: None,
            user: None,
            stdio: Stdio::default(),
            console: None,
            steps: crate::steps::Steps::default(),
        }
    }

    /// Sets the hostname, and the `HOSTNAME` variable with it, as Docker does.
    pub fn with_hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = hostname.into();
        self.set_env("HOSTNAME", &self.hostname.clone());
        self
    }

    /// Removes one environment variable, if set (`docker run -e NAME` with `NAME` unset on
    /// the client removes the image's variable of that name).
    pub fn unset_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    /// Sets (or replaces) one environment variable.
    pub fn set_env(&mut self, key: &str, value: &str) {
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_owned(),
            None => self.env.push((key.to_owned(), value.to_owned())),
        }
    }

    /// The value of an environment variable of the container, if set.
    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the container gets a user namespace: rootless, or a remapped root.
    pub fn in_user_namespace(&self) -> bool {
        self.rootless || self.id_maps.is_some()
    }

    /// Checks everything that can be checked before a process exists.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_rootfs(&self.rootfs)?;
        let command = self.args.first().ok_or(ConfigError::NoCommand)?;
        if command.is_empty() {
            return Err(ConfigError::NoCommand);
        }
        if !self.workdir.is_absolute() {
            return Err(ConfigError::RelativeWorkdir(self.workdir.clone()));
        }
        if !valid_hostname(&self.hostname) {
            return Err(ConfigError::InvalidHostname(self.hostname.clone()));
        }
        for (key, _) in &self.env {
            if key.is_empty() || key.contains('=') {
                return Err(ConfigError::InvalidEnv(key.clone()));
            }
        }
        if let Some(maps) = &self.id_maps {
            check_map("uid", &maps.uid)?;
            check_map("gid", &maps.gid)?;
        }
        for (what, path) in [
            ("rootfs", &self.rootfs),
            ("working directory", &self.workdir),
        ] {
            if path.as_os_str().as_encoded_bytes().contains(&0) {
                return Err(ConfigError::NulByte {
                    what,
                    value: path.display().to_string(),
                });
            }
        }
        let mount = self.rootfs_mount.iter().flat_map(|m| {
            [
                ("mount type", m.fstype.as_str()),
                ("mount source", &m.source),
                ("mount options", &m.options),
            ]
        });
        let strings = self
            .args
            .iter()
            .map(|a| ("argument", a.as_str()))
            .chain(mount);
        let env = self.env.iter().flat_map(|(k, v)| {
            [
                ("environment variable", k.as_str()),
                ("environment value", v),
            ]
        });
        for (what, value) in strings.chain(env) {
            if value.contains('\0') {
                return Err(ConfigError::NulByte {
                    what,
                    value: value.to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// The environment every container starts with: no variable of the host leaks in.
pub fn default_env(hostname: &str) -> Vec<(String, String)> {
    vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("HOSTNAME".into(), hostname.into()),
        ("HOME".into(), "/root".into()),
    ]
}

/// Twelve hex digits, like the short container ids Docker uses as default hostnames.
pub fn random_hostname() -> String {
    let mut bytes = [0u8; 6];
    // Reading /dev/urandom does not block; should it fail, all zeros is still a valid name.
    let _ = fill_random(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn fill_random(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// What the kernel would refuse with a bare EINVAL, said with the line at fault. (Overlapping
/// lines it refuses too; it names no line either, but the error names the map file.)
fn check_map(which: &'static str, map: &[crate::namespaces::IdMap]) -> Result<(), ConfigError> {
    if map.is_empty() || map.len() > crate::namespaces::MAX_MAP_LINES {
        return Err(ConfigError::MapLines {
            which,
            lines: map.len(),
        });
    }
    let fits = |start: u32, count: u32| start.checked_add(count).is_some();
    for line in map {
        if line.count == 0 || !fits(line.inside, line.count) || !fits(line.outside, line.count) {
            return Err(ConfigError::MapRange {
                which,
                line: line.to_string(),
            });
        }
    }
    Ok(())
}

fn check_rootfs(rootfs: &Path) -> Result<(), ConfigError> {
    match std::fs::metadata(rootfs) {
        Err(_) => Err(ConfigError::RootfsMissing(rootfs.to_owned())),
        Ok(meta) if !meta.is_dir() => Err(ConfigError::RootfsNotDirectory(rootfs.to_owned())),
        Ok(_) => Ok(()),
    }
}

/// A hostname the kernel takes (at most 64 bytes) and that tools will print sensibly.
fn valid_hostname(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> ContainerConfig {
        ContainerConfig::new("/", args.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn defaults_are_dockers() {
        let c = config(&["sh"]);
        assert_eq!(c.env_var("PATH"), Some(DEFAULT_PATH));
        assert_eq!(c.env_var("HOSTNAME"), Some(c.hostname.as_str()));
        assert_eq!(c.hostname.len(), 12);
        assert!(c.hostname.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(c.workdir, Path::new("/"));
        c.validate().unwrap();
    }

    #[test]
    fn hostname_updates_the_variable() {
        let c = config(&["sh"]).with_hostname("box");
        assert_eq!(c.env_var("HOSTNAME"), Some("box"));
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(config(&[]).validate(), Err(ConfigError::NoCommand));
        let mut c = config(&["sh"]);
        c.workdir = "tmp".into();
        assert_eq!(
            c.validate(),
            Err(ConfigError::RelativeWorkdir("tmp".into()))
        );
        let c = config(&["sh"]).with_hostname("bad name");
        assert!(matches!(c.validate(), Err(ConfigError::InvalidHostname(_))));
        let mut c = config(&["sh"]);
        c.rootfs = "/no/such/dir".into();
        assert!(matches!(c.validate(), Err(ConfigError::RootfsMissing(_))));
        let mut c = config(&["sh"]);
        c.rootfs = "/proc/self/status".into();
        assert!(matches!(
            c.validate(),
            Err(ConfigError::RootfsNotDirectory(_))
        ));
        let c = config(&["echo", "a\0b"]);
        assert!(matches!(c.validate(), Err(ConfigError::NulByte { .. })));
    }

    #[test]
    fn refuses_maps_the_kernel_would_refuse() {
        use crate::namespaces::{IdMap, IdMaps};
        let line = |outside, count| IdMap {
            inside: 0,
            outside,
            count,
        };
        let mut c = config(&["sh"]);
        c.id_maps = Some(IdMaps {
            uid: vec![line(100000, 65536)],
            gid: vec![],
        });
        assert_eq!(
            c.validate(),
            Err(ConfigError::MapLines {
                which: "gid",
                lines: 0
            })
        );
        c.id_maps = Some(IdMaps {
            uid: vec![line(u32::MAX, 2)],
            gid: vec![line(100000, 65536)],
        });
        assert_eq!(
            c.validate(),
            Err(ConfigError::MapRange {
                which: "uid",
                line: "0 4294967295 2".into()
            })
        );
        c.id_maps = Some(IdMaps {
            uid: vec![line(100000, 65536)],
            gid: vec![line(100000, 65536)],
        });
        c.validate().unwrap();
    }
}
