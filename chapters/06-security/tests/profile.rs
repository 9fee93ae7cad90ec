//! The default profile seen from inside a container, and the attacks of issue 15 against it.
//! Each attack is also run with `--privileged` (no profile: chapter 1's container), where it
//! must succeed: a refusal that happens everywhere proves nothing about the profile. The
//! attacks are chosen to harm nothing on the host when they succeed: device nodes go to the
//! container's own `/dev` tmpfs, mounts to its own mount namespace, the `/proc/sys` write is
//! to `kernel/hostname`, which belongs to the container's UTS namespace.

use std::process::{Command, Stdio};

use berth_namespaces::ChildStep;
use berth_security::SecurityOptions;
use berth_security::caps::Capabilities;
use berth_security::seccomp::Seccomp;
use berth_security::seccomp::bpf;
use berth_security::seccomp::profile::Profile;

/// Runs `ch06 run OPTIONS --rootfs <busybox> -- sh -c SCRIPT`: (exit code, stdout, stderr).
fn ch06(options: &[&str], script: &str) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ch06"))
        .arg("run")
        .arg("--rootfs")
        .arg(berth_tests::busybox_rootfs())
        .args(options)
        .args(["--", "sh", "-c", script])
        .stdin(Stdio::null())
        .output()
        .expect("running ch06");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

// ANCHOR: probe
/// What a container is allowed, as a shell inside it sees it.
const PROBE: &str = r#"
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
for p in /proc/acpi /proc/kcore /proc/keys /proc/latency_stats /proc/timer_list \
         /proc/timer_stats /proc/sched_debug /proc/scsi /sys/firmware \
         /sys/devices/virtual/powercap; do
  if [ -d "$p" ]; then n=$(ls -A "$p" | wc -l); else n=$(head -c 1 "$p" 2>/dev/null | wc -c); fi
  if [ "$n" -eq 0 ]; then echo "$p hidden"; else echo "$p VISIBLE"; fi
done
for p in /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger /sys; do
  m=$(grep " $p " /proc/self/mounts | tail -n 1 | cut -d' ' -f4 | cut -d, -f1)
  if [ ! -e "$p" ]; then m="absent"; fi
  echo "$p ${m:-not a mount of its own}"
done
echo "fds: $(ls /proc/self/fd | tr '\n' ' ')"
"#;
// ANCHOR_END: probe

#[test]
fn probe_of_a_default_container() {
    let (code, out, err) = ch06(&[], PROBE);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("default_probe", out);

    // Without the profile, every line about capabilities, seccomp and paths is different.
    let (code, privileged, err) = ch06(&["--privileged"], PROBE);
    assert_eq!(code, 0, "{err}");
    for line in [
        "CapEff:\t00000000a80425fb",
        "CapBnd:\t00000000a80425fb",
        "Seccomp:\t2",
    ] {
        assert!(out.contains(line), "{out}");
        assert!(!privileged.contains(line), "{privileged}");
    }
    assert!(privileged.contains("/proc/keys VISIBLE"), "{privileged}");
    assert!(privileged.contains("/proc/sys not a mount"), "{privileged}");
}

#[test]
fn no_new_privileges_is_set_on_request() {
    let script = "grep NoNewPrivs /proc/self/status";
    let (_, out, _) = ch06(&["--security-opt", "no-new-privileges"], script);
    assert_eq!(out, "NoNewPrivs:\t1\n");
    let (_, out, _) = ch06(&[], script);
    assert_eq!(out, "NoNewPrivs:\t0\n");
}

/// Issue 15's attacks from a busybox shell, each harmless to the host (see the module docs).
/// (The block device one is [`a_block_device_is_made_but_not_opened`].)
const ATTACKS: &[(&str, &str)] = &[
    (
        "cgroup v1 mount (release_agent)",
        "mkdir /dev/cg && mount -t cgroup -o none,name=berth-ch06 cgroup /dev/cg \
         && ls /dev/cg/release_agent",
    ),
    ("/sys remounted read-write", "mount -o remount,rw /sys"),
    (
        "/proc/sys written",
        "echo berth-ch06 > /proc/sys/kernel/hostname",
    ),
    ("a new user namespace", "unshare -U true"),
];

#[test]
fn attacks_are_refused_by_the_profile_and_work_without_it() {
    let mut wrong = Vec::new();
    for (name, script) in ATTACKS {
        let (refused, out, err) = ch06(&[], script);
        if refused == 0 {
            wrong.push(format!(
                "{name}: allowed by the default profile: {out}{err}"
            ));
        }
        let (allowed, out, err) = ch06(&["--privileged"], script);
        if allowed != 0 {
            wrong.push(format!("{name}: fails even with --privileged: {out}{err}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `mknod` of a block device succeeds, as in Docker (the profile's filter lets it through):
/// what refuses reading it is the device allowlist of the container's cgroup (chapter 5).
/// The device is a loop device of the test's own; `--privileged` reads it.
#[test]
fn a_block_device_is_made_but_not_opened() {
    let disk = berth_tests::loop_device::LoopDevice::attach();
    let script = format!("mknod /dev/disk b 7 {} && head -c 10 /dev/disk", disk.minor);
    let (code, out, err) = ch06(&[], &script);
    assert_eq!(code, 1, "mknod works, head fails: {out}{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    let (code, out, err) = ch06(&["--privileged"], &script);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, berth_tests::loop_device::LoopDevice::MARKER);
}

/// `open_by_handle_at` ("shocker", 2014): with `CAP_DAC_READ_SEARCH`, a file handle (a
/// filesystem id and an inode number, which can be guessed) opens any file of a filesystem
/// the container has a mount of, without any path: the host's files, from a container whose
/// root is a directory on the host's disk. Tested at the system call, in a forked process
/// that loads the same steps a container gets.
#[test]
fn open_by_handle_at_is_refused() {
    let probe = |with_profile: bool| -> i32 {
        let options = SecurityOptions::default();
        let caps = options.capabilities().unwrap();
        let profile = Profile::docker_default();
        let rules = profile.resolve(caps).unwrap();
        let program = bpf::compile(&rules, profile.default().unwrap()).unwrap();
        let seccomp = Seccomp::new(program, false);
        let drop = Capabilities::new(caps, false);
        // The handle of "/", taken before any filter (name_to_handle_at is filtered too).
        #[repr(C)]
        struct Handle {
            bytes: u32,
            kind: i32,
            data: [u8; 128],
        }
        let mut handle = Handle {
            bytes: 128,
            kind: 0,
            data: [0; 128],
        };
        let mut mount_id = 0;
        // SAFETY: the kernel fills the handle, of the size given in `bytes`.
        let named = unsafe {
            libc::syscall(
                libc::SYS_name_to_handle_at,
                libc::AT_FDCWD,
                c"/".as_ptr(),
                &mut handle as *mut Handle,
                &mut mount_id as *mut i32,
                0,
            )
        };
        assert_eq!(
            named,
            0,
            "name_to_handle_at: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: the child makes system calls only (the steps allocate nothing), then exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                if with_profile && (seccomp.run().is_err() || drop.run().is_err()) {
                    unsafe { libc::_exit(100) };
                }
                // SAFETY: open of "/", then open_by_handle_at with the handle from above.
                let code = unsafe {
                    let mount = libc::open(c"/".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
                    let fd = libc::syscall(
                        libc::SYS_open_by_handle_at,
                        mount,
                        &handle as *const Handle,
                        libc::O_RDONLY,
                    );
                    if fd >= 0 {
                        0
                    } else {
                        *libc::__errno_location()
                    }
                };
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                match nix::sys::wait::waitpid(child, None).unwrap() {
                    nix::sys::wait::WaitStatus::Exited(_, code) => code,
                    other => panic!("the probe ended with {other:?}"),
                }
            }
        }
    };
    assert_eq!(
        probe(false),
        0,
        "as root without the profile, the handle opens"
    );
    assert_eq!(probe(true), libc::EPERM, "with the profile, EPERM");
}

/// A profile in Docker's format loads unchanged: Debian's containers-common ships one (a
/// relative of Docker's default; it refuses unknown syscalls with ENOSYS instead of EPERM).
#[test]
fn a_docker_format_profile_loads_unchanged() {
    let path = "/usr/share/containers/seccomp.json";
    let opt = format!("seccomp={path}");
    let (code, out, err) = ch06(&["--security-opt", &opt], "grep Seccomp: /proc/self/status");
    assert_eq!((code, out.as_str()), (0, "Seccomp:\t2\n"), "{err}");

    let (code, _, err) = ch06(&["--security-opt", "seccomp=/nonexistent.json"], "true");
    assert_eq!(code, 125);
    assert_eq!(
        err,
        "ch06: reading seccomp profile /nonexistent.json: No such file or directory (os error 2)\n"
    );
}

/// `-u 65534`: the user switch clears the permitted and effective sets by itself, but only
/// the bounding set keeps a setuid-root program from getting everything back. Chapter 1 left
/// it full; the profile cuts it to the 14.
#[test]
fn a_non_root_user_keeps_a_cut_bounding_set() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let status = |options: SecurityOptions| -> String {
        let mut config = berth_namespaces::ContainerConfig::new(
            berth_tests::busybox_rootfs(),
            vec![
                "grep".into(),
                "-E".into(),
                "^Cap(Eff|Bnd)".into(),
                "/proc/self/status".into(),
            ],
        );
        config.user = Some(berth_namespaces::User {
            uid: 65534,
            gid: 65534,
            groups: vec![65534],
        });
        options
            .add_steps(&mut config.steps)
            .expect("the profile's steps");
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        config.stdio.stdout = Some(write.as_raw_fd());
        let running = berth_namespaces::start(&config).expect("starting the container");
        drop(write);
        let mut out = String::new();
        std::fs::File::from(read).read_to_string(&mut out).unwrap();
        assert_eq!(running.wait().map(|s| s.code()), Ok(0));
        out
    };
    let locked = status(SecurityOptions::default());
    assert_eq!(
        locked,
        "CapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb\n"
    );
    let open = status(SecurityOptions {
        privileged: true,
        ..Default::default()
    });
    assert!(!open.contains("CapBnd:\t00000000a80425fb"), "{open}");
}

/// `docker exec` gets the container's profile too: chapter 1's `enter` runs the steps of the
/// `BeforeUser` and `BeforeExec` phases in the entering process. Without them (an exec with no
/// steps), the same exec has every capability and no filter.
#[test]
fn an_exec_is_confined_like_the_container() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let mut config = berth_namespaces::ContainerConfig::new(
        berth_tests::busybox_rootfs(),
        vec!["sleep".into(), "1000".into()],
    );
    SecurityOptions::default()
        .add_steps(&mut config.steps)
        .unwrap();
    /// Killed and reaped on drop, also when the test fails.
    struct Container(berth_namespaces::Running);
    impl Drop for Container {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(self.0.pid(), nix::sys::signal::Signal::SIGKILL);
            let _ = self.0.wait();
        }
    }
    let container = Container(berth_namespaces::start(&config).expect("starting the container"));
    let exec = |options: Option<SecurityOptions>| -> String {
        let script = "grep -E '^(CapEff|Seccomp):' /proc/self/status";
        let mut config = berth_namespaces::ContainerConfig::new(
            "/",
            vec!["sh".into(), "-c".into(), script.into()],
        );
        if let Some(options) = options {
            options.add_steps(&mut config.steps).unwrap();
        }
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        config.stdio.stdout = Some(write.as_raw_fd());
        let running = berth_namespaces::enter::enter(container.0.pid(), &config);
        drop(write);
        let mut out = String::new();
        std::fs::File::from(read).read_to_string(&mut out).unwrap();
        let _ = running.map(|r| r.wait());
        out
    };
    let confined = exec(Some(SecurityOptions::default()));
    let bare = exec(None);
    drop(container);
    assert_eq!(confined, "CapEff:\t00000000a80425fb\nSeccomp:\t2\n");
    assert_ne!(bare, confined);
}
