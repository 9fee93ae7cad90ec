//! `ch06`: chapter 1's `run`, locked down with Docker's default profile, and chapter 5's
//! device allowlist (a cgroup of its own, `berth-ch06/<id>`, removed when the container ends).
//!
//! ```text
//! ch06 run --rootfs DIR [--cap-add CAP]... [--cap-drop CAP]... [--security-opt OPT]...
//!          [--privileged] [--read-only] [--init] [--hostname NAME] [-e K=V]... [-w DIR] -- CMD [ARG...]
//! ch06 bpf [--security-opt seccomp=PATH] [--cap-add CAP]...   # print the compiled filter
//! ```
//!
//! Exit codes are chapter 1's: the command's own, or 125 / 126 / 127 as Docker's.

use std::path::PathBuf;
use std::process::ExitCode;

use berth_cgroups::{Cgroup, DeviceSettings, Layout};
use berth_namespaces::signals::{self, BlockedSignals};
use berth_namespaces::{ContainerConfig, start};
use berth_security::seccomp::bpf;
use berth_security::{SecurityError, SecurityOptions};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ch06",
    version,
    about = "Berth chapter 6: a container locked down"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run CMD in its own namespaces with DIR as its root, under the default profile.
    Run(RunArgs),
    /// Print the seccomp filter a container would get, instruction by instruction.
    Bpf(SecurityArgs),
}

#[derive(clap::Args)]
struct SecurityArgs {
    /// Add a capability to Docker's 14 (`NET_ADMIN`, `CAP_NET_ADMIN`, `ALL`).
    #[arg(long, value_name = "CAP")]
    cap_add: Vec<String>,
    /// Drop a capability (`ALL` drops every one).
    #[arg(long, value_name = "CAP")]
    cap_drop: Vec<String>,
    /// `seccomp=unconfined`, `seccomp=PROFILE.json`, `no-new-privileges`,
    /// `systempaths=unconfined`.
    #[arg(long, value_name = "OPT")]
    security_opt: Vec<String>,
    /// Every capability, no seccomp filter, no masked paths: chapter 1's container.
    #[arg(long)]
    privileged: bool,
    /// Mount the root filesystem read-only.
    #[arg(long)]
    read_only: bool,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The directory that becomes the container's `/`.
    #[arg(long, value_name = "DIR")]
    rootfs: PathBuf,
    #[command(flatten)]
    security: SecurityArgs,
    /// The container's hostname.
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// Run a tiny init as PID 1 (`docker run --init`).
    #[arg(long)]
    init: bool,
    /// Set an environment variable.
    #[arg(short, long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// The working directory inside the container.
    #[arg(short, long, value_name = "DIR", default_value = "/")]
    workdir: PathBuf,
    /// The command to run and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

fn options(args: SecurityArgs) -> Result<SecurityOptions, SecurityError> {
    let mut options = SecurityOptions {
        privileged: args.privileged,
        cap_add: args.cap_add,
        cap_drop: args.cap_drop,
        read_only: args.read_only,
        ..Default::default()
    };
    for opt in &args.security_opt {
        options.security_opt(opt)?;
    }
    Ok(options)
}

// ANCHOR: run
/// Chapter 1's `run`, with the profile's steps added to the start.
fn run(args: RunArgs) -> Result<u8, (String, u8)> {
    let fail = |e: &dyn std::fmt::Display| (e.to_string(), 125);
    let mut config = ContainerConfig::new(args.rootfs, args.command);
    if let Some(hostname) = args.hostname {
        config = config.with_hostname(hostname);
    }
    config.init = args.init;
    config.workdir = args.workdir;
    for pair in &args.env {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        config.set_env(key, value);
    }
    let options = options(args.security).map_err(|e| fail(&e))?;
    options.add_steps(&mut config.steps).map_err(|e| fail(&e))?;
    config.validate().map_err(|e| fail(&e))?;
    // Chapter 5's device allowlist, the profile's fourth layer: any node may be made, only
    // Docker's few devices opened. In a cgroup of its own, removed when the container ends
    // (also when the start fails: dropping it removes it).
    let layout = Layout::detect().map_err(|e| fail(&e))?;
    let cgroup = Cgroup::create(&layout, CGROUP_PARENT, &config.hostname).map_err(|e| fail(&e))?;
    let devices = DeviceSettings {
        privileged: options.privileged,
        ..DeviceSettings::default()
    };
    let allowlist = devices.allowlist().map_err(|e| fail(&e))?;
    cgroup.apply_devices(&allowlist).map_err(|e| fail(&e))?;
    config.steps.add_parent(cgroup.join_step());
    let blocked = BlockedSignals::block().map_err(|e| fail(&e))?;
    let container = start(&config).map_err(|e| (e.to_string(), e.exit_code() as u8))?;
    let status = signals::forward_until_exit(&container, &blocked).map_err(|e| fail(&e))?;
    cgroup.remove().map_err(|e| fail(&e))?;
    berth_cgroups::cgroup::remove_parent_if_empty(&layout, CGROUP_PARENT);
    Ok(status.code() as u8)
}

/// The cgroup under which each `ch06` container gets its own, for the device allowlist.
const CGROUP_PARENT: &str = "berth-ch06";
// ANCHOR_END: run

fn print_bpf(args: SecurityArgs) -> Result<u8, (String, u8)> {
    let fail = |e: &dyn std::fmt::Display| (e.to_string(), 125);
    let options = options(args).map_err(|e| fail(&e))?;
    let Some(profile) = options.seccomp.profile().map_err(|e| fail(&e))? else {
        return Ok(0); // unconfined: no program
    };
    let caps = options.capabilities().map_err(|e| fail(&e))?;
    let rules = profile.resolve(caps).map_err(|e| fail(&e))?;
    let default = profile.default().map_err(|e| fail(&e))?;
    let program = bpf::compile(&rules, default).map_err(|e| fail(&e))?;
    print!("{}", bpf::disassemble(&program));
    Ok(0)
}

fn main() -> ExitCode {
    // A container's first process is a clone of ch06 until its exec: it must not be a way to
    // the file on the host. (`--init`'s PID 1 is chapter 1's own small program, bound read-only.)
    if let Err(error) = berth_security::exe::seal_self() {
        eprintln!("ch06: {error}");
        return ExitCode::FAILURE;
    }
    let result = match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::Bpf(args) => print_bpf(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err((message, code)) => {
            eprintln!("ch06: {message}");
            ExitCode::from(code)
        }
    }
}
