//! Each chapter's "Check your work" transcript is its tests' snapshot, word for word.
//!
//! A transcript in a book goes stale the day the program's output changes, and a learner who
//! compares their terminal with a stale transcript learns to distrust the book. So the chapter
//! pages never copy a transcript by hand: they include the chapter's insta snapshot (from its
//! fifth line, after insta's header), the file the chapter's own tests compare the program's
//! real output with. This test holds every chapter page to that:
//!
//! 1. the page has a "Check your work" section, and that section includes at least one
//!    snapshot, from the chapter's own crate (`chapters/NN-*/tests/snapshots/`);
//! 2. in the built page, the text of each included snapshot appears whole inside one code
//!    block: what the learner reads is what the test compared.

use std::fs;
use std::path::{Path, PathBuf};

use berth_tests::book::{book_dir, build};

/// The chapter pages: `chapterNN.md`, with their number.
fn chapter_pages(src: &Path) -> Vec<(u32, PathBuf)> {
    let mut pages: Vec<(u32, PathBuf)> = fs::read_dir(src)
        .expect("book/src is readable")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?;
            let number = name
                .strip_prefix("chapter")?
                .strip_suffix(".md")?
                .parse()
                .ok()?;
            Some((number, path))
        })
        .collect();
    pages.sort();
    pages
}

/// The "Check your work" section of a page: from its heading to the next `## ` heading.
fn check_your_work(page: &str) -> Option<&str> {
    let start = page.find("\n## Check your work")?;
    let rest = &page[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    Some(&rest[..end])
}

/// `{{#include PATH:FROM:}}` directives in `text` that include a snapshot: (path, first line).
fn snapshot_includes(text: &str) -> Vec<(String, usize)> {
    text.match_indices("{{#include ")
        .filter_map(|(at, _)| {
            let directive = &text[at + "{{#include ".len()..];
            let directive = &directive[..directive.find("}}")?];
            let mut parts = directive.splitn(2, ':');
            let path = parts.next()?.trim().to_owned();
            if !path.ends_with(".snap") {
                return None;
            }
            let from = parts
                .next()
                .and_then(|range| range.split(':').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            Some((path, from))
        })
        .collect()
}

/// The text of every `<code>` element of an HTML page, with mdBook's escapes undone.
fn code_blocks(html: &str) -> Vec<String> {
    html.match_indices("<code")
        .filter_map(|(at, _)| {
            let open_end = at + html[at..].find('>')? + 1;
            let close = open_end + html[open_end..].find("</code>")?;
            Some(unescape(&html[open_end..close]))
        })
        .collect()
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

#[test]
fn every_chapter_checks_your_work_with_its_own_snapshots() {
    let book = book_dir();
    let src = book.join("src");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("transcripts-book");
    build(&book, &out);

    let pages = chapter_pages(&src);
    assert!(
        pages.len() >= 4,
        "expected chapter pages in {}",
        src.display()
    );
    let mut problems = Vec::new();
    for (number, page_path) in &pages {
        let page = fs::read_to_string(page_path).expect("chapter page is readable");
        let name = page_path.file_name().unwrap_or_default().to_string_lossy();
        let Some(section) = check_your_work(&page) else {
            problems.push(format!("{name}: no \"## Check your work\" section"));
            continue;
        };
        let includes = snapshot_includes(section);
        if includes.is_empty() {
            problems.push(format!(
                "{name}: \"Check your work\" includes no snapshot: copy no transcript by hand, \
                 include the chapter's insta snapshot"
            ));
        }
        let crate_prefix = format!("chapters/{number:02}-");
        let html_path = out.join(name.replace(".md", ".html"));
        let html = fs::read_to_string(&html_path).expect("the built chapter page");
        let blocks = code_blocks(&html);
        for (path, from) in includes {
            let snapshot = src.join(&path);
            let normalized = snapshot
                .canonicalize()
                .unwrap_or_else(|e| panic!("{name}: {path}: {e}"));
            let relative = normalized
                .strip_prefix(book.parent().expect("the book is in the workspace"))
                .unwrap_or(&normalized)
                .to_string_lossy()
                .into_owned();
            if !relative.starts_with(&crate_prefix) || !relative.contains("/tests/snapshots/") {
                problems.push(format!(
                    "{name}: {path} is not a snapshot of chapter {number}'s own tests"
                ));
            }
            let text = fs::read_to_string(&normalized).expect("snapshot is readable");
            let body: String = text
                .lines()
                .skip(from.saturating_sub(1))
                .collect::<Vec<_>>()
                .join("\n");
            let body = body.trim();
            if body.is_empty() {
                problems.push(format!("{name}: {path} from line {from} is empty"));
            } else if !blocks.iter().any(|block| block.contains(body)) {
                problems.push(format!(
                    "{name}: the built page does not show {path} (from line {from}) whole in \
                     one code block"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checks_catch_a_hand_copied_transcript() {
    let page = "# Ch\n\n## Check your work\n\n```console\n$ ch01 run\nhello\n```\n\n## Next\n";
    let section = check_your_work(page).expect("the section is found");
    assert!(section.contains("hello") && !section.contains("## Next"));
    assert!(snapshot_includes(section).is_empty());

    let included = "## Check your work\n{{#include ../../chapters/01-namespaces/tests/snapshots/a.snap:5:}}\n{{#include ../../x.rs:anchor}}\n";
    assert_eq!(
        snapshot_includes(included),
        vec![(
            "../../chapters/01-namespaces/tests/snapshots/a.snap".to_owned(),
            5
        )]
    );
    assert_eq!(
        code_blocks("<pre><code class=\"language-console\">a &amp;&amp; b &lt;c&gt;</code></pre>"),
        vec!["a && b <c>".to_owned()]
    );
}

/// The parts every chapter page has, in this order (STYLE.md: "The book and the chapters").
const CHAPTER_PARTS: &[&str] = &[
    "## What Docker does here, and why",
    "## Pictures",
    "## The code",
    "## Run it",
    "## Check your work",
    "## What can go wrong",
    "## Exercises",
    "## What changed since the last chapter",
    "## Further reading",
];

#[test]
fn every_chapter_page_has_the_parts_of_a_lesson_in_order() {
    let src = book_dir().join("src");
    let mut problems = Vec::new();
    for (_, page_path) in chapter_pages(&src) {
        let page = fs::read_to_string(&page_path).expect("chapter page is readable");
        let name = page_path.file_name().unwrap_or_default().to_string_lossy();
        let headings: Vec<&str> = page.lines().filter(|l| l.starts_with("## ")).collect();
        if headings != CHAPTER_PARTS {
            problems.push(format!(
                "{name}: its parts are {headings:?}, expected {CHAPTER_PARTS:?}"
            ));
        }
        // Solutions are folded away, so a learner tries first.
        let exercises = page
            .split("\n## Exercises")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .unwrap_or_default();
        if !exercises.contains("<details>") {
            problems.push(format!(
                "{name}: no folded solution (<details>) in Exercises"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
