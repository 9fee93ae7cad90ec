//! Device rules: which device numbers a container may open, read, write or create.
//!
//! The kernel knows a device by its type (character or block) and its major:minor numbers;
//! the name under `/dev` is only a file that carries them. So Docker's allowlist is a list of
//! rules in the v1 `devices` controller's own syntax, `TYPE MAJOR:MINOR ACCESS`: `c 1:3 rwm`
//! lets the container read, write and `mknod` `/dev/null`, whatever it calls it; `b *:* m`
//! lets it *make* any block device node but not open one. Everything else is denied: a root
//! process in the container may `mknod /dev/sda b 8 0`, and the kernel refuses to open it.
//!
//! [`docker_defaults`] is the list runc gives every container (moby asks for the first six
//! character devices and the console; runc adds `mknod` of anything, the pseudo-terminals
//! and `/dev/net/tun`); `--privileged` replaces it with `a *:* rwm`. `--device-cgroup-rule`
//! adds rules in the same syntax ([`DeviceRule::from_str`]).

use std::fmt;
use std::str::FromStr;

/// What a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceType {
    /// `a`: every device, character and block (its numbers are always `*:*`).
    All,
    /// `c`: character devices (terminals, `/dev/null`, `/dev/net/tun`).
    Char,
    /// `b`: block devices (disks, loop devices).
    Block,
}

/// The access a rule grants: `r` read, `w` write, `m` mknod. Kept as the bits the kernel's
/// BPF device hook uses (`BPF_DEVCG_ACC_MKNOD` 1, `_READ` 2, `_WRITE` 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access(pub u8);

impl Access {
    /// `m`: create the node with `mknod`.
    pub const MKNOD: u8 = 1;
    /// `r`: open it for reading.
    pub const READ: u8 = 2;
    /// `w`: open it for writing.
    pub const WRITE: u8 = 4;
    /// `rwm`.
    pub const ALL: Access = Access(7);

    /// Parses `r`, `w`, `m` in any order, each at most once, at least one.
    pub fn parse(text: &str) -> Option<Access> {
        let mut bits = 0;
        for c in text.chars() {
            let bit = match c {
                'r' => Access::READ,
                'w' => Access::WRITE,
                'm' => Access::MKNOD,
                _ => return None,
            };
            if bits & bit != 0 {
                return None;
            }
            bits |= bit;
        }
        (bits != 0).then_some(Access(bits))
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, c) in [
            (Access::READ, 'r'),
            (Access::WRITE, 'w'),
            (Access::MKNOD, 'm'),
        ] {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// One rule: allow (or deny) `access` to the devices of `kind` with these numbers (`None`
/// is the wildcard `*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceRule {
    /// Allow, or deny.
    pub allow: bool,
    /// Character, block, or all.
    pub kind: DeviceType,
    /// The major number; `None` for any.
    pub major: Option<u32>,
    /// The minor number; `None` for any.
    pub minor: Option<u32>,
    /// What it allows or denies.
    pub access: Access,
}

/// A `--device-cgroup-rule` that is not `TYPE MAJOR:MINOR ACCESS`. The message is dockerd's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid device cgroup rule format: '{0}'")]
pub struct RuleError(pub String);

impl DeviceRule {
    /// Allows `access` to `kind major:minor`.
    pub const fn allow(
        kind: DeviceType,
        major: Option<u32>,
        minor: Option<u32>,
        access: u8,
    ) -> Self {
        DeviceRule {
            allow: true,
            kind,
            major,
            minor,
            access: Access(access),
        }
    }

    /// `a *:* rwm`, allowed or denied: the rule that replaces every other.
    pub const fn everything(allow: bool) -> Self {
        DeviceRule {
            allow,
            kind: DeviceType::All,
            major: None,
            minor: None,
            access: Access::ALL,
        }
    }
}

// ANCHOR: defaults
const RWM: u8 = Access::ALL.0;
const C: DeviceType = DeviceType::Char;

/// The devices every container may use (runc's default list, which moby's includes):
/// everything else is denied.
pub fn docker_defaults() -> Vec<DeviceRule> {
    vec![
        // mknod of any node: a node alone opens nothing (see the module docs).
        DeviceRule::allow(C, None, None, Access::MKNOD),
        DeviceRule::allow(DeviceType::Block, None, None, Access::MKNOD),
        DeviceRule::allow(C, Some(1), Some(3), RWM), // /dev/null
        DeviceRule::allow(C, Some(1), Some(5), RWM), // /dev/zero
        DeviceRule::allow(C, Some(1), Some(7), RWM), // /dev/full
        DeviceRule::allow(C, Some(1), Some(8), RWM), // /dev/random
        DeviceRule::allow(C, Some(1), Some(9), RWM), // /dev/urandom
        DeviceRule::allow(C, Some(5), Some(0), RWM), // /dev/tty
        DeviceRule::allow(C, Some(5), Some(1), RWM), // /dev/console
        DeviceRule::allow(C, Some(5), Some(2), RWM), // /dev/ptmx
        DeviceRule::allow(C, Some(136), None, RWM),  // /dev/pts/*
        DeviceRule::allow(C, Some(10), Some(200), RWM), // /dev/net/tun
    ]
}
// ANCHOR_END: defaults

/// The whole list a container's cgroup gets, in order, the first rule being the default
/// for devices no later rule names: deny everything, then Docker's defaults, then `extra`
/// (`--device` and `--device-cgroup-rule`); or, `--privileged`, allow everything.
pub fn allowlist(privileged: bool, extra: &[DeviceRule]) -> Vec<DeviceRule> {
    if privileged {
        return vec![DeviceRule::everything(true)];
    }
    let mut rules = vec![DeviceRule::everything(false)];
    rules.extend(docker_defaults());
    rules.extend_from_slice(extra);
    rules
}

impl fmt::Display for DeviceRule {
    /// The v1 syntax, `c 1:3 rwm` (without allow or deny: the file written says which).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            DeviceType::All => 'a',
            DeviceType::Char => 'c',
            DeviceType::Block => 'b',
        };
        let number = |n: Option<u32>| n.map_or("*".to_owned(), |n| n.to_string());
        write!(
            f,
            "{kind} {}:{} {}",
            number(self.major),
            number(self.minor),
            self.access
        )
    }
}

impl FromStr for DeviceRule {
    type Err = RuleError;

    /// Parses an allow rule as `docker run --device-cgroup-rule` takes it: `c 1:3 rwm`,
    /// `b 7:* rw`, `a *:* m`.
    fn from_str(text: &str) -> Result<DeviceRule, RuleError> {
        let bad = || RuleError(text.to_owned());
        let fields: Vec<&str> = text.split(' ').collect();
        let [kind, numbers, access] = fields[..] else {
            return Err(bad());
        };
        let kind = match kind {
            "a" => DeviceType::All,
            "c" => DeviceType::Char,
            "b" => DeviceType::Block,
            _ => return Err(bad()),
        };
        let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
        let number = |n: &str| -> Result<Option<u32>, RuleError> {
            match n {
                "*" => Ok(None),
                n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                    n.parse().map(Some).map_err(|_| bad())
                }
                _ => Err(bad()),
            }
        };
        Ok(DeviceRule {
            allow: true,
            kind,
            major: number(major)?,
            minor: number(minor)?,
            access: Access::parse(access).ok_or_else(bad)?,
        })
    }
}

impl serde::Serialize for DeviceRule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for DeviceRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_print_as_dockers() {
        for text in ["c 1:3 rwm", "b 7:* rw", "a *:* m", "c 136:* rwm"] {
            let rule: DeviceRule = text.parse().unwrap();
            assert_eq!(rule.to_string(), text);
        }
        assert_eq!(
            "b 7:0 wr".parse::<DeviceRule>().unwrap().to_string(),
            "b 7:0 rw"
        );
        for bad in [
            "x 7:0 rw",
            "c 1:3",
            "c 1:3 rwx",
            "c 1:3 rr",
            "c 1-3 r",
            "c :3 r",
            "c 1:3  r",
        ] {
            let err = bad.parse::<DeviceRule>().unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid device cgroup rule format: '{bad}'")
            );
        }
    }

    #[test]
    fn the_allowlist_denies_first_then_allows() {
        let extra = ["b 7:0 r".parse().unwrap()];
        let rules = allowlist(false, &extra);
        assert_eq!(rules[0], DeviceRule::everything(false));
        assert_eq!(rules.last(), Some(&extra[0]));
        assert_eq!(rules.len(), 2 + docker_defaults().len());
        assert_eq!(allowlist(true, &extra), [DeviceRule::everything(true)]);
    }
}
