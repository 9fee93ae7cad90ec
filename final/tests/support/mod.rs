//! The harness of the engine's end-to-end tests: a real `berthd` per test, driven by clients
//! we did not write.
//!
//! Docker's proof of being an engine is that its clients work; ours is the same. A test starts
//! [`Daemon::start`] (or [`Daemon::builder`] to add a registry mirror), which runs the `berthd`
//! that cargo just built with a data root, a socket and a log of its own in a fresh temporary
//! directory, and waits until it answers `GET /_ping`. [`Daemon::docker`] then runs the real
//! docker CLI (`/usr/local/bin/docker`, 28.2.2) against that socket, with a `DOCKER_CONFIG` of
//! its own so nothing of the user's `~/.docker` is read or written.
//!
//! Images come from [`registry::BusyboxRegistry`]: the reference registry on a loopback port,
//! seeded by skopeo with the busybox fixture. Loopback registries are insecure by default, so
//! `docker pull 127.0.0.1:PORT/library/busybox` just works; started with
//! [`DaemonBuilder::mirror`], the same registry also serves plain `docker pull busybox`, as a
//! Docker Hub mirror does on an air-gapped machine.
//!
//! Containers outlive the daemon by design, so dropping a [`Daemon`] (also on a panic) does
//! what a careful operator would: kills the daemon, then every process that belongs to its
//! data root (monitors, containers, execs: see [`cleanup`]), unmounts every mount under its
//! directory, and removes the directory. A failing test prints the tail of the daemon's log.
//!
//! The modules: [`api`] speaks raw HTTP to the socket (for requests no client would send),
//! [`pty`] runs a command under a pseudo-terminal (`docker run -it`), [`redact`] holds the
//! insta filters that hide ids, times and sizes but nothing else.

#![allow(dead_code)] // Each test binary uses its own part of the harness.

pub mod api;
pub mod cgroups;
pub mod cleanup;
pub mod dockerd;
pub mod pty;
pub mod redact;
pub mod registry;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The docker CLI the tests drive: Docker's own static build, 28.2.2.
pub const DOCKER: &str = "/usr/local/bin/docker";

/// The daemon under test, as cargo built it for this test binary.
pub const BERTHD: &str = env!("CARGO_BIN_EXE_berthd");

/// The `berth` client, as cargo built it.
pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// How long the daemon may take to answer its first `/_ping`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one client command may run before the test calls it hung. Never a performance
/// figure: only a guard so that a deadlocked `docker run` fails the test instead of the CI job.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// How many lines of the daemon's log a failing test prints.
const LOG_TAIL_ON_PANIC: usize = 80;

/// What a client command did: its exit code and its output.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for failure messages.
    pub command: String,
    /// The exit code; `None` if a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Panics with everything the command printed unless it exited 0; returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "`{}` failed\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Panics with everything the command printed unless it exited with `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "`{}` exited with {:?}, expected {code}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Options of a daemon before it starts: see [`Daemon::builder`].
#[derive(Default)]
pub struct DaemonBuilder {
    label: String,
    mirrors: Vec<String>,
    insecure: Vec<String>,
    own_binary: bool,
    inherited: Option<(i32, PathBuf)>,
    bip: Option<String>,
    userns_remap: Option<(String, PathBuf)>,
    init_path: Option<PathBuf>,
}

impl DaemonBuilder {
    /// Names the test in the temporary directory, so a leak says whose it was.
    pub fn label(mut self, label: &str) -> Self {
        self.label = label.to_owned();
        self
    }

    /// `--registry-mirror URL`: `docker pull busybox` (Docker Hub) is served by `registry`.
    pub fn mirror(mut self, registry: &registry::BusyboxRegistry) -> Self {
        self.mirrors.push(registry.url());
        self
    }

    /// `--insecure-registry HOST`: plain HTTP to a registry that is not on loopback.
    pub fn insecure_registry(mut self, host: &str) -> Self {
        self.insecure.push(host.to_owned());
        self
    }

    /// Runs a copy of berthd in the test's directory instead of cargo's: for tests that try
    /// to overwrite the daemon's binary from a container, so that nothing real is harmed even
    /// when they fail.
    pub fn own_binary(mut self) -> Self {
        self.own_binary = true;
        self
    }

    /// Starts berthd with `path` open (read-only, not close-on-exec) as descriptor `fd`, as
    /// a careless parent (`exec 7</etc/hostname` in a shell) would leave it.
    pub fn inherited_fd(mut self, fd: i32, path: &Path) -> Self {
        self.inherited = Some((fd, path.to_owned()));
        self
    }

    /// Runs the daemon in a network namespace of the test's own (`berth-test-final-...`,
    /// deleted with the daemon), with its default bridge on `bip` (`10.N.0.1/24`). Without
    /// this, a daemon runs in the host's namespace with `--bridge none`: its containers get
    /// only `lo`, and the host's network is never touched.
    pub fn in_netns(mut self, bip: &str) -> Self {
        self.bip = Some(bip.to_owned());
        self
    }

    /// `--userns-remap SETTING`, its user's ranges read from `etc` (a directory of the test's
    /// own with `subuid` and `subgid`), never from the host's `/etc`.
    pub fn userns_remap(mut self, setting: &str, etc: &Path) -> Self {
        self.userns_remap = Some((setting.to_owned(), etc.to_owned()));
        self
    }

    /// `--init-path PATH`: the init program `docker run --init` runs.
    pub fn init_path(mut self, path: &Path) -> Self {
        self.init_path = Some(path.to_owned());
        self
    }

    /// Starts the daemon and waits until it answers.
    pub fn start(self) -> Daemon {
        let label = if self.label.is_empty() {
            "engine".to_owned()
        } else {
            self.label.clone()
        };
        let dir = berth_tests::test_dir(&format!("final-{label}"));
        for sub in ["docker-config", "home"] {
            std::fs::create_dir_all(dir.path().join(sub))
                .expect("creating the test's client directories");
        }
        let mut args = vec![
            "--data-root".to_owned(),
            dir.path().join("root").display().to_string(),
            "-H".to_owned(),
            format!("unix://{}", dir.path().join("berth.sock").display()),
        ];
        for mirror in &self.mirrors {
            args.extend(["--registry-mirror".to_owned(), mirror.clone()]);
        }
        for host in &self.insecure {
            args.extend(["--insecure-registry".to_owned(), host.clone()]);
        }
        if let Some((setting, etc)) = &self.userns_remap {
            args.extend(["--userns-remap".to_owned(), setting.clone()]);
            args.extend(["--userns-remap-etc".to_owned(), etc.display().to_string()]);
        }
        if let Some(path) = &self.init_path {
            args.extend(["--init-path".to_owned(), path.display().to_string()]);
        }
        let program = if self.own_binary {
            let copy = dir.path().join("berthd");
            std::fs::copy(BERTHD, &copy).expect("copying berthd into the test's directory");
            copy
        } else {
            PathBuf::from(BERTHD)
        };
        let netns = match &self.bip {
            Some(bip) => {
                args.extend(["--bip".to_owned(), bip.clone()]);
                Some(NetNs::new())
            }
            None => {
                args.extend(["--bridge".to_owned(), "none".to_owned()]);
                None
            }
        };
        let mut daemon = Daemon {
            dir,
            args,
            program,
            inherited: self.inherited,
            child: None,
            netns,
        };
        daemon.restart();
        daemon
    }
}

/// A running `berthd` with its own data root, socket and log; see the module documentation.
pub struct Daemon {
    /// Holds `root/` (the data root), `berth.sock`, `berthd.log`, `docker-config/` and `home/`.
    /// Removed last, on drop, after every process and mount of the daemon is gone.
    dir: tempfile::TempDir,
    args: Vec<String>,
    /// The berthd that runs: cargo's, or a copy in `dir` ([`DaemonBuilder::own_binary`]).
    program: PathBuf,
    /// A descriptor berthd inherits at start ([`DaemonBuilder::inherited_fd`]).
    inherited: Option<(i32, PathBuf)>,
    child: Option<Child>,
    /// The network namespace it runs in, if the test made one ([`DaemonBuilder::in_netns`]).
    /// Declared after `dir`: dropped after the daemon's processes are gone.
    netns: Option<NetNs>,
}

/// A network namespace made for one test (`ip netns add`), deleted when dropped.
pub struct NetNs {
    name: String,
}

impl NetNs {
    fn new() -> NetNs {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!("berth-test-final-{}-{n}", std::process::id());
        let made = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip netns add");
        assert!(made.success(), "ip netns add {name}");
        let ns = NetNs { name };
        let up = ns.command(&["ip", "link", "set", "lo", "up"]).status();
        assert!(up.is_ok_and(|s| s.success()), "lo up in {}", ns.name);
        ns
    }

    /// `ARGS` run inside the namespace. Through `nsenter --net`, not `ip netns exec`: the
    /// latter also mounts a new `/sys`, which hides the cgroup mounts the daemon needs.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/run/netns/{}", self.name))
            .arg("--")
            .args(args);
        command
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

impl Daemon {
    /// A daemon with no registry configured.
    pub fn start() -> Daemon {
        Daemon::builder().start()
    }

    /// A daemon with options: `Daemon::builder().label("pull").mirror(&registry).start()`.
    pub fn builder() -> DaemonBuilder {
        DaemonBuilder::default()
    }

    /// The test's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `--data-root`: the store, the containers and their logs.
    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The daemon's UNIX socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("berth.sock")
    }

    /// `unix:///…/berth.sock`: what `DOCKER_HOST` and `-H` take.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// The berthd binary this daemon runs.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Runs `ARGS` (not a container: a program of the host) in the daemon's network
    /// namespace; panics if the daemon has none of its own.
    pub fn in_netns(&self, args: &[&str]) -> Output {
        let ns = self.netns.as_ref().expect("a daemon started with in_netns");
        run(ns.command(args), &describe("nsenter", args), None)
    }

    /// The file of the daemon's network namespace (`/run/netns/NAME`), for a socket opened
    /// there with `setns`; panics if the daemon has none of its own.
    pub fn netns_file(&self) -> PathBuf {
        let ns = self.netns.as_ref().expect("a daemon started with in_netns");
        PathBuf::from(format!("/run/netns/{}", ns.name))
    }

    /// The names of the network devices in the daemon's namespace.
    pub fn links(&self) -> Vec<String> {
        let out = self.in_netns(&["ip", "-o", "link"]);
        out.ok()
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|name| name.split('@').next().unwrap_or(name).to_owned())
            .collect()
    }

    /// Loads the busybox fixture image into the daemon's store directly (chapter 2's load):
    /// for a daemon in a namespace of its own, which cannot reach a registry on the host's
    /// loopback.
    pub fn load_busybox(&self) {
        let store = berth_images::store::Store::open(self.data_root()).expect("the store");
        let image = berth_tests::fixtures_dir().join("images/busybox-oci");
        berth_images::load::load(&store, &image).expect("loading the busybox fixture");
    }

    /// The daemon's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the daemon wrote to stderr and stdout, across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    /// Starts the daemon (again, on the same data root after [`Daemon::kill9`]) and waits
    /// until it answers `GET /_ping` with 200.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the daemon is already running");
        let _ = std::fs::remove_file(self.socket());
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("berthd.log"))
            .expect("opening berthd.log");
        let program = self.program.to_str().expect("berthd's path is UTF-8");
        let mut command = match &self.netns {
            Some(ns) => ns.command(&[program]),
            None => Command::new(program),
        };
        // Open until the spawn below, closed in the test when this function returns.
        let mut _inherited = None;
        if let Some((fd, path)) = &self.inherited {
            let file = File::open(path).expect("opening the file berthd inherits");
            let (fd, source) = (*fd, std::os::fd::AsRawFd::as_raw_fd(&file));
            // SAFETY: dup2 only, between fork and exec; `file` outlives the spawn.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                    if libc::dup2(source, fd) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            _inherited = Some(file);
        }
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("duplicating the log handle"))
            .stderr(log);
        isolate_env(&mut command, self.dir.path());
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.program.display()));
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!(
                    "berthd {} exited at start with {status}; its log:\n{}",
                    self.args.join(" "),
                    self.log()
                );
            }
            if matches!(api::request(&self.socket(), "GET", "/_ping", &[], b""), Ok(r) if r.status == 200)
            {
                return;
            }
            if started.elapsed() > START_TIMEOUT {
                panic!(
                    "berthd did not answer GET /_ping on {} within {START_TIMEOUT:?}; its log:\n{}",
                    self.socket().display(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the daemon with SIGKILL, as a crash would; its containers go on running.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A `docker` command aimed at this daemon, not yet run: for tests that need a pipe, a
    /// pty or to kill the client half-way.
    pub fn docker_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(DOCKER);
        command.args(args).stdin(Stdio::null());
        self.client_env(&mut command);
        command
    }

    /// Runs `docker ARGS` against this daemon and returns what it did (panics if it hangs
    /// for [`COMMAND_TIMEOUT`]).
    pub fn docker(&self, args: &[&str]) -> Output {
        run(self.docker_command(args), &describe("docker", args), None)
    }

    /// Runs `docker ARGS` with `input` on its stdin.
    pub fn docker_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        run(
            self.docker_command(args),
            &describe("docker", args),
            Some(input),
        )
    }

    /// A `berth` command (our own client) aimed at this daemon, not yet run.
    pub fn berth_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BERTH);
        command
            .arg("-H")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::null());
        self.client_env(&mut command);
        command
    }

    /// Runs `berth -H unix://SOCKET ARGS`.
    pub fn berth(&self, args: &[&str]) -> Output {
        run(self.berth_command(args), &describe("berth", args), None)
    }

    /// Runs the docker Python SDK script `final/tests/py/NAME` with the venv's python,
    /// `DOCKER_HOST` set to this daemon and `args` after the script.
    pub fn python(&self, name: &str, args: &[&str]) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/py")
            .join(name);
        let mut command = Command::new(PYTHON);
        command.arg(&script).args(args).stdin(Stdio::null());
        self.client_env(&mut command);
        // No __pycache__ in the source tree.
        command.env("PYTHONDONTWRITEBYTECODE", "1");
        let mut described = vec![name];
        described.extend_from_slice(args);
        run(command, &describe("python", &described), None)
    }

    /// Runs the docker-py script `final/tests/py/NAME` (see [`Daemon::python`]) and asserts
    /// it passed, showing its steps and traceback when it did not.
    pub fn python_passes(&self, name: &str, args: &[&str]) {
        assert!(
            Path::new(PYTHON).is_file(),
            "the docker SDK's virtualenv is missing at {PYTHON}: run `sudo bash scripts/install-deps.sh`"
        );
        let out = self.python(name, args);
        assert_eq!(
            out.code,
            Some(0),
            "docker-py scenario {name} failed\n--- its steps ---\n{}\n--- traceback ---\n{}",
            out.stdout,
            out.stderr
        );
    }

    /// A Debian `docker-compose` (1.29, on python3-docker 5.0.3) command aimed at this daemon,
    /// run in `dir` (where the test wrote its `docker-compose.yml`) as project `project`.
    pub fn compose_command(&self, dir: &Path, project: &str, args: &[&str]) -> Command {
        let mut command = Command::new(COMPOSE);
        command
            .current_dir(dir)
            .args(["--ansi", "never", "-p", project])
            .args(args)
            .stdin(Stdio::null());
        self.client_env(&mut command);
        command
    }

    /// Runs `docker-compose -p PROJECT ARGS` in `dir` against this daemon.
    pub fn compose(&self, dir: &Path, project: &str, args: &[&str]) -> Output {
        let mut described = vec!["-p", project];
        described.extend_from_slice(args);
        run(
            self.compose_command(dir, project, args),
            &describe("docker-compose", &described),
            None,
        )
    }

    /// Sets the client side's environment: this daemon, a config directory of its own.
    fn client_env(&self, command: &mut Command) {
        isolate_env(command, self.dir.path());
        command
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            // "What's next" hints would make outputs depend on the CLI's mood.
            .env("DOCKER_CLI_HINTS", "false");
    }

    /// The containers the daemon lists (`GET /containers/json?all=1`), as JSON.
    pub fn containers(&self) -> Vec<serde_json::Value> {
        api::request(&self.socket(), "GET", "/containers/json?all=1", &[], b"")
            .ok()
            .filter(|r| r.status == 200)
            .and_then(|r| serde_json::from_slice(&r.body).ok())
            .unwrap_or_default()
    }

    /// Mounts on the host under this daemon's directory (there should be none once its
    /// containers are gone).
    pub fn mounts(&self) -> Vec<String> {
        cleanup::mounts_under(self.dir.path())
    }

    /// Overlay mounts (container root filesystems) on the host under this daemon's directory.
    pub fn overlay_mounts(&self) -> Vec<String> {
        cleanup::overlay_mounts_under(self.dir.path())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_ON_PANIC)..];
            eprintln!(
                "--- last {} lines of berthd's log ({}) ---\n{}",
                tail.len(),
                self.dir.path().display(),
                tail.join("\n")
            );
        }
        // Ask first: a daemon that works removes its containers and their mounts itself.
        if self.child.is_some() {
            for container in self.containers() {
                if let Some(id) = container["Id"].as_str() {
                    let _ = api::request(
                        &self.socket(),
                        "DELETE",
                        &format!("/containers/{id}?force=1"),
                        &[],
                        b"",
                    );
                }
            }
        }
        // Then make sure: the daemon, its monitors, containers and execs, its mounts.
        self.kill9();
        cleanup::kill_processes_of(self.dir.path());
        cleanup::unmount_under(self.dir.path());
        cleanup::remove_cgroups_of(self.dir.path());
        if let Err(e) = std::fs::remove_dir_all(self.dir.path()) {
            eprintln!(
                "berth test harness: could not remove {}: {e}; mounts left: {:?}",
                self.dir.path().display(),
                cleanup::mounts_under(self.dir.path())
            );
        }
    }
}

/// Debian's docker-compose 1.29 (installed by `scripts/install-deps.sh`).
pub const COMPOSE: &str = "/usr/bin/docker-compose";

/// The docker SDK's virtualenv python (made by `scripts/install-deps.sh`).
pub const PYTHON: &str = "/var/cache/berth/venv/bin/python";

/// Keeps the host's settings out of a daemon or client: no `DOCKER_*` or `BERTH_*` variable of
/// the caller's, and a `HOME` of the test's own (the CLI and berth keep credentials there).
fn isolate_env(command: &mut Command, dir: &Path) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("DOCKER_") || name.starts_with("BERTH_") {
            command.env_remove(name.as_ref());
        }
    }
    command
        .env("HOME", dir.join("home"))
        .env("BERTH_CONFIG_DIR", dir.join("home/.berth"));
}

fn describe(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command` to its end with an optional stdin, collecting its output; panics with what
/// it printed so far if it runs longer than [`COMMAND_TIMEOUT`].
pub fn run(mut command: Command, described: &str, input: Option<&[u8]>) -> Output {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    if input.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("starting `{described}`: {e}"));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input = input.to_vec();
        // A thread of its own: a client that does not read its stdin must not block us.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let stdout = read_in_background(child.stdout.take().expect("piped stdout"));
    let stderr = read_in_background(child.stderr.take().expect("piped stderr"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a client") {
            break status;
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`{described}` hung for {COMMAND_TIMEOUT:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                String::from_utf8_lossy(&stdout.join().unwrap_or_default()),
                String::from_utf8_lossy(&stderr.join().unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        command: described.to_owned(),
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned(),
    }
}

/// Reads a pipe to its end on a thread of its own.
pub fn read_in_background(
    mut pipe: impl Read + Send + 'static,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Polls `check` every 20 ms until it holds; panics naming `what` after `limit`.
#[track_caller]
pub fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a spawned client; its exit code (`None` if a signal ended it). Panics, killing
/// it, after `limit`.
#[track_caller]
pub fn wait_child(child: &mut Child, limit: Duration) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a client") {
            return status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a client did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A name unique to this test process, for containers and tags on a shared machine.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A daemon in a network namespace of its own ([`DaemonBuilder::in_netns`]) with its default
/// bridge on `10.<n>.0.0/24`, and the busybox image loaded (no registry is reachable there).
pub fn daemon_in_netns_with_busybox(label: &str, n: u8) -> Daemon {
    let daemon = Daemon::builder()
        .label(label)
        .in_netns(&format!("10.{n}.0.1/24"))
        .start();
    daemon.load_busybox();
    daemon
}

/// A daemon with busybox already pulled from its own registry, which lives as long: the
/// daemon, the registry, and the image's reference.
pub fn daemon_with_busybox(label: &str) -> (Daemon, registry::BusyboxRegistry, String) {
    let registry = registry::BusyboxRegistry::start();
    let daemon = Daemon::builder().label(label).start();
    let image = registry.image();
    daemon.docker(&["pull", "-q", &image]).ok();
    (daemon, registry, image)
}
