//! The book's "what changed since the last chapter" pages are the code's, not a hand-kept
//! copy: they are regenerated here into a temporary directory and compared with the committed
//! ones. A difference means a chapter's code changed without `cargo xtask changes`.

use std::fs;

use xtask::changes::{PAGES_DIR, write_all};
use xtask::workspace::{chapters, root};

#[test]
fn the_committed_pages_are_up_to_date() {
    let workspace = root();
    let fresh = tempfile::tempdir().unwrap();
    let written = write_all(&workspace, fresh.path()).unwrap();
    let committed = workspace.join(PAGES_DIR);

    let mut stale = Vec::new();
    for path in &written {
        let name = path.file_name().unwrap();
        let expected = fs::read_to_string(path).unwrap();
        match fs::read_to_string(committed.join(name)) {
            Err(e) => stale.push(format!("{}: {e}", name.to_string_lossy())),
            Ok(actual) if actual != expected => {
                // The first line that differs, so the message says what moved.
                let line = expected
                    .lines()
                    .zip(actual.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
                stale.push(format!(
                    "{}: differs from line {}:\n  generated: {}\n  committed: {}",
                    name.to_string_lossy(),
                    line + 1,
                    expected.lines().nth(line).unwrap_or("(end of file)"),
                    actual.lines().nth(line).unwrap_or("(end of file)")
                ));
            }
            Ok(_) => {}
        }
    }
    assert!(
        stale.is_empty(),
        "{PAGES_DIR} is stale: run `cargo xtask changes` and commit the result\n{}",
        stale.join("\n")
    );
}

#[test]
fn every_chapter_page_includes_its_changes() {
    let workspace = root();
    for chapter in chapters(&workspace).unwrap() {
        let page = workspace.join(format!("book/src/{}.md", chapter.page_stem()));
        let text = fs::read_to_string(&page).unwrap();
        let include = format!("{{{{#include changes/{}.md}}}}", chapter.page_stem());
        assert!(
            text.contains(&include),
            "{} does not include its \"what changed\" page: add `{include}`",
            page.display()
        );
    }
}

#[test]
fn the_pages_say_what_each_chapter_adds_and_uses() {
    let pages = xtask::changes::render_all(&root()).unwrap();
    let ch01 = &pages["chapter01.md"];
    assert!(
        ch01.contains("`pub fn clone_flags(rootless: bool) -> CloneFlags`"),
        "{ch01}"
    );
    assert!(ch01.contains("Nothing: this chapter depends on no earlier chapter."));
    let ch02 = &pages["chapter02.md"];
    assert!(ch02.contains("| `src/digest.rs` |"), "{ch02}");
    assert!(ch02.contains("**Chapter 1, `berth-namespaces`**"), "{ch02}");
    assert!(
        ch02.contains("- `berth_namespaces::ContainerConfig` in"),
        "{ch02}"
    );
    // Private modules' items and unit tests are not public surface.
    assert!(!ch02.contains("mod tests"), "{ch02}");
    assert!(!ch02.contains("- `pub(crate)"), "{ch02}");
}
