//! # Items in a Rust source file, found among its tokens
//!
//! Two questions about a chapter's source, both answered from [`crate::lex`]'s tokens:
//!
//! - which functions carry an `// EXERCISE: hint` marker, and where exactly their bodies are
//!   (so [`crate::exercise`] can replace them and nothing else);
//! - which items a module makes public, with their signatures as the author wrote them, which
//!   modules it declares, and which paths of other crates it uses (for [`crate::changes`]).
//!
//! This is not a Rust parser. It relies on what rustfmt-formatted library code looks like: an
//! item is a run of tokens that ends at a `;` or at the `}` closing its first brace group, with
//! attributes (`#[...]`) and doc comments in front. That is enough to find every item at the
//! top level of a module and inside inherent `impl` blocks, which is all we need.

use std::collections::BTreeSet;
use std::ops::Range;

use thiserror::Error;

use crate::lex::{Kind, LexError, Token, line_of, tokenize};

/// The comment that marks a function as an exercise: `// EXERCISE: what to implement`.
pub const EXERCISE_MARKER: &str = "// EXERCISE:";

/// Why a source file could not be scanned.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ScanError {
    /// The tokenizer gave up (an unterminated literal or comment).
    #[error(transparent)]
    Lex(#[from] LexError),
    /// An `// EXERCISE:` comment that is not directly above a function with a body.
    #[error("the EXERCISE marker at line {line} is not directly above a function with a body")]
    MarkerNotOnFunction {
        /// The marker's 1-based line.
        line: usize,
    },
    /// An `// EXERCISE:` marker without a hint.
    #[error("the EXERCISE marker at line {line} has no hint after the colon")]
    EmptyHint {
        /// The marker's 1-based line.
        line: usize,
    },
    /// A `{`, `(` or `[` that is never closed (or a closer without an opener).
    #[error("unbalanced brackets near line {line}")]
    Unbalanced {
        /// The 1-based line where the scanner noticed.
        line: usize,
    },
}

/// A function marked `// EXERCISE: hint`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkedFn {
    /// The function's name.
    pub name: String,
    /// The hint after the marker.
    pub hint: String,
    /// The 1-based line of the marker.
    pub line: usize,
    /// The byte range of the body, braces included.
    pub body: Range<usize>,
}

/// Finds every function marked with [`EXERCISE_MARKER`] in `source`.
///
/// Between the marker and the `fn` keyword there may be doc comments, attributes and
/// qualifiers (`pub(crate) const unsafe`), nothing else: a marker anywhere else is an error, so
/// a typo cannot silently leave a solution in a learner's skeleton.
pub fn marked_functions(source: &str) -> Result<Vec<MarkedFn>, ScanError> {
    let tokens = tokenize(source)?;
    let mut found = Vec::new();
    for (at, token) in tokens.iter().enumerate() {
        let text = token.text(source);
        let Some(hint) = text.strip_prefix(EXERCISE_MARKER) else {
            continue;
        };
        if token.kind != Kind::Comment {
            continue;
        }
        let line = line_of(source, token.start);
        let hint = hint.trim();
        if hint.is_empty() {
            return Err(ScanError::EmptyHint { line });
        }
        let fn_at = find_fn_keyword(source, &tokens, at + 1)
            .ok_or(ScanError::MarkerNotOnFunction { line })?;
        let name = tokens
            .get(fn_at + 1)
            .filter(|t| t.kind == Kind::Ident)
            .ok_or(ScanError::MarkerNotOnFunction { line })?
            .text(source)
            .to_owned();
        let open = body_start(source, &tokens, fn_at)?
            .filter(|&i| tokens[i].is_punct(source, '{'))
            .ok_or(ScanError::MarkerNotOnFunction { line })?;
        let close = matching_close(source, &tokens, open)?;
        found.push(MarkedFn {
            name,
            hint: hint.to_owned(),
            line,
            body: tokens[open].start..tokens[close].end,
        });
    }
    Ok(found)
}

/// From `at`, skips comments, attributes and qualifiers; the index of `fn` if that is next.
fn find_fn_keyword(source: &str, tokens: &[Token], mut at: usize) -> Option<usize> {
    while let Some(token) = tokens.get(at) {
        let text = token.text(source);
        match token.kind {
            Kind::Comment => at += 1,
            Kind::Punct if text == "#" => at = skip_attribute(source, tokens, at)?,
            Kind::Ident if text == "fn" => return Some(at),
            Kind::Ident if matches!(text, "pub" | "const" | "async" | "unsafe" | "extern") => {
                at += 1;
                // `pub(crate)`, `pub(super)`, `pub(in path)`.
                if text == "pub" && tokens.get(at).is_some_and(|t| t.is_punct(source, '(')) {
                    at = matching_close(source, tokens, at).ok()? + 1;
                }
            }
            // The ABI of `extern "C" fn`.
            Kind::Literal if at > 0 && tokens[at - 1].is_ident(source, "extern") => at += 1,
            _ => return None,
        }
    }
    None
}

/// `#[...]` or `#![...]` at `at`: the index just past its closing `]`.
fn skip_attribute(source: &str, tokens: &[Token], at: usize) -> Option<usize> {
    let mut open = at + 1;
    if tokens.get(open)?.is_punct(source, '!') {
        open += 1;
    }
    if !tokens.get(open)?.is_punct(source, '[') {
        return None;
    }
    Some(matching_close(source, tokens, open).ok()? + 1)
}

/// The index of the bracket closing the one at `open` (`{`, `(` or `[`), counting all three.
fn matching_close(source: &str, tokens: &[Token], open: usize) -> Result<usize, ScanError> {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        if token.kind != Kind::Punct {
            continue;
        }
        match token.text(source) {
            "{" | "(" | "[" => depth += 1,
            "}" | ")" | "]" => {
                depth = depth.checked_sub(1).ok_or(ScanError::Unbalanced {
                    line: line_of(source, token.start),
                })?;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    Err(ScanError::Unbalanced {
        line: line_of(source, tokens[open].start),
    })
}

/// After the keyword at `from`: the index of the first `{` or `;` outside `()` and `[]`
/// (a function's body or the end of a declaration), if any.
fn body_start(source: &str, tokens: &[Token], from: usize) -> Result<Option<usize>, ScanError> {
    let mut at = from;
    while let Some(token) = tokens.get(at) {
        if token.is_punct(source, '(') || token.is_punct(source, '[') {
            at = matching_close(source, tokens, at)? + 1;
            continue;
        }
        if token.is_punct(source, '{') || token.is_punct(source, ';') {
            return Ok(Some(at));
        }
        at += 1;
    }
    Ok(None)
}

/// One public item of a module, as the author wrote its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicItem {
    /// For a method: the `impl` header it is in (`impl Digest`, `impl<R: Read> HashingReader<R>`).
    pub owner: Option<String>,
    /// The signature on one line, without the body: `pub fn of(data: &[u8]) -> Digest`.
    pub signature: String,
    /// The first line of its doc comment, if it has one.
    pub summary: Option<String>,
}

/// What [`scan_module`] finds in one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleScan {
    /// The public items (`pub`, not `pub(crate)`), in source order.
    pub items: Vec<PublicItem>,
    /// The modules it declares with `mod name;` and whether each is `pub`.
    pub modules: Vec<(String, bool)>,
    /// The first line of the module's `//!` doc, without the leading `#`s.
    pub title: Option<String>,
}

/// Lists the public surface of one module file: top-level `pub` items and the `pub fn`s of
/// inherent `impl` blocks; `#[cfg(test)]` items are skipped.
pub fn scan_module(source: &str) -> Result<ModuleScan, ScanError> {
    let tokens = tokenize(source)?;
    let mut scan = ModuleScan {
        title: module_title(source, &tokens),
        ..ModuleScan::default()
    };
    let mut at = 0;
    while at < tokens.len() {
        let item = read_item(source, &tokens, at)?;
        at = item.end;
        if item.cfg_test {
            continue;
        }
        match item.keyword.as_deref() {
            Some("mod") if item.ends_with_semicolon => {
                if let Some(name) = item.name.clone() {
                    scan.modules.push((name, item.public));
                }
            }
            Some("impl") => scan.items.extend(inherent_methods(source, &tokens, &item)?),
            Some("mod" | "macro_rules") | None => {}
            Some(_) if item.public => scan.items.push(PublicItem {
                owner: None,
                signature: item.signature(source, &tokens),
                summary: item.summary.clone(),
            }),
            Some(_) => {}
        }
    }
    Ok(scan)
}

/// The first sentence of a file's leading `//!` comment, without a heading's `#`s.
fn module_title(source: &str, tokens: &[Token]) -> Option<String> {
    let doc: Vec<&str> = tokens
        .iter()
        .map_while(|t| t.text(source).strip_prefix("//!"))
        .collect();
    first_sentence(&doc).map(|title| title.trim_start_matches('#').trim().to_owned())
}

/// The first sentence of the first paragraph of doc comment lines (their text after `///`):
/// what a one-line summary should say, without cutting a sentence at a line break.
pub fn first_sentence(lines: &[&str]) -> Option<String> {
    let paragraph: Vec<&str> = lines
        .iter()
        .map(|line| line.trim())
        .skip_while(|line| line.is_empty())
        .take_while(|line| !line.is_empty())
        .collect();
    let paragraph = paragraph.join(" ");
    // A sentence ends at ". " (or the paragraph's end); "e.g. " and "`a.b`" are no ends.
    let mut end = paragraph.len();
    let mut in_code = false;
    for (i, c) in paragraph.char_indices() {
        match c {
            '`' => in_code = !in_code,
            '.' if !in_code
                && paragraph[i + 1..].starts_with(' ')
                && !paragraph[..i].ends_with("e.g")
                && !paragraph[..i].ends_with("i.e") =>
            {
                end = i + 1;
                break;
            }
            _ => {}
        }
    }
    Some(paragraph[..end].to_owned()).filter(|s| !s.is_empty())
}

/// One item as [`read_item`] delimits it.
struct Item {
    /// Index of the first token after its doc comments and attributes.
    head: usize,
    /// Index just past its last token.
    end: usize,
    /// Index of the token that ends its signature (`{`, `;`, `=`, or `(` of a tuple struct).
    signature_end: usize,
    /// `fn`, `struct`, `impl`, ...; `None` for stray tokens (a macro call at module level).
    keyword: Option<String>,
    /// The name after the keyword.
    name: Option<String>,
    /// Plain `pub` (not `pub(crate)`).
    public: bool,
    /// Whether `#[cfg(test)]` is among its attributes.
    cfg_test: bool,
    /// Whether it ends with `;` (a `mod name;` declaration rather than an inline module).
    ends_with_semicolon: bool,
    /// The first line of its doc comment.
    summary: Option<String>,
}

impl Item {
    /// The item's signature on one line, from the visibility to [`Item::signature_end`].
    fn signature(&self, source: &str, tokens: &[Token]) -> String {
        one_line(source, &tokens[self.head..self.signature_end])
    }
}

/// Reads the item starting at `at` (its doc comments and attributes included).
fn read_item(source: &str, tokens: &[Token], mut at: usize) -> Result<Item, ScanError> {
    let mut doc = Vec::new();
    let mut cfg_test = false;
    // Doc comments, other comments and attributes.
    while let Some(token) = tokens.get(at) {
        let text = token.text(source);
        if token.kind == Kind::Comment {
            if let Some(line) = text.strip_prefix("///") {
                doc.push(line);
            }
            at += 1;
        } else if token.is_punct(source, '#') {
            let end = skip_attribute(source, tokens, at).ok_or(ScanError::Unbalanced {
                line: line_of(source, token.start),
            })?;
            let attribute = one_line(source, &tokens[at..end]);
            cfg_test |= attribute.starts_with("#[cfg(test") || attribute.contains("cfg(test)");
            at = end;
        } else {
            break;
        }
    }
    let head = at;
    let mut public = false;
    if tokens.get(at).is_some_and(|t| t.is_ident(source, "pub")) {
        at += 1;
        if tokens.get(at).is_some_and(|t| t.is_punct(source, '(')) {
            at = matching_close(source, tokens, at)? + 1;
        } else {
            public = true;
        }
    }
    // Qualifiers before the keyword.
    let mut keyword = None;
    while let Some(token) = tokens.get(at) {
        let text = token.text(source);
        match token.kind {
            Kind::Ident if matches!(text, "unsafe" | "async" | "default" | "extern") => at += 1,
            Kind::Literal => at += 1,
            Kind::Ident
                if text == "const"
                    && tokens.get(at + 1).is_some_and(|t| {
                        ["fn", "unsafe", "async", "extern"].contains(&t.text(source))
                    }) =>
            {
                at += 1
            }
            Kind::Ident => {
                keyword = Some(text.to_owned());
                break;
            }
            _ => break,
        }
    }
    let name = tokens
        .get(at + 1)
        .filter(|t| t.kind == Kind::Ident)
        .map(|t| t.text(source).to_owned());
    // Where the item ends: `;` at depth 0, or the `}` of its first brace group (except for
    // `const`, `static`, `type` and `use`, whose values may contain braces before the `;`).
    let semicolon_only = matches!(
        keyword.as_deref(),
        Some("const" | "static" | "type" | "use" | "let")
    );
    let mut signature_end = None;
    let mut cursor = at;
    let (end, ends_with_semicolon) = loop {
        let Some(token) = tokens.get(cursor) else {
            break (tokens.len(), false);
        };
        let text = token.text(source);
        if token.kind == Kind::Punct {
            match text {
                ";" => {
                    signature_end.get_or_insert(cursor);
                    break (cursor + 1, true);
                }
                "=" if semicolon_only => {
                    signature_end.get_or_insert(cursor);
                }
                "(" if matches!(keyword.as_deref(), Some("struct")) => {
                    signature_end.get_or_insert(cursor);
                    cursor = matching_close(source, tokens, cursor)? + 1;
                    continue;
                }
                "(" | "[" => {
                    cursor = matching_close(source, tokens, cursor)? + 1;
                    continue;
                }
                "{" => {
                    let close = matching_close(source, tokens, cursor)?;
                    if semicolon_only {
                        // A use tree or a value: part of the item, not its body.
                        cursor = close + 1;
                        continue;
                    }
                    signature_end.get_or_insert(cursor);
                    break (close + 1, false);
                }
                _ => {}
            }
        }
        cursor += 1;
    };
    Ok(Item {
        head,
        end: end.max(head + 1),
        signature_end: signature_end.unwrap_or(end.min(tokens.len())),
        keyword,
        name,
        public,
        cfg_test,
        ends_with_semicolon,
        summary: first_sentence(&doc),
    })
}

/// The `pub fn`s of an inherent `impl` block; none for a trait impl (`impl Trait for Type`),
/// whose methods are public through the trait.
fn inherent_methods(
    source: &str,
    tokens: &[Token],
    item: &Item,
) -> Result<Vec<PublicItem>, ScanError> {
    let header = &tokens[item.head..item.signature_end];
    if header.iter().any(|t| t.is_ident(source, "for")) || item.ends_with_semicolon {
        return Ok(Vec::new());
    }
    let owner = one_line(source, header);
    let mut methods = Vec::new();
    let mut at = item.signature_end + 1; // past the `{`
    let close = item.end - 1;
    while at < close {
        let inner = read_item(source, tokens, at)?;
        at = inner.end.min(close);
        if inner.public && !inner.cfg_test && inner.keyword.as_deref() != Some("macro_rules") {
            methods.push(PublicItem {
                owner: Some(owner.clone()),
                signature: inner.signature(source, tokens),
                summary: inner.summary,
            });
        }
    }
    Ok(methods)
}

/// Tokens as one line of text: comments dropped, each run of whitespace made one space, and
/// the spaces rustfmt's line breaks leave inside brackets removed (`f(\n  a,\n)` → `f(a)`).
pub fn one_line(source: &str, tokens: &[Token]) -> String {
    let mut line = String::new();
    let mut previous_end: Option<usize> = None;
    for token in tokens.iter().filter(|t| t.kind != Kind::Comment) {
        if let Some(end) = previous_end
            && end < token.start
        {
            line.push(' ');
        }
        line.push_str(token.text(source));
        previous_end = Some(token.end);
    }
    line.replace("( ", "(")
        .replace("{ ", "{")
        .replace(", }", "}")
        .replace(" }", "}")
        .replace(", )", ")")
        .replace(",)", ")")
        .replace(" )", ")")
        .replace("< ", "<")
        .replace(", >", ">")
        .replace(",>", ">")
}

/// The paths of `crates` that `source` names: in `use` trees (expanded: `use a::{b, c::d}`
/// gives `a::b` and `a::c::d`) and inline in code (`berth_images::digest::hex(...)`).
pub fn paths_used(source: &str, crates: &[&str]) -> Result<BTreeSet<String>, ScanError> {
    let tokens = tokenize(source)?;
    let tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| t.kind != Kind::Comment)
        .collect();
    let mut paths = BTreeSet::new();
    let mut at = 0;
    while at < tokens.len() {
        let token = &tokens[at];
        if token.is_ident(source, "use") {
            let mut cursor = at + 1;
            // `use ::crate_name::...` is the same path.
            while is_path_separator(source, &tokens, cursor) {
                cursor += 2;
            }
            let mut found = Vec::new();
            let end = use_tree(source, &tokens, cursor, String::new(), &mut found)?;
            paths.extend(
                found
                    .into_iter()
                    .filter(|path| crates.contains(&first_segment(path))),
            );
            at = end.max(at + 1);
            continue;
        }
        let after_separator = at >= 2 && is_path_separator(source, &tokens, at - 2);
        if token.kind == Kind::Ident && crates.contains(&token.text(source)) && !after_separator {
            let mut path = token.text(source).to_owned();
            let mut cursor = at + 1;
            while is_path_separator(source, &tokens, cursor)
                && tokens
                    .get(cursor + 2)
                    .is_some_and(|t| t.kind == Kind::Ident)
            {
                path.push_str("::");
                path.push_str(tokens[cursor + 2].text(source));
                cursor += 3;
            }
            paths.insert(path);
            at = cursor;
            continue;
        }
        at += 1;
    }
    Ok(paths)
}

/// The first `::`-separated segment of `path`.
fn first_segment(path: &str) -> &str {
    path.split("::").next().unwrap_or(path)
}

/// Whether tokens `at` and `at + 1` are `::`.
fn is_path_separator(source: &str, tokens: &[Token], at: usize) -> bool {
    tokens.get(at).is_some_and(|t| t.is_punct(source, ':'))
        && tokens.get(at + 1).is_some_and(|t| t.is_punct(source, ':'))
        && tokens[at].end == tokens[at + 1].start
}

/// Expands the use tree at `at` under `prefix` into `found`; returns the index after it.
fn use_tree(
    source: &str,
    tokens: &[Token],
    mut at: usize,
    mut prefix: String,
    found: &mut Vec<String>,
) -> Result<usize, ScanError> {
    loop {
        let Some(token) = tokens.get(at) else {
            return Ok(at);
        };
        let text = token.text(source);
        if token.is_punct(source, '{') {
            let close = matching_close(source, tokens, at)?;
            let mut inner = at + 1;
            while inner < close {
                inner = use_tree(source, tokens, inner, prefix.clone(), found)?;
                // Past the `,` between subtrees.
                if inner < close && tokens[inner].is_punct(source, ',') {
                    inner += 1;
                }
            }
            return Ok(close + 1);
        }
        if token.is_punct(source, '*') {
            found.push(format!("{prefix}*"));
            return Ok(at + 1);
        }
        if token.kind != Kind::Ident {
            return Ok(at);
        }
        if text != "self" {
            prefix.push_str(text);
        } else {
            prefix.truncate(prefix.len().saturating_sub(2));
        }
        at += 1;
        if is_path_separator(source, tokens, at) {
            prefix.push_str("::");
            at += 2;
            continue;
        }
        // `as alias`: the alias is local, the path is what it imports.
        if tokens.get(at).is_some_and(|t| t.is_ident(source, "as")) {
            at += 2;
        }
        found.push(prefix);
        return Ok(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"//! # Digests: content addresses
use std::fmt;

/// A sha256 digest.
#[derive(Clone)]
pub struct Digest([u8; 32]);

pub(crate) struct Hidden;

impl Digest {
    /// The digest of `data`.
    pub fn of(
        data: &[u8],
    ) -> Digest {
        let s = "}"; // {
        todo!()
    }

    fn private(&self) {}

    // EXERCISE: compare the two digests; a mismatch names both
    pub fn verify(&self, actual: &Digest) -> Result<(), String> {
        if self.0 == actual.0 { Ok(()) } else { Err(format!("{}", '}')) }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { Ok(()) }
}

/// The biggest layer.
pub const MAX: u64 = { 1 << 40 };

pub mod store;
mod private;

#[cfg(test)]
mod tests {
    pub fn helper() {}
}
"#;

    #[test]
    fn finds_the_marked_function_and_its_whole_body() {
        let marked = marked_functions(SOURCE).unwrap();
        assert_eq!(marked.len(), 1);
        assert_eq!(marked[0].name, "verify");
        assert_eq!(
            marked[0].hint,
            "compare the two digests; a mismatch names both"
        );
        let body = &SOURCE[marked[0].body.clone()];
        assert!(body.starts_with("{\n        if self.0"), "{body}");
        assert!(body.ends_with("'}')) }\n    }"), "{body}");
    }

    #[test]
    fn a_marker_not_above_a_function_is_an_error() {
        let source = "// EXERCISE: nothing here\npub struct S;\n";
        assert_eq!(
            marked_functions(source),
            Err(ScanError::MarkerNotOnFunction { line: 1 })
        );
        let source = "trait T {\n    // EXERCISE: no body\n    fn f(&self);\n}\n";
        assert_eq!(
            marked_functions(source),
            Err(ScanError::MarkerNotOnFunction { line: 2 })
        );
    }

    #[test]
    fn lists_the_public_surface_with_signatures() {
        let scan = scan_module(SOURCE).unwrap();
        assert_eq!(scan.title.as_deref(), Some("Digests: content addresses"));
        let signatures: Vec<(Option<&str>, &str)> = scan
            .items
            .iter()
            .map(|i| (i.owner.as_deref(), i.signature.as_str()))
            .collect();
        assert_eq!(
            signatures,
            [
                (None, "pub struct Digest"),
                (Some("impl Digest"), "pub fn of(data: &[u8]) -> Digest"),
                (
                    Some("impl Digest"),
                    "pub fn verify(&self, actual: &Digest) -> Result<(), String>"
                ),
                (None, "pub const MAX: u64"),
            ]
        );
        assert_eq!(scan.items[0].summary.as_deref(), Some("A sha256 digest."));
        assert_eq!(
            scan.modules,
            [("store".to_owned(), true), ("private".to_owned(), false)]
        );
    }

    #[test]
    fn expands_use_trees_and_inline_paths() {
        let source = "use berth_images::{digest::{self, Digest}, store::Store as S};\n\
                      use std::fs;\n\
                      fn f() { berth_namespaces::container::spawn(); let x: berth_images::Digest; }";
        let paths = paths_used(source, &["berth_images", "berth_namespaces"]).unwrap();
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "berth_images::Digest",
                "berth_images::digest",
                "berth_images::digest::Digest",
                "berth_images::store::Store",
                "berth_namespaces::container::spawn",
            ]
        );
    }
}
