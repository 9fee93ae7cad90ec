//! Who we are to one registry: a user and a password, or a token that stands for them.
//!
//! Docker knows three kinds of credentials, and so do we:
//!
//! - a **password**, sent as `Authorization: Basic` to a registry that checks it itself, or to
//!   the token server of one that uses Bearer tokens;
//! - an **identity token** (`identitytoken` in Docker's files): an OAuth2 *refresh token* that
//!   a token server handed out at login, traded for access tokens with
//!   `grant_type=refresh_token`. The password itself is then never stored (Azure's
//!   `az acr login` writes one, so does `docker login` where the token server offers it);
//! - a **registry token** (`registrytoken`): a bearer token for the registry itself, sent as it
//!   is, without a token server.
//!
//! Credentials are filed under a registry *key*: the registry's host, except that Docker Hub's
//! are filed under the historical `https://index.docker.io/v1/`. Docker writes them as JSON, in
//! `~/.docker/config.json` (one [`AuthConfig`] per key) and, base64-encoded, in the
//! `X-Registry-Auth` header a client lends its daemon for one pull or push. Both shapes are
//! read by [`AuthConfig::credentials`], so there is one place that knows what the fields mean.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::file::{CredentialFile, CredentialsError};
use crate::config::{DOCKER_HUB, DOCKER_HUB_AUTH_KEY};

// ANCHOR: credentials
/// One registry's credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name; may be empty with a token.
    pub username: String,
    /// What proves it is them.
    pub secret: Secret,
}

/// The secret half of [`Credentials`].
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A password: Basic auth to the registry, or to its token server.
    Password(String),
    /// An OAuth2 refresh token from the token server (Docker's `identitytoken`).
    IdentityToken(String),
    /// A bearer token sent to the registry as is (Docker's `registrytoken`).
    RegistryToken(String),
}
// ANCHOR_END: credentials

impl std::fmt::Debug for Credentials {
    // Never print a secret, not even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.secret {
            Secret::Password(_) => "password",
            Secret::IdentityToken(_) => "identity token",
            Secret::RegistryToken(_) => "registry token",
        };
        write!(f, "Credentials({:?}, {kind} ****)", self.username)
    }
}

impl Credentials {
    /// A user name and password.
    pub fn password(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            secret: Secret::Password(password.into()),
        }
    }

    /// The `Authorization: Basic` value; only a password can be sent that way.
    pub fn basic_header(&self) -> Option<String> {
        match &self.secret {
            Secret::Password(password) => Some(format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{password}", self.username))
            )),
            Secret::IdentityToken(_) | Secret::RegistryToken(_) => None,
        }
    }
}

// ANCHOR: registry_key
/// The registry a server address names, as references name it: every spelling of Docker Hub
/// (`https://index.docker.io/v1/`, `registry-1.docker.io`, an empty address) is `docker.io`;
/// `http://127.0.0.1:5000/v2/` is `127.0.0.1:5000`.
pub fn registry_domain(server: &str) -> String {
    let host = server.split_once("://").map_or(server, |(_, rest)| rest);
    let host = host.split('/').next().unwrap_or_default();
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | DOCKER_HUB => DOCKER_HUB.to_owned(),
        other => other.to_owned(),
    }
}

/// The key credentials for `server` are filed under: Docker Hub's historical URL, else the
/// registry's host.
pub fn credentials_key(server: &str) -> String {
    match registry_domain(server) {
        domain if domain == DOCKER_HUB => DOCKER_HUB_AUTH_KEY.to_owned(),
        domain => domain,
    }
}
// ANCHOR_END: registry_key

// ANCHOR: source
/// Where a pull, a push or a login finds the credentials for a registry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CredentialSource {
    /// Nowhere: every request is anonymous.
    #[default]
    Anonymous,
    /// Credentials lent for one pull or push (a daemon gets them from its client), for one
    /// registry only: a mirror never sees them.
    Lent {
        /// The registry they are for, as references name it.
        registry: String,
        /// The credentials.
        credentials: Credentials,
    },
    /// The file `login` writes (`ch03`'s is `~/.berth/config.json`).
    File(CredentialFile),
}

impl CredentialSource {
    /// The credentials for `registry` (`docker.io`, `127.0.0.1:5000`, a mirror's host).
    pub fn lookup(&self, registry: &str) -> Result<Option<Credentials>, CredentialsError> {
        match self {
            CredentialSource::Anonymous => Ok(None),
            CredentialSource::Lent {
                registry: lent_to,
                credentials,
            } => Ok((registry_domain(lent_to) == registry_domain(registry))
                .then(|| credentials.clone())),
            CredentialSource::File(file) => file.get(&credentials_key(registry)),
        }
    }
}
// ANCHOR_END: source

// ANCHOR: auth_config
/// Docker's JSON for one registry's credentials (its `AuthConfig`): an entry of `auths` in
/// `config.json`, or the content of an `X-Registry-Auth` header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthConfig {
    /// The user name (the header's way).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// The password (the header's way).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// base64 of `user:password` (the file's way; `user:` beside an identity token).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth: String,
    /// An OAuth2 refresh token.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
    /// A bearer token for the registry itself.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registrytoken: String,
    /// The registry they are for (the header's way; the file has it as the key).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    /// Fields we do not use (`email`, ...), kept as they are.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl AuthConfig {
    /// The credentials it holds; `None` when it holds none (`{}`: anonymous). A token wins
    /// over a password, as in Docker. The error says which field is wrong.
    pub fn credentials(&self) -> Result<Option<Credentials>, String> {
        let (mut username, mut password) = (self.username.clone(), self.password.clone());
        if username.is_empty() && !self.auth.is_empty() {
            let pair = STANDARD
                .decode(self.auth.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or("\"auth\" is not base64 of user:password")?;
            let (user, pass) = pair.split_once(':').ok_or("\"auth\" has no ':' in it")?;
            (username, password) = (user.to_owned(), pass.to_owned());
        }
        let secret = if !self.identitytoken.is_empty() {
            Secret::IdentityToken(self.identitytoken.clone())
        } else if !self.registrytoken.is_empty() {
            Secret::RegistryToken(self.registrytoken.clone())
        } else if !username.is_empty() {
            Secret::Password(password)
        } else {
            return Ok(None);
        };
        Ok(Some(Credentials { username, secret }))
    }

    /// The entry `docker login` writes in `config.json`: `auth` is base64 of `user:password`,
    /// or of `user:` beside a token (the token replaces the password, which is not kept).
    pub fn for_file(credentials: &Credentials) -> AuthConfig {
        let password = match &credentials.secret {
            Secret::Password(password) => password.as_str(),
            Secret::IdentityToken(_) | Secret::RegistryToken(_) => "",
        };
        let mut entry = AuthConfig::lent(credentials, "");
        entry.auth = STANDARD.encode(format!("{}:{password}", credentials.username));
        entry.username.clear();
        entry.password.clear();
        entry
    }

    /// What the docker CLI sends in `X-Registry-Auth`: the fields one by one, and the server.
    pub fn lent(credentials: &Credentials, server: &str) -> AuthConfig {
        let mut config = AuthConfig {
            username: credentials.username.clone(),
            serveraddress: server.to_owned(),
            ..AuthConfig::default()
        };
        match &credentials.secret {
            Secret::Password(password) => config.password = password.clone(),
            Secret::IdentityToken(token) => config.identitytoken = token.clone(),
            Secret::RegistryToken(token) => config.registrytoken = token.clone(),
        }
        config
    }
}
// ANCHOR_END: auth_config

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_has_one_key_whatever_it_is_called() {
        for server in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
            "",
        ] {
            assert_eq!(registry_domain(server), "docker.io", "{server}");
            assert_eq!(credentials_key(server), DOCKER_HUB_AUTH_KEY, "{server}");
        }
        assert_eq!(credentials_key("localhost:5000"), "localhost:5000");
        assert_eq!(
            credentials_key("https://127.0.0.1:5000/v2/"),
            "127.0.0.1:5000"
        );
        assert_eq!(registry_domain("http://localhost:5000/"), "localhost:5000");
    }

    #[test]
    fn every_shape_docker_writes_is_read() {
        let parse = |json: &str| {
            serde_json::from_str::<AuthConfig>(json)
                .unwrap()
                .credentials()
        };
        let alice = Credentials::password("alice", "s3:cret");
        assert_eq!(
            parse(r#"{"username":"alice","password":"s3:cret"}"#),
            Ok(Some(alice.clone()))
        );
        let auth = STANDARD.encode("alice:s3:cret");
        assert_eq!(
            parse(&format!(r#"{{"auth":"{auth}"}}"#)),
            Ok(Some(alice.clone()))
        );
        let identity = Credentials {
            username: "alice".into(),
            secret: Secret::IdentityToken("refresh".into()),
        };
        let auth = STANDARD.encode("alice:");
        assert_eq!(
            parse(&format!(r#"{{"auth":"{auth}","identitytoken":"refresh"}}"#)),
            Ok(Some(identity.clone()))
        );
        assert_eq!(
            parse(r#"{"registrytoken":"bearer"}"#),
            Ok(Some(Credentials {
                username: String::new(),
                secret: Secret::RegistryToken("bearer".into()),
            }))
        );
        assert_eq!(parse("{}"), Ok(None));
        assert!(parse(r#"{"auth":"!!"}"#).unwrap_err().contains("base64"));
        let no_colon = STANDARD.encode("alice");
        assert!(
            parse(&format!(r#"{{"auth":"{no_colon}"}}"#))
                .unwrap_err()
                .contains("':'")
        );
        // Both ways of writing them read back as they were.
        for credentials in [alice, identity] {
            let entry = AuthConfig::for_file(&credentials);
            assert!(entry.password.is_empty() && entry.username.is_empty());
            assert_eq!(entry.credentials(), Ok(Some(credentials.clone())));
            let lent = AuthConfig::lent(&credentials, "h:1");
            assert_eq!(lent.credentials(), Ok(Some(credentials)));
        }
    }

    #[test]
    fn lent_credentials_are_for_their_registry_only() {
        let source = CredentialSource::Lent {
            registry: "docker.io".into(),
            credentials: Credentials::password("u", "p"),
        };
        assert!(source.lookup("index.docker.io").unwrap().is_some());
        assert!(source.lookup("mirror.lab:5000").unwrap().is_none());
        assert!(
            CredentialSource::Anonymous
                .lookup("docker.io")
                .unwrap()
                .is_none()
        );
        let debug = format!("{:?}", Credentials::password("u", "hunter2"));
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
