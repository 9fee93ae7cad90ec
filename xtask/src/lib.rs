//! # Berth's workshop tooling (`cargo xtask`)
//!
//! Two verbs, both reading the chapters' sources rather than trusting a hand-kept list:
//!
//! | verb | module | what it does |
//! |------|--------|--------------|
//! | `exercise N [--out DIR]` | [`exercise`] | copies the workspace with chapter N's marked functions replaced by `todo!` |
//! | `changes [--check]` | [`changes`] | writes (or checks) the book's "what changed since the last chapter" pages |
//!
//! Both stand on [`lex`] (a small tokenizer that knows strings, chars and comments) and
//! [`items`] (items, bodies and public signatures found among those tokens): a brace in a
//! string must never end a function body early.

pub mod changes;
pub mod exercise;
pub mod items;
pub mod lex;
pub mod workspace;
