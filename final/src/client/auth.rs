//! Registry credentials: `login`, `logout`, and the `X-Registry-Auth` header.
//!
//! The daemon pulls and pushes, but the *client* holds the user's credentials: it sends them
//! with each pull or push, base64url-encoded JSON in `X-Registry-Auth`, so a shared daemon
//! never stores anyone's password. `docker login` asks the daemon to check them against the
//! registry (`POST /auth`) and then keeps them in a config file.
//!
//! The file is Docker's format, `{"auths": {"<registry>": {"auth": base64("user:pass")}}}`, at
//! `$BERTH_CONFIG_DIR/config.json` (default `~/.config/berth/config.json`), mode 0600 since it
//! holds passwords. When berth has no entry for a registry it also reads Docker's own file
//! (`$DOCKER_CONFIG/config.json`, default `~/.docker/config.json`), so a user who already ran
//! `docker login` need not log in twice. Credential helpers (`credsStore`) are not supported.

use std::fs;
use std::io::{self, BufRead, IsTerminal, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use berth_daemon::http::ClientError;
use berth_images::reference::{DEFAULT_DOMAIN, Reference};
use serde_json::{Value, json};

use super::api::Api;
use super::error::Failure;

/// The key Docker files Docker Hub's credentials under (a historical URL).
pub const HUB_KEY: &str = "https://index.docker.io/v1/";

/// Why the credentials file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is not JSON.
    #[error("{path}: not a valid config file: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// No home directory to keep the file in.
    #[error("cannot find the config directory: set HOME or BERTH_CONFIG_DIR")]
    NoHome,
}

/// One registry's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password (empty when an identity token is held instead).
    pub password: String,
    /// A token the registry issued at login, used instead of the password.
    pub identity_token: Option<String>,
}

/// The key of a registry in `auths`: Hub's historical URL, else the host.
pub fn registry_key(server: &str) -> String {
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "" | DEFAULT_DOMAIN | "index.docker.io" | "registry-1.docker.io" => HUB_KEY.to_owned(),
        _ => host.to_owned(),
    }
}

/// berth's config file.
pub fn config_path() -> Result<PathBuf, AuthError> {
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

fn home() -> Result<PathBuf, AuthError> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or(AuthError::NoHome)
}

/// Reads a config file; a missing file is an empty config.
pub fn load(path: &Path) -> Result<Value, AuthError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| AuthError::Json {
            path: path.to_owned(),
            source,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(json!({})),
        Err(source) => Err(AuthError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes a config file readable by its owner only: to a temporary file created 0600, then
/// renamed over the old one, so a crash never leaves half a file (or a world-readable one).
pub fn save(path: &Path, config: &Value) -> Result<(), AuthError> {
    let io_error = |source| AuthError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error)?;
    }
    let temp = path.with_extension("json.tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io_error)?;
    let mut bytes = serde_json::to_vec_pretty(config).map_err(|e| io_error(e.into()))?;
    bytes.push(b'\n');
    file.write_all(&bytes).map_err(io_error)?;
    file.sync_all().map_err(io_error)?;
    fs::rename(&temp, path).map_err(io_error)
}

/// The credentials stored for `key` in one config, if any.
pub fn lookup(config: &Value, key: &str) -> Option<Credentials> {
    let entry = &config["auths"][key];
    let token = entry["identitytoken"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let decoded = entry["auth"]
        .as_str()
        .and_then(|auth| STANDARD.decode(auth).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let (username, password) = match &decoded {
        Some(pair) => pair
            .split_once(':')
            .map(|(u, p)| (u.to_owned(), p.to_owned()))?,
        None if token.is_some() => (
            entry["username"].as_str().unwrap_or_default().to_owned(),
            String::new(),
        ),
        None => return None,
    };
    Some(Credentials {
        username,
        password,
        identity_token: token,
    })
}

/// Stores credentials for `key` in `config` (an identity token replaces the password).
pub fn store(config: &mut Value, key: &str, credentials: &Credentials) {
    if !config.is_object() {
        *config = json!({});
    }
    if !config["auths"].is_object() {
        config["auths"] = json!({});
    }
    let entry = match &credentials.identity_token {
        Some(token) => json!({
            "auth": STANDARD.encode(format!("{}:", credentials.username)),
            "identitytoken": token,
        }),
        None => json!({
            "auth": STANDARD.encode(format!("{}:{}", credentials.username, credentials.password)),
        }),
    };
    config["auths"][key] = entry;
}

/// The `X-Registry-Auth` value for credentials: base64url of Docker's `AuthConfig` JSON.
pub fn header_value(credentials: &Credentials, server: &str) -> String {
    let body = match &credentials.identity_token {
        Some(token) => json!({"identitytoken": token, "serveraddress": server}),
        None => json!({
            "username": credentials.username,
            "password": credentials.password,
            "serveraddress": server,
        }),
    };
    URL_SAFE.encode(body.to_string())
}

/// The `X-Registry-Auth` header for a pull or push of `reference`, from berth's config, else
/// Docker's; `None` (anonymous) if neither has an entry. A broken config file is reported,
/// not ignored: the pull would otherwise fail later with a confusing "access denied".
pub fn header_for(reference: &Reference) -> Result<Option<String>, Failure> {
    let key = registry_key(&reference.domain);
    let ours = config_path().map_err(|e| Failure::new(e.to_string()))?;
    let mut found = lookup(&load(&ours).map_err(|e| Failure::new(e.to_string()))?, &key);
    if found.is_none()
        && let Some(docker) = docker_config_path()
        && let Ok(config) = load(&docker)
    {
        found = lookup(&config, &key);
    }
    Ok(found.map(|c| header_value(&c, &key)))
}

/// `berth login`.
pub fn login(
    api: &Api,
    username: Option<String>,
    password: Option<String>,
    password_stdin: bool,
    server: Option<String>,
) -> Result<u8, Failure> {
    let key = registry_key(server.as_deref().unwrap_or(HUB_KEY));
    let stdin = io::stdin();
    let username = match username {
        Some(name) => name,
        None if password_stdin => {
            return Err(Failure::new("--password-stdin needs --username"));
        }
        None => prompt("Username: ", true)?,
    };
    let password = match password {
        Some(password) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            password
        }
        None if password_stdin => {
            let mut line = String::new();
            stdin
                .lock()
                .read_line(&mut line)
                .map_err(|e| Failure::new(format!("reading the password from stdin: {e}")))?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        }
        None => prompt("Password: ", false)?,
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
    let credentials = Credentials {
        username,
        password,
        identity_token,
    };
    let path = config_path().map_err(|e| Failure::new(e.to_string()))?;
    let mut config = load(&path).map_err(|e| Failure::new(e.to_string()))?;
    store(&mut config, &key, &credentials);
    save(&path, &config).map_err(|e| Failure::new(format!("storing the credentials: {e}")))?;
    println!("Login Succeeded");
    Ok(0)
}

/// `berth logout`.
pub fn logout(server: Option<&str>) -> Result<u8, Failure> {
    let key = registry_key(server.unwrap_or(HUB_KEY));
    let path = config_path().map_err(|e| Failure::new(e.to_string()))?;
    let mut config = load(&path).map_err(|e| Failure::new(e.to_string()))?;
    let removed = config["auths"]
        .as_object_mut()
        .and_then(|auths| auths.remove(&key));
    match removed {
        Some(_) => {
            save(&path, &config).map_err(|e| Failure::new(e.to_string()))?;
            println!("Removing login credentials for {key}");
        }
        None => println!("Not logged in to {key}"),
    }
    Ok(0)
}

/// Asks on the terminal; `echo: false` hides what is typed (the password).
fn prompt(question: &str, echo: bool) -> Result<String, Failure> {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return Err(Failure::new(format!(
            "cannot ask for {}: stdin is not a terminal (use --username and --password-stdin)",
            question.trim_end_matches([':', ' ']).to_lowercase()
        )));
    }
    eprint!("{question}");
    let _ = io::stderr().flush();
    let hidden = if echo {
        None
    } else {
        let original = nix::sys::termios::tcgetattr(&stdin).ok();
        if let Some(original) = &original {
            let mut quiet = original.clone();
            quiet
                .local_flags
                .remove(nix::sys::termios::LocalFlags::ECHO);
            let _ =
                nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &quiet);
        }
        original
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(original) = hidden {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &original);
        eprintln!();
    }
    read.map_err(|e| Failure::new(format!("reading the answer: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn hub_has_one_key_whatever_it_is_called() {
        for server in [
            "docker.io",
            "index.docker.io",
            "https://index.docker.io/v1/",
            "",
        ] {
            assert_eq!(registry_key(server), HUB_KEY, "{server}");
        }
        assert_eq!(registry_key("localhost:5000"), "localhost:5000");
        assert_eq!(registry_key("https://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
    }

    #[test]
    fn credentials_round_trip_in_dockers_format() {
        let mut config = json!({"credsStore": "keep-me"});
        let alice = Credentials {
            username: "alice".into(),
            password: "s3:cr:et".into(),
            identity_token: None,
        };
        store(&mut config, "localhost:5000", &alice);
        // Docker's own format: base64 of "user:password".
        assert_eq!(
            config["auths"]["localhost:5000"]["auth"],
            STANDARD.encode("alice:s3:cr:et")
        );
        assert_eq!(config["credsStore"], "keep-me");
        assert_eq!(lookup(&config, "localhost:5000"), Some(alice));
        assert_eq!(lookup(&config, "other:5000"), None);
    }

    #[test]
    fn the_header_is_base64url_json() {
        let bob = Credentials {
            username: "bob".into(),
            password: "pw?>".into(),
            identity_token: None,
        };
        let header = header_value(&bob, "localhost:5000");
        assert!(!header.contains(['+', '/']), "{header}");
        let decoded: Value = serde_json::from_slice(&URL_SAFE.decode(&header).unwrap()).unwrap();
        assert_eq!(
            decoded,
            json!({"username": "bob", "password": "pw?>", "serveraddress": "localhost:5000"})
        );
    }

    #[test]
    fn the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth/config.json");
        let mut config = load(&path).unwrap();
        store(
            &mut config,
            "h:1",
            &Credentials {
                username: "u".into(),
                password: "p".into(),
                identity_token: None,
            },
        );
        save(&path, &config).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load(&path).unwrap(), config);
        fs::write(&path, "{not json").unwrap();
        let error = load(&path).unwrap_err().to_string();
        assert!(error.contains("config.json"), "{error}");
    }
}
