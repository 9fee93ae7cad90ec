//! Hostile layers arrive inside real-looking images: the whole load is refused, the store is
//! left exactly as it was, and nothing is written outside it.

mod common;
mod support;

use common::Layer;
use support::{Ch02, append_layer, copy_dir, fixture, redact_digests};

/// Loads busybox with `layer` on top into a store that already holds busybox; returns the
/// error after checking the store and the sentinel directory outside it are untouched.
fn load_with_layer(label: &str, layer: &[u8]) -> String {
    let ch02 = Ch02::new(label);
    ch02.load("busybox.tar");
    let before = ch02.snapshot();
    let dir = berth_tests::test_dir(label);
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let layout = dir.path().join("evil");
    copy_dir(&fixture("busybox-oci"), &layout);
    append_layer(&layout, layer);
    let out = ch02.run(&["load", "-i", layout.to_str().unwrap()]);
    assert_eq!(out.code, 125, "loaded a hostile image: {}", out.stdout);
    assert_eq!(ch02.snapshot(), before, "the store changed");
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "something was written outside"
    );
    redact_digests(&out.stderr)
}

#[test]
fn hostile_layers_are_refused_whole() {
    let dir = berth_tests::test_dir("ch02-hostile-target");
    let target = dir.path().display().to_string();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dot-dot in a name",
            Layer::new().file("../../../../../../escape", b"x").finish(),
        ),
        (
            "write through a symlink pointing out",
            Layer::new()
                .symlink("out", &target)
                .file("out/escape", b"x")
                .finish(),
        ),
        (
            "hard link to a host file",
            Layer::new()
                .hardlink("shadow", "../../../../../../etc/shadow")
                .finish(),
        ),
        (
            "whiteout climbing out",
            Layer::new().file("etc/.wh...", b"").finish(),
        ),
    ];
    let mut report = String::new();
    for (name, layer) in cases {
        let error = load_with_layer("ch02-hostile", &layer);
        report.push_str(&format!("## {name}\n{}\n", error.trim_end()));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{name}: wrote to the target"
        );
    }
    insta::assert_snapshot!("hostile_layers", report);
}
