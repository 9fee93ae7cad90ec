//! `ch03`: chapter 2's images, now from and to registries.
//!
//! ```text
//! ch03 [--root DIR] [--registry-mirror URL] [--insecure-registry HOST] [--trace] COMMAND
//!   pull [--platform OS/ARCH] REF     pull an image (docker.io by default, like docker pull)
//!   push REF                          push an image of the store
//!   tag SRC DST                       give an image another name
//!   login [-u USER] [--password-stdin] HOST    check and store credentials
//!   logout HOST                       forget them
//!   run [--rm] [--name N] [-e K=V] ... REF [CMD...]   pull if missing, then run (chapter 2)
//!   images | ps [-a] | rm NAME... | rmi IMAGE... | load -i FILE|DIR   as in chapter 2
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use berth_images::cli::{self, CliError};
use berth_images::reference::Reference;
use berth_images::store::{DEFAULT_ROOT, Removed, Store};
use berth_registry::auth::{CredentialFile, Credentials, credentials_key, prompt};
use berth_registry::client::Registry;
use berth_registry::progress;
use berth_registry::{Platform, PullOptions, RegistryConfig, pull, push};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ch03",
    version,
    about = "Berth chapter 3: pulling from and pushing to a registry"
)]
struct Cli {
    /// The image store's directory.
    #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// daemon.json with registry-mirrors and insecure-registries [default: /etc/berth/daemon.json].
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A mirror of Docker Hub to pull from first (also BERTH_REGISTRY_MIRROR).
    #[arg(long = "registry-mirror", global = true, value_name = "URL")]
    mirrors: Vec<String>,
    /// A registry that may be spoken to over plain HTTP (loopback ones always may).
    #[arg(long = "insecure-registry", global = true, value_name = "HOST:PORT")]
    insecure: Vec<String>,
    /// Print every HTTP request and answer on stderr (also BERTH_TRACE=1).
    #[arg(long, global = true)]
    trace: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pull an image from a registry.
    Pull {
        /// The platform to pick from a multi-platform image, e.g. linux/arm64.
        #[arg(long, value_name = "OS/ARCH")]
        platform: Option<String>,
        reference: String,
    },
    /// Push an image to a registry.
    Push { reference: String },
    /// Give an image another name.
    Tag { source: String, target: String },
    /// Check credentials for a registry and store them.
    Login {
        #[arg(short, long)]
        username: Option<String>,
        /// Read the password from stdin (else it is asked for on the terminal).
        #[arg(long)]
        password_stdin: bool,
        /// The registry, e.g. localhost:5000 [default: Docker Hub].
        host: Option<String>,
    },
    /// Forget the credentials of a registry.
    Logout { host: Option<String> },
    /// Run a command in a new container, pulling the image if it is missing.
    Run {
        /// The platform to pull, if the image must be pulled.
        #[arg(long, value_name = "OS/ARCH")]
        platform: Option<String>,
        #[command(flatten)]
        args: cli::RunArgs,
    },
    /// List images.
    Images,
    /// List containers.
    Ps {
        #[arg(short, long)]
        all: bool,
    },
    /// Remove containers.
    Rm {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove images.
    Rmi {
        /// Remove an image by id even if it has several names.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Import a docker save archive or an OCI layout (chapter 2).
    Load {
        #[arg(short, long)]
        input: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => ExitCode::from(code),
        Err(CliError { message, code }) => {
            eprintln!("ch03: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> Result<u8, CliError> {
    let mut config = RegistryConfig::load(cli.config.as_deref())?;
    config.mirrors.extend(cli.mirrors);
    config.insecure.extend(cli.insecure);
    config.check()?;
    let trace = cli.trace || std::env::var_os("BERTH_TRACE").is_some_and(|v| v != "0");
    match cli.command {
        Command::Login {
            username,
            password_stdin,
            host,
        } => return login(&config, host, username, password_stdin, trace),
        Command::Logout { host } => {
            let host = host.unwrap_or_else(|| "docker.io".into());
            if CredentialFile::for_user().remove(&credentials_key(&host))? {
                println!("Removing login credentials for {host}");
            } else {
                println!("Not logged in to {host}");
            }
            return Ok(0);
        }
        _ => {}
    }
    let store = Store::open(&cli.root)?;
    match cli.command {
        Command::Pull {
            platform,
            reference,
        } => {
            let options = pull_options(platform.as_deref(), trace)?;
            let reference = parse(&reference)?;
            if reference.tag.is_none() && reference.digest.is_none() {
                println!("Using default tag: latest");
            }
            pull(
                &store,
                &config,
                &reference,
                &options,
                progress::for_stdout().as_mut(),
            )?;
            println!("{}", reference.with_default_tag());
        }
        Command::Push { reference } => {
            push(
                &store,
                &config,
                &parse(&reference)?,
                trace,
                progress::for_stdout().as_mut(),
            )?;
        }
        Command::Tag { source, target } => {
            let image = store.resolve(&source)?;
            store.tag(&parse(&target)?, &image.id)?;
        }
        Command::Run { platform, args } => {
            if store.resolve(&args.image).is_err() {
                let reference = parse(&args.image)?;
                eprintln!(
                    "Unable to find image '{}' locally",
                    reference.clone().with_default_tag().familiar()
                );
                let options = pull_options(platform.as_deref(), trace)?;
                let mut shown = progress::Plain::new(std::io::stderr());
                pull(&store, &config, &reference, &options, &mut shown)?;
            }
            return cli::run_foreground(&store, &args.image, &args.options(), args.rm);
        }
        Command::Images => print!("{}", cli::images_table(&store)?),
        Command::Ps { all } => print!("{}", cli::ps_table(&store, all)?),
        Command::Rm { containers } => {
            for key in containers {
                berth_images::container::remove(&store, &key)?;
                println!("{key}");
            }
        }
        Command::Rmi { force, images } => {
            for image in images {
                let user_of = |id: &_| berth_images::container::user_of(&store, id);
                for line in store.remove_image(&image, force, user_of)? {
                    match line {
                        Removed::Untagged(name) => println!("Untagged: {name}"),
                        Removed::Deleted(id) => println!("Deleted: {id}"),
                    }
                }
            }
        }
        Command::Load { input } => {
            for image in berth_images::load::load(&store, &input)? {
                for name in &image.names {
                    println!("Loaded image: {}", name.familiar());
                }
            }
        }
        Command::Login { .. } | Command::Logout { .. } => unreachable!("handled above"),
    }
    Ok(0)
}

fn parse(text: &str) -> Result<Reference, CliError> {
    Ok(Reference::parse(text)?)
}

fn pull_options(platform: Option<&str>, trace: bool) -> Result<PullOptions, CliError> {
    let platform = match platform {
        Some(text) => Platform::parse(text).ok_or_else(|| CliError {
            message: format!(
                "invalid platform {text:?}: expected OS/ARCH[/VARIANT], e.g. linux/arm64"
            ),
            code: 125,
        })?,
        None => Platform::host(),
    };
    Ok(PullOptions { platform, trace })
}

// ANCHOR: login
/// `login`: ask for what is missing, check it against the registry, store it.
fn login(
    config: &RegistryConfig,
    host: Option<String>,
    username: Option<String>,
    password_stdin: bool,
    trace: bool,
) -> Result<u8, CliError> {
    let host = host.unwrap_or_else(|| "docker.io".into());
    let asked = |error: prompt::PromptError| CliError {
        message: error.to_string(),
        code: 1,
    };
    let username = match username {
        Some(name) => name,
        None => prompt::username().map_err(asked)?,
    };
    let password = if password_stdin {
        prompt::password_from_stdin()
    } else {
        prompt::password()
    }
    .map_err(asked)?;
    if username.is_empty() || password.is_empty() {
        return Err(CliError {
            message: "username and password must not be empty".into(),
            code: 1,
        });
    }
    let credentials = Credentials::password(username, password);
    let registry = Registry::connect_as(config, &host, Some(credentials.clone()), trace)?;
    registry.check_login().map_err(|e| CliError {
        message: e.to_string(),
        code: 1,
    })?;
    CredentialFile::for_user().set(&registry.credentials_key(), &credentials)?;
    println!("Login Succeeded");
    Ok(0)
}
// ANCHOR_END: login
