//! `ch08`: volumes, bind mounts and tmpfs on chapter 2's containers, without a daemon.
//!
//! ```text
//! ch08 [--root DIR] load -i FILE|DIR
//! ch08 [--root DIR] volume create [--label K=V] [--opt K=V] [NAME]
//! ch08 [--root DIR] volume ls [-q] [--filter dangling=|name=|label=]
//! ch08 [--root DIR] volume inspect NAME...
//! ch08 [--root DIR] volume rm [-f] NAME...
//! ch08 [--root DIR] volume prune [-a]
//! ch08 [--root DIR] run [-v SRC:DST[:ro]] [--mount ...] [--tmpfs DST[:size=]] [--read-only]
//!                       [--volumes-from CONTAINER[:ro]]
//!                       [--rm] [--name N] IMAGE [CMD...]
//! ch08 [--root DIR] rm [-v] CONTAINER...
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use berth_images::cli::{self, CliError};
use berth_images::container;
use berth_images::load;
use berth_images::store::{DEFAULT_ROOT, Store};
use berth_volumes::attach::{self, ContainerMounts};
use berth_volumes::spec::{self, MountSpec};
use berth_volumes::volume::{self, Volumes};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ch08",
    version,
    about = "Berth chapter 8: volumes, bind mounts and tmpfs"
)]
struct Cli {
    /// The data root (images, containers, volumes).
    #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_ROOT)]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import the images of a `docker save` archive or an OCI image layout.
    Load {
        #[arg(short, long, value_name = "FILE|DIR")]
        input: PathBuf,
    },
    /// Manage volumes.
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Run a command in a new container of IMAGE, with mounts.
    Run(MountRunArgs),
    /// Remove containers that are not running.
    Rm {
        /// Remove their anonymous volumes too.
        #[arg(short, long)]
        volumes: bool,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
}

#[derive(Subcommand)]
enum VolumeCommand {
    /// Create a volume (a random name without NAME).
    Create {
        #[arg(long = "label", value_name = "K=V")]
        labels: Vec<String>,
        #[arg(short, long = "opt", value_name = "K=V")]
        opts: Vec<String>,
        name: Option<String>,
    },
    /// List volumes.
    Ls {
        /// Only names.
        #[arg(short, long)]
        quiet: bool,
        #[arg(short, long = "filter", value_name = "K=V")]
        filters: Vec<String>,
    },
    /// Show volumes as JSON.
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes.
    Rm {
        /// No error for a missing volume.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove unused anonymous volumes (-a: named ones too).
    Prune {
        #[arg(short, long)]
        all: bool,
    },
}

#[derive(clap::Args)]
struct MountRunArgs {
    /// Mount a volume or a host path: [SOURCE:]DESTINATION[:ro|rw|nocopy].
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST")]
    volumes: Vec<String>,
    /// Mount: type=bind|volume|tmpfs,src=,dst=[,readonly].
    #[arg(long = "mount", value_name = "SPEC")]
    mounts: Vec<String>,
    /// Mount the volumes and bind mounts of another container: CONTAINER[:ro|rw].
    #[arg(long = "volumes-from", value_name = "CONTAINER")]
    volumes_from: Vec<String>,
    /// Mount a tmpfs: DESTINATION[:size=64m,mode=1777].
    #[arg(long = "tmpfs", value_name = "DST")]
    tmpfs: Vec<String>,
    /// Make the container's root filesystem read-only (its mounts stay as asked).
    #[arg(long)]
    read_only: bool,
    #[command(flatten)]
    run: cli::RunArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(CliError { message, code }) => {
            eprintln!("ch08: {message}");
            ExitCode::from(code)
        }
    }
}

fn pairs(flag: &str, items: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None if flag == "--label" => Ok((item.clone(), String::new())),
            None => Err(CliError::from(format!(
                "invalid {flag} {item:?}: expected K=V"
            ))),
        })
        .collect()
}

fn run(cli: Cli) -> Result<u8, CliError> {
    let store = Store::open(&cli.root)?;
    let volumes = Volumes::open(&cli.root)?;
    let containers_dir = store.containers_dir();
    let users = |name: &str| attach::users(&containers_dir, name);
    match cli.command {
        Command::Load { input } => {
            for image in load::load(&store, &input)? {
                for name in &image.names {
                    println!("Loaded image: {}", name.familiar());
                }
            }
        }
        Command::Volume(command) => volume_command(&volumes, command, &users)?,
        Command::Run(args) => return run_container(&store, &volumes, &args),
        Command::Rm {
            volumes: with_volumes,
            containers,
        } => {
            for key in containers {
                let record = container::find(&store, &key)?;
                let mounts = ContainerMounts::load(&record.dir(&store))?;
                container::remove(&store, &record.id)?;
                if with_volumes {
                    mounts.remove_anonymous(&volumes, &containers_dir);
                }
                println!("{key}");
            }
        }
    }
    Ok(0)
}

fn volume_command(
    volumes: &Volumes,
    command: VolumeCommand,
    users: &dyn Fn(&str) -> Vec<String>,
) -> Result<(), CliError> {
    match command {
        VolumeCommand::Create { labels, opts, name } => {
            let labels = pairs("--label", &labels)?;
            let volume = volumes.create(name.as_deref(), labels, pairs("--opt", &opts)?)?;
            println!("{}", volume.name);
        }
        VolumeCommand::Ls { quiet, filters } => {
            let mut rows = vec![["DRIVER".to_owned(), "VOLUME NAME".to_owned()]];
            for volume in volumes.list()? {
                let in_use = !users(&volume.name).is_empty();
                let mut keep = true;
                for filter in &filters {
                    keep &= volume::matches_filter(&volume, in_use, filter)?;
                }
                if keep {
                    rows.push([volume.driver.clone(), volume.name.clone()]);
                }
            }
            if quiet {
                rows.iter().skip(1).for_each(|[_, name]| println!("{name}"));
            } else {
                print!("{}", cli::table(&rows));
            }
        }
        VolumeCommand::Inspect { names } => {
            let found = names
                .iter()
                .map(|n| volumes.get(n))
                .collect::<Result<Vec<_>, _>>()?;
            let json = serde_json::to_string_pretty(&found).map_err(CliError::from)?;
            println!("{json}");
        }
        VolumeCommand::Rm { force, names } => {
            for name in names {
                volumes.remove(&name, &users(&name), force)?;
                println!("{name}");
            }
        }
        VolumeCommand::Prune { all } => {
            let (removed, freed) = volumes.prune(all, users)?;
            if !removed.is_empty() {
                println!("Deleted Volumes:");
                removed.iter().for_each(|name| println!("{name}"));
                println!();
            }
            println!(
                "Total reclaimed space: {}",
                berth_images::text::human_size(freed)
            );
        }
    }
    Ok(())
}

fn specs(store: &Store, args: &MountRunArgs) -> Result<Vec<MountSpec>, CliError> {
    let mut specs = Vec::new();
    for value in &args.volumes_from {
        let (key, readonly) = spec::parse_volumes_from(value)?;
        let other = container::find(store, &key)?;
        specs.extend(ContainerMounts::load(&other.dir(store))?.inherited(readonly));
    }
    for value in &args.volumes {
        specs.push(spec::parse_volume_flag(value)?);
    }
    for value in &args.mounts {
        specs.push(spec::parse_mount_flag(value)?);
    }
    for value in &args.tmpfs {
        specs.push(spec::parse_tmpfs_flag(value)?);
    }
    Ok(specs)
}

// ANCHOR: run
/// `run` with mounts: the flags are checked first, then this chapter decides the mounts
/// (volumes made), chapter 2 makes the container with the list in its record's `"mounts"`
/// slot, new volumes are filled with the image's files, and the mounts become child steps of
/// its start.
fn run_container(store: &Store, volumes: &Volumes, args: &MountRunArgs) -> Result<u8, CliError> {
    let specs = specs(store, args)?; // Refused before anything exists.
    let image = store.resolve(&args.run.image)?;
    let image_volumes = attach::image_volumes(&store.read_blob(&image.id)?);
    let mounts = ContainerMounts::create(volumes, &specs, &image_volumes, args.read_only)?;
    let mut slots = std::collections::BTreeMap::new();
    if mounts != ContainerMounts::default() {
        slots.insert(attach::SLOT.to_owned(), mounts.slot());
    }
    let created = container::create_with_slots(store, &args.run.image, &args.run.options(), slots);
    let (record, mut config) = match created {
        Ok(created) => created,
        Err(error) => {
            mounts.undo(volumes);
            return Err(error.into());
        }
    };
    let made = match &config.rootfs_mount {
        Some(rootfs) => mounts.populate(volumes, rootfs, None),
        None => Ok(()),
    }
    .and_then(|()| mounts.add_steps(volumes, &mut config));
    if let Err(error) = made {
        let _ = container::remove(store, &record.id);
        mounts.undo(volumes);
        return Err(error.into());
    }
    // Run it as `ch02 run` does; with `--rm`, its anonymous volumes go with it.
    let result = cli::run_created(store, &record, &config);
    if args.run.rm {
        container::remove(store, &record.id)?;
        mounts.remove_anonymous(volumes, &store.containers_dir());
    }
    result.map(|code| code as u8)
}
// ANCHOR_END: run
