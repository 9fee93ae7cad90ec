//! # A small Rust tokenizer: enough to find where an item starts and where its body ends
//!
//! Both verbs of the xtask read chapter sources: `exercise` cuts function bodies out, and
//! `changes` lists public items. Counting `{` and `}` in the raw text would be wrong as soon
//! as a brace sits in a string (`format!("{k}={v}")`), a char (`'{'`) or a comment, so we
//! first split the text into tokens, the way rustc's lexer does, and count braces among the
//! tokens only. Each token keeps its byte range, so an edit can splice the original text and
//! leave everything else exactly as the author wrote it.
//!
//! What the lexer knows: line comments (`//`, `///`, `//!`), nested block comments, string
//! literals with escapes, raw strings (`r#"..."#`) and their byte and C variants, char and byte
//! literals versus lifetimes (`'a'` against `'a`), raw identifiers (`r#type`) and numbers.
//! Everything else is a one-character punctuation token: the scanners above this module only
//! care about `{ } ( ) [ ] < > ; : , = # !` and keywords.

use thiserror::Error;

/// What kind of token a [`Token`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An identifier or keyword (`fn`, `pub`, `Digest`, `r#type`).
    Ident,
    /// A lifetime or label (`'a`, `'static`).
    Lifetime,
    /// A string, char, byte or number literal.
    Literal,
    /// A comment: `//` to the end of the line, or a (possibly nested) `/* */`.
    Comment,
    /// Any other single character (`{`, `;`, `:`, ...).
    Punct,
}

/// One token: its kind and where it is in the source (byte offsets, end exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// What the token is.
    pub kind: Kind,
    /// The byte offset of its first character.
    pub start: usize,
    /// The byte offset just past its last character.
    pub end: usize,
}

impl Token {
    /// The token's text in `source` (the text it was read from).
    pub fn text<'s>(&self, source: &'s str) -> &'s str {
        &source[self.start..self.end]
    }

    /// Whether the token is the punctuation character `c`.
    pub fn is_punct(&self, source: &str, c: char) -> bool {
        self.kind == Kind::Punct && source[self.start..].starts_with(c)
    }

    /// Whether the token is the identifier or keyword `word`.
    pub fn is_ident(&self, source: &str, word: &str) -> bool {
        self.kind == Kind::Ident && self.text(source) == word
    }
}

/// Why a source text could not be split into tokens.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LexError {
    /// A string, char or comment runs to the end of the file.
    #[error("unterminated {what} starting at line {line}")]
    Unterminated {
        /// "string", "block comment", ...
        what: &'static str,
        /// The 1-based line where it starts.
        line: usize,
    },
}

/// Splits `source` into tokens; whitespace is dropped, comments are kept.
pub fn tokenize(source: &str) -> Result<Vec<Token>, LexError> {
    let mut lexer = Lexer {
        source,
        bytes: source.as_bytes(),
        pos: 0,
    };
    let mut tokens = Vec::new();
    while let Some(token) = lexer.next_token()? {
        tokens.push(token);
    }
    Ok(tokens)
}

/// The 1-based line number of byte offset `offset` in `source`.
pub fn line_of(source: &str, offset: usize) -> usize {
    source[..offset].bytes().filter(|&b| b == b'\n').count() + 1
}

/// The cursor over the source text.
struct Lexer<'s> {
    source: &'s str,
    bytes: &'s [u8],
    pos: usize,
}

impl Lexer<'_> {
    /// The byte `ahead` positions past the cursor, if any.
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn unterminated(&self, what: &'static str, start: usize) -> LexError {
        LexError::Unterminated {
            what,
            line: line_of(self.source, start),
        }
    }

    fn next_token(&mut self) -> Result<Option<Token>, LexError> {
        while self.peek(0).is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(first) = self.peek(0) else {
            return Ok(None);
        };
        let kind = match first {
            b'/' if self.peek(1) == Some(b'/') => {
                while self.peek(0).is_some_and(|b| b != b'\n') {
                    self.pos += 1;
                }
                Kind::Comment
            }
            b'/' if self.peek(1) == Some(b'*') => {
                self.block_comment(start)?;
                Kind::Comment
            }
            b'"' => {
                self.pos += 1;
                self.quoted(b'"', start, "string")?;
                Kind::Literal
            }
            b'\'' => self.char_or_lifetime(start)?,
            b'0'..=b'9' => {
                self.number();
                Kind::Literal
            }
            b if b == b'_' || b.is_ascii_alphabetic() || b >= 0x80 => {
                self.ident_or_prefixed_literal(start)?
            }
            _ => {
                // One character, which may be several bytes long.
                let width = self.source[start..]
                    .chars()
                    .next()
                    .map_or(1, char::len_utf8);
                self.pos += width;
                Kind::Punct
            }
        };
        Ok(Some(Token {
            kind,
            start,
            end: self.pos,
        }))
    }

    /// `/* ... */`, which nests in Rust: `/* a /* b */ c */` is one comment.
    fn block_comment(&mut self, start: usize) -> Result<(), LexError> {
        let mut depth = 0usize;
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(b'/'), Some(b'*')) => {
                    depth += 1;
                    self.pos += 2;
                }
                (Some(b'*'), Some(b'/')) => {
                    depth -= 1;
                    self.pos += 2;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                (Some(_), _) => self.pos += 1,
                (None, _) => return Err(self.unterminated("block comment", start)),
            }
        }
    }

    /// The rest of a quoted literal after its opening quote: backslash escapes anything.
    fn quoted(&mut self, quote: u8, start: usize, what: &'static str) -> Result<(), LexError> {
        loop {
            match self.peek(0) {
                Some(b'\\') => self.pos += 2,
                Some(b) if b == quote => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(_) => self.pos += 1,
                None => return Err(self.unterminated(what, start)),
            }
        }
    }

    /// After an `r` (or `br`, `cr`): `#`* `"` ... `"` `#`*, with no escapes inside.
    fn raw_string(&mut self, start: usize) -> Result<(), LexError> {
        let mut hashes = 0;
        while self.peek(0) == Some(b'#') {
            hashes += 1;
            self.pos += 1;
        }
        self.pos += 1; // the opening quote, checked by the caller
        let closing: Vec<u8> = std::iter::once(b'"')
            .chain(std::iter::repeat_n(b'#', hashes))
            .collect();
        match self.bytes[self.pos..]
            .windows(closing.len())
            .position(|window| window == closing.as_slice())
        {
            Some(at) => {
                self.pos += at + closing.len();
                Ok(())
            }
            None => Err(self.unterminated("raw string", start)),
        }
    }

    /// `'x'`, `'\n'` and `'\u{1F600}'` are chars; `'a` and `'static` are lifetimes.
    fn char_or_lifetime(&mut self, start: usize) -> Result<Kind, LexError> {
        self.pos += 1;
        if self.peek(0) == Some(b'\\') {
            self.quoted(b'\'', start, "char literal")?;
            return Ok(Kind::Literal);
        }
        // One character (of any width) followed by a quote is a char literal.
        let width = self.source[self.pos..]
            .chars()
            .next()
            .map_or(1, char::len_utf8);
        if self.bytes.get(self.pos + width) == Some(&b'\'') {
            self.pos += width + 1;
            return Ok(Kind::Literal);
        }
        while self.peek(0).is_some_and(is_ident_byte) {
            self.pos += 1;
        }
        Ok(Kind::Lifetime)
    }

    /// Digits, suffixes and a fractional part; `1..2` and `1.max(2)` stop before the dot.
    fn number(&mut self) {
        loop {
            match self.peek(0) {
                Some(b) if is_ident_byte(b) => self.pos += 1,
                Some(b'.') if self.peek(1).is_some_and(|b| b.is_ascii_digit()) => self.pos += 1,
                _ => return,
            }
        }
    }

    /// An identifier, unless it is the prefix of a literal: `b"..."`, `b'x'`, `c"..."`,
    /// `r"..."`, `r#"..."#`, `br"..."`, `cr#"..."#`; or a raw identifier `r#type`.
    fn ident_or_prefixed_literal(&mut self, start: usize) -> Result<Kind, LexError> {
        while self.peek(0).is_some_and(is_ident_byte) {
            self.pos += 1;
        }
        let word = &self.source[start..self.pos];
        let next = self.peek(0);
        match (word, next) {
            ("b" | "c", Some(b'"')) => {
                self.pos += 1;
                self.quoted(b'"', start, "string")?;
                Ok(Kind::Literal)
            }
            ("b", Some(b'\'')) => {
                self.pos += 1;
                self.quoted(b'\'', start, "byte literal")?;
                Ok(Kind::Literal)
            }
            ("r" | "br" | "cr", Some(b'"')) => {
                self.raw_string(start)?;
                Ok(Kind::Literal)
            }
            ("r" | "br" | "cr", Some(b'#')) => {
                let mut ahead = 0;
                while self.peek(ahead) == Some(b'#') {
                    ahead += 1;
                }
                if self.peek(ahead) == Some(b'"') {
                    self.raw_string(start)?;
                    Ok(Kind::Literal)
                } else {
                    // `r#type`: a raw identifier.
                    self.pos += 1;
                    while self.peek(0).is_some_and(is_ident_byte) {
                        self.pos += 1;
                    }
                    Ok(Kind::Ident)
                }
            }
            _ => Ok(Kind::Ident),
        }
    }
}

/// Whether `b` can continue an identifier (non-ASCII bytes count: Rust allows Unicode names).
fn is_ident_byte(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphanumeric() || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_and_texts(source: &str) -> Vec<(Kind, &str)> {
        tokenize(source)
            .unwrap()
            .into_iter()
            .map(|t| (t.kind, t.text(source)))
            .collect()
    }

    #[test]
    fn braces_inside_literals_and_comments_are_not_punctuation() {
        let source = r###"fn f() { let s = "}{"; let c = '{'; /* } /* { */ } */ let r = r#"}"#; // }
        }"###;
        let braces: Vec<&str> = kinds_and_texts(source)
            .into_iter()
            .filter(|(kind, _)| *kind == Kind::Punct)
            .map(|(_, text)| text)
            .filter(|text| *text == "{" || *text == "}")
            .collect();
        assert_eq!(braces, ["{", "}"]);
    }

    #[test]
    fn lifetimes_are_not_chars() {
        let tokens = kinds_and_texts("fn f<'a>(x: &'a str) -> char { 'x' }");
        assert!(tokens.contains(&(Kind::Lifetime, "'a")));
        assert!(tokens.contains(&(Kind::Literal, "'x'")));
        let tokens = kinds_and_texts(r###"b'\'' '\u{7b}' 'é' br#"x"# r#type c"nul" 1.5 1..2"###);
        assert_eq!(
            tokens,
            [
                (Kind::Literal, r"b'\''"),
                (Kind::Literal, r"'\u{7b}'"),
                (Kind::Literal, "'é'"),
                (Kind::Literal, r##"br#"x"#"##),
                (Kind::Ident, "r#type"),
                (Kind::Literal, r#"c"nul""#),
                (Kind::Literal, "1.5"),
                (Kind::Literal, "1"),
                (Kind::Punct, "."),
                (Kind::Punct, "."),
                (Kind::Literal, "2"),
            ]
        );
    }

    #[test]
    fn unterminated_literals_name_their_line() {
        assert_eq!(
            tokenize("fn f() {\n  let s = \"oops;\n}\n"),
            Err(LexError::Unterminated {
                what: "string",
                line: 2
            })
        );
        assert!(tokenize("/* /* */").is_err());
    }
}
