//! Bearer tokens: fetched from the token server a challenge names, cached per scope.
//!
//! `GET <realm>?service=<service>&scope=<scope>[&scope=...]`, with `Authorization: Basic` and
//! `account=<user>` when we have credentials, answers `{"token": "...", "expires_in": 300}`.
//! A token is good for the scopes it was asked for, until it expires; asking for one per
//! request would double every request.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::Credentials;
use crate::error::registry_message;

/// When the token server gives no lifetime (or a silly one), assume this, as Docker does.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

/// Tokens by (realm, service, scopes).
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

fn key(realm: &str, service: &str, scopes: &[String]) -> String {
    let mut scopes = scopes.to_vec();
    scopes.sort();
    format!("{realm}|{service}|{}", scopes.join(" "))
}

// ANCHOR: token_cache
impl TokenCache {
    /// A cached token still valid for at least ten seconds.
    pub fn get(&self, realm: &str, service: &str, scopes: &[String]) -> Option<String> {
        let tokens = self.tokens.lock().expect("not poisoned");
        let (token, expires) = tokens.get(&key(realm, service, scopes))?;
        (Instant::now() + Duration::from_secs(10) < *expires).then(|| token.clone())
    }

    /// Remembers a token.
    pub fn insert(
        &self,
        realm: &str,
        service: &str,
        scopes: &[String],
        token: &str,
        lifetime: Duration,
    ) {
        let mut tokens = self.tokens.lock().expect("not poisoned");
        tokens.insert(
            key(realm, service, scopes),
            (token.to_owned(), Instant::now() + lifetime),
        );
    }

    /// Forgets every token (after a 401 that says they are no good).
    pub fn clear(&self) {
        self.tokens.lock().expect("not poisoned").clear();
    }
}
// ANCHOR_END: token_cache

/// Why no token was had.
#[derive(Debug)]
pub enum TokenError {
    /// The token server said no (wrong password, no access).
    Refused(String),
    /// The token server could not be asked, or answered nonsense.
    Failed(String),
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

// ANCHOR: fetch
/// Asks the token server at `realm` for a token for `scopes`.
// EXERCISE: GET realm?service=..&scope=.. (one per scope, percent-encoded, account=USER when logged in) with basic auth if there are credentials; 401/403 is Refused; the token is `token` or `access_token`, its lifetime expires_in but at least DEFAULT_LIFETIME
pub fn fetch(
    agent: &ureq::Agent,
    realm: &str,
    service: &str,
    scopes: &[String],
    credentials: Option<&Credentials>,
    trace: bool,
) -> Result<(String, Duration), TokenError> {
    let mut url = String::from(realm);
    let mut separator = if realm.contains('?') { '&' } else { '?' };
    let mut param = |name: &str, value: &str| {
        url.push(separator);
        url.push_str(name);
        url.push('=');
        url.push_str(&encode(value));
        separator = '&';
    };
    if !service.is_empty() {
        param("service", service);
    }
    for scope in scopes {
        param("scope", scope);
    }
    if let Some(credentials) = credentials {
        param("account", &credentials.username);
    }
    if trace {
        let who = credentials.map_or("anonymous", |c| c.username.as_str());
        eprintln!("--> GET {url} [token for {who}]");
    }
    let mut request = agent.get(&url);
    if let Some(credentials) = credentials {
        request = request.header("Authorization", credentials.basic_header());
    }
    let response = request
        .call()
        .map_err(|e| TokenError::Failed(format!("asking {realm} for a token: {e}")))?;
    let status = response.status().as_u16();
    if trace {
        eprintln!("<-- {status} GET {realm}");
    }
    let mut body = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(1 << 20)
        .read_to_end(&mut body)
        .map_err(|e| TokenError::Failed(format!("reading the token from {realm}: {e}")))?;
    if status == 401 || status == 403 {
        let (_, message) = registry_message(&body);
        return Err(TokenError::Refused(message));
    }
    if !(200..300).contains(&status) {
        let (_, message) = registry_message(&body);
        return Err(TokenError::Failed(format!(
            "the token server {realm} answered {status}: {message}"
        )));
    }
    let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
        TokenError::Failed(format!("the token from {realm} is not valid JSON: {e}"))
    })?;
    let token = parsed
        .token
        .or(parsed.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::Failed(format!("{realm} answered without a token")))?;
    let lifetime = parsed
        .expires_in
        .map(Duration::from_secs)
        .filter(|d| *d >= DEFAULT_LIFETIME)
        .unwrap_or(DEFAULT_LIFETIME);
    Ok((token, lifetime))
}
// ANCHOR_END: fetch

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_by_scope_set() {
        let cache = TokenCache::default();
        let scopes = [
            "repository:a:pull".to_owned(),
            "repository:b:pull".to_owned(),
        ];
        cache.insert("r", "s", &scopes, "t", Duration::from_secs(300));
        let reversed = [scopes[1].clone(), scopes[0].clone()];
        assert_eq!(cache.get("r", "s", &reversed), Some("t".into()));
        assert_eq!(cache.get("r", "s", &scopes[..1]), None);
        cache.insert("r", "s", &scopes[..1], "old", Duration::from_secs(5));
        assert_eq!(cache.get("r", "s", &scopes[..1]), None, "about to expire");
        assert_eq!(
            encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
