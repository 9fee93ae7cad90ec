//! `X-Registry-Auth`: the credentials a client lends the daemon for one pull or push.
//!
//! The daemon has no login of its own: `docker login` stores credentials on the *client*,
//! which sends them along with each pull and push as `X-Registry-Auth`, the base64url encoding
//! of a JSON object (`{"username","password","serveraddress"}`, or `identitytoken`, or `auth` =
//! base64 of `user:pass`). `e30=` is `{}`: anonymous. docker-py sends no header at all.
//! Clients differ on padding and alphabet, so we decode tolerantly.
//!
//! Chapter 3's pull and push read credentials from a `config.json` in a directory
//! ([`RegistryConfig::credentials_dir`]). The daemon must never fall back on credentials the
//! user running it happens to have stored, so each request gets a fresh directory of its own
//! under the store's `tmp/`, holding the lent credentials or nothing.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use berth_daemon::http::HttpError;
use berth_images::store::Store;
use berth_registry::RegistryConfig;
use berth_registry::auth::credentials::{CredentialStore, Credentials};
use serde::Deserialize;

/// The JSON inside `X-Registry-Auth`. Docker's field names, lower-case.
#[derive(Debug, Default, Deserialize)]
struct AuthConfig {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// base64 of `user:password`, as in `config.json`.
    #[serde(default)]
    auth: String,
    #[serde(default)]
    identitytoken: String,
    #[serde(default)]
    registrytoken: String,
}

// ANCHOR: decode
/// The credentials in an `X-Registry-Auth` value; `None` for anonymous (`e30=`, empty).
pub fn decode(header: &str) -> Result<Option<Credentials>, HttpError> {
    let header = header.trim();
    if header.is_empty() {
        return Ok(None);
    }
    let bad = |why: &str| HttpError::bad_request(format!("invalid X-Registry-Auth header: {why}"));
    let bytes = [URL_SAFE, URL_SAFE_NO_PAD, STANDARD, STANDARD_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(header).ok())
        .ok_or_else(|| bad("not base64"))?;
    let config: AuthConfig =
        serde_json::from_slice(&bytes).map_err(|e| bad(&format!("not a JSON object: {e}")))?;
    if !config.identitytoken.is_empty() || !config.registrytoken.is_empty() {
        // Token exchange (OAuth refresh tokens) is not in chapter 3: say so rather than pull
        // anonymously and fail with a confusing "access denied".
        return Err(HttpError::bad_request(
            "X-Registry-Auth carries an identity or registry token, which berthd cannot use yet: \
             log in with a username and password",
        ));
    }
    if !config.username.is_empty() {
        return Ok(Some(Credentials {
            username: config.username,
            password: config.password,
        }));
    }
    if !config.auth.is_empty() {
        let pair = STANDARD
            .decode(config.auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| bad("its \"auth\" field is not base64 of user:password"))?;
        let (username, password) = pair
            .split_once(':')
            .ok_or_else(|| bad("its \"auth\" field has no ':'"))?;
        return Ok(Some(Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        }));
    }
    Ok(None)
}
// ANCHOR_END: decode

/// A registry configuration for one request: the daemon's, with a credentials directory that
/// holds only what the client lent (or nothing). Keep the directory alive while it is used.
pub struct Lent {
    /// The configuration to pull or push with.
    pub config: RegistryConfig,
    _dir: tempfile::TempDir,
}

/// Prepares [`Lent`] credentials for `domain` (the registry host of the image).
pub fn lend(
    store: &Store,
    base: &RegistryConfig,
    domain: &str,
    credentials: Option<&Credentials>,
) -> Result<Lent, HttpError> {
    let dir = store
        .temp_dir("auth")
        .map_err(|e| HttpError::internal(e.to_string()))?;
    if let Some(credentials) = credentials {
        let key = if domain == berth_registry::config::DOCKER_HUB {
            berth_registry::config::DOCKER_HUB_AUTH_KEY
        } else {
            domain
        };
        CredentialStore::new(dir.path())
            .set(key, credentials)
            .map_err(|e| HttpError::internal(e.to_string()))?;
    }
    let mut config = base.clone();
    config.credentials_dir = dir.path().to_owned();
    Ok(Lent { config, _dir: dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_form_clients_send() {
        assert!(decode("e30=").unwrap().is_none());
        assert!(decode("e30").unwrap().is_none());
        assert!(decode("").unwrap().is_none());
        let json = r#"{"username":"u","password":"p?>","serveraddress":"127.0.0.1:5000"}"#;
        for encoded in [
            URL_SAFE.encode(json),
            URL_SAFE_NO_PAD.encode(json),
            STANDARD.encode(json),
        ] {
            let c = decode(&encoded).unwrap().unwrap();
            assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p?>"));
        }
        let auth = URL_SAFE.encode(format!(r#"{{"auth":"{}"}}"#, STANDARD.encode("a:b:c")));
        let c = decode(&auth).unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("a", "b:c"));
        assert_eq!(decode("!!!").unwrap_err().status, 400);
        assert_eq!(decode(&URL_SAFE.encode("[1]")).unwrap_err().status, 400);
    }
}
