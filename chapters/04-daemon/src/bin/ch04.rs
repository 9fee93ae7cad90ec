//! `ch04`: the daemon, and a thin client that talks to it over a UNIX socket.
//!
//! ```text
//! ch04 daemon [--root DIR] [--socket PATH] [--group G] [--registry-mirror URL] ...
//! ch04 [-H unix://PATH] run [-d] [--rm] [--name N] [-e K=V] [-u U] [-w DIR] IMAGE [CMD...]
//! ch04 [-H unix://PATH] ps [-a] | logs [-f] C | stop [-t S] C... | kill [-s SIG] C...
//!                      | rm [-f] C... | pull REF | images | rmi [-f] IMAGE...
//! ```
//!
//! The client does nothing itself: every verb is one or a few HTTP requests, which
//! `curl --unix-socket` can send just the same (see the book).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use berth_daemon::api::{self, Daemon};
use berth_daemon::engine::{Engine, ExecLauncher, Extensions};
use berth_daemon::http::{
    Client, ClientError, ClientRequest, Host, Server, ServerOptions, SocketGroup,
};
use berth_images::store::DEFAULT_ROOT;
use berth_registry::RegistryConfig;
use clap::{Parser, Subcommand};
use nix::sys::signal::{SigSet, Signal};
use serde_json::{Value, json};

/// Where the chapter's daemon listens by default.
const DEFAULT_SOCKET: &str = "/run/berth-ch04.sock";

#[derive(Parser)]
#[command(
    name = "ch04",
    version,
    about = "Berth chapter 4: a daemon, and a client for it"
)]
struct Cli {
    /// The daemon to talk to.
    /// (also BERTH_HOST)
    #[arg(short = 'H', long, global = true, value_name = "unix://PATH")]
    host: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Daemon {
        #[arg(long, default_value = DEFAULT_ROOT)]
        root: PathBuf,
        #[arg(long, default_value = DEFAULT_SOCKET)]
        socket: PathBuf,
        /// Let this group use the socket too (by default only root may).
        #[arg(long)]
        group: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long = "registry-mirror")]
        mirrors: Vec<String>,
        #[arg(long = "insecure-registry")]
        insecure: Vec<String>,
    },
    /// (internal) Watch one container for the daemon: see the engine's monitor module.
    #[command(hide = true)]
    Monitor {
        root: String,
        id: String,
        /// How many attach sessions to wait for before the container runs.
        attachers: String,
    },
    /// Run a command in a new container.
    Run {
        /// Run in the background and print the container's id.
        #[arg(short, long)]
        detach: bool,
        #[arg(long)]
        rm: bool,
        #[arg(long)]
        name: Option<String>,
        #[arg(short, long = "env")]
        env: Vec<String>,
        #[arg(short, long)]
        user: Option<String>,
        #[arg(short, long)]
        workdir: Option<String>,
        image: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// List containers.
    Ps {
        #[arg(short, long)]
        all: bool,
    },
    /// Show a container's output.
    Logs {
        #[arg(short, long)]
        follow: bool,
        #[arg(short, long)]
        timestamps: bool,
        #[arg(long)]
        tail: Option<String>,
        container: String,
    },
    /// Stop containers: SIGTERM, then SIGKILL after the grace period.
    Stop {
        #[arg(short, long, default_value_t = 10)]
        time: u64,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Send a signal to containers.
    Kill {
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers.
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Pull an image.
    Pull { reference: String },
    /// List images.
    Images,
    /// Remove images.
    Rmi {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        images: Vec<String>,
    },
}

/// A message and the exit code to leave with.
struct Failure(String, u8);

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        Failure(error.to_string(), 1)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Monitor {
            root,
            id,
            attachers,
        } => {
            let code = berth_daemon::engine::monitor::main(&[root, id, attachers], &extensions());
            return ExitCode::from(u8::try_from(code).unwrap_or(1));
        }
        Command::Daemon {
            root,
            socket,
            group,
            config,
            mirrors,
            insecure,
        } => daemon(root, socket, group, config, mirrors, insecure),
        command => {
            let host = cli
                .host
                .or_else(|| std::env::var("BERTH_HOST").ok())
                .unwrap_or_else(|| format!("unix://{DEFAULT_SOCKET}"));
            match host.parse::<Host>() {
                Ok(host) => client(Client::for_host(&host), command),
                Err(e) => Err(Failure(e.to_string(), 125)),
            }
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure(message, code)) => {
            eprintln!("ch04: {message}");
            ExitCode::from(code)
        }
    }
}

/// What later chapters add to every container: none yet. The daemon and its monitors (this
/// same binary, `ch04 monitor`) must build the same list.
fn extensions() -> Extensions {
    Vec::new()
}

// ANCHOR: daemon
/// The daemon: open the engine (adopting containers a previous daemon left running), serve
/// the API until SIGINT or SIGTERM, then stop serving. Containers keep running: their
/// monitors do not depend on us.
fn daemon(
    root: PathBuf,
    socket: PathBuf,
    group: Option<String>,
    config: Option<PathBuf>,
    mirrors: Vec<String>,
    insecure: Vec<String>,
) -> Result<u8, Failure> {
    let fail = |e: &dyn std::fmt::Display| Failure(e.to_string(), 1);
    let mut registries = RegistryConfig::load(config.as_deref()).map_err(|e| fail(&e))?;
    registries.mirrors.extend(mirrors);
    registries.insecure.extend(insecure);
    registries.check().map_err(|e| fail(&e))?;

    // Block the signals we wait for before any thread exists, so every thread inherits it.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().map_err(|e| fail(&e))?;

    // One daemon per store, whatever its socket: two would both think they own the
    // containers. The lock goes with the process, also on kill -9.
    std::fs::create_dir_all(root.join("locks")).map_err(|e| fail(&e))?;
    let lock_path = root.join("locks/daemon");
    let lock_file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| fail(&e))?;
    let _store_lock =
        nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(
            |_| {
                Failure(
                    format!(
                        "another daemon is already using the store {}",
                        root.display()
                    ),
                    1,
                )
            },
        )?;

    let program = std::env::current_exe().map_err(|e| fail(&e))?;
    let launcher = Box::new(ExecLauncher::new(program));
    let engine = Engine::open(&root, launcher, extensions()).map_err(|e| fail(&e))?;
    let options = ServerOptions {
        socket_group: group.map(|g| match g.parse::<u32>() {
            Ok(gid) => SocketGroup::Gid(gid),
            Err(_) => SocketGroup::Name(g),
        }),
        ..ServerOptions::default()
    };
    let server = Server::bind(&socket, options).map_err(|e| fail(&e))?;
    let handle = server
        .spawn(api::router(Arc::new(Daemon { engine, registries })))
        .map_err(|e| fail(&e))?;
    eprintln!(
        "ch04 daemon: serving on unix://{} (store {})",
        socket.display(),
        root.display()
    );
    let signal = signals.wait().map_err(|e| fail(&e))?;
    eprintln!("ch04 daemon: {signal}: shutting down; containers keep running");
    handle.shutdown();
    Ok(0)
}
// ANCHOR_END: daemon

fn api_error(response: berth_daemon::http::ClientResponse) -> Failure {
    let status = response.status();
    let message = response
        .json::<Value>()
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("status {status}"));
    Failure(format!("Error response from daemon: {message}"), 1)
}

fn client(client: Client, command: Command) -> Result<u8, Failure> {
    match command {
        Command::Run {
            detach,
            rm,
            name,
            env,
            user,
            workdir,
            image,
            command,
        } => run(
            &client, detach, rm, name, env, user, workdir, image, command,
        ),
        Command::Ps { all } => {
            let list: Vec<Value> = client
                .send(
                    &ClientRequest::get("/containers/json")
                        .query("all", if all { "1" } else { "0" }),
                )?
                .error_for_status()?
                .json()?;
            let mut rows =
                vec![["CONTAINER ID", "IMAGE", "COMMAND", "STATUS", "NAMES"].map(String::from)];
            for c in list {
                let id = c["Id"].as_str().unwrap_or_default();
                let mut command = c["Command"].as_str().unwrap_or_default().to_owned();
                if command.chars().count() > 20 {
                    command = command.chars().take(19).collect::<String>() + "…";
                }
                rows.push([
                    id.chars().take(12).collect(),
                    c["Image"].as_str().unwrap_or_default().to_owned(),
                    format!("\"{command}\""),
                    c["Status"].as_str().unwrap_or_default().to_owned(),
                    c["Names"][0]
                        .as_str()
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_owned(),
                ]);
            }
            print!("{}", berth_images::cli::table(&rows));
            Ok(0)
        }
        Command::Logs {
            follow,
            timestamps,
            tail,
            container,
        } => {
            let mut request = ClientRequest::get(&format!("/containers/{container}/logs"))
                .query("follow", if follow { "1" } else { "0" })
                .query("timestamps", if timestamps { "1" } else { "0" });
            if let Some(tail) = tail {
                request = request.query("tail", tail);
            }
            let response = client.send(&request)?;
            if response.status() != 200 {
                return Err(api_error(response));
            }
            demux(response.into_body())?;
            Ok(0)
        }
        Command::Stop { time, containers } => each(&containers, |c| {
            let response = client.send(
                &ClientRequest::post(&format!("/containers/{c}/stop")).query("t", time.to_string()),
            )?;
            if response.status() >= 400 {
                return Err(api_error(response));
            }
            Ok(())
        }),
        Command::Kill { signal, containers } => each(&containers, |c| {
            let response = client.send(
                &ClientRequest::post(&format!("/containers/{c}/kill"))
                    .query("signal", signal.clone()),
            )?;
            if response.status() >= 400 {
                return Err(api_error(response));
            }
            Ok(())
        }),
        Command::Rm { force, containers } => each(&containers, |c| {
            let response = client.send(
                &ClientRequest::delete(&format!("/containers/{c}"))
                    .query("force", if force { "1" } else { "0" }),
            )?;
            if response.status() >= 400 {
                return Err(api_error(response));
            }
            Ok(())
        }),
        Command::Pull { reference } => {
            pull(&client, &reference, &mut std::io::stdout()).map(|()| 0)
        }
        Command::Images => {
            let list: Vec<Value> = client
                .send(&ClientRequest::get("/images/json"))?
                .error_for_status()?
                .json()?;
            let mut rows = vec![["REPOSITORY", "TAG", "IMAGE ID", "SIZE"].map(String::from)];
            for image in list {
                let id = image["Id"].as_str().unwrap_or_default();
                let id = id
                    .trim_start_matches("sha256:")
                    .chars()
                    .take(12)
                    .collect::<String>();
                let size = berth_images::text::human_size(image["Size"].as_u64().unwrap_or(0));
                for tag in image["RepoTags"].as_array().into_iter().flatten() {
                    let tag = tag.as_str().unwrap_or_default();
                    let (repo, tag) = tag.rsplit_once(':').unwrap_or((tag, "<none>"));
                    rows.push([repo.to_owned(), tag.to_owned(), id.clone(), size.clone()]);
                }
            }
            print!("{}", berth_images::cli::table(&rows));
            Ok(0)
        }
        Command::Rmi { force, images } => each_quietly(&images, false, |image| {
            let response = client.send(
                &ClientRequest::delete(&format!("/images/{image}"))
                    .query("force", if force { "1" } else { "0" }),
            )?;
            if response.status() >= 400 {
                return Err(api_error(response));
            }
            for line in response.json::<Vec<Value>>()? {
                if let Some(name) = line["Untagged"].as_str() {
                    println!("Untagged: {name}");
                }
                if let Some(id) = line["Deleted"].as_str() {
                    println!("Deleted: {id}");
                }
            }
            Ok(())
        })
        .map(|code| if code == 0 { 0 } else { 1 }),
        Command::Daemon { .. } | Command::Monitor { .. } => unreachable!("handled in main"),
    }
}

/// Does `act` for each name, printing it on success (as Docker does); 1 if any failed.
fn each(names: &[String], act: impl FnMut(&str) -> Result<(), Failure>) -> Result<u8, Failure> {
    each_quietly(names, true, act)
}

/// [`each`], printing the names only if `echo`.
fn each_quietly(
    names: &[String],
    echo: bool,
    mut act: impl FnMut(&str) -> Result<(), Failure>,
) -> Result<u8, Failure> {
    let mut code = 0;
    for name in names {
        match act(name) {
            Ok(()) if echo => println!("{name}"),
            Ok(()) => {}
            Err(Failure(message, _)) => {
                eprintln!("ch04: {message}");
                code = 1;
            }
        }
    }
    Ok(code)
}

/// Prints a pull's progress messages as `docker pull` does off a terminal: on stdout for
/// `pull`, on stderr for `run` (whose stdout is the container's).
fn pull(client: &Client, reference: &str, out: &mut dyn Write) -> Result<(), Failure> {
    let response =
        client.send(&ClientRequest::post("/images/create").query("fromImage", reference))?;
    if response.status() != 200 {
        return Err(api_error(response));
    }
    for message in response.json_stream::<Value>() {
        let message = message?;
        if let Some(error) = message["error"].as_str() {
            return Err(Failure(error.to_owned(), 1));
        }
        let status = message["status"].as_str().unwrap_or_default();
        if status == "Downloading" {
            continue;
        }
        let _ = match message["id"].as_str() {
            Some(id) => writeln!(out, "{id}: {status}"),
            None => writeln!(out, "{status}"),
        };
    }
    Ok(())
}

// ANCHOR: demux
/// Splits Docker's framed stream into our stdout and stderr.
fn demux(mut body: impl Read) -> Result<(), Failure> {
    let mut header = [0u8; 8];
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    loop {
        match body.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(Failure(format!("reading the logs: {e}"), 1)),
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut data = vec![0u8; len];
        body.read_exact(&mut data)
            .map_err(|e| Failure(format!("reading the logs: {e}"), 1))?;
        let _ = match header[0] {
            2 => err.write_all(&data).and_then(|()| err.flush()),
            _ => out.write_all(&data).and_then(|()| out.flush()),
        };
    }
}
// ANCHOR_END: demux

// ANCHOR: run
/// `run`: create (pulling the image if the daemon lacks it), start, then either print the id
/// (`-d`) or follow the logs and wait for the exit code, as `docker run` does.
#[allow(clippy::too_many_arguments)]
fn run(
    client: &Client,
    detach: bool,
    rm: bool,
    name: Option<String>,
    env: Vec<String>,
    user: Option<String>,
    workdir: Option<String>,
    image: String,
    command: Vec<String>,
) -> Result<u8, Failure> {
    let env: Vec<String> = berth_images::cli::env_args(&env)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let body = json!({
        "Image": image,
        "Cmd": if command.is_empty() { Value::Null } else { json!(command) },
        "Env": env,
        "User": user,
        "WorkingDir": workdir,
    });
    let mut create = ClientRequest::post("/containers/create")
        .json(&body)
        .map_err(Failure::from)?;
    if let Some(name) = &name {
        create = create.query("name", name.clone());
    }
    let mut response = client.send(&create)?;
    if response.status() == 404 {
        eprintln!("Unable to find image '{image}' locally");
        pull(client, &image, &mut std::io::stderr())?;
        response = client.send(&create)?;
    }
    if response.status() != 201 {
        return Err(Failure(api_error(response).0, 125));
    }
    let id = response.json::<Value>()?["Id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let started = client.send(&ClientRequest::post(&format!("/containers/{id}/start")))?;
    if started.status() >= 400 {
        let error: Value = started.json().unwrap_or_default();
        let code = error["ExitCode"].as_i64().unwrap_or(125) as u8;
        let message = error["message"]
            .as_str()
            .unwrap_or("start failed")
            .to_owned();
        if rm {
            let _ = client
                .send(&ClientRequest::delete(&format!("/containers/{id}")).query("force", "1"));
        }
        return Err(Failure(
            format!("Error response from daemon: {message}"),
            code,
        ));
    }
    if detach {
        println!("{id}");
        return Ok(0);
    }

    // Ctrl-C and `kill` reach the container, not just this client.
    forward_signals(client.clone(), id.clone());
    let logs =
        client.send(&ClientRequest::get(&format!("/containers/{id}/logs")).query("follow", "1"))?;
    demux(logs.into_body())?;
    let waited: Value = client
        .send(&ClientRequest::post(&format!("/containers/{id}/wait")))?
        .error_for_status()?
        .json()?;
    if rm {
        let _ =
            client.send(&ClientRequest::delete(&format!("/containers/{id}")).query("force", "1"));
    }
    Ok(waited["StatusCode"].as_i64().unwrap_or(125) as u8)
}
// ANCHOR_END: run

/// A thread that turns SIGINT and SIGTERM to this client into `kill` requests.
fn forward_signals(client: Client, id: String) {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    if set.thread_block().is_err() {
        return;
    }
    std::thread::spawn(move || {
        while let Ok(signal) = set.wait() {
            let name = signal.as_str().trim_start_matches("SIG").to_owned();
            let _ = client.send(
                &ClientRequest::post(&format!("/containers/{id}/kill")).query("signal", name),
            );
        }
    });
}
