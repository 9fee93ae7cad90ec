//! `ch02 load` and `ch02 images` on real images made by umoci and skopeo, and on broken ones.

mod support;

use std::path::Path;

use support::{Ch02, copy_dir, fixture, oci_parts, redact_digests};

/// The columns of `ch02 images` that vary from build to build: ids depend on the fixture's
/// file times, and "CREATED" on today's date.
fn stable_images(stdout: &str) -> String {
    let mut out = String::new();
    for line in stdout.lines() {
        let cells: Vec<&str> = line
            .split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        if cells.first() == Some(&"REPOSITORY") {
            out.push_str(&format!("{}\n", cells.join(" | ")));
            continue;
        }
        assert_eq!(cells.len(), 5, "a row of five columns: {line:?}");
        assert!(cells[2].len() == 12 && cells[2].bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(cells[3].ends_with(" ago"), "created: {:?}", cells[3]);
        out.push_str(&format!(
            "{} | {} | [id] | [created] | {}\n",
            cells[0], cells[1], cells[4]
        ));
    }
    out
}

#[test]
fn loads_oci_layouts_and_docker_archives() {
    let ch02 = Ch02::new("load");
    let out = ch02.load("busybox-oci");
    assert_eq!(out.stdout, "Loaded image: busybox:latest\n");
    let out = ch02.load("layered-oci");
    assert_eq!(out.stdout, "Loaded image: layered:latest\n");
    let images = ch02.run(&["images"]).ok();
    insta::assert_snapshot!("images", stable_images(&images.stdout));
}

/// `docker save` (skopeo's docker-archive) of the same image gives the same image id, and
/// the layer it shares with the OCI copy is not unpacked again.
#[test]
fn a_docker_archive_is_the_same_image() {
    let oci = Ch02::new("same-oci");
    oci.load("busybox-oci");
    let archive = Ch02::new("same-archive");
    archive.load("busybox.tar");
    let id = |c: &Ch02| {
        c.run(&["images"])
            .ok()
            .stdout
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .nth(2)
            .unwrap()
            .to_owned()
    };
    assert_eq!(id(&oci), id(&archive));

    let both = Ch02::new("same-both");
    both.load("busybox-oci");
    let layers_before = support::tree(&both.root().join("layers"));
    both.load("busybox.tar");
    assert_eq!(support::tree(&both.root().join("layers")), layers_before);
}

/// An OCI layout given as a tar works like the directory.
#[test]
fn loads_a_layout_from_a_tar() {
    let dir = berth_tests::test_dir("ch02-oci-tar");
    let tar = dir.path().join("busybox-oci.tar");
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(fixture("busybox-oci"))
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let ch02 = Ch02::new("oci-tar");
    let out = ch02.run(&["load", "-i", tar.to_str().unwrap()]).ok();
    // A tag-only name would be named after the file; this layout carries a full name.
    assert_eq!(out.stdout, "Loaded image: busybox:latest\n");
}

/// Loads a broken copy of the busybox layout and returns the error, after checking that the
/// store is exactly as before.
fn refused(label: &str, break_it: impl FnOnce(&Path)) -> String {
    let ch02 = Ch02::new(label);
    // Something in the store that must survive untouched: the same image from a docker save
    // archive. (Not one sharing the OCI layout's blobs: a layer whose blob the store holds
    // already is skipped, "Already exists", and not read again.)
    ch02.load("busybox.tar");
    let before = ch02.snapshot();
    let dir = berth_tests::test_dir(label);
    let layout = dir.path().join("broken");
    copy_dir(&fixture("busybox-oci"), &layout);
    break_it(&layout);
    let out = ch02.run(&["load", "-i", layout.to_str().unwrap()]);
    assert_eq!(out.code, 125, "stdout: {}", out.stdout);
    assert_eq!(
        ch02.snapshot(),
        before,
        "the store changed after a refused load"
    );
    out.stderr
        .replace(layout.to_str().unwrap(), "$LAYOUT")
        .replace(dir.path().to_str().unwrap(), "$DIR")
}

#[test]
fn broken_images_are_refused_and_the_store_is_unchanged() {
    let mut report = String::new();
    let mut case = |name: &str, error: String| {
        report.push_str(&format!("## {name}\n{}\n", redact_digests(&error)));
    };
    case(
        "layer digest mismatch",
        refused("ch02-mismatch", |layout| {
            let (_, layers) = oci_parts(layout);
            let mut bytes = std::fs::read(&layers[0]).unwrap();
            let last = bytes.len() - 100;
            bytes[last] ^= 0xff; // One flipped byte inside the gzip stream.
            std::fs::write(&layers[0], bytes).unwrap();
        }),
    );
    case(
        "truncated layer",
        refused("ch02-truncated", |layout| {
            let (_, layers) = oci_parts(layout);
            let bytes = std::fs::read(&layers[0]).unwrap();
            std::fs::write(&layers[0], &bytes[..bytes.len() / 2]).unwrap();
        }),
    );
    case(
        "missing layer",
        refused("ch02-missing", |layout| {
            let (_, layers) = oci_parts(layout);
            std::fs::remove_file(&layers[0]).unwrap();
        }),
    );
    case(
        "malformed manifest",
        refused("ch02-manifest", |layout| {
            let (manifest, _) = oci_parts(layout);
            std::fs::write(manifest, b"{\"schemaVersion\": 2, \"layers\": ").unwrap();
        }),
    );
    case(
        "manifest digest mismatch",
        refused("ch02-manifest-digest", |layout| {
            let (manifest, _) = oci_parts(layout);
            let text = std::fs::read_to_string(&manifest).unwrap();
            std::fs::write(
                manifest,
                text.replace("\"schemaVersion\":2", "\"schemaVersion\": 2"),
            )
            .unwrap();
        }),
    );
    case(
        "a layer stored under another digest",
        refused("ch02-wrong-digest", |layout| {
            let (manifest, layers) = oci_parts(layout);
            let real = layers[0].file_name().unwrap().to_str().unwrap().to_owned();
            let fake = "a".repeat(64);
            std::fs::rename(&layers[0], layers[0].with_file_name(&fake)).unwrap();
            let text = std::fs::read_to_string(&manifest)
                .unwrap()
                .replace(&real, &fake);
            let digest = berth_images::Digest::of(text.as_bytes());
            std::fs::write(layout.join("blobs/sha256").join(digest.hex()), &text).unwrap();
            let index = std::fs::read_to_string(layout.join("index.json")).unwrap();
            let old = manifest.file_name().unwrap().to_str().unwrap();
            std::fs::write(layout.join("index.json"), index.replace(old, &digest.hex())).unwrap();
        }),
    );
    case(
        "not an image",
        refused("ch02-not-image", |layout| {
            std::fs::remove_file(layout.join("oci-layout")).unwrap();
        }),
    );
    insta::assert_snapshot!("refused_loads", report);
}

/// `docker save | gzip` archives load too, as with `docker load`, and leave nothing in tmp/.
#[test]
fn loads_a_gzipped_docker_archive() {
    let dir = berth_tests::test_dir("ch02-gz");
    let gz = dir.path().join("busybox.tar.gz");
    let out = std::process::Command::new("gzip")
        .arg("-c")
        .arg(fixture("busybox.tar"))
        .output()
        .unwrap();
    std::fs::write(&gz, out.stdout).unwrap();
    let ch02 = Ch02::new("gz");
    let out = ch02.run(&["load", "-i", gz.to_str().unwrap()]).ok();
    assert_eq!(out.stdout, "Loaded image: busybox:latest\n");
    assert_eq!(
        std::fs::read_dir(ch02.root().join("tmp")).unwrap().count(),
        0
    );
}
