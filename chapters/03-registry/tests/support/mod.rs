//! Running `ch03` as a user would, with a store, credentials and config of the test's own.

#![allow(dead_code, unused_imports)] // Each test file uses a different part.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use berth_tests::proxy::{Fault, FaultRule, FaultyProxy, Listener};
pub use berth_tests::registry::{Registry, images_dir};
pub use berth_tests::token::{Access, TokenPolicy};

/// A store, a credentials directory and a `daemon.json`, all in one temporary directory.
pub struct Ch03 {
    dir: tempfile::TempDir,
}

pub use berth_tests::Output;

impl Ch03 {
    pub fn new(label: &str) -> Ch03 {
        let ch03 = Ch03 {
            dir: berth_tests::test_dir(&format!("ch03-{label}")),
        };
        ch03.set_daemon_json("{}");
        ch03
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// Writes the `daemon.json` every command of this test reads.
    pub fn set_daemon_json(&self, json: &str) {
        std::fs::write(self.dir.path().join("daemon.json"), json).unwrap();
    }

    /// `ch03 --root ROOT --config DAEMON_JSON ARGS...`, with nothing from the host's
    /// environment that would change its behaviour.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ch03"));
        cmd.arg("--root")
            .arg(self.root())
            .arg("--config")
            .arg(self.dir.path().join("daemon.json"))
            .args(args)
            .env("BERTH_CONFIG_DIR", self.config_dir())
            .env_remove("BERTH_REGISTRY_MIRROR")
            .env_remove("BERTH_INSECURE_REGISTRIES")
            .env_remove("BERTH_TRACE")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Output::from(self.command(args).output().expect("running ch03"))
    }

    /// Runs with `input` on stdin (for `login --password-stdin`).
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running ch03");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        Output::from(child.wait_with_output().unwrap())
    }

    /// Every path in the store but `locks/` and `tmp/` (cleaned by the next command), with
    /// sizes: equal before and after means nothing visible changed.
    pub fn store_listing(&self) -> Vec<String> {
        let mut out = Vec::new();
        let root = self.root();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                let rel = path.strip_prefix(&root).unwrap().display().to_string();
                if rel.starts_with("locks") || rel.starts_with("tmp") {
                    continue;
                }
                let meta = std::fs::symlink_metadata(&path).unwrap();
                if meta.is_dir() {
                    stack.push(path.clone());
                }
                out.push(format!(
                    "{rel} {}",
                    if meta.is_file() { meta.len() } else { 0 }
                ));
            }
        }
        out.sort();
        out
    }
}

/// A registry with busybox (as `library/busybox:latest`) and the layered image (as
/// `x/layered:1`), both pushed by skopeo.
pub fn seeded(registry: Registry) -> Registry {
    registry.seed(
        &images_dir().join("busybox-oci"),
        "busybox:latest",
        "library/busybox:latest",
    );
    registry.seed(
        &images_dir().join("layered-oci"),
        "layered:latest",
        "x/layered:1",
    );
    registry
}

/// Replaces what varies between runs (digests, registry ports, temp dirs) with names.
pub fn redact(text: &str, hosts: &[(&str, &str)], dir: &Path) -> String {
    let mut text = text.replace(dir.to_str().unwrap(), "$DIR");
    for (host, name) in hosts {
        text = text.replace(host, name);
    }
    let mut out = String::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if run == 64 || run == 12 {
            out.push_str(if run == 64 { "<digest>" } else { "<id>" });
            i += run;
        } else {
            let end = i + run.max(1);
            out.push_str(&text[i..end]);
            i = end;
        }
    }
    out
}
