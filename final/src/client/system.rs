//! `version`, `info` and `doctor`: what the client, the daemon and the host are.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::api::{API_VERSION, Api};
use super::error::Failure;
use super::format::{self, Format};

/// The client's half of `version`.
fn client_version() -> Value {
    json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": API_VERSION,
        "Os": std::env::consts::OS,
        "Arch": go_arch(std::env::consts::ARCH),
    })
}

/// Docker names architectures as Go does.
fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `berth version`: the client's version even when the daemon is unreachable (then exit 1).
pub fn version(api: &Api, format: Option<&str>) -> Result<u8, Failure> {
    let format = Format::parse(format)?;
    let client = client_version();
    let server = api.version();
    let mut out = io::stdout().lock();
    if format == Format::Json {
        let server = server.as_ref().ok().cloned().unwrap_or(Value::Null);
        format::print_json(&mut out, &json!({"Client": client, "Server": server}))?;
        return server_result(api.version().map(drop));
    }
    let _ = write!(out, "{}", version_text(&client, server.as_ref().ok()));
    server_result(server.map(drop))
}

fn server_result(result: Result<(), berth_daemon::http::ClientError>) -> Result<u8, Failure> {
    result.map(|()| 0).map_err(Failure::from)
}

/// `version`'s text, in Docker's layout.
pub fn version_text(client: &Value, server: Option<&Value>) -> String {
    let t = format::text;
    let mut text = format!(
        "Client:\n Version:           {}\n API version:       {}\n OS/Arch:           {}/{}\n",
        t(client, "Version"),
        t(client, "ApiVersion"),
        t(client, "Os"),
        t(client, "Arch"),
    );
    if let Some(server) = server {
        text.push_str(&format!(
            "\nServer:\n Engine:\n  Version:          {}\n  API version:      {} (minimum version {})\n  \
             OS/Arch:          {}/{}\n  Kernel Version:   {}\n",
            t(server, "Version"),
            t(server, "ApiVersion"),
            t(server, "MinAPIVersion"),
            t(server, "Os"),
            t(server, "Arch"),
            t(server, "KernelVersion"),
        ));
    }
    text
}

/// `berth info`.
pub fn info(api: &Api, format: Option<&str>) -> Result<u8, Failure> {
    let format = Format::parse(format)?;
    let info = api.info()?;
    let mut out = io::stdout().lock();
    if format == Format::Json {
        format::print_json(&mut out, &info)?;
    } else {
        let _ = write!(out, "{}", info_text(&info));
    }
    Ok(0)
}

/// `info`'s text: the fields Docker shows first, those the daemon filled in.
pub fn info_text(info: &Value) -> String {
    let mut text = String::from("Server:\n");
    let number = |key: &str| info[key].as_u64().map(|n| n.to_string());
    let string = |key: &str| {
        info[key]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let lines = [
        (" Containers", number("Containers")),
        ("  Running", number("ContainersRunning")),
        ("  Paused", number("ContainersPaused")),
        ("  Stopped", number("ContainersStopped")),
        (" Images", number("Images")),
        (" Server Version", string("ServerVersion")),
        (" Storage Driver", string("Driver")),
        (" Cgroup Driver", string("CgroupDriver")),
        (" Cgroup Version", string("CgroupVersion")),
        (" Kernel Version", string("KernelVersion")),
        (" Operating System", string("OperatingSystem")),
        (" OSType", string("OSType")),
        (" Architecture", string("Architecture")),
        (" CPUs", number("NCPU")),
        (
            " Total Memory",
            info["MemTotal"]
                .as_u64()
                .map(berth_images::text::human_size),
        ),
        (" Name", string("Name")),
        (" ID", string("ID")),
        (" Docker Root Dir", string("DockerRootDir")),
    ];
    for (label, value) in lines {
        if let Some(value) = value {
            text.push_str(&format!("{label}: {value}\n"));
        }
    }
    text
}

/// `berth doctor [--registry HOST:PORT]`: the engine's host checks; exit 0 only if every
/// check passed.
pub fn doctor(registry: Option<&str>) -> Result<u8, Failure> {
    let mut out = io::stdout().lock();
    match crate::doctor::run(&mut out, registry) {
        Ok(true) => Ok(0),
        Ok(false) => Ok(1),
        Err(e) => Err(Failure::new(format!("doctor: writing the report: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_shows_the_server_when_there_is_one() {
        let client = client_version();
        let server = json!({"Version": "0.1.0", "ApiVersion": "1.50", "MinAPIVersion": "1.24",
                            "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1"});
        let text = version_text(&client, Some(&server));
        assert!(text.contains(" API version:       1.50\n"), "{text}");
        assert!(
            text.contains("  API version:      1.50 (minimum version 1.24)\n"),
            "{text}"
        );
        assert!(!version_text(&client, None).contains("Server:"));
    }

    #[test]
    fn info_skips_what_the_daemon_did_not_say() {
        let text = info_text(&json!({"Containers": 2, "ContainersRunning": 1, "NCPU": 2,
                                     "Driver": "overlay2", "MemTotal": 2_000_000_000u64}));
        assert_eq!(
            text,
            "Server:\n Containers: 2\n  Running: 1\n Storage Driver: overlay2\n CPUs: 2\n \
             Total Memory: 2GB\n"
        );
    }
}
