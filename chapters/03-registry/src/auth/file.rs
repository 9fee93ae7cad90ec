//! The credentials file `login` writes, in the shape Docker keeps `~/.docker/config.json`:
//!
//! ```json
//! { "auths": { "localhost:5000": { "auth": "dXNlcjpwYXNz" } } }
//! ```
//!
//! `auth` is base64 of `user:password`: encoded, not encrypted, so the file is written with
//! mode 0600, through a temporary file and a rename, so that a crash never leaves half a file
//! or a readable one. An identity token is kept beside `auth` as `identitytoken`. Keys we do
//! not know (a `credsStore` that Docker wrote, say) are kept as they are. (Docker can hand the
//! credentials to a credential helper instead; we do not.)

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::credentials::{AuthConfig, Credentials};

/// Why the credentials file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// Reading or writing it failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// It is not a config file, or an entry in it is damaged.
    #[error("{path} is not valid: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where in it.
        reason: String,
    },
}

#[derive(Serialize, Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthConfig>,
    /// Keys Docker or other tools put there, kept as they are.
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

/// One `config.json` of credentials, by registry key (what `credentials_key` says).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialFile {
    path: PathBuf,
}

impl CredentialFile {
    /// The file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CredentialFile { path: path.into() }
    }

    /// `ch03`'s file: `$BERTH_CONFIG_DIR/config.json`, else `~/.berth/config.json` (Docker's
    /// is `~/.docker/config.json`).
    pub fn for_user() -> Self {
        let dir = match std::env::var_os("BERTH_CONFIG_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => {
                let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
                PathBuf::from(home).join(".berth")
            }
        };
        CredentialFile::new(dir.join("config.json"))
    }

    /// The credentials filed under `key`.
    pub fn get(&self, key: &str) -> Result<Option<Credentials>, CredentialsError> {
        let file = self.read()?;
        let Some(entry) = file.auths.get(key) else {
            return Ok(None);
        };
        entry
            .credentials()
            .map_err(|reason| CredentialsError::Invalid {
                path: self.path.clone(),
                reason: format!("auths.{key}: {reason}"),
            })
    }

    /// Files credentials under `key`, keeping everything else in the file.
    pub fn set(&self, key: &str, credentials: &Credentials) -> Result<(), CredentialsError> {
        let mut file = self.read()?;
        file.auths
            .insert(key.to_owned(), AuthConfig::for_file(credentials));
        self.write(&file)
    }

    /// Forgets the credentials filed under `key`; `false` if there were none.
    pub fn remove(&self, key: &str) -> Result<bool, CredentialsError> {
        let mut file = self.read()?;
        let removed = file.auths.remove(key).is_some();
        if removed {
            self.write(&file)?;
        }
        Ok(removed)
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

    fn write(&self, file: &ConfigFile) -> Result<(), CredentialsError> {
        let io = |source| CredentialsError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            // A new directory is private too: it will hold passwords.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io)?;
        }
        let mut json = serde_json::to_vec_pretty(file).expect("the config always serialises");
        json.push(b'\n');
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
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::auth::Secret;

    #[test]
    fn round_trips_and_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"auths":{},"credsStore":"x"}"#).unwrap();
        let file = CredentialFile::new(&path);
        let creds = Credentials::password("alice", "s3:cret");
        file.set("localhost:5000", &creds).unwrap();
        assert_eq!(file.get("localhost:5000").unwrap(), Some(creds));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"credsStore\": \"x\""), "{text}");
        assert!(text.contains("YWxpY2U6czM6Y3JldA=="), "{text}");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(file.remove("localhost:5000").unwrap());
        assert_eq!(file.get("localhost:5000").unwrap(), None);
        assert!(!file.remove("localhost:5000").unwrap());
    }

    #[test]
    fn keeps_an_identity_token_instead_of_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/config.json");
        let file = CredentialFile::new(&path);
        let creds = Credentials {
            username: "alice".into(),
            secret: Secret::IdentityToken("refresh-1".into()),
        };
        file.set("https://index.docker.io/v1/", &creds).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            json["auths"]["https://index.docker.io/v1/"],
            serde_json::json!({"auth": "YWxpY2U6", "identitytoken": "refresh-1"})
        );
        assert_eq!(
            file.get("https://index.docker.io/v1/").unwrap(),
            Some(creds)
        );
        let mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn a_damaged_file_or_entry_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "{not json").unwrap();
        let error = CredentialFile::new(&path)
            .get("h:1")
            .unwrap_err()
            .to_string();
        assert!(error.contains("config.json"), "{error}");
        std::fs::write(&path, r#"{"auths":{"h:1":{"auth":"bm9jb2xvbg=="}}}"#).unwrap();
        let error = CredentialFile::new(&path)
            .get("h:1")
            .unwrap_err()
            .to_string();
        assert!(error.contains("auths.h:1: \"auth\" has no ':'"), "{error}");
    }
}
