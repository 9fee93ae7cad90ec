//! Pushing, checked with a client we did not write (skopeo), both ways.

mod support;

use support::{Ch03, Registry, redact, seeded};

/// Push a pulled image to a second repository (its blobs mounted from the first), then pull
/// it back with skopeo; the manifest skopeo sees is byte for byte the one we pushed.
#[test]
fn push_to_a_second_repository_and_pull_back_with_skopeo() {
    let registry = seeded(Registry::anonymous());
    let host = registry.host();
    let ch03 = Ch03::new("push");
    let source = format!("{host}/x/layered:1");
    ch03.run(&["pull", &source]).ok();
    let target = format!("{host}/y/copy:v2");
    ch03.run(&["tag", &source, &target]).ok();
    let out = ch03.run(&["push", &target]).ok();
    let shown = redact(
        &out.stdout,
        &[(&host, "$REGISTRY")],
        ch03.root().parent().unwrap(),
    );
    insta::assert_snapshot!("push_mounted", shown);

    let digest = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("v2: digest: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let manifest = registry.manifest("y/copy:v2");
    assert_eq!(berth_images::Digest::of(&manifest).to_string(), digest);

    // skopeo pulls it and unpacks nothing of ours: compare the layer list with the source's.
    let dir = berth_tests::test_dir("ch03-skopeo-back");
    registry.export("y/copy:v2", &dir.path().join("back"), "back:latest");
    assert!(dir.path().join("back/index.json").exists());

    // Pushing again: everything is there.
    let out = ch03.run(&["push", &target]).ok();
    assert_eq!(
        out.stdout.matches("Layer already exists").count(),
        5,
        "{}",
        out.stdout
    );
}

/// An image loaded from a `docker save` archive has no registry manifest: push writes one
/// (Docker's schema 2), and skopeo can read the result.
#[test]
fn push_an_image_loaded_from_an_archive() {
    let registry = Registry::anonymous();
    let host = registry.host();
    let ch03 = Ch03::new("push-archive");
    let archive = berth_tests::registry::images_dir().join("busybox.tar");
    ch03.run(&["load", "-i", archive.to_str().unwrap()]).ok();
    let target = format!("{host}/from/archive:1");
    ch03.run(&["tag", "busybox", &target]).ok();
    ch03.run(&["push", &target]).ok();
    let manifest: serde_json::Value =
        serde_json::from_slice(&registry.manifest("from/archive:1")).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    // And it pulls back into a fresh store and runs.
    let other = Ch03::new("push-archive-back");
    let out = other
        .run(&["run", "--rm", &target, "echo", "round trip"])
        .ok();
    assert_eq!(out.stdout, "round trip\n");
}

/// Pushing an image that is not in the store says so.
#[test]
fn pushing_a_missing_image_is_an_error() {
    let registry = Registry::anonymous();
    let ch03 = Ch03::new("push-missing");
    let out = ch03.run(&["push", &format!("{}/no/image:1", registry.host())]);
    assert_eq!(out.code, 125);
    assert!(
        out.stderr
            .contains("an image does not exist locally with the tag"),
        "{}",
        out.stderr
    );
}
