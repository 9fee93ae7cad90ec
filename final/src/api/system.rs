//! `/_ping`, `/version`, `/info` and `/auth`: what a client asks before anything else.
//!
//! `HEAD /_ping` opens every docker CLI command: from its headers the client learns the API
//! version to use (`Api-Version`; **without it, it assumes 1.24**), the OS (`Ostype`), and
//! whether to show swarm and experimental commands. docker-py starts with `GET /version`
//! (unversioned) and uses its `ApiVersion` as the prefix of every later path. `/info` feeds
//! `docker info`; `/auth` is `docker login`, which asks the daemon to check the credentials
//! against the registry (the CLI then stores them itself).

use std::sync::Arc;

use berth_daemon::http::{HttpError, Request, Response, Router};
use berth_registry::auth::{Credentials, registry_domain};
use berth_registry::client::Registry;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{API_VERSION, BERTH_VERSION, Daemon, MIN_API_VERSION, errors};

/// Adds this module's routes.
pub fn routes(router: Router, daemon: &Arc<Daemon>) -> Router {
    let info_daemon = Arc::clone(daemon);
    let auth_daemon = Arc::clone(daemon);
    router
        .head("/_ping", |_: &mut Request| ping(true))
        .get("/_ping", |_: &mut Request| ping(false))
        .get("/version", |_: &mut Request| {
            Response::json(200, &version())
        })
        .get("/info", move |_: &mut Request| info(&info_daemon))
        .post("/auth", move |req: &mut Request| login(&auth_daemon, req))
}

// ANCHOR: ping
/// `/_ping`: `OK`, and the headers the client negotiates with. `HEAD` gets
/// `Content-Length: 0`, as moby sends.
fn ping(head: bool) -> Response {
    let response = if head {
        Response::bytes(200, "text/plain; charset=utf-8", Vec::new())
    } else {
        Response::text(200, "OK")
    };
    response
        .header("Builder-Version", "1")
        .header("Swarm", "inactive")
        .header("Cache-Control", "no-cache, no-store, must-revalidate")
        .header("Pragma", "no-cache")
}
// ANCHOR_END: ping

/// The kernel's release (`uname -r`).
fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Go's name for this machine's architecture, as Docker reports it.
fn go_arch() -> &'static str {
    berth_images::load::host_architecture()
}

/// `GET /version`: the top-level fields docker-py reads, and `Components` for the CLI.
pub fn version() -> Value {
    json!({
        "Platform": {"Name": "Berth"},
        "Components": [{
            "Name": "Engine",
            "Version": BERTH_VERSION,
            "Details": {
                "ApiVersion": API_VERSION.to_string(),
                "MinAPIVersion": MIN_API_VERSION.to_string(),
                "Os": "linux",
                "Arch": go_arch(),
                "KernelVersion": kernel_version(),
                "Experimental": "false",
                "GoVersion": "n/a (Rust)",
                "GitCommit": "",
                "BuildTime": "",
            },
        }],
        "Version": BERTH_VERSION,
        "ApiVersion": API_VERSION.to_string(),
        "MinAPIVersion": MIN_API_VERSION.to_string(),
        "GitCommit": "",
        "GoVersion": "n/a (Rust)",
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": kernel_version(),
        "BuildTime": "",
    })
}

/// The first `PRETTY_NAME` of `/etc/os-release`.
fn operating_system() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "Linux".to_owned())
}

/// Total memory in bytes, from `/proc/meminfo`.
fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

fn info(daemon: &Daemon) -> Result<Response, HttpError> {
    let (mut running, mut stopped, mut total) = (0, 0, 0);
    // A container list that fails is not worth failing `docker info` for.
    if let Ok(containers) = daemon.engine.containers() {
        total = containers.len();
        running = containers
            .iter()
            .filter(|c| c.status == crate::engine::Status::Running)
            .count();
        stopped = total - running;
    }
    let images = daemon
        .engine
        .store()
        .images()
        .map_err(errors::store_error)?
        .len();
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mirrors = &daemon.registries.mirrors;
    let insecure: Vec<&String> = daemon.registries.insecure.iter().collect();
    // Two objects joined: one json! literal this size exceeds the macro recursion limit.
    let mut body = json!({
        "ID": format!("berth-{hostname}"),
        "Containers": total,
        "ContainersRunning": running,
        "ContainersPaused": 0,
        "ContainersStopped": stopped,
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "overlayfs"]],
        "Plugins": {"Volume": [], "Network": [], "Authorization": null, "Log": ["json-file"]},
        "MemoryLimit": false,
        "SwapLimit": false,
        "CpuCfsPeriod": false,
        "CpuCfsQuota": false,
        "CPUShares": false,
        "CPUSet": false,
        "PidsLimit": false,
        "IPv4Forwarding": false,
        "Debug": false,
        "NFd": 0,
        "NGoroutines": 0,
        "SystemTime": berth_images::text::format_rfc3339(now_secs(), 0),
        "LoggingDriver": "json-file",
        "CgroupDriver": "none",
        "NEventsListener": 0,
    });
    let more = json!({
        "KernelVersion": kernel_version(),
        "OperatingSystem": operating_system(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"],
            "IndexConfigs": {},
            "Mirrors": mirrors,
            "InsecureRegistries": insecure,
        },
        "NCPU": ncpu,
        "MemTotal": mem_total(),
        "DockerRootDir": daemon.data_root.display().to_string(),
        "Name": hostname,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": BERTH_VERSION,
        "Runtimes": {"berth": {"path": "berthd"}},
        "DefaultRuntime": "berth",
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": false,
            "Error": "",
            "RemoteManagers": null,
        },
        "LiveRestoreEnabled": true,
        "SecurityOptions": security_options(daemon),
        "Warnings": [],
    });
    if let (Some(body), Value::Object(more)) = (body.as_object_mut(), more) {
        body.extend(more);
    }
    Ok(Response::json(200, &body))
}

/// `docker info`'s "Security Options", as dockerd lists them: the default seccomp profile
/// every container gets (chapter 6), and `userns` when containers run remapped.
fn security_options(daemon: &Daemon) -> Vec<&'static str> {
    let mut options = vec!["name=seccomp,profile=builtin"];
    if daemon.userns_remap.is_some() {
        options.push("name=userns");
    }
    options
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The body of `POST /auth` (`docker login`).
#[derive(Debug, Deserialize)]
struct LoginBody {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default, alias = "serveraddress")]
    server_address: String,
}

// ANCHOR: login
/// `POST /auth`: checks the credentials against the registry as `docker login` would; the
/// client keeps them, the daemon does not.
fn login(daemon: &Daemon, req: &mut Request) -> Result<Response, HttpError> {
    let body: LoginBody = req.json()?;
    if body.username.is_empty() {
        return Err(HttpError::bad_request(
            "login needs a username and a password",
        ));
    }
    let domain = registry_domain(&body.server_address);
    let credentials = Credentials::password(body.username, body.password);
    let registry = Registry::connect_as(&daemon.registries, &domain, Some(credentials), false)
        .map_err(errors::registry_error)?;
    registry.check_login().map_err(errors::registry_error)?;
    Ok(Response::json(
        200,
        &json!({"Status": "Login Succeeded", "IdentityToken": ""}),
    ))
}
// ANCHOR_END: login

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_has_what_docker_py_reads() {
        let v = version();
        assert_eq!(v["ApiVersion"], "1.50");
        assert_eq!(v["MinAPIVersion"], "1.24");
        assert_eq!(v["Os"], "linux");
        assert_eq!(v["Components"][0]["Name"], "Engine");
    }
}
