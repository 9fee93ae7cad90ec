//! An engine of its own per test: a fresh store with busybox, containers removed on drop.

#![allow(dead_code)]

use std::io::Read;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use berth::engine::{AttachOptions, CreateSpec, Engine, EngineError, StreamKind, WaitCondition};

/// berthd, which the engine runs as `berthd monitor ...`.
pub const BERTHD: &str = env!("CARGO_BIN_EXE_berthd");

/// How long any one step may take before the test fails instead of hanging CI.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A test's engine on its own store; every container is killed and removed on drop.
pub struct TestEngine {
    pub engine: Arc<Engine>,
    pub dir: tempfile::TempDir,
}

impl TestEngine {
    /// A fresh store with the busybox fixture loaded, and an engine on it.
    pub fn new(label: &str) -> TestEngine {
        let dir = berth_tests::test_dir(&format!("engine-{label}"));
        let root = dir.path().join("store");
        let store = berth_images::store::Store::open(&root).expect("opening the store");
        let busybox = berth_tests::fixtures_dir().join("images/busybox-oci");
        berth_images::load::load(&store, &busybox).expect("loading busybox");
        let engine = berth::engine::open(&root, BERTHD.into()).expect("opening the engine");
        TestEngine { engine, dir }
    }

    /// The store's root.
    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("store")
    }

    /// Creates a busybox container running `cmd`, with `edit` applied to the spec.
    pub fn create(&self, cmd: &[&str], edit: impl FnOnce(&mut CreateSpec)) -> String {
        let mut spec = CreateSpec {
            image: "busybox".into(),
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            ..CreateSpec::default()
        };
        edit(&mut spec);
        self.engine
            .create(spec)
            .expect("creating a container")
            .record
            .id
    }
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        if let Ok(containers) = self.engine.containers() {
            for c in containers {
                let _ = self.engine.remove(&c.record.id, true);
            }
        }
        self.engine.shutdown();
    }
}

/// Runs `f` on a thread and fails the test if it takes longer than [`PATIENCE`].
pub fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(value) => value,
        Err(_) => panic!("{what} did not finish within {PATIENCE:?}"),
    }
}

/// What a session delivered.
#[derive(Debug, Default)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// Pumps a session to its end, collecting the output.
pub fn collect(
    session: berth::engine::Session,
    input: Box<dyn Read + Send>,
) -> Result<Output, EngineError> {
    let mut out = Output::default();
    session.pump(input, &mut |stream, bytes| {
        let text = String::from_utf8_lossy(bytes);
        match stream {
            StreamKind::Stderr => out.stderr.push_str(&text),
            _ => out.stdout.push_str(&text),
        }
        Ok(())
    })?;
    Ok(out)
}

/// A reader that is at its end at once.
pub fn no_input() -> Box<dyn Read + Send> {
    Box::new(std::io::empty())
}

/// `docker run` as the CLI does it: create, attach, wait for the next exit, start, pump.
/// Returns the exit code and the output; a start failure is returned as its error.
pub fn run(
    t: &TestEngine,
    cmd: &[&str],
    edit: impl FnOnce(&mut CreateSpec),
    input: Box<dyn Read + Send>,
) -> Result<(i32, Output), EngineError> {
    let id = t.create(cmd, edit);
    let engine = Arc::clone(&t.engine);
    within("docker run", move || {
        let options = AttachOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            logs: false,
            detach_keys: String::new(),
        };
        let session = engine.attach(&id, options)?;
        let waiter = engine.wait(&id, WaitCondition::NextExit)?;
        let pump = std::thread::spawn(move || collect(session, input));
        engine.start(&id)?;
        let output = pump.join().expect("the session thread")?;
        let code = waiter.wait()?;
        Ok((code, output))
    })
}
