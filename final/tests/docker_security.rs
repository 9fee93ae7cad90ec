//! `docker run`'s security flags, and the default profile every berthd container gets,
//! through chapter 6's security extension.
//!
//! Each test starts its own daemon (whose drop removes its containers, mounts and cgroups,
//! also when the test fails) and reads what the kernel says of a container's process in
//! `/proc/self/status`: the capability sets, the seccomp mode (2: a filter), `no_new_privs`.
//! Docker's figures are the reference: its 14 default capabilities are `00000000a80425fb`.

mod support;

use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use berth_tests::loop_device::LoopDevice;
use support::registry::BusyboxRegistry;
use support::{Daemon, DaemonBuilder};

/// Docker's default capabilities (`CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
/// SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP`) as a mask.
const DOCKER_DEFAULT_CAPS: &str = "00000000a80425fb";

/// The probe: the lines of `/proc/self/status` a profile changes.
const PROBE: &str = "grep -E '^(Cap(Eff|Bnd)|Seccomp|NoNewPrivs):' /proc/self/status";

struct Secured {
    daemon: Daemon,
    _registry: BusyboxRegistry,
    image: String,
}

fn daemon_with_busybox(label: &str) -> Secured {
    secured(Daemon::builder().label(label))
}

fn secured(builder: DaemonBuilder) -> Secured {
    let registry = BusyboxRegistry::start();
    let daemon = builder.start();
    let image = registry.image();
    daemon.docker(&["pull", "-q", &image]).ok();
    Secured {
        daemon,
        _registry: registry,
        image,
    }
}

impl Secured {
    /// The host pid of the container `id`'s first process.
    fn pid_of(&self, id: &str) -> String {
        let pid = self.daemon.docker(&["inspect", "-f", "{{.State.Pid}}", id]);
        pid.ok().trim().to_owned()
    }

    /// `docker run -d ARGS...`: the new container's id.
    fn detached(&self, args: &[&str]) -> String {
        let mut run = vec!["run", "-d"];
        run.extend(args);
        self.daemon.docker(&run).ok().trim().to_owned()
    }

    /// `docker run --rm FLAGS IMAGE sh -c PROBE`'s fields, as `(name, value)` pairs.
    fn probe(&self, flags: &[&str]) -> Vec<(String, String)> {
        let mut args = vec!["run", "--rm"];
        args.extend(flags);
        args.extend([self.image.as_str(), "sh", "-c", PROBE]);
        fields(self.daemon.docker(&args).ok())
    }
}

/// `Name:\tvalue` lines as pairs.
fn fields(status: &str) -> Vec<(String, String)> {
    status
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {fields:?}"))
}

/// The host's full bounding set, as this (root) test process has it.
fn host_caps() -> String {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    field(&fields(&status), "CapBnd").to_owned()
}

#[test]
fn a_default_container_gets_dockers_profile() {
    let t = daemon_with_busybox("sec-default");
    let probe = t.probe(&[]);
    assert_eq!(field(&probe, "CapEff"), DOCKER_DEFAULT_CAPS, "{probe:?}");
    assert_eq!(field(&probe, "CapBnd"), DOCKER_DEFAULT_CAPS, "{probe:?}");
    assert_eq!(field(&probe, "Seccomp"), "2", "{probe:?}");
    assert_eq!(field(&probe, "NoNewPrivs"), "0", "{probe:?}");
    // Masked: /proc/timer_list reads as empty (a bind of /dev/null; this kernel has no
    // /proc/kcore), /proc/sys is read-only. A privileged container sees them as the host does.
    let script = "wc -c < /proc/timer_list; \
                  echo x > /proc/sys/kernel/core_pattern 2>/dev/null || echo refused";
    let masked = t
        .daemon
        .docker(&["run", "--rm", &t.image, "sh", "-c", script]);
    let out = masked.ok();
    assert_eq!(out.lines().next().map(str::trim), Some("0"), "{out}");
    assert!(out.contains("refused"), "{out}");
    let script = "wc -c < /proc/timer_list";
    let unmasked = t
        .daemon
        .docker(&["run", "--rm", "--privileged", &t.image, "sh", "-c", script]);
    let size: u64 = unmasked.ok().trim().parse().expect("a byte count");
    assert!(size > 0, "/proc/timer_list is empty even unmasked");
}

/// A default container may make a block device node (as in Docker) but not read it: the
/// device allowlist of its cgroup refuses (chapter 5). It cannot mount anything either (no
/// CAP_SYS_ADMIN, and seccomp refuses `mount`). A privileged container can do both. The
/// device is a loop device of the test's own.
#[test]
fn a_default_container_cannot_read_a_block_device_or_mount() {
    let t = daemon_with_busybox("sec-mknod");
    let disk = LoopDevice::attach();
    let script = format!(
        "mknod /dev/disk b 7 {} && echo made-the-device; \
         head -c 10 /dev/disk >/dev/null 2>&1 && echo read-it; \
         mkdir -p /tmp/m; mount -t tmpfs none /tmp/m 2>/dev/null && echo mounted; echo done",
        disk.minor
    );
    let run = |flags: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend(flags);
        args.extend([t.image.as_str(), "sh", "-c", &script]);
        t.daemon
            .docker(&args)
            .ok()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(run(&[]), "made-the-device done");
    assert_eq!(
        run(&["--privileged"]),
        "made-the-device read-it mounted done"
    );
}

/// `--device HOST:CONTAINER:PERMS`: the node, with the host's type, numbers and mode, and an
/// allow rule with those permissions; `--device-cgroup-rule` allows without a node; a host
/// device that is not there fails the start with dockerd's message, and `--rm` removes the
/// container (the CLI waited for that forever before the engine did it).
#[test]
fn a_device_is_given_with_its_permissions() {
    let t = daemon_with_busybox("sec-device");
    let disk = LoopDevice::attach();
    let device = format!("{}:/dev/xvdc:r", disk.path);
    let script = "ls -ln /dev/xvdc; head -c 10 /dev/xvdc; echo; echo x > /dev/xvdc || echo refused";
    let out = t.daemon.docker(&[
        "run", "--rm", "--device", &device, &t.image, "sh", "-c", script,
    ]);
    let out = out.ok();
    let mut lines = out.lines();
    let node = lines.next().unwrap_or("");
    assert!(
        node.starts_with("brw-------") && node.contains(&format!("7, {:>3}", disk.minor)),
        "{out}"
    );
    assert_eq!(lines.next(), Some(LoopDevice::MARKER), "{out}");
    assert_eq!(lines.next(), Some("refused"), "read only: {out}");
    let format = "{{json .HostConfig.Devices}}";
    let id = t
        .daemon
        .docker(&["create", "--device", &device, &t.image, "true"])
        .ok()
        .trim()
        .to_owned();
    let inspect = t.daemon.docker(&["inspect", "-f", format, &id]);
    assert_eq!(
        inspect.ok().trim(),
        format!(
            r#"[{{"PathOnHost":"{}","PathInContainer":"/dev/xvdc","CgroupPermissions":"r"}}]"#,
            disk.path
        )
    );
    t.daemon.docker(&["rm", &id]).ok();

    let rule = format!("b 7:{} r", disk.minor);
    let script = format!("mknod /dev/b b 7 {} && head -c 10 /dev/b", disk.minor);
    let out = t.daemon.docker(&[
        "run",
        "--rm",
        "--device-cgroup-rule",
        &rule,
        &t.image,
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out.ok(), LoopDevice::MARKER);

    let missing = t.daemon.docker(&[
        "run",
        "--rm",
        "--device",
        "/dev/berth-nope",
        &t.image,
        "true",
    ]);
    // 127, as with dockerd: the CLI reads "no such file or directory" in the message.
    missing.expect_code(127);
    assert!(
        missing.stderr.contains(
            "error gathering device information while adding custom device \"/dev/berth-nope\": \
             no such file or directory"
        ),
        "{}",
        missing.stderr
    );
    assert_eq!(t.daemon.docker(&["ps", "-aq"]).ok().trim(), "");
}

#[test]
fn privileged_gets_every_capability_and_no_filter() {
    let t = daemon_with_busybox("sec-privileged");
    let probe = t.probe(&["--privileged"]);
    assert_eq!(field(&probe, "CapEff"), host_caps(), "{probe:?}");
    assert_eq!(field(&probe, "Seccomp"), "0", "{probe:?}");
    // Inspect says so, as Docker's.
    let id = t
        .daemon
        .docker(&["create", "--privileged", &t.image, "true"])
        .ok()
        .trim()
        .to_owned();
    let privileged = t
        .daemon
        .docker(&["inspect", "-f", "{{.HostConfig.Privileged}}", &id]);
    assert_eq!(privileged.ok().trim(), "true");
}

#[test]
fn cap_drop_all_cap_add_net_raw_and_no_new_privileges() {
    let t = daemon_with_busybox("sec-caps");
    let flags = [
        "--cap-drop",
        "ALL",
        "--cap-add",
        "NET_RAW",
        "--security-opt",
        "no-new-privileges",
    ];
    let probe = t.probe(&flags);
    // CAP_NET_RAW is bit 13.
    assert_eq!(field(&probe, "CapEff"), "0000000000002000", "{probe:?}");
    assert_eq!(field(&probe, "CapBnd"), "0000000000002000", "{probe:?}");
    assert_eq!(field(&probe, "NoNewPrivs"), "1", "{probe:?}");
    assert_eq!(field(&probe, "Seccomp"), "2", "{probe:?}");
    let mut args = vec!["create"];
    args.extend(flags);
    args.extend([t.image.as_str(), "true"]);
    let id = t.daemon.docker(&args).ok().trim().to_owned();
    let format = "{{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}} \
                  {{json .HostConfig.SecurityOpt}}";
    let inspect = t.daemon.docker(&["inspect", "-f", format, &id]);
    assert_eq!(
        inspect.ok().trim(),
        r#"["CAP_NET_RAW"] ["ALL"] ["no-new-privileges"]"#
    );
}

/// `--security-opt seccomp=FILE`: the CLI sends the file's content, kept in the record: the
/// profile applies, and changing the file afterwards changes nothing.
#[test]
fn a_seccomp_profile_file_applies_as_created() {
    let t = daemon_with_busybox("sec-seccomp");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("no-mkdir.json");
    let profile = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#;
    std::fs::write(&file, profile).expect("writing the profile");
    let opt = format!("seccomp={}", file.display());
    let id = t
        .daemon
        .docker(&[
            "create",
            "--security-opt",
            &opt,
            &t.image,
            "sh",
            "-c",
            "mkdir /tmp/x && echo made || echo refused",
        ])
        .ok()
        .trim()
        .to_owned();
    std::fs::write(&file, r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#).expect("rewriting it");
    let out = t.daemon.docker(&["start", "-a", &id]);
    assert_eq!(out.ok().trim(), "refused");
    let unconfined = t.probe(&["--security-opt", "seccomp=unconfined"]);
    assert_eq!(field(&unconfined, "Seccomp"), "0", "{unconfined:?}");
    assert_eq!(field(&unconfined, "CapEff"), DOCKER_DEFAULT_CAPS);
}

/// `docker exec` runs as confined as the container's PID 1; `exec --privileged` is not.
#[test]
fn exec_is_confined_as_its_container() {
    let t = daemon_with_busybox("sec-exec");
    let id = t
        .daemon
        .docker(&[
            "run",
            "-d",
            "--cap-drop",
            "CHOWN",
            "--security-opt",
            "no-new-privileges",
            &t.image,
            "sleep",
            "60",
        ])
        .ok()
        .trim()
        .to_owned();
    let of_pid1 = t.daemon.docker(&[
        "exec",
        &id,
        "grep",
        "-E",
        "^(Cap(Eff|Bnd)|Seccomp|NoNewPrivs):",
        "/proc/1/status",
    ]);
    let of_exec = t.daemon.docker(&["exec", &id, "sh", "-c", PROBE]);
    let pid1 = fields(of_pid1.ok());
    assert_eq!(field(&pid1, "CapEff"), "00000000a80425fa", "{pid1:?}");
    assert_eq!(fields(of_exec.ok()), pid1);
    let privileged = fields(
        t.daemon
            .docker(&["exec", "--privileged", &id, "sh", "-c", PROBE])
            .ok(),
    );
    assert_eq!(field(&privileged, "CapEff"), host_caps(), "{privileged:?}");
    assert_eq!(field(&privileged, "Seccomp"), "0", "{privileged:?}");
}

#[test]
fn a_bad_flag_is_refused_and_nothing_is_created() {
    let t = daemon_with_busybox("sec-refused");
    for (flag, value, named) in [
        ("--cap-add", "NET_BOGUS", "--cap-add"),
        ("--cap-drop", "NOPE", "--cap-drop"),
        ("--security-opt", "bogus=1", "--security-opt"),
        ("--security-opt", "apparmor=docker-default", "AppArmor"),
    ] {
        let run = t
            .daemon
            .docker(&["run", "--rm", flag, value, &t.image, "true"]);
        run.expect_code(125);
        assert!(run.stderr.contains(named), "{flag} {value}: {}", run.stderr);
        assert!(run.stderr.contains(value), "{flag} {value}: {}", run.stderr);
    }
    let all = t.daemon.docker(&["ps", "-aq"]);
    assert_eq!(all.ok().trim(), "", "a refused create left a container");
}

/// Whether the file open as `path` sits on a read-only mount.
fn on_read_only_mount(path: &str) -> bool {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
    let mut fs = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: fstatvfs fills the buffer for a descriptor we hold.
    assert_eq!(
        unsafe { libc::fstatvfs(file.as_raw_fd(), fs.as_mut_ptr()) },
        0
    );
    // SAFETY: filled by the successful call.
    unsafe { fs.assume_init() }.f_flag & libc::ST_RDONLY != 0
}

/// The pids whose parent is `pid`.
fn children_of(pid: &str) -> Vec<String> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split_whitespace().map(str::to_owned).collect()
}

/// CVE-2019-5736: a process that enters a container starts as a clone of berthd (`docker
/// exec`'s, until its `execve`), so its `/proc/PID/exe` is a way to berthd's binary. (`--init`'s
/// PID 1 was one too, for the container's whole life; it is now `berth-init`, bound read-only:
/// see `the_init_program_cannot_be_written_through_proc_exe`.) The container takes a handle on it, tries to write through it, and
/// makes berthd run itself inside the container with a `#!/proc/self/exe` script. The daemon
/// runs from a copy of berthd, so a failure harms nothing real. While some berthd runs, the
/// kernel refuses writes with ETXTBSY; the seal is what makes the handle useless after that
/// (chapter 6's `exe.rs` unit tests write through such a handle once no one runs the file).
#[test]
fn the_daemons_binary_cannot_be_written_through_proc_exe() {
    let t = secured(Daemon::builder().label("sec-exe").own_binary());
    let before = std::fs::read(t.daemon.program()).expect("reading the berthd copy");
    // The image's /bin/sh becomes `#!/proc/self/exe` (this shell runs on: it is loaded).
    let script = "rm /bin/sh && printf '#!/proc/self/exe\\n' > /bin/sh && chmod +x /bin/sh && \
                  exec 9</proc/1/exe && exec sleep 600";
    // berthd is dynamically linked: the attacker's image would bring a C library; here the
    // host's, read-only.
    let libs = [
        "-v",
        "/usr/lib64:/lib64:ro",
        "-v",
        "/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro",
    ];
    let mut run = vec!["run", "-d", "--init"];
    run.extend(libs);
    run.extend([t.image.as_str(), "sh", "-c", script]);
    let id = t.daemon.docker(&run).ok().trim().to_owned();
    let pid = t.pid_of(&id);
    // The holder is init's child (the command, PID 2 inside); wait for its `exec 9<`.
    let holder = (0..200)
        .find_map(|_| {
            let found = children_of(&pid)
                .into_iter()
                .find(|c| std::fs::read_link(format!("/proc/{c}/fd/9")).is_ok());
            if found.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            found
        })
        .expect("the container's command never opened /proc/1/exe as fd 9");
    assert!(
        on_read_only_mount(&format!("/proc/{holder}/fd/9")),
        "the container holds --init's executable on a writable mount"
    );
    assert!(on_read_only_mount(&format!("/proc/{pid}/exe")));

    let write = t.daemon.docker(&[
        "exec",
        &id,
        "busybox",
        "sh",
        "-c",
        "echo pwned > /proc/1/exe",
    ]);
    assert_ne!(write.code, Some(0), "{write:?}");
    // `docker exec ID sh`: the shebang runs berthd (its view) inside the container, where it
    // refuses the args;
    // a watcher in the container tries every new process's exe meanwhile.
    let watcher =
        "while :; do for e in /proc/[0-9]*/exe; do echo pwned 2>/dev/null >$e; done; done";
    t.daemon
        .docker(&["exec", "-d", &id, "busybox", "sh", "-c", watcher])
        .ok();
    for _ in 0..5 {
        let evil = t.daemon.docker(&["exec", &id, "sh"]);
        assert_ne!(evil.code, Some(0), "{evil:?}");
        assert!(evil.stderr.contains("Usage"), "{evil:?}");
    }
    let after = std::fs::read(t.daemon.program()).expect("reading the berthd copy");
    assert!(before == after, "berthd's binary changed");
}

/// `docker run --init`: PID 1 is `/sbin/docker-init -- CMD...` (a real dockerd shows the
/// same line, with tini), read-only; SIGTERM from `docker stop` reaches a command that has no
/// handler for it (as PID 1, `sleep` would ignore it until the timeout's SIGKILL); an orphan is
/// reaped; exit codes and deaths by signal pass through.
#[test]
fn init_is_a_small_program_as_pid_1_that_forwards_reaps_and_passes_exit_codes() {
    let t = daemon_with_busybox("sec-init-runs");
    let ps = t
        .daemon
        .docker(&["run", "--rm", "--init", &t.image, "ps", "-o", "pid,args"]);
    let pid_1 = ps.ok().lines().find(|l| l.trim_start().starts_with("1 "));
    assert_eq!(
        pid_1.map(str::trim),
        Some("1 /sbin/docker-init -- ps -o pid,args"),
        "{ps:?}"
    );
    let exe = t.daemon.docker(&[
        "run",
        "--rm",
        "--init",
        &t.image,
        "sh",
        "-c",
        "readlink /proc/1/exe; grep ' /sbin/docker-init ' /proc/self/mounts | cut -d' ' -f4",
    ]);
    let lines: Vec<&str> = exe.ok().lines().collect();
    assert_eq!(lines.first(), Some(&"/sbin/docker-init"), "{exe:?}");
    assert!(
        lines
            .get(1)
            .is_some_and(|o| o.split(',').any(|f| f == "ro")),
        "{exe:?}"
    );

    for (script, code) in [("exit 7", 7), ("kill -9 $$", 137)] {
        let run = t
            .daemon
            .docker(&["run", "--rm", "--init", &t.image, "sh", "-c", script]);
        assert_eq!(run.code, Some(code), "{script}: {run:?}");
    }
    let missing = t
        .daemon
        .docker(&["run", "--rm", "--init", &t.image, "no-such-command"]);
    assert_eq!(missing.code, Some(127), "{missing:?}");

    // An orphan (the subshell's `sleep 0.1`) is reparented to PID 1 and, once it exits,
    // reaped: no zombie among the container's processes.
    let id = t.detached(&[
        "--init",
        &t.image,
        "sh",
        "-c",
        "(sleep 0.1 &); exec sleep 600",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(600));
    let states = t.daemon.docker(&["exec", &id, "ps", "-o", "stat,args"]);
    assert!(
        !states.ok().lines().any(|l| l.starts_with('Z')),
        "{states:?}"
    );
    // `docker stop` with a 10 s timeout: SIGTERM ends `sleep` at once (0.15 s here); without
    // an init, `sleep` as PID 1 ignores SIGTERM and is killed after the timeout.
    let started = std::time::Instant::now();
    t.daemon.docker(&["stop", "-t", "10", &id]).ok();
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(5),
        "stop took {took:?}"
    );
    let code = t
        .daemon
        .docker(&["inspect", "-f", "{{.State.ExitCode}}", &id]);
    assert_eq!(code.ok().trim(), "143", "{code:?}");
}

/// Under `userns-remap` a named volume is the remapped root's, as with dockerd: a new empty
/// one is writable (`touch` in it), and one filled from the image (`/etc`) holds the image's
/// files with the ids the container sees (root's, writable), which are the range's on the host.
#[test]
fn a_remapped_root_writes_its_named_volumes() {
    use std::os::unix::fs::MetadataExt;
    const FIRST: u32 = 3_600_000;
    let r = remapped("sec-remap-volume", FIRST);
    let (daemon, image) = (&r.secured.daemon, r.secured.image.as_str());
    let touched = daemon.docker(&["run", "--rm", "-v", "data:/data", image, "touch", "/data/x"]);
    touched.ok();
    let data = daemon.data_root().join("volumes/data/_data");
    let owner = |path: &std::path::Path| {
        let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        (meta.uid(), meta.gid())
    };
    assert_eq!(owner(&data), (FIRST, FIRST));
    assert_eq!(owner(&data.join("x")), (FIRST, FIRST));

    let script = "stat -c '%u %g' /etc /etc/passwd; echo made > /etc/made";
    let filled = daemon.docker(&["run", "--rm", "-v", "etc:/etc", image, "sh", "-c", script]);
    assert_eq!(filled.ok(), "0 0\n0 0\n", "{filled:?}");
    let etc = daemon.data_root().join("volumes/etc/_data");
    assert_eq!(owner(&etc), (FIRST, FIRST));
    assert_eq!(owner(&etc.join("passwd")), (FIRST, FIRST));
    assert_eq!(owner(&etc.join("made")), (FIRST, FIRST));
}

/// `--init`'s PID 1 runs for the container's whole life, so every process inside can take a
/// handle on its executable through `/proc/1/exe` and keep it after the container ends, when
/// no process runs the file any more and the kernel no longer answers ETXTBSY. The init program
/// is bound read-only into the container: writing through such a handle fails with EROFS, from
/// inside while it runs and from the handle kept after. The daemon runs a copy of berth-init
/// (`--init-path`), so a failure harms nothing real.
#[test]
fn the_init_program_cannot_be_written_through_proc_exe() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let init = dir.path().join("berth-init");
    let built = std::path::Path::new(support::BERTHD).with_file_name("berth-init");
    std::fs::copy(&built, &init).expect("copying berth-init into the test's directory");
    let before = std::fs::read(&init).expect("reading the berth-init copy");
    let t = secured(Daemon::builder().label("sec-init").init_path(&init));
    let id = t.detached(&["--init", &t.image, "sleep", "600"]);
    let inside = t.daemon.docker(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo pwned > /proc/1/exe; echo pwned > /sbin/docker-init",
    ]);
    assert_ne!(inside.code, Some(0), "{inside:?}");
    assert_eq!(
        inside.stderr.matches("Read-only file system").count(),
        2,
        "{inside:?}"
    );
    // The attacker's handle, taken as a process in the container would (an O_PATH open of
    // the magic link), kept while the container ends.
    let pid = t.pid_of(&id);
    let handle = std::fs::File::options()
        .custom_flags(libc::O_PATH)
        .read(true)
        .open(format!("/proc/{pid}/exe"))
        .expect("opening init's /proc/PID/exe");
    t.daemon.docker(&["rm", "-f", &id]).ok();
    let reopened = format!("/proc/self/fd/{}", handle.as_raw_fd());
    let write = std::fs::File::options().write(true).open(&reopened);
    assert_eq!(
        write.as_ref().err().and_then(|e| e.raw_os_error()),
        Some(libc::EROFS),
        "{write:?}"
    );
    let after = std::fs::read(&init).expect("reading the berth-init copy");
    assert!(before == after, "berth-init's binary changed");
}

/// The processes of `daemon` (monitors, zygote, containers, execs, not berthd itself) that
/// hold `path` open, with the descriptor.
fn holders_of(daemon: &Daemon, path: &std::path::Path) -> Vec<String> {
    let daemon_pid = daemon.pid().map(|p| p as i32);
    let mut found = Vec::new();
    for pid in support::cleanup::processes_of(daemon.dir()) {
        if Some(pid) == daemon_pid {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|target| target == path) {
                found.push(format!("pid {pid} fd {}", fd.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// A descriptor berthd inherits at start (a shell's `exec 7</etc/hostname`) reaches none of
/// the processes it runs: not its zygote or monitors, not a container, not an exec.
#[test]
fn a_descriptor_berthd_inherits_reaches_no_process_it_runs() {
    let marker = std::path::Path::new("/etc/hostname");
    let t = secured(Daemon::builder().label("sec-fds").inherited_fd(7, marker));
    let id = t.detached(&["--init", &t.image, "sleep", "600"]);
    let listing = "ls -l /proc/self/fd | grep -c hostname; true";
    let in_run = t
        .daemon
        .docker(&["run", "--rm", &t.image, "sh", "-c", listing]);
    assert_eq!(in_run.ok().trim(), "0", "{in_run:?}");
    let in_exec = t.daemon.docker(&["exec", &id, "sh", "-c", listing]);
    assert_eq!(in_exec.ok().trim(), "0", "{in_exec:?}");
    assert_eq!(holders_of(&t.daemon, marker), Vec::<String>::new());
    // berthd itself keeps it, marked close-on-exec (flags in octal; 02000000 is O_CLOEXEC).
    let pid = t.daemon.pid().expect("berthd runs");
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/7")).unwrap_or_default();
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok());
    assert!(
        flags.is_none_or(|f| f & libc::O_CLOEXEC as u32 != 0),
        "{info}"
    );
}

/// `userns-remap` for a user without ranges is refused at start, naming the file that lacks
/// one (this host's `/etc/subuid` has none for an unknown user; "default" is not tried: it
/// would create the `dockremap` user on the machine).
#[test]
fn userns_remap_without_a_range_is_refused_naming_the_file() {
    let stderr = refused_start(r#"{"userns-remap": "berth-no-such-user:berth-no-such-group"}"#);
    assert!(
        stderr.contains("/etc/subuid has no range for \"berth-no-such-user\""),
        "{stderr}"
    );
}

/// daemon.json's `init-path` naming no file is refused at start, naming it.
#[test]
fn an_init_path_that_is_no_file_is_refused_at_start() {
    let stderr = refused_start(r#"{"init-path": "/nonexistent/berth-init"}"#);
    assert!(
        stderr.contains("init-path /nonexistent/berth-init: no such file"),
        "{stderr}"
    );
}

/// Starts berthd with `settings` as its daemon.json; it must refuse to start: its stderr.
fn refused_start(settings: &str) -> String {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("daemon.json");
    std::fs::write(&config, settings).expect("writing daemon.json");
    let started = std::process::Command::new(support::BERTHD)
        .arg("--data-root")
        .arg(dir.path().join("root"))
        .arg("-H")
        .arg(format!("unix://{}", dir.path().join("sock").display()))
        .arg("--config-file")
        .arg(&config)
        .output()
        .expect("running berthd");
    let stderr = String::from_utf8_lossy(&started.stderr).into_owned();
    assert!(!started.status.success(), "{stderr}");
    stderr
}

/// A data root the remapped root cannot walk to (under a directory of mode 0700) is refused
/// at start, naming that directory, as dockerd does, rather than failing every container's
/// overlay mount with EACCES.
#[test]
fn userns_remap_refuses_a_data_root_the_remapped_root_cannot_reach() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .expect("closing the directory to others");
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).expect("the test's etc");
    for file in ["subuid", "subgid"] {
        std::fs::write(etc.join(file), "berth-remap:3800000:65536\n")
            .expect("writing the test's subordinate ids");
    }
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(20);
    let log = etc.join("berthd.log");
    let started = std::process::Command::new(support::BERTHD)
        .arg("--data-root")
        .arg(dir.path().join("root"))
        .arg("-H")
        .arg(format!("unix://{}", dir.path().join("sock").display()))
        .args(["--userns-remap", "berth-remap", "--userns-remap-etc"])
        .arg(&etc)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("berthd's log"))
        .spawn();
    // A daemon that wrongly starts is killed (and the test fails) rather than waited for.
    let code = support::wait_child(&mut started.expect("running berthd"), LIMIT);
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(code.is_some_and(|c| c != 0), "{code:?}: {stderr}");
    let hint = format!("chmod o+x {}", dir.path().display());
    assert!(stderr.contains(&hint), "{stderr}");
}

/// A daemon with `userns-remap` for a user of the test's own: its ranges start at `first`, in
/// `subuid` and `subgid` files under the test's directory (the host's `/etc` is not touched).
struct Remapped {
    secured: Secured,
    _etc: tempfile::TempDir,
}

fn remapped(label: &str, first: u32) -> Remapped {
    let etc = tempfile::tempdir().expect("a directory for subuid and subgid");
    for file in ["subuid", "subgid"] {
        std::fs::write(
            etc.path().join(file),
            format!("berth-remap:{first}:65536\n"),
        )
        .expect("writing the test's subordinate ids");
    }
    let builder = Daemon::builder()
        .label(label)
        .userns_remap("berth-remap", etc.path());
    Remapped {
        secured: secured(builder),
        _etc: etc,
    }
}

/// Under `userns-remap` root in every container is the range's first id, in `docker run` and
/// in `docker exec`; `--userns host` opts out; inspect and info say so.
#[test]
fn userns_remap_runs_every_container_remapped() {
    const FIRST: u32 = 3_300_000;
    let r = remapped("sec-remap", FIRST);
    let (daemon, image) = (&r.secured.daemon, r.secured.image.as_str());
    let words = |out: &str| {
        out.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let map = daemon.docker(&["run", "--rm", image, "cat", "/proc/self/uid_map"]);
    assert_eq!(words(map.ok()), ["0", &FIRST.to_string(), "65536"]);
    let map = daemon.docker(&["run", "--rm", image, "cat", "/proc/self/gid_map"]);
    assert_eq!(words(map.ok()), ["0", &FIRST.to_string(), "65536"]);
    let host = daemon.docker(&[
        "run",
        "--rm",
        "--userns",
        "host",
        image,
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(words(host.ok()), ["0", "0", "4294967295"]);
    // `--init`'s program is bound and run by the remapped root too, read-only.
    let init = daemon.docker(&[
        "run",
        "--rm",
        "--init",
        image,
        "sh",
        "-c",
        "tr '\\0' ' ' </proc/1/cmdline; echo x >/sbin/docker-init",
    ]);
    assert_eq!(init.code, Some(1), "{init:?}");
    assert!(
        init.stdout.starts_with("/sbin/docker-init -- sh -c "),
        "{init:?}"
    );
    assert!(init.stderr.contains("Read-only file system"), "{init:?}");

    let id = daemon.docker(&["run", "-d", image, "sleep", "60"]);
    let id = id.ok().trim().to_owned();
    let exec = daemon.docker(&["exec", &id, "cat", "/proc/self/uid_map"]);
    assert_eq!(words(exec.ok()), ["0", &FIRST.to_string(), "65536"]);
    let mode = |id: &str| {
        let out = daemon.docker(&["inspect", "-f", "{{.HostConfig.UsernsMode}}", id]);
        out.ok().trim().to_owned()
    };
    assert_eq!(mode(&id), "");
    let opted_out = daemon.docker(&["create", "--userns", "host", image, "true"]);
    assert_eq!(mode(opted_out.ok().trim()), "host");
    let info = daemon.docker(&["info", "-f", "{{json .SecurityOptions}}"]);
    assert!(info.ok().contains("\"name=userns\""), "{info:?}");
}

/// The image's files are root's in a remapped container (idmapped layers): `ls -ln /` shows
/// uid and gid 0 for every directory of the image, and root may write its own root directory.
#[test]
fn a_remapped_root_owns_the_images_files() {
    let r = remapped("sec-remap-ls", 3_400_000);
    let (daemon, image) = (&r.secured.daemon, r.secured.image.as_str());
    let listing = daemon.docker(&[
        "run",
        "--rm",
        image,
        "sh",
        "-c",
        "touch /made && ls -ln / | grep -vE ' (proc|sys|dev)$'",
    ]);
    let owners: Vec<(String, String, String)> = listing
        .ok()
        .lines()
        .filter(|l| !l.starts_with("total"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.get(2)?.to_string(),
                f.get(3)?.to_string(),
                f.last()?.to_string(),
            ))
        })
        .collect();
    assert!(
        owners.iter().any(|(_, _, name)| name == "bin"),
        "{owners:?}"
    );
    assert!(
        owners.iter().any(|(_, _, name)| name == "made"),
        "{owners:?}"
    );
    for (uid, gid, name) in &owners {
        assert_eq!(
            (uid.as_str(), gid.as_str()),
            ("0", "0"),
            "/{name}: {owners:?}"
        );
    }
}

/// What a remapped root creates in a bind mount belongs on the host to the range's first id,
/// as under Docker; a privileged container must opt out with `--userns host`, as dockerd says.
#[test]
fn a_remapped_roots_file_in_a_bind_mount_is_the_ranges() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    const FIRST: u32 = 3_500_000;
    let r = remapped("sec-remap-bind", FIRST);
    let (daemon, image) = (&r.secured.daemon, r.secured.image.as_str());
    let shared = daemon.dir().join("shared");
    std::fs::create_dir(&shared).expect("the bind mount's source");
    // Host root's directory is "other" to the remapped root: writable by anyone.
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let bind = format!("{}:/data", shared.display());
    let made = daemon.docker(&["run", "--rm", "-v", &bind, image, "touch", "/data/made"]);
    made.ok();
    let meta = std::fs::metadata(shared.join("made")).expect("the file in the bind mount");
    assert_eq!((meta.uid(), meta.gid()), (FIRST, FIRST));

    let refused = daemon.docker(&["run", "--rm", "--privileged", image, "true"]);
    refused.expect_code(125);
    assert!(
        refused
            .stderr
            .contains("privileged mode is incompatible with user namespaces"),
        "{refused:?}"
    );
    let host = daemon.docker(&[
        "run",
        "--rm",
        "--privileged",
        "--userns",
        "host",
        image,
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(
        host.ok().split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );
}

/// `--userns host` is what every container gets without `userns-remap`: accepted.
#[test]
fn userns_host_is_accepted() {
    let t = daemon_with_busybox("sec-userns-host");
    let map = t.daemon.docker(&[
        "run",
        "--rm",
        "--userns",
        "host",
        &t.image,
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(
        map.ok().split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );
}

/// `--group-add`: more supplementary groups, by number or by a name of the container's own
/// `/etc/group`, for PID 1 and for every `docker exec` (with its own `-u` too). The expected
/// lines are what dockerd 20.10 printed for the same commands on this image.
#[test]
fn group_add_gives_pid_1_and_execs_more_groups() {
    let t = daemon_with_busybox("sec-groups");
    let run = |flags: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend(flags);
        args.extend([t.image.as_str(), "id", "-G"]);
        t.daemon.docker(&args).ok().trim().to_owned()
    };
    assert_eq!(
        run(&["--group-add", "1234", "--group-add", "nogroup"]),
        "0 1234 65534"
    );
    assert_eq!(run(&["-u", "nobody", "--group-add", "1234"]), "65534 1234");
    assert_eq!(run(&[]), "0");
    let id = t
        .daemon
        .docker(&["run", "-d", "--group-add", "1234", &t.image, "sleep", "60"])
        .ok()
        .trim()
        .to_owned();
    let exec = t.daemon.docker(&["exec", &id, "id", "-G"]);
    assert_eq!(exec.ok().trim(), "0 1234");
    let exec = t.daemon.docker(&["exec", "-u", "65534", &id, "id", "-G"]);
    assert_eq!(exec.ok().trim(), "65534 1234");
    let inspect = t
        .daemon
        .docker(&["inspect", "-f", "{{json .HostConfig.GroupAdd}}", &id]);
    assert_eq!(inspect.ok().trim(), r#"["1234"]"#);
    t.daemon.docker(&["rm", "-f", &id]).ok();

    // A name the container's /etc/group lacks fails the start, naming it.
    let missing = t
        .daemon
        .docker(&["run", "--rm", "--group-add", "nosuch", &t.image, "true"]);
    assert_ne!(missing.code, Some(0));
    assert!(
        missing.stderr.contains("unable to find group nosuch"),
        "{}",
        missing.stderr
    );
}
