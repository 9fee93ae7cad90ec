//! Host escapes through a process entering a container, and through descriptors a container
//! inherits by mistake (issue 15). Each test plants a harmless marker in a temporary
//! directory of the host and lets the container try to read it and to write next to it;
//! the assertions are that it could do neither. Nothing outside that directory is touched,
//! also when a test fails: every "escape" writes only there.

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::mpsc;
use std::time::Duration;

use berth_namespaces::enter::enter;
use berth_namespaces::{ContainerConfig, Running, start};
use common::Runner;
use nix::fcntl::OFlag;
use nix::sys::signal::{Signal, kill};

/// A process killed and reaped on drop (also when a test fails).
struct Killed(Running);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = kill(self.0.pid(), Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

/// A host directory holding `host-marker`, and a descriptor of it opened *without*
/// close-on-exec: the leak a daemon thread or a caller's shell can cause.
struct HostDir {
    dir: tempfile::TempDir,
    leaked: OwnedFd,
}

impl HostDir {
    fn new() -> HostDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("host-marker"), "host\n").expect("marker");
        let path = std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: open on a valid C string; the descriptor is owned below.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
        assert!(fd >= 0, "opening {}", dir.path().display());
        // SAFETY: a fresh descriptor that nothing else owns.
        let leaked = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        HostDir { dir, leaked }
    }

    fn fd(&self) -> RawFd {
        self.leaked.as_raw_fd()
    }

    /// Files the container managed to write next to the marker.
    fn written(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("listing the host dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name != "host-marker")
            .collect();
        names.sort();
        names
    }
}

fn sleeper() -> Killed {
    let config = ContainerConfig::new(
        berth_tests::busybox_rootfs(),
        vec!["sleep".into(), "1000".into()],
    );
    Killed(start(&config).expect("starting the container"))
}

fn command(args: &[&str]) -> ContainerConfig {
    ContainerConfig::new("/", args.iter().map(|s| s.to_string()).collect())
}

/// What a command printed to a pipe, read in a thread, so that a hang fails the test.
fn collect(read: OwnedFd) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::fs::File::from(read).read_to_string(&mut out);
        let _ = send.send(out);
    });
    receive
}

fn wait_for(output: &mpsc::Receiver<String>) -> String {
    output
        .recv_timeout(Duration::from_secs(30))
        .expect("the command finished within 30 s")
}

/// What the escape attempt prints and writes: reads the marker from its working directory,
/// climbs out of it, and writes a file where it landed.
/// It writes only where it found the marker, so never into the container's own files.
const ESCAPE: &str = "if [ -e host-marker ]; then cat host-marker; : > escaped-cwd; fi; pwd";

// The class of CVE-2024-21626: a descriptor of a host directory that the process inherited,
// named as its working directory through /proc/self/fd.
#[test]
fn a_leaked_directory_fd_as_working_directory_does_not_leave_the_root_of_an_exec() {
    let host = HostDir::new();
    let container = sleeper();
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    let mut config = command(&["sh", "-c", ESCAPE]);
    config.workdir = format!("/proc/self/fd/{}", host.fd()).into();
    config.stdio.stdout = Some(write.as_raw_fd());
    let entered = enter(container.0.pid(), &config);
    drop(write);
    let out = wait_for(&collect(read));
    if let Ok(process) = entered {
        let _ = process.wait();
    }
    assert!(
        !out.contains("host"),
        "the exec read the host's marker: {out}"
    );
    assert_eq!(
        host.written(),
        Vec::<String>::new(),
        "the exec wrote on the host"
    );
}

#[test]
fn a_leaked_directory_fd_as_working_directory_does_not_leave_the_root_of_a_container() {
    let host = HostDir::new();
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    let mut config = ContainerConfig::new(
        berth_tests::busybox_rootfs(),
        vec!["sh".into(), "-c".into(), ESCAPE.into()],
    );
    config.workdir = format!("/proc/self/fd/{}", host.fd()).into();
    config.stdio.stdout = Some(write.as_raw_fd());
    let started = start(&config);
    drop(write);
    let out = wait_for(&collect(read));
    if let Ok(process) = started {
        let _ = process.wait();
    }
    assert!(
        !out.contains("host"),
        "the container read the host's marker: {out}"
    );
    assert_eq!(
        host.written(),
        Vec::<String>::new(),
        "the container wrote on the host"
    );
}

/// Waits for the next pid of the container's namespace to appear (its own pid + 1: it forks
/// nothing, every command here is a shell builtin), goes through `/proc/<pid>/root` as soon as
/// it can, then through each of `/proc/<pid>/fd/*`, looking for the host's marker.
const WATCHER: &str = r#"
n=$(($$ + 1))
echo ready
while ! cd /proc/$n/root 2>/dev/null; do :; done
if [ -e "./$HOSTDIR/host-marker" ]; then echo root-escaped; : > "./$HOSTDIR/escaped-root"; fi
cd /
for f in /proc/$n/fd/*; do
  if cd "$f" 2>/dev/null && [ -e host-marker ]; then echo "fd-escaped $f"; : > escaped-fd; fi
  cd /
done
echo "watched $(tr '\0' ' ' < /proc/$n/cmdline)"
echo done
"#;

// The class of CVE-2016-9962: a process in the container (root, every capability, as in
// chapter 1) watches for the entering process and uses its host root or its descriptors.
#[test]
fn a_process_in_the_container_cannot_reach_the_host_through_an_entering_process() {
    let host = HostDir::new();
    let container = sleeper();
    for round in 0..5 {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let mut watcher = command(&["sh", "-c", WATCHER]);
        let relative = host.dir.path().strip_prefix("/").unwrap();
        watcher.set_env("HOSTDIR", relative.to_str().unwrap());
        watcher.stdio.stdout = Some(write.as_raw_fd());
        let watching = Killed(enter(container.0.pid(), &watcher).expect("the watcher"));
        drop(write);
        let mut read = std::fs::File::from(read);
        let mut ready = [0u8; 6];
        read.read_exact(&mut ready).expect("the watcher is ready");
        assert_eq!(&ready, b"ready\n");
        let output = collect(read.into());

        let victim = Killed(enter(container.0.pid(), &command(&["sleep", "5"])).expect("victim"));
        let out = wait_for(&output);
        drop(victim);
        drop(watching);
        // The watcher went through the victim's /proc entries: after its exec ("sleep 5"),
        // or before it, while it was still a copy of this test binary (its command line is
        // ours then): the window the old code left open, now harmless. An empty command line
        // is the moment inside `execve` when the old memory is gone and the new one not yet
        // described (seen once in a loaded full run): still the victim, already watched.
        let watched = out
            .lines()
            .find_map(|l| l.strip_prefix("watched "))
            .unwrap_or("");
        let ours = std::env::args().next().unwrap_or_default();
        assert!(
            watched == "sleep 5 " || watched.is_empty() || watched.starts_with(&ours),
            "round {round}: the watcher did not watch the entering process: {out}"
        );
        assert!(out.ends_with("done\n"), "round {round}: {out}");
        assert!(
            !out.contains("escaped"),
            "round {round}: the host was reached: {out}"
        );
        assert_eq!(
            host.written(),
            Vec::<String>::new(),
            "round {round}: wrote on the host"
        );
    }
}

// `ch01` must not pass its caller's descriptors on: a shell's `exec 5</some/dir` would
// otherwise hand the container a way out.
#[test]
fn ch01_does_not_pass_its_callers_descriptors_through() {
    let host = HostDir::new();
    let script = format!(
        "if cd /proc/self/fd/{} 2>/dev/null; then {ESCAPE}; fi; ls /proc/self/fd",
        host.fd()
    );
    let out = Runner::ch01().run(&[], &["sh", "-c", &script]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        !out.stdout.contains("host"),
        "the container read the host's marker: {out:?}"
    );
    assert_eq!(
        host.written(),
        Vec::<String>::new(),
        "the container wrote on the host"
    );
    // stdin, stdout, stderr, and the directory `ls` itself opens.
    let fds: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(fds, ["0", "1", "2", "3"], "{out:?}");
}

// `--init`'s PID 1 lives as long as the container: whatever it holds, every process in the
// container could reach through /proc/1/fd. It is exec'd like any command, so it holds nothing
// of the host's. (For a moment after the command starts it still holds its own exec-error
// pipe, which the standard library closes once the command's exec is done: hence the retries.
// A descriptor of the host's would stay.)
#[test]
fn init_keeps_no_descriptor_of_the_host() {
    let host = HostDir::new();
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    let mut config = ContainerConfig::new(
        berth_tests::busybox_rootfs(),
        vec![
            "sh".into(),
            "-c".into(),
            "for i in 1 2 3 4 5 6 7 8 9 10; do fds=$(ls /proc/1/fd | tr '\\n' ' '); \
             [ \"$fds\" = '0 1 2 ' ] && break; sleep 0.05; done; printf %s \"$fds\""
                .into(),
        ],
    );
    config.init = true;
    config.stdio.stdout = Some(write.as_raw_fd());
    // Killed and reaped on drop: by then an exited zombie, whose pid is still ours.
    let _running = Killed(start(&config).expect("starting the container"));
    drop(write);
    let out = wait_for(&collect(read));
    // The leaked descriptor, the sync pipes and the caller's other descriptors are gone.
    assert_eq!(
        out,
        "0 1 2 ",
        "init's descriptors (the host dir was {})",
        host.fd()
    );
}
