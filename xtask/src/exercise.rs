//! # Exercise mode: a copy of the workspace with a chapter's key functions left to write
//!
//! A chapter's source marks the functions that carry its lesson with a comment right above
//! them (below their doc comment, so the learner still reads what the function must do):
//!
//! ```text
//! /// The flags for `clone(2)`: every namespace above, the user namespace only when rootless.
//! // EXERCISE: combine the flags of NAMESPACES; leave CLONE_NEWUSER out unless rootless
//! pub fn clone_flags(rootless: bool) -> CloneFlags {
//! ```
//!
//! [`make_skeleton`] copies the workspace and, in that chapter's crate only, replaces each
//! marked body by `todo!("<hint>")`. The signature stays, so everything that calls the
//! function still compiles, and the chapter's own tests become the learner's checklist: they
//! fail with `not yet implemented: <hint>` until the function is written. The solution is the
//! real code in the original workspace, never a second copy that could drift.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::items::{MarkedFn, ScanError, marked_functions};
use crate::workspace::{Chapter, WorkspaceError, copy_workspace, io_error, rust_files};

/// Why a skeleton could not be made.
#[derive(Debug, Error)]
pub enum ExerciseError {
    /// Reading or copying the workspace failed.
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    /// A source file could not be scanned.
    #[error("in {}", path.display())]
    Scan {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        source: ScanError,
    },
    /// The output directory exists and is not empty: we never write over someone's work.
    #[error("{} already exists and is not empty: choose another --out or remove it", path.display())]
    OutputNotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// `--only` names a function that is not an exercise of the chapter.
    #[error("chapter {number} has no exercise function {name:?}; its exercises are: {known}")]
    UnknownFunction {
        /// The name asked for.
        name: String,
        /// The chapter.
        number: u32,
        /// The names there are.
        known: String,
    },
    /// The chapter has no marked function: its exercise would have nothing to do.
    #[error("chapter {number} has no `// EXERCISE:` marker in {dir}/src")]
    NoMarkers {
        /// The chapter.
        number: u32,
        /// Its directory.
        dir: String,
    },
}

/// One function that the skeleton leaves to the learner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exercise {
    /// The file, relative to the chapter's directory (`src/namespaces.rs`).
    pub file: String,
    /// The marked function.
    pub function: MarkedFn,
}

impl Exercise {
    /// The panic message the skeleton's `todo!` prints: `not yet implemented: <this>`.
    pub fn todo_message(&self) -> String {
        format!("{}: {}", self.function.name, self.function.hint)
    }
}

/// The marked functions of `chapter`, in file order, read from the workspace at `workspace`.
pub fn exercises(workspace: &Path, chapter: &Chapter) -> Result<Vec<Exercise>, ExerciseError> {
    let src = workspace.join(&chapter.dir).join("src");
    let mut found = Vec::new();
    for file in rust_files(&src)? {
        let path = src.join(&file);
        let text = fs::read_to_string(&path).map_err(io_error("reading", &path))?;
        let marked = marked_functions(&text).map_err(|source| ExerciseError::Scan {
            path: path.clone(),
            source,
        })?;
        found.extend(marked.into_iter().map(|function| Exercise {
            file: format!("src/{file}"),
            function,
        }));
    }
    Ok(found)
}

/// The inner attribute put at the top of the chapter's `lib.rs` in a skeleton.
///
/// With a body gone, the helpers, imports and parameters only it used are unused: without this
/// the learner's first build would greet them with warnings about the solution.
pub const SKELETON_ALLOW: &str = "#![allow(dead_code, unused_imports, unused_variables)] \
                                  // exercise skeleton: the todo!() bodies leave these unused";

/// Copies `workspace` into `out` and replaces the marked bodies of `chapter` by `todo!`.
///
/// `out` must not exist or be empty. `only` limits the stubs to the functions named (an
/// instructor can hand out one function at a time); `None` stubs them all. Returns the
/// exercises that were stubbed, for the instructions.
pub fn make_skeleton(
    workspace: &Path,
    chapter: &Chapter,
    out: &Path,
    only: Option<&[String]>,
) -> Result<Vec<Exercise>, ExerciseError> {
    // Check the markers (and `only`) before copying anything.
    select(exercises(workspace, chapter)?, chapter, only)?;
    if out.exists()
        && fs::read_dir(out)
            .map_err(io_error("listing", out))?
            .next()
            .is_some()
    {
        return Err(ExerciseError::OutputNotEmpty {
            path: out.to_path_buf(),
        });
    }
    copy_workspace(workspace, out)?;
    stub_chapter(workspace, chapter, out, only)
}

/// In `out`, a copy of `workspace`, rewrites the chapter's marked files from the originals
/// with the selected bodies stubbed: stubbing another selection in the same copy needs no
/// new copy (and no rebuild of anything but the chapter's crate).
pub fn stub_chapter(
    workspace: &Path,
    chapter: &Chapter,
    out: &Path,
    only: Option<&[String]>,
) -> Result<Vec<Exercise>, ExerciseError> {
    let all = exercises(workspace, chapter)?;
    let selected = select(all.clone(), chapter, only)?;
    let mut files: BTreeSet<&str> = all.iter().map(|e| e.file.as_str()).collect();
    files.insert("src/lib.rs");
    for file in files {
        let original = workspace.join(&chapter.dir).join(file);
        let text = fs::read_to_string(&original).map_err(io_error("reading", &original))?;
        let in_file: Vec<&Exercise> = selected.iter().filter(|e| e.file == file).collect();
        let mut text = replace_bodies(&text, &in_file);
        if file == "src/lib.rs" {
            text = with_inner_attribute(&text, SKELETON_ALLOW);
        }
        let copy = out.join(&chapter.dir).join(file);
        fs::write(&copy, text).map_err(io_error("writing", &copy))?;
    }
    Ok(selected)
}

/// The exercises named in `only` (all of them for `None`); unknown names are an error.
fn select(
    all: Vec<Exercise>,
    chapter: &Chapter,
    only: Option<&[String]>,
) -> Result<Vec<Exercise>, ExerciseError> {
    if all.is_empty() {
        return Err(ExerciseError::NoMarkers {
            number: chapter.number,
            dir: chapter.dir.clone(),
        });
    }
    let Some(only) = only else {
        return Ok(all);
    };
    if let Some(unknown) = only
        .iter()
        .find(|name| !all.iter().any(|e| &e.function.name == *name))
    {
        return Err(ExerciseError::UnknownFunction {
            name: unknown.clone(),
            number: chapter.number,
            known: all
                .iter()
                .map(|e| e.function.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(all
        .into_iter()
        .filter(|e| only.contains(&e.function.name))
        .collect())
}

/// `text` with the bodies of `exercises` (all in this file) replaced by `todo!`.
pub fn replace_bodies(text: &str, exercises: &[&Exercise]) -> String {
    let mut sorted: Vec<&&Exercise> = exercises.iter().collect();
    sorted.sort_by_key(|e| e.function.body.start);
    let mut out = String::with_capacity(text.len());
    let mut copied_to = 0;
    for exercise in sorted {
        let body = &exercise.function.body;
        out.push_str(&text[copied_to..body.start]);
        let line_start = text[..body.start].rfind('\n').map_or(0, |i| i + 1);
        let indent: String = text[line_start..]
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        let _ = write!(
            out,
            "{{\n{indent}    todo!(\"{}\")\n{indent}}}",
            escape_for_todo(&exercise.todo_message())
        );
        copied_to = body.end;
    }
    out.push_str(&text[copied_to..]);
    out
}

/// `message` as the inside of a string literal that `todo!` reads as a format string.
fn escape_for_todo(message: &str) -> String {
    let mut escaped = String::with_capacity(message.len());
    for c in message.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '{' => escaped.push_str("{{"),
            '}' => escaped.push_str("}}"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// `text` (a crate root) with `attribute` added after its leading `//!` lines and `#![...]`
/// attributes: an inner attribute must come before the first item.
pub fn with_inner_attribute(text: &str, attribute: &str) -> String {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//!") || trimmed.starts_with("#![") || trimmed.trim().is_empty() {
            offset += line.len();
        } else {
            break;
        }
    }
    format!("{}{attribute}\n\n{}", &text[..offset], &text[offset..])
}

/// What the learner should do next, printed after the skeleton is made.
pub fn instructions(chapter: &Chapter, out: &Path, exercises: &[Exercise]) -> String {
    let mut text = format!(
        "Chapter {} exercise written to {}\n\n{} function(s) to write in {}:\n",
        chapter.number,
        out.display(),
        exercises.len(),
        chapter.dir
    );
    for exercise in exercises {
        let _ = writeln!(
            text,
            "  {}:{}  {}\n      {}",
            exercise.file, exercise.function.line, exercise.function.name, exercise.function.hint
        );
    }
    let _ = write!(
        text,
        "\nNext:\n  cd {}\n  cargo test -p {} --lib          # quick: the unit tests, no root needed\n  \
         sudo -E cargo test -p {}          # everything, as the book's chapter runs it\n\n\
         A test that fails with `not yet implemented: NAME: ...` is waiting for function NAME.\n\
         The solution is the real code in the original workspace.\n",
        out.display(),
        chapter.package,
        chapter.package
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_body_and_keeps_the_signature() {
        let text = "/// Doc.\n// EXERCISE: add \"one\" {carefully}\npub fn f(x: u32) -> u32 {\n    let s = \"}\";\n    x + 1\n}\nfn g() {}\n";
        let function = marked_functions(text).unwrap().remove(0);
        let exercise = Exercise {
            file: "src/lib.rs".into(),
            function,
        };
        let replaced = replace_bodies(text, &[&exercise]);
        assert_eq!(
            replaced,
            "/// Doc.\n// EXERCISE: add \"one\" {carefully}\npub fn f(x: u32) -> u32 {\n    \
             todo!(\"f: add \\\"one\\\" {{carefully}}\")\n}\nfn g() {}\n"
        );
    }

    #[test]
    fn the_allow_goes_after_the_crate_docs() {
        let text = "//! # Title\n//!\n//! Text.\n\npub mod a;\n";
        assert_eq!(
            with_inner_attribute(text, "#![allow(x)]"),
            "//! # Title\n//!\n//! Text.\n\n#![allow(x)]\n\npub mod a;\n"
        );
    }
}
