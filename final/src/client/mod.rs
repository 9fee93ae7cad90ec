//! # `berth`, the client
//!
//! `docker` is a thin program: every verb is a few HTTP requests to the daemon, and everything
//! that matters happens there. `berth` is the same: it speaks the Docker Engine API, so it
//! works against `berthd` and against a real `dockerd`. What the client itself owns is the
//! user's side of the conversation:
//!
//! * which daemon to call ([`connect`]: `-H`, `BERTH_HOST`, `DOCKER_HOST`);
//! * the order of requests, which Docker's own CLI fixed and daemons rely on ([`run`]: create,
//!   pull on 404, attach, wait, start, resize);
//! * the terminal ([`terminal`]: raw mode restored on every exit path, window size, the
//!   Ctrl-P Ctrl-Q detach keys) and the byte streams ([`session`], [`stream`]);
//! * what the user sees ([`format`](mod@format) for tables and `--format json`, [`progress`] for pull and
//!   push bars) and the exit codes scripts test.
//!
//! The other verbs are one or two requests each, grouped by what they handle: [`manage`]
//! (rename, top, diff, wait, pause, update, port), [`archive`] (cp, export, save, load,
//! import: tar streams both ways), [`history`], [`prune`] (the prunes and `system df`) and
//! [`events`]. `run`'s and `create`'s flags beyond the basics are [`security`]'s and
//! [`limits`]'s.
//!
//! This file holds the command line itself: clap's definitions of every verb and flag, then
//! [`main`], which dispatches them.

pub mod api;
pub mod archive;
pub mod auth;
pub mod completions;
pub mod connect;
pub mod containers;
pub mod error;
pub mod events;
pub mod filters;
pub mod format;
pub mod history;
pub mod images;
pub mod limits;
pub mod manage;
pub mod progress;
pub mod prune;
pub mod run;
pub mod security;
pub mod session;
pub mod stats;
pub mod stream;
pub mod system;
pub mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub use error::Failure;

/// The command line of `berth`.
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "Berth: a container engine client that speaks the Docker Engine API",
    after_help = "The daemon is chosen by -H, else BERTH_HOST, else DOCKER_HOST, \
                  else unix:///run/berth.sock."
)]
pub struct Cli {
    /// Which daemon to talk to (several may run): unix:///path or tcp://host:port.
    /// Without it: BERTH_HOST, then DOCKER_HOST, then unix:///run/berth.sock.
    #[arg(short = 'H', long, global = true, value_name = "URL")]
    pub host: Option<String>,
    /// TLS options for tcp:// hosts.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// The verb.
    #[command(subcommand)]
    pub command: Command,
}

/// Docker's TLS flags for a `tcp://` daemon.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// Use TLS, verifying the daemon's certificate (berth has no unverified TLS).
    #[arg(long, global = true)]
    pub tls: bool,
    /// Use TLS: verify the daemon against --tlscacert, present --tlscert and --tlskey.
    /// (also DOCKER_TLS_VERIFY=1)
    #[arg(long, global = true)]
    pub tlsverify: bool,
    /// The CA that signed the daemon's certificate (default $DOCKER_CERT_PATH/ca.pem, else
    /// ~/.docker/ca.pem).
    #[arg(long, global = true, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// This client's certificate (default ~/.docker/cert.pem).
    #[arg(long, global = true, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// This client's private key (default ~/.docker/key.pem).
    #[arg(long, global = true, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
}

/// Every verb `berth` knows.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and start a container, then attach to it (or print its id with -d).
    Run(RunArgs),
    /// Create a container without starting it; prints its id.
    Create(CreateArgs),
    /// Start stopped containers.
    Start {
        /// Attach to the container's output and wait for its exit code.
        #[arg(short, long)]
        attach: bool,
        /// Attach stdin too.
        #[arg(short, long)]
        interactive: bool,
        /// The containers (only one with -a).
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// List containers.
    Ps {
        /// Show all containers (running ones only by default).
        #[arg(short, long)]
        all: bool,
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
        /// `table` (default) or `json` (one JSON array, the daemon's objects).
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
    },
    /// Print a container's output.
    Logs {
        /// Keep printing until the container stops.
        #[arg(short, long)]
        follow: bool,
        /// Prefix each line with its time.
        #[arg(short, long)]
        timestamps: bool,
        /// Only the last N lines (or `all`).
        #[arg(short = 'n', long, value_name = "N")]
        tail: Option<String>,
        /// Only output since this time: unix seconds, RFC 3339, or a duration (`10m`, `1h30m`).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// The container.
        container: String,
    },
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// Stop containers: their stop signal, then SIGKILL after the grace period.
    Stop {
        /// Seconds to wait before killing.
        #[arg(short = 't', long = "time", alias = "timeout", value_name = "SECONDS")]
        time: Option<u32>,
        /// The containers.
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Send a signal to containers (SIGKILL by default).
    Kill {
        /// The signal: a name (`TERM`, `SIGHUP`) or a number.
        #[arg(short, long, value_name = "SIGNAL")]
        signal: Option<String>,
        /// The containers.
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Remove containers.
    Rm {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        /// The containers.
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// List images.
    Images {
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
        /// `table` (default) or `json`.
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
    },
    /// Download an image from a registry.
    Pull {
        /// Print only the image's full name at the end, no progress.
        #[arg(short, long)]
        quiet: bool,
        /// The image, e.g. `busybox`, `localhost:5000/team/app:1.0`.
        image: String,
    },
    /// Upload an image to a registry.
    Push {
        /// The image, named for its registry: `localhost:5000/team/app:1.0`.
        image: String,
    },
    /// Give an image another name.
    Tag {
        /// The image as it is named now.
        source: String,
        /// The new name.
        target: String,
    },
    /// Remove images.
    Rmi {
        /// Remove even if containers use it, and untag all its names.
        #[arg(short, long)]
        force: bool,
        /// The images.
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Show what running containers use: CPU, memory, block IO, processes.
    Stats {
        /// Print one reading and exit (the default redraws every second).
        #[arg(long)]
        no_stream: bool,
        /// The containers (default: every running one).
        #[arg(value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Give a container a new name.
    Rename {
        /// The container.
        container: String,
        /// Its new name.
        name: String,
    },
    /// Show the processes running in a container.
    Top {
        /// The container.
        container: String,
        /// Options for `ps` (default `-ef`).
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "PS OPTIONS"
        )]
        ps_args: Vec<String>,
    },
    /// Show the files a container added (A), changed (C) and deleted (D).
    Diff {
        /// The container.
        container: String,
    },
    /// Wait until containers stop, then print their exit codes.
    Wait {
        /// The containers.
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Freeze every process of containers.
    Pause {
        /// The containers.
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Thaw paused containers.
    Unpause {
        /// The containers.
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Change containers' resource limits and restart policy.
    Update(manage::UpdateArgs),
    /// List a container's published ports, or the host address of one.
    Port {
        /// The container.
        container: String,
        /// A private port: `80` or `80/udp`.
        #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
        port: Option<String>,
    },
    /// Copy files between a container and the host (`-` is a tar on stdin or stdout).
    Cp(archive::CpArgs),
    /// Write a container's filesystem as a tar archive.
    Export {
        /// Write to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The container.
        container: String,
    },
    /// Write images to a tar archive (Docker's format, loadable by `docker load`).
    Save {
        /// Write to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The images.
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Load images from a tar archive (`docker save`'s or an OCI layout's).
    Load {
        /// Read from this file instead of stdin.
        #[arg(short, long, value_name = "FILE")]
        input: Option<PathBuf>,
        /// Print no progress.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Make an image from a tar of a root filesystem.
    Import(archive::ImportArgs),
    /// Show the steps an image was built from.
    History {
        /// Do not cut the CREATED BY column.
        #[arg(long)]
        no_trunc: bool,
        /// The image.
        image: String,
    },
    /// Show the daemon's events as they happen (or a past span with --since/--until).
    Events(events::EventsArgs),
    /// Manage containers (`prune`).
    #[command(subcommand)]
    Container(prune::ContainerCommand),
    /// Manage images (`prune`, `history`).
    #[command(subcommand)]
    Image(prune::ImageCommand),
    /// Disk usage and pruning (`df`, `prune`).
    #[command(subcommand)]
    System(prune::SystemCommand),
    /// Show containers or images as JSON (an array, as docker does).
    Inspect {
        /// `json` (the default) is the only format.
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
        /// Names or ids of containers or images.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
    /// Store credentials for a registry (in ~/.config/berth/config.json).
    Login {
        /// The user name.
        #[arg(short, long)]
        username: Option<String>,
        /// The password (prefer --password-stdin: arguments are visible in `ps`).
        #[arg(short, long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from stdin.
        #[arg(long)]
        password_stdin: bool,
        /// The registry (Docker Hub by default).
        server: Option<String>,
    },
    /// Forget the credentials for a registry.
    Logout {
        /// The registry (Docker Hub by default).
        server: Option<String>,
    },
    /// Show the client's and the daemon's versions.
    Version {
        /// `table` (default) or `json`.
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
    },
    /// Show what the daemon knows about itself and the host.
    Info {
        /// `table` (default) or `json`.
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
    },
    /// Print a shell completion script: `source <(berth completion bash)`.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Check that this host can run everything in the book.
    Doctor {
        /// Also check that this registry (HOST:PORT) answers.
        #[arg(long, value_name = "HOST:PORT")]
        registry: Option<String>,
    },
}

/// What `create` and `run` share: how the container is made.
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// Keep stdin open and attach it.
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the container a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Set an environment variable: `K=V`, or `K` to pass this shell's value.
    #[arg(short, long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// The working directory inside the container.
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// The user (a name, or `uid[:gid]`) inside the container.
    #[arg(short, long)]
    pub user: Option<String>,
    /// A name for the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Override the image's entrypoint (`""` clears it).
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Bind a host path or a named volume: `/host:/ctr[:ro]`, `name:/ctr`.
    #[arg(short, long = "volume", value_name = "SRC:DST")]
    pub volumes: Vec<String>,
    /// Publish a port: `[ip:]host:container[/proto]`.
    #[arg(short, long = "publish", value_name = "PORTS")]
    pub publish: Vec<String>,
    /// Privileges, networking, restart and health flags.
    #[command(flatten)]
    pub confine: security::ConfineArgs,
    /// Resource limits.
    #[command(flatten)]
    pub limits: limits::LimitArgs,
    /// The image.
    pub image: String,
    /// The command and its arguments (the image's default without).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `run`'s flags: `create`'s plus detaching.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Run in the background and print the container's id.
    #[arg(short, long)]
    pub detach: bool,
    /// How to make the container.
    #[command(flatten)]
    pub create: CreateArgs,
}

/// `exec`'s flags.
#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// Keep stdin open and attach it.
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the command a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Start the command and return at once.
    #[arg(short, long)]
    pub detach: bool,
    /// Set an environment variable.
    #[arg(short, long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// The working directory.
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// The user.
    #[arg(short, long)]
    pub user: Option<String>,
    /// The container.
    pub container: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Runs `berth` with this process's arguments and returns its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(failure) => {
            failure.print();
            failure.code
        }
    };
    ExitCode::from(code)
}

/// Runs one parsed command line.
pub fn dispatch(cli: Cli) -> Result<u8, Failure> {
    // Verbs that need no daemon first, so they work with none running.
    match &cli.command {
        Command::Completion { shell } => {
            completions::print(*shell, &mut std::io::stdout());
            return Ok(0);
        }
        Command::Doctor { registry } => return system::doctor(registry.as_deref()),
        Command::Logout { server } => return auth::logout(server.as_deref()),
        _ => {}
    }
    let api = connect::api(cli.host.as_deref(), &cli.tls)?;
    match cli.command {
        Command::Run(args) => run::run(&api, args),
        Command::Create(args) => run::create(&api, args),
        Command::Start {
            attach,
            interactive,
            containers,
        } => run::start(&api, attach, interactive, &containers),
        Command::Ps { all, quiet, format } => containers::ps(&api, all, quiet, format.as_deref()),
        Command::Logs {
            follow,
            timestamps,
            tail,
            since,
            container,
        } => containers::logs(
            &api,
            &container,
            containers::LogOptions {
                follow,
                timestamps,
                tail,
                since,
            },
        ),
        Command::Exec(args) => run::exec(&api, args),
        Command::Stop { time, containers } => containers::stop(&api, time, &containers),
        Command::Kill { signal, containers } => {
            containers::kill(&api, signal.as_deref(), &containers)
        }
        Command::Rm { force, containers } => containers::remove(&api, force, &containers),
        Command::Images { quiet, format } => images::list(&api, quiet, format.as_deref()),
        Command::Pull { quiet, image } => images::pull(&api, &image, quiet),
        Command::Push { image } => images::push(&api, &image),
        Command::Tag { source, target } => images::tag(&api, &source, &target),
        Command::Rmi { force, images } => images::remove(&api, force, &images),
        Command::Stats {
            no_stream,
            containers,
        } => stats::stats(&api, no_stream, &containers),
        Command::Inspect { format, names } => containers::inspect(&api, format.as_deref(), &names),
        Command::Login {
            username,
            password,
            password_stdin,
            server,
        } => auth::login(&api, username, password, password_stdin, server),
        Command::Version { format } => system::version(&api, format.as_deref()),
        Command::Info { format } => system::info(&api, format.as_deref()),
        Command::Rename { container, name } => manage::rename(&api, &container, &name),
        Command::Top { container, ps_args } => manage::top(&api, &container, &ps_args),
        Command::Diff { container } => manage::diff(&api, &container),
        Command::Wait { containers } => manage::wait(&api, &containers),
        Command::Pause { containers } => manage::pause(&api, &containers),
        Command::Unpause { containers } => manage::unpause(&api, &containers),
        Command::Update(args) => manage::update(&api, &args),
        Command::Port { container, port } => manage::port(&api, &container, port.as_deref()),
        Command::Cp(args) => archive::cp(&api, &args),
        Command::Export { output, container } => {
            archive::export(&api, &container, output.as_deref())
        }
        Command::Save { output, images } => archive::save(&api, &images, output.as_deref()),
        Command::Load { input, quiet } => archive::load(&api, input.as_deref(), quiet),
        Command::Import(args) => archive::import(&api, &args),
        Command::History { no_trunc, image }
        | Command::Image(prune::ImageCommand::History { no_trunc, image }) => {
            history::history(&api, &image, no_trunc)
        }
        Command::Events(args) => events::events(&api, &args),
        Command::Container(prune::ContainerCommand::Prune(args)) => prune::containers(&api, &args),
        Command::Image(prune::ImageCommand::Prune { all, prune }) => {
            prune::images(&api, all, &prune)
        }
        Command::System(prune::SystemCommand::Df) => prune::df(&api),
        Command::System(prune::SystemCommand::Prune { all, prune }) => {
            prune::system(&api, all, &prune)
        }
        Command::Completion { .. } | Command::Doctor { .. } | Command::Logout { .. } => {
            unreachable!("answered before connecting")
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("berth").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_flags_stop_at_the_image() {
        let cli = parse(&[
            "run", "-it", "--rm", "-e", "A=1", "busybox", "sh", "-c", "ls -l",
        ]);
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert!(args.create.interactive && args.create.tty && args.create.rm);
        assert!(!args.detach);
        assert_eq!(args.create.env, ["A=1"]);
        assert_eq!(args.create.image, "busybox");
        // `-c` belongs to the container's command, not to berth.
        assert_eq!(args.create.command, ["sh", "-c", "ls -l"]);
    }

    #[test]
    fn host_is_global() {
        let cli = parse(&["ps", "-a", "-H", "unix:///tmp/x.sock"]);
        assert_eq!(cli.host.as_deref(), Some("unix:///tmp/x.sock"));
        let cli = parse(&["-H", "unix:///tmp/y.sock", "images", "-q"]);
        assert_eq!(cli.host.as_deref(), Some("unix:///tmp/y.sock"));
    }

    #[test]
    fn exec_needs_a_command_and_keeps_its_flags() {
        assert!(Cli::try_parse_from(["berth", "exec", "web"]).is_err());
        let cli = parse(&["exec", "-it", "-u", "1000", "web", "ls", "-la"]);
        let Command::Exec(args) = cli.command else {
            panic!("not exec")
        };
        assert_eq!(args.user.as_deref(), Some("1000"));
        assert_eq!(args.command, ["ls", "-la"]);
    }

    #[test]
    fn login_password_flags_conflict() {
        assert!(
            Cli::try_parse_from(["berth", "login", "-p", "x", "--password-stdin", "h:5000"])
                .is_err()
        );
        let cli = parse(&["login", "-u", "alice", "--password-stdin", "localhost:5000"]);
        assert!(matches!(
            cli.command,
            Command::Login { password_stdin: true, server: Some(ref s), .. } if s == "localhost:5000"
        ));
    }

    #[test]
    fn stop_and_kill_take_docker_flags() {
        let cli = parse(&["stop", "-t", "3", "a", "b"]);
        assert!(
            matches!(cli.command, Command::Stop { time: Some(3), ref containers } if containers.len() == 2)
        );
        let cli = parse(&["kill", "-s", "HUP", "a"]);
        assert!(matches!(cli.command, Command::Kill { signal: Some(ref s), .. } if s == "HUP"));
    }
}
