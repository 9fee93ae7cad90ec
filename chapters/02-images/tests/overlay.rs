//! The proof that unpacked layers are what overlayfs expects: two layers, the upper one
//! deleting a file and making a directory opaque, mounted as an overlay, seen merged.

mod common;

use std::path::{Path, PathBuf};

use common::{Layer, gzip, names};
use nix::mount::{MntFlags, MsFlags, mount, umount2};

/// Unmounts when dropped, also when an assertion fails first.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(err) = umount2(&self.0, MntFlags::MNT_DETACH) {
            eprintln!("unmounting {}: {err}", self.0.display());
        }
    }
}

fn mount_overlay(lowers: &[&Path], target: &Path) -> Mounted {
    // The leftmost lowerdir is the top of the stack.
    let lowerdir = lowers
        .iter()
        .map(|p| p.to_str().unwrap())
        .collect::<Vec<_>>()
        .join(":");
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::MS_RDONLY,
        Some(format!("lowerdir={lowerdir}").as_str()),
    )
    .unwrap_or_else(|e| panic!("mounting the overlay at {}: {e}", target.display()));
    Mounted(target.to_path_buf())
}

#[test]
fn overlay_of_two_unpacked_layers() {
    let dir = berth_tests::test_dir("overlay-layers");
    let base = Layer::new()
        .dir("etc/")
        .file("etc/keep", b"kept")
        .file("etc/gone", b"deleted by the upper layer")
        .dir("cache/")
        .file("cache/old", b"hidden by the opaque directory")
        .dir("cache/sub/")
        .file("cache/sub/older", b"hidden too")
        .finish();
    let upper = Layer::new()
        .dir("etc/")
        .file("etc/.wh.gone", b"")
        .file("etc/added", b"new in the upper layer")
        .dir("cache/")
        .file("cache/.wh..wh..opq", b"")
        .file("cache/new", b"only this")
        .finish();
    let base_dir = dir.path().join("base");
    let upper_dir = dir.path().join("upper");
    let merged = dir.path().join("merged");
    for d in [&base_dir, &upper_dir, &merged] {
        std::fs::create_dir(d).unwrap();
    }
    berth_images::unpack_layer(&gzip(&base)[..], &base_dir).unwrap();
    berth_images::unpack_layer(&gzip(&upper)[..], &upper_dir).unwrap();

    let before = berth_tests::host_mounts_mentioning(dir.path().to_str().unwrap());
    {
        let _mounted = mount_overlay(&[&upper_dir, &base_dir], &merged);
        assert_eq!(
            names(&merged.join("etc")),
            vec!["added".to_owned(), "keep".to_owned()],
            "etc/gone is whited out"
        );
        assert_eq!(std::fs::read(merged.join("etc/keep")).unwrap(), b"kept");
        assert!(!merged.join("etc/gone").exists());
        assert_eq!(
            names(&merged.join("cache")),
            vec!["new".to_owned()],
            "cache/ is opaque: nothing of the base shows through"
        );
    }
    assert_eq!(
        berth_tests::host_mounts_mentioning(dir.path().to_str().unwrap()),
        before,
        "the overlay was unmounted"
    );
    // The layers themselves are untouched by the mount.
    assert!(base_dir.join("etc/gone").is_file());
    assert!(base_dir.join("cache/old").is_file());
}
