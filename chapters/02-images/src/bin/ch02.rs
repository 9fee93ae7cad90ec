//! `ch02`: images as layers, a content-addressed store, containers on overlayfs.
//!
//! ```text
//! ch02 [--root DIR] load -i FILE|DIR       import a docker save archive or an OCI layout
//! ch02 [--root DIR] images                 list images
//! ch02 [--root DIR] run [--rm] [--name N] [-e K=V] [-u USER] [-w DIR] [--init] IMAGE [CMD...]
//! ch02 [--root DIR] ps [-a]                list containers
//! ch02 [--root DIR] rm NAME...             remove containers
//! ch02 [--root DIR] rmi IMAGE...           remove images (layers other images use stay)
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use berth_images::container::{self, RunOptions};
use berth_images::load;
use berth_images::store::{DEFAULT_ROOT, Removed, Store};
use berth_images::text::{human_duration, human_size};
use berth_namespaces::signals::{self, BlockedSignals};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ch02",
    version,
    about = "Berth chapter 2: layered images on an overlay filesystem"
)]
struct Cli {
    /// The image store's directory.
    #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_ROOT)]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import the images of a `docker save` archive or an OCI image layout (dir or tar).
    Load {
        /// The archive or layout.
        #[arg(short, long, value_name = "FILE|DIR")]
        input: PathBuf,
    },
    /// List images.
    Images,
    /// Run a command in a new container of IMAGE.
    Run(RunArgs),
    /// List containers (running ones; -a for all).
    Ps {
        /// Show all containers, not just running ones.
        #[arg(short, long)]
        all: bool,
    },
    /// Remove containers that are not running.
    Rm {
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Remove images; layers still used by other images stay.
    Rmi {
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Name the container.
    #[arg(long)]
    name: Option<String>,
    /// Set an environment variable (`K` alone takes this shell's value).
    #[arg(short, long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Run as this user (name or uid, with an optional :group).
    #[arg(short, long, value_name = "USER[:GROUP]")]
    user: Option<String>,
    /// The working directory inside the container.
    #[arg(short, long, value_name = "DIR")]
    workdir: Option<String>,
    /// Run a tiny init as PID 1 (see chapter 1).
    #[arg(long)]
    init: bool,
    /// The image: a name such as busybox or busybox:latest, or an image id.
    image: String,
    /// The command, replacing the image's Cmd.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// An error for the user, with the exit code to leave with.
struct Failure(String, u8);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure(error.to_string(), 125)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(Failure(message, code)) => {
            eprintln!("ch02: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> Result<u8, Failure> {
    let store = Store::open(&cli.root)?;
    match cli.command {
        Command::Load { input } => {
            for image in load::load(&store, &input)? {
                if image.names.is_empty() {
                    println!("Loaded image ID: {}", image.id);
                }
                for name in &image.names {
                    println!("Loaded image: {}", name.familiar());
                }
            }
        }
        Command::Images => images(&store)?,
        Command::Run(args) => return run_container(&store, args),
        Command::Ps { all } => ps(&store, all)?,
        Command::Rm { containers } => {
            for key in containers {
                container::remove(&store, &key)?;
                println!("{key}");
            }
        }
        Command::Rmi { images } => {
            for image in images {
                let removed = store.remove_image(&image, |id| container::user_of(&store, id))?;
                for line in removed {
                    match line {
                        Removed::Untagged(name) => println!("Untagged: {name}"),
                        Removed::Deleted(id) => println!("Deleted: {id}"),
                    }
                }
            }
        }
    }
    Ok(0)
}

fn images(store: &Store) -> Result<(), Failure> {
    let mut rows = vec![["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"].map(String::from)];
    for image in store.images()? {
        let created = image
            .record
            .created
            .as_deref()
            .and_then(berth_images::text::parse_rfc3339)
            .map_or_else(
                || "N/A".to_owned(),
                |t| format!("{} ago", human_duration(t)),
            );
        let size = human_size(image.record.size);
        let id = image.record.id.hex()[..12].to_owned();
        if image.names.is_empty() {
            rows.push(["<none>".into(), "<none>".into(), id, created, size]);
            continue;
        }
        for name in &image.names {
            let tag = name.tag.clone().unwrap_or_else(|| "<none>".into());
            let row = [
                name.familiar_repository(),
                tag,
                id.clone(),
                created.clone(),
                size.clone(),
            ];
            rows.push(row);
        }
    }
    print_table(&rows);
    Ok(())
}

fn ps(store: &Store, all: bool) -> Result<(), Failure> {
    let header = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "NAMES",
    ];
    let mut rows = vec![header.map(String::from)];
    for c in container::list(store)? {
        let running = c.is_running();
        if !all && !running {
            continue;
        }
        let status = match (running, c.exit_code) {
            (true, _) => "Up".to_owned(),
            (false, Some(code)) => format!("Exited ({code})"),
            (false, None) => "Created".to_owned(),
        };
        let mut command = c.command.join(" ");
        if command.len() > 20 {
            command.truncate(19);
            command.push('…');
        }
        let created = format!("{} ago", human_duration(c.created));
        rows.push([
            c.id[..12].to_owned(),
            c.image_name,
            format!("\"{command}\""),
            created,
            status,
            c.name,
        ]);
    }
    print_table(&rows);
    Ok(())
}

// ANCHOR: run
/// `run`: create the container, start it with chapter 1's runtime, wait, clean up.
fn run_container(store: &Store, args: RunArgs) -> Result<u8, Failure> {
    let mut env = Vec::new();
    for pair in &args.env {
        match pair.split_once('=') {
            Some((k, v)) => env.push((k.to_owned(), v.to_owned())),
            None => {
                if let Ok(v) = std::env::var(pair) {
                    env.push((pair.clone(), v));
                }
            }
        }
    }
    let options = RunOptions {
        name: args.name,
        cmd: args.command,
        env,
        user: args.user,
        workdir: args.workdir,
        init: args.init,
    };
    let (mut record, config) = container::create(store, &args.image, &options)?;
    let blocked = BlockedSignals::block()?;
    let outcome =
        berth_namespaces::start(&config).map_err(|e| Failure(e.to_string(), e.exit_code() as u8));
    let code = match outcome {
        Ok(running) => {
            record.pid = Some(running.pid().as_raw());
            record.save(store)?;
            let status = signals::forward_until_exit(&running, &blocked)?;
            status.code()
        }
        Err(failure) => {
            // The container exists but never ran; `--rm` still removes it.
            if args.rm {
                container::remove(store, &record.id)?;
            }
            return Err(failure);
        }
    };
    record.exit_code = Some(code);
    if args.rm {
        container::remove(store, &record.id)?;
    } else {
        record.save(store)?;
    }
    Ok(code as u8)
}
// ANCHOR_END: run

/// Prints rows in columns, as Docker's tables.
fn print_table<const N: usize>(rows: &[[String; N]]) {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        println!("{}", line.trim_end());
    }
}
