//! The seams of `steps.rs`, exercised through the library as a later chapter uses them: a
//! parent-side step sees the child's pid before the child runs anything, a child-side bind
//! mount shows a host file inside the container, and a failing step of either kind stops the
//! start with a message that names it, leaving no process behind.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_namespaces::steps::{ParentStep, StepError};
use berth_namespaces::{BindMount, ContainerConfig, RootfsMount, StartError, Stdio};
use nix::unistd::Pid;

/// A container root: an overlay of the busybox fixture with a writable layer of the test's
/// own, mounted by the child in its mount namespace, so nothing is written to the fixture and
/// nothing stays mounted on the host.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["root", "upper", "work"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        Root { dir }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// A configuration that runs `sh -c SCRIPT` with its stdout on `stdout`.
    fn config(&self, script: &str, stdout: &impl AsRawFd) -> ContainerConfig {
        let args = ["/bin/sh", "-c", script].map(String::from).to_vec();
        let mut config = ContainerConfig::new(self.path("root"), args);
        config.rootless = false;
        config.rootfs_mount = Some(RootfsMount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            options: format!(
                "lowerdir={},upperdir={},workdir={}",
                berth_tests::busybox_rootfs().display(),
                self.path("upper").display(),
                self.path("work").display()
            ),
        });
        config.stdio = Stdio {
            stdin: None,
            stdout: Some(stdout.as_raw_fd()),
            stderr: None,
        };
        config
    }
}

/// Writes the child's pid into a host file: what a cgroup step does with `cgroup.procs`.
#[derive(Debug)]
struct WritePid {
    file: PathBuf,
    seen: Arc<Mutex<Option<Pid>>>,
}

impl ParentStep for WritePid {
    fn name(&self) -> &str {
        "writing the pid"
    }

    fn run(&self, child: Pid) -> Result<(), StepError> {
        std::fs::write(&self.file, format!("parent step saw pid {child}\n"))?;
        *self.seen.lock().expect("not poisoned") = Some(child);
        Ok(())
    }
}

/// A parent-side step that always fails.
#[derive(Debug)]
struct Refuse;

impl ParentStep for Refuse {
    fn name(&self) -> &str {
        "moving the pid into cgroup berth/test"
    }

    fn run(&self, _: Pid) -> Result<(), StepError> {
        Err("no such cgroup".into())
    }
}

/// Starts the container, closes our copy of its stdout and waits: its exit code.
fn run_to_end(config: &ContainerConfig, stdout: std::io::PipeWriter) -> i32 {
    let running = berth_namespaces::start(config).expect("the container starts");
    drop(stdout); // The child has its copy; ours would keep the pipe from ever ending.
    running.wait().expect("wait").code()
}

#[test]
fn a_parent_step_runs_before_the_child_and_a_bind_mount_shows_its_work() {
    let root = Root::new();
    let marker = root.path("marker");
    std::fs::write(&marker, "not yet\n").expect("marker");
    let (mut read, write) = std::io::pipe().expect("pipe");
    let mut config = root.config("cat /srv/marker; echo pid $$", &write);
    let seen = Arc::new(Mutex::new(None));
    config.steps.add_parent(WritePid {
        file: marker.clone(),
        seen: Arc::clone(&seen),
    });
    let bind = BindMount::new(&marker, &root.path("root"), Path::new("/srv/marker"), true)
        .expect("prepared");
    config.steps.add_child(bind);

    let code = run_to_end(&config, write);
    let mut output = String::new();
    read.read_to_string(&mut output).expect("read");
    let pid = seen
        .lock()
        .expect("not poisoned")
        .expect("the parent step ran");

    assert_eq!(code, 0, "output: {output}");
    // The container read what the parent step wrote after the spawn: the step ran with the
    // child's pid, before the child ran its command.
    assert_eq!(output, format!("parent step saw pid {pid}\npid 1\n"));
    // The mount point was made in the container's writable layer, not in the fixture.
    assert!(root.path("upper/srv/marker").is_file());
    assert!(!berth_tests::busybox_rootfs().join("srv/marker").exists());
}

#[test]
fn a_read_only_bind_mount_cannot_be_written() {
    let root = Root::new();
    let data = root.path("data");
    std::fs::create_dir(&data).expect("data dir");
    let (mut read, write) = std::io::pipe().expect("pipe");
    let mut config = root.config(
        "touch /data/x 2>/dev/null && echo wrote || echo refused",
        &write,
    );
    let bind =
        BindMount::new(&data, &root.path("root"), Path::new("/data"), true).expect("prepared");
    config.steps.add_child(bind);
    assert_eq!(run_to_end(&config, write), 0);
    let mut output = String::new();
    read.read_to_string(&mut output).expect("read");
    assert_eq!(output, "refused\n");
    assert!(!data.join("x").exists());
}

#[test]
fn a_failing_child_step_names_itself_and_a_symlink_never_leads_to_the_host() {
    let root = Root::new();
    // An image whose /etc-like directory is a link to the host's /etc: mounting on
    // /data/passwd must not cover the host's /etc/passwd.
    std::os::unix::fs::symlink("/etc", root.path("upper/data")).expect("symlink");
    let source = root.path("evil");
    std::fs::write(&source, "evil\n").expect("source");
    let (_read, write) = std::io::pipe().expect("pipe");
    let mut config = root.config("true", &write);
    let bind = BindMount::new(
        &source,
        &root.path("root"),
        Path::new("/data/passwd"),
        false,
    )
    .expect("prepared");
    config.steps.add_child(bind);

    let error = berth_namespaces::start(&config).expect_err("the start must fail");
    assert_eq!(error.exit_code(), 125);
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "bind-mounting {} on /data/passwd:",
            source.display()
        )),
        "{message}"
    );
    assert!(message.contains("ELOOP"), "{message}");
    let passwd = std::fs::read_to_string("/etc/passwd").expect("host passwd");
    assert!(
        passwd.contains("root:"),
        "the host's /etc/passwd is untouched"
    );
}

#[test]
fn a_failing_parent_step_stops_the_start_and_leaves_no_process() {
    let root = Root::new();
    let marker = root.path("marker");
    let (_read, write) = std::io::pipe().expect("pipe");
    let mut config = root.config("touch /ran", &write);
    let seen = Arc::new(Mutex::new(None));
    config.steps.add_parent(WritePid {
        file: marker,
        seen: Arc::clone(&seen),
    });
    config.steps.add_parent(Refuse);

    let error = berth_namespaces::start(&config).expect_err("the start must fail");
    assert!(matches!(error, StartError::ParentStep { .. }));
    assert_eq!(
        error.to_string(),
        "moving the pid into cgroup berth/test: no such cgroup"
    );
    let pid = seen
        .lock()
        .expect("not poisoned")
        .expect("the first step ran");
    // The child was killed and reaped: no such process any more, and it never ran its command.
    assert_eq!(
        nix::sys::signal::kill(pid, None),
        Err(nix::errno::Errno::ESRCH)
    );
    assert!(!root.path("upper/ran").exists());
}
