//! The daemon's settings: command-line flags and `/etc/berth/daemon.json`.
//!
//! `dockerd` reads its settings from flags and from `/etc/docker/daemon.json`, with the same
//! names in both (`--data-root` and `"data-root"`), and refuses to start when one setting is
//! given both ways: silently preferring one would leave an administrator editing a file that
//! has no effect. `berthd` does the same with `/etc/berth/daemon.json` and Docker's key names.
//!
//! One rule is ours to enforce before anything listens: **the API is root access** (whoever can
//! create a container can mount `/`), so a TCP address other than loopback is refused unless
//! TLS with client-certificate verification is on (`--tlsverify` with `--tlscacert`,
//! `--tlscert`, `--tlskey`). dockerd only warns here; we refuse.

use std::path::{Path, PathBuf};

use berth_daemon::http::Host;
use berth_registry::RegistryConfig;
use berth_registry::auth::CredentialSource;
use serde::Deserialize;

/// Where the settings file is looked for by default.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";
/// The default data root, like Docker's `/var/lib/docker`.
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
/// The default socket, like Docker's `/var/run/docker.sock`.
pub const DEFAULT_HOST: &str = "unix:///run/berth.sock";

/// The settings that can come from flags (`None`/empty = not given on the command line).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Flags {
    /// Where images, containers and logs are kept [default: /var/lib/berth]
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Where to listen, repeatable: unix:///run/berth.sock (the default), tcp://ADDR:PORT.
    /// WARNING: access to the API is root access on this host. A non-loopback TCP address
    /// needs --tlsverify with --tlscacert, --tlscert and --tlskey (clients must present a
    /// certificate signed by that CA)
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Require TLS on TCP and verify client certificates against --tlscacert
    #[arg(long)]
    pub tlsverify: bool,
    /// CA certificate(s) that client certificates must be signed by (PEM)
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// The daemon's TLS certificate (PEM)
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// The daemon's TLS private key (PEM)
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
    /// A Docker Hub mirror tried before Docker Hub (an http:// or https:// URL), repeatable
    #[arg(long = "registry-mirror", value_name = "URL")]
    pub registry_mirrors: Vec<String>,
    /// A registry (HOST or HOST:PORT) that may be spoken to over plain HTTP, repeatable. Loopback
    /// registries always may, as in Docker
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Run every container in a user namespace whose root is an unprivileged host id: "default"
    /// (the dockremap user, created with its /etc/subuid and /etc/subgid ranges if missing),
    /// USER or USER:GROUP (with ranges of their own). Resolved and checked at start; a
    /// container created with --userns host opts out
    #[arg(long = "userns-remap", value_name = "default|USER[:GROUP]")]
    pub userns_remap: Option<String>,
    /// The default bridge network's device, or `none` for no default network (containers that
    /// name no network get only `lo`) [default: berth0]. WARNING: the bridge, and
    /// net.ipv4.ip_forward, are made in the network namespace berthd runs in
    #[arg(short = 'b', long, value_name = "NAME|none")]
    pub bridge: Option<String>,
    /// The default bridge's address and prefix [default: 172.17.0.1/16]
    #[arg(long, value_name = "IP/PREFIX")]
    pub bip: Option<String>,
    /// The directory whose passwd, group, subuid and subgid --userns-remap reads [default:
    /// /etc]. Not a dockerd flag: tests give each daemon ranges of its own with it, never
    /// touching the host's files
    #[arg(long = "userns-remap-etc", value_name = "DIR", hide = true)]
    pub userns_remap_etc: Option<PathBuf>,
    /// The init program `docker run --init` runs as a container's PID 1, bind-mounted
    /// read-only at /sbin/docker-init [default: berth-init next to berthd]
    #[arg(long = "init-path", value_name = "FILE")]
    pub init_path: Option<PathBuf>,
    /// The settings file, with Docker's daemon.json keys [default: /etc/berth/daemon.json, if
    /// it exists]
    #[arg(long, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
}

/// `daemon.json`: Docker's key names; an unknown key is an error, as in dockerd.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileSettings {
    data_root: Option<PathBuf>,
    hosts: Option<Vec<String>>,
    tlsverify: Option<bool>,
    tlscacert: Option<PathBuf>,
    tlscert: Option<PathBuf>,
    tlskey: Option<PathBuf>,
    registry_mirrors: Option<Vec<String>>,
    insecure_registries: Option<Vec<String>>,
    userns_remap: Option<String>,
    bridge: Option<String>,
    bip: Option<String>,
    init_path: Option<PathBuf>,
}

/// TLS for the TCP listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The CA that signs client certificates (required: we always verify clients).
    pub ca: PathBuf,
    /// The server's certificate chain.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

/// The daemon's settings, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The store and containers.
    pub data_root: PathBuf,
    /// Every address to listen on.
    pub hosts: Vec<Host>,
    /// TLS for TCP hosts, when `--tlsverify` is on.
    pub tls: Option<TlsSettings>,
    /// Mirrors and insecure registries for chapter 3.
    pub registries: RegistryConfig,
    /// `userns-remap`, as given (chapter 6's `userns::Remap` resolves it).
    pub userns_remap: Option<String>,
    /// The default bridge network (chapter 7); `None` with `--bridge none`.
    pub default_bridge: Option<berth_network::network::DefaultBridge>,
    /// Where `userns-remap`'s user and ranges are read: `/etc` unless a test says otherwise.
    pub userns_remap_etc: PathBuf,
    /// `init-path`: the init program for `--init`, if not the one next to berthd.
    pub init_path: Option<PathBuf>,
}

/// Why the settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config-file` could not be read.
    #[error("reading the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not JSON, or a key dockerd's `daemon.json` would not have.
    #[error("the configuration file {path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    /// A setting given both as a flag and in the file.
    #[error(
        "the following directives are specified both as a flag and in the configuration file \
         {path}: {keys} (remove one of them)"
    )]
    Conflict { path: PathBuf, keys: String },
    /// A `-H` value that is not a host.
    #[error(transparent)]
    Host(#[from] berth_daemon::http::HostError),
    /// TCP off loopback without verified TLS.
    #[error(
        "refusing to listen on {host} without TLS: the Berth API is root access to this machine. \
         Use a loopback address (tcp://127.0.0.1:PORT), or --tlsverify with --tlscacert, \
         --tlscert and --tlskey"
    )]
    InsecureTcp { host: String },
    /// `--tlsverify` without all three files.
    #[error(
        "--tlsverify needs {missing} (the CA for client certificates, and the daemon's own \
         certificate and key)"
    )]
    MissingTls { missing: String },
    /// A TLS file without `--tlsverify`.
    #[error("{flag} is set but --tlsverify is not: refusing to half-configure TLS")]
    TlsWithoutVerify { flag: &'static str },
    /// A relative data root.
    #[error("--data-root {0} must be an absolute path")]
    RelativeDataRoot(PathBuf),
    /// A registry mirror that is not a URL.
    #[error(transparent)]
    Registry(#[from] berth_registry::config::ConfigError),
    /// `--bip` that is not an address with a prefix.
    #[error("invalid --bip: {0}")]
    Bip(#[source] berth_network::ipam::IpamError),
    /// `--bridge none` with `--bip`, as dockerd refuses it.
    #[error(
        "you specified -b & --bip, mutually exclusive options. Configure IP address on the bridge or use --bip, not both"
    )]
    BridgeAndBip,
    /// A bridge name the kernel would refuse.
    #[error("invalid --bridge {0:?}: a device name of 1 to 15 letters, digits, '-', '_' or '.'")]
    BadBridge(String),
}

/// Fills `slot` from the file unless the flag was given; records a conflict if both were.
fn merge<T>(flag: Option<T>, file: Option<T>, key: &str, conflicts: &mut Vec<String>) -> Option<T> {
    match (flag, file) {
        (Some(flag), Some(_)) => {
            conflicts.push(key.to_owned());
            Some(flag)
        }
        (Some(v), None) | (None, Some(v)) => Some(v),
        (None, None) => None,
    }
}

/// A list flag given zero times is "not given".
fn non_empty(list: Vec<String>) -> Option<Vec<String>> {
    (!list.is_empty()).then_some(list)
}

impl Settings {
    // ANCHOR: load
    /// The settings from `flags` and the configuration file they name (or the default one, if
    /// it exists).
    pub fn load(flags: Flags) -> Result<Settings, ConfigError> {
        let path = flags
            .config_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ConfigError::Invalid {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            // Only the default file may be missing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && flags.config_file.is_none() => {
                FileSettings::default()
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Settings::merge(flags, file, &path)
    }
    // ANCHOR_END: load

    fn merge(flags: Flags, file: FileSettings, path: &Path) -> Result<Settings, ConfigError> {
        let mut conflicts = Vec::new();
        let c = &mut conflicts;
        let data_root = merge(flags.data_root, file.data_root, "data-root", c)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_ROOT));
        let hosts = merge(non_empty(flags.hosts), file.hosts, "hosts", c)
            .unwrap_or_else(|| vec![DEFAULT_HOST.to_owned()]);
        let tlsverify = merge(
            flags.tlsverify.then_some(true),
            file.tlsverify,
            "tlsverify",
            c,
        )
        .unwrap_or(false);
        let ca = merge(flags.tlscacert, file.tlscacert, "tlscacert", c);
        let cert = merge(flags.tlscert, file.tlscert, "tlscert", c);
        let key = merge(flags.tlskey, file.tlskey, "tlskey", c);
        let mirrors = merge(
            non_empty(flags.registry_mirrors),
            file.registry_mirrors,
            "registry-mirrors",
            c,
        )
        .unwrap_or_default();
        let insecure = merge(
            non_empty(flags.insecure_registries),
            file.insecure_registries,
            "insecure-registries",
            c,
        )
        .unwrap_or_default();
        let userns_remap = merge(flags.userns_remap, file.userns_remap, "userns-remap", c);
        let bridge = merge(flags.bridge, file.bridge, "bridge", c);
        let bip = merge(flags.bip, file.bip, "bip", c);
        let init_path = merge(flags.init_path, file.init_path, "init-path", c);
        if !conflicts.is_empty() {
            return Err(ConfigError::Conflict {
                path: path.to_owned(),
                keys: conflicts.join(", "),
            });
        }
        if !data_root.is_absolute() {
            return Err(ConfigError::RelativeDataRoot(data_root));
        }
        let tls = if tlsverify {
            let missing: Vec<&str> = [
                ("--tlscacert", &ca),
                ("--tlscert", &cert),
                ("--tlskey", &key),
            ]
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(name, _)| *name)
            .collect();
            match (ca, cert, key) {
                (Some(ca), Some(cert), Some(key)) => Some(TlsSettings { ca, cert, key }),
                _ => {
                    return Err(ConfigError::MissingTls {
                        missing: missing.join(", "),
                    });
                }
            }
        } else {
            for (flag, value) in [
                ("--tlscacert", &ca),
                ("--tlscert", &cert),
                ("--tlskey", &key),
            ] {
                if value.is_some() {
                    return Err(ConfigError::TlsWithoutVerify { flag });
                }
            }
            None
        };
        let hosts = hosts
            .iter()
            .map(|h| h.parse::<Host>())
            .collect::<Result<Vec<_>, _>>()?;
        // ANCHOR: refuse_insecure_tcp
        for host in &hosts {
            if !host.is_loopback() && tls.is_none() {
                return Err(ConfigError::InsecureTcp {
                    host: host.to_string(),
                });
            }
        }
        // ANCHOR_END: refuse_insecure_tcp
        let registries = RegistryConfig {
            mirrors,
            insecure,
            insecure_loopback: true,
            // Never the daemon user's stored logins: each request lends its own
            // (see `api::auth`).
            credentials: CredentialSource::Anonymous,
        };
        registries.check()?;
        Ok(Settings {
            data_root,
            hosts,
            tls,
            registries,
            userns_remap,
            default_bridge: default_bridge(bridge, bip)?,
            userns_remap_etc: flags
                .userns_remap_etc
                .unwrap_or_else(|| PathBuf::from("/etc")),
            init_path,
        })
    }
}

/// The default bridge of `--bridge` and `--bip`.
fn default_bridge(
    bridge: Option<String>,
    bip: Option<String>,
) -> Result<Option<berth_network::network::DefaultBridge>, ConfigError> {
    use berth_network::network::DefaultBridge;
    if bridge.as_deref() == Some("none") {
        return match bip {
            Some(_) => Err(ConfigError::BridgeAndBip),
            None => Ok(None),
        };
    }
    let mut default = match bip {
        Some(bip) => DefaultBridge::from_bip(&bip).map_err(ConfigError::Bip)?,
        None => DefaultBridge::default(),
    };
    if let Some(name) = bridge {
        let valid = (1..=15).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid {
            return Err(ConfigError::BadBridge(name));
        }
        default.bridge = name;
    }
    Ok(Some(default))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str) -> FileSettings {
        serde_json::from_str(json).unwrap()
    }

    fn merged(flags: Flags, json: &str) -> Result<Settings, ConfigError> {
        Settings::merge(flags, file(json), Path::new("/etc/berth/daemon.json"))
    }

    #[test]
    fn defaults_and_file_values() {
        let s = merged(Flags::default(), "{}").unwrap();
        assert_eq!(s.data_root, PathBuf::from(DEFAULT_DATA_ROOT));
        assert_eq!(s.hosts, vec![Host::Unix("/run/berth.sock".into())]);
        let s = merged(
            Flags::default(),
            r#"{"data-root":"/srv/berth","hosts":["unix:///tmp/a.sock","tcp://127.0.0.1:2375"],
                "registry-mirrors":["http://127.0.0.1:5000"],"insecure-registries":["reg:5000"]}"#,
        )
        .unwrap();
        assert_eq!(s.data_root, PathBuf::from("/srv/berth"));
        assert_eq!(s.hosts.len(), 2);
        assert_eq!(s.registries.mirrors, ["http://127.0.0.1:5000"]);
        assert!(s.registries.is_insecure("reg:5000"));
        let s = merged(Flags::default(), r#"{"userns-remap":"default"}"#).unwrap();
        assert_eq!(s.userns_remap.as_deref(), Some("default"));
    }

    #[test]
    fn a_key_set_twice_is_refused() {
        let flags = Flags {
            data_root: Some("/a".into()),
            hosts: vec!["unix:///tmp/x.sock".into()],
            ..Flags::default()
        };
        let error = merged(flags, r#"{"data-root":"/b","hosts":["unix:///y"]}"#).unwrap_err();
        assert!(error.to_string().contains("data-root, hosts"), "{error}");
        assert!(serde_json::from_str::<FileSettings>(r#"{"debug":true}"#).is_err());
    }

    #[test]
    fn the_default_bridge_is_dockers_unless_told() {
        let s = merged(Flags::default(), "{}").unwrap();
        let bridge = s.default_bridge.expect("on by default");
        assert_eq!(bridge.subnet.to_string(), "172.17.0.0/16");
        assert_eq!(bridge.bridge, "berth0");
        let s = merged(Flags::default(), r#"{"bip":"10.9.0.1/24","bridge":"br9"}"#).unwrap();
        let bridge = s.default_bridge.expect("configured");
        assert_eq!(
            (bridge.subnet.to_string(), bridge.bridge.as_str()),
            ("10.9.0.0/24".into(), "br9")
        );
        let none = Flags {
            bridge: Some("none".into()),
            ..Flags::default()
        };
        assert!(merged(none.clone(), "{}").unwrap().default_bridge.is_none());
        let both = merged(none, r#"{"bip":"10.9.0.1/24"}"#).unwrap_err();
        assert!(matches!(both, ConfigError::BridgeAndBip), "{both}");
        let bad = Flags {
            bip: Some("10.9.0.0/24".into()),
            ..Flags::default()
        };
        assert!(matches!(merged(bad, "{}"), Err(ConfigError::Bip(_))));
    }

    #[test]
    fn tcp_off_loopback_needs_verified_tls() {
        let tcp = |host: &str| Flags {
            hosts: vec![host.into()],
            ..Flags::default()
        };
        assert!(merged(tcp("tcp://127.0.0.1:2375"), "{}").is_ok());
        assert!(matches!(
            merged(tcp("tcp://0.0.0.0:2375"), "{}"),
            Err(ConfigError::InsecureTcp { .. })
        ));
        let half = Flags {
            tlsverify: true,
            tlscert: Some("/c".into()),
            ..tcp("tcp://0.0.0.0:2376")
        };
        let error = merged(half, "{}").unwrap_err().to_string();
        assert!(error.contains("--tlscacert, --tlskey"), "{error}");
        let full = Flags {
            tlsverify: true,
            tlscacert: Some("/ca".into()),
            tlscert: Some("/c".into()),
            tlskey: Some("/k".into()),
            ..tcp("tcp://0.0.0.0:2376")
        };
        assert!(merged(full, "{}").unwrap().tls.is_some());
        let no_verify = Flags {
            tlscert: Some("/c".into()),
            ..Flags::default()
        };
        assert!(matches!(
            merged(no_verify, "{}"),
            Err(ConfigError::TlsWithoutVerify { .. })
        ));
    }
}
