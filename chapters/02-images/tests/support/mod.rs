//! Running `ch02` against a store of the test's own, on the fixture images.

#![allow(dead_code)] // Each test file uses a different part.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A store in a temporary directory, removed with everything in it at the end of the test.
pub struct Ch02 {
    root: tempfile::TempDir,
}

pub use berth_tests::Output;

/// A fixture image built by scripts/fixtures.sh: `busybox-oci`, `layered-oci`, `busybox.tar`.
pub fn fixture(name: &str) -> PathBuf {
    let path = berth_tests::fixtures_dir().join("images").join(name);
    assert!(
        path.exists(),
        "fixture {} is missing: run `sudo bash scripts/fixtures.sh`",
        path.display()
    );
    path
}

impl Ch02 {
    pub fn new(label: &str) -> Ch02 {
        Ch02 {
            root: berth_tests::test_dir(&format!("ch02-{label}")),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `ch02 --root ROOT ARGS...`
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ch02"));
        cmd.arg("--root").arg(self.root.path()).args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("running ch02");
        Output::from(out)
    }

    /// Loads a fixture image.
    pub fn load(&self, fixture_name: &str) -> Output {
        let path = fixture(fixture_name);
        self.run(&["load", "-i", path.to_str().unwrap()]).ok()
    }

    /// Every path under the store (but `locks/`) with its type, size and content hash: equal
    /// before and after an operation means the operation changed nothing.
    pub fn snapshot(&self) -> Vec<String> {
        tree(self.root.path())
            .into_iter()
            .filter(|line| !line.starts_with("locks"))
            .collect()
    }
}

/// Every path under `dir`, sorted, as `path kind size mode uid:gid sha256-of-content`.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            let kind = if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_owned()
            } else if meta.is_file() {
                let bytes = std::fs::read(&path).unwrap_or_default();
                berth_images::Digest::of(&bytes).short()
            } else if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display())
            } else {
                format!("special {}", meta.rdev())
            };
            lines.push(format!(
                "{rel} {kind} {:o} {}:{}",
                meta.mode(),
                meta.uid(),
                meta.gid()
            ));
        }
    }
    lines.sort();
    lines
}

/// Copies a directory with `cp -a` (owners, modes and xattrs kept).
pub fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("running cp");
    assert!(status.success());
}

/// The OCI layout's manifest and its layer blobs, from its index.json.
pub fn oci_parts(layout: &Path) -> (PathBuf, Vec<PathBuf>) {
    let read_json = |path: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let blob = |digest: &serde_json::Value| {
        let digest = digest.as_str().unwrap();
        layout
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
    };
    let index = read_json(&layout.join("index.json"));
    let manifest = blob(&index["manifests"][0]["digest"]);
    let layers = read_json(&manifest)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| blob(&l["digest"]))
        .collect();
    (manifest, layers)
}

/// Adds `layer` (an uncompressed tar) on top of the image of an OCI layout, rewriting its
/// config, manifest and index with the right digests, as a build tool would.
pub fn append_layer(layout: &Path, layer: &[u8]) {
    use berth_images::Digest;
    let blobs = layout.join("blobs/sha256");
    let put = |bytes: &[u8]| {
        let digest = Digest::of(bytes);
        std::fs::write(blobs.join(digest.hex()), bytes).unwrap();
        (digest, bytes.len())
    };
    let read = |digest: &str| -> serde_json::Value {
        let hex = digest.strip_prefix("sha256:").unwrap();
        serde_json::from_slice(&std::fs::read(blobs.join(hex)).unwrap()).unwrap()
    };
    let (layer_digest, layer_size) = put(layer);
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut manifest = read(index["manifests"][0]["digest"].as_str().unwrap());
    let mut config = read(manifest["config"]["digest"].as_str().unwrap());
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .push(layer_digest.to_string().into());
    let (config_digest, config_size) = put(&serde_json::to_vec(&config).unwrap());
    manifest["config"]["digest"] = config_digest.to_string().into();
    manifest["config"]["size"] = config_size.into();
    manifest["layers"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest.to_string(),
            "size": layer_size,
        }));
    let (manifest_digest, manifest_size) = put(&serde_json::to_vec(&manifest).unwrap());
    index["manifests"][0]["digest"] = manifest_digest.to_string().into();
    index["manifests"][0]["size"] = manifest_size.into();
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}

/// Replaces the hex of every digest by `<digest>` so snapshots survive fixture rebuilds.
pub fn redact_digests(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("sha256") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 6..];
        let sep = after.chars().next();
        let hex_len = after[1..].bytes().take_while(u8::is_ascii_hexdigit).count();
        if matches!(sep, Some(':' | '/')) && hex_len == 64 {
            out.push_str(&format!("sha256{}<digest>", sep.unwrap()));
            rest = &after[1 + hex_len..];
        } else {
            out.push_str("sha256");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Replaces every run of 64 hex digits (container ids) by `<id>`.
pub fn redact_ids(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if run == 64 {
            out.push_str("<id>");
            i += run;
        } else {
            let end = i + run.max(1);
            out.push_str(&text[i..end]);
            i = end;
        }
    }
    out
}
