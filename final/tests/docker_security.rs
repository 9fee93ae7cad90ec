//! `docker run`'s security flags, and the default profile every berthd container gets,
//! through chapter 6's security extension.
//!
//! Each test starts its own daemon (whose drop removes its containers, mounts and cgroups,
//! also when the test fails) and reads what the kernel says of a container's process in
//! `/proc/self/status`: the capability sets, the seccomp mode (2: a filter), `no_new_privs`.
//! Docker's figures are the reference: its 14 default capabilities are `00000000a80425fb`.

mod support;

use berth_tests::loop_device::LoopDevice;
use support::Daemon;
use support::registry::BusyboxRegistry;

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
    let registry = BusyboxRegistry::start();
    let daemon = Daemon::builder().label(label).start();
    let image = registry.image();
    daemon.docker(&["pull", "-q", &image]).ok();
    Secured {
        daemon,
        _registry: registry,
        image,
    }
}

impl Secured {
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
