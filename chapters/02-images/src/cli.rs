//! What `ch02` prints and how it runs a container in the foreground, as a library: chapter 3's
//! `ch03` offers the same commands on top of `pull`, and must print the same tables.

use berth_namespaces::signals::{self, BlockedSignals};

use crate::container::{self, ContainerRecord, RunOptions};
use crate::state::{RunState, Status, now_rfc3339, process_start};
use crate::store::IoContext;
use crate::store::Store;
use crate::text::{human_duration, human_size, parse_rfc3339};
use berth_namespaces::ContainerConfig;

/// An error for the user, with the exit code a CLI should leave with (Docker's: 125 when the
/// engine failed, 126 and 127 when the command could not be run).
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(error: E) -> Self {
        CliError {
            message: error.to_string(),
            code: 125,
        }
    }
}

/// `docker images`: one row per name (or `<none>` for an unnamed image), newest first.
pub fn images_table(store: &Store) -> Result<String, CliError> {
    let mut rows = vec![["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"].map(String::from)];
    for image in store.images()? {
        let created = image
            .record
            .created
            .as_deref()
            .and_then(parse_rfc3339)
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
    Ok(table(&rows))
}

/// `docker ps [-a]`.
pub fn ps_table(store: &Store, all: bool) -> Result<String, CliError> {
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
        let state = c.state(store);
        let running = state.is_running();
        if !all && !running {
            continue;
        }
        let status = match (running, state.exit_code) {
            (true, _) => "Up".to_owned(),
            (false, Some(code)) => format!("Exited ({code})"),
            (false, None) => "Created".to_owned(),
        };
        let mut command: String = c.command().join(" ");
        if command.chars().count() > 20 {
            command = command.chars().take(19).collect();
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
    Ok(table(&rows))
}

// ANCHOR: run
/// `run` in the foreground: create the container, run it (see [`run_created`]), and remove it
/// afterwards with `rm`, also when it could not start. Returns its code.
pub fn run_foreground(
    store: &Store,
    image: &str,
    options: &RunOptions,
    rm: bool,
) -> Result<u8, CliError> {
    let (record, config) = container::create(store, image, options)?;
    let result = run_created(store, &record, &config);
    if rm {
        container::remove(store, &record.id)?;
    }
    result.map(|code| code as u8)
}

/// Runs a created container in the foreground, as its own monitor: start it with chapter 1's
/// runtime, record it running in `state.json`, forward signals until it exits, record how it
/// ended. Returns its exit code; a start that failed is an error with Docker's exit code.
pub fn run_created(
    store: &Store,
    record: &ContainerRecord,
    config: &ContainerConfig,
) -> Result<i32, CliError> {
    let dir = record.dir(store);
    let blocked = BlockedSignals::block()?;
    let running = berth_namespaces::start(config).map_err(|error| CliError {
        message: error.to_string(),
        code: error.exit_code() as u8,
    })?;
    // We are its monitor: we wait for it, and write down how it ended.
    let pid = running.pid().as_raw();
    let me = std::process::id() as i32;
    let mut state = RunState {
        status: Status::Running,
        pid: Some(pid),
        pid_start: process_start(pid),
        monitor_pid: Some(me),
        monitor_start: process_start(me),
        started_at: Some(now_rfc3339()),
        ..RunState::default()
    };
    state.save(&dir).context("writing the run state", &dir)?;
    let code = signals::forward_until_exit(&running, &blocked)?.code();
    state.status = Status::Exited;
    state.exit_code = Some(code);
    state.finished_at = Some(now_rfc3339());
    state.save(&dir).context("writing the run state", &dir)?;
    Ok(code)
}
// ANCHOR_END: run

/// `run`'s flags, shared by `ch02 run` and `ch03 run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Name the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set an environment variable (`K` alone takes this shell's value).
    #[arg(short, long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Run as this user (name or uid, with an optional :group).
    #[arg(short, long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// The working directory inside the container.
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Run a tiny init as PID 1 (see chapter 1).
    #[arg(long)]
    pub init: bool,
    /// The image: a name such as busybox or busybox:latest, or an image id.
    pub image: String,
    /// The command, replacing the image's Cmd.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl RunArgs {
    /// What the flags ask of the container.
    pub fn options(&self) -> RunOptions {
        RunOptions {
            name: self.name.clone(),
            cmd: self.command.clone(),
            env: env_args(&self.env),
            user: self.user.clone(),
            workdir: self.workdir.clone(),
            init: self.init,
            settings: container::Settings {
                auto_remove: self.rm,
                ..container::Settings::default()
            },
            ..RunOptions::default()
        }
    }
}

/// Parses `-e` arguments: `K=V`, or `K` alone to take this process's value (as Docker does).
pub fn env_args(pairs: &[String]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter_map(|pair| match pair.split_once('=') {
            Some((k, v)) => Some((k.to_owned(), v.to_owned())),
            None => std::env::var(pair).ok().map(|v| (pair.clone(), v)),
        })
        .collect()
}

/// Lays rows out in columns three spaces apart, as Docker's tables.
pub fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
