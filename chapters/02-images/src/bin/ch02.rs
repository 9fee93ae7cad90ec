//! `ch02`: images as layers, a content-addressed store, containers on overlayfs.
//!
//! ```text
//! ch02 [--root DIR] load -i FILE|DIR       import a docker save archive or an OCI layout
//! ch02 [--root DIR] save -o FILE IMAGE...  export images as a docker save archive
//! ch02 [--root DIR] images                 list images
//! ch02 [--root DIR] run [--rm] [--name N] [-e K=V] [-u USER] [-w DIR] [--init] IMAGE [CMD...]
//! ch02 [--root DIR] ps [-a]                list containers
//! ch02 [--root DIR] rm NAME...             remove containers
//! ch02 [--root DIR] rmi IMAGE...           remove images (layers other images use stay)
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use berth_images::cli::{self, CliError};
use berth_images::container;
use berth_images::load;
use berth_images::save::SavePlan;
use berth_images::store::{DEFAULT_ROOT, Removed, Store};
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
    /// Write images to a `docker save` archive.
    Save {
        /// The archive to write (replaced only once it is complete).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// List images.
    Images,
    /// Run a command in a new container of IMAGE.
    Run(cli::RunArgs),
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
        /// Remove an image by id even if it has several names.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(CliError { message, code }) => {
            eprintln!("ch02: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> Result<u8, CliError> {
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
        Command::Save { output, images } => {
            let plan = SavePlan::resolve(&store, &images)?;
            // Written beside its final name and renamed: an interrupted save leaves no
            // half archive under the name.
            let dir = match output.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => std::path::Path::new("."),
            };
            let file = tempfile::NamedTempFile::new_in(dir)?;
            plan.write(&store, std::io::BufWriter::new(file.as_file()))?;
            file.persist(&output)?;
        }
        Command::Images => print!("{}", cli::images_table(&store)?),
        Command::Run(args) => {
            return cli::run_foreground(&store, &args.image, &args.options(), args.rm);
        }
        Command::Ps { all } => print!("{}", cli::ps_table(&store, all)?),
        Command::Rm { containers } => {
            for key in containers {
                container::remove(&store, &key)?;
                println!("{key}");
            }
        }
        Command::Rmi { force, images } => {
            for image in images {
                let removed =
                    store.remove_image(&image, force, |id| container::user_of(&store, id))?;
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
