//! Docker's seccomp profile format, read as data: `docker run --security-opt
//! seccomp=profile.json` takes a file in this format, and Docker's own default is one.
//!
//! A profile is a default action (for Docker's: fail with `EPERM`) and a list of rules, each
//! naming syscalls, an action, optional conditions on their arguments, and conditions on the
//! container (`includes` / `excludes`: only with or without some capability, only on some
//! architectures). Resolving those conditions is the parent's job: [`Profile::resolve`] turns a
//! profile and a container's capabilities into the plain [`Rule`]s that `bpf.rs` compiles.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::caps::CapSet;

/// Why a profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("reading seccomp profile {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("seccomp profile {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("seccomp profile {path}: unsupported action {action:?}")]
    Action { path: PathBuf, action: String },
    #[error("seccomp profile {path}: unsupported argument operator {op:?} for {syscall}")]
    Operator {
        path: PathBuf,
        op: String,
        syscall: String,
    },
    #[error("seccomp profile {path}: argument index {index} of {syscall} (syscalls have 6)")]
    Index {
        path: PathBuf,
        index: u32,
        syscall: String,
    },
}

/// A profile file, as Docker writes it (the fields Berth uses; others are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// What happens to a syscall no rule names.
    pub default_action: String,
    /// The errno of an `SCMP_ACT_ERRNO` default (Docker: 1, `EPERM`).
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    /// The rules.
    #[serde(default)]
    pub syscalls: Vec<SyscallRule>,
    /// Where the profile came from, for messages.
    #[serde(skip)]
    pub source: PathBuf,
}

/// One entry of `syscalls`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    /// The syscalls it applies to.
    #[serde(default)]
    pub names: Vec<String>,
    /// An older form: one name.
    #[serde(default)]
    pub name: Option<String>,
    /// `SCMP_ACT_ALLOW`, `SCMP_ACT_ERRNO`, ...
    pub action: String,
    /// The errno of an `SCMP_ACT_ERRNO` rule (default `EPERM`).
    #[serde(default)]
    pub errno_ret: Option<u32>,
    /// Conditions on arguments, all of which must hold.
    #[serde(default)]
    pub args: Option<Vec<ArgCondition>>,
    /// The rule applies only if the container has all of these.
    #[serde(default)]
    pub includes: Filter,
    /// The rule applies only if the container has none of these.
    #[serde(default)]
    pub excludes: Filter,
}

/// `includes` / `excludes`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// Capabilities (`CAP_SYS_ADMIN`).
    #[serde(default)]
    pub caps: Vec<String>,
    /// Docker's architecture names (`amd64`, `arm64`).
    #[serde(default)]
    pub arches: Vec<String>,
}

/// One entry of `args`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgCondition {
    /// Which argument, 0 to 5.
    pub index: u32,
    /// The value to compare with (for `SCMP_CMP_MASKED_EQ`, the mask).
    pub value: u64,
    /// For `SCMP_CMP_MASKED_EQ`, the value the masked argument must equal.
    #[serde(default)]
    pub value_two: u64,
    /// `SCMP_CMP_EQ`, `SCMP_CMP_NE` or `SCMP_CMP_MASKED_EQ`.
    pub op: String,
}

/// What the filter answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run the syscall.
    Allow,
    /// Fail it with this errno.
    Errno(u32),
    /// Kill the process.
    Kill,
    /// Send it SIGSYS.
    Trap,
    /// Run it, and log it.
    Log,
}

/// A comparison of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    /// `arg == value`
    Eq(u64),
    /// `arg != value`
    Ne(u64),
    /// `arg & mask == value`
    MaskedEq { mask: u64, value: u64 },
}

/// A resolved rule: one syscall number, conditions that must all hold, an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The syscall's number on this architecture.
    pub nr: libc::c_long,
    /// `(argument index, comparison)`, all of which must hold.
    pub args: Vec<(u8, Compare)>,
    /// What to do.
    pub action: Action,
}

/// Docker's name for the architecture this was built for.
pub const ARCH: &str = if cfg!(target_arch = "aarch64") {
    "arm64"
} else {
    "amd64"
};

const DEFAULT_JSON: &str = include_str!("../../profiles/default.json");

impl Profile {
    /// Berth's default profile (`profiles/default.json`), built into the binary.
    pub fn docker_default() -> Profile {
        let mut profile: Profile =
            serde_json::from_str(DEFAULT_JSON).expect("profiles/default.json is valid");
        profile.source = PathBuf::from("default");
        profile
    }

    /// Reads a profile in Docker's format.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Profile::parse(&text, path)
    }

    /// A profile in Docker's format from its text; `source` names it in errors (its file, or
    /// what the text came with: the docker CLI sends a file's content, not its path).
    pub fn parse(text: &str, source: &Path) -> Result<Profile, ProfileError> {
        let mut profile: Profile = serde_json::from_str(text).map_err(|e| ProfileError::Parse {
            path: source.to_owned(),
            source: e,
        })?;
        profile.source = source.to_owned();
        Ok(profile)
    }

    fn action(&self, action: &str, errno: Option<u32>) -> Result<Action, ProfileError> {
        Ok(match action {
            "SCMP_ACT_ALLOW" => Action::Allow,
            "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(libc::EPERM as u32)),
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" | "SCMP_ACT_KILL_PROCESS" => Action::Kill,
            "SCMP_ACT_TRAP" => Action::Trap,
            "SCMP_ACT_LOG" => Action::Log,
            other => {
                return Err(ProfileError::Action {
                    path: self.source.clone(),
                    action: other.to_owned(),
                });
            }
        })
    }

    /// The default action.
    pub fn default(&self) -> Result<Action, ProfileError> {
        self.action(&self.default_action, self.default_errno_ret)
    }

    // ANCHOR: resolve
    /// The rules that apply to a container with `caps` on this architecture, in profile
    /// order. Syscalls this architecture lacks are skipped.
    pub fn resolve(&self, caps: CapSet) -> Result<Vec<Rule>, ProfileError> {
        let mut rules = Vec::new();
        for rule in &self.syscalls {
            let has_all = rule.includes.caps.iter().all(|c| caps.has(c));
            let has_none = !rule.excludes.caps.iter().any(|c| caps.has(c));
            let arch_in =
                rule.includes.arches.is_empty() || rule.includes.arches.iter().any(|a| a == ARCH);
            let arch_out = rule.excludes.arches.iter().any(|a| a == ARCH);
            if !(has_all && has_none && arch_in && !arch_out) {
                continue;
            }
            let action = self.action(&rule.action, rule.errno_ret)?;
            let names = rule.names.iter().chain(rule.name.iter());
            for name in names {
                let Some(nr) = super::syscalls::number(name) else {
                    continue;
                };
                let mut args = Vec::new();
                for cond in rule.args.iter().flatten() {
                    args.push(self.condition(cond, name)?);
                }
                rules.push(Rule { nr, args, action });
            }
        }
        Ok(rules)
    }
    // ANCHOR_END: resolve

    fn condition(&self, cond: &ArgCondition, syscall: &str) -> Result<(u8, Compare), ProfileError> {
        if cond.index > 5 {
            return Err(ProfileError::Index {
                path: self.source.clone(),
                index: cond.index,
                syscall: syscall.to_owned(),
            });
        }
        let compare = match cond.op.as_str() {
            "SCMP_CMP_EQ" => Compare::Eq(cond.value),
            "SCMP_CMP_NE" => Compare::Ne(cond.value),
            "SCMP_CMP_MASKED_EQ" => Compare::MaskedEq {
                mask: cond.value,
                value: cond.value_two,
            },
            other => {
                return Err(ProfileError::Operator {
                    path: self.source.clone(),
                    op: other.to_owned(),
                    syscall: syscall.to_owned(),
                });
            }
        };
        Ok((cond.index as u8, compare))
    }
}
