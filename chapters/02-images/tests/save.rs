//! `ch02 save`: images out of the store as a `docker save` archive, and back in with `load`.

mod support;

use std::io::Read;
use std::path::Path;

use support::Ch02;

/// Hex digests numbered in order of first appearance (`<hex1>`): fixture ids depend on file
/// times, but which names are the same digest is the structure under test.
fn number_digests(text: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_hexdigit()) {
        out.push_str(&rest[..start]);
        let run = rest[start..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .map_or(rest.len() - start, |n| n);
        let word = &rest[start..start + run];
        if run == 64 {
            let n = match seen.iter().position(|s| s == word) {
                Some(i) => i + 1,
                None => {
                    seen.push(word.to_owned());
                    seen.len()
                }
            };
            out.push_str(&format!("<hex{n}>"));
        } else {
            out.push_str(word);
        }
        rest = &rest[start + run..];
    }
    out.push_str(rest);
    out
}

/// The `IMAGE ID` column of `ch02 images`, by repository.
fn ids(ch02: &Ch02) -> Vec<(String, String)> {
    let out = ch02.run(&["images"]).ok();
    out.stdout
        .lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            (format!("{}:{}", cells[0], cells[1]), cells[2].to_owned())
        })
        .collect()
}

/// Each entry of a tar with its content.
fn entries(archive: &Path) -> Vec<(String, Vec<u8>)> {
    let file = std::fs::File::open(archive).unwrap();
    let mut tar = tar::Archive::new(file);
    tar.entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

/// Writes `entries` as a tar at `path`.
fn write_tar(path: &Path, entries: &[(String, Vec<u8>)]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    builder.finish().unwrap();
}

/// Two images saved from layouts with gzip layers load into another store as the same images,
/// and the archive is the format `docker save` writes: plain layer tars named by diff id.
#[test]
fn saved_images_load_back_as_the_same_images() {
    let from = Ch02::new("save-from");
    from.load("busybox-oci");
    from.load("layered-oci");
    let dir = berth_tests::test_dir("ch02-save");
    let archive = dir.path().join("both.tar");
    let out = from.run(&[
        "save",
        "-o",
        archive.to_str().unwrap(),
        "busybox",
        "layered",
    ]);
    out.ok();
    assert_eq!(
        std::fs::read_dir(from.root().join("tmp")).unwrap().count(),
        0,
        "save left work behind in tmp/"
    );

    let files = entries(&archive);
    let manifest = &files.iter().find(|(n, _)| n == "manifest.json").unwrap().1;
    let manifest: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    insta::assert_snapshot!(
        "manifest",
        number_digests(&serde_json::to_string_pretty(&manifest).unwrap())
    );
    // Every layer is the plain tar its directory names: its sha256 is that diff id.
    for (name, bytes) in &files {
        if let Some(hex) = name.strip_suffix("/layer.tar") {
            assert_eq!(berth_images::Digest::of(bytes).hex(), hex, "{name}");
        }
    }

    let to = Ch02::new("save-to");
    let out = to.run(&["load", "-i", archive.to_str().unwrap()]).ok();
    assert_eq!(
        out.stdout,
        "Loaded image: busybox:latest\nLoaded image: layered:latest\n"
    );
    assert_eq!(ids(&to), ids(&from));
}

/// An archive whose second image has a damaged layer loads neither image: the first one's
/// layers are staged but never committed. (Installing image by image left busybox behind.)
#[test]
fn an_archive_with_one_damaged_image_loads_nothing() {
    let from = Ch02::new("save-damaged-from");
    from.load("busybox-oci");
    from.load("layered-oci");
    let dir = berth_tests::test_dir("ch02-save-damaged");
    let good = dir.path().join("good.tar");
    from.run(&["save", "-o", good.to_str().unwrap(), "busybox", "layered"])
        .ok();

    // The last layer of the manifest's second image is layered's own: flip one of its bytes.
    let mut files = entries(&good);
    let manifest = &files.iter().find(|(n, _)| n == "manifest.json").unwrap().1;
    let manifest: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    let layers = manifest[1]["Layers"].as_array().unwrap();
    let target = layers.last().unwrap().as_str().unwrap().to_owned();
    assert!(
        !manifest[0]["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == target.as_str()),
        "the damaged layer must be layered's alone"
    );
    let (_, bytes) = files.iter_mut().find(|(n, _)| *n == target).unwrap();
    bytes[600] ^= 0xff;
    let bad = dir.path().join("bad.tar");
    write_tar(&bad, &files);

    let to = Ch02::new("save-damaged-to");
    to.run(&["images"]).ok(); // an empty store, made
    let before = to.snapshot();
    let out = to.run(&["load", "-i", bad.to_str().unwrap()]);
    assert_eq!(
        out.code, 125,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    let damaged = target.trim_end_matches("/layer.tar");
    assert!(
        out.stderr.contains(&format!("layer sha256:{damaged}")),
        "the error names the damaged layer: {}",
        out.stderr
    );
    assert_eq!(to.snapshot(), before, "a refused archive changed the store");
}

/// A layer damaged in the store is found while saving, and no archive is left under the name.
#[test]
fn a_damaged_store_is_not_saved() {
    let ch02 = Ch02::new("save-store-damaged");
    ch02.load("busybox.tar");
    let blobs = ch02.root().join("blobs/sha256");
    // The busybox archive's layer blob is the plain tar: the largest blob.
    let layer = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&layer).unwrap();
    bytes[600] ^= 0xff;
    std::fs::write(&layer, bytes).unwrap();

    let dir = berth_tests::test_dir("ch02-save-store-damaged");
    let archive = dir.path().join("out.tar");
    let out = ch02.run(&["save", "-o", archive.to_str().unwrap(), "busybox"]);
    assert_eq!(out.code, 125, "stdout: {}", out.stdout);
    assert!(
        out.stderr.contains("is damaged in the store"),
        "stderr: {}",
        out.stderr
    );
    assert!(
        !archive.exists(),
        "a partial archive was left at {archive:?}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let missing = ch02.run(&["save", "-o", archive.to_str().unwrap(), "nosuch"]);
    assert_eq!(missing.code, 125);
    assert_eq!(missing.stderr, "ch02: no such image: nosuch\n");
}
