//! Running `ch08` against a data root of the test's own, on the busybox fixture image.

#![allow(dead_code)] // Each test file uses a different part.

use std::path::Path;
use std::process::{Command, Stdio};

/// A data root in a temporary directory with the busybox image loaded; removed with
/// everything in it at the end of the test, after checking that nothing stayed mounted.
pub struct Ch08 {
    root: tempfile::TempDir,
}

pub use berth_tests::Output;

impl Ch08 {
    pub fn new(label: &str) -> Ch08 {
        let ch08 = Ch08 {
            root: berth_tests::test_dir(&format!("ch08-{label}")),
        };
        let image = berth_tests::fixtures_dir().join("images/busybox-oci");
        assert!(image.exists(), "fixture {} is missing", image.display());
        ch08.run(&["load", "-i", image.to_str().expect("utf-8 path")])
            .ok();
        ch08
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `ch08 --root ROOT ARGS...`
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ch08"));
        cmd.arg("--root").arg(self.root.path()).args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("running ch08");
        Output::from(out)
    }

    /// The names under `volumes/` (volumes, and anything a failed create left).
    pub fn volume_dirs(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root().join("volumes"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The containers in the store, by directory.
    pub fn containers(&self) -> usize {
        std::fs::read_dir(self.root().join("containers"))
            .map(|entries| entries.count())
            .unwrap_or(0)
    }
}

impl Drop for Ch08 {
    fn drop(&mut self) {
        let mounts = berth_tests::host_mounts_mentioning(&self.root().display().to_string());
        if !std::thread::panicking() {
            assert!(mounts.is_empty(), "mounts left on the host: {mounts:?}");
        }
    }
}
