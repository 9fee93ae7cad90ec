//! # The workspace as the xtask sees it: chapters, their crates, their files
//!
//! Chapters are found, not listed: every `chapters/NN-name/` directory with a `Cargo.toml` is
//! chapter NN, so a new chapter gets its exercise mode and its "what changed" page without a
//! change here. The few facts we need from a `Cargo.toml` (the package name, the library name
//! and which other chapters it depends on) are read with a line scan: the manifests are ours
//! and rustfmt-tidy, and a TOML parser would be the xtask's biggest dependency.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why the workspace could not be read or copied.
#[derive(Debug, Error)]
pub enum WorkspaceError {
    /// A file or directory could not be read or written.
    #[error("{action} {}", path.display())]
    Io {
        /// What we were doing ("reading", "copying", ...).
        action: &'static str,
        /// The path it failed on.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A chapter's `Cargo.toml` has no `[package] name`.
    #[error("{} has no [package] name", path.display())]
    NoPackageName {
        /// The manifest.
        path: PathBuf,
    },
    /// There is no chapter with this number.
    #[error("there is no chapter {number}: the chapters are {known}")]
    NoSuchChapter {
        /// The number asked for.
        number: u32,
        /// The numbers that exist, for the message.
        known: String,
    },
}

/// Builds a [`WorkspaceError::Io`] for `path`.
pub fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WorkspaceError {
    let path = path.to_path_buf();
    move |source| WorkspaceError::Io {
        action,
        path,
        source,
    }
}

/// One chapter crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chapter {
    /// Its number (the `NN` of `chapters/NN-name`).
    pub number: u32,
    /// Its directory relative to the workspace root, with `/` separators.
    pub dir: String,
    /// The package name (`berth-images`), for `cargo -p`.
    pub package: String,
    /// The library's crate name (`berth_images`), as code names it.
    pub lib: String,
    /// The packages of its `[dependencies]` that are workspace crates (`berth-namespaces`).
    pub berth_dependencies: Vec<String>,
}

impl Chapter {
    /// `chapter02`: the stem of its book page and of its "what changed" page.
    pub fn page_stem(&self) -> String {
        format!("chapter{:02}", self.number)
    }
}

/// The workspace root: the parent of the `xtask` crate.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Every chapter under `workspace/chapters`, in order.
pub fn chapters(workspace: &Path) -> Result<Vec<Chapter>, WorkspaceError> {
    let dir = workspace.join("chapters");
    let mut chapters = Vec::new();
    for entry in fs::read_dir(&dir).map_err(io_error("listing", &dir))? {
        let entry = entry.map_err(io_error("listing", &dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(number) = name.split('-').next().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let manifest = entry.path().join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = fs::read_to_string(&manifest).map_err(io_error("reading", &manifest))?;
        let facts = read_manifest(&text);
        let package = facts.package.ok_or_else(|| WorkspaceError::NoPackageName {
            path: manifest.clone(),
        })?;
        chapters.push(Chapter {
            number,
            dir: format!("chapters/{name}"),
            lib: facts.lib.unwrap_or_else(|| package.replace('-', "_")),
            package,
            berth_dependencies: facts.berth_dependencies,
        });
    }
    chapters.sort_by_key(|c| c.number);
    Ok(chapters)
}

/// Chapter `number` of `chapters`, or an error that lists the ones there are.
pub fn find_chapter(chapters: &[Chapter], number: u32) -> Result<&Chapter, WorkspaceError> {
    chapters
        .iter()
        .find(|c| c.number == number)
        .ok_or_else(|| WorkspaceError::NoSuchChapter {
            number,
            known: chapters
                .iter()
                .map(|c| c.number.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// What [`read_manifest`] extracts from a `Cargo.toml`.
#[derive(Debug, Default, PartialEq, Eq)]
struct ManifestFacts {
    package: Option<String>,
    lib: Option<String>,
    berth_dependencies: Vec<String>,
}

/// Reads `[package] name`, `[lib] name` and the `berth-*` keys of `[dependencies]`.
fn read_manifest(text: &str) -> ManifestFacts {
    let mut facts = ManifestFacts::default();
    let mut section = "";
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let quoted = value.trim().trim_matches('"').to_owned();
        match section {
            "[package]" if key == "name" => facts.package = Some(quoted),
            "[lib]" if key == "name" => facts.lib = Some(quoted),
            "[dependencies]" => {
                // `berth-images.workspace = true` or `berth-images = { path = ... }`.
                let name = key.split('.').next().unwrap_or(key);
                if name.starts_with("berth-") {
                    facts.berth_dependencies.push(name.to_owned());
                }
            }
            _ => {}
        }
    }
    facts
}

/// Every `.rs` file under `dir`, sorted, as paths relative to `dir` with `/` separators.
pub fn rust_files(dir: &Path) -> Result<Vec<String>, WorkspaceError> {
    let mut files = Vec::new();
    collect_rust_files(dir, dir, &mut files)?;
    files.sort();
    Ok(files)
}

fn collect_rust_files(
    base: &Path,
    dir: &Path,
    files: &mut Vec<String>,
) -> Result<(), WorkspaceError> {
    for entry in fs::read_dir(dir).map_err(io_error("listing", dir))? {
        let path = entry.map_err(io_error("listing", dir))?.path();
        if path.is_dir() {
            collect_rust_files(base, &path, files)?;
        } else if path.extension().is_some_and(|e| e == "rs")
            && let Ok(relative) = path.strip_prefix(base)
        {
            files.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

/// The directories a copy of the workspace leaves out: build output, git's own data and the
/// built book. Everything else (sources, tests, snapshots, the lock file) goes along, so the
/// copy builds with exactly the dependency versions of the original.
pub const NOT_COPIED: &[&str] = &["target", ".git", "book/book", "book/build"];

/// Copies the workspace at `from` into the new directory `to`, without [`NOT_COPIED`].
pub fn copy_workspace(from: &Path, to: &Path) -> Result<(), WorkspaceError> {
    copy_dir(from, from, to, to)
}

fn copy_dir(base: &Path, dir: &Path, to_base: &Path, to: &Path) -> Result<(), WorkspaceError> {
    fs::create_dir_all(to).map_err(io_error("creating", to))?;
    for entry in fs::read_dir(dir).map_err(io_error("listing", dir))? {
        let entry = entry.map_err(io_error("listing", dir))?;
        let path = entry.path();
        let relative = path
            .strip_prefix(base)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        // Never copy the destination into itself (`--out` inside the workspace).
        if NOT_COPIED.contains(&relative.as_str()) || path == to_base {
            continue;
        }
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(io_error("inspecting", &path))?;
        if kind.is_dir() {
            copy_dir(base, &path, to_base, &target)?;
        } else if kind.is_symlink() {
            let link = fs::read_link(&path).map_err(io_error("reading the link", &path))?;
            std::os::unix::fs::symlink(&link, &target).map_err(io_error("linking", &target))?;
        } else {
            fs::copy(&path, &target).map_err(io_error("copying", &path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_and_chapter_dependencies() {
        let facts = read_manifest(
            "[package]\nname = \"berth-registry\"\n\n[lib]\nname = \"berth_registry\"\n\n\
             [dependencies]\nberth-namespaces.workspace = true\nberth-images = { path = \"x\" }\n\
             nix.workspace = true\n\n[dev-dependencies]\nberth-tests.workspace = true\n",
        );
        assert_eq!(facts.package.as_deref(), Some("berth-registry"));
        assert_eq!(facts.lib.as_deref(), Some("berth_registry"));
        assert_eq!(
            facts.berth_dependencies,
            ["berth-namespaces", "berth-images"]
        );
    }

    #[test]
    fn finds_this_workspaces_chapters() {
        let chapters = chapters(&root()).unwrap();
        assert!(chapters.len() >= 4, "{chapters:?}");
        assert_eq!(chapters[0].number, 1);
        assert_eq!(chapters[0].package, "berth-namespaces");
        assert!(find_chapter(&chapters, 99).is_err());
    }
}
