//! The query string: `?all=1&filters=%7B...%7D`, the options of a Docker API call.
//!
//! Docker passes most options as query parameters, decoded as an HTML form would be (`+` is a
//! space, `%XX` a byte). Booleans arrive in several spellings, because each client prints them
//! its own way: the Go CLI sends `1`, docker-py sends Python's `True`/`False`, curl users type
//! `true`. moby's rule (`httputils.BoolValue`) is that `""`, `0`, `no`, `false` and `none` (any
//! case) are false; we accept those and `1`, `yes`, `true` as true, and refuse anything else with
//! a 400 rather than guess, so a typo such as `force=ture` fails loudly instead of being read as
//! "true" the way moby would.

use std::str::FromStr;

use super::percent::{self, DecodeError};

/// Why a query parameter could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A name or value with a bad percent-escape.
    #[error("malformed query string: {0}")]
    Decode(#[from] DecodeError),
    /// A boolean parameter with a value that is neither true nor false.
    #[error("invalid boolean value {value:?} for query parameter {name:?} (use 1/0 or true/false)")]
    InvalidBool { name: String, value: String },
    /// A parameter that does not parse as the type the handler wants.
    #[error("invalid value {value:?} for query parameter {name:?}: expected {expected}")]
    InvalidValue {
        name: String,
        value: String,
        expected: &'static str,
    },
}

/// The decoded `name=value` pairs of a query string, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses the part of a request target after `?`. A name without `=` gets the value `""`.
    pub fn parse(raw: &str) -> Result<Query, QueryError> {
        let mut pairs = Vec::new();
        for piece in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            pairs.push((percent::decode(name, true)?, percent::decode(value, true)?));
        }
        Ok(Query { pairs })
    }

    /// The first value of `name` (Go's `FormValue` also takes the first).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order (`?filter=a&filter=b`).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` appears at all, with or without a value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// `name` as a Docker boolean; `None` when absent.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, QueryError> {
        self.get(name)
            .map(|value| {
                parse_bool(value).ok_or_else(|| QueryError::InvalidBool {
                    name: name.to_owned(),
                    value: value.to_owned(),
                })
            })
            .transpose()
    }

    /// `name` as a Docker boolean, `default` when absent (moby's `BoolValueOrDefault`).
    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, QueryError> {
        Ok(self.bool(name)?.unwrap_or(default))
    }

    /// `name` parsed as a `T` (`?t=10`, `?limit=-1`); `None` when absent.
    pub fn get_as<T: FromStr>(&self, name: &str) -> Result<Option<T>, QueryError> {
        self.get(name)
            .map(|value| {
                value.parse().map_err(|_| QueryError::InvalidValue {
                    name: name.to_owned(),
                    value: value.to_owned(),
                    expected: std::any::type_name::<T>(),
                })
            })
            .transpose()
    }

    /// All pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// A Docker API boolean: `1 true yes` and `0 false no none ""` in any case, else `None`.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Some(true),
        "" | "0" | "false" | "no" | "none" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_booleans() {
        let q = Query::parse("a=1&b=0&c=True&d=False&e=true&f&g=maybe").unwrap();
        assert_eq!(q.bool("a"), Ok(Some(true)));
        assert_eq!(q.bool("b"), Ok(Some(false)));
        assert_eq!(q.bool("c"), Ok(Some(true)));
        assert_eq!(q.bool("d"), Ok(Some(false)));
        assert_eq!(q.bool("e"), Ok(Some(true)));
        // Present but empty is false, as in moby.
        assert_eq!(q.bool("f"), Ok(Some(false)));
        assert!(matches!(q.bool("g"), Err(QueryError::InvalidBool { .. })));
        assert_eq!(q.bool("absent"), Ok(None));
        assert_eq!(q.bool_or("absent", true), Ok(true));
    }

    #[test]
    fn decodes_names_and_values() {
        let q = Query::parse("filters=%7B%22status%22%3A%5B%22exited%22%5D%7D&x=a+b&x=c").unwrap();
        assert_eq!(q.get("filters"), Some(r#"{"status":["exited"]}"#));
        assert_eq!(q.get_all("x").collect::<Vec<_>>(), ["a b", "c"]);
        assert!(Query::parse("a=%zz").is_err());
    }

    #[test]
    fn typed_values() {
        let q = Query::parse("t=10&limit=-1&h=x").unwrap();
        assert_eq!(q.get_as::<u32>("t"), Ok(Some(10)));
        assert_eq!(q.get_as::<i64>("limit"), Ok(Some(-1)));
        assert!(q.get_as::<u16>("h").is_err());
    }
}
