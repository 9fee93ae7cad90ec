//! `ch07`: networks on chapter 2's containers, without a daemon.
//!
//! ```text
//! ch07 [--root DIR] [--bip SUBNET] load -i FILE|DIR
//! ch07 [--root DIR] [--bip SUBNET] network create [--subnet S] [--gateway IP] [--internal]
//!                                                 [--label K=V] NAME
//! ch07 [--root DIR] [--bip SUBNET] network ls | inspect NAME... | rm NAME...
//! ch07 [--root DIR] [--bip SUBNET] run [--network none|host|bridge|NAME|container:NAME]
//!                                      [--ip IP] [--alias NAME] [-p SPEC]... [--rm] [--name N]
//!                                      IMAGE [CMD...]
//! ch07 [--root DIR] [--bip SUBNET] rm CONTAINER...
//! ```
//!
//! It changes the network namespace it runs in (a bridge, veths, `ip_forward`): run it in a
//! namespace of your own, `ip netns add lab; ip netns exec lab ch07 ...`, as the book does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use berth_daemon::engine::Extension;
use berth_images::cli::{self, CliError};
use berth_images::container;
use berth_images::load;
use berth_images::store::{DEFAULT_ROOT, Store};
use berth_network::engine::{EndpointSettings, Mode, NetworkExtension, SLOT, Settings};
use berth_network::ipam::{self, Subnet};
use berth_network::network::{DefaultBridge, NetworkOptions};
use berth_network::ports;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ch07",
    version,
    about = "Berth chapter 7: networks - a bridge, veth pairs, addresses"
)]
struct Cli {
    /// The data root (images, containers, networks).
    #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// The default bridge's address and prefix, as dockerd's --bip; taken when the store has
    /// no container on the default network yet.
    #[arg(
        long,
        global = true,
        value_name = "IP/PREFIX",
        default_value = "172.17.0.1/16"
    )]
    bip: String,
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
    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Run a command in a new container of IMAGE, on a network.
    Run(NetRunArgs),
    /// Remove containers that are not running (and free their addresses).
    Rm {
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
}

#[derive(Subcommand)]
enum NetworkCommand {
    /// Create a user-defined bridge network.
    Create {
        #[arg(long)]
        subnet: Option<Subnet>,
        #[arg(long)]
        gateway: Option<std::net::Ipv4Addr>,
        /// No route out of the network.
        #[arg(long)]
        internal: bool,
        #[arg(long = "label", value_name = "K=V")]
        labels: Vec<String>,
        name: String,
    },
    /// List networks.
    Ls,
    /// Show networks as JSON.
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks (and their bridges).
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(clap::Args)]
struct NetRunArgs {
    /// none, host, bridge (the default), a network's name, or container:NAME.
    #[arg(long, default_value = "default")]
    network: String,
    /// The container's address on its network.
    #[arg(long)]
    ip: Option<String>,
    /// Another name of the container on its network.
    #[arg(long = "alias")]
    aliases: Vec<String>,
    /// Publish a port: `[IP:][HOST[-END]:]CONTAINER[-END][/tcp|udp]`.
    #[arg(short = 'p', long = "publish", value_name = "SPEC")]
    publish: Vec<String>,
    #[command(flatten)]
    run: cli::RunArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(CliError { message, code }) => {
            eprintln!("ch07: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> Result<u8, CliError> {
    let store = Store::open(&cli.root)?;
    let default = DefaultBridge::from_bip(&cli.bip)?;
    let extension = NetworkExtension::for_store(&cli.root, Some(default));
    match cli.command {
        Command::Load { input } => {
            for image in load::load(&store, &input)? {
                for name in &image.names {
                    println!("Loaded image: {}", name.familiar());
                }
            }
        }
        Command::Network(command) => network_command(&extension, command)?,
        Command::Run(args) => return run_container(&store, &extension, &args),
        Command::Rm { containers } => {
            for key in containers {
                let record = container::find(&store, &key)?;
                container::remove(&store, &record.id)?;
                extension.release(&record.id)?;
                println!("{key}");
            }
        }
    }
    Ok(0)
}

fn network_command(extension: &NetworkExtension, command: NetworkCommand) -> Result<(), CliError> {
    let networks = extension.networks()?;
    match command {
        NetworkCommand::Create {
            subnet,
            gateway,
            internal,
            labels,
            name,
        } => {
            let labels: BTreeMap<String, String> = labels
                .iter()
                .map(|l| match l.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (l.clone(), String::new()),
                })
                .collect();
            let network = networks.create(&NetworkOptions {
                name,
                subnet,
                gateway,
                internal,
                labels,
            })?;
            println!("{}", network.id);
        }
        NetworkCommand::Ls => {
            let mut rows = vec![["NETWORK ID", "NAME", "DRIVER", "SUBNET"].map(String::from)];
            for n in networks.list()? {
                let subnet = n.subnet.map(|s| s.to_string()).unwrap_or_default();
                rows.push([
                    n.id[..12].to_owned(),
                    n.name,
                    n.driver.as_str().into(),
                    subnet,
                ]);
            }
            print!("{}", cli::table(&rows));
        }
        NetworkCommand::Inspect { names } => {
            let found = names
                .iter()
                .map(|n| networks.find(n))
                .collect::<Result<Vec<_>, _>>()?;
            let json = serde_json::to_string_pretty(&found).map_err(CliError::from)?;
            println!("{json}");
        }
        NetworkCommand::Rm { names } => {
            for name in names {
                extension.remove_network(&name)?;
                println!("{name}");
            }
        }
    }
    Ok(())
}

// ANCHOR: run
/// `run` on a network: the flags are checked first (the network must exist), then chapter 2
/// makes the container with its `"network"` slot, and the extension does what the engine's
/// daemon and monitor would: prepare (address, bridge, files), configure (the veth step and
/// the binds), and, once the container is removed, release.
fn run_container(
    store: &Store,
    extension: &NetworkExtension,
    args: &NetRunArgs,
) -> Result<u8, CliError> {
    let (mode, network) = Mode::parse(&args.network);
    let ip = args.ip.as_deref().map(ipam::parse_address).transpose()?;
    let mut settings = Settings {
        mode,
        ..Settings::default()
    };
    for spec in &args.publish {
        let mappings = ports::parse_publish(spec)?;
        settings.ports.extend(mappings);
    }
    // `--ip` and `--alias` without `--network` are for the default network, which refuses them.
    if network.is_some() || ip.is_some() || !args.aliases.is_empty() {
        settings.endpoints.push(EndpointSettings {
            network: network.unwrap_or_else(|| "bridge".to_owned()),
            ip,
            aliases: args.aliases.clone(),
        });
    }
    extension.check(&settings)?;
    let mut slots = BTreeMap::new();
    if !settings.is_empty() {
        slots.insert(SLOT.to_owned(), serde_json::to_value(&settings)?);
    }
    let options = args.run.options();
    let (record, mut config) =
        container::create_with_slots(store, &args.run.image, &options, slots)?;
    let dir = record.dir(store);
    let prepared = extension
        .prepare(&record, &dir)
        .and_then(|()| extension.configure(&record, &mut config));
    if let Err(error) = prepared {
        let _ = container::remove(store, &record.id);
        let _ = extension.release(&record.id);
        return Err(error.into());
    }
    let result = cli::run_created(store, &record, &config);
    if args.run.rm {
        container::remove(store, &record.id)?;
        extension.release(&record.id)?;
    }
    result.map(|code| code as u8)
}
// ANCHOR_END: run
