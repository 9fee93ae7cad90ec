//! `run`, `create`, `start` and `exec`: the verbs that start processes.
//!
//! `docker run` is not one request but six, and their order is an interface: daemons are
//! written against it (docker-api.md §3).
//!
//! 1. `POST /containers/create`. A 404 means "no such image": print
//!    `Unable to find image '…' locally`, pull, and create again.
//! 2. `POST /containers/{id}/attach` (hijacked), *before* start, so no output is lost.
//! 3. `POST /containers/{id}/wait?condition=next-exit` (`removed` with `--rm`), also before
//!    start: a wait sent after a fast container has exited would wait for an exit that never
//!    comes. The daemon answers the head at once and the body at the exit.
//! 4. `POST /containers/{id}/start`. A failure here has its own exit codes: 127 (command not
//!    found), 126 (not executable), else 125.
//! 5. With a TTY, `POST /containers/{id}/resize` with our window's size.
//! 6. Pump the session until the daemon closes it, then read the wait's body: the exit code.
//!
//! Each request is one short-lived connection on a UNIX socket, and nothing sleeps: the whole
//! of `berth run --rm busybox true` is these round trips plus the container's own life.

use std::io::{self, IsTerminal, Write};

use berth_daemon::http::ClientError;
use serde_json::{Map, Value, json};

use super::api::{Api, Created};
use super::error::{EXIT_DAEMON, Failure, start_failure_code};
use super::session::{self, Ending, OwnedTarget, Wiring};
use super::terminal::{self, RawMode};
use super::{CreateArgs, ExecArgs, RunArgs, images};

/// `berth run`.
pub fn run(api: &Api, args: RunArgs) -> Result<u8, Failure> {
    let RunArgs { detach, create } = args;
    if create.tty && create.interactive && !detach && !io::stdin().is_terminal() {
        return Err(Failure::new("the input device is not a TTY"));
    }
    let attach = !detach;
    let body = create_body(&create, attach).map_err(|f| f.with_code(EXIT_DAEMON))?;
    let id = create_pulling(api, &body, &create).map_err(|f| f.with_code(EXIT_DAEMON))?;

    if detach {
        start_or_fail(api, &id, create.rm)?;
        println!("{id}");
        return Ok(0);
    }

    let wiring = Wiring {
        tty: create.tty,
        stdin: create.interactive,
    };
    let hijacked = api
        .attach(&id, wiring.stdin)
        .map_err(|e| Failure::from(e).with_code(EXIT_DAEMON))?;
    let condition = if create.rm { "removed" } else { "next-exit" };
    let waiting = api
        .wait(&id, condition)
        .map_err(|e| Failure::from(e).with_code(EXIT_DAEMON))?;

    // Signal handling is set up before any other thread exists: threads inherit the mask.
    let raw = if wiring.tty {
        session::watch_terminal(api.clone(), OwnedTarget::Container(id.clone()));
        if wiring.stdin {
            RawMode::enable()
                .map_err(|e| Failure::new(format!("cannot set the terminal to raw mode: {e}")))?
        } else {
            None
        }
    } else {
        session::forward_signals(api.clone(), id.clone());
        None
    };
    if let Err(failure) = start_or_fail(api, &id, create.rm) {
        drop(raw);
        return Err(failure);
    }
    if wiring.tty {
        // The size sent before start may have reached a terminal that did not exist yet.
        if let Some((rows, cols)) = terminal::size() {
            let _ = api.resize(super::api::Target::Container(&id), rows, cols);
        }
    }

    let ending = session::pump(hijacked, wiring);
    drop(raw);
    match ending {
        Ok(Ending::Detached) => {
            // The terminal was raw: the cursor may be anywhere on the line.
            eprintln!();
            return Ok(0);
        }
        Ok(Ending::Finished) => {}
        Err(e) => return Err(Failure::new(e.to_string())),
    }
    let result = Api::wait_result(waiting).map_err(|e| Failure::from(e).with_code(EXIT_DAEMON))?;
    if let Some(error) = result.error {
        return Err(
            Failure::new(format!("Error response from daemon: {}", error.message))
                .with_code(EXIT_DAEMON),
        );
    }
    Ok(exit_code(result.status_code))
}

/// `berth create`: prints the new container's id.
pub fn create(api: &Api, args: CreateArgs) -> Result<u8, Failure> {
    let body = create_body(&args, false)?;
    let id = create_pulling(api, &body, &args)?;
    println!("{id}");
    Ok(0)
}

/// `berth start [-a [-i]] CONTAINER...`.
pub fn start(
    api: &Api,
    attach: bool,
    interactive: bool,
    containers: &[String],
) -> Result<u8, Failure> {
    if !attach {
        return each(containers, |name| api.start(name).map_err(Failure::from));
    }
    let [name] = containers else {
        return Err(Failure::new(
            "you cannot start and attach multiple containers at once",
        ));
    };
    let inspected = api.inspect_container(name)?;
    let id = inspected["Id"].as_str().unwrap_or(name).to_owned();
    let wiring = Wiring {
        tty: inspected["Config"]["Tty"].as_bool().unwrap_or(false),
        stdin: interactive && inspected["Config"]["OpenStdin"].as_bool().unwrap_or(false),
    };
    let hijacked = api.attach(&id, wiring.stdin)?;
    let auto_remove = inspected["HostConfig"]["AutoRemove"]
        .as_bool()
        .unwrap_or(false);
    let waiting = api.wait(&id, if auto_remove { "removed" } else { "next-exit" })?;
    let raw = if wiring.tty {
        session::watch_terminal(api.clone(), OwnedTarget::Container(id.clone()));
        if wiring.stdin {
            RawMode::enable().map_err(|e| Failure::new(format!("raw mode: {e}")))?
        } else {
            None
        }
    } else {
        session::forward_signals(api.clone(), id.clone());
        None
    };
    api.start(&id)?;
    let ending = session::pump(hijacked, wiring);
    drop(raw);
    match ending.map_err(|e| Failure::new(e.to_string()))? {
        Ending::Detached => Ok(0),
        Ending::Finished => Ok(exit_code(Api::wait_result(waiting)?.status_code)),
    }
}

/// `berth exec`: runs a command in a running container; exits with its exit code.
pub fn exec(api: &Api, args: ExecArgs) -> Result<u8, Failure> {
    if args.tty && args.interactive && !io::stdin().is_terminal() {
        return Err(Failure::new("the input device is not a TTY"));
    }
    let console = if args.tty { terminal::size() } else { None };
    let env = env_list(&args.env);
    let body = json!({
        "User": args.user.clone().unwrap_or_default(),
        "Privileged": false,
        "Tty": args.tty,
        "ConsoleSize": console.map(|(rows, cols)| json!([rows, cols])),
        "AttachStdin": args.interactive && !args.detach,
        "AttachStdout": !args.detach,
        "AttachStderr": !args.detach,
        "Detach": args.detach,
        "Env": env,
        "WorkingDir": args.workdir.clone().unwrap_or_default(),
        "Cmd": args.command,
    });
    let exec_id = api.exec_create(&args.container, &body)?;
    let start = json!({
        "Detach": args.detach,
        "Tty": args.tty,
        "ConsoleSize": console.map(|(rows, cols)| json!([rows, cols])),
    });
    if args.detach {
        api.exec_start_detached(&exec_id, &start)?;
        return Ok(0);
    }
    let wiring = Wiring {
        tty: args.tty,
        stdin: args.interactive,
    };
    let raw = if wiring.tty {
        session::watch_terminal(api.clone(), OwnedTarget::Exec(exec_id.clone()));
        if wiring.stdin {
            RawMode::enable().map_err(|e| Failure::new(format!("raw mode: {e}")))?
        } else {
            None
        }
    } else {
        None
    };
    let hijacked = match api.exec_start(&exec_id, &start) {
        Ok(hijacked) => hijacked,
        // A command that cannot start is refused before the upgrade; its exit code is
        // Docker's: 127 not found, 126 not executable.
        Err(ClientError::NotUpgraded { message, .. }) => {
            drop(raw);
            let code = match start_failure_code(&message) {
                EXIT_DAEMON => 1,
                code => code,
            };
            return Err(
                Failure::new(format!("Error response from daemon: {message}")).with_code(code),
            );
        }
        Err(e) => {
            drop(raw);
            return Err(e.into());
        }
    };
    if wiring.tty
        && let Some((rows, cols)) = terminal::size()
    {
        let _ = api.resize(super::api::Target::Exec(&exec_id), rows, cols);
    }
    let ending = session::pump(hijacked, wiring);
    drop(raw);
    match ending.map_err(|e| Failure::new(e.to_string()))? {
        Ending::Detached => {
            eprintln!();
            Ok(0)
        }
        Ending::Finished => {
            let inspected = api.exec_inspect(&exec_id)?;
            Ok(exit_code(inspected["ExitCode"].as_i64().unwrap_or(0)))
        }
    }
}

/// Creates the container; on "no such image", pulls it (progress on stderr, since stdout is
/// the container's) and creates again.
fn create_pulling(api: &Api, body: &Value, args: &CreateArgs) -> Result<String, Failure> {
    let created = match api.create(body, args.name.as_deref())? {
        Ok(created) => created,
        Err(_not_found) => {
            let reference = images::parse_reference(&args.image)?;
            eprintln!("Unable to find image '{}' locally", reference.familiar());
            images::pull_to(api, &reference, &mut io::stderr())?;
            match api.create(body, args.name.as_deref())? {
                Ok(created) => created,
                Err(message) => {
                    return Err(Failure::from(ClientError::Api {
                        status: 404,
                        message,
                    }));
                }
            }
        }
    };
    print_warnings(&created);
    Ok(created.id)
}

fn print_warnings(created: &Created) {
    for warning in created.warnings.iter().flatten() {
        eprintln!("WARNING: {warning}");
    }
}

/// Starts the container; on failure removes it if `--rm` asked (the daemon never ran it, so
/// auto-removal may not happen) and picks Docker's exit code from the message.
fn start_or_fail(api: &Api, id: &str, remove: bool) -> Result<(), Failure> {
    match api.start(id) {
        Ok(()) => Ok(()),
        Err(ClientError::Api { message, .. }) => {
            if remove {
                let _ = api.remove(id, true);
            }
            let code = start_failure_code(&message);
            Err(Failure::new(format!("Error response from daemon: {message}")).with_code(code))
        }
        Err(e) => Err(Failure::from(e).with_code(EXIT_DAEMON)),
    }
}

/// The body of `POST /containers/create`, as docker 28 fills it for these flags; a flag
/// whose value cannot be read (`-m lots`) is refused before any request.
pub fn create_body(args: &CreateArgs, attach: bool) -> Result<Value, Failure> {
    let stdin = args.interactive && attach;
    let mut exposed = Map::new();
    let mut bindings = Map::new();
    for spec in &args.publish {
        let (host, container) = split_publish(spec);
        let port = if container.contains('/') {
            container.to_owned()
        } else {
            format!("{container}/tcp")
        };
        exposed.insert(port.clone(), json!({}));
        let (host_ip, host_port) = match host.rsplit_once(':') {
            Some((ip, port)) => (ip, port),
            None => ("", host),
        };
        let entry = bindings.entry(port).or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(json!({"HostIp": host_ip, "HostPort": host_port}));
        }
    }
    let console = if args.tty { terminal::size() } else { None };
    let mut body = json!({
        "Image": args.image,
        "Cmd": if args.command.is_empty() { Value::Null } else { json!(args.command) },
        "Entrypoint": args.entrypoint.as_ref().map(|e| json!([e])),
        "Env": env_list(&args.env),
        "WorkingDir": args.workdir.clone().unwrap_or_default(),
        "User": args.user.clone().unwrap_or_default(),
        "Tty": args.tty,
        "OpenStdin": args.interactive,
        "StdinOnce": stdin,
        "AttachStdin": stdin,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "ExposedPorts": exposed,
        "HostConfig": {
            "AutoRemove": args.rm,
            "Binds": args.volumes,
            "PortBindings": bindings,
            "ConsoleSize": console.map_or(json!([0, 0]), |(r, c)| json!([r, c])),
            "NetworkMode": "default",
            "RestartPolicy": {"Name": "no"},
            "LogConfig": {"Type": ""},
        },
    });
    args.confine.apply(&mut body)?;
    for (name, value) in args.limits.fields()? {
        body["HostConfig"][name] = value;
    }
    Ok(body)
}

/// `-p 8080:80` → ("8080", "80"); `-p 127.0.0.1:8080:80/udp` → ("127.0.0.1:8080", "80/udp");
/// `-p 80` → ("", "80") (any free host port).
fn split_publish(spec: &str) -> (&str, &str) {
    match spec.rsplit_once(':') {
        Some((host, container)) => (host, container),
        None => ("", spec),
    }
}

/// `-e` arguments as `K=V` strings; `-e K` takes this shell's value, or is dropped if unset.
fn env_list(pairs: &[String]) -> Vec<String> {
    berth_images::cli::env_args(pairs)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// A container's exit status as a process exit code (the kernel keeps the low 8 bits too).
fn exit_code(status: i64) -> u8 {
    (status & 0xff) as u8
}

/// Does `act` for each container, printing its name on success as Docker does; exit 1 if any
/// failed (after trying them all).
pub fn each(
    names: &[String],
    mut act: impl FnMut(&str) -> Result<(), Failure>,
) -> Result<u8, Failure> {
    let mut code = 0;
    let mut out = io::stdout().lock();
    for name in names {
        match act(name) {
            Ok(()) => {
                let _ = writeln!(out, "{name}");
            }
            Err(failure) => {
                failure.print();
                code = 1;
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::client::{Cli, Command};

    fn run_args(args: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from(["berth", "run"].iter().chain(args.iter())).unwrap();
        let Command::Run(args) = cli.command else {
            unreachable!()
        };
        args
    }

    #[test]
    fn create_body_follows_the_flags() {
        let args = run_args(&[
            "-i",
            "--rm",
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "-u",
            "nobody",
            "--entrypoint",
            "/bin/sh",
            "-p",
            "127.0.0.1:8080:80",
            "-v",
            "/srv:/data:ro",
            "busybox",
            "-c",
            "echo hi",
        ]);
        let body = create_body(&args.create, true).unwrap();
        assert_eq!(body["Image"], "busybox");
        assert_eq!(body["Cmd"], json!(["-c", "echo hi"]));
        assert_eq!(body["Entrypoint"], json!(["/bin/sh"]));
        assert_eq!(body["Env"], json!(["A=1"]));
        assert_eq!(body["WorkingDir"], "/tmp");
        assert_eq!(body["User"], "nobody");
        assert_eq!(body["OpenStdin"], true);
        assert_eq!(body["StdinOnce"], true);
        assert_eq!(body["AttachStdin"], true);
        assert_eq!(body["Tty"], false);
        assert_eq!(body["HostConfig"]["AutoRemove"], true);
        assert_eq!(body["HostConfig"]["Binds"], json!(["/srv:/data:ro"]));
        assert_eq!(body["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(
            body["HostConfig"]["PortBindings"],
            json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]})
        );
    }

    #[test]
    fn defaults_leave_the_image_in_charge() {
        let body = create_body(&run_args(&["busybox"]).create, false).unwrap();
        // null, not [], so that the image's Cmd and Entrypoint apply.
        assert_eq!(body["Cmd"], Value::Null);
        assert_eq!(body["Entrypoint"], Value::Null);
        assert_eq!(body["AttachStdout"], false);
        assert_eq!(body["AttachStdin"], false);
        // `--entrypoint ""` clears the image's entrypoint: [""] is how Docker says so.
        let body = create_body(&run_args(&["--entrypoint", "", "busybox"]).create, true).unwrap();
        assert_eq!(body["Entrypoint"], json!([""]));
    }

    #[test]
    fn security_network_life_and_limit_flags_fill_the_body() {
        let args = run_args(&[
            "--privileged",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--read-only",
            "--tmpfs",
            "/run:size=64m",
            "--device",
            "/dev/fuse",
            "--group-add",
            "audio",
            "--userns",
            "host",
            "--network",
            "backend",
            "-P",
            "--ip",
            "10.1.0.5",
            "--network-alias",
            "db",
            "--restart",
            "on-failure:2",
            "--health-cmd",
            "true",
            "--health-interval",
            "2s",
            "--health-retries",
            "3",
            "-m",
            "64m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "20",
            "busybox",
        ]);
        let body = create_body(&args.create, false).unwrap();
        let host = &body["HostConfig"];
        assert_eq!(host["Privileged"], true);
        assert_eq!(host["CapAdd"], json!(["NET_ADMIN"]));
        assert_eq!(host["CapDrop"], json!(["ALL"]));
        assert_eq!(host["SecurityOpt"], json!(["no-new-privileges"]));
        assert_eq!(host["ReadonlyRootfs"], true);
        assert_eq!(host["Tmpfs"], json!({"/run": "size=64m"}));
        assert_eq!(host["Devices"][0]["PathOnHost"], "/dev/fuse");
        assert_eq!(host["GroupAdd"], json!(["audio"]));
        assert_eq!(host["UsernsMode"], "host");
        assert_eq!(host["NetworkMode"], "backend");
        assert_eq!(host["PublishAllPorts"], true);
        assert_eq!(
            body["NetworkingConfig"]["EndpointsConfig"]["backend"],
            json!({"IPAMConfig": {"IPv4Address": "10.1.0.5"}, "Aliases": ["db"]})
        );
        assert_eq!(
            host["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 2})
        );
        assert_eq!(
            body["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 2_000_000_000u64, "Retries": 3})
        );
        assert_eq!(host["Memory"], 64 * 1024 * 1024);
        assert_eq!(host["NanoCpus"], 500_000_000);
        assert_eq!(host["PidsLimit"], 20);
        // Unset flags leave Docker's defaults.
        let plain = create_body(&run_args(&["busybox"]).create, false).unwrap();
        assert_eq!(plain["HostConfig"]["NetworkMode"], "default");
        assert_eq!(plain["HostConfig"]["CapAdd"], Value::Null);
        assert!(plain.get("Healthcheck").is_none());
        assert!(plain["HostConfig"].get("Memory").is_none());
        // An address needs a network to be on.
        assert!(create_body(&run_args(&["--ip", "10.1.0.5", "busybox"]).create, false).is_err());
    }

    #[test]
    fn exit_codes_keep_the_low_byte() {
        assert_eq!(exit_code(0), 0);
        assert_eq!(exit_code(137), 137);
        assert_eq!(exit_code(256 + 3), 3);
    }
}
