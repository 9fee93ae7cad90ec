//! The engine's vocabulary: what a create, an attach, a log read or an exec asks for, and
//! what the engine answers about a container or an exec.
//!
//! These are the words of the Docker Engine API (`Config`, `HostConfig`, `State`, an exec's
//! `ProcessConfig`), already decoded from its JSON: `api.rs` in this chapter and the Docker API
//! in `final/` decode requests into them and encode answers from them, and the engine never
//! sees JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_images::container::{ContainerRecord, Settings};
use serde::{Deserialize, Serialize};

use super::{Health, HealthConfig, RestartPolicy};

/// Everything `POST /containers/create` may ask for, already decoded from Docker's JSON.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CreateSpec {
    /// The image reference as the client typed it (`busybox`, `localhost:5000/a:1`, an id).
    pub image: String,
    /// `--name`, without Docker's leading `/`; `None` = a generated name.
    pub name: Option<String>,
    /// `None` = the image's; `Some(vec![])` from Docker means "the image's" too.
    pub cmd: Option<Vec<String>>,
    /// `None` = the image's; `Some(vec![])` or `Some(vec![""])` = no entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// `-e KEY=VALUE` pairs, set over the image's environment.
    pub env: Vec<(String, String)>,
    /// Bare `-e KEY`s: removed from the image's environment, as Docker does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unset_env: Vec<String>,
    /// `--user` (a name or uid, `user:group` allowed); `None` = the image's, else root.
    pub user: Option<String>,
    /// `--workdir`; `None` = the image's, else `/`.
    pub working_dir: Option<String>,
    /// `--hostname`; `None` = the short container id, as Docker does.
    pub hostname: Option<String>,
    /// `--init`: a tiny init as PID 1 that forwards signals to the command and reaps zombies.
    pub init: bool,
    /// `--group-add`: supplementary groups by name or number, for PID 1 and every exec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// A terminal, stdin, labels, the stop signal, `--rm`: chapter 2's, kept as they are.
    pub settings: Settings,
    /// Later chapters' settings, by slot name (`"limits"`: chapter 5's), for the record's
    /// named slots: each chapter's API decoding fills its own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slots: BTreeMap<String, serde_json::Value>,
    /// `--restart`: when the engine starts it again after it exits (see `restart.rs`).
    #[serde(default)]
    pub restart: RestartPolicy,
    /// `--health-cmd` and friends (or `--no-healthcheck`: a test of `["NONE"]`); `None` =
    /// no check (see `health.rs`).
    #[serde(default)]
    pub healthcheck: Option<HealthConfig>,
}

/// Whether a container is created, running or exited (`State.Status` in Docker's inspect).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created and never started: no process yet.
    Created,
    /// Its process runs, under its monitor.
    Running,
    /// Its process ended, or its start failed; the exit code is kept, and it may start again.
    Exited,
    /// It exited and its restart policy starts it again after a delay (see `restart.rs`).
    Restarting,
    /// Being removed (AutoRemove in progress).
    Removing,
}

/// What the engine knows of one container: for inspect and list.
#[derive(Clone, Debug)]
pub struct ContainerView {
    /// Chapter 2's record: what it was created with, resolved against its image.
    pub record: ContainerRecord,
    /// Created, running or exited, as the monitor last recorded it.
    pub status: Status,
    /// Host pid of its PID 1 while running.
    pub pid: Option<i32>,
    /// The exit code of its last run (or of a failed start); `None` if it never ended.
    pub exit_code: Option<i32>,
    /// RFC 3339 with nanoseconds, or `None` if never.
    pub started_at: Option<String>,
    /// When its last run ended: RFC 3339 with nanoseconds, or `None` if never.
    pub finished_at: Option<String>,
    /// Why it failed to start or ended badly, if it did.
    pub error: Option<String>,
    /// Running, but frozen (`docker pause`): `State.Paused`, and "(Paused)" in `docker ps`.
    pub paused: bool,
    /// Whether the OOM killer killed a process of its last run (`State.OOMKilled`).
    pub oom_killed: bool,
    /// How many times the engine started it again since the user last started it.
    pub restart_count: u32,
    /// Its restart policy, as created.
    pub restart_policy: RestartPolicy,
    /// Its health check as created (`Config.Healthcheck`), `["NONE"]` included.
    pub healthcheck: Option<HealthConfig>,
    /// Where its health checks stand (`State.Health`); `None` without a check that runs.
    pub health: Option<Health>,
    /// The path of its json-file log.
    pub log_path: PathBuf,
}

/// Docker's wait conditions (`POST /containers/{id}/wait?condition=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitCondition {
    /// Returns at once if not running, else at the exit (the default).
    NotRunning,
    /// The next exit, even if the container has not started yet.
    NextExit,
    /// After the container is removed (with `AutoRemove`, after the engine removed it).
    Removed,
}

/// Which streams an attach wants.
#[derive(Clone, Debug, Default)]
pub struct AttachOptions {
    /// Send the client's input to the container's stdin (which needs OpenStdin to go anywhere).
    pub stdin: bool,
    /// Send the container's stdout (with a TTY: all its output) to the client.
    pub stdout: bool,
    /// Send the container's stderr to the client.
    pub stderr: bool,
    /// Replay the log first (`logs=1`).
    pub logs: bool,
    /// The keys that detach the client from a terminal (`detachKeys=ctrl-x,x`; empty:
    /// Ctrl-P Ctrl-Q).
    pub detach_keys: String,
}

/// One of a process's output streams, numbered as in Docker's framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    /// The process's input; numbered for completeness, never sent as output.
    Stdin = 0,
    /// Its standard output (with a TTY, all its output).
    Stdout = 1,
    /// Its standard error (without a TTY only).
    Stderr = 2,
}

/// `GET /containers/{id}/logs` options.
#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    /// Include the lines the container wrote to stdout.
    pub stdout: bool,
    /// Include the lines it wrote to stderr.
    pub stderr: bool,
    /// `-f`: after the log's end, wait for more lines until the container stops.
    pub follow: bool,
    /// `-t`: the API prefixes each line with its [`LogLine::time`].
    pub timestamps: bool,
    /// Lines from the end; `None` = all.
    pub tail: Option<usize>,
    /// Unix seconds (fractional), inclusive bounds.
    pub since: Option<f64>,
    /// `--until`: reading stops at the first line later than this.
    pub until: Option<f64>,
}

/// One log line (or partial line) with its stream and time.
#[derive(Clone, Debug)]
pub struct LogLine {
    /// Stdout or stderr (a TTY's output is all stdout).
    pub stream: StreamKind,
    /// RFC 3339 with nanoseconds, as `docker logs -t` prints it.
    pub time: String,
    /// The bytes as logged, with the line's `\n` if it had one.
    pub bytes: Vec<u8>,
}

impl LogLine {
    /// The line as `docker logs` prints it: with `timestamps` (`-t`), its time and a space
    /// first.
    pub fn printed(&self, timestamps: bool) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.bytes.len() + 40);
        if timestamps {
            bytes.extend_from_slice(self.time.as_bytes());
            bytes.push(b' ');
        }
        bytes.extend_from_slice(&self.bytes);
        bytes
    }
}

/// `POST /containers/{id}/exec` body, decoded.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExecSpec {
    /// The program and its arguments, run inside the container; never empty.
    pub cmd: Vec<String>,
    /// `-e KEY=VALUE` pairs, set over the container's resolved environment.
    pub env: Vec<(String, String)>,
    /// `-u`: a name or uid, resolved in the container's `/etc/passwd`; `None` = the container's.
    pub user: Option<String>,
    /// `-w`; `None` = the container's working directory.
    pub working_dir: Option<String>,
    /// `-t`: give the process a terminal of its own; its output is then one raw stream.
    pub tty: bool,
    /// `-i`: the process's stdin is a pipe from the client, else `/dev/null` (no OpenStdin here).
    pub attach_stdin: bool,
    /// Send the process's stdout to the client, else to `/dev/null`.
    pub attach_stdout: bool,
    /// Send the process's stderr to the client, else to `/dev/null`.
    pub attach_stderr: bool,
    /// `[rows, cols]` for its terminal at start.
    pub console_size: Option<[u16; 2]>,
    /// `docker exec --privileged`: every capability and no seccomp filter for this process.
    pub privileged: bool,
    /// The keys that detach a client from its terminal (`ctrl-x,x`; empty: Ctrl-P Ctrl-Q),
    /// as the CLI sends `detachKeys` of its config file in the create.
    #[serde(default)]
    pub detach_keys: String,
}

/// `GET /exec/{id}/json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExecView {
    /// The exec instance's id, as `POST /containers/{id}/exec` returned it.
    pub id: String,
    /// The full id of the container it runs in.
    pub container_id: String,
    /// What it was created with.
    pub spec: ExecSpec,
    /// Whether its process has started and not yet exited.
    pub running: bool,
    /// Final before the exec's session ends (trap 5 of docker-api.md).
    pub exit_code: Option<i32>,
    /// Host pid of its process once started (it stays set after the exit).
    pub pid: Option<i32>,
}
