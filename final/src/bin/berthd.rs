//! `berthd`, the Berth daemon.
//!
//! The engine is assembled from the chapter libraries once chapters 1 to 4 exist (see the
//! engine issue). Until then this binary only says so, so that the workspace layout is already
//! the final one and `cargo build --workspace` covers it.

fn main() {
    eprintln!(
        "berthd {}: the engine is not assembled yet; run the chapter binaries (ch01, ...) meanwhile",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(1);
}
