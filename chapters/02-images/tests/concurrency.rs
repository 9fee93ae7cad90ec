//! Loads running at the same time, and a load killed half-way.

mod common;
mod support;

use std::time::{Duration, Instant};

use support::{Ch02, append_layer, copy_dir, fixture};

/// Three loads at once, two of them sharing layers: all succeed and the store is consistent.
#[test]
fn concurrent_loads_share_layers_safely() {
    let ch02 = Ch02::new("concurrent-threads");
    std::thread::scope(|scope| {
        let handles: Vec<_> = ["busybox-oci", "layered-oci", "busybox.tar", "layered-oci"]
            .into_iter()
            .map(|name| {
                let ch02 = &ch02;
                scope.spawn(move || (name, ch02.load(name)))
            })
            .collect();
        for handle in handles {
            let (name, out) = handle.join().expect("a load thread panicked");
            assert!(
                out.stdout.starts_with("Loaded image"),
                "{name}: {}",
                out.stdout
            );
        }
    });
    let layers = std::fs::read_dir(ch02.root().join("layers"))
        .unwrap()
        .count();
    assert_eq!(layers, 4);
    assert_eq!(
        std::fs::read_dir(ch02.root().join("tmp")).unwrap().count(),
        0
    );
    let images = ch02.run(&["images"]).ok().stdout;
    assert_eq!(images.lines().count(), 3, "{images}");
    ch02.run(&["run", "--rm", "layered", "cat", "/data/replaced/new"])
        .ok();
}

/// A load killed with SIGKILL in the middle leaves no image, no layer, and nothing that the
/// next command does not clean away; loading again then works.
#[test]
fn a_killed_load_leaves_nothing_visible() {
    let ch02 = Ch02::new("killed");
    ch02.load("busybox.tar");
    let before = ch02.snapshot();

    // A big extra layer makes the load slow enough to kill half-way.
    let dir = berth_tests::test_dir("ch02-killed");
    let layout = dir.path().join("big");
    copy_dir(&fixture("busybox-oci"), &layout);
    let big: Vec<u8> = (0..256u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    append_layer(&layout, &common::Layer::new().file("big", &big).finish());
    drop(big);

    let mut child = ch02
        .command(&["load", "-i", layout.to_str().unwrap()])
        .spawn()
        .expect("starting the load");
    let tmp = ch02.root().join("tmp");
    let started = Instant::now();
    while std::fs::read_dir(&tmp).map_or(0, |d| d.count()) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the load never started staging"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("killing the load");
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the load finished before it could be killed"
    );

    // The next command finds the leftovers in tmp/ and removes them; nothing else changed.
    let images = ch02.run(&["images"]).ok().stdout;
    assert_eq!(images.lines().count(), 2, "{images}");
    assert_eq!(ch02.snapshot(), before);
    ch02.run(&["load", "-i", layout.to_str().unwrap()]).ok();
}

/// A removal moves the image's files out of the store at once, into one directory under
/// `tmp/` that the caller deletes after answering; killed before that, the next open clears it.
#[test]
fn a_removal_renames_first_and_deletes_later() {
    let ch02 = Ch02::new("remove-later");
    ch02.load("busybox.tar");
    ch02.load("layered-oci");
    let store = berth_images::store::Store::open(ch02.root()).unwrap();
    let layers_before = std::fs::read_dir(ch02.root().join("layers"))
        .unwrap()
        .count();
    let (removed, trash) = store
        .remove_image_later("layered:latest", false, |_| None)
        .unwrap();
    assert_eq!(removed.len(), 2, "{removed:?}"); // Untagged, Deleted.
    let trash = trash.expect("the layered image has layers of its own");
    assert!(
        trash.starts_with(ch02.root().join("tmp")),
        "{}",
        trash.display()
    );
    // Its own layers and blobs are in the trash, busybox's stay, and nothing lists it.
    let moved = std::fs::read_dir(trash.join("layers")).unwrap().count();
    assert!(moved >= 1);
    assert_eq!(
        std::fs::read_dir(ch02.root().join("layers"))
            .unwrap()
            .count(),
        layers_before - moved
    );
    assert!(std::fs::read_dir(trash.join("blobs")).unwrap().count() >= 2);
    let images = ch02.run(&["images"]).ok().stdout;
    assert_eq!(images.lines().count(), 2, "{images}");
    // That `images` opened the store as a restart would, and cleared the trash.
    assert!(!trash.exists(), "the trash outlived a restart");
    ch02.run(&["run", "--rm", "busybox", "true"]).ok();
}
