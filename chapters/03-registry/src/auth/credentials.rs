//! `ch03 login` credentials, kept the way Docker keeps them in `~/.docker/config.json`:
//!
//! ```json
//! { "auths": { "localhost:5000": { "auth": "dXNlcjpwYXNz" } } }
//! ```
//!
//! `auth` is base64 of `user:password`: encoded, not encrypted, so the file is written with
//! mode 0600. (Docker can hand them to a credential helper instead; we do not.)

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // Never print a password, not even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({:?}, ****)", self.username)
    }
}

impl Credentials {
    /// The `Authorization: Basic` value.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// Why the credentials file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

#[derive(Serialize, Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    /// Keys Docker or other tools put there, kept as they are.
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize, Deserialize, Default)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    auth: String,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

/// The `config.json` in a directory.
#[derive(Clone, Debug)]
pub struct CredentialStore {
    path: PathBuf,
}

impl CredentialStore {
    /// The store in `dir` (`~/.berth` by default).
    pub fn new(dir: &Path) -> Self {
        CredentialStore {
            path: dir.join("config.json"),
        }
    }

    fn read(&self) -> Result<ConfigFile, CredentialsError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| CredentialsError::Invalid {
                path: self.path.clone(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(source) => Err(CredentialsError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// The credentials stored for `key` (a registry host, or Docker Hub's URL key).
    pub fn get(&self, key: &str) -> Result<Option<Credentials>, CredentialsError> {
        let file = self.read()?;
        let Some(entry) = file.auths.get(key) else {
            return Ok(None);
        };
        let invalid = |reason: &str| CredentialsError::Invalid {
            path: self.path.clone(),
            reason: format!("auths.{key}.auth: {reason}"),
        };
        let decoded = STANDARD
            .decode(&entry.auth)
            .map_err(|_| invalid("not base64"))?;
        let text = String::from_utf8(decoded).map_err(|_| invalid("not UTF-8"))?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| invalid("no ':' in it"))?;
        Ok(Some(Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        }))
    }

    /// Stores credentials for `key`, keeping everything else in the file.
    pub fn set(&self, key: &str, credentials: &Credentials) -> Result<(), CredentialsError> {
        let mut file = self.read()?;
        let entry = file.auths.entry(key.to_owned()).or_default();
        entry.auth = STANDARD.encode(format!("{}:{}", credentials.username, credentials.password));
        self.write(&file)
    }

    /// Forgets the credentials for `key`; `false` if there were none.
    pub fn remove(&self, key: &str) -> Result<bool, CredentialsError> {
        let mut file = self.read()?;
        let removed = file.auths.remove(key).is_some();
        self.write(&file)?;
        Ok(removed)
    }

    fn write(&self, file: &ConfigFile) -> Result<(), CredentialsError> {
        let io = |source| CredentialsError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let json = serde_json::to_vec_pretty(file).expect("the config always serialises");
        let temp = self.path.with_extension("json.tmp");
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(io)?;
        out.write_all(&json).map_err(io)?;
        out.sync_all().map_err(io)?;
        std::fs::rename(&temp, &self.path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{},"credsStore":"x"}"#,
        )
        .unwrap();
        let store = CredentialStore::new(dir.path());
        let creds = Credentials {
            username: "alice".into(),
            password: "s3:cret".into(),
        };
        store.set("localhost:5000", &creds).unwrap();
        assert_eq!(store.get("localhost:5000").unwrap(), Some(creds));
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert!(text.contains("\"credsStore\": \"x\""), "{text}");
        assert!(text.contains("YWxpY2U6czM6Y3JldA=="), "{text}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("config.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(store.remove("localhost:5000").unwrap());
        assert_eq!(store.get("localhost:5000").unwrap(), None);
    }
}
