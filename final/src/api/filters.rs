//! The `filters` query parameter of the list endpoints.
//!
//! A JSON object from filter name to values, in two spellings: the Go CLI sends
//! `{"status":{"exited":true}}` (a set, as a map to `true`), docker-py sends
//! `{"status":["exited"]}`. Both mean the same. Values of one name are alternatives (OR),
//! except labels, which must all match; different names must all match (AND). An unknown name is a 400, as in moby: a typo must not
//! silently list everything.

use std::collections::BTreeMap;

use berth_daemon::http::{HttpError, Request};
use serde_json::Value;

/// Parsed filters: name → accepted values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// The `filters` parameter of `request`, checked against the names `allowed`.
    pub fn from_request(request: &Request, allowed: &[&str]) -> Result<Filters, HttpError> {
        match request.query().get("filters") {
            None | Some("") => Ok(Filters::default()),
            Some(text) => Filters::parse(text, allowed),
        }
    }

    // ANCHOR: parse
    /// Parses either spelling.
    pub fn parse(text: &str, allowed: &[&str]) -> Result<Filters, HttpError> {
        let bad = |why: String| HttpError::bad_request(format!("invalid filters {text:?}: {why}"));
        let value: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let Value::Object(object) = value else {
            return Err(bad("expected a JSON object".into()));
        };
        let mut filters = BTreeMap::new();
        for (name, values) in object {
            if !allowed.contains(&name.as_str()) {
                return Err(HttpError::bad_request(format!(
                    "invalid filter '{name}' (this endpoint knows: {})",
                    allowed.join(", ")
                )));
            }
            let list: Vec<String> = match values {
                // The CLI: {"value": true}.
                Value::Object(set) => set
                    .into_iter()
                    .filter(|(_, on)| on.as_bool() == Some(true))
                    .map(|(v, _)| v)
                    .collect(),
                // docker-py: ["value"].
                Value::Array(items) => items
                    .into_iter()
                    .map(|item| match item {
                        Value::String(s) => Ok(s),
                        other => Err(bad(format!(
                            "filter '{name}' has a non-string value {other}"
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
                Value::String(s) => vec![s],
                other => {
                    return Err(bad(format!(
                        "filter '{name}' must be a list or a set, not {other}"
                    )));
                }
            };
            filters.insert(name, list);
        }
        Ok(Filters(filters))
    }
    // ANCHOR_END: parse

    /// The values given for `name` (empty when it is not filtered on).
    pub fn values(&self, name: &str) -> &[String] {
        self.0.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// Whether `name` is not filtered on, or `test` accepts one of its values.
    pub fn accepts(&self, name: &str, test: impl Fn(&str) -> bool) -> bool {
        let values = self.values(name);
        values.is_empty() || values.iter().any(|v| test(v))
    }

    /// Docker's `label` filters against `labels`: unlike other filters, *every* one given
    /// must match (moby's `MatchKVList`), so that more labels narrow the list.
    pub fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        self.values("label")
            .iter()
            .all(|filter| label_matches(labels, filter))
    }
}

/// Docker's `label` filter: `key` (present) or `key=value`.
pub fn label_matches(labels: &BTreeMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((key, value)) => labels.get(key).is_some_and(|v| v == value),
        None => labels.contains_key(filter),
    }
}

/// Docker's `until` (and `since`) filter value as seconds since the epoch: unix seconds
/// (`1700000000.5`), an RFC 3339 time or date (`2024-01-01T00:00:00Z`, `2024-01-01`), or a Go
/// duration counted back from `now` (`24h`, `1h30m`, `90s`), as moby's `GetTimestamp` reads
/// them. `None` if it is none of these.
pub fn timestamp(value: &str, now: f64) -> Option<f64> {
    if let Some(ago) = go_duration(value) {
        return Some(now - ago);
    }
    if let Ok(secs) = value.parse::<f64>() {
        return Some(secs);
    }
    let text = if value.len() == 10 {
        format!("{value}T00:00:00Z")
    } else {
        value.to_owned()
    };
    berth_images::text::parse_rfc3339(&text).map(|s| s as f64)
}

/// A Go duration (`1h30m`, `1.5h`, `300ms`) in seconds.
fn go_duration(text: &str) -> Option<f64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest.is_empty() || !rest.ends_with(|c: char| c.is_ascii_alphabetic() || c == 'µ') {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    Some(if negative { -total } else { total })
}

/// A shell-style pattern (`*` any run of characters except `/`, `?` one character), as Go's
/// `path.Match` that Docker uses for the `reference` filter.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| go(rest, &t[i..])),
            Some(('?', rest)) => t.first().is_some_and(|c| *c != '/') && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_mean_the_same() {
        let cli = Filters::parse(r#"{"status":{"exited":true}}"#, &["status"]).unwrap();
        let py = Filters::parse(r#"{"status":["exited"]}"#, &["status"]).unwrap();
        assert_eq!(cli, py);
        assert_eq!(cli.values("status"), ["exited"]);
        assert!(cli.accepts("name", |_| false));
        assert_eq!(
            Filters::parse(r#"{"nope":["x"]}"#, &["status"])
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(Filters::parse("[", &["status"]).unwrap_err().status, 400);
    }

    #[test]
    fn timestamps_are_read_as_moby_reads_them() {
        let now = 1_800_000_000.0;
        assert_eq!(timestamp("24h", now), Some(now - 86_400.0));
        assert_eq!(timestamp("1h30m", now), Some(now - 5_400.0));
        assert_eq!(timestamp("1.5s", now), Some(now - 1.5));
        assert_eq!(timestamp("1700000000", now), Some(1_700_000_000.0));
        assert_eq!(
            timestamp("2024-01-01T00:00:00Z", now),
            Some(1_704_067_200.0)
        );
        assert_eq!(timestamp("2024-01-01", now), Some(1_704_067_200.0));
        assert_eq!(timestamp("yesterday", now), None);
        assert_eq!(timestamp("10x", now), None);
    }

    #[test]
    fn every_label_filter_must_match() {
        let labels = BTreeMap::from([
            ("tier".to_owned(), "front".to_owned()),
            ("team".to_owned(), "a".to_owned()),
        ]);
        let filters = |text| Filters::parse(text, &["label"]).expect("valid filters");
        assert!(filters(r#"{"label":["tier=front","team"]}"#).labels_match(&labels));
        assert!(!filters(r#"{"label":["tier=front","team=b"]}"#).labels_match(&labels));
        assert!(!filters(r#"{"label":["tier=front","owner"]}"#).labels_match(&labels));
        assert!(filters("{}").labels_match(&labels));
    }

    #[test]
    fn globs_match_like_go() {
        assert!(glob("busybox", "busybox"));
        assert!(glob("busy*", "busybox"));
        assert!(glob("*:latest", "busybox:latest"));
        assert!(!glob("*", "a/b"));
        assert!(glob("*/*", "a/b"));
        assert!(glob("b?sybox", "busybox"));
        assert!(!glob("busybox", "busybox:latest"));
    }
}
