//! Builds the book and checks that every link in it leads somewhere.
//!
//! The book promises that its listings come from the code and that its cross-references work.
//! This test holds it to that, in three steps:
//!
//! 1. `mdbook build` must succeed without logging an error or a warning. That is stricter than
//!    its exit status: mdBook 0.5 exits with 0 when an `{{#include}}` names a missing file, and
//!    only logs an `ERROR` line (the raw `{{#include}}` text then ends up on the page).
//! 2. Every `{{#include file:anchor}}` in `book/src` must name an anchor that exists in the file.
//!    For an unknown anchor mdBook logs nothing at all and includes an empty listing.
//! 3. Every relative `href` and `src` in the built HTML must point to a file that exists, and
//!    every `#fragment` into a page of the book to an `id` on that page.
//!
//! We wrote this ourselves because `mdbook-linkcheck`, the usual tool, does not support
//! mdBook 0.5. It needs only the standard library: the HTML comes from mdBook, so a small
//! attribute scanner is enough, and text inside `<code>` cannot fool it because mdBook escapes
//! quotes there (`href=&quot;`).
//!
//! The book is built into Cargo's temporary directory for tests (`target/tmp/book`), not into
//! `book/build`, so that a run as root leaves no root-owned files in the tree you edit.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use berth_tests::book::{build, files_with_extension};

#[test]
fn book_builds_and_every_link_resolves() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let book = workspace.join("book");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("book");

    build(&book, &out);

    let mut broken = check_include_anchors(&book.join("src"));
    broken.extend(check_links(&out));
    assert!(
        broken.is_empty(),
        "the book (built in {}) has {} broken link(s):\n{}",
        out.display(),
        broken.len(),
        broken.join("\n")
    );
}

/// Checks `{{#include path:anchor}}` and `{{#rustdoc_include path:anchor}}` in every page: the
/// file must contain `ANCHOR: anchor`. Line ranges (`path:1:10`) are mdBook's business.
fn check_include_anchors(src: &Path) -> Vec<String> {
    let mut broken = Vec::new();
    for page in files_with_extension(src, "md") {
        let text = fs::read_to_string(&page).unwrap();
        for directive in ["{{#include ", "{{#rustdoc_include "] {
            for (start, _) in text.match_indices(directive) {
                let rest = &text[start + directive.len()..];
                let Some(end) = rest.find("}}") else { continue };
                let mut parts = rest[..end].trim().split(':');
                let file = parts.next().unwrap_or_default();
                // `file`, `file:10`, `file:2:10` and `file::10` are line ranges, not anchors.
                let anchor = parts.next().unwrap_or_default();
                if anchor.is_empty() || anchor.parse::<usize>().is_ok() {
                    continue;
                }
                let target = page.parent().unwrap().join(file);
                // A missing file is reported by mdBook itself, as an ERROR (step 1).
                let Ok(content) = fs::read_to_string(&target) else {
                    continue;
                };
                let has_anchor = content.lines().any(|line| {
                    line.split_once("ANCHOR:")
                        .is_some_and(|(_, name)| name.split_whitespace().next() == Some(anchor))
                });
                if !has_anchor {
                    broken.push(format!(
                        "{}: {directive}{file}:{anchor}}}}} (no `ANCHOR: {anchor}` in {})",
                        page.display(),
                        target.display()
                    ));
                }
            }
        }
    }
    broken
}

/// Checks every relative `href` and `src` in the HTML under `out`.
fn check_links(out: &Path) -> Vec<String> {
    let pages = files_with_extension(out, "html");
    let mut ids = BTreeMap::new();
    for page in &pages {
        let html = fs::read_to_string(page).unwrap();
        ids.insert(page.clone(), attribute_values(&html, "id"));
    }

    let mut broken = Vec::new();
    for page in &pages {
        let html = fs::read_to_string(page).unwrap();
        let links = attribute_values(&html, "href")
            .into_iter()
            .chain(attribute_values(&html, "src"));
        for link in links {
            if let Err(reason) = resolve(out, page, &link, &ids) {
                let page = page.strip_prefix(out).unwrap_or(page);
                broken.push(format!("{}: {link} ({reason})", page.display()));
            }
        }
    }
    broken
}

/// Follows one link from `page`; `Err` says why it leads nowhere.
fn resolve(
    out: &Path,
    page: &Path,
    link: &str,
    ids: &BTreeMap<PathBuf, BTreeSet<String>>,
) -> Result<(), String> {
    let external = ["http:", "https:", "mailto:", "data:", "javascript:", "//"];
    if external.iter().any(|scheme| link.starts_with(scheme)) {
        return Ok(());
    }
    let link = link.replace("&amp;", "&");
    let (path, fragment) = match link.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (link.as_str(), None),
    };
    let path = percent_decode(path.split('?').next().unwrap());

    let mut target = match path.as_str() {
        "" => page.to_path_buf(),
        absolute if absolute.starts_with('/') => out.join(&absolute[1..]),
        relative => page.parent().unwrap().join(relative),
    };
    if target.is_dir() {
        target.push("index.html");
    }
    let target = normalize(&target);
    if !target.starts_with(out) {
        return Err("points outside the book".into());
    }
    if !target.is_file() {
        return Err("no such file".into());
    }
    match (fragment, ids.get(&target)) {
        (Some(fragment), Some(ids)) if !fragment.is_empty() => {
            let fragment = percent_decode(fragment);
            if ids.contains(&fragment) {
                Ok(())
            } else {
                Err(format!("no id \"{fragment}\" there"))
            }
        }
        _ => Ok(()),
    }
}

/// Every value of `name="…"` (or `name='…'`) in `html`. The attribute must follow whitespace,
/// so that looking for `id` does not find `data-id` or `grid`.
fn attribute_values(html: &str, name: &str) -> BTreeSet<String> {
    let mut values = BTreeSet::new();
    for quote in ['"', '\''] {
        let pattern = format!("{name}={quote}");
        for (start, _) in html.match_indices(&pattern) {
            if !html[..start].ends_with(|c: char| c.is_ascii_whitespace()) {
                continue;
            }
            let rest = &html[start + pattern.len()..];
            if let Some(end) = rest.find(quote) {
                values.insert(rest[..end].to_string());
            }
        }
    }
    values
}

/// Decodes `%XX` escapes, which pulldown-cmark writes for non-ASCII characters in links.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Removes `.` and `..` from a path without touching the filesystem.
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}
