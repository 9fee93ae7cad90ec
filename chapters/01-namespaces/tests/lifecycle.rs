//! How a container ends: exit codes, signals, and what it leaves behind (nothing).

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Runner, finish};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

#[test]
fn the_exit_code_passes_through() {
    for code in [0, 1, 7, 255] {
        let out = Runner::ch01().run(&[], &["sh", "-c", &format!("exit {code}")]);
        assert_eq!(out.code, code, "stderr: {}", out.stderr);
    }
}

/// Starts a container whose shell prints `ready` once its traps are set, and returns the
/// runner process once that line is out.
fn start_and_wait_ready(options: &[&str], script: &str) -> std::process::Child {
    let mut child = Runner::ch01()
        .command(options, &["sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting ch01");
    let stdout = child.stdout.as_mut().expect("piped stdout");
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    use std::io::Read;
    while !seen.ends_with(b"ready\n") {
        match stdout.read(&mut byte) {
            Ok(1) => seen.push(byte[0]),
            _ => panic!("the container ended before it was ready: {seen:?}"),
        }
    }
    child
}

#[test]
fn sigterm_is_forwarded_to_pid_1() {
    let child = start_and_wait_ready(
        &[],
        "trap 'echo got TERM; exit 42' TERM; echo ready; while :; do sleep 0.05; done",
    );
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("signalling ch01");
    let out = finish(child);
    assert_eq!(out.code, 42, "stderr: {}", out.stderr);
    assert_eq!(out.stdout, "got TERM\n");
}

#[test]
fn sigint_is_forwarded_to_pid_1() {
    let child = start_and_wait_ready(
        &[],
        "trap 'echo got INT; exit 3' INT; echo ready; while :; do sleep 0.05; done",
    );
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("signalling ch01");
    let out = finish(child);
    assert_eq!((out.code, out.stdout.as_str()), (3, "got INT\n"));
}

/// PID 1 without a handler ignores SIGINT; the third interrupt becomes SIGKILL: 128 + 9.
#[test]
fn the_third_interrupt_kills_a_deaf_pid_1() {
    let child = start_and_wait_ready(&[], "echo ready; exec sleep 30");
    let pid = Pid::from_raw(child.id() as i32);
    for _ in 0..3 {
        // Give each signal time to arrive on its own: pending signals of one kind merge.
        std::thread::sleep(Duration::from_millis(50));
        kill(pid, Signal::SIGINT).expect("signalling ch01");
    }
    let out = finish(child);
    assert_eq!(out.code, 137, "stderr: {}", out.stderr);
}

/// A container's process tree, orphans included, goes away with PID 1, and the runner
/// leaves no zombie: everything that was in the container's PID namespace is gone.
#[test]
fn nothing_survives_the_container() {
    let rootfs = berth_tests::busybox_rootfs();
    let mounts_before = berth_tests::host_mounts_mentioning(rootfs.to_str().unwrap());
    // Orphans: the subshells exit at once, leaving sleeps that PID 1 never waits for.
    let script = "(sleep 60 &); (sleep 60 &); readlink /proc/self/ns/pid; exit 5";
    let out = Runner::ch01().run(&[], &["sh", "-c", script]);
    assert_eq!(out.code, 5, "stderr: {}", out.stderr);
    let ns = out.stdout.trim();
    assert!(ns.starts_with("pid:["), "no namespace id printed: {ns:?}");
    assert_eq!(
        berth_tests::processes_in_pid_namespace(ns),
        Vec::<u32>::new()
    );
    let mounts_after = berth_tests::host_mounts_mentioning(rootfs.to_str().unwrap());
    assert_eq!(
        mounts_before, mounts_after,
        "a mount of the rootfs leaked to the host"
    );
}

/// Also when the set-up fails half-way: no process, no mount, no zombie.
#[test]
fn nothing_survives_a_failed_start() {
    let rootfs = berth_tests::busybox_rootfs();
    let mounts_before = berth_tests::host_mounts_mentioning(rootfs.to_str().unwrap());
    let out = Runner::ch01().run(&[], &["/no/such/command"]);
    assert_eq!(out.code, 127);
    let mounts_after = berth_tests::host_mounts_mentioning(rootfs.to_str().unwrap());
    assert_eq!(mounts_before, mounts_after);
}

/// The working directory is honoured, and created when missing, as Docker does.
#[test]
fn workdir_is_entered_and_created() {
    let out = Runner::ch01().run(&["--workdir", "/tmp"], &["pwd"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "/tmp\n"));
    // A fresh name under /tmp, so the shared fixture is not changed for other tests.
    let dir = format!("/tmp/berth-workdir-{}/a/b", std::process::id());
    let script = format!("pwd; rm -r /tmp/berth-workdir-{}", std::process::id());
    let out = Runner::ch01().run(&["--workdir", &dir], &["sh", "-c", &script]);
    assert_eq!(out.stdout, format!("{dir}\n"), "stderr: {}", out.stderr);
}

/// `--env NAME` without a value takes the caller's value, as `docker run -e NAME` does.
#[test]
fn env_without_value_is_taken_from_the_caller() {
    let out = Runner::ch01()
        .command(
            &["--env", "BERTH_FROM_HOST", "--env", "BERTH_UNSET"],
            &["env"],
        )
        .env("BERTH_FROM_HOST", "yes")
        .env_remove("BERTH_UNSET")
        .stdout(Stdio::piped())
        .spawn()
        .map(finish)
        .expect("running ch01");
    assert!(
        out.stdout.lines().any(|l| l == "BERTH_FROM_HOST=yes"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("BERTH_UNSET"), "{}", out.stdout);
}

/// The command starts with no signal blocked or ignored, even when the caller ignores some
/// (as `nohup` does): ch01 blocks the signals it forwards, Rust's runtime ignores SIGPIPE
/// (which would break `yes | head`), and both would survive execve if the child did not reset
/// them. (Only the 31 standard signals are checked: some sandboxes ignore glibc's internal
/// real-time signals 32 and 33 before our tests even start.)
#[test]
fn the_command_starts_with_default_signals() {
    let caller_ignores_hup =
        Runner::ch01().wrapped(&["sh", "-c", "trap '' HUP USR1; exec \"$0\" \"$@\""]);
    let out = caller_ignores_hup.run(&[], &["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]);
    let mask = |name: &str| {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default();
        u64::from_str_radix(line.split('\t').nth(1).unwrap_or("?"), 16)
            .unwrap_or_else(|_| panic!("no {name} in {:?} (stderr: {})", out.stdout, out.stderr))
    };
    let standard = (1u64 << 31) - 1;
    assert_eq!(
        mask("SigBlk:") & standard,
        0,
        "signals blocked: {}",
        out.stdout
    );
    assert_eq!(
        mask("SigIgn:") & standard,
        0,
        "signals ignored: {}",
        out.stdout
    );
}

/// The states (`R`, `S`, `Z`...) of the processes in the container that `ch01` (the runner's
/// pid) started, as the host sees them.
fn container_process_states(ch01: u32) -> Vec<char> {
    let children =
        std::fs::read_to_string(format!("/proc/{ch01}/task/{ch01}/children")).unwrap_or_default();
    let Some(pid1) = children.split_whitespace().next() else {
        return Vec::new();
    };
    let Ok(ns) = std::fs::read_link(format!("/proc/{pid1}/ns/pid")) else {
        return Vec::new();
    };
    berth_tests::processes_in_pid_namespace(&ns.to_string_lossy())
        .into_iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The state follows the command name, which is in parentheses.
            stat.rsplit_once(") ")?.1.chars().next()
        })
        .collect()
}

/// Polls for up to three seconds until `done` holds for the container's process states.
fn wait_for_states(ch01: u32, done: impl Fn(&[char]) -> bool) -> Vec<char> {
    let mut states = Vec::new();
    for _ in 0..300 {
        states = container_process_states(ch01);
        if done(&states) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    states
}

/// The problem `--init` solves: an orphan is re-parented to PID 1, and a PID 1 that is not a
/// shell (here `sleep`) never waits for it, so it stays a zombie. Docker behaves the same.
#[test]
fn without_init_orphans_stay_zombies() {
    let script = "(sleep 0.1 &); echo ready; exec sleep 30";
    let child = start_and_wait_ready(&[], script);
    let states = wait_for_states(child.id(), |s| s.contains(&'Z'));
    // SIGKILL reaches PID 1 even from outside; ch01 then reports 137.
    let pid1 = Pid::from_raw(child.id() as i32);
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(50));
        let _ = kill(pid1, Signal::SIGINT);
    }
    assert_eq!(finish(child).code, 137);
    assert!(
        states.contains(&'Z'),
        "expected a zombie, saw states {states:?}"
    );
}

/// With `--init`, PID 1 reaps the orphan, and SIGTERM stops a command that has no handler
/// for it, because the command is PID 2, not the namespace's init.
#[test]
fn with_init_orphans_are_reaped_and_sigterm_works() {
    let script = "(sleep 0.1 &); echo ready; exec sleep 30";
    let child = start_and_wait_ready(&["--init"], script);
    // init and `sleep 30` remain once the orphan has exited and been reaped.
    let states = wait_for_states(child.id(), |s| s.len() == 2 && !s.contains(&'Z'));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("signalling ch01");
    let out = finish(child);
    assert_eq!(
        states.len(),
        2,
        "the orphan was not reaped: states {states:?}"
    );
    assert!(!states.contains(&'Z'), "zombie left: {states:?}");
    assert_eq!(out.code, 128 + 15, "stderr: {}", out.stderr);
}

/// With `--init` the command is PID 2, PID 1 is init, and exit codes pass through.
#[test]
fn with_init_the_command_is_pid_2() {
    let out = Runner::ch01().run(&["--init"], &["sh", "-c", "echo $$; exit 9"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (9, "2\n"),
        "stderr: {}",
        out.stderr
    );
    let out = Runner::ch01().run(&["--init"], &["no-such-command"]);
    assert_eq!(out.code, 127, "stderr: {}", out.stderr);
}

/// `--user` drops root before exec: ids and groups as given, no capabilities left.
#[test]
fn user_drops_root() {
    let out = Runner::ch01().run(
        &["--user", "65534:65534"],
        &["sh", "-c", "id; grep CapEff /proc/self/status"],
    );
    assert_eq!(
        out.stdout,
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\nCapEff:\t0000000000000000\n",
        "stderr: {}",
        out.stderr
    );
    let out = Runner::ch01().run(&["--user", "root"], &["id"]);
    assert_eq!(out.code, 125);
    assert!(
        out.stderr.contains("expected UID or UID:GID"),
        "{}",
        out.stderr
    );
}

/// A copy of the busybox rootfs at `dir/rootfs`, for a test that changes it.
fn copy_of_the_rootfs(dir: &std::path::Path) -> std::path::PathBuf {
    let rootfs = dir.join("rootfs");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(berth_tests::busybox_rootfs())
        .arg(&rootfs)
        .status()
        .expect("copying the rootfs");
    assert!(copied.success());
    rootfs
}

/// A host binary copied into the rootfs without its dynamic loader fails with ENOENT although
/// the file exists; the message says what is really missing.
#[test]
fn a_missing_loader_is_named() {
    let dir = berth_tests::test_dir("ch01-loader");
    let rootfs = copy_of_the_rootfs(dir.path());
    std::fs::copy("/bin/ls", rootfs.join("bin/hostls")).expect("copying /bin/ls");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ch01"))
        .args(["run", "--rootfs"])
        .arg(&rootfs)
        .args(["--", "hostls"])
        .output()
        .expect("running ch01");
    assert_eq!(out.status.code(), Some(127));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "\"/bin/hostls\": no such file or directory: the file exists, but its interpreter"
        ),
        "{stderr}"
    );
}

/// Most images today have `/sbin -> usr/sbin`. `--init`'s mount point is made through that
/// link *inside* the root, even when the link is absolute (`/sbin -> /usr/sbin`, which from
/// the host, where the child still is, would lead to the host's `/usr/sbin`): PID 1 is init,
/// read-only, and nothing appears in the host's `/usr/sbin`. (The first version refused any
/// link on the way with ELOOP, so `--init` failed in such images.)
#[test]
fn init_is_mounted_through_a_symlinked_sbin_inside_the_root() {
    let dir = berth_tests::test_dir("ch01-init-sbin");
    let rootfs = copy_of_the_rootfs(dir.path());
    std::fs::remove_dir_all(rootfs.join("usr/sbin")).expect("removing usr/sbin");
    std::fs::rename(rootfs.join("sbin"), rootfs.join("usr/sbin")).expect("moving sbin");
    // A mount point left in the fixture by an earlier run must not hide the one we make.
    let _ = std::fs::remove_file(rootfs.join("usr/sbin/docker-init"));
    std::os::unix::fs::symlink("/usr/sbin", rootfs.join("sbin")).expect("the /sbin link");
    let host_before = std::path::Path::new("/usr/sbin/docker-init").exists();
    let script = "tr '\\0' ' ' </proc/1/cmdline; echo; echo x >/sbin/docker-init";
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ch01"))
        .args(["run", "--init", "--rootfs"])
        .arg(&rootfs)
        .args(["--", "sh", "-c", script])
        .output()
        .expect("running ch01");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("/sbin/docker-init -- sh -c "),
        "{stdout}{stderr}"
    );
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert!(rootfs.join("usr/sbin/docker-init").is_file());
    assert_eq!(
        std::path::Path::new("/usr/sbin/docker-init").exists(),
        host_before,
        "a mount point appeared on the host"
    );
}
