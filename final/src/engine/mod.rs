//! The engine berthd runs: chapter 4's, with berthd's plug-ins.
//!
//! Containers, their monitors, attach sessions, exec, logs and wait conditions are chapter 4's
//! engine ([`berth_daemon::engine`]), exactly as the book teaches it. berthd adds one
//! engine-only choice through the engine's seam for launching monitors: a zygote
//! (`zygote.rs`), a process that forks each monitor instead of exec'ing the daemon's binary
//! again, which saves about a millisecond per start. And it registers the later chapters'
//! extensions: chapter 5's cgroups, chapter 7's networks, chapter 8's volumes, chapter 6's
//! security profile and remapped root.

mod zygote;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use berth_daemon::engine::*;
use berth_network::engine::NetworkExtension;
use berth_network::network::DefaultBridge;

/// Opens the engine on the store at `root`, launching monitors through a zygote of
/// `program` (berthd itself), or by exec'ing `program monitor ...` when the zygote cannot
/// run. No default bridge network (`--bridge none`): see [`open_with_bridge`].
pub fn open(root: &Path, program: PathBuf) -> Result<Arc<Engine>, EngineError> {
    open_with_bridge(root, program, None)
}

/// [`open`], with the default bridge network `bridge` (chapter 7) made if missing.
pub fn open_with_bridge(
    root: &Path,
    program: PathBuf,
    bridge: Option<DefaultBridge>,
) -> Result<Arc<Engine>, EngineError> {
    let launcher = zygote::ZygoteLauncher::new(program, root);
    Engine::open(root, Box::new(launcher), extensions(root, bridge))
}

/// What later chapters add to every container of the store at `root`: a cgroup with its
/// limits (chapter 5), its networks (chapter 7: before the volumes, so that a volume mounted
/// on `/etc/hosts` wins, as in Docker), its volumes, bind mounts and tmpfs (chapter 8),
/// Docker's default security profile and, with `userns-remap`, its remapped root on idmapped
/// layers (chapter 6, its seccomp filter loaded last). berthd and its monitors (this same
/// binary, exec'd or forked by the zygote) must build the same list; a monitor's network
/// extension has no `bridge`: it only uses the networks berthd made.
fn extensions(root: &Path, bridge: Option<DefaultBridge>) -> Extensions {
    vec![
        Arc::new(berth_cgroups::CgroupExtension::for_store(root)),
        Arc::new(NetworkExtension::for_store(root, bridge)),
        Arc::new(berth_volumes::VolumeExtension::for_store(root)),
        Arc::new(berth_security::engine::UsernsExtension::for_store(root)),
        Arc::new(berth_security::engine::SecurityExtension),
    ]
}

/// Entry point of the monitor processes: `berthd` calls this when run as
/// `berthd monitor ROOT ID ATTACHERS` (the args after "monitor"), or as the zygote that
/// forks them, `berthd monitor --zygote ROOT`, and exits with the returned code.
pub fn monitor_main(args: &[String]) -> i32 {
    match args {
        [flag, root] if flag == "--zygote" => zygote::serve(Path::new(root)),
        // ROOT ID ATTACHERS: the extensions of the store at ROOT.
        [root, ..] => monitor::main(args, &extensions(Path::new(root), None)),
        [] => monitor::main(args, &[]),
    }
}
