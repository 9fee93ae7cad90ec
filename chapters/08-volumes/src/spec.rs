//! What the user asked to mount: `-v`, `--mount` and `--tmpfs`, parsed as Docker parses them.
//!
//! Docker has three spellings for one idea. `-v SRC:DST[:OPTS]` is the old short one: a source
//! that starts with `/` is a host path (a bind mount, its directory made if missing), any other
//! source is a volume name, and no source at all (`-v /data`) is an anonymous volume.
//! `--mount type=...,src=...,dst=...` is the explicit one (a bind source that is missing is an
//! error there). `--tmpfs DST[:OPTS]` mounts memory. All three become a [`MountSpec`] here, and
//! a mistake is refused before anything is made, with the flag and the faulty part named.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Why a mount flag was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("invalid {flag} {value:?}: {reason}")]
    Invalid {
        flag: &'static str,
        value: String,
        reason: String,
    },
}

fn invalid(flag: &'static str, value: &str, reason: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        flag,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// The three kinds of mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A volume of the daemon's, named or (without a source) anonymous.
    Volume,
    /// A host path.
    Bind,
    /// Memory.
    Tmpfs,
}

// ANCHOR: spec
/// One mount a container asks for, as typed (volume names not yet looked up).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    /// Volume, bind or tmpfs.
    pub kind: MountKind,
    /// A volume's name (`None`: a new anonymous one) or a bind's host path; none for tmpfs.
    pub source: Option<String>,
    /// Where it appears in the container: an absolute path.
    pub destination: String,
    /// Mounted read-only (`:ro`, `readonly`).
    pub readonly: bool,
    /// Do not fill a new, empty volume with the image's files at the destination.
    pub nocopy: bool,
    /// For tmpfs, the kernel's options (`size=65536k,mode=1777`).
    pub tmpfs_options: String,
    /// For tmpfs from `--tmpfs`, Docker's default `noexec` (unless `exec` was given).
    pub noexec: bool,
    /// For a bind with `-v`, make the host directory if it is missing (as Docker does).
    pub create_source: bool,
}
// ANCHOR_END: spec

impl MountSpec {
    fn new(kind: MountKind, source: Option<String>, destination: String) -> MountSpec {
        MountSpec {
            kind,
            source,
            destination,
            readonly: false,
            nocopy: false,
            tmpfs_options: String::new(),
            noexec: false,
            create_source: false,
        }
    }

    /// The destination as a path.
    pub fn destination_path(&self) -> PathBuf {
        PathBuf::from(&self.destination)
    }
}

fn check_destination(flag: &'static str, value: &str, dst: &str) -> Result<String, SpecError> {
    if !dst.starts_with('/') {
        return Err(invalid(
            flag,
            value,
            format!("the destination {dst:?} must be an absolute path"),
        ));
    }
    if dst.trim_end_matches('/').is_empty() {
        return Err(invalid(flag, value, "the destination cannot be /"));
    }
    Ok(dst.to_owned())
}

const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "slave", "rslave", "shared", "rshared",
];

// ANCHOR: propagation
/// Why a propagation mode other than (r)private is refused. A `shared` or `slave` bind only
/// means something if the source's mount is a peer of the host's, but the child makes every
/// mount of its namespace private before it binds anything (chapter 1: else `pivot_root`
/// fails on a shared `/`), so the bind would silently be private: refused instead, by name.
fn propagation_refused(mode: &str) -> String {
    format!(
        "propagation {mode} is not supported: berthd makes every bind mount rprivate (the \
         default); leave the propagation out or use rprivate"
    )
}
// ANCHOR_END: propagation

/// Parses one `-v`/`--volume` value.
pub fn parse_volume_flag(value: &str) -> Result<MountSpec, SpecError> {
    const FLAG: &str = "-v";
    let parts: Vec<&str> = value.split(':').collect();
    let (source, destination, options) = match parts.as_slice() {
        [dst] => (None, *dst, None),
        [a, b] if b.starts_with('/') => (Some(*a), *b, None),
        [dst, opts] => (None, *dst, Some(*opts)),
        [src, dst, opts] => (Some(*src), *dst, Some(*opts)),
        _ => {
            return Err(invalid(
                FLAG,
                value,
                "expected [SOURCE:]DESTINATION[:OPTIONS]",
            ));
        }
    };
    let destination = check_destination(FLAG, value, destination)?;
    let mut spec = match source {
        None => MountSpec::new(MountKind::Volume, None, destination),
        Some("") => return Err(invalid(FLAG, value, "the source is empty")),
        Some(src) if src.starts_with('/') => {
            let mut spec = MountSpec::new(MountKind::Bind, Some(src.to_owned()), destination);
            spec.create_source = true;
            spec
        }
        Some(name) => {
            crate::volume::validate_name(name).map_err(|e| invalid(FLAG, value, e.to_string()))?;
            MountSpec::new(MountKind::Volume, Some(name.to_owned()), destination)
        }
    };
    for option in options.into_iter().flat_map(|o| o.split(',')) {
        match option {
            "ro" => spec.readonly = true,
            "rw" => spec.readonly = false,
            "nocopy" if spec.kind == MountKind::Volume => spec.nocopy = true,
            // SELinux relabelling: no SELinux here, so nothing to relabel (Docker ignores it
            // too when SELinux is off).
            "z" | "Z" => {}
            p if PROPAGATIONS.contains(&p) && spec.kind == MountKind::Bind => {
                // The child made every mount private; only the default is supported.
                if !matches!(p, "private" | "rprivate") {
                    return Err(invalid(FLAG, value, propagation_refused(p)));
                }
            }
            other => return Err(invalid(FLAG, value, format!("unknown option {other:?}"))),
        }
    }
    Ok(spec)
}

/// Parses one `--volumes-from` value: `CONTAINER[:ro|rw]`. The mode, if given, replaces each
/// inherited mount's own.
pub fn parse_volumes_from(value: &str) -> Result<(String, Option<bool>), SpecError> {
    const FLAG: &str = "--volumes-from";
    let (container, mode) = match value.split_once(':') {
        None => (value, None),
        Some((container, "ro")) => (container, Some(true)),
        Some((container, "rw")) => (container, Some(false)),
        Some((_, other)) => {
            return Err(invalid(
                FLAG,
                value,
                format!("unknown mode {other:?}: use ro or rw"),
            ));
        }
    };
    if container.is_empty() {
        return Err(invalid(FLAG, value, "no container named"));
    }
    Ok((container.to_owned(), mode))
}

/// A size as `tmpfs` takes it (`64m`, `1g`, `65536`, `50%`), checked; else the reason.
pub fn tmpfs_size(text: &str) -> Result<String, String> {
    let lower = text.to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, unit) = match lower.char_indices().last() {
        Some((i, 'k' | 'm' | 'g' | '%')) => (&lower[..i], &lower[i..]),
        _ => (lower, ""),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{text:?} is not a size: use a number with an optional k, m or g, such as 64m"
        ));
    }
    Ok(format!("{digits}{unit}"))
}

fn tmpfs_mode(text: &str) -> Result<String, String> {
    match u32::from_str_radix(text, 8) {
        Ok(mode) if mode <= 0o7777 => Ok(format!("{mode:o}")),
        _ => Err(format!("{text:?} is not an octal mode such as 1777")),
    }
}

/// Parses one `--tmpfs` value: `DST[:size=64m,mode=1777,ro,exec]`.
pub fn parse_tmpfs_flag(value: &str) -> Result<MountSpec, SpecError> {
    const FLAG: &str = "--tmpfs";
    let (dst, options) = value.split_once(':').unwrap_or((value, ""));
    let mut spec = MountSpec::new(MountKind::Tmpfs, None, check_destination(FLAG, value, dst)?);
    spec.noexec = true;
    let mut kernel = Vec::new();
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            Some(("size", size)) => {
                kernel.push(format!(
                    "size={}",
                    tmpfs_size(size).map_err(|r| invalid(FLAG, value, r))?
                ));
            }
            Some(("mode", mode)) => kernel.push(format!(
                "mode={}",
                tmpfs_mode(mode).map_err(|r| invalid(FLAG, value, r))?
            )),
            None if option == "ro" => spec.readonly = true,
            None if option == "rw" => spec.readonly = false,
            None if option == "exec" => spec.noexec = false,
            None if option == "noexec" => spec.noexec = true,
            None if matches!(option, "nosuid" | "nodev") => {}
            _ => return Err(invalid(FLAG, value, format!("unknown option {option:?}"))),
        }
    }
    spec.tmpfs_options = kernel.join(",");
    Ok(spec)
}

fn boolean(flag: &'static str, value: &str, text: &str) -> Result<bool, SpecError> {
    match text {
        "" | "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(invalid(
            flag,
            value,
            format!("{text:?} is not true or false"),
        )),
    }
}

/// Parses one `--mount` value: `type=bind|volume|tmpfs,src=...,dst=...,readonly,...`.
pub fn parse_mount_flag(value: &str) -> Result<MountSpec, SpecError> {
    const FLAG: &str = "--mount";
    let mut kind = MountKind::Volume;
    let (mut source, mut destination) = (None, None);
    let (mut readonly, mut nocopy) = (false, false);
    let mut kernel = Vec::new();
    for field in value.split(',') {
        let (key, val) = field.split_once('=').unwrap_or((field, ""));
        match key {
            "type" => {
                kind = match val {
                    "volume" => MountKind::Volume,
                    "bind" => MountKind::Bind,
                    "tmpfs" => MountKind::Tmpfs,
                    other => {
                        return Err(invalid(FLAG, value, format!("unknown type {other:?}")));
                    }
                }
            }
            "source" | "src" => source = Some(val.to_owned()),
            "destination" | "dst" | "target" => destination = Some(val.to_owned()),
            "readonly" | "ro" => readonly = boolean(FLAG, value, val)?,
            "volume-nocopy" => nocopy = boolean(FLAG, value, val)?,
            "bind-propagation" if matches!(val, "private" | "rprivate") => {}
            "bind-propagation" if PROPAGATIONS.contains(&val) => {
                return Err(invalid(FLAG, value, propagation_refused(val)));
            }
            "tmpfs-size" => kernel.push(format!(
                "size={}",
                tmpfs_size(val).map_err(|r| invalid(FLAG, value, r))?
            )),
            "tmpfs-mode" => kernel.push(format!(
                "mode={}",
                tmpfs_mode(val).map_err(|r| invalid(FLAG, value, r))?
            )),
            other => {
                return Err(invalid(FLAG, value, format!("unsupported field {other:?}")));
            }
        }
    }
    let Some(dst) = destination else {
        return Err(invalid(FLAG, value, "a target (dst=) is required"));
    };
    let source = source.filter(|s| !s.is_empty());
    let mut spec = MountSpec::new(kind, source, check_destination(FLAG, value, &dst)?);
    spec.readonly = readonly;
    spec.nocopy = nocopy;
    spec.tmpfs_options = kernel.join(",");
    match (kind, &spec.source) {
        (MountKind::Bind, None) => Err(invalid(FLAG, value, "a bind mount needs a source")),
        (MountKind::Bind, Some(src)) if !src.starts_with('/') => Err(invalid(
            FLAG,
            value,
            format!("the bind source {src:?} must be an absolute path"),
        )),
        (MountKind::Tmpfs, Some(_)) => Err(invalid(FLAG, value, "a tmpfs mount has no source")),
        (MountKind::Volume, Some(name)) => crate::volume::validate_name(name)
            .map(|_| spec.clone())
            .map_err(|e| invalid(FLAG, value, e.to_string())),
        _ => Ok(spec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_flags_as_docker_reads_them() {
        let anonymous = parse_volume_flag("/data").unwrap();
        assert_eq!(
            (anonymous.kind, anonymous.source),
            (MountKind::Volume, None)
        );
        let named = parse_volume_flag("data:/srv:ro,nocopy").unwrap();
        assert_eq!(named.source.as_deref(), Some("data"));
        assert!(named.readonly && named.nocopy);
        let bind = parse_volume_flag("/host/dir:/ctr:rw").unwrap();
        assert_eq!(bind.kind, MountKind::Bind);
        assert!(bind.create_source && !bind.readonly);
        assert!(parse_volume_flag("/data:ro").unwrap().readonly);
    }

    #[test]
    fn bad_flags_are_named() {
        for bad in [
            "data:rel",
            "../x:/d",
            "a/b:/d",
            "/a:/b:bogus",
            "x:/",
            "a:b:c:d",
        ] {
            let error = parse_volume_flag(bad).expect_err(bad).to_string();
            assert!(error.starts_with("invalid -v"), "{error}");
        }
        let error = parse_tmpfs_flag("/run:size=lots").unwrap_err().to_string();
        assert_eq!(
            error,
            "invalid --tmpfs \"/run:size=lots\": \"lots\" is not a size: use a number with an \
             optional k, m or g, such as 64m"
        );
        assert!(parse_mount_flag("type=bind,dst=/x").is_err());
        assert!(parse_mount_flag("type=tmpfs,dst=/x,tmpfs-size=1q").is_err());
        assert!(parse_mount_flag("type=volume,src=a/../b,dst=/x").is_err());
    }

    #[test]
    fn tmpfs_and_mount_flags() {
        let run = parse_tmpfs_flag("/run:size=64M,mode=1777").unwrap();
        assert_eq!(run.tmpfs_options, "size=64m,mode=1777");
        assert!(run.noexec);
        let mount = parse_mount_flag("type=volume,src=vol,dst=/v,readonly,volume-nocopy").unwrap();
        assert!(mount.readonly && mount.nocopy);
        assert_eq!(tmpfs_size("10%"), Ok("10%".into()));
        assert!(tmpfs_size("m").is_err());
    }
}
