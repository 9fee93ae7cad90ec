//! Building the book, for the tests that check it: `book.rs` (links and anchors) and
//! `browser.rs` (the pages in a real browser).
//!
//! Both run `mdbook build` exactly as a reader would, and both refuse a build that merely
//! exits with 0: mdBook 0.5 exits with 0 when an `{{#include}}` names a missing file, and only
//! logs an `ERROR` line (the raw `{{#include}}` text then ends up on the page).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The book's source: `book/` at the root of the workspace.
pub fn book_dir() -> PathBuf {
    crate::workspace_root().join("book")
}

/// Runs `mdbook build BOOK --dest-dir OUT` and panics on a bad status or on any log line at
/// level ERROR or WARN, with the whole log in the message.
pub fn build(book: &Path, out: &Path) {
    let output = Command::new("mdbook")
        .arg("build")
        .arg(book)
        .arg("--dest-dir")
        .arg(out)
        .env("PATH", path_with_cargo_bin())
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `mdbook` ({e}): install it with `sudo ./scripts/test`, which runs \
                 scripts/install-deps.sh, or `cargo install --locked mdbook@0.5.4 \
                 mdbook-mermaid@0.17.1`"
            )
        });
    let log = String::from_utf8_lossy(&output.stderr);
    let problems: Vec<&str> = log
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            line.starts_with("ERROR") || line.starts_with("WARN")
        })
        .collect();
    assert!(
        output.status.success() && problems.is_empty(),
        "`mdbook build {}` did not build cleanly ({}); its problems:\n{}\n\nits whole log:\n{log}",
        book.display(),
        output.status,
        problems.join("\n"),
    );
}

/// `$PATH` with Cargo's `bin` directory appended: that is where `cargo install` puts `mdbook`
/// and `mdbook-mermaid`, and `sudo` usually drops it from `$PATH`.
pub fn path_with_cargo_bin() -> OsString {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    if let Some(cargo_home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(cargo_home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    std::env::join_paths(dirs).expect("a directory in $PATH contains ':'")
}

/// Every file under `dir` whose name ends in `.extension`, in a stable order.
pub fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("cannot read an entry of {}: {e}", dir.display()))
                .path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == extension) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}
