//! The report: what each check found, and the table `berth doctor` prints.
//!
//! Docker's `check-config.sh` prints one line per kernel option; a learner needs more: why the
//! book needs it, and the exact command that fixes it. So a [`Check`] carries both, and
//! [`report`] prints them under the line that failed.

use std::fmt;
use std::io::{self, Write};

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Everything the chapters need is there.
    Ok,
    /// Something optional is missing (rootless mode, a later chapter, the daemon).
    Warn,
    /// A chapter will fail on this host until it is fixed.
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`, so that `{:<4}` aligns the report's first column.
        f.pad(match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        })
    }
}

/// The result of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked: `user namespace`, `overlay mount`, ...
    pub name: String,
    /// How it came out.
    pub status: Status,
    /// What was found: `6.8.0-45-generic`, `unshare: EPERM`, ...
    pub found: String,
    /// What it is needed for, in the book's terms.
    pub why: String,
    /// The exact command (or step) that fixes it, when it is not ok.
    pub fix: Option<String>,
    /// Lines printed under the check, indented (chapter 5's table of cgroup controllers).
    /// A boxed slice, not a `Vec`: a `Check` is the error of the trials' `Result`s, and
    /// stays small.
    pub details: Box<[String]>,
}

impl Check {
    pub(super) fn new(
        name: impl Into<String>,
        status: Status,
        found: impl Into<String>,
        why: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            status,
            found: found.into(),
            why: why.into(),
            fix: None,
            details: Box::default(),
        }
    }

    pub(super) fn details(mut self, lines: Vec<String>) -> Check {
        self.details = lines.into_boxed_slice();
        self
    }

    pub(super) fn fix(mut self, fix: impl Into<String>) -> Check {
        if self.status != Status::Ok {
            self.fix = Some(fix.into());
        }
        self
    }
}

/// Prints `checks` as an aligned table with the why and the fix under each; true if none
/// failed.
pub fn report(out: &mut dyn Write, checks: &[Check]) -> io::Result<bool> {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    writeln!(
        out,
        "berth doctor: can this host run everything in the book?\n"
    )?;
    for check in checks {
        writeln!(
            out,
            "{:<4}  {:<width$}  {}",
            check.status, check.name, check.found
        )?;
        let indent = " ".repeat(6 + width + 2);
        writeln!(out, "{indent}why: {}", check.why)?;
        if let Some(fix) = &check.fix {
            writeln!(out, "{indent}fix: {fix}")?;
        }
        for line in &check.details {
            writeln!(out, "{indent}{line}")?;
        }
    }
    let count = |status| checks.iter().filter(|c| c.status == status).count();
    let failed = count(Status::Fail);
    writeln!(
        out,
        "\n{} checks: {} ok, {} warning(s), {} failed",
        checks.len(),
        count(Status::Ok),
        count(Status::Warn),
        failed
    )?;
    Ok(failed == 0)
}
