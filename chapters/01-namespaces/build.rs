//! Builds `berth-init`, the program `--init` runs as a container's PID 1 (`src/init.rs`).
//!
//! It must run in any image, including one without a C library (busybox, `scratch`), so it
//! is linked statically: `-C target-feature=+crt-static`, which Cargo can give a whole build
//! but not one binary of it. So this script compiles the one file with the `rustc` Cargo
//! uses, into `OUT_DIR`, and copies it next to the crate's binaries (`target/debug`), where
//! `ch01`, `ch06` and `berthd` look for it first.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let source = "init/berth-init.rs";
    println!("cargo::rerun-if-changed={source}");
    println!("cargo::rerun-if-changed=src/init_program.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let built = out.join("berth-init");
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "bin",
            "--crate-name",
            "berth_init",
        ])
        .args(["-C", "target-feature=+crt-static", "-C", "panic=abort"])
        .args(["-C", "opt-level=s", "-C", "strip=symbols", "-D", "warnings"])
        .arg("-o")
        .arg(&built)
        .arg(source)
        .status()
        .expect("running rustc for berth-init");
    assert!(status.success(), "rustc failed to build {source}");
    // OUT_DIR is target/PROFILE/build/CRATE-HASH/out: the binaries are three levels up.
    if let Some(bins) = out.ancestors().nth(3).filter(|d| d.join("build").is_dir()) {
        copy_atomically(&built, &bins.join("berth-init"));
    }
}

/// Copies to a temporary name and renames, so a test running the old copy never sees half.
fn copy_atomically(from: &Path, to: &Path) {
    let temporary = to.with_extension("tmp");
    std::fs::copy(from, &temporary).expect("copying berth-init next to the binaries");
    std::fs::rename(&temporary, to).expect("renaming berth-init into place");
}
