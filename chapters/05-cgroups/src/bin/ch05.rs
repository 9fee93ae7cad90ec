//! `ch05`: chapter 1's container, with a cgroup of its own and `docker run`'s limits.
//!
//! ```text
//! ch05 cgroups
//! ch05 devices [--privileged] [--device-cgroup-rule 'c 1:3 rwm']...
//! ch05 run --rootfs DIR [--memory 64m] [--memory-swap SIZE] [--memory-reservation SIZE]
//!          [--cpus 0.5] [--cpu-shares N] [--cpu-quota US] [--cpu-period US]
//!          [--cpuset-cpus LIST] [--cpuset-mems LIST] [--pids-limit N] [--blkio-weight N]
//!          [--device HOST[:CONTAINER][:rwm]]... [--device-cgroup-rule 'c 1:3 rwm']...
//!          [--cgroupns private|host] [--cgroup-parent NAME] [--state DIR] -- CMD [ARG...]
//! ```
//!
//! The exit status is the container's (137 when the OOM killer ended it, which `ch05` also
//! says on stderr); 125 when the container or its cgroup could not be set up.

use std::path::PathBuf;
use std::process::ExitCode;

use berth_cgroups::{
    Cgroup, CgroupNs, DeviceMapping, DeviceRule, DeviceSettings, Layout, OwnerLock, Resources,
    UnshareCgroupNs, parse_cpus, parse_size, sweep,
};
use berth_namespaces::signals::{self, BlockedSignals};
use berth_namespaces::{ContainerConfig, start};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "ch05",
    version,
    about = "Berth chapter 5: resource limits with cgroups"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show where each cgroup controller lives on this machine and which limits apply.
    Cgroups,
    /// Show a container's device allowlist: v1's lines, and v2's BPF program.
    Devices {
        /// Every device (`a *:* rwm`), as `docker run --privileged`.
        #[arg(long)]
        privileged: bool,
        /// Allow more devices: `c 1:3 rwm`, `b 7:* r`.
        #[arg(long, value_name = "RULE")]
        device_cgroup_rule: Vec<DeviceRule>,
    },
    /// Run CMD in new namespaces with DIR as its root, in a cgroup of its own with limits.
    Run(Box<RunArgs>),
}

#[derive(clap::Args)]
struct RunArgs {
    /// The directory that becomes the container's `/`.
    #[arg(long, value_name = "DIR")]
    rootfs: PathBuf,
    /// Memory limit (such as 64m): above it, the kernel reclaims, then the OOM killer kills.
    #[arg(short, long, value_name = "SIZE", value_parser = parse_size)]
    memory: Option<u64>,
    /// Memory plus swap (such as 128m), or -1 for unlimited swap.
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, value_parser = parse_swap)]
    memory_swap: Option<i64>,
    /// A soft limit the kernel reclaims towards when memory is short.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_reservation: Option<u64>,
    /// How many CPUs' worth of time (such as 0.5): a quota of CPU time per 100 ms.
    #[arg(long, value_name = "N", value_parser = parse_cpus)]
    cpus: Option<u64>,
    /// Relative CPU weight when CPUs are contended (1024 is the default).
    #[arg(long, value_name = "N")]
    cpu_shares: Option<u64>,
    /// CPU time in microseconds per period (-1: unlimited).
    #[arg(long, value_name = "US", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// The period of --cpu-quota in microseconds.
    #[arg(long, value_name = "US")]
    cpu_period: Option<u64>,
    /// The CPUs it may run on (such as 0-1).
    #[arg(long, value_name = "LIST")]
    cpuset_cpus: Option<String>,
    /// The memory nodes it may use (such as 0).
    #[arg(long, value_name = "LIST")]
    cpuset_mems: Option<String>,
    /// The most processes and threads at once (0 or -1: unlimited).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Relative block IO weight, 10 to 1000 (needs the BFQ scheduler).
    #[arg(long, value_name = "N")]
    blkio_weight: Option<u16>,
    /// Give the container a host device: its node, and an allow rule with the permissions.
    #[arg(long, value_name = "HOST[:CONTAINER][:rwm]", value_parser = parse_device)]
    device: Vec<DeviceMapping>,
    /// Allow more devices: `c 1:3 rwm`, `b 7:* r` (type, major:minor, access).
    #[arg(long, value_name = "RULE", allow_hyphen_values = true)]
    device_cgroup_rule: Vec<DeviceRule>,
    /// A cgroup namespace of its own, or the host's [default: private on cgroup v2, host
    /// otherwise, as Docker].
    #[arg(long, value_enum, value_name = "MODE")]
    cgroupns: Option<CgroupNsArg>,
    /// The cgroup (in every hierarchy) under which each container gets its own.
    #[arg(long, value_name = "NAME", default_value = "berth")]
    cgroup_parent: String,
    /// Where running containers' lock files are kept (see the orphan sweep).
    #[arg(long, value_name = "DIR", default_value = "/run/berth/ch05")]
    state: PathBuf,
    /// The command to run and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum CgroupNsArg {
    Private,
    Host,
}

fn parse_swap(text: &str) -> Result<i64, String> {
    if text == "-1" {
        return Ok(-1);
    }
    let bytes = parse_size(text).map_err(|e| e.to_string())?;
    i64::try_from(bytes).map_err(|_| format!("{text:?} is too large"))
}

fn parse_device(text: &str) -> Result<DeviceMapping, String> {
    DeviceMapping::parse(text).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Cgroups => show_cgroups(),
        Command::Devices {
            privileged,
            device_cgroup_rule,
        } => show_devices(privileged, &device_cgroup_rule),
        Command::Run(args) => run(*args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err((message, code)) => {
            eprintln!("ch05: {message}");
            ExitCode::from(code)
        }
    }
}

fn show_cgroups() -> Result<u8, (String, u8)> {
    let layout = Layout::detect().map_err(|e| (e.to_string(), 1))?;
    print!("{}", layout.table());
    Ok(0)
}

/// The allowlist as v1's files take it and as v2's program, disassembled.
fn show_devices(privileged: bool, extra: &[DeviceRule]) -> Result<u8, (String, u8)> {
    use berth_cgroups::devices::{asm, filter, rules};
    let rules = rules::allowlist(privileged, extra);
    println!("cgroup v1: written to the container's devices.deny and devices.allow, in order:");
    for rule in &rules {
        let file = if rule.allow { "allow" } else { "deny" };
        println!("  devices.{file:<5} {rule}");
    }
    let program = filter::program(&rules);
    println!(
        "cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program, {} instructions:",
        program.len()
    );
    print!("{}", asm::disassemble(&program));
    Ok(0)
}

// ANCHOR: run
/// Runs the container in the foreground in a cgroup of its own; the error carries the exit
/// code to use.
fn run(args: RunArgs) -> Result<u8, (String, u8)> {
    let setup = |e: &dyn std::fmt::Display| (e.to_string(), 125);
    let resources = Resources {
        memory: args.memory,
        memory_swap: args.memory_swap,
        memory_reservation: args.memory_reservation,
        nano_cpus: args.cpus,
        cpu_shares: args.cpu_shares,
        cpu_quota: args.cpu_quota,
        cpu_period: args.cpu_period,
        cpuset_cpus: args.cpuset_cpus,
        cpuset_mems: args.cpuset_mems,
        pids_limit: args.pids_limit,
        blkio_weight: args.blkio_weight,
    };
    resources.validate().map_err(|e| setup(&e))?;
    let devices = DeviceSettings {
        privileged: false,
        devices: args.device,
        rules: args.device_cgroup_rule,
    };
    let layout = Layout::detect().map_err(|e| setup(&e))?;
    // Containers of a ch05 that was killed before it could clean up: theirs go first.
    for id in sweep(&layout, &args.cgroup_parent, &args.state).map_err(|e| setup(&e))? {
        eprintln!("ch05: removed the cgroup of container {id}, whose ch05 is gone");
    }
    let config = ContainerConfig::new(args.rootfs, args.command);
    config.validate().map_err(|e| setup(&e))?;
    // The container's id: chapter 1's random hostname, twelve hex digits, as Docker's.
    let id = config.hostname.clone();
    // Lock, then make: a sweep never takes a cgroup being made for an orphan.
    let lock = OwnerLock::acquire(&args.state, &id).map_err(|e| setup(&e))?;
    let cgroupns = match args.cgroupns {
        Some(CgroupNsArg::Private) => CgroupNs::Private,
        Some(CgroupNsArg::Host) => CgroupNs::Host,
        None => CgroupNs::default_for(layout.kind()),
    };
    let limits = (&resources, &devices);
    let result = run_in_cgroup(config, &layout, &args.cgroup_parent, limits, cgroupns);
    // Released last, also after a failure: the cgroup is gone by now; so is the parent, if
    // this was its last container.
    lock.release().map_err(|e| setup(&e))?;
    berth_cgroups::cgroup::remove_parent_if_empty(&layout, &args.cgroup_parent);
    result
}

/// Makes the container's cgroup, starts the container in it, waits, removes the cgroup.
fn run_in_cgroup(
    mut config: ContainerConfig,
    layout: &Layout,
    parent: &str,
    (resources, devices): (&Resources, &DeviceSettings),
    cgroupns: CgroupNs,
) -> Result<u8, (String, u8)> {
    let setup = |e: &dyn std::fmt::Display| (e.to_string(), 125);
    let allowlist = devices.allowlist().map_err(|e| setup(&e))?;
    let cgroup = Cgroup::create(layout, parent, &config.hostname).map_err(|e| setup(&e))?;
    // From here on, an early return drops `cgroup`, which removes it.
    cgroup.apply(resources).map_err(|e| setup(&e))?;
    // The allowlist before the join: the container's first instruction already runs under it.
    cgroup.apply_devices(&allowlist).map_err(|e| setup(&e))?;
    config.steps.add_parent(cgroup.join_step());
    for node in devices.nodes().map_err(|e| setup(&e))? {
        config.steps.add_child(node);
    }
    if cgroupns == CgroupNs::Private {
        config.steps.add_child(UnshareCgroupNs);
    }
    let blocked = BlockedSignals::block().map_err(|e| setup(&e))?;
    let container = start(&config).map_err(|e| (e.to_string(), e.exit_code() as u8))?;
    let status = signals::forward_until_exit(&container, &blocked)
        .map_err(|e| (format!("waiting for the container: {e}"), 125))?;
    if cgroup.oom_killed().unwrap_or(false) {
        eprintln!("ch05: the container was OOM killed (memory limit reached)");
    }
    cgroup.remove().map_err(|e| setup(&e))?;
    Ok(status.code() as u8)
}
// ANCHOR_END: run
