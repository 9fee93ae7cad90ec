//! `berthd`, the Berth daemon: the Docker Engine API over a UNIX socket (and TCP with TLS).
//!
//! Start-up, in order, each step for a reason:
//!
//! 1. berthd re-executes itself from a sealed, read-only view of its binary (chapter 6's
//!    `exe.rs`): every process it clones into a container (`docker exec`'s, and a container's
//!    first process until its `execve`) then has that view as `/proc/self/exe`, never the
//!    host's writable file (CVE-2019-5736). The zygote and monitors run `/proc/self/exe`, the same view.
//! 2. `berthd monitor ...` is not the daemon at all: the engine runs berthd itself as the
//!    small process that watches one container (so a container outlives a daemon restart),
//!    and as the zygote that forks those (`berthd monitor --zygote ROOT`).
//! 3. Every descriptor it inherited from 3 up is marked close-on-exec (chapter 1's `fds.rs`):
//!    none of them reaches a process berthd runs. berthd takes no descriptor from its
//!    parent (no systemd socket activation), so it keeps none.
//! 4. SIGTERM and SIGINT are blocked *before any thread exists*, so every thread inherits the
//!    mask and the main thread alone receives them, with `sigwait`, at a point of its choosing.
//! 5. The daemon becomes a child subreaper: orphans of its containers' monitors are reparented
//!    to it rather than to PID 1, which on these machines reaps lazily.
//! 6. One daemon per data root: an exclusive lock on `<data-root>/berthd.lock`.
//! 7. Settings (flags + `daemon.json`), the init program `--init` runs (`init-path`, else
//!    `berth-init` next to berthd), the store, the engine, then the listeners.
//!
//! On SIGTERM or SIGINT the daemon stops accepting, gives in-flight requests a moment to
//! finish, and exits **without stopping containers**: they run on under their monitors, and the
//! next berthd adopts them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use berth::api::{self, Api, Daemon};
use berth::config::{Flags, Settings};
use berth::engine::Engine;
use berth_daemon::http::{Acceptor, Host, Server, ServerHandle, ServerOptions};
use berth_daemon::lock::LockError;
use berth_network::engine::NetworkExtension;
use berth_network::network::DefaultBridge;
use clap::Parser;
use nix::fcntl::Flock;
use nix::sys::signal::{SigSet, Signal};

/// berthd: the Berth daemon, serving the Docker Engine API (1.24 to 1.50)
///
/// Anyone who can reach the API can run a privileged container that mounts `/`: access to
/// berthd's socket is root access. The UNIX socket is created mode 0660, owner root; a TCP
/// address other than loopback is refused unless --tlsverify checks client certificates.
#[derive(Debug, Parser)]
#[command(name = "berthd", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    flags: Flags,
}

fn main() -> ExitCode {
    // ANCHOR: seal
    if let Err(error) = berth_security::exe::seal_self() {
        berth_daemon::daemon_log!("berthd: {:#}", anyhow::Error::new(error));
        return ExitCode::FAILURE;
    }
    // ANCHOR_END: seal
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("monitor") {
        std::process::exit(berth::engine::monitor_main(&args[2..]));
    }
    let cli = Cli::parse();
    match run(cli.flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            berth_daemon::daemon_log!("berthd: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(flags: Flags) -> anyhow::Result<()> {
    berth_namespaces::fds::close_on_exec_from_3()
        .context("marking inherited descriptors close-on-exec")?;
    // ANCHOR: signals
    let mut stop_signals = SigSet::empty();
    stop_signals.add(Signal::SIGTERM);
    stop_signals.add(Signal::SIGINT);
    stop_signals
        .thread_block()
        .context("blocking SIGTERM and SIGINT")?;
    // ANCHOR_END: signals
    nix::sys::prctl::set_child_subreaper(true).context("becoming a child subreaper")?;

    let settings = Settings::load(flags)?;
    init_program(&settings)?;
    std::fs::create_dir_all(&settings.data_root)
        .with_context(|| format!("creating the data root {}", settings.data_root.display()))?;
    let _lock = lock_data_root(&settings.data_root)?;
    let userns_remap = userns_remap(&settings)?;
    let engine = open_engine(&settings.data_root, settings.default_bridge.clone())?;
    let daemon = Arc::new(Daemon {
        engine: Arc::clone(&engine),
        registries: settings.registries.clone(),
        data_root: settings.data_root.clone(),
        network: NetworkExtension::for_store(&settings.data_root, settings.default_bridge.clone()),
        userns_remap,
    });
    let api = Arc::new(Api::new(daemon));
    let acceptor = match &settings.tls {
        Some(tls) => Some(api::tls::acceptor(tls).context("setting up TLS")?),
        None => None,
    };

    let mut handles = Vec::new();
    for host in &settings.hosts {
        let (handle, address) =
            listen(host, &api, acceptor.clone()).with_context(|| format!("listening on {host}"))?;
        berth_daemon::daemon_log!("berthd: API listening on {address}");
        handles.push(handle);
    }
    berth_daemon::daemon_log!(
        "berthd {} ready (data root {})",
        api::BERTH_VERSION,
        settings.data_root.display()
    );

    let signal = stop_signals.wait().context("waiting for a signal")?;
    berth_daemon::daemon_log!(
        "berthd: {signal:?} received: closing the API; containers keep running"
    );
    for handle in handles {
        let unfinished = handle.shutdown();
        if unfinished > 0 {
            berth_daemon::daemon_log!("berthd: {unfinished} connection(s) still open at exit");
        }
    }
    engine.shutdown();
    Ok(())
}

// ANCHOR: init_path
/// Chooses the init program `--init` runs (chapter 1's `init.rs`): `init-path` if set, else
/// `berth-init` next to berthd, and hands the choice to the monitors, which start the
/// containers, in their environment. Without one, berthd runs and only `--init` fails, as
/// dockerd without docker-init. Called before any thread exists (it sets a variable).
fn init_program(settings: &Settings) -> anyhow::Result<()> {
    use berth_namespaces::init;
    let found = match &settings.init_path {
        Some(path) if path.is_file() => {
            std::path::absolute(path).with_context(|| format!("init-path {}", path.display()))?
        }
        Some(path) => anyhow::bail!("init-path {}: no such file", path.display()),
        None => match init::locate() {
            Ok(path) => path,
            Err(error) => {
                berth_daemon::daemon_log!("berthd: {error}: `docker run --init` will fail");
                return Ok(());
            }
        },
    };
    // SAFETY: no other thread exists yet to read the environment meanwhile.
    unsafe { std::env::set_var(init::PATH_VARIABLE, &found) };
    Ok(())
}
// ANCHOR_END: init_path

/// The server options every listener shares: Docker's headers on every response.
fn options() -> ServerOptions {
    ServerOptions {
        default_headers: api::default_headers(),
        shutdown_grace: Duration::from_secs(3),
        ..ServerOptions::default()
    }
}

/// Starts serving `api` on `host`; also returns the address as bound (`tcp://...:0` gets
/// the port the kernel chose, which is what a test or a script needs to know).
fn listen(
    host: &Host,
    api: &Arc<Api>,
    acceptor: Option<Arc<dyn Acceptor>>,
) -> anyhow::Result<(ServerHandle, String)> {
    let handler = Arc::clone(api);
    let server = match host {
        Host::Unix(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            Server::bind(path, options())?
        }
        Host::Tcp { .. } => {
            let address = host.tcp_address().unwrap_or_default();
            if acceptor.is_none() {
                berth_daemon::daemon_log!(
                    "berthd: WARNING: serving the API without TLS on {host}: every local user \
                     who can connect to it is root"
                );
            }
            Server::bind_tcp(&address, options(), acceptor)?
        }
    };
    let address = match server.tcp_address() {
        Some(bound) => format!("tcp://{bound}"),
        None => host.to_string(),
    };
    Ok((server.spawn(handler)?, address))
}

// ANCHOR: userns_remap
/// `userns-remap` is resolved (the `dockremap` user and its ranges made for "default", the
/// maps checked) and kept under the data root, where every monitor's engine extension reads
/// it (chapter 6's `UsernsExtension`); without the setting the kept maps are removed, so a
/// daemon restarted without it runs no new container remapped.
fn userns_remap(settings: &Settings) -> anyhow::Result<Option<berth_security::userns::Remap>> {
    use berth_security::userns::Remap;
    let remap = match &settings.userns_remap {
        Some(setting) => Some(Remap::resolve(setting, &settings.userns_remap_etc)?),
        None => None,
    };
    if let Some(remap) = &remap {
        remap.check_reachable(&settings.data_root)?;
    }
    Remap::store(remap.as_ref(), &settings.data_root)?;
    if let Some(remap) = &remap {
        berth_daemon::daemon_log!(
            "berthd: userns-remap: root in containers is uid {} gid {} on this host ({}:{})",
            remap.root_uid(),
            remap.root_gid(),
            remap.user,
            remap.group
        );
    }
    Ok(remap)
}
// ANCHOR_END: userns_remap

// ANCHOR: lock
/// Takes `<data-root>/berthd.lock` for the daemon's lifetime (chapter 4's lock): two daemons
/// on one store would each believe they own its containers.
fn lock_data_root(root: &Path) -> anyhow::Result<Flock<File>> {
    berth_daemon::lock::lock_exclusive(&root.join("berthd.lock")).map_err(|e| match e {
        LockError::Held { path, pid } => anyhow::anyhow!(
            "another berthd (pid {}) is already using the data root {} (it holds {}): stop it \
             first, or choose another --data-root",
            pid.map_or("unknown".into(), |p| p.to_string()),
            root.display(),
            path.display()
        ),
        io @ LockError::Io { .. } => io.into(),
    })
}
// ANCHOR_END: lock

/// Opens the container engine; it runs berthd itself as each container's monitor, as
/// `/proc/self/exe`: the sealed view this process runs from, not the file on the host.
fn open_engine(root: &Path, bridge: Option<DefaultBridge>) -> anyhow::Result<Arc<Engine>> {
    let program = PathBuf::from("/proc/self/exe");
    berth::engine::open_with_bridge(root, program, bridge).context("opening the container engine")
}
