//! The monitor: one small process per running container, between the daemon and the container.
//!
//! Why not let the daemon be the container's parent? Because then the container's life hangs
//! on the daemon's: only a parent can `wait` for a process and learn its exit code, and when
//! the daemon is restarted (an upgrade, a crash, `kill -9`), its children are orphaned and
//! their exit codes lost. Docker solves this with `containerd-shim`, Podman with `conmon`: a
//! tiny process that starts the container, stays its parent, copies its output to the log
//! file, and writes down how it ended. The daemon can come and go; the monitor stays.
//!
//! The monitor is this same binary run as `ch04 monitor ROOT ID`. It tells the daemon, on its
//! stdout, one JSON line: `{"pid":N}` once the container runs, or `{"error":..,"code":..}`;
//! then it closes stdout, and everything else goes through `state.json` and the log.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

use berth_images::container;
use berth_images::store::Store;
use berth_namespaces::signals::{self, BlockedSignals};
use berth_namespaces::{Stdio, start};
use serde::{Deserialize, Serialize};

use super::logs::{self, Stream};
use super::state::{RunState, Status, now_rfc3339, process_start};

/// The monitor's one message to the daemon.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Report {
    Started { pid: i32 },
    Failed { error: String, code: i32 },
}

// ANCHOR: monitor
/// Runs container `id` of the store at `root` to its end. Returns the monitor's exit code.
pub fn run(root: &std::path::Path, id: &str) -> i32 {
    let mut report = std::io::stdout();
    let say = |report: &mut std::io::Stdout, message: &Report| {
        let _ = writeln!(
            report,
            "{}",
            serde_json::to_string(message).unwrap_or_default()
        );
        let _ = report.flush();
    };
    let fail =
        |report: &mut std::io::Stdout, error: String, code: i32, dir: Option<&std::path::Path>| {
            if let Some(dir) = dir {
                let state = RunState {
                    status: Status::Exited,
                    exit_code: Some(code),
                    finished_at: Some(now_rfc3339()),
                    error: Some(error.clone()),
                    ..RunState::default()
                };
                let _ = state.save(dir);
            }
            say(report, &Report::Failed { error, code });
            code
        };

    let store = match Store::open_in_use(root) {
        Ok(store) => store,
        Err(e) => return fail(&mut report, e.to_string(), 125, None),
    };
    let record = match container::find(&store, id) {
        Ok(record) => record,
        Err(e) => return fail(&mut report, e.to_string(), 125, None),
    };
    let dir = record.dir(&store);
    let mut config = match container::runtime_config(&store, &record) {
        Ok(config) => config,
        Err(e) => return fail(&mut report, e.to_string(), 125, Some(&dir)),
    };

    // The container's stdout and stderr are pipes whose other ends we read into the log.
    let pipes = (nix::unistd::pipe(), nix::unistd::pipe());
    let ((out_read, out_write), (err_read, err_write)) = match pipes {
        (Ok(out), Ok(err)) => (out, err),
        (Err(e), _) | (_, Err(e)) => {
            return fail(&mut report, format!("pipe: {e}"), 125, Some(&dir));
        }
    };
    let null = std::fs::File::open("/dev/null").ok();
    config.stdio = Stdio {
        stdin: null.as_ref().map(|f| f.as_raw_fd()),
        stdout: Some(out_write.as_raw_fd()),
        stderr: Some(err_write.as_raw_fd()),
    };
    let log = match logs::Writer::open(&logs::path(&dir)) {
        Ok(log) => log,
        Err(e) => {
            return fail(
                &mut report,
                format!("opening the log: {e}"),
                125,
                Some(&dir),
            );
        }
    };

    let blocked = match BlockedSignals::block() {
        Ok(blocked) => blocked,
        Err(e) => return fail(&mut report, format!("signals: {e}"), 125, Some(&dir)),
    };
    let running = match start(&config) {
        Ok(running) => running,
        Err(e) => return fail(&mut report, e.to_string(), e.exit_code(), Some(&dir)),
    };
    // The child has its copies; ours must close, or the pipes never reach end-of-file.
    drop((out_write, err_write, null));

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
    let _ = state.save(&dir);
    say(&mut report, &Report::Started { pid });
    close_stdout();

    let code = std::thread::scope(|scope| {
        let copy = |stream, pipe: OwnedFd| {
            let log = &log;
            scope.spawn(move || log.copy(stream, std::fs::File::from(pipe)))
        };
        let readers = [
            copy(Stream::Stdout, out_read),
            copy(Stream::Stderr, err_read),
        ];
        let status = signals::forward_until_exit(&running, &blocked);
        // When PID 1 is gone the kernel kills the rest of the container, so the pipes close.
        for reader in readers {
            let _ = reader.join();
        }
        status.map(|s| s.code()).unwrap_or(255)
    });
    state.status = Status::Exited;
    state.exit_code = Some(code);
    state.finished_at = Some(now_rfc3339());
    let _ = state.save(&dir);
    0
}
// ANCHOR_END: monitor

/// Points fd 1 at /dev/null: the daemon stops reading it after the report, and a write to a
/// closed pipe would kill us with SIGPIPE.
fn close_stdout() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto our own fd 1, which nothing else in this process uses now.
        unsafe { libc::dup2(null.as_raw_fd(), 1) };
    }
}
