//! Bearer tokens: fetched from the token server a challenge names, cached per scope.
//!
//! `GET <realm>?service=<service>&scope=<scope>[&scope=...]`, with `Authorization: Basic` and
//! `account=<user>` when we have a password, answers `{"token": "...", "expires_in": 300}`.
//! With an identity token (an OAuth2 refresh token) we `POST` the form
//! `grant_type=refresh_token&refresh_token=...` to the same realm instead, and the answer
//! carries an `access_token`.
//! A token is good for the scopes it was asked for, until it expires; asking for one per
//! request would double every request.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{Credentials, Secret};
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
/// Asks the token server at `realm` for a token for `scopes`: with a password (or anonymously)
/// by `GET`, with an identity token by `POST`ing it as an OAuth2 refresh token.
// EXERCISE: GET realm?service=..&scope=.. (one per scope, percent-encoded, account=USER when logged in) with basic auth if there is a password; with an identity token POST the form service, scope (space-separated), grant_type=refresh_token, refresh_token, client_id instead; 401/403 is Refused; the token is `token` or `access_token`, its lifetime expires_in but at least DEFAULT_LIFETIME
pub fn fetch(
    agent: &ureq::Agent,
    realm: &str,
    service: &str,
    scopes: &[String],
    credentials: Option<&Credentials>,
    trace: bool,
) -> Result<(String, Duration), TokenError> {
    let mut query = Query::default();
    if !service.is_empty() {
        query.add("service", service);
    }
    let who = credentials.map_or("anonymous", |c| c.username.as_str());
    let result = match credentials.map(|c| &c.secret) {
        Some(Secret::IdentityToken(refresh_token)) => {
            // RFC 6749 section 6, as Docker sends it: the scopes in one space-separated value.
            if !scopes.is_empty() {
                query.add("scope", &scopes.join(" "));
            }
            query.add("grant_type", "refresh_token");
            query.add("refresh_token", refresh_token);
            query.add("client_id", "berth");
            if trace {
                eprintln!("--> POST {realm} [token for {who}, by refresh token]");
            }
            agent
                .post(realm)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send(query.text.as_bytes())
        }
        secret => {
            for scope in scopes {
                query.add("scope", scope);
            }
            let credentials = credentials.filter(|_| matches!(secret, Some(Secret::Password(_))));
            if let Some(credentials) = credentials {
                query.add("account", &credentials.username);
            }
            let separator = if realm.contains('?') { '&' } else { '?' };
            let url = format!("{realm}{separator}{}", query.text);
            if trace {
                eprintln!("--> GET {url} [token for {who}]");
            }
            let mut request = agent.get(&url);
            if let Some(basic) = credentials.and_then(Credentials::basic_header) {
                request = request.header("Authorization", basic);
            }
            request.call()
        }
    };
    let response =
        result.map_err(|e| TokenError::Failed(format!("asking {realm} for a token: {e}")))?;
    let status = response.status().as_u16();
    if trace {
        eprintln!("<-- {status} {realm}");
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

/// A query string (or a form body: the same encoding), built one parameter at a time.
#[derive(Default)]
struct Query {
    text: String,
}

impl Query {
    fn add(&mut self, name: &str, value: &str) {
        if !self.text.is_empty() {
            self.text.push('&');
        }
        self.text.push_str(name);
        self.text.push('=');
        self.text.push_str(&encode(value));
    }
}

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
