//! The services the chapters talk to: a registry (chapter 3) and the daemon (chapter 4).
//!
//! Both are asked one `GET` with chapter 4's HTTP client, the one `berth` itself uses, so the
//! doctor sees what the client would see. The client gets a timeout here: a firewall that drops
//! packets, or a daemon that accepts and never answers, must give a failed check, not a doctor
//! that hangs.

use std::path::Path;
use std::time::Duration;

use berth_daemon::http::{self, Client, ClientError};

use super::SOCKET;
use super::report::{Check, Status};

/// How long to wait for a registry or the daemon before calling it unreachable.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(3);

/// A registry at `HOST:PORT` answers `GET /v2/` with 200 (open) or 401 (wants a login).
pub fn check_registry(registry: Option<&str>) -> Check {
    let why =
        "chapter 3: pull and push talk to a registry (the tests start their own on a free port)";
    let name = "registry";
    let Some(registry) = registry else {
        return Check::new(name, Status::Warn, "not checked: no registry given", why)
            .fix("berth doctor --registry HOST:PORT (e.g. localhost:5000)");
    };
    let fix = format!(
        "start one: `docker-registry serve /etc/docker/registry/config.yml`, or check {registry} (plain HTTP)"
    );
    let host = format!("tcp://{registry}").parse::<http::Host>();
    match host.map(|host| status_of(&Client::for_host(&host), "/v2/")) {
        Err(e) => Check::new(name, Status::Fail, e.to_string(), why)
            .fix("berth doctor --registry HOST:PORT (e.g. localhost:5000)"),
        Ok(Ok(status @ (200 | 401))) => Check::new(
            name,
            Status::Ok,
            format!("GET http://{registry}/v2/ answered {status}"),
            why,
        ),
        Ok(Ok(status)) => Check::new(
            name,
            Status::Fail,
            format!("GET http://{registry}/v2/ answered {status}: not a registry"),
            why,
        )
        .fix(fix),
        Ok(Err(e)) => Check::new(
            name,
            Status::Fail,
            format!("{registry}: {}", cause(&e)),
            why,
        )
        .fix(fix),
    }
}

/// The daemon answers `GET /_ping` on its socket; a warning if not (most chapters need none).
pub fn check_daemon(socket: &Path) -> Check {
    let why = "chapter 4 and the engine: `berth` and `docker` talk to berthd over this socket";
    let name = "berthd socket";
    let shown = socket.display().to_string();
    match status_of(&Client::new(socket), "/_ping") {
        Ok(200) => Check::new(
            name,
            Status::Ok,
            format!("{shown}: /_ping answered 200"),
            why,
        ),
        Ok(status) => Check::new(
            name,
            Status::Warn,
            format!("{shown}: /_ping answered {status}"),
            why,
        )
        .fix("restart the daemon: sudo berthd"),
        Err(e) => Check::new(name, Status::Warn, format!("{shown}: {}", cause(&e)), why).fix(
            if socket == Path::new(SOCKET) {
                "start the daemon: `sudo berthd &`".to_owned()
            } else {
                format!("start the daemon: `sudo berthd -H unix://{shown} &`")
            },
        ),
    }
}

/// The status with which `client` answers `GET path`, within [`NETWORK_TIMEOUT`] for each step
/// (the body is not read: the status says all a check needs).
fn status_of(client: &Client, path: &str) -> Result<u16, ClientError> {
    let response = client.clone().with_timeout(NETWORK_TIMEOUT).get(path)?;
    Ok(response.status())
}

/// What went wrong, in the words of a check whose line already names the address: the system's
/// own error for a connection that failed (the client's message adds "the berth daemon", which
/// a registry is not), a plain word for a timeout.
fn cause(error: &ClientError) -> String {
    match error {
        ClientError::Connect { source, .. } | ClientError::ConnectTcp { source, .. } => {
            source.to_string()
        }
        ClientError::Io { source, .. }
            if matches!(
                source.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            format!("no answer within {} seconds", NETWORK_TIMEOUT.as_secs())
        }
        other => other.to_string(),
    }
}
