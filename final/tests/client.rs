//! `berth`, our own client, drives a real berthd through the everyday workflow.
//!
//! Each test starts its own daemon (see `support`) and, when it needs images, its own
//! registry seeded with busybox; the daemon is started with that registry as its Docker Hub
//! mirror, so plain `busybox` resolves without the internet. The checks are on what a user
//! sees: output, exit codes, and what `ps`, `images` and `logs` say afterwards. Stable outputs
//! are insta snapshots with ids, digests, times and sizes redacted, never words or columns.
//!
//! The `-it` tests open their own pseudo-terminal so that they can read the terminal's
//! settings (raw or not) from the master side while berth runs and after it leaves.

mod support;

/// The API tests' harness: a berthd with extra flags (here `-H tcp://` with TLS).
#[path = "api_support/mod.rs"]
mod api_support;

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::pty::{Winsize, openpty};
use nix::sys::termios::{LocalFlags, tcgetattr};
use serde_json::Value;
use support::registry::BusyboxRegistry;
use support::{Daemon, Output, eventually, redact, unique, wait_child};

/// How long a step may take before the test calls it hung (a guard, not a measurement).
const PATIENCE: Duration = Duration::from_secs(60);

/// A daemon whose Docker Hub mirror is a registry holding busybox.
fn daemon_with_mirror(label: &str) -> (Daemon, BusyboxRegistry) {
    let registry = BusyboxRegistry::start();
    let daemon = Daemon::builder().label(label).mirror(&registry).start();
    (daemon, registry)
}

/// Applies the redactions and asserts a named snapshot.
macro_rules! snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({ filters => redact::filters() }, {
            insta::assert_snapshot!($name, $text);
        })
    };
}

/// Parses a command's stdout as one JSON document.
#[track_caller]
fn json(output: &Output) -> Value {
    let text = output.ok();
    serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("`{}`: not JSON ({e}):\n{text}", output.command))
}

#[test]
fn version_and_info_describe_client_and_daemon() {
    let daemon = Daemon::builder().label("client-version").start();

    let version = daemon.berth(&["version"]);
    // The kernel is the host's: keep the line, hide its value.
    let text: Vec<String> = redact::columns(version.ok())
        .replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
        .lines()
        .map(|line| match line.split_once("Kernel Version:") {
            Some((indent, _)) => format!("{indent}Kernel Version:  [KERNEL]"),
            None => line.to_owned(),
        })
        .collect();
    snapshot!("version", text.join("\n"));

    let version = json(&daemon.berth(&["version", "--format", "json"]));
    assert_eq!(version["Client"]["ApiVersion"], "1.50");
    assert_eq!(version["Server"]["ApiVersion"], "1.50");
    assert_eq!(version["Server"]["Os"], "linux");

    let info = json(&daemon.berth(&["info", "--format", "json"]));
    assert_eq!(
        info["Containers"], 0,
        "a fresh daemon has no containers: {info}"
    );
    let text = daemon.berth(&["info"]);
    assert!(text.ok().contains(" Containers: 0\n"), "{}", text.stdout);

    // An unsupported format is refused, not ignored.
    let bad = daemon.berth(&["ps", "--format", "{{.ID}}"]);
    bad.expect_code(1);
    assert!(
        bad.stderr.contains("unsupported --format"),
        "{}",
        bad.stderr
    );
}

#[test]
fn pull_images_and_run_with_exit_codes() {
    let (daemon, registry) = daemon_with_mirror("client-run");

    let pulled = daemon.berth(&["pull", &registry.image()]);
    snapshot!("pull", pulled.ok());
    let images = daemon.berth(&["images"]);
    snapshot!("images", redact::columns(images.ok()));
    let listed = json(&daemon.berth(&["images", "--format", "json"]));
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");

    // `busybox` is not in the store under that name: run pulls it through the mirror first.
    let hi = daemon.berth(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(hi.ok(), "hi\n");
    assert!(
        hi.stderr
            .starts_with("Unable to find image 'busybox:latest' locally\n"),
        "{}",
        hi.stderr
    );
    // Now it is there: no second pull.
    let again = daemon.berth(&["run", "--rm", "busybox", "echo", "again"]);
    assert_eq!(again.ok(), "again\n");
    assert_eq!(again.stderr, "");

    // stderr stays stderr.
    let split = daemon.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!((split.ok(), split.stderr.as_str()), ("out\n", "err\n"));

    // The container's exit code is ours; start failures have Docker's codes.
    daemon
        .berth(&["run", "--rm", "busybox", "true"])
        .expect_code(0);
    daemon
        .berth(&["run", "--rm", "busybox", "sh", "-c", "exit 1"])
        .expect_code(1);
    // Killed by a signal: 128 + 9, for an attached run whose container is killed.
    let name = unique("killed");
    let mut attached = daemon
        .berth_command(&["run", "--rm", "--name", &name, "busybox", "sleep", "1000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting berth run");
    eventually("the container to run", PATIENCE, || {
        daemon
            .berth(&["ps", "--format", "json"])
            .stdout
            .contains(&name)
    });
    daemon.berth(&["kill", &name]).ok();
    assert_eq!(wait_child(&mut attached, PATIENCE), Some(137));

    // Ctrl-C on an attached run without a TTY is forwarded to the container (kill?signal=INT).
    let name = unique("interrupted");
    let script = "trap 'echo got INT; exit 3' INT; echo waiting; while true; do sleep 0.1; done";
    let mut attached = daemon
        .berth_command(&[
            "run", "--rm", "--name", &name, "busybox", "sh", "-c", script,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting berth run");
    let mut stdout = attached.stdout.take().expect("piped");
    let mut first = [0u8; 8];
    stdout
        .read_exact(&mut first)
        .expect("reading the container's first line");
    assert_eq!(&first, b"waiting\n");
    let pid = nix::unistd::Pid::from_raw(attached.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("interrupting berth");
    assert_eq!(
        wait_child(&mut attached, PATIENCE),
        Some(3),
        "the container's trap ran"
    );
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("reading the rest");
    assert_eq!(rest, "got INT\n");
    let missing = daemon.berth(&["run", "--rm", "busybox", "no-such-command"]);
    missing.expect_code(127);
    assert!(
        missing.stderr.contains("no-such-command"),
        "{}",
        missing.stderr
    );
    daemon
        .berth(&["run", "--rm", "busybox", "/etc/passwd"])
        .expect_code(126);

    // A daemon error in run is 125.
    let bad_image = daemon.berth(&["run", "--rm", "Not-An-Image"]);
    bad_image.expect_code(125);
    assert!(
        bad_image.stderr.contains("must be lowercase"),
        "{}",
        bad_image.stderr
    );

    // --rm left nothing behind.
    let all = json(&daemon.berth(&["ps", "-a", "--format", "json"]));
    assert_eq!(all, Value::Array(vec![]), "containers left by --rm");

    // Piped stdin reaches the container, and its end closes the container's stdin.
    let mut command =
        daemon.berth_command(&["run", "-i", "--rm", "busybox", "sh", "-c", "tr a-z A-Z"]);
    command.stdin(Stdio::piped());
    let echoed = support::run(command, "berth run -i", Some(b"piped input\n"));
    assert_eq!(echoed.ok(), "PIPED INPUT\n");
}

#[test]
fn detached_containers_ps_logs_exec_stop_kill_rm() {
    let (daemon, _registry) = daemon_with_mirror("client-lifecycle");
    daemon.berth(&["pull", "busybox"]).ok();
    let name = unique("web");

    let id = daemon
        .berth(&[
            "run",
            "-d",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            "echo ready; exec sleep 1000",
        ])
        .ok()
        .trim()
        .to_owned();
    assert_eq!(id.len(), 64, "run -d prints the full id: {id:?}");

    let ps = daemon.berth(&["ps"]);
    let table = ps.ok().replace(&name, "[NAME]");
    snapshot!("ps", redact::columns(&table));
    let quiet = daemon.berth(&["ps", "-q"]);
    assert_eq!(quiet.ok(), format!("{}\n", &id[..12]));

    eventually("the container's first line in its logs", PATIENCE, || {
        daemon.berth(&["logs", &name]).stdout == "ready\n"
    });

    // exec: output, exit code, stdin.
    let exec = daemon.berth(&["exec", &name, "sh", "-c", "echo in-exec; exit 5"]);
    exec.expect_code(5);
    assert_eq!(exec.stdout, "in-exec\n");
    let mut command = daemon.berth_command(&["exec", "-i", &name, "cat"]);
    command.stdin(Stdio::piped());
    let cat = support::run(command, "berth exec -i", Some(b"through exec\n"));
    assert_eq!(cat.ok(), "through exec\n");
    daemon
        .berth(&["exec", &name, "no-such-command"])
        .expect_code(127);

    // logs -f follows until the container stops; stop prints the name.
    let mut follow = daemon
        .berth_command(&["logs", "-f", &name])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting berth logs -f");
    let stopped = daemon.berth(&["stop", "-t", "1", &name]);
    assert_eq!(stopped.ok(), format!("{name}\n"));
    assert_eq!(
        wait_child(&mut follow, PATIENCE),
        Some(0),
        "logs -f ended with the container"
    );
    let mut followed = String::new();
    follow
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut followed)
        .expect("reading logs -f");
    assert_eq!(followed, "ready\n");

    let listed = json(&daemon.berth(&["ps", "-a", "--format", "json"]));
    assert_eq!(listed[0]["State"], "exited", "{listed}");
    let inspected = json(&daemon.berth(&["inspect", &name]));
    assert_eq!(inspected[0]["Id"], id.as_str());
    assert_eq!(inspected[0]["State"]["Running"], false);

    // kill: the container dies of SIGKILL, 137.
    daemon.berth(&["start", &name]).ok();
    let killed = daemon.berth(&["kill", &name]);
    assert_eq!(killed.ok(), format!("{name}\n"));
    eventually("the killed container to exit", PATIENCE, || {
        json(&daemon.berth(&["inspect", &name]))[0]["State"]["ExitCode"] == 137
    });

    // create, then start -a: output and exit code as run would give them.
    let made = unique("made");
    daemon
        .berth(&[
            "create",
            "--name",
            &made,
            "busybox",
            "sh",
            "-c",
            "echo created; exit 2",
        ])
        .ok();
    let started = daemon.berth(&["start", "-a", &made]);
    started.expect_code(2);
    assert_eq!(started.stdout, "created\n");
    daemon.berth(&["rm", &made]).ok();

    // rm -f removes even a running container.
    daemon.berth(&["start", &name]).ok();
    assert_eq!(
        daemon.berth(&["rm", &name]).code,
        Some(1),
        "rm of a running container needs -f"
    );
    assert_eq!(daemon.berth(&["rm", "-f", &name]).ok(), format!("{name}\n"));
    let gone = daemon.berth(&["inspect", &name]);
    gone.expect_code(1);
    assert_eq!(gone.stdout.trim(), "[]");
    assert!(gone.stderr.contains("No such object"), "{}", gone.stderr);
    assert!(
        daemon.overlay_mounts().is_empty(),
        "mounts left: {:?}",
        daemon.overlay_mounts()
    );
}

#[test]
fn tag_push_pull_back_and_rmi() {
    let (daemon, registry) = daemon_with_mirror("client-push");
    daemon.berth(&["pull", "busybox"]).ok();
    let target = format!("{}/berth-client/copy:1", registry.host());

    daemon.berth(&["tag", "busybox", &target]).ok();
    let pushed = daemon.berth(&["push", &target]);
    snapshot!("push", pushed.ok());
    assert!(
        !registry
            .registry()
            .manifest("berth-client/copy:1")
            .is_empty(),
        "the registry has no manifest for the pushed tag"
    );

    let removed = daemon.berth(&["rmi", &target]);
    assert_eq!(removed.ok(), format!("Untagged: {target}\n"));
    let pulled = daemon.berth(&["pull", &target]);
    assert!(
        pulled.ok().ends_with(&format!("{target}\n")),
        "{}",
        pulled.stdout
    );
    let inspected = json(&daemon.berth(&["inspect", &target]));
    assert!(
        inspected[0]["RepoTags"]
            .as_array()
            .is_some_and(|tags| tags.iter().any(|t| t == target.as_str())),
        "{inspected}"
    );
    // The image is in use by nobody: rmi -f of every name deletes it.
    daemon.berth(&["rmi", "-f", &target, "busybox"]).ok();
    let images = json(&daemon.berth(&["images", "--format", "json"]));
    assert_eq!(images, Value::Array(vec![]));
    let missing = daemon.berth(&["rmi", "busybox"]);
    missing.expect_code(1);
    assert!(
        missing
            .stderr
            .starts_with("berth: Error response from daemon: "),
        "{}",
        missing.stderr
    );
}

#[test]
fn host_flag_and_environment_choose_the_daemon() {
    let (first, _registry) = daemon_with_mirror("client-host-1");
    let second = Daemon::builder().label("client-host-2").start();
    first.berth(&["pull", "busybox"]).ok();
    let name = unique("only-on-first");
    first
        .berth(&["create", "--name", &name, "busybox", "true"])
        .ok();

    // The harness passes -H; the second daemon knows nothing of the first's container.
    let on_second = json(&second.berth(&["ps", "-a", "--format", "json"]));
    assert_eq!(on_second, Value::Array(vec![]));

    // Without -H, BERTH_HOST wins over DOCKER_HOST.
    let mut command = Command::new(support::BERTH);
    command
        .args(["ps", "-a", "--format", "json"])
        .env("HOME", first.dir().join("home"))
        .env("BERTH_HOST", first.host())
        .env("DOCKER_HOST", second.host());
    let listed = json(&support::run(command, "berth ps (BERTH_HOST)", None));
    assert_eq!(listed[0]["Names"][0], format!("/{name}"));

    // The daemon's refusals read as Docker's, on stderr, exit 1.
    let missing = second.berth(&["rm", "no-such-container"]);
    missing.expect_code(1);
    let stopped = second.berth(&["stop", "no-such-container"]);
    stopped.expect_code(1);
    let bad_ref = second.berth(&["pull", "Bad/Name"]);
    bad_ref.expect_code(1);
    snapshot!(
        "errors",
        format!("{}{}{}", missing.stderr, stopped.stderr, bad_ref.stderr)
    );

    // A daemon that is not there: a clear error, exit 1.
    let dead = Command::new(support::BERTH)
        .args(["-H", "unix:///nonexistent/berth.sock", "ps"])
        .env("HOME", first.dir().join("home"))
        .output()
        .expect("running berth");
    assert_eq!(dead.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&dead.stderr);
    assert!(
        stderr.contains("/nonexistent/berth.sock") && stderr.contains("Is the daemon running?"),
        "{stderr}"
    );
}

#[test]
fn run_it_uses_a_raw_terminal_and_restores_it() {
    let (daemon, _registry) = daemon_with_mirror("client-tty");
    // On a terminal a pull draws one line per layer, redrawn in place.
    let mut pull = Pty::spawn(daemon.berth_command(&["pull", "busybox"]));
    assert_eq!(pull.wait(), Some(0), "{}", pull.screen());
    let screen = pull.screen();
    assert!(screen.contains(": Pull complete"), "{screen}");
    assert!(
        screen.contains("\x1b[2K"),
        "no line redrawing on a terminal: {screen:?}"
    );
    assert!(
        screen.ends_with("docker.io/library/busybox:latest\r\n"),
        "{screen:?}"
    );

    let mut session = Pty::spawn(daemon.berth_command(&["run", "-it", "--rm", "busybox", "sh"]));
    assert!(session.cooked(), "a fresh terminal starts cooked");
    session.expect("# ");
    assert!(
        !session.cooked(),
        "berth run -it did not put the terminal in raw mode"
    );
    // The container's terminal has our size (24x80).
    session.type_text("stty size\r");
    session.expect("24 80");
    // A new window size reaches the container's terminal (SIGWINCH, then resize).
    session.resize(30, 100);
    eventually("the container's terminal to be resized", PATIENCE, || {
        session.type_text("stty size\r");
        std::thread::sleep(Duration::from_millis(50));
        session.screen().contains("30 100")
    });
    session.type_text("exit 7\r");
    assert_eq!(session.wait(), Some(7));
    assert!(session.cooked(), "the terminal was left raw");
}

#[test]
fn ctrl_p_ctrl_q_detaches_and_the_container_keeps_running() {
    let (daemon, _registry) = daemon_with_mirror("client-detach");
    daemon.berth(&["pull", "busybox"]).ok();
    let name = unique("detach");

    let mut session =
        Pty::spawn(daemon.berth_command(&["run", "-it", "--name", &name, "busybox", "sh"]));
    session.expect("# ");
    session.type_text("\x10\x11");
    assert_eq!(session.wait(), Some(0), "detaching is a success");
    assert!(
        session.cooked(),
        "the terminal was left raw after detaching"
    );
    let state = json(&daemon.berth(&["inspect", &name]));
    assert_eq!(
        state[0]["State"]["Running"], true,
        "the container stopped on detach"
    );

    // exec -it into it, under a terminal too.
    let mut exec = Pty::spawn(daemon.berth_command(&["exec", "-it", &name, "sh"]));
    exec.expect("# ");
    exec.type_text("echo $((6 * 7))\r");
    exec.expect("42");
    exec.type_text("exit 4\r");
    assert_eq!(exec.wait(), Some(4));
    assert!(exec.cooked(), "exec -it left the terminal raw");
    daemon.berth(&["rm", "-f", &name]).ok();
}

/// A client on a pseudo-terminal whose settings the test can read from the master side (on
/// Linux both ends share one `termios`).
struct Pty {
    child: Child,
    master: File,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    fn spawn(mut command: Command) -> Pty {
        let size = Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(&size, None).expect("opening a pseudo-terminal");
        let slave = File::from(pty.slave);
        command
            .stdin(slave.try_clone().expect("dup"))
            .stdout(slave.try_clone().expect("dup"))
            .stderr(slave);
        // A session of its own with the pty as its controlling terminal, as a shell would
        // give it: only then does the kernel send it SIGWINCH when the window changes.
        // SAFETY: setsid and ioctl are async-signal-safe, as pre_exec requires.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("starting berth on a pty");
        drop(command);
        let master = File::from(pty.master);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut reading = master.try_clone().expect("dup");
        let sink = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reading.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            child,
            master,
            screen,
        }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Whether the terminal is in its normal (canonical, echoing) mode.
    fn cooked(&self) -> bool {
        let settings = tcgetattr(self.master.as_fd()).expect("reading the terminal's settings");
        settings
            .local_flags
            .contains(LocalFlags::ICANON | LocalFlags::ECHO)
    }

    #[track_caller]
    fn expect(&mut self, needle: &str) {
        let started = Instant::now();
        while !self.screen().contains(needle) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "berth exited ({status}) before showing {needle:?}:\n{}",
                    self.screen()
                );
            }
            assert!(
                started.elapsed() < PATIENCE,
                "no {needle:?} on the terminal:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Resizes the window, as a terminal emulator does when its window is dragged.
    fn resize(&self, rows: u16, cols: u16) {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one `winsize` from the struct we pass.
        let done = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        assert_eq!(
            done,
            0,
            "resizing the pty: {}",
            std::io::Error::last_os_error()
        );
    }

    fn type_text(&mut self, text: &str) {
        use std::io::Write;
        self.master.write_all(text.as_bytes()).expect("typing");
    }

    #[track_caller]
    fn wait(&mut self) -> Option<i32> {
        wait_child(&mut self.child, PATIENCE)
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn login_stores_credentials_that_pull_and_push_send() {
    let registry = berth_tests::registry::Registry::basic_auth(&[("alice", "wonderland")]);
    registry.seed(
        &berth_tests::registry::images_dir().join("busybox-oci"),
        "busybox:latest",
        "private/busybox:latest",
    );
    let daemon = Daemon::builder().label("client-login").start();
    let image = format!("{}/private/busybox:latest", registry.host());

    let anonymous = daemon.berth(&["pull", &image]);
    anonymous.expect_code(1);

    let mut command =
        daemon.berth_command(&["login", "-u", "alice", "--password-stdin", &registry.host()]);
    command.stdin(Stdio::piped());
    let wrong = support::run(command, "berth login (wrong)", Some(b"not-it\n"));
    wrong.expect_code(1);

    let mut command =
        daemon.berth_command(&["login", "-u", "alice", "--password-stdin", &registry.host()]);
    command.stdin(Stdio::piped());
    let login = support::run(command, "berth login", Some(b"wonderland\n"));
    assert_eq!(login.ok(), "Login Succeeded\n");

    // Docker's format, readable by its owner only.
    let config_dir = daemon.dir().join("home/.berth");
    let config_path = config_dir.join("config.json");
    let mode = std::fs::metadata(&config_path)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .expect("berth login wrote no config file");
    assert_eq!(mode, 0o600);
    let config: Value =
        serde_json::from_slice(&std::fs::read(&config_path).expect("reading the config"))
            .expect("the config is JSON");
    assert!(
        config["auths"][registry.host()]["auth"].is_string(),
        "{config}"
    );

    daemon.berth(&["pull", &image]).ok();
    let pushed = format!("{}/private/copy:1", registry.host());
    daemon.berth(&["tag", &image, &pushed]).ok();
    daemon.berth(&["push", &pushed]).ok();

    daemon.berth(&["logout", &registry.host()]).ok();
    daemon.berth(&["rmi", &image]).ok();
    daemon.berth(&["pull", &image]).expect_code(1);
}

/// What a scripted daemon saw and when the script's container has "run".
#[derive(Default)]
struct Script {
    requests: Mutex<Vec<String>>,
    /// Whether a container exists yet (the first create answers 404: no image).
    pulled: Mutex<bool>,
    /// Set by `start`, waited on by `attach` and `wait`.
    started: (Mutex<bool>, std::sync::Condvar),
}

impl Script {
    fn log(&self, request: &berth_daemon::http::Request) {
        let line = format!("{} {}", request.method(), request.target());
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    }

    fn wait_for_start(&self) {
        let (lock, ready) = &self.started;
        let mut started = lock.lock().unwrap_or_else(|p| p.into_inner());
        while !*started {
            started = ready.wait(started).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// The request sequence of `run` is an interface (docker-api.md §3): create, pull on 404,
/// create again, attach, wait, start, in this order, or real daemons deadlock or lose output.
/// A scripted daemon on a socket of its own records what berth sends.
#[test]
fn run_sends_dockers_request_sequence() {
    use berth_daemon::http::{Response, Router, Server, ServerOptions};

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let dir = berth_tests::test_dir("client-sequence");
    let socket = dir.path().join("scripted.sock");
    let script = Arc::new(Script::default());

    let s = Arc::clone(&script);
    let router = Router::new()
        .post("/containers/create", move |request| {
            s.log(request);
            if *s.pulled.lock().unwrap_or_else(|p| p.into_inner()) {
                Response::json(201, &serde_json::json!({"Id": ID, "Warnings": []}))
            } else {
                Response::error(404, "No such image: busybox:latest")
            }
        })
        .post("/images/create", {
            let s = Arc::clone(&script);
            move |request| {
                s.log(request);
                *s.pulled.lock().unwrap_or_else(|p| p.into_inner()) = true;
                Response::stream(200, "application/json", |out| {
                    out.send_json(&serde_json::json!({"status": "Pulling from library/busybox", "id": "latest"}))?;
                    out.send_json(&serde_json::json!({"status": "Downloading", "id": "aaaaaaaaaaaa",
                        "progressDetail": {"current": 1, "total": 2}}))?;
                    out.send_json(&serde_json::json!({"status": "Pull complete", "id": "aaaaaaaaaaaa"}))
                })
            }
        })
        .post("/containers/{id}/attach", {
            let s = Arc::clone(&script);
            move |request| {
                s.log(request);
                let s = Arc::clone(&s);
                Response::upgrade("application/vnd.docker.multiplexed-stream", move |mut raw| {
                    use std::io::Write;
                    s.wait_for_start();
                    let _ = raw.write_all(&[1, 0, 0, 0, 0, 0, 0, 3]);
                    let _ = raw.write_all(b"hi\n");
                    let _ = raw.write_all(&[2, 0, 0, 0, 0, 0, 0, 4]);
                    let _ = raw.write_all(b"err\n");
                })
            }
        })
        .post("/containers/{id}/wait", {
            let s = Arc::clone(&script);
            move |request| {
                s.log(request);
                let s = Arc::clone(&s);
                // Headers now, the body at the "exit": berth must not wait for the body
                // before it starts the container.
                Response::stream(200, "application/json", move |out| {
                    s.wait_for_start();
                    out.send_json(&serde_json::json!({"StatusCode": 3}))
                })
            }
        })
        .post("/containers/{id}/start", {
            let s = Arc::clone(&script);
            move |request| {
                s.log(request);
                let (lock, ready) = &s.started;
                *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
                ready.notify_all();
                Response::no_content()
            }
        });
    let server = Server::bind(&socket, ServerOptions::default())
        .expect("binding the scripted daemon")
        .spawn(router)
        .expect("serving");

    let mut command = Command::new(support::BERTH);
    command
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(["run", "--rm", "busybox", "echo", "hi"])
        .env("HOME", dir.path())
        .env("BERTH_CONFIG_DIR", dir.path().join("berth"))
        .stdin(Stdio::null());
    let output = support::run(command, "berth run (scripted daemon)", None);
    server.shutdown();

    output.expect_code(3);
    assert_eq!(output.stdout, "hi\n");
    assert_eq!(
        output.stderr,
        "Unable to find image 'busybox:latest' locally\n\
         latest: Pulling from library/busybox\n\
         aaaaaaaaaaaa: Pull complete\n\
         err\n"
    );
    let requests = script
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    assert_eq!(
        requests,
        [
            "POST /containers/create".to_owned(),
            "POST /images/create?fromImage=docker.io%2Flibrary%2Fbusybox&tag=latest".to_owned(),
            "POST /containers/create".to_owned(),
            format!("POST /containers/{ID}/attach?stderr=1&stdout=1&stream=1"),
            format!("POST /containers/{ID}/wait?condition=removed"),
            format!("POST /containers/{ID}/start"),
        ]
    );
}

/// Runs openssl in `dir`, failing the test with its output if it fails.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA, and Docker's file names in `dir`: `ca.pem`, the daemon's `server.pem`/`server.key`
/// and the client's `cert.pem`/`key.pem`, all for 127.0.0.1.
fn tls_files(dir: &std::path::Path) {
    let key = |name: &str| {
        let args = [
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ];
        openssl(dir, &[&args[..], &["-out", name]].concat());
    };
    key("ca.key");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=berth-client-test-ca",
            "-days",
            "2",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    for (cert, key_file, usage, serial) in [
        ("server.pem", "server.key", "serverAuth", "1"),
        ("cert.pem", "key.pem", "clientAuth", "2"),
    ] {
        key(key_file);
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-key",
                key_file,
                "-subj",
                "/CN=localhost",
                "-out",
                "x.csr",
            ],
        );
        std::fs::write(
            dir.join("x.ext"),
            format!(
                "basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n\
                 subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            ),
        )
        .expect("writing the extensions file");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "x.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                serial,
                "-days",
                "2",
                "-extfile",
                "x.ext",
                "-out",
                cert,
            ],
        );
    }
}

#[test]
fn tls_flags_and_docker_tls_variables_reach_a_tcp_daemon() {
    let certs = berth_tests::test_dir("client-tls-certs");
    let dir = certs.path();
    tls_files(dir);
    let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let daemon = api_support::Berthd::with_busybox_and(
        "client-tls",
        &[
            "-H",
            "tcp://127.0.0.1:0",
            "--tlsverify",
            "--tlscacert",
            &file("ca.pem"),
            "--tlscert",
            &file("server.pem"),
            "--tlskey",
            &file("server.key"),
        ],
    );
    let host = format!("tcp://{}", daemon.tcp_address());
    let berth = |args: &[&str], env: &[(&str, String)]| {
        let mut command = Command::new(support::BERTH);
        command
            .args(args)
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env("HOME", dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        support::run(command, &format!("berth {}", args.join(" ")), None)
    };

    // Docker's flags, and a hijacked attach over TLS.
    let over_tls = berth(
        &[
            "-H",
            &host,
            "--tlsverify",
            "--tlscacert",
            &file("ca.pem"),
            "--tlscert",
            &file("cert.pem"),
            "--tlskey",
            &file("key.pem"),
            "run",
            "--rm",
            "busybox",
            "echo",
            "over tls",
        ],
        &[],
    );
    assert_eq!(over_tls.ok(), "over tls\n");

    // Docker's variables: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH.
    let listed = berth(
        &["images", "-q"],
        &[
            ("DOCKER_HOST", host.clone()),
            ("DOCKER_TLS_VERIFY", "1".to_owned()),
            ("DOCKER_CERT_PATH", file("")),
        ],
    );
    assert_eq!(listed.ok().lines().count(), 1, "{}", listed.stdout);

    // Without TLS the daemon is not reached, and the error says where we tried.
    let plain = berth(&["-H", &host, "ps"], &[]);
    plain.expect_code(1);
    // Missing certificate files are named.
    let missing = berth(&["-H", &host, "--tlsverify", "ps"], &[]);
    missing.expect_code(1);
    assert!(missing.stderr.contains("ca.pem"), "{}", missing.stderr);
}
