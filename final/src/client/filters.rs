//! `--filter key=value`, as the docker CLI sends it.
//!
//! List, prune and event endpoints take one `filters` query parameter: a JSON object from a
//! filter's name to the set of its values, spelled by the Go CLI as a map to `true`
//! (`{"label":{"env=prod":true}}`). The client only packs what the user typed; which names
//! exist and what they mean is the daemon's to say (an unknown name is its 400).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::Failure;

/// The `filters` parameter for `--filter` arguments, plus `extra` pairs the verb adds itself
/// (`dangling=true` for `image prune`); `None` when there is nothing to filter on.
pub fn query(flags: &[String], extra: &[(&str, &str)]) -> Result<Option<String>, Failure> {
    let mut filters: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for flag in flags {
        let Some((name, value)) = flag.split_once('=') else {
            return Err(Failure::new(format!(
                "bad format of filter {flag:?} (expected name=value)"
            )));
        };
        filters
            .entry(name.trim().to_lowercase())
            .or_default()
            .insert(value.to_owned(), Value::Bool(true));
    }
    for (name, value) in extra {
        filters
            .entry((*name).to_owned())
            .or_default()
            .insert((*value).to_owned(), Value::Bool(true));
    }
    if filters.is_empty() {
        return Ok(None);
    }
    let object: Map<String, Value> = filters
        .into_iter()
        .map(|(name, values)| (name, Value::Object(values)))
        .collect();
    Ok(Some(Value::Object(object).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_sets_per_name() {
        let flags = ["label=a=b".to_owned(), "until=10m".to_owned()];
        assert_eq!(
            query(&flags, &[("dangling", "false")]).unwrap().unwrap(),
            r#"{"dangling":{"false":true},"label":{"a=b":true},"until":{"10m":true}}"#
        );
        assert_eq!(query(&[], &[]).unwrap(), None);
        let error = query(&["label".to_owned()], &[]).unwrap_err();
        assert!(error.message.contains("\"label\""), "{error}");
    }
}
