//! Parsing `WWW-Authenticate`: `Bearer realm="https://auth.docker.io/token",service="..."`.

use std::collections::BTreeMap;

// ANCHOR: challenge
/// What a registry asked for in its 401.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// Send user and password with every request.
    Basic { realm: String },
    /// Get a token from `realm` for `service` and `scopes`.
    Bearer {
        realm: String,
        service: String,
        /// The scopes the refused request needed; several are separated by spaces.
        scopes: Vec<String>,
    },
}
// ANCHOR_END: challenge

impl Challenge {
    /// Parses a `WWW-Authenticate` header value; `None` for a scheme we do not speak.
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        let params = parse_params(rest);
        let get = |key: &str| params.get(key).cloned().unwrap_or_default();
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic {
                realm: get("realm"),
            }),
            "bearer" => Some(Challenge::Bearer {
                realm: params.get("realm")?.clone(),
                service: get("service"),
                // skopeo 1.9 trips on several space-separated scopes; we split them.
                scopes: get("scope")
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            }),
            _ => None,
        }
    }
}

/// `key="value",key2=value2`, with quoted values that may hold commas and escaped quotes.
fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next() != Some('=') {
            return params;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ',')));
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hubs_challenge() {
        let header = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#;
        assert_eq!(
            Challenge::parse(header),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: "registry.docker.io".into(),
                scopes: vec!["repository:library/busybox:pull".into()],
            })
        );
    }

    #[test]
    fn splits_several_scopes_and_reads_basic() {
        let header = r#"Bearer realm="http://127.0.0.1:1/token",scope="repository:a:pull,push repository:b:pull""#;
        let Some(Challenge::Bearer {
            scopes, service, ..
        }) = Challenge::parse(header)
        else {
            panic!("not bearer");
        };
        assert_eq!(scopes, ["repository:a:pull,push", "repository:b:pull"]);
        assert_eq!(service, "");
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic {
                realm: "Registry Realm".into()
            })
        );
        assert_eq!(Challenge::parse("Negotiate abc"), None);
    }
}
