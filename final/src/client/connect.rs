//! Which daemon to talk to.
//!
//! Docker names a daemon by a *host* URL: `unix:///var/run/docker.sock`, `tcp://host:2376`.
//! `berth` looks in this order, first match wins:
//!
//! 1. `-H`/`--host` on the command line;
//! 2. `BERTH_HOST`, so a shell can point every `berth` at one daemon;
//! 3. `DOCKER_HOST`, so that a machine already set up for `docker` (say, pointed at a remote
//!    engine) works unchanged: berth speaks the same API;
//! 4. `unix:///run/berth.sock`, where `berthd` listens by default.
//!
//! A `tcp://` daemon off loopback needs TLS, because whoever reaches the socket is root on
//! that host, and berthd then insists on a client certificate. The flags are Docker's
//! (`--tlsverify`, `--tlscacert`, `--tlscert`, `--tlskey`, defaulting to `ca.pem`, `cert.pem`
//! and `key.pem` in `$DOCKER_CERT_PATH` or `~/.docker`; `DOCKER_TLS_VERIFY=1` turns it on).
//! Unlike Docker, `--tls` alone also verifies the daemon's certificate: berth has no
//! "encrypt but trust anyone" mode.

use std::path::{Path, PathBuf};

use berth_daemon::http::{Client, Host};

use super::TlsArgs;
use super::api::Api;
use super::error::Failure;

/// Where `berthd` listens unless told otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/berth.sock";

/// The host URL to use: the flag, else the environment, else the default.
pub fn choose_host(flag: Option<&str>, env: impl Fn(&str) -> Option<String>) -> String {
    if let Some(host) = flag {
        return host.to_owned();
    }
    ["BERTH_HOST", "DOCKER_HOST"]
        .into_iter()
        .filter_map(&env)
        .find(|value| !value.is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_owned())
}

/// An API client for the chosen daemon.
pub fn api(flag: Option<&str>, tls: &TlsArgs) -> Result<Api, Failure> {
    let url = choose_host(flag, |name| std::env::var(name).ok());
    let host: Host = url.parse().map_err(|e| {
        Failure::new(format!(
            "{e} (the daemon comes from -H, BERTH_HOST or DOCKER_HOST)"
        ))
    })?;
    let env_verify = std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty());
    let wants_tls = tls.tls || tls.tlsverify || env_verify;
    let client = Client::for_host(&host);
    match host {
        Host::Tcp { .. } if wants_tls => {
            let dir = cert_dir();
            let file =
                |flag: &Option<PathBuf>, name: &str| flag.clone().unwrap_or_else(|| dir.join(name));
            let (ca, cert, key) = (
                file(&tls.tlscacert, "ca.pem"),
                file(&tls.tlscert, "cert.pem"),
                file(&tls.tlskey, "key.pem"),
            );
            let connector = crate::api::tls::connector(&ca, &cert, &key)
                .map_err(|e| Failure::new(format!("TLS for {url}: {e}")))?;
            Ok(Api::new(client.with_connector(connector)))
        }
        _ => Ok(Api::new(client)),
    }
}

/// Where Docker keeps client certificates: `$DOCKER_CERT_PATH`, else `~/.docker`.
fn cert_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CERT_PATH").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    Path::new(&home).join(".docker")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_beats_berth_host_beats_docker_host() {
        let env = |name: &str| match name {
            "BERTH_HOST" => Some("unix:///b.sock".to_owned()),
            "DOCKER_HOST" => Some("unix:///d.sock".to_owned()),
            _ => None,
        };
        assert_eq!(choose_host(Some("unix:///f.sock"), env), "unix:///f.sock");
        assert_eq!(choose_host(None, env), "unix:///b.sock");
        let docker_only = |name: &str| (name == "DOCKER_HOST").then(|| "unix:///d.sock".to_owned());
        assert_eq!(choose_host(None, docker_only), "unix:///d.sock");
        // An empty variable counts as unset, as in Docker.
        let empty = |name: &str| (name == "BERTH_HOST").then(String::new);
        assert_eq!(choose_host(None, empty), DEFAULT_HOST);
    }

    #[test]
    fn a_bad_host_says_where_it_came_from() {
        let Err(failure) = api(Some("localhost:2375"), &TlsArgs::default()) else {
            panic!("accepted a host without a scheme")
        };
        assert!(failure.message.contains("localhost:2375"), "{failure}");
        assert!(failure.message.contains("-H"), "{failure}");
    }
}
