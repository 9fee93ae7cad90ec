//! Containers made from images: a record, a writable layer, and chapter 1's runtime on top.
//!
//! `docker run IMAGE` is `docker create` (a directory with the container's settings and an
//! empty writable layer) followed by `docker start` (mount the overlay, start the process).
//! The settings come from the image config (`Entrypoint`, `Cmd`, `Env`, `WorkingDir`,
//! `User`), overridden by what the user typed. Without `--rm` the container, with everything
//! it wrote, stays until `rm`.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use berth_namespaces::{ContainerConfig, RootfsMount};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::overlay::{self, OverlayError};
use crate::spec::{self, ImageConfig, RunConfig};
use crate::state::RunState;
use crate::store::{ImageRecord, IoContext, Store, StoreError, atomic};
use crate::users::{self, UserError};

/// Why a container could not be created, found or removed.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Overlay(#[from] OverlayError),
    #[error(transparent)]
    User(#[from] UserError),
    #[error("the image config of {image} is damaged: {reason}")]
    BadConfig { image: String, reason: String },
    #[error(
        "no command specified: the image has no Entrypoint or Cmd, so give one after the image"
    )]
    NoCommand,
    #[error(
        "invalid container name {0:?}: use two or more letters, digits, '_', '.' and '-', \
         starting with a letter or digit"
    )]
    BadName(String),
    #[error(
        "the container name {name:?} is already in use by container {id:?}: remove that \
         container to reuse the name"
    )]
    NameInUse { name: String, id: String },
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    #[error("container {0} is running: it cannot be removed until it exits")]
    Running(String),
}

// ANCHOR: record
/// A container, as created: `containers/<id>/config.json`, written once by `create` and never
/// changed, except its name by [`rename`]. Everything a start needs is here, already resolved
/// against the image, so that the image config is read once per container. What changes
/// while it runs is in its `state.json` ([`crate::state`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex digits, like Docker's ids.
    pub id: String,
    /// Its name, unique in the store (`--name`, or one made from the id).
    pub name: String,
    /// The image id.
    pub image: Digest,
    /// The reference it was created from, as typed (`busybox`, an id, `localhost:5000/a:1`).
    pub image_name: String,
    /// The entrypoint it runs: the typed one, else the image's; empty if neither has one.
    pub entrypoint: Vec<String>,
    /// The arguments after the entrypoint: the ones typed, else the image's `Cmd`.
    pub cmd: Vec<String>,
    /// The environment, `KEY=VALUE` in order: chapter 1's defaults, the image's, `HOME` from
    /// the user's entry, then the ones typed.
    pub env: Vec<(String, String)>,
    /// The user as given (a name or uid, `user:group` allowed): typed, else the image's;
    /// `None` for root. Resolved to ids at each start, in the image's `/etc/passwd`.
    pub user: Option<String>,
    /// The directory its process starts in: typed, else the image's, else `/`.
    pub workdir: String,
    /// Its hostname: the one asked for, else the first 12 digits of its id.
    pub hostname: String,
    /// What the user asked for, as typed (for `inspect`, and for settings a start reads:
    /// a terminal, stdin, the stop signal, `--rm`).
    #[serde(default)]
    pub options: RunOptions,
    /// Creation time, seconds since the epoch.
    pub created: u64,
    /// Named slots for what later chapters add to a container, each written at create by the
    /// chapter that owns it, with its own types as JSON: `"limits"` (chapter 5's cgroup),
    /// `"security"`, `"network"`, `"mounts"`. A chapter reads only its own slot; a record
    /// written before a chapter existed simply has no slot for it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slots: BTreeMap<String, serde_json::Value>,
}
// ANCHOR_END: record

/// What the user typed that changes how the image runs (`docker create`'s flags).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunOptions {
    /// `--name`; `None` = a generated one.
    pub name: Option<String>,
    /// Replaces the image's `Cmd` (the `Entrypoint` stays, as in Docker).
    pub cmd: Vec<String>,
    /// Extra `KEY=VALUE` variables, after the image's.
    pub env: Vec<(String, String)>,
    /// Variables to remove from the image's (`docker run -e NAME` when `NAME` is unset where
    /// the client runs: the CLI sends the bare name, and Docker removes the variable).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unset_env: Vec<String>,
    /// `--user`: a name or uid, `user:group` allowed.
    pub user: Option<String>,
    /// `--workdir`.
    pub workdir: Option<String>,
    /// `--init`: a tiny init as PID 1 (chapter 1).
    pub init: bool,
    /// `--group-add`: more supplementary groups for the container's processes (execs too),
    /// by name (in the container's `/etc/group`, at each start) or number.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// Replaces the image's `Entrypoint` (`docker run --entrypoint`): `None` keeps it,
    /// `Some(vec![])` removes it. A new entrypoint drops the image's `Cmd` too, as in Docker.
    pub entrypoint: Option<Vec<String>>,
    /// `--hostname`; `None` = the short id.
    pub hostname: Option<String>,
    /// The rest of what `docker create` asks for: a terminal, stdin, labels, the stop signal.
    pub settings: Settings,
}

/// What `docker create` asks for beyond the process itself: how its stdio is set up, how it is
/// stopped and removed, its labels. Chapter 2 only keeps them; the engine (chapter 4) acts on
/// them. (The log has no settings to keep: it is always Docker's `json-file`, without
/// options; the Docker API in `final/` refuses `--log-driver` and `--log-opt`.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// `--label` pairs.
    pub labels: BTreeMap<String, String>,
    /// `-t`: the container gets a terminal (chapter 1's console); its output is one stream.
    pub tty: bool,
    /// `-i`: its stdin stays open for attached clients, else it is `/dev/null`.
    pub open_stdin: bool,
    /// Its stdin closes when the first attached client's stdin ends (`docker run -i`).
    pub stdin_once: bool,
    /// The creating client attaches its stdin (for inspect).
    pub attach_stdin: bool,
    /// The creating client attaches to stdout (for inspect).
    pub attach_stdout: bool,
    /// The creating client attaches to stderr (for inspect).
    pub attach_stderr: bool,
    /// `[rows, cols]` of its terminal at start.
    pub console_size: Option<[u16; 2]>,
    /// `--rm`: removed once it exits (by the engine, from chapter 4 on).
    pub auto_remove: bool,
    /// `--stop-signal`, by name or number; `None` = SIGTERM.
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds; `None` = 10.
    pub stop_timeout: Option<u64>,
}

impl ContainerRecord {
    /// The container's directory.
    pub fn dir(&self, store: &Store) -> PathBuf {
        store.containers_dir().join(&self.id)
    }

    /// Saves the record (atomically). Only `create` does, [`set_slot`] for `docker update`
    /// and `rename` for the name: nothing else in a record changes after.
    fn save(&self, store: &Store) -> Result<(), StoreError> {
        let path = self.dir(store).join("config.json");
        let json = serde_json::to_vec_pretty(self).expect("records always serialise");
        atomic::write_fast(&path, &json).context("writing container record", &path)
    }

    /// The full command line: the entrypoint, then the arguments.
    pub fn command(&self) -> Vec<String> {
        self.entrypoint.iter().chain(&self.cmd).cloned().collect()
    }

    /// Its run state (`state.json`); a container that never started has the default.
    pub fn state(&self, store: &Store) -> RunState {
        RunState::load(&self.dir(store))
    }
}

/// The state letter and start time (field 22) of `/proc/PID/stat`.
fn process_stat(pid: i32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are after the last ')'.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// When a process started, in clock ticks since boot: a pid is reused once its process is
/// gone, and this tells the two apart.
pub fn process_start(pid: i32) -> Option<u64> {
    process_stat(pid).map(|(_, start)| start)
}

// ANCHOR: process_alive
/// Whether `pid` is still the process that started at `start`, and not a zombie: a process
/// that has exited but whose parent has not reaped it yet (this machine's init reaps orphans
/// lazily) still has its `/proc` entry, with the same start time.
pub fn process_alive(pid: Option<i32>, start: Option<u64>) -> bool {
    match (pid.and_then(process_stat), start) {
        (Some((state, started)), Some(start)) => !matches!(state, 'Z' | 'X') && started == start,
        _ => false,
    }
}
// ANCHOR_END: process_alive

/// Every container of the store.
pub fn list(store: &Store) -> Result<Vec<ContainerRecord>, StoreError> {
    let dir = store.containers_dir();
    let mut records = Vec::new();
    for entry in fs::read_dir(&dir).context("reading", &dir)? {
        let path = entry.context("reading", &dir)?.path().join("config.json");
        // A directory without a record is a create that did not finish: not a container.
        let Ok(bytes) = fs::read(&path) else { continue };
        let record = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path,
            reason: e.to_string(),
        })?;
        records.push(record);
    }
    records.sort_by_key(|r: &ContainerRecord| std::cmp::Reverse(r.created));
    Ok(records)
}

/// Finds a container by name, full id or unique id prefix.
pub fn find(store: &Store, key: &str) -> Result<ContainerRecord, ContainerError> {
    // A full id is read directly: a daemon looks containers up by id all the time, and
    // listing every container for each lookup would make it slower the more it has.
    if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        let path = store.containers_dir().join(key).join("config.json");
        if let Ok(bytes) = fs::read(&path)
            && let Ok(record) = serde_json::from_slice(&bytes)
        {
            return Ok(record);
        }
    }
    let all = list(store)?;
    if let Some(by_name) = all.iter().find(|c| c.name == key) {
        return Ok(by_name.clone());
    }
    let mut by_id = all
        .into_iter()
        .filter(|c| !key.is_empty() && c.id.starts_with(key));
    match (by_id.next(), by_id.next()) {
        (Some(found), None) => Ok(found),
        _ => Err(ContainerError::NoSuchContainer(key.to_owned())),
    }
}

/// The name of a container that uses `image`, if any: such an image cannot be removed.
pub fn user_of(store: &Store, image: &Digest) -> Option<String> {
    list(store)
        .ok()?
        .into_iter()
        .find(|c| c.image == *image)
        .map(|c| c.name)
}

// ANCHOR: create
/// Creates a container of image `image_ref`: its record and empty writable layer, and the
/// chapter 1 configuration that will run it on the overlay. The image config is read here,
/// once: the record keeps its settings resolved.
pub fn create(
    store: &Store,
    image_ref: &str,
    options: &RunOptions,
) -> Result<(ContainerRecord, ContainerConfig), ContainerError> {
    create_with_slots(store, image_ref, options, BTreeMap::new())
}

/// [`create`], with the later chapters' settings for the record's named slots
/// ([`ContainerRecord::slots`]): written once, with the record, as everything else in it.
pub fn create_with_slots(
    store: &Store,
    image_ref: &str,
    options: &RunOptions,
    slots: BTreeMap<String, serde_json::Value>,
) -> Result<(ContainerRecord, ContainerConfig), ContainerError> {
    let _shared = store.shared_lock()?; // The image cannot be removed meanwhile.
    let image = store.resolve(image_ref)?;
    let run = image_run_config(store, &image, image_ref)?;

    // Entrypoint + (the command typed, or the image's Cmd), as Docker combines them.
    let (entrypoint, cmd) = split_command(options, &run);
    if entrypoint.is_empty() && cmd.is_empty() {
        return Err(ContainerError::NoCommand);
    }

    let id = random_id();
    let name = match &options.name {
        Some(name) => validate_name(store, name)?,
        None => generated_name(&id),
    };
    let hostname = match options.hostname.as_deref() {
        Some(hostname) if !hostname.is_empty() => hostname.to_owned(),
        _ => id[..12].to_owned(),
    };
    let workdir = [&options.workdir, &run.working_dir]
        .into_iter()
        .flatten()
        .find(|w| !w.is_empty())
        .cloned()
        .unwrap_or_else(|| "/".to_owned());
    let mut record = ContainerRecord {
        id: id.clone(),
        name,
        image: image.id,
        image_name: image_ref.to_owned(),
        entrypoint,
        cmd,
        env: Vec::new(),
        user: [&options.user, &run.user]
            .into_iter()
            .flatten()
            .find(|u| !u.is_empty())
            .cloned(),
        workdir,
        hostname,
        options: options.clone(),
        created: now(),
        slots,
    };
    // Everything that can be refused (the user name, the layers) is checked here, before the
    // container exists; the environment it computes is the record's.
    let runtime = runtime_config_for(store, &record, &image, Some(&run))?;
    record.env = runtime.env.clone();
    let dir = record.dir(store);
    let created = ["upper", "work", "rootfs"]
        .iter()
        .map(|d| dir.join(d))
        .try_for_each(|d| fs::create_dir_all(&d).context("creating", &d))
        .and_then(|()| record.save(store));
    if let Err(error) = created {
        let _ = fs::remove_dir_all(&dir);
        return Err(error.into());
    }
    Ok((record, runtime))
}
// ANCHOR_END: create

/// Replaces one of a container's slots (see [`ContainerRecord::slots`]) and saves the record
/// atomically: `docker update`, which changes the limits of an existing container as dockerd
/// rewrites its `hostconfig.json`, is the one change a record sees after create.
pub fn set_slot(
    store: &Store,
    id: &str,
    slot: &str,
    value: serde_json::Value,
) -> Result<ContainerRecord, ContainerError> {
    let mut record = find(store, id)?;
    record.slots.insert(slot.to_owned(), value);
    record.save(store)?;
    Ok(record)
}

/// The entrypoint and the arguments after it, by Docker's rules: the typed command replaces
/// the image's `Cmd`, never its `Entrypoint`; a typed entrypoint (`--entrypoint`) replaces the
/// image's and runs with the typed command only (the image's `Cmd` belonged to the old
/// entrypoint); an empty one (`--entrypoint ""`) leaves the typed command, else the image's.
fn split_command(options: &RunOptions, run: &RunConfig) -> (Vec<String>, Vec<String>) {
    let image_cmd = || run.cmd.clone().unwrap_or_default();
    let typed = &options.cmd;
    match &options.entrypoint {
        Some(entrypoint) => {
            let entrypoint: Vec<String> = entrypoint
                .iter()
                .filter(|a| !a.is_empty())
                .cloned()
                .collect();
            if entrypoint.is_empty() && typed.is_empty() {
                (Vec::new(), image_cmd())
            } else {
                (entrypoint, typed.clone())
            }
        }
        None => {
            let entrypoint = run.entrypoint.clone().unwrap_or_default();
            let cmd = if typed.is_empty() {
                image_cmd()
            } else {
                typed.clone()
            };
            (entrypoint, cmd)
        }
    }
}

/// The chapter 1 configuration that runs an existing container: what a daemon's monitor
/// process (chapter 4) computes from the container's record when it starts it. The image
/// config is not read again: the record has its settings.
pub fn runtime_config(
    store: &Store,
    record: &ContainerRecord,
) -> Result<ContainerConfig, ContainerError> {
    let image = store
        .image(&record.image)?
        .ok_or_else(|| StoreError::NoSuchImage(record.image.to_string()))?;
    runtime_config_for(store, record, &image, None)
}

/// The image config's `Config` part.
fn image_run_config(
    store: &Store,
    image: &ImageRecord,
    image_ref: &str,
) -> Result<RunConfig, ContainerError> {
    let config_bytes = store.read_blob(&image.id)?;
    let config: ImageConfig = spec::parse("the image config", &config_bytes).map_err(|reason| {
        ContainerError::BadConfig {
            image: image_ref.to_owned(),
            reason,
        }
    })?;
    Ok(config.config)
}

// ANCHOR: runtime_config
/// The record's settings on an overlay of the image's layers with the container's own upper
/// layer. At create (`run` given: the image config's settings) the environment is computed:
/// chapter 1's defaults, the image's, `HOME` from the user's entry, the typed ones; at a
/// start the record's is used as it is.
fn runtime_config_for(
    store: &Store,
    record: &ContainerRecord,
    image: &ImageRecord,
    run: Option<&RunConfig>,
) -> Result<ContainerConfig, ContainerError> {
    let dir = record.dir(store);
    let (upper, work, rootfs) = (dir.join("upper"), dir.join("work"), dir.join("rootfs"));
    let options_text = overlay::mount_options(store, image, &upper, &work)?;

    let mut runtime =
        ContainerConfig::new(&rootfs, record.command()).with_hostname(&record.hostname);
    runtime.rootfs_mount = Some(RootfsMount {
        fstype: "overlay".into(),
        source: "overlay".into(),
        options: options_text,
    });
    if let Some(run) = run {
        for pair in run.env.iter().flatten() {
            if let Some((key, value)) = pair.split_once('=') {
                runtime.set_env(key, value);
            }
        }
    } else {
        runtime.env = record.env.clone();
    }
    // `--group-add` without `--user` adds to root's groups, so root is looked up too.
    let group_add = &record.options.group_add;
    let user = record
        .user
        .as_deref()
        .or((!group_add.is_empty()).then_some("0"));
    if let Some(spec) = user {
        // Names mean what the image's files say: looked up in its layers, never the host's.
        let read = |path| {
            overlay::find_in_image(store, image, path)
                .and_then(|p| fs::read_to_string(p).ok())
                .unwrap_or_default()
        };
        let group = read("etc/group");
        let mut resolved = users::resolve(spec, &read("etc/passwd"), &group)?;
        users::add_groups(&mut resolved.user, group_add, &group)?;
        if run.is_some() {
            runtime.set_env("HOME", &resolved.home);
        }
        runtime.user = Some(resolved.user);
    }
    if run.is_some() {
        for (key, value) in &record.options.env {
            runtime.set_env(key, value);
        }
        for key in &record.options.unset_env {
            runtime.unset_env(key);
        }
    }
    runtime.workdir = record.workdir.clone().into();
    runtime.init = record.options.init;
    // Root inside the container's user namespace is all ch02 supports: overlayfs with
    // whiteouts in the lower layers needs real root on most kernels.
    runtime.rootless = false;
    Ok(runtime)
}
// ANCHOR_END: runtime_config

/// Removes a container that is not running: its record and writable layer.
pub fn remove(store: &Store, key: &str) -> Result<ContainerRecord, ContainerError> {
    let (record, trash) = remove_later(store, key)?;
    fs::remove_dir_all(&trash).context("removing", &trash)?;
    Ok(record)
}

/// Removes a container from the store at once, leaving the deletion of its files to the
/// caller: the directory is renamed into `tmp/` (one atomic rename), and the path returned.
/// Deleting a container's directories takes tens of milliseconds on some disks; a daemon
/// does it after answering. A crash before then leaves it in `tmp/`, cleaned at the next start.
pub fn remove_later(
    store: &Store,
    key: &str,
) -> Result<(ContainerRecord, std::path::PathBuf), ContainerError> {
    let record = find(store, key)?;
    if record.state(store).is_running() {
        return Err(ContainerError::Running(record.name));
    }
    let dir = record.dir(store);
    let trash = store
        .root()
        .join("tmp")
        .join(format!("removed-{}", record.id));
    fs::rename(&dir, &trash).context("removing", &dir)?;
    Ok((record, trash))
}

/// Renames a container (`docker rename`): the new name is checked as at create (valid, not in
/// use) and the record rewritten atomically, so that a failure changes nothing. The record
/// with its new name.
pub fn rename(
    store: &Store,
    record: &ContainerRecord,
    new_name: &str,
) -> Result<ContainerRecord, ContainerError> {
    let mut renamed = record.clone();
    renamed.name = validate_name(store, new_name)?;
    renamed.save(store)?;
    Ok(renamed)
}

fn validate_name(store: &Store, name: &str) -> Result<String, ContainerError> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    // Docker's pattern, `[a-zA-Z0-9][a-zA-Z0-9_.-]+`: two characters at least.
    let rest_ok = name.len() > 1 && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !first_ok || !rest_ok {
        return Err(ContainerError::BadName(name.to_owned()));
    }
    if let Some(other) = list(store)?.into_iter().find(|c| c.name == name) {
        return Err(ContainerError::NameInUse {
            name: name.to_owned(),
            id: other.id,
        });
    }
    Ok(name.to_owned())
}

/// A name like Docker's `eager_turing`, picked from the id so it is stable for the id.
fn generated_name(id: &str) -> String {
    const MOODS: [&str; 8] = [
        "brave", "calm", "eager", "jolly", "keen", "nimble", "quiet", "witty",
    ];
    const PIONEERS: [&str; 8] = [
        "hopper",
        "lovelace",
        "ritchie",
        "thompson",
        "torvalds",
        "turing",
        "kernighan",
        "liskov",
    ];
    let byte = |i: usize| usize::from_str_radix(&id[i..i + 2], 16).unwrap_or(0);
    format!(
        "{}_{}_{}",
        MOODS[byte(0) % 8],
        PIONEERS[byte(2) % 8],
        &id[4..8]
    )
}

/// A new id: 32 random bytes as 64 hex digits, as Docker's container ids (the engine's exec
/// ids too).
pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    use std::io::Read;
    if let Ok(mut urandom) = fs::File::open("/dev/urandom") {
        let _ = urandom.read_exact(&mut bytes);
    }
    crate::digest::hex(&bytes)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_typed_entrypoint_follows_dockers_rule() {
        let run = RunConfig {
            cmd: Some(strings(&["sh"])),
            ..RunConfig::default()
        };
        let split = |entrypoint: Option<&[&str]>, typed: &[&str]| {
            let options = RunOptions {
                entrypoint: entrypoint.map(strings),
                cmd: strings(typed),
                ..RunOptions::default()
            };
            split_command(&options, &run)
        };
        let none: Vec<String> = Vec::new();
        // The image's Cmd unless a command is typed.
        assert_eq!(split(None, &[]), (none.clone(), strings(&["sh"])));
        assert_eq!(split(None, &["ls"]), (none.clone(), strings(&["ls"])));
        // A new entrypoint drops the image's Cmd.
        assert_eq!(
            split(Some(&["echo"]), &[]),
            (strings(&["echo"]), none.clone())
        );
        assert_eq!(
            split(Some(&["echo"]), &["hi"]),
            (strings(&["echo"]), strings(&["hi"]))
        );
        // An empty one (`--entrypoint ""`) leaves the command, typed or the image's.
        assert_eq!(split(Some(&[""]), &[]), (none.clone(), strings(&["sh"])));
        assert_eq!(split(Some(&[]), &["ls"]), (none, strings(&["ls"])));
    }
}
