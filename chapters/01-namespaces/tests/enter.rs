//! `enter` (a process joining a running container, as `docker exec` does) and the console
//! (a terminal of the container's own, as `docker run -t` has), through the library.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use berth_namespaces::console::{Console, receive_master};
use berth_namespaces::enter::enter;
use berth_namespaces::{ContainerConfig, Running, start};
use nix::fcntl::OFlag;
use nix::sys::signal::{Signal, kill};

/// A busybox container running `sleep`, killed and reaped on drop (also when a test fails).
struct Sleeper(Running);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = kill(self.0.pid(), Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

fn sleeper() -> Sleeper {
    let config = ContainerConfig::new(
        berth_tests::busybox_rootfs(),
        vec!["sleep".into(), "1000".into()],
    )
    .with_hostname("entered");
    Sleeper(start(&config).expect("starting the container"))
}

fn command(args: &[&str]) -> ContainerConfig {
    ContainerConfig::new("/", args.iter().map(|s| s.to_string()).collect())
}

/// Runs `config` in the container and returns what it printed and its exit code.
fn exec_in(container: &Sleeper, mut config: ContainerConfig) -> (String, i32) {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    config.stdio.stdout = Some(write.as_raw_fd());
    let process = enter(container.0.pid(), &config).expect("entering the container");
    drop(write);
    let mut out = String::new();
    std::fs::File::from(read).read_to_string(&mut out).unwrap();
    let code = process.wait().unwrap().code();
    (out, code)
}

#[test]
fn enter_joins_the_namespaces_and_root_of_a_running_container() {
    let container = sleeper();
    let mut config = command(&[
        "sh",
        "-c",
        "echo $$ $(hostname) $(tr '\\0' ' ' < /proc/1/cmdline); echo $GREETING; exit 3",
    ]);
    config.set_env("GREETING", "hello");
    let (out, code) = exec_in(&container, config);
    assert_eq!(code, 3);
    let mut lines = out.lines();
    let first: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    // A pid of the container's namespace (PID 1 is the sleeper), its hostname, its PID 1.
    let pid: u32 = first[0].parse().unwrap();
    assert!((2..100).contains(&pid), "{out}");
    assert_eq!(&first[1..], ["entered", "sleep", "1000"]);
    assert_eq!(lines.next(), Some("hello"));

    // Chapter 1's exit codes: 127 for a missing command, 126 for a file that is no program.
    let missing = enter(container.0.pid(), &command(&["no-such-command"])).unwrap_err();
    assert_eq!(missing.exit_code(), 127, "{missing}");
    let not_a_program = enter(container.0.pid(), &command(&["/etc/passwd"])).unwrap_err();
    assert_eq!(not_a_program.exit_code(), 126, "{not_a_program}");
}

#[test]
fn a_console_is_a_terminal_of_the_containers_own() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mut config = ContainerConfig::new(
        berth_tests::busybox_rootfs(),
        vec!["sh".into(), "-c".into(), "tty; stty size".into()],
    );
    config.console = Some(Console {
        socket: theirs.as_raw_fd(),
        size: Some((12, 34)),
    });
    let running = start(&config).expect("starting the container");
    drop(theirs);
    let master = receive_master(ours.as_raw_fd()).expect("the pty's master end");
    let mut screen = Vec::new();
    // Reading the master ends with EIO once the container's side is closed.
    let _ = std::fs::File::from(master).read_to_end(&mut screen);
    assert_eq!(running.wait().unwrap().code(), 0);
    // The container's devpts numbers its own terminals from 0; a terminal turns "\n" into
    // "\r\n".
    assert_eq!(String::from_utf8_lossy(&screen), "/dev/pts/0\r\n12 34\r\n");
}
