//! Registry credentials: `login`, `logout`, and the `X-Registry-Auth` header.
//!
//! The daemon pulls and pushes, but the *client* holds the user's credentials: it sends them
//! with each pull or push, base64url-encoded JSON in `X-Registry-Auth`, so a shared daemon
//! never stores anyone's password. `docker login` asks the daemon to check them against the
//! registry (`POST /auth`) and then keeps them in a config file.
//!
//! What credentials are, how Docker Hub's are filed, the file's format and the password prompt
//! are chapter 3's ([`berth_registry::auth`]); this module decides only where berth's file is:
//! `$BERTH_CONFIG_DIR/config.json` (default `~/.config/berth/config.json`). When berth has no
//! entry for a registry it also reads Docker's own file (`$DOCKER_CONFIG/config.json`, default
//! `~/.docker/config.json`), so a user who already ran `docker login` need not log in twice.
//! Credential helpers (`credsStore`) are not supported.

use std::path::PathBuf;

use berth_daemon::http::ClientError;
use berth_images::reference::Reference;
use berth_registry::auth::{CredentialFile, Credentials, Secret, credentials_key, prompt};
use serde_json::json;

use super::api::Api;
use super::error::Failure;
use crate::api::auth::encode;

/// berth's config file.
pub fn config_path() -> Result<PathBuf, Failure> {
    if let Some(dir) = std::env::var_os("BERTH_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => home()?.join(".config"),
    };
    Ok(base.join("berth/config.json"))
}

/// Docker's config file, read as a fallback.
fn docker_config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => home().ok().map(|h| h.join(".docker/config.json")),
    }
}

fn home() -> Result<PathBuf, Failure> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| {
            Failure::new("cannot find the config directory: set HOME or BERTH_CONFIG_DIR")
        })
}

/// berth's credentials file.
fn our_file() -> Result<CredentialFile, Failure> {
    config_path().map(CredentialFile::new)
}

/// The `X-Registry-Auth` header for a pull or push of `reference`, from berth's config, else
/// Docker's; `None` (anonymous) if neither has an entry. A broken berth config file is
/// reported, not ignored: the pull would otherwise fail later with a confusing "access denied".
pub fn header_for(reference: &Reference) -> Result<Option<String>, Failure> {
    let key = credentials_key(&reference.domain);
    let mut found = our_file()?
        .get(&key)
        .map_err(|e| Failure::new(e.to_string()))?;
    if found.is_none()
        && let Some(docker) = docker_config_path()
    {
        found = CredentialFile::new(docker).get(&key).ok().flatten();
    }
    Ok(found.map(|c| encode(&c, &key)))
}

/// `berth login`.
pub fn login(
    api: &Api,
    username: Option<String>,
    password: Option<String>,
    password_stdin: bool,
    server: Option<String>,
) -> Result<u8, Failure> {
    let key = credentials_key(server.as_deref().unwrap_or_default());
    let asked = |e: prompt::PromptError| Failure::new(e.to_string());
    let username = match username {
        Some(name) => name,
        None if password_stdin => {
            return Err(Failure::new("--password-stdin needs --username"));
        }
        None => prompt::username().map_err(asked)?,
    };
    let password = match password {
        Some(password) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            password
        }
        None if password_stdin => prompt::password_from_stdin().map_err(asked)?,
        None => prompt::password().map_err(asked)?,
    };
    if username.is_empty() || password.is_empty() {
        return Err(Failure::new("a username and a password are required"));
    }
    let body = json!({"username": username, "password": password, "serveraddress": key});
    let identity_token = match api.auth(&body) {
        Ok(answer) => answer["IdentityToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        // A daemon without `/auth` (it is optional for berthd) cannot check: keep the
        // credentials anyway; the registry will judge them at the first pull or push.
        Err(ClientError::Api { status: 404, .. }) => {
            eprintln!("WARNING! The daemon cannot check credentials; storing them unchecked.");
            None
        }
        Err(e) => return Err(e.into()),
    };
    // As the docker CLI does: an identity token, if the registry gave one, replaces the
    // password, which is then not kept.
    let credentials = Credentials {
        username,
        secret: match identity_token {
            Some(token) => Secret::IdentityToken(token),
            None => Secret::Password(password),
        },
    };
    our_file()?
        .set(&key, &credentials)
        .map_err(|e| Failure::new(format!("storing the credentials: {e}")))?;
    println!("Login Succeeded");
    Ok(0)
}

/// `berth logout`.
pub fn logout(server: Option<&str>) -> Result<u8, Failure> {
    let key = credentials_key(server.unwrap_or_default());
    let removed = our_file()?
        .remove(&key)
        .map_err(|e| Failure::new(e.to_string()))?;
    if removed {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(0)
}
