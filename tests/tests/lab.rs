//! The lab recipes: one provisioning script, used by both VM recipes, that a dry run can show.
//!
//! The VMs themselves cannot be booted on the machines that run these tests. What can be held
//! to account here is the part that would drift: both the `Vagrantfile` and `lab/lima.yaml`
//! must hand their VM to `scripts/lab-provision`, and the script's dry run must still name
//! every step the book's lab page promises, in order.

use std::process::{Command, Output};

use berth_tests::workspace_root;

fn provision(args: &[&str]) -> Output {
    Command::new(workspace_root().join("scripts/lab-provision"))
        .args(args)
        .output()
        .expect("running scripts/lab-provision")
}

#[test]
fn dry_run_lists_every_step_in_order_and_changes_nothing() {
    let output = provision(&["--dry-run", "--user", "learner"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the dry run failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // Each step, as the command it would run; the order matters (Rust before the scripts that
    // use cargo, the fixtures before anything runs a container).
    let steps = [
        "+ apt-get update",
        "build-essential",
        "https://sh.rustup.rs",
        "scripts/install-deps.sh",
        "scripts/fixtures.sh",
        "+ systemctl disable --now docker-registry",
        "cargo build --release --locked --workspace",
        "/usr/local/bin/berth",
    ];
    let mut from = 0;
    for step in steps {
        let Some(at) = stdout[from..].find(step) else {
            panic!("the dry run does not show {step:?} after byte {from}:\n{stdout}");
        };
        from += at + step.len();
    }
    // Every command line is shown, none is run: no line of output comes from apt or cargo.
    for line in stdout.lines() {
        assert!(
            line.is_empty()
                || line.starts_with("+ ")
                || line.starts_with("== ")
                || line.starts_with("lab-provision: ")
                || line.starts_with("Log in as "),
            "a dry run printed {line:?}, which is not one of its own lines"
        );
    }
}

#[test]
fn both_vm_recipes_provision_with_the_shared_script() {
    let root = workspace_root();
    let vagrantfile = std::fs::read_to_string(root.join("Vagrantfile")).expect("the Vagrantfile");
    assert!(
        vagrantfile.contains(r#"path: "scripts/lab-provision""#)
            && vagrantfile.contains(r#"config.vm.box = "debian/bookworm64""#),
        "the Vagrantfile no longer provisions a Debian 12 box with scripts/lab-provision"
    );
    let lima = std::fs::read_to_string(root.join("lab/lima.yaml")).expect("lab/lima.yaml");
    assert!(
        lima.contains("/berth/scripts/lab-provision --user")
            && lima.contains("debian-12-genericcloud-arm64")
            && lima.contains("arch: aarch64"),
        "lab/lima.yaml no longer provisions Debian 12 arm64 with scripts/lab-provision"
    );
}

#[test]
fn bad_arguments_are_refused_with_the_reason() {
    for (args, message) in [
        (vec!["--repo", "/nonexistent"], "/nonexistent"),
        (vec!["--user"], "--user needs a value"),
        (vec!["--frobnicate"], "unknown argument: --frobnicate"),
    ] {
        let output = provision(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(message),
            "{args:?} should say {message:?}: {stderr}"
        );
    }
}
