//! `ch01`: run a command in its own namespaces, inside a root filesystem directory.
//!
//! ```text
//! ch01 run --rootfs DIR [--hostname NAME] [--rootless] [--init] [--user UID[:GID]] [--env K=V]... [--workdir DIR] -- CMD [ARG...]
//! ```
//!
//! The container's exit status becomes ours (128 + N when a signal killed it); SIGINT and
//! SIGTERM are forwarded to its PID 1. Errors are one line on stderr, with Docker's exit codes:
//! 125 when the container could not be set up, 126 when the command cannot be executed, 127
//! when it does not exist.

use std::path::PathBuf;
use std::process::ExitCode;

use berth_namespaces::namespaces::{IdMap, IdMaps};
use berth_namespaces::signals::{self, BlockedSignals};
use berth_namespaces::{ContainerConfig, User, start};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ch01",
    version,
    about = "Berth chapter 1: a process in its own namespaces"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run CMD in new PID, mount, UTS, IPC and network namespaces, with DIR as its root.
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// The directory that becomes the container's `/`.
    #[arg(long, value_name = "DIR")]
    rootfs: PathBuf,
    /// The container's hostname [default: a random 12-digit hex id].
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// Use a user namespace mapping your uid and gid to root: no real root needed.
    /// Implied when you are not root.
    #[arg(long)]
    rootless: bool,
    /// As root: map container uids INSIDE.. to host uids OUTSIDE.. (COUNT of them) in a user
    /// namespace, so the container's root is not the host's (as Docker's userns-remap; repeat
    /// for more lines). Needs --gid-map too.
    #[arg(long = "uid-map", value_name = "INSIDE:OUTSIDE:COUNT")]
    uid_map: Vec<String>,
    /// As root: the group ids' map, as --uid-map.
    #[arg(long = "gid-map", value_name = "INSIDE:OUTSIDE:COUNT")]
    gid_map: Vec<String>,
    /// Set an environment variable; `K` alone passes on this shell's value, as Docker does.
    #[arg(short, long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Run a tiny init as PID 1 that forwards signals to CMD and reaps orphaned zombies,
    /// as `docker run --init` does. CMD then runs as PID 2.
    #[arg(long)]
    init: bool,
    /// Run CMD as this user: numeric UID or UID:GID, as `docker run --user` (names come with
    /// images, in chapter 2).
    #[arg(short, long, value_name = "UID[:GID]")]
    user: Option<String>,
    /// The working directory inside the container (absolute; created if missing).
    #[arg(short, long, value_name = "DIR", default_value = "/")]
    workdir: PathBuf,
    /// The command to run and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let Cli {
        command: Command::Run(args),
    } = Cli::parse();
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err((message, code)) => {
            eprintln!("ch01: {message}");
            ExitCode::from(code)
        }
    }
}

// ANCHOR: run
/// Runs the container in the foreground; the error carries the exit code to use.
fn run(args: RunArgs) -> Result<u8, (String, u8)> {
    let config = config_from(args).map_err(|message| (message, 125))?;
    // Block the signals we forward before the child exists, so none is missed.
    let blocked = BlockedSignals::block().map_err(|e| (format!("blocking signals: {e}"), 125))?;
    let container = start(&config).map_err(|e| (e.to_string(), e.exit_code() as u8))?;
    let status = signals::forward_until_exit(&container, &blocked)
        .map_err(|e| (format!("waiting for the container: {e}"), 125))?;
    Ok(status.code() as u8)
}
// ANCHOR_END: run

fn config_from(args: RunArgs) -> Result<ContainerConfig, String> {
    let mut config = ContainerConfig::new(args.rootfs, args.command);
    if let Some(hostname) = args.hostname {
        config = config.with_hostname(hostname);
    }
    config.rootless |= args.rootless;
    if !args.uid_map.is_empty() || !args.gid_map.is_empty() {
        config.id_maps = Some(IdMaps {
            uid: parse_map("--uid-map", &args.uid_map)?,
            gid: parse_map("--gid-map", &args.gid_map)?,
        });
    }
    config.init = args.init;
    if let Some(user) = args.user {
        config.user = Some(parse_user(&user)?);
    }
    config.workdir = args.workdir;
    for pair in args.env {
        match pair.split_once('=') {
            Some((key, value)) => config.set_env(key, value),
            // `-e NAME`: take the value from our own environment, or leave it out if unset.
            None => {
                if let Ok(value) = std::env::var(&pair) {
                    config.set_env(&pair, &value);
                }
            }
        }
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// Each `INSIDE:OUTSIDE:COUNT` of one flag, as one line of the map.
fn parse_map(flag: &str, lines: &[String]) -> Result<Vec<IdMap>, String> {
    lines
        .iter()
        .map(|text| {
            let bad = || format!("{flag} {text:?}: expected INSIDE:OUTSIDE:COUNT as numbers");
            let numbers: Vec<u32> = text
                .split(':')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map_err(|_| bad())?;
            match numbers[..] {
                [inside, outside, count] => Ok(IdMap {
                    inside,
                    outside,
                    count,
                }),
                _ => Err(bad()),
            }
        })
        .collect()
}

/// `UID` or `UID:GID`, numbers only; the group defaults to the uid, as Docker's does when
/// the image has no `/etc/passwd` entry for it.
fn parse_user(text: &str) -> Result<User, String> {
    let number = |part: &str| {
        part.parse::<u32>()
            .map_err(|_| format!("--user {text:?}: expected UID or UID:GID as numbers"))
    };
    let (uid, gid) = match text.split_once(':') {
        Some((uid, gid)) => (number(uid)?, number(gid)?),
        None => (number(text)?, number(text)?),
    };
    Ok(User {
        uid,
        gid,
        groups: vec![gid],
    })
}
