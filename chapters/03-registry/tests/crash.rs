//! A pull (or a removal) killed at the worst moments, or run out of disk space: no half image
//! is ever visible, and after a restart no layer, blob or work directory is left behind.
//!
//! The kills are exact: `ch03 pull` runs under `strace`, which makes one chosen system call
//! fail and sends the process SIGKILL at that very call, as a power cut or the OOM killer
//! would, with no chance to clean up.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_tests::kill_at::names_in;
use support::{Ch03, Registry, seeded};

/// `ch03 ARGS...` under strace: the `when`th call of `syscalls` (a comma list) made on
/// `path`, if given, fails and the process is killed with SIGKILL there. Returns whether it
/// was killed (rather than exiting by itself).
fn killed_at(ch03: &Ch03, args: &[&str], syscalls: &str, path: Option<&Path>, when: u32) -> bool {
    let inner = ch03.command(args);
    let mut strace = Command::new("strace");
    strace.args(berth_tests::kill_at::strace_kill_args(syscalls, path, when));
    strace.arg(inner.get_program()).args(inner.get_args());
    for (key, value) in inner.get_envs() {
        match value {
            Some(value) => strace.env(key, value),
            None => strace.env_remove(key),
        };
    }
    let status = strace
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running strace (Debian package strace)")
        .status;
    // strace ends the way the traced process did: killed by the same signal.
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(nix::sys::signal::Signal::SIGKILL as i32)
}

/// What a restart must find: the store as it was before the pull, with nothing left in
/// `tmp/`, `layers/` or `blobs/`.
fn assert_restart_finds_nothing(ch03: &Ch03, before: &[String]) {
    // Any command opens the store, as a daemon's start does, and clears what a crash left.
    let images = ch03.run(&["images"]).ok();
    assert_eq!(images.stdout.lines().count(), 1, "{}", images.stdout);
    let root = ch03.root();
    assert_eq!(
        names_in(&root.join("tmp")),
        Vec::<String>::new(),
        "leftover work"
    );
    assert_eq!(
        names_in(&root.join("layers")),
        Vec::<String>::new(),
        "leaked layers"
    );
    assert_eq!(
        names_in(&root.join("blobs/sha256")),
        Vec::<String>::new(),
        "leaked blobs"
    );
    assert_eq!(ch03.store_listing(), before, "the store changed");
}

/// The config digest (hex) of the layered image, i.e. its image id, and its layer count.
fn layered_image(registry: &Registry) -> (String, usize) {
    let manifest: serde_json::Value =
        serde_json::from_slice(&registry.manifest("x/layered:1")).unwrap();
    let config = manifest["config"]["digest"].as_str().unwrap();
    let layers = manifest["layers"].as_array().unwrap().len();
    (config.trim_start_matches("sha256:").to_owned(), layers)
}

#[test]
fn killed_in_the_middle_of_unpacking() {
    let registry = seeded(Registry::anonymous());
    let ch03 = Ch03::new("crash-unpacking");
    ch03.run(&["images"]).ok();
    let before = ch03.store_listing();
    let reference = format!("{}/x/layered:1", registry.host());
    // `openat2` resolves each entry's directory beneath the layer's root: only unpacking
    // calls it. The 20th call is well inside the first layers.
    assert!(
        killed_at(&ch03, &["pull", &reference], "openat2", None, 20),
        "the pull was not killed mid-unpacking"
    );
    let tmp = names_in(&ch03.root().join("tmp"));
    assert!(
        tmp.iter().any(|name| name.starts_with("layer-")),
        "the kill came before any layer was being unpacked: {tmp:?}"
    );
    assert_eq!(
        ch03.store_listing(),
        before,
        "a half-done pull is visible before any restart"
    );
    assert_restart_finds_nothing(&ch03, &before);
    // And the pull works afterwards.
    ch03.run(&["pull", &reference]).ok();
}

#[test]
fn killed_in_the_middle_of_deleting() {
    let registry = seeded(Registry::anonymous());
    let ch03 = Ch03::new("crash-deleting");
    let reference = format!("{}/x/layered:1", registry.host());
    // What a removal that is not interrupted leaves (an empty names file, where there was
    // none before the first pull): the killed one must end the same after a restart.
    ch03.run(&["pull", &reference]).ok();
    ch03.run(&["rmi", &reference]).ok();
    let before = ch03.store_listing();
    ch03.run(&["pull", &reference]).ok();
    // The first unlink removes the image's record; those after it delete the files that
    // `collect_garbage` moved under `tmp/`, on the deleting threads. The 5th is among them.
    assert!(
        killed_at(&ch03, &["rmi", &reference], "unlink,unlinkat", None, 5),
        "the removal was not killed mid-deletion"
    );
    let tmp = names_in(&ch03.root().join("tmp"));
    assert!(
        tmp.iter().any(|name| name.starts_with("removed-")),
        "the kill came before the deletion: {tmp:?}"
    );
    assert_eq!(
        names_in(&ch03.root().join("layers")),
        Vec::<String>::new(),
        "the removed image's layers are still in the store"
    );
    assert_restart_finds_nothing(&ch03, &before);
    ch03.run(&["pull", &reference]).ok();
}

#[test]
fn killed_after_the_last_layer_before_the_image_record() {
    let registry = seeded(Registry::anonymous());
    let ch03 = Ch03::new("crash-before-record");
    ch03.run(&["images"]).ok();
    let before = ch03.store_listing();
    let reference = format!("{}/x/layered:1", registry.host());
    let (id, layer_count) = layered_image(&registry);
    let record: PathBuf = ch03.root().join("images").join(format!("{id}.json"));
    // The rename that would make the image's record visible: every layer and blob is in
    // place by then.
    assert!(
        killed_at(
            &ch03,
            &["pull", &reference],
            "rename,renameat,renameat2",
            Some(&record),
            1
        ),
        "the pull was not killed at the image record"
    );
    let root = ch03.root();
    assert_eq!(
        names_in(&root.join("layers")).len(),
        layer_count,
        "the kill came before every layer was in place"
    );
    assert!(!record.exists(), "the record was written");
    let images = ch03.run(&["images"]).ok();
    assert_eq!(
        images.stdout.lines().count(),
        1,
        "a half image is listed: {}",
        images.stdout
    );
    assert_restart_finds_nothing(&ch03, &before);
    ch03.run(&["pull", &reference]).ok();
    ch03.run(&["run", "--rm", &reference, "true"]).ok();
}

/// A tmpfs of `size` mounted on `dir`, unmounted when dropped (also when the test fails).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: PathBuf, size: &str) -> SmallDisk {
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "berth-test-full",
            ])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "mounting a tmpfs on {}", dir.display());
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_refused_clearly_and_changes_nothing() {
    let registry = seeded(Registry::anonymous());
    let ch03 = Ch03::new("disk-full");
    // The store on a disk too small for the image: 1 MiB, where its layers need about 2.
    let _disk = SmallDisk::mount(ch03.root(), "1m");
    ch03.run(&["images"]).ok();
    let before = ch03.store_listing();
    let out = ch03.run(&["pull", &format!("{}/x/layered:1", registry.host())]);
    assert_eq!(out.code, 125, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("No space left on device"),
        "the error does not say the disk is full: {}",
        out.stderr
    );
    // A full disk is not a broken download: trying again would fill it again.
    assert!(
        !out.stdout.contains("Retrying"),
        "a full disk was retried: {}",
        out.stdout
    );
    assert_eq!(
        names_in(&ch03.root().join("tmp")),
        Vec::<String>::new(),
        "the failed pull left its work behind"
    );
    assert_eq!(
        ch03.store_listing(),
        before,
        "a failed pull changed the store"
    );
    assert_restart_finds_nothing(&ch03, &before);
}
