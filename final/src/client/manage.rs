//! The container verbs that change or show one thing about a container, one request each:
//! `rename`, `pause`, `unpause`, `wait`, `update`, `top`, `port` and `diff`.
//!
//! In Docker these are the daemon's work (cgroup freezer, cgroup limits, `ps` inside the
//! container's PID namespace, the overlay upper directory); the CLI sends the request and
//! prints the answer in its own layout, which is what this module reproduces.

use std::io::{self, Write};

use berth_daemon::http::ClientRequest;
use clap::Args;
use serde_json::{Value, json};

use super::api::Api;
use super::error::Failure;
use super::format;
use super::limits::LimitArgs;
use super::run::each;

/// `update`'s flags.
#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    /// The new limits.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// The restart policy (`no`, `always`, `on-failure[:N]`, `unless-stopped`).
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// The containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth rename OLD NEW`: no output, as Docker.
pub fn rename(api: &Api, container: &str, name: &str) -> Result<u8, Failure> {
    api.call(&ClientRequest::post(&format!("/containers/{container}/rename")).query("name", name))?;
    Ok(0)
}

/// `berth pause`.
pub fn pause(api: &Api, containers: &[String]) -> Result<u8, Failure> {
    each(containers, |c| {
        api.call(&ClientRequest::post(&format!("/containers/{c}/pause")))
            .map(drop)
            .map_err(Failure::from)
    })
}

/// `berth unpause`.
pub fn unpause(api: &Api, containers: &[String]) -> Result<u8, Failure> {
    each(containers, |c| {
        api.call(&ClientRequest::post(&format!("/containers/{c}/unpause")))
            .map(drop)
            .map_err(Failure::from)
    })
}

/// `berth wait`: blocks until each container stops, printing its exit code.
pub fn wait(api: &Api, containers: &[String]) -> Result<u8, Failure> {
    let mut code = 0;
    for container in containers {
        let result = api
            .wait(container, "not-running")
            .and_then(Api::wait_result);
        match result {
            Ok(result) => println!("{}", result.status_code),
            Err(e) => {
                Failure::from(e).print();
                code = 1;
            }
        }
    }
    Ok(code)
}

/// The restart policy as Docker's `RestartPolicy`: `on-failure:3` → a name and a count.
pub fn restart_policy(text: &str) -> Result<Value, Failure> {
    let (name, count) = match text.split_once(':') {
        Some((name, count)) => {
            let count: u32 = count.parse().map_err(|_| {
                Failure::new(format!(
                    "invalid restart policy {text:?}: the retry count must be a number"
                ))
            })?;
            (name, count)
        }
        None => (text, 0),
    };
    match name {
        "no" | "always" | "unless-stopped" | "on-failure" => {}
        _ => {
            return Err(Failure::new(format!(
                "invalid restart policy {text:?}: use no, always, on-failure[:N] or \
                 unless-stopped"
            )));
        }
    }
    Ok(json!({"Name": name, "MaximumRetryCount": count}))
}

/// `berth update`: new limits for running or stopped containers.
pub fn update(api: &Api, args: &UpdateArgs) -> Result<u8, Failure> {
    let mut body = args.limits.fields()?;
    if let Some(restart) = &args.restart {
        body.insert("RestartPolicy".into(), restart_policy(restart)?);
    }
    if body.is_empty() {
        return Err(Failure::new(
            "you must provide one or more flags when using this command",
        ));
    }
    let body = Value::Object(body);
    each(&args.containers, |c| {
        let request = ClientRequest::post(&format!("/containers/{c}/update")).json(&body)?;
        let answer = api.json(&request)?;
        for warning in answer["Warnings"].as_array().into_iter().flatten() {
            eprintln!("WARNING: {}", warning.as_str().unwrap_or_default());
        }
        Ok(())
    })
}

/// `berth top CONTAINER [ps OPTIONS]`: the daemon's `ps` table.
pub fn top(api: &Api, container: &str, ps_args: &[String]) -> Result<u8, Failure> {
    let mut request = ClientRequest::get(&format!("/containers/{container}/top"));
    if !ps_args.is_empty() {
        request = request.query("ps_args", ps_args.join(" "));
    }
    let answer = api.json(&request)?;
    let row = |cells: &Value| -> Vec<String> {
        cells
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c.as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let mut rows = vec![row(&answer["Titles"])];
    rows.extend(
        answer["Processes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(row),
    );
    let _ = io::stdout()
        .lock()
        .write_all(format::table(&rows).as_bytes());
    Ok(0)
}

/// `berth port CONTAINER [PRIVATE[/PROTO]]`: the published ports, from inspect.
pub fn port(api: &Api, container: &str, private: Option<&str>) -> Result<u8, Failure> {
    let inspected = api.inspect_container(container)?;
    let wanted = private.map(|p| {
        if p.contains('/') {
            p.to_owned()
        } else {
            format!("{p}/tcp")
        }
    });
    let lines = port_lines(&inspected["NetworkSettings"]["Ports"], wanted.as_deref());
    if lines.is_empty()
        && let Some(typed) = private
    {
        return Err(Failure::new(format!(
            "Error: No public port '{typed}' published for {container}"
        )));
    }
    let mut out = io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    Ok(0)
}

/// `port`'s lines: `80/tcp -> 0.0.0.0:8080` for all ports, or `0.0.0.0:8080` for one.
pub fn port_lines(ports: &Value, wanted: Option<&str>) -> Vec<String> {
    let mut lines = Vec::new();
    let Some(ports) = ports.as_object() else {
        return lines;
    };
    let mut keys: Vec<&String> = ports.keys().collect();
    // Docker sorts by port number, then protocol.
    keys.sort_by_key(|k| {
        let (number, proto) = k.split_once('/').unwrap_or((k, ""));
        (number.parse::<u32>().unwrap_or(0), proto.to_owned())
    });
    for key in keys {
        if wanted.is_some_and(|w| w != key) {
            continue;
        }
        for binding in ports[key].as_array().into_iter().flatten() {
            let ip = format::text(binding, "HostIp");
            let ip = if ip.is_empty() { "0.0.0.0" } else { ip };
            let address = if ip.contains(':') {
                format!("[{ip}]:{}", format::text(binding, "HostPort"))
            } else {
                format!("{ip}:{}", format::text(binding, "HostPort"))
            };
            lines.push(match wanted {
                Some(_) => address,
                None => format!("{key} -> {address}"),
            });
        }
    }
    lines
}

/// `berth diff`: `A`dded, `C`hanged and `D`eleted paths of the container's filesystem.
pub fn diff(api: &Api, container: &str) -> Result<u8, Failure> {
    let changes = api.json(&ClientRequest::get(&format!(
        "/containers/{container}/changes"
    )))?;
    let mut out = io::stdout().lock();
    for change in changes.as_array().into_iter().flatten() {
        let kind = match change["Kind"].as_u64() {
            Some(1) => 'A',
            Some(2) => 'D',
            _ => 'C',
        };
        let _ = writeln!(out, "{kind} {}", format::text(change, "Path"));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lines_read_like_dockers() {
        let ports = json!({
            "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}],
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"},
                       {"HostIp": "::", "HostPort": "8080"}],
            "53/udp": null,
        });
        assert_eq!(
            port_lines(&ports, None),
            [
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> [::]:8080",
                "443/tcp -> 127.0.0.1:8443"
            ]
        );
        assert_eq!(port_lines(&ports, Some("443/tcp")), ["127.0.0.1:8443"]);
        assert!(port_lines(&ports, Some("53/udp")).is_empty());
    }

    #[test]
    fn restart_policies_take_a_count() {
        assert_eq!(
            restart_policy("on-failure:3").unwrap(),
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(restart_policy("always").unwrap()["Name"], "always");
        assert!(restart_policy("sometimes").is_err());
        assert!(restart_policy("on-failure:x").is_err());
    }
}
