//! `X-Registry-Auth`: the credentials a client lends the daemon for one pull or push.
//!
//! The daemon has no login of its own: `docker login` stores credentials on the *client*,
//! which sends them along with each pull and push as `X-Registry-Auth`, the base64url encoding
//! of Docker's `AuthConfig` JSON (`{"username","password","serveraddress"}`, or an
//! `identitytoken`, or a `registrytoken`, or `auth` = base64 of `user:pass`). `e30=` is `{}`:
//! anonymous. docker-py sends no header at all. Clients differ on padding and alphabet, so we
//! decode tolerantly. What the fields mean is chapter 3's ([`AuthConfig::credentials`]).
//!
//! The credentials go to chapter 3's pull or push in memory, for the image's registry only
//! ([`CredentialSource::Lent`]); the daemon never falls back on credentials that the user
//! running it happens to have stored.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use berth_daemon::http::HttpError;
use berth_registry::RegistryConfig;
use berth_registry::auth::{AuthConfig, CredentialSource, Credentials};

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
    config.credentials().map_err(|why| bad(&why))
}
// ANCHOR_END: decode

/// The `X-Registry-Auth` value for `credentials`, as the docker CLI sends it: base64url of
/// the fields one by one, with the server they are for.
pub fn encode(credentials: &Credentials, server: &str) -> String {
    let json = serde_json::to_vec(&AuthConfig::lent(credentials, server))
        .expect("an AuthConfig always serialises");
    URL_SAFE.encode(json)
}

/// The daemon's registry settings for one pull or push of an image of `registry`, with the
/// credentials its client lent (or none).
pub fn lend(
    base: &RegistryConfig,
    registry: &str,
    credentials: Option<Credentials>,
) -> RegistryConfig {
    RegistryConfig {
        credentials: match credentials {
            Some(credentials) => CredentialSource::Lent {
                registry: registry.to_owned(),
                credentials,
            },
            None => CredentialSource::Anonymous,
        },
        ..base.clone()
    }
}

#[cfg(test)]
mod tests {
    use berth_registry::auth::Secret;

    use super::*;

    fn user_and_password(header: &str) -> (String, String) {
        match decode(header).unwrap() {
            Some(Credentials {
                username,
                secret: Secret::Password(password),
            }) => (username, password),
            other => panic!("{header}: {other:?}"),
        }
    }

    #[test]
    fn decodes_every_form_clients_send() {
        assert!(decode("e30=").unwrap().is_none());
        assert!(decode("e30").unwrap().is_none());
        assert!(decode("").unwrap().is_none());
        let json = r#"{"username":"u","password":"p?>","serveraddress":"127.0.0.1:5000"}"#;
        // `p?>` encodes with `/` in standard base64 and `_` in base64url: both alphabets,
        // padded or not.
        for encoded in [
            URL_SAFE.encode(json),
            URL_SAFE_NO_PAD.encode(json),
            STANDARD.encode(json),
            STANDARD_NO_PAD.encode(json),
        ] {
            assert_eq!(user_and_password(&encoded), ("u".into(), "p?>".into()));
        }
        let auth = URL_SAFE.encode(format!(r#"{{"auth":"{}"}}"#, STANDARD.encode("a:b:c")));
        assert_eq!(user_and_password(&auth), ("a".into(), "b:c".into()));
        assert_eq!(decode("!!!").unwrap_err().status, 400);
        assert_eq!(decode(&URL_SAFE.encode("[1]")).unwrap_err().status, 400);
        let no_colon = URL_SAFE.encode(format!(r#"{{"auth":"{}"}}"#, STANDARD.encode("ab")));
        assert_eq!(decode(&no_colon).unwrap_err().status, 400);
    }

    #[test]
    fn decodes_identity_and_registry_tokens() {
        let identity = URL_SAFE
            .encode(r#"{"username":"alice","identitytoken":"refresh-1","serveraddress":"h:1"}"#);
        assert_eq!(
            decode(&identity).unwrap(),
            Some(Credentials {
                username: "alice".into(),
                secret: Secret::IdentityToken("refresh-1".into()),
            })
        );
        let registry = URL_SAFE_NO_PAD.encode(r#"{"registrytoken":"bearer-1"}"#);
        assert_eq!(
            decode(&registry).unwrap(),
            Some(Credentials {
                username: String::new(),
                secret: Secret::RegistryToken("bearer-1".into()),
            })
        );
    }

    #[test]
    fn what_the_client_encodes_the_daemon_decodes() {
        for credentials in [
            Credentials::password("bob", "pw?>"),
            Credentials {
                username: "alice".into(),
                secret: Secret::IdentityToken("refresh".into()),
            },
        ] {
            let header = encode(&credentials, "localhost:5000");
            assert!(!header.contains(['+', '/']), "base64url: {header}");
            assert_eq!(decode(&header).unwrap(), Some(credentials));
        }
        let header = encode(&Credentials::password("bob", "pw"), "localhost:5000");
        let json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE.decode(header).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"username": "bob", "password": "pw", "serveraddress": "localhost:5000"})
        );
    }

    #[test]
    fn lent_credentials_reach_the_images_registry_only() {
        let base = RegistryConfig {
            mirrors: vec!["http://mirror.lab:5000".into()],
            ..RegistryConfig::default()
        };
        let config = lend(&base, "docker.io", Some(Credentials::password("u", "p")));
        assert_eq!(config.mirrors, base.mirrors);
        assert!(config.credentials.lookup("docker.io").unwrap().is_some());
        assert!(
            config
                .credentials
                .lookup("mirror.lab:5000")
                .unwrap()
                .is_none()
        );
        let anonymous = lend(&base, "docker.io", None);
        assert_eq!(anonymous.credentials, CredentialSource::Anonymous);
    }
}
