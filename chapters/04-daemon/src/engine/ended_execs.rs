//! Ended exec instances, kept a while for `docker exec inspect`, then pruned.
//!
//! Docker keeps an exec instance in its table after the process ends, so that a client can
//! still read the exit code (`GET /exec/{id}/json`: the docker CLI asks the moment its stream
//! closes, scripts may ask later), and drops it some minutes after: moby's `execCommandGC`
//! ticks every 5 minutes and removes the instances that had already ended at the tick before,
//! so an instance goes 5 to 10 minutes after its end. All of a container's go with it. Berth
//! keeps an ended instance [`RETENTION`] after its end, and also writes it to the container's
//! directory (`execs/<id>.json`), so that inspect still answers after a daemon restart (where
//! Docker's table, in memory only, forgets it). Removing the container removes the directory,
//! and with it every instance it held.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_images::store::atomic;
use serde::{Deserialize, Serialize};

use super::ExecView;

/// How long an ended exec instance can still be inspected: moby's first garbage-collector
/// tick after the end, at the earliest.
pub const RETENTION: Duration = Duration::from_secs(5 * 60);

/// An ended instance as saved: its view, and when it ended (Unix seconds).
#[derive(Serialize, Deserialize)]
struct Ended {
    view: ExecView,
    ended: u64,
}

/// Now, in Unix seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether an instance that ended at `ended` is past its time at `now` (both Unix seconds).
pub fn expired(ended: u64, now: u64) -> bool {
    now.saturating_sub(ended) >= RETENTION.as_secs()
}

fn dir(container_dir: &Path) -> PathBuf {
    container_dir.join("execs")
}

/// Exec ids are ours (64 hex digits), but the one asked for comes from a URL: anything else
/// is no instance, and never a path.
fn valid_id(exec_id: &str) -> bool {
    !exec_id.is_empty() && exec_id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Saves an instance that has just ended (`view` holds its exit code), atomically.
pub fn save(container_dir: &Path, view: &ExecView, ended: u64) -> std::io::Result<()> {
    let dir = dir(container_dir);
    fs::create_dir_all(&dir)?;
    let record = Ended {
        view: view.clone(),
        ended,
    };
    let json = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
    atomic::write_fast(&dir.join(format!("{}.json", view.id)), &json)
}

/// The ended instance `exec_id` of any container under `containers_dir`, unless it is past
/// its time at `now` (then its file is removed). A damaged file is no instance.
pub fn find(containers_dir: &Path, exec_id: &str, now: u64) -> Option<ExecView> {
    if !valid_id(exec_id) {
        return None;
    }
    for container in fs::read_dir(containers_dir).ok()?.flatten() {
        let path = dir(&container.path()).join(format!("{exec_id}.json"));
        let Ok(bytes) = fs::read(&path) else {
            continue;
        };
        let record: Ended = serde_json::from_slice(&bytes).ok()?;
        if expired(record.ended, now) {
            let _ = fs::remove_file(&path);
            return None;
        }
        return Some(record.view);
    }
    None
}

/// Removes the instances of every container under `containers_dir` that are past their
/// time at `now` (and damaged files, which nothing could read).
pub fn prune(containers_dir: &Path, now: u64) {
    let Ok(containers) = fs::read_dir(containers_dir) else {
        return;
    };
    for container in containers.flatten() {
        let Ok(files) = fs::read_dir(dir(&container.path())) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            let keep = fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Ended>(&bytes).ok())
                .is_some_and(|record| !expired(record.ended, now));
            if !keep {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ExecSpec;

    fn view(id: &str) -> ExecView {
        ExecView {
            id: id.to_owned(),
            container_id: "c".repeat(64),
            spec: ExecSpec {
                cmd: vec!["true".into()],
                ..ExecSpec::default()
            },
            running: false,
            exit_code: Some(3),
            pid: Some(42),
        }
    }

    #[test]
    fn an_ended_instance_is_found_until_its_time_is_past_then_removed() {
        let root = tempfile::tempdir().expect("a temp dir");
        let container = root.path().join("c".repeat(64));
        let id = "ab".repeat(32);
        save(&container, &view(&id), 1000).expect("saving");
        let found = find(root.path(), &id, 1000 + RETENTION.as_secs() - 1).expect("found");
        assert_eq!((found.exit_code, found.pid), (Some(3), Some(42)));
        assert!(find(root.path(), &id, 1000 + RETENTION.as_secs()).is_none());
        let file = container.join("execs").join(format!("{id}.json"));
        assert!(!file.exists(), "an expired instance stays on disk");
    }

    #[test]
    fn prune_removes_only_what_is_past_its_time() {
        let root = tempfile::tempdir().expect("a temp dir");
        let container = root.path().join("c".repeat(64));
        let (old, new) = ("01".repeat(32), "02".repeat(32));
        save(&container, &view(&old), 1000).expect("saving");
        save(&container, &view(&new), 1100).expect("saving");
        prune(root.path(), 1000 + RETENTION.as_secs());
        assert!(find(root.path(), &old, 1000).is_none(), "not pruned");
        assert!(find(root.path(), &new, 1100).is_some(), "pruned too early");
    }

    #[test]
    fn an_id_that_is_not_hex_is_never_a_path() {
        let root = tempfile::tempdir().expect("a temp dir");
        let container = root.path().join("c".repeat(64));
        save(&container, &view("abc"), 1000).expect("saving");
        assert!(find(root.path(), "../c/execs/abc", 1000).is_none());
        assert!(find(root.path(), "", 1000).is_none());
        assert!(find(root.path(), "abc", 1000).is_some());
    }
}
