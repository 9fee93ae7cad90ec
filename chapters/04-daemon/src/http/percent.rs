//! Percent-encoding: how a URL carries bytes that would otherwise mean something.
//!
//! In a request target, `/` separates path segments, `?` starts the query, `&` and `=` split it
//! into pairs. A value that contains one of them, or a space, or a byte outside ASCII, travels as
//! `%` and two hex digits (`%2F` is `/`). The query string has one more rule, inherited from HTML
//! forms: `+` means a space there (Go's client encodes spaces that way), but not in the path.
//!
//! Decoding is where path tricks hide: `%2e%2e` is `..` and `%2F` a slash that the router never
//! saw as a separator. [`target`](super::target) therefore checks segments *after* decoding.

/// Why a percent-encoded string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// `%` not followed by two hex digits.
    #[error("invalid percent-escape at byte {at} of {input:?}")]
    BadEscape { input: String, at: usize },
    /// The decoded bytes are not UTF-8.
    #[error("{input:?} does not decode to UTF-8")]
    NotUtf8 { input: String },
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, for query strings).
pub fn decode(input: &str, plus_is_space: bool) -> Result<String, DecodeError> {
    if !input.contains(['%', '+']) {
        return Ok(input.to_owned());
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
                match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                    (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                    _ => {
                        return Err(DecodeError::BadEscape {
                            input: input.to_owned(),
                            at: i,
                        });
                    }
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8 {
        input: input.to_owned(),
    })
}

/// Encodes everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`), for a query
/// name or value, or a path segment that must stay one segment.
pub fn encode(input: &str) -> String {
    encode_keeping(input, b"")
}

/// Like [`encode`], but leaves the bytes in `keep` alone: `encode_keeping(name, b"/:")` keeps an
/// image name like `localhost:5000/a/b` readable in a path, as Docker's clients do.
pub fn encode_keeping(input: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(input.len());
    for &b in input.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        assert_eq!(decode("a%2Fb%20c", false).unwrap(), "a/b c");
        assert_eq!(decode("a+b", false).unwrap(), "a+b");
        assert_eq!(decode("a+b", true).unwrap(), "a b");
        assert_eq!(decode("%7B%22a%22%3A1%7D", true).unwrap(), r#"{"a":1}"#);
        assert_eq!(decode("caf%C3%A9", false).unwrap(), "café");
    }

    #[test]
    fn rejects_bad_escapes() {
        for bad in ["%", "%4", "%zz", "a%g0"] {
            assert!(
                matches!(decode(bad, false), Err(DecodeError::BadEscape { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            decode("%ff", false),
            Err(DecodeError::NotUtf8 { .. })
        ));
    }

    #[test]
    fn encode_round_trips() {
        let s = r#"{"status":{"exited":true}} & é/"#;
        assert_eq!(decode(&encode(s), true).unwrap(), s);
        assert_eq!(
            encode_keeping("localhost:5000/a b", b"/:"),
            "localhost:5000/a%20b"
        );
    }
}
