//! The book in a real browser: every page loads cleanly, every picture is drawn, search works.
//!
//! `book.rs` proves the HTML links up; only a browser can show that the diagrams render, that
//! no script throws, and that a reader who types `pivot_root` into the search box finds the
//! chapter about it. Each test builds the book into a directory of its own, serves it on a
//! loopback port ([`StaticSite`]) and drives Debian's headless Chromium over the DevTools
//! protocol ([`Chromium`]). Dropping them stops the server, kills the browser and removes its
//! profile and the built book, also when an assertion fails.
//!
//! Nothing here waits a fixed time: every wait polls a condition in the page up to a generous
//! deadline, so a busy machine makes the test slower, never wrong.

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_tests::book::{book_dir, build, files_with_extension};
use berth_tests::browser::{Chromium, Clip, Tab};
use berth_tests::static_site::StaticSite;
use serde_json::Value;

/// How long a page may take to load and draw its diagrams on two busy cores.
const PAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// A viewport the size of a laptop screen.
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;

/// True once the page has loaded and mermaid has replaced every diagram's source with an SVG.
const DIAGRAMS_DRAWN: &str = "document.readyState === 'complete' && \
     [...document.querySelectorAll('pre.mermaid, div.mermaid')].every(d => d.querySelector('svg'))";

/// Opens every `<details>` (solutions are folded; their pictures must render too) and returns
/// the box of every image and diagram, in CSS pixels.
const MEASURE: &str = r#"(() => {
    document.querySelectorAll('details').forEach(d => d.open = true);
    const boxes = [];
    for (const img of document.querySelectorAll('img')) {
        const r = img.getBoundingClientRect();
        boxes.push({ what: 'image ' + img.getAttribute('src'), width: r.width, height: r.height,
                     loaded: img.complete && img.naturalWidth > 0, error: false });
    }
    document.querySelectorAll('pre.mermaid, div.mermaid').forEach((d, i) => {
        const svg = d.querySelector('svg');
        const r = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
        boxes.push({ what: 'diagram ' + (i + 1), width: r.width, height: r.height, loaded: !!svg,
                     error: !!svg && (svg.getAttribute('aria-roledescription') === 'error'
                                      || /Syntax error/.test(svg.textContent)) });
    });
    return boxes;
})()"#;

/// The contrast ratio (WCAG 2) between the first arrow of the first diagram and the page
/// behind the diagram.
const LINE_CONTRAST: &str = r#"(() => {
    const svg = document.querySelector('pre.mermaid svg, div.mermaid svg');
    const line = svg.querySelector('path.flowchart-link, .edgePath path, path.relation, line');
    const rgb = text => (text.match(/[\d.]+/g) || []).slice(0, 4).map(Number);
    let ground = svg.parentElement;
    while (ground && (getComputedStyle(ground).backgroundColor === 'transparent'
                      || rgb(getComputedStyle(ground).backgroundColor)[3] === 0)) {
        ground = ground.parentElement;
    }
    const page = ground ? getComputedStyle(ground).backgroundColor : 'rgb(255, 255, 255)';
    const stroke = getComputedStyle(line).stroke;
    const luminance = color => {
        const [r, g, b] = rgb(color).map(c => {
            c /= 255;
            return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const [light, dark] = [luminance(stroke), luminance(page)].sort((a, b) => b - a);
    return { line: stroke, page, ratio: (light + 0.05) / (dark + 0.05) };
})()"#;

/// The book, built into a fresh directory, and a server for it.
struct ServedBook {
    site: StaticSite,
    dir: tempfile::TempDir,
}

impl ServedBook {
    fn new(label: &str) -> ServedBook {
        let dir = tempfile::Builder::new()
            .prefix(&format!("book-{label}-"))
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("creating a directory for the built book");
        build(&book_dir(), dir.path());
        let site = StaticSite::serve(dir.path()).expect("serving the book on a loopback port");
        ServedBook { site, dir }
    }

    /// Every page of the built book, as a path relative to its root. `toc.html` is left out:
    /// it is not a page but the sidebar that mdBook loads in an `<iframe>` for readers without
    /// JavaScript, and it has no favicon link, so a browser opening it alone asks for
    /// `/favicon.ico`, which no book has.
    fn pages(&self) -> Vec<String> {
        files_with_extension(self.dir.path(), "html")
            .iter()
            .filter_map(|page| page.strip_prefix(self.dir.path()).ok())
            .map(|page| page.to_string_lossy().into_owned())
            .filter(|page| page != "toc.html")
            .collect()
    }
}

fn launch() -> (Chromium, Tab) {
    let mut chromium = Chromium::launch().unwrap_or_else(|e| panic!("{e}"));
    let tab = chromium
        .open_tab(WIDTH, HEIGHT)
        .unwrap_or_else(|e| panic!("opening a tab: {e}\nChromium's log:\n{}", chromium.log()));
    (chromium, tab)
}

#[test]
fn every_page_loads_without_errors_and_draws_every_picture() {
    let book = ServedBook::new("pages");
    let (mut chromium, tab) = launch();
    let pages = book.pages();
    assert!(
        pages.iter().any(|p| p == "chapter02.html"),
        "the built book has no chapter02.html; it has {pages:?}"
    );

    let mut failures = Vec::new();
    let mut diagrams = 0;
    for page in &pages {
        let url = book.site.url(page);
        if let Err(e) = chromium.navigate(&tab, &url, PAGE_TIMEOUT) {
            failures.push(format!("{page}: {e}"));
            continue;
        }
        if let Err(e) = chromium.wait_until(&tab, DIAGRAMS_DRAWN, PAGE_TIMEOUT) {
            failures.push(format!("{page}: the diagrams were not drawn: {e}"));
        }
        let boxes = chromium
            .evaluate(&tab, MEASURE)
            .unwrap_or_else(|e| panic!("measuring {page}: {e}"));
        for item in boxes.as_array().into_iter().flatten() {
            let what = item["what"].as_str().unwrap_or("?");
            let size = |key: &str| item[key].as_f64().unwrap_or(0.0);
            if what.starts_with("diagram") {
                diagrams += 1;
            }
            if item["loaded"] != Value::Bool(true) || size("width") < 1.0 || size("height") < 1.0 {
                failures.push(format!(
                    "{page}: {what} is not drawn ({} × {} px)",
                    size("width"),
                    size("height")
                ));
            }
            if item["error"] == Value::Bool(true) {
                failures.push(format!("{page}: {what} is mermaid's syntax-error picture"));
            }
        }
        match chromium.take_problems(&tab) {
            Ok(problems) => failures.extend(problems.into_iter().map(|p| format!("{page}: {p}"))),
            Err(e) => failures.push(format!("{page}: reading its console: {e}")),
        }
    }

    // The book's chapters are full of diagrams: finding none means the check saw nothing.
    assert!(
        diagrams >= 10,
        "only {diagrams} mermaid diagrams in the whole book: is the mermaid preprocessor running?"
    );
    assert!(
        failures.is_empty(),
        "{} problem(s) in {} pages:\n{}",
        failures.len(),
        pages.len(),
        failures.join("\n")
    );
}

#[test]
fn search_finds_pivot_root_and_whiteout() {
    let book = ServedBook::new("search");
    let (mut chromium, tab) = launch();

    for (term, page) in [
        ("pivot_root", "chapter01.html"),
        ("whiteout", "chapter02.html"),
    ] {
        chromium
            .navigate(&tab, &book.site.url("index.html"), PAGE_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
        // `/` is mdBook's shortcut to the search box, as a reader would use it.
        chromium
            .call(
                Some(&tab),
                "Input.dispatchKeyEvent",
                serde_json::json!({ "type": "keyDown", "key": "/", "text": "/" }),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        chromium
            .wait_until(
                &tab,
                "document.activeElement && document.activeElement.id === 'mdbook-searchbar'",
                PAGE_TIMEOUT,
            )
            .unwrap_or_else(|e| panic!("the search box did not get the focus: {e}"));
        chromium
            .type_text(&tab, term)
            .unwrap_or_else(|e| panic!("{e}"));
        let results = chromium
            .wait_until(
                &tab,
                "(() => { const links = [...document.querySelectorAll('#mdbook-searchresults li a')]; \
                 return links.length ? links.map(a => a.getAttribute('href')) : null; })()",
                PAGE_TIMEOUT,
            )
            .unwrap_or_else(|e| panic!("searching for {term:?} showed no results: {e}"));
        let hrefs: Vec<&str> = results
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            hrefs.iter().any(|href| href.starts_with(page)),
            "searching for {term:?} did not find {page}; the results link to {hrefs:?}"
        );
        let problems = chromium
            .take_problems(&tab)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(problems.is_empty(), "searching for {term:?}: {problems:#?}");
    }
}

#[test]
fn chapter_two_screenshots_in_light_and_dark_themes() {
    let book = ServedBook::new("screenshots");
    let (mut chromium, tab) = launch();
    let artifacts = artifacts_dir();

    for theme in ["light", "navy", "coal"] {
        // mdBook keeps the reader's theme in local storage; set it as the theme menu would.
        chromium
            .navigate(&tab, &book.site.url("index.html"), PAGE_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
        chromium
            .evaluate(
                &tab,
                &format!("localStorage.setItem('mdbook-theme', '{theme}')"),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        chromium
            .navigate(&tab, &book.site.url("chapter02.html"), PAGE_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
        chromium
            .wait_until(&tab, DIAGRAMS_DRAWN, PAGE_TIMEOUT)
            .unwrap_or_else(|e| panic!("chapter 2's diagrams in {theme}: {e}"));
        let applied = chromium
            .evaluate(
                &tab,
                &format!("document.documentElement.classList.contains('{theme}')"),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            applied,
            Value::Bool(true),
            "the {theme} theme was not applied"
        );

        // Mermaid draws its colours into the SVG, so a diagram drawn with the light palette
        // on a dark page has dark lines on a dark ground. Measure it as WCAG does for lines
        // and shapes: a contrast ratio of at least 3 between the arrows and the page.
        let contrast = chromium
            .evaluate(&tab, LINE_CONTRAST)
            .unwrap_or_else(|e| panic!("{e}"));
        let ratio = contrast["ratio"].as_f64().unwrap_or(0.0);
        assert!(
            ratio >= 3.0,
            "in the {theme} theme chapter 2's first diagram draws its arrows in {} on a page of \
             {}: a contrast of {ratio:.2}, below 3 (does book/mermaid-init.js pick mermaid's \
             dark theme for dark book themes?)",
            contrast["line"],
            contrast["page"]
        );

        if theme == "light" {
            let png = chromium
                .screenshot(&tab, None)
                .unwrap_or_else(|e| panic!("{e}"));
            check_png(&png, WIDTH, HEIGHT, "chapter 2");
            write_artifact(&artifacts.join("chapter02.png"), &png);
        }

        // The first diagram, wherever it is on the page.
        let rect = chromium
            .evaluate(
                &tab,
                "(() => { const r = document.querySelector('pre.mermaid svg, div.mermaid svg')\
                 .getBoundingClientRect(); return [r.x + scrollX, r.y + scrollY, r.width, r.height]; })()",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let [x, y, width, height] = [0, 1, 2, 3].map(|i| rect[i].as_f64().unwrap_or(0.0));
        // Some margin around it, so the page's background shows in the picture.
        let clip = Clip {
            x: (x - 16.0).max(0.0).floor(),
            y: (y - 16.0).max(0.0).floor(),
            width: (width + 32.0).ceil(),
            height: (height + 32.0).ceil(),
        };
        let png = chromium
            .screenshot(&tab, Some(clip))
            .unwrap_or_else(|e| panic!("{e}"));
        check_png(&png, clip.width as u32, clip.height as u32, theme);
        write_artifact(
            &artifacts.join(format!("chapter02-diagram-{theme}.png")),
            &png,
        );

        let problems = chromium
            .take_problems(&tab)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(problems.is_empty(), "chapter 2 in {theme}: {problems:#?}");
    }
}

/// `target/test-artifacts`: files a test leaves for people to look at.
fn artifacts_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is target/tmp");
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

fn write_artifact(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Checks that `png` is a PNG of `width` × `height` pixels with more in it than one flat
/// colour (which compresses to a few hundred bytes).
fn check_png(png: &[u8], width: u32, height: u32, what: &str) {
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.get(12..16) == Some(b"IHDR"),
        "the screenshot of {what} is not a PNG"
    );
    let number = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    assert_eq!(
        (number(16), number(20)),
        (width, height),
        "the screenshot of {what} has the wrong size"
    );
    assert!(
        png.len() > 5_000,
        "the screenshot of {what} is only {} bytes: is the page blank?",
        png.len()
    );
}
