//! The device allowlist, enforced by the kernel: through `ch05 run` in this machine's
//! `devices` hierarchy (v1 here, v2 on a pure v2 machine), and as a BPF program in a
//! private `cgroup2` mount. Each test makes a real loop device (a 1 MiB file of its own),
//! and a container that `mknod`s a node for it: making the node is allowed to every
//! container (`b *:* m`), opening it is not.

mod common;

use std::path::PathBuf;

use berth_cgroups::devices::rules::allowlist;
use berth_cgroups::{Cgroup, DeviceRule};
use berth_namespaces::{ContainerConfig, start};
use berth_tests::loop_device::LoopDevice;
use common::{Scope, V2Scope};

/// A shell line that makes a node for the loop device and reads its first bytes.
fn read_loop(minor: u32) -> String {
    format!("mknod /dev/b b 7 {minor} && head -c 10 /dev/b")
}

const NOT_PERMITTED: &str = "Operation not permitted";

#[test]
fn a_block_device_is_refused_and_dev_null_works() {
    let scope = Scope::new("devices");
    let disk = LoopDevice::attach();
    let script = format!(
        "echo ok > /dev/null && cat /dev/null && {}",
        read_loop(disk.minor)
    );
    let refused = scope.ch05(&[], &["sh", "-c", &script]);
    assert_eq!(
        refused.code, 1,
        "head fails, not the shell: {}",
        refused.stderr
    );
    assert!(refused.stderr.contains(NOT_PERMITTED), "{}", refused.stderr);
    assert!(!refused.stdout.contains(LoopDevice::MARKER));
    insta::assert_snapshot!("refused", format!("{}{}", refused.stdout, refused.stderr));

    // A rule for this device, read only: reading works, writing does not.
    let rule = format!("b 7:{} r", disk.minor);
    let script = format!("{}; echo; echo x > /dev/b", read_loop(disk.minor));
    let allowed = scope.ch05(&["--device-cgroup-rule", &rule], &["sh", "-c", &script]);
    assert!(
        allowed.stdout.contains(LoopDevice::MARKER),
        "{}",
        allowed.stderr
    );
    assert!(allowed.stderr.contains(NOT_PERMITTED), "{}", allowed.stderr);

    // Everything allowed, as --privileged is.
    let all = scope.ch05(
        &["--device-cgroup-rule", "a *:* rwm"],
        &["sh", "-c", &script],
    );
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert!(all.stdout.contains(LoopDevice::MARKER), "{}", all.stderr);
    assert_eq!(scope.leftovers(), Vec::<PathBuf>::new());
}

#[test]
fn a_device_is_given_with_its_node_and_permissions() {
    let scope = Scope::new("device");
    let disk = LoopDevice::attach();
    let device = format!("{}:/dev/disks/xvdc:r", disk.path);
    let script = "ls -ln /dev/disks/xvdc && head -c 10 /dev/disks/xvdc && echo && echo x > \
                  /dev/disks/xvdc";
    let out = scope.ch05(&["--device", &device], &["sh", "-c", script]);
    let line = out.stdout.lines().next().unwrap_or("");
    assert!(
        line.starts_with("brw-------") && line.contains(&format!("7, {:>3}", disk.minor)),
        "the host node's type, numbers and mode: {line}; {}",
        out.stderr
    );
    assert!(out.stdout.contains(LoopDevice::MARKER), "{}", out.stderr);
    assert!(out.stderr.contains(NOT_PERMITTED), "r only: {}", out.stderr);

    let missing = scope.ch05(&["--device", "/dev/berth-nope"], &["true"]);
    assert_eq!(missing.code, 125);
    assert!(
        missing.stderr.contains(
            "error gathering device information while adding custom device \
             \"/dev/berth-nope\": no such file or directory"
        ),
        "{}",
        missing.stderr
    );
    assert_eq!(scope.leftovers(), Vec::<PathBuf>::new());
}

/// `ch05 devices`: the default allowlist as v1's lines and as v2's program (the book shows it).
#[test]
fn the_default_allowlist_in_both_forms() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ch05"))
        .arg("devices")
        .output()
        .expect("running ch05 devices");
    assert!(out.status.success());
    insta::assert_snapshot!("default_allowlist", String::from_utf8_lossy(&out.stdout));
}

/// Runs `script` in a container joined to `cgroup` (chapter 1's parent step), its output
/// and errors in one file; returns them and the exit code.
fn run_in(cgroup: &Cgroup, script: &str) -> (i32, String) {
    let out_dir = berth_tests::test_dir("devices-v2-out");
    let path = out_dir.path().join("out");
    let file = std::fs::File::create(&path).expect("output file");
    let args = ["sh", "-c", script].map(String::from).to_vec();
    let mut config = ContainerConfig::new(berth_tests::busybox_rootfs(), args);
    use std::os::fd::AsRawFd;
    config.stdio.stdout = Some(file.as_raw_fd());
    config.stdio.stderr = Some(file.as_raw_fd());
    config.steps.add_parent(cgroup.join_step());
    let container = start(&config).expect("start");
    let status = container.wait().expect("wait");
    (
        status.code(),
        std::fs::read_to_string(&path).expect("output"),
    )
}

/// cgroup v2 has no `devices.*` files: the allowlist is our BPF program, attached to a
/// cgroup of a private `cgroup2` mount (on this hybrid machine the v1 `devices` hierarchy
/// does not hold the container: only the program stands between it and the disk).
#[test]
fn the_allowlist_as_a_bpf_program_in_cgroup_v2() {
    let Some(v2) = V2Scope::new("devices-v2") else {
        return;
    };
    let disk = LoopDevice::attach();
    let script = format!("echo ok > /dev/null && {}", read_loop(disk.minor));

    let cases = [
        ("default", allowlist(false, &[]), false),
        (
            "with a rule for the loop device",
            allowlist(
                false,
                &[format!("b 7:{} r", disk.minor)
                    .parse::<DeviceRule>()
                    .unwrap()],
            ),
            true,
        ),
        ("privileged", allowlist(true, &[]), true),
    ];
    for (i, (name, rules, reads)) in cases.into_iter().enumerate() {
        let cgroup = Cgroup::create(&v2.layout, &v2.parent, &format!("c{i}")).expect("v2 cgroup");
        let t0 = std::time::Instant::now();
        cgroup
            .apply_devices(&rules)
            .expect("loading and attaching the program");
        eprintln!("{name}: loading and attaching took {:?}", t0.elapsed());
        // Twice, as a restart does: the second program replaces the first.
        cgroup.apply_devices(&rules).expect("replacing the program");
        let (code, out) = run_in(&cgroup, &script);
        if reads {
            assert_eq!(code, 0, "{name}: {out}");
            assert!(out.contains(LoopDevice::MARKER), "{name}: {out}");
        } else {
            assert_eq!(code, 1, "{name}: {out}");
            assert!(out.contains(NOT_PERMITTED), "{name}: {out}");
        }
        cgroup.remove().expect("remove");
    }
    // A program the verifier refuses (`exit` with r0 never set) says why, in its words.
    let bad = [berth_cgroups::devices::asm::Insn::exit()];
    let err = berth_cgroups::devices::attach::load(&bad).expect_err("refused");
    assert!(err.to_string().contains("the verifier says"), "{err}");
    assert!(err.to_string().contains("R0"), "{err}");
}
