//! `docker exec`: more processes in a running container.
//!
//! An exec instance is created (`POST /containers/{id}/exec`), then started, once. Starting
//! it is chapter 1's [`berth_namespaces::enter::enter`]: a new process joins the namespaces
//! and the root of the container's PID 1, with the container's environment plus the exec's,
//! its user (a name resolved in the container's own `/etc/passwd`) and working directory.
//! The process is the daemon's child; a thread waits for it and records its exit code
//! *before* the session's output ends, because the docker CLI asks for the exit code
//! (`GET /exec/{id}/json`) the moment its stream closes. Instances live in memory; an ended
//! one is also kept on disk for a while (`ended_execs.rs`), for inspect after a restart.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use berth_images::users;
use berth_namespaces::console::{self, Console};
use berth_namespaces::{ContainerConfig, Stdio};
use nix::unistd::Pid;

use super::detach::{DetachKeys, Keys};
use super::{EngineError, ExecSpec, ExecView, Extension, StreamKind, pipes, pty};
use berth_images::container::ContainerRecord;

/// How many output chunks may wait for a slow exec client before the process is held up.
const OUTPUT_CHUNKS_IN_FLIGHT: usize = 64;

/// What runs once an exec's process has ended, with its final view.
type FinishHook = Box<dyn Fn(&ExecView) + Send + Sync>;

/// One exec instance.
pub struct Instance {
    /// Its id (64 random hex digits), the key of the engine's table of execs.
    pub id: String,
    /// The full id of the container it runs in.
    pub container_id: String,
    /// What it was created with; its process starts from it, once.
    pub spec: ExecSpec,
    state: Mutex<State>,
    changed: Condvar,
    /// Called once with the ended instance's view (its exit code set) when the process has
    /// ended: the engine's `exec_die`, and the record kept for inspect.
    on_finish: Option<FinishHook>,
}

#[derive(Default)]
struct State {
    started: bool,
    running: bool,
    exit_code: Option<i32>,
    pid: Option<i32>,
    /// The terminal's master end, for resizes.
    terminal: Option<File>,
    /// When the process ended (Unix seconds), for pruning.
    ended: Option<u64>,
}

impl Instance {
    /// Whether its process has been started (it starts once).
    pub fn started(&self) -> bool {
        self.lock().started
    }

    /// Whether it ended long enough before `now` (Unix seconds) to be pruned.
    pub fn expired(&self, now: u64) -> bool {
        self.lock()
            .ended
            .is_some_and(|ended| super::ended_execs::expired(ended, now))
    }
}

/// What the session's output loop receives: the process's output, or word that the client
/// typed the detach keys.
enum Chunk {
    Output(StreamKind, Vec<u8>),
    Detached,
}

/// The sender through which a session's stdin side ends its output loop on detach keys; the
/// process's end takes it away, so that it never keeps the output channel open.
type Detacher = Arc<Mutex<Option<SyncSender<Chunk>>>>;

/// A started exec's stdio, for its session.
pub struct ExecSession {
    /// Its instance: the session waits there for the exit code to be recorded before it ends.
    pub instance: Arc<Instance>,
    /// Where the client's stdin goes; `None` when not attached.
    stdin: Option<File>,
    output: Receiver<Chunk>,
    detacher: Detacher,
    tty: bool,
}

impl Instance {
    /// A new, not started instance.
    pub fn new(id: String, container_id: String, spec: ExecSpec) -> Instance {
        Instance {
            id,
            container_id,
            spec,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            on_finish: None,
        }
    }

    /// Has `hook` called with the ended instance's view once the process has ended.
    pub fn on_finish(mut self, hook: impl Fn(&ExecView) + Send + Sync + 'static) -> Instance {
        self.on_finish = Some(Box::new(hook));
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `GET /exec/{id}/json`.
    pub fn view(&self) -> ExecView {
        let state = self.lock();
        ExecView {
            id: self.id.clone(),
            container_id: self.container_id.clone(),
            spec: self.spec.clone(),
            running: state.running,
            exit_code: state.exit_code,
            pid: state.pid,
        }
    }

    /// Resizes its terminal, if it has one.
    pub fn resize(&self, rows: u16, cols: u16) -> Result<(), EngineError> {
        if let Some(master) = &self.lock().terminal {
            pty::set_size(master, rows, cols)
                .map_err(EngineError::exec(&self.id, "resizing its terminal"))?;
        }
        Ok(())
    }

    fn finish(&self, code: i32) {
        // Before the exit code is visible: a client that saw its exec end must find the
        // `exec_die` already emitted.
        if let Some(hook) = &self.on_finish {
            let mut ended = self.view();
            ended.running = false;
            ended.exit_code = Some(code);
            hook(&ended);
        }
        let mut state = self.lock();
        state.running = false;
        state.exit_code = Some(code);
        state.terminal = None;
        state.ended = Some(super::ended_execs::now());
        drop(state);
        self.changed.notify_all();
    }

    /// Blocks until the exit code is recorded.
    fn wait_exit(&self) {
        let mut state = self.lock();
        while state.exit_code.is_none() {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// The configuration of the exec's process: the container's settings, then the exec's, then
/// what the extensions add (the container's security profile: an exec is as confined as its
/// container).
fn config(
    exec_id: &str,
    pid: i32,
    spec: &ExecSpec,
    record: &ContainerRecord,
    extensions: &[Arc<dyn Extension>],
) -> Result<ContainerConfig, EngineError> {
    if spec.cmd.is_empty() || spec.cmd[0].is_empty() {
        return Err(EngineError::Invalid("no exec command specified".into()));
    }
    let mut config = ContainerConfig::new("/", spec.cmd.clone());
    config.env = record.env.clone();
    config.hostname = record.hostname.clone();
    config.rootless = false;
    let group_add = &record.options.group_add;
    let user = spec
        .user
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| record.user.clone())
        // The container's `--group-add` applies to its execs too, root's included.
        .or_else(|| (!group_add.is_empty()).then(|| "0".to_owned()))
        .unwrap_or_default();
    if !user.is_empty() {
        // Names mean what the container's own files say, as they are now.
        let read = |name: &str| read_in_container(pid, &format!("etc/{name}"));
        let group = read("group").unwrap_or_default();
        let fail = |e: users::UserError| EngineError::start(exec_id, e.to_string(), 126);
        let mut resolved_user =
            users::resolve(&user, &read("passwd").unwrap_or_default(), &group).map_err(fail)?;
        users::add_groups(&mut resolved_user.user, group_add, &group).map_err(fail)?;
        config.set_env("HOME", &resolved_user.home);
        config.user = Some(resolved_user.user);
    }
    for (key, value) in &spec.env {
        config.set_env(key, value);
    }
    let workdir = spec
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| record.workdir.clone());
    config.workdir = if workdir.is_empty() {
        "/".into()
    } else {
        workdir.into()
    };
    for extension in extensions {
        extension
            .configure_exec(record, spec.privileged, &mut config)
            .map_err(|source| EngineError::Extension {
                extension: extension.name().to_owned(),
                what: "configuring an exec",
                id: record.id.clone(),
                source,
            })?;
    }
    Ok(config)
}

/// Starts the instance's process in the container whose PID 1 is `pid`. With `detach`
/// nothing is attached; else the session's stdio.
pub fn start(
    instance: &Arc<Instance>,
    pid: i32,
    record: &ContainerRecord,
    extensions: &[Arc<dyn Extension>],
    detach: bool,
) -> Result<Option<ExecSession>, EngineError> {
    {
        let mut state = instance.lock();
        if state.started {
            return Err(EngineError::Invalid(format!(
                "exec instance {} has already been started",
                instance.id
            )));
        }
        state.started = true;
    }
    // From here on the instance counts as started: whatever fails must record an exit code,
    // or `docker exec` (which reads `GET /exec/{id}/json` next) would see it "starting" forever.
    launch(instance, pid, record, extensions, detach).inspect_err(|e| {
        let code = match e {
            EngineError::Start { source, .. } => source.code,
            _ => 125,
        };
        if instance.lock().exit_code.is_none() {
            instance.finish(code);
        }
    })
}

/// The body of [`start`], once the instance is marked started.
fn launch(
    instance: &Arc<Instance>,
    pid: i32,
    record: &ContainerRecord,
    extensions: &[Arc<dyn Extension>],
    detach: bool,
) -> Result<Option<ExecSession>, EngineError> {
    let spec = &instance.spec;
    let mut config = config(&instance.id, pid, spec, record, extensions)?;
    let fail = |what| EngineError::exec(&instance.id, what);
    let null = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(fail("opening /dev/null"))?;
    // Bounded: a client that is connected but does not read makes the process wait (as a
    // pipe would), rather than the daemon buffer its whole output in memory.
    let (out_tx, out_rx) = sync_channel(OUTPUT_CHUNKS_IN_FLIGHT);
    // The parent's copies of the child's ends must close once it runs.
    let mut child_ends: Vec<std::os::fd::OwnedFd> = Vec::new();
    let mut stdin = None;
    let mut readers: Vec<(StreamKind, File)> = Vec::new();
    let mut console_socket = None;
    config.stdio = Stdio {
        stdin: Some(null.as_raw_fd()),
        stdout: Some(null.as_raw_fd()),
        stderr: Some(null.as_raw_fd()),
    };
    if spec.tty {
        let (ours, theirs) = UnixStream::pair().map_err(fail("a socket for its terminal"))?;
        config.console = Some(Console {
            socket: theirs.as_raw_fd(),
            size: spec.console_size.map(|[rows, cols]| (rows, cols)),
        });
        console_socket = Some(ours);
        child_ends.push(theirs.into());
    } else if !detach {
        if spec.attach_stdin {
            let (read, write) = pipes::pipe().map_err(fail("a pipe for its stdin"))?;
            config.stdio.stdin = Some(read.as_raw_fd());
            child_ends.push(read);
            stdin = Some(File::from(write));
        }
        for (kind, wanted) in [
            (StreamKind::Stdout, spec.attach_stdout),
            (StreamKind::Stderr, spec.attach_stderr),
        ] {
            if wanted {
                let (read, write) = pipes::pipe().map_err(fail("a pipe for its output"))?;
                match kind {
                    StreamKind::Stdout => config.stdio.stdout = Some(write.as_raw_fd()),
                    _ => config.stdio.stderr = Some(write.as_raw_fd()),
                }
                child_ends.push(write);
                readers.push((kind, File::from(read)));
            }
        }
    }

    let running = match berth_namespaces::enter::enter(Pid::from_raw(pid), &config) {
        Ok(running) => running,
        Err(e) => {
            let message = format!("OCI runtime exec failed: {e}");
            return Err(EngineError::start(&instance.id, message, e.exit_code()));
        }
    };
    drop(child_ends);
    drop(null);
    if let Some(socket) = console_socket {
        let terminal = console::receive_master(socket.as_raw_fd())
            .map(File::from)
            .and_then(|master| Ok((master.try_clone()?, master.try_clone()?, master)));
        let (for_stdin, for_output, master) = match terminal {
            Ok(ends) => ends,
            Err(e) => {
                // It runs, but nobody could ever read its terminal: end it rather than leave
                // an unreaped process nobody watches.
                let _ = nix::sys::signal::kill(running.pid(), nix::sys::signal::Signal::SIGKILL);
                let _ = running.wait();
                return Err(fail("receiving its terminal")(e));
            }
        };
        if spec.attach_stdin && !detach {
            stdin = Some(for_stdin);
        }
        readers.push((StreamKind::Stdout, for_output));
        instance.lock().terminal = Some(master);
    }
    {
        let mut state = instance.lock();
        state.running = true;
        state.pid = Some(running.pid().as_raw());
    }
    // Readers drain the output even when no client reads it any more, so the process never
    // blocks on a full pipe; the channel ends when they all have.
    for (kind, from) in readers {
        let tx: SyncSender<_> = out_tx.clone();
        std::thread::spawn(move || drain(from, kind, &tx));
    }
    let detacher: Detacher = Arc::new(Mutex::new(Some(out_tx)));
    let waiter = Arc::clone(instance);
    let ended = Arc::clone(&detacher);
    std::thread::spawn(move || {
        let code = running.wait().map(|s| s.code()).unwrap_or(255);
        // The channel now ends when the readers have drained the last output.
        ended.lock().unwrap_or_else(|p| p.into_inner()).take();
        waiter.finish(code);
    });
    if detach {
        return Ok(None);
    }
    Ok(Some(ExecSession {
        instance: Arc::clone(instance),
        stdin,
        output: out_rx,
        detacher,
        tty: spec.tty,
    }))
}

fn drain(mut from: File, kind: StreamKind, to: &SyncSender<Chunk>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                // A session that is gone no longer receives: keep draining regardless.
                let _ = to.send(Chunk::Output(kind, buf[..n].to_vec()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO: the terminal's last user closed it.
            Err(_) => return,
        }
    }
}

impl ExecSession {
    /// Runs the session: stdin to the process, output to the client, and returns after the
    /// exit code is recorded; or at once when the client types the detach keys (with a
    /// terminal only, as Docker), leaving the process running.
    pub fn pump(
        self,
        mut input: Box<dyn Read + Send>,
        output: &mut dyn FnMut(StreamKind, &[u8]) -> std::io::Result<()>,
    ) -> Result<(), EngineError> {
        if let Some(mut stdin) = self.stdin {
            let tty = self.tty;
            // Checked at create: a sequence that does not parse never gets here.
            let mut keys =
                tty.then(|| DetachKeys::parse(&self.instance.spec.detach_keys).unwrap_or_default());
            let detacher = self.detacher;
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    let n = match input.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let (data, detach) = match keys.as_mut().map(|k| k.feed(&buf[..n])) {
                        None => (buf[..n].to_vec(), false),
                        Some(Keys::Forward(data)) => (data, false),
                        Some(Keys::Detach(data)) => (data, true),
                    };
                    if stdin.write_all(&data).is_err() {
                        return;
                    }
                    if detach {
                        let sender = detacher.lock().unwrap_or_else(|p| p.into_inner()).take();
                        if let Some(sender) = sender {
                            let _ = sender.send(Chunk::Detached);
                        }
                        return;
                    }
                }
                // The client's end of input is the process's, unless it is a terminal,
                // which stays open for the program (Docker does the same).
                if !tty {
                    drop(stdin);
                }
            });
        }
        for chunk in self.output.iter() {
            let (kind, data) = match chunk {
                Chunk::Output(kind, data) => (kind, data),
                Chunk::Detached => return Ok(()), // The process runs on.
            };
            if output(kind, &data).is_err() {
                return Ok(()); // The client went away; the process runs on.
            }
        }
        self.instance.wait_exit();
        Ok(())
    }
}

/// Reads a small regular file of the container whose PID 1 is `pid`, at `path` relative to its
/// root. The image is not to be trusted: `/etc/passwd` may be a symlink to `/etc/shadow`, and
/// the kernel resolves an absolute symlink met under `/proc/PID/root` against *our* root,
/// the host's. `openat2` with `RESOLVE_IN_ROOT` resolves every component, symlinks included,
/// inside the container's root instead. A FIFO would block the open (hence `O_NONBLOCK`),
/// and `/dev/zero` would never end (hence regular files only, and a size cap).
fn read_in_container(pid: i32, path: &str) -> std::io::Result<String> {
    use std::io::Read as _;
    use std::os::fd::FromRawFd as _;
    const LIMIT: u64 = 1 << 20;
    let root = File::open(format!("/proc/{pid}/root"))?;
    let path = std::ffi::CString::new(path).map_err(std::io::Error::other)?;
    // SAFETY: open_how is plain data; all-zero is its "nothing asked" value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: a valid directory descriptor, a NUL-terminated path and a filled open_how of the
    // size we pass; the result is a new descriptor or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor; nothing else owns it.
    let file = unsafe { File::from_raw_fd(fd as i32) };
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut text = String::new();
    file.take(LIMIT).read_to_string(&mut text)?;
    Ok(text)
}
